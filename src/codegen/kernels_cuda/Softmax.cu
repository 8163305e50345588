// Softmax / LogSoftmax along the middle axis of [outer, axis, inner], fp32 (SoftmaxParams
// in Params.h). Numerically stable: the row's maximum is subtracted before exp. A row is
// handled by one thread or by a group of threads reducing through shared memory
// (softmaxGroup in Plans.h).
#include "Device.cuh"

namespace leip::gpu {
namespace {

template <int G> LEIP_DEVICE LEIP_INLINE inline void softmax(const SoftmaxParams &p, const float *__restrict__ x, float *__restrict__ y) {
  LEIP_SHARED float scratch[kBlockThreads];
  constexpr int kRowsPerBlock = kBlockThreads / G;
  const int64_t rows = p.outer * p.inner;
  const int lane = threadX() % G, sub = threadX() / G;
  // Every thread of a block runs the same number of iterations (barriers inside).
  for (int64_t first = int64_t{blockX()} * kRowsPerBlock; first < rows; first += int64_t{gridDimX()} * kRowsPerBlock) {
    const int64_t row = first + sub;
    const bool valid = row < rows;
    const int64_t o = valid ? row / p.inner : 0, in = valid ? row - o * p.inner : 0;
    const float *__restrict__ src = x + o * p.axis * p.inner + in;
    float *__restrict__ dst = y + o * p.axis * p.inner + in;
    float mx = -infF();
    if (valid)
      for (int64_t i = lane; i < p.axis; i += G) mx = maxF(mx, src[i * p.inner]);
    if constexpr (G > 1) mx = groupReduce<G>(mx, scratch, [](float a, float b) { return a > b ? a : b; });
    float sum = 0.0f;
    if (valid)
      for (int64_t i = lane; i < p.axis; i += G) sum += expF(src[i * p.inner] - mx);
    if constexpr (G > 1) sum = groupReduce<G>(sum, scratch, [](float a, float b) { return a + b; });
    if (!valid) continue;
    if (p.logSoftmax) {
      const float shift = mx + logF(sum);
      for (int64_t i = lane; i < p.axis; i += G) dst[i * p.inner] = src[i * p.inner] - shift;
    } else {
      const float inv = 1.0f / sum;
      for (int64_t i = lane; i < p.axis; i += G) dst[i * p.inner] = expF(src[i * p.inner] - mx) * inv;
    }
  }
}

} // namespace
} // namespace leip::gpu

extern "C" LEIP_DEVICE void leip_g_softmax_f32(const leip::gpu::SoftmaxParams *pp, const float *__restrict__ x,
                                               float *__restrict__ y) {
  using namespace leip::gpu;
  switch (softmaxGroup(*pp)) {
  case 32: return softmax<32>(*pp, x, y);
  case 256: return softmax<256>(*pp, x, y);
  default: return softmax<1>(*pp, x, y);
  }
}
