// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear with the interpreter's formulas
// (src/interp/kernels/Elementwise.cpp). x is viewed as [outer, channels, inner] with one
// scale and zero point per channel (channels = 1 per tensor); a null zero point is 0.
// Tasks are elements, walked in runs that share a channel.
#include "Numeric.h"

using namespace leip::kernels;

namespace {

/// Calls run(first, count, channel) for the runs of [begin, end) that share a channel.
template <typename Run>
inline void forEachChannelRun(int64_t channels, int64_t inner, int64_t begin, int64_t end, Run &&run) {
  for (int64_t i = begin; i < end;) {
    int64_t n = inner - i % inner;
    if (n > end - i) n = end - i;
    run(i, n, (i / inner) % channels);
    i += n;
  }
}

template <typename X, typename Q>
inline void quantize(const X *__restrict x, Q *__restrict y, const float *scale, const Q *zeroPoint, int64_t channels,
                     int64_t inner, int64_t begin, int64_t end) {
  forEachChannelRun(channels, inner, begin, end, [&](int64_t first, int64_t n, int64_t c) {
    const float s = scale[c];
    const float zp = zeroPoint ? static_cast<float>(zeroPoint[c]) : 0.0f;
    for (int64_t i = first; i < first + n; ++i) y[i] = quantizeScaled<Q>(static_cast<float>(x[i]) / s, zp);
  });
}

template <typename Q>
inline void dequantize(const Q *__restrict x, float *__restrict y, const float *scale, const Q *zeroPoint,
                       int64_t channels, int64_t inner, int64_t begin, int64_t end) {
  forEachChannelRun(channels, inner, begin, end, [&](int64_t first, int64_t n, int64_t c) {
    const float s = scale[c];
    const int64_t zp = zeroPoint ? static_cast<int64_t>(zeroPoint[c]) : 0;
    for (int64_t i = first; i < first + n; ++i) y[i] = static_cast<float>(static_cast<int64_t>(x[i]) - zp) * s;
  });
}

} // namespace

#define LEIP_QUANTIZE(xs, X, qs, Q)                                                                                    \
  extern "C" void leip_k_quantize_##xs##_##qs(const X *__restrict x, Q *__restrict y, const float *scale,              \
                                              const Q *zeroPoint, int64_t channels, int64_t inner, int64_t begin,      \
                                              int64_t end) {                                                           \
    quantize(x, y, scale, zeroPoint, channels, inner, begin, end);                                                     \
  }
LEIP_QUANTIZE(f32, float, u8, uint8_t)
LEIP_QUANTIZE(f32, float, i8, int8_t)
LEIP_QUANTIZE(i32, int32_t, u8, uint8_t)
LEIP_QUANTIZE(i32, int32_t, i8, int8_t)

#define LEIP_DEQUANTIZE(qs, Q)                                                                                         \
  extern "C" void leip_k_dequantize_##qs(const Q *__restrict x, float *__restrict y, const float *scale,               \
                                         const Q *zeroPoint, int64_t channels, int64_t inner, int64_t begin,           \
                                         int64_t end) {                                                                \
    dequantize(x, y, scale, zeroPoint, channels, inner, begin, end);                                                   \
  }
LEIP_DEQUANTIZE(u8, uint8_t)
LEIP_DEQUANTIZE(i8, int8_t)
LEIP_DEQUANTIZE(i32, int32_t)

/// DynamicQuantizeLinear: u8 quantization whose range [min(0, min x), max(0, max x)] maps
/// onto [0, 255] (scale 1 for an all-zero input; NaNs do not count for the range). One
/// task: the range needs every element first. Null scale / zero point outputs are unused.
extern "C" void leip_k_dynamic_quantize_f32(const float *__restrict x, uint8_t *__restrict y, float *scaleOut,
                                            uint8_t *zeroPointOut, int64_t n, int64_t begin, int64_t end) {
  if (begin >= end) return;
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  const uint8_t zeroPoint = quantizeScaled<uint8_t>((0.0f - lo) / scale, 0.0f);
  const float zp = static_cast<float>(zeroPoint);
  for (int64_t i = 0; i < n; ++i) y[i] = quantizeScaled<uint8_t>(x[i] / scale, zp);
  if (scaleOut) *scaleOut = scale;
  if (zeroPointOut) *zeroPointOut = zeroPoint;
}
