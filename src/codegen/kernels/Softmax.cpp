// Softmax, LogSoftmax and Hardmax along one axis of a tensor viewed as [outer, len, inner],
// with the interpreter's formulas (src/interp/kernels/NN.cpp): the maximum as the first
// largest element, exponentials summed in double; exp itself is computed inline (within
// about 1 ulp of libm's) so that the loops vectorize. Tasks are the outer * inner
// positions; neighbouring positions along inner are handled together in tiles, so every
// loop over them is contiguous; for the usual last axis (inner == 1) a task is one row.
#include "Numeric.h"

using namespace leip::kernels;

namespace {

enum SoftmaxKind : int32_t { kSoftmax = 0, kLogSoftmax = 1, kHardmax = 2 };

constexpr int64_t kTile = 64;

/// exp(x) for the x - max <= 0 of a softmax, without a libm call so that the loop
/// vectorizes: Cephes' expf (range reduction by ln 2, degree-6 polynomial; about 1 ulp).
/// Below -87 the result is exp(-87) ~ 1.6e-38 instead of smaller, negligible next to the
/// row's sum (at least 1); NaN stays NaN.
inline float expNonPositive(float x) {
  const float c = x > -87.0f ? x : -87.0f; // NaN too: no NaN reaches the int conversion
  const float n = __builtin_rintf(c * 1.44269504088896341f);
  const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const float scale = __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
  return x != x ? x : e * scale;
}

/// Softmax/LogSoftmax of one contiguous row. The maximum and the sum use partial lanes
/// combined in a fixed order, so the loops vectorize (the sum stays in double; which
/// element is the maximum does not matter, NaN anywhere makes the whole row NaN anyway).
inline void softmaxRow(const float *__restrict src, float *__restrict dst, int64_t len, int32_t kind) {
  constexpr int64_t kLanes = 8;
  const int64_t full = len / kLanes * kLanes;
  float lanes[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) lanes[l] = src[0];
  for (int64_t j = 0; j < full; j += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = src[j + l] > lanes[l] ? src[j + l] : lanes[l];
  float maxValue = lanes[0];
  for (int64_t l = 1; l < kLanes; ++l) maxValue = lanes[l] > maxValue ? lanes[l] : maxValue;
  for (int64_t j = full; j < len; ++j) maxValue = src[j] > maxValue ? src[j] : maxValue;
  double sums[kLanes] = {};
  for (int64_t j = 0; j < full; j += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) {
      const float e = expNonPositive(src[j + l] - maxValue);
      if (kind == kSoftmax) dst[j + l] = e;
      sums[l] += e;
    }
  double sum = 0.0;
  for (int64_t l = 0; l < kLanes; ++l) sum += sums[l];
  for (int64_t j = full; j < len; ++j) {
    const float e = expNonPositive(src[j] - maxValue);
    if (kind == kSoftmax) dst[j] = e;
    sum += e;
  }
  if (kind == kSoftmax) {
    const auto inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < len; ++j) dst[j] *= inv;
  } else {
    const auto logSum = static_cast<float>(log(sum));
    for (int64_t j = 0; j < len; ++j) dst[j] = src[j] - maxValue - logSum;
  }
}

} // namespace

extern "C" void leip_k_softmax_f32(const float *__restrict x, float *__restrict y, int64_t len, int64_t inner,
                                   int32_t kind, int64_t begin, int64_t end) {
  if (inner == 1 && kind != kHardmax) {
    for (int64_t row = begin; row < end; ++row) softmaxRow(x + row * len, y + row * len, len, kind);
    return;
  }
  forEachPositionRun(len, inner, kTile, begin, end, [&](int64_t base, int64_t, int64_t n) {
    const float *__restrict src = x + base;
    float *__restrict dst = y + base;
    float maxValue[kTile];
    int64_t arg[kTile];
    double sum[kTile];
    for (int64_t i = 0; i < n; ++i) {
      maxValue[i] = src[i];
      arg[i] = 0;
      sum[i] = 0.0;
    }
    for (int64_t j = 1; j < len; ++j)
      for (int64_t i = 0; i < n; ++i) {
        const float v = src[j * inner + i];
        if (v > maxValue[i]) {
          maxValue[i] = v;
          arg[i] = j;
        }
      }
    if (kind == kHardmax) {
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < n; ++i) dst[j * inner + i] = j == arg[i] ? 1.0f : 0.0f;
      return;
    }
    for (int64_t j = 0; j < len; ++j)
      for (int64_t i = 0; i < n; ++i) {
        const float e = expNonPositive(src[j * inner + i] - maxValue[i]);
        if (kind == kSoftmax) dst[j * inner + i] = e;
        sum[i] += e;
      }
    if (kind == kSoftmax) {
      float inv[kTile];
      for (int64_t i = 0; i < n; ++i) inv[i] = static_cast<float>(1.0 / sum[i]);
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < n; ++i) dst[j * inner + i] *= inv[i];
    } else {
      float logSum[kTile];
      for (int64_t i = 0; i < n; ++i) logSum[i] = static_cast<float>(log(sum[i]));
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < n; ++i) dst[j * inner + i] = src[j * inner + i] - maxValue[i] - logSum[i];
    }
  });
}
