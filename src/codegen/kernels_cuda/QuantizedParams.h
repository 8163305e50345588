// The contract of the NVIDIA integer kernels (kernels_cuda/Quantized.cu): int8/uint8
// convolutions (the compiler-internal op leip.QConv, src/ir/ops/Internal.cpp), QuantizeLinear,
// DequantizeLinear and the integer MaxPool. Same conventions as Params.h (included from
// there): plain C++ on both sides, only int32_t/int64_t/float fields. Every integer kernel
// gives bitwise the outputs of the reference interpreter (src/interp/kernels/), except after
// a Sigmoid, Tanh or Silu activation, whose exp is the GPU's ex2.approx (float outputs within
// 1e-5 relative, quantized ones within 1).
#pragma once

#include <stdint.h>

namespace leip::gpu {

/// Element type codes of the integer kernels.
enum QuantizedType : int32_t { kFloat32 = 0, kUint8 = 1, kInt8 = 2 };

/// leip.QConv: x u8/i8 [N,C,H,W], w i8 [K,C/groups,KH,KW] (ONNX layout),
///   acc = sum over the window taps inside x of (x - xZeroPoint) * w          (int32)
///   direct requantization (directRequant = 1; scales/biases hold requant_scales/offsets):
///     y = min(max(nearbyintf(fmaf(float(acc), scales[k], biases[k])), yMin), yMax)
///   else:
///     v = act(fmaf(float(acc), scales[k], biases[k]) [+ residual])
///     y = v (outputType kFloat32), or saturate(nearbyintf(v * yInverseScale) + yZeroPoint)
///         (NaN -> the type's lowest value)
/// Depthwise (groups == c == k) and narrow grouped convolutions (k / groups < 8) run a direct
/// kernel, the rest an implicit GEMM with dp4a.
struct QConvParams {
  int32_t n, c, h, w;
  int32_t k, oh, ow;
  int32_t kh, kw, strideH, strideW, padTop, padLeft, dilationH, dilationW;
  int32_t groups;
  int32_t inputType;  // kUint8 or kInt8
  int32_t xZeroPoint;
  int32_t outputType; // kFloat32, kUint8 or kInt8
  int32_t directRequant;
  int32_t yMin, yMax;
  float yInverseScale;
  int32_t yZeroPoint;
  Activation act;
};
// leip_g_qconv2d_<variant>(const QConvParams *p, const void *x, const int8_t *w, const float *scales,
//                          const float *biases, const float *residual /* may be null */, void *y)
Launch planQConv(const QConvParams &p);

/// QuantizeLinear: y = saturate(nearbyintf(x / scale) + zeroPoint) per ONNX (the interpreter's
/// formula exactly), per tensor (axisSize 1) or per axis: element i uses
/// scale[(i / inner) % axisSize].
struct QuantizeParams {
  int64_t count;
  int64_t axisSize, inner;
  int32_t outputType; // kUint8 or kInt8
};
// leip_g_quantize(const QuantizeParams *p, const float *x, const float *scale,
//                 const void *zeroPoint /* of outputType, may be null: 0 */, void *y)
Launch planQuantize(const QuantizeParams &p);

/// DequantizeLinear: y = (x - zeroPoint) * scale (the interpreter's formula exactly), same
/// per-axis indexing as QuantizeParams.
struct DequantizeParams {
  int64_t count;
  int64_t axisSize, inner;
  int32_t inputType; // kUint8 or kInt8
};
// leip_g_dequantize(const DequantizeParams *p, const void *x, const float *scale,
//                   const void *zeroPoint /* of inputType, may be null: 0 */, float *y)
Launch planDequantize(const DequantizeParams &p);

/// MaxPool on u8/i8 NCHW with PoolParams (kind 0); padded taps are skipped.
// leip_g_maxpool_<u8|i8>(const PoolParams *p, const void *x, void *y)
Launch planIntegerMaxPool(const PoolParams &p, int32_t type /* kUint8 or kInt8 */);

} // namespace leip::gpu
