// MaxPool / AveragePool over NCHW planes, fp32 (PoolParams in Params.h).
// A whole-plane window that is large enough (GlobalAveragePool of a 7x7 plane, ...) is
// reduced by a group of threads through shared memory (poolReductionGroup in Plans.h);
// any other window by one thread per output.
#include "Device.cuh"

namespace leip::gpu {
namespace {

/// One output per thread; padded taps are skipped by max, counted by average only with
/// countIncludePad (as kh*kw: the compiler rejects windows that reach past the end padding).
LEIP_DEVICE LEIP_INLINE inline void poolPerOutput(const PoolParams &p, const float *__restrict__ x, float *__restrict__ y) {
  const int ohw = p.oh * p.ow, hw = p.h * p.w;
  const int total = p.n * p.c * ohw;
  for (int i = blockX() * blockDimX() + threadX(); i < total; i += gridDimX() * blockDimX()) {
    const int plane = i / ohw, pos = i - plane * ohw;
    const int oy = pos / p.ow, ox = pos - oy * p.ow;
    const int iy0 = oy * p.strideH - p.padTop, ix0 = ox * p.strideW - p.padLeft;
    const float *__restrict__ src = x + int64_t{plane} * hw;
    float acc = p.kind == 0 ? -__FLT_MAX__ : 0.0f;
    bool any = false;
    int taps = 0;
    for (int r = 0; r < p.kh; ++r) {
      const int iy = iy0 + r * p.dilationH;
      if (iy < 0 || iy >= p.h) continue;
      for (int s = 0; s < p.kw; ++s) {
        const int ix = ix0 + s * p.dilationW;
        if (ix < 0 || ix >= p.w) continue;
        const float v = src[iy * p.w + ix];
        if (p.kind == 0) {
          if (!any || v > acc) acc = v; // the first tap even when NaN, as the interpreter
        } else {
          acc += v;
        }
        any = true;
        ++taps;
      }
    }
    if (p.kind == 1) {
      const int count = p.countIncludePad ? p.kh * p.kw : taps;
      acc = count > 0 ? acc / static_cast<float>(count) : 0.0f;
    }
    y[i] = acc;
  }
}

/// G threads per plane (whole-plane window): strided partial sums or maxima, then a
/// shared-memory tree. Every thread of a block runs the same number of iterations (the
/// reduction has barriers).
template <int G> LEIP_DEVICE LEIP_INLINE inline void poolPerPlane(const PoolParams &p, const float *__restrict__ x, float *__restrict__ y) {
  LEIP_SHARED float scratch[kBlockThreads];
  constexpr int kPlanesPerBlock = kBlockThreads / G;
  const int hw = p.h * p.w, planes = p.n * p.c;
  const int lane = threadX() % G, sub = threadX() / G;
  const bool isMax = p.kind == 0;
  for (int first = blockX() * kPlanesPerBlock; first < planes; first += gridDimX() * kPlanesPerBlock) {
    const int plane = first + sub;
    float acc = isMax ? -__FLT_MAX__ : 0.0f;
    if (plane < planes) {
      const float *__restrict__ src = x + int64_t{plane} * hw;
      for (int i = lane; i < hw; i += G) acc = isMax ? (src[i] > acc || src[i] != src[i] ? src[i] : acc) : acc + src[i];
    }
    const float total = isMax ? groupReduce<G>(acc, scratch, [](float a, float b) { return b > a || b != b ? b : a; })
                              : groupReduce<G>(acc, scratch, [](float a, float b) { return a + b; });
    if (plane < planes && lane == 0) y[plane] = isMax ? total : total / static_cast<float>(hw);
  }
}

} // namespace
} // namespace leip::gpu

extern "C" LEIP_DEVICE void leip_g_pool2d_f32(const leip::gpu::PoolParams *pp, const float *__restrict__ x,
                                              float *__restrict__ y) {
  using namespace leip::gpu;
  const PoolParams &p = *pp;
  switch (poolReductionGroup(p)) {
  case 32: return poolPerPlane<32>(p, x, y);
  case 256: return poolPerPlane<256>(p, x, y);
  default: return poolPerOutput(p, x, y);
  }
}
