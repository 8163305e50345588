// Quantizers: how a real range or a weight tensor becomes ir::QuantParams (scale and zero
// point), and quantize / dequantize / fake-quantize with ONNX QuantizeLinear semantics.
// docs/quantization.md gives the formulas and the integer ranges.
#pragma once

#include "leip/ir/Tensor.h"

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace leip::quant {

/// The `--quantizer` choices. Per-channel kinds quantize weights per output channel;
/// activations always get one scale (see QuantScheme::perTensor()).
enum class QuantizerKind { Asymmetric, Symmetric, SymmetricPerChannel, AsymmetricPerChannel, PowerOfTwo };

/// Command-line names: asymmetric, symmetric, symmetricpc, asymmetricpc, power_of_two.
std::string_view quantizerName(QuantizerKind kind);
/// Throws BadInputError listing the valid names for anything else.
QuantizerKind parseQuantizerKind(std::string_view name);

/// A quantizer with its bit width and storage type. `bits` (2..8) narrows the integer range
/// inside the 8-bit storage: 4-bit int8 values lie in [-8, 7], 4-bit uint8 ones in [0, 15].
struct QuantScheme {
  QuantizerKind kind = QuantizerKind::Symmetric;
  int bits = 8;
  ir::DType storage = ir::DType::I8; // I8 or U8

  bool perChannel() const {
    return kind == QuantizerKind::SymmetricPerChannel || kind == QuantizerKind::AsymmetricPerChannel;
  }
  /// Symmetric kinds (symmetric, symmetricpc, power_of_two) map [-a, a] onto a range
  /// centred on the zero point.
  bool symmetric() const { return kind != QuantizerKind::Asymmetric && kind != QuantizerKind::AsymmetricPerChannel; }
  /// The same scheme with one scale per tensor (the scheme for activations).
  QuantScheme perTensor() const;

  /// The integer range a calibrated range maps onto. Asymmetric: the full `bits`-bit range.
  /// Symmetric: the restricted range [-(2^(b-1)-1), 2^(b-1)-1] for int8 (TensorRT, ONNX
  /// Runtime), shifted by 2^(b-1) for uint8 ([1, 2^b-1], zero point 2^(b-1)), so int8 and
  /// uint8 symmetric represent the same reals.
  int64_t qmin() const;
  int64_t qmax() const;
  /// The full `bits`-bit range of the storage's signedness: what quantize() saturates to
  /// (for 8 bits exactly QuantizeLinear's saturation, so results match ONNX Runtime).
  int64_t intMin() const;
  int64_t intMax() const;
  /// The zero point of symmetric schemes: 0 for int8, 2^(bits-1) for uint8.
  int64_t symmetricZeroPoint() const;

  /// Throws BadInputError unless bits is in 2..8 and storage is I8 or U8.
  void validate() const;
};

/// Per-tensor parameters for the real range [lo, hi] (extended to include 0; must be finite
/// with lo <= hi, else BadInputError). Per-channel kinds give their per-tensor counterpart.
///   asymmetric:   scale = (hi - lo) / (qmax - qmin), zeroPoint = qmin - round(lo / scale)
///   symmetric:    scale = max(|lo|, |hi|) / ((qmax - qmin) / 2), zeroPoint = symmetricZeroPoint
///   power_of_two: the symmetric scale rounded up to a power of two
/// An all-zero range gets scale 1 (as ONNX Runtime); scales are never below FLT_MIN.
ir::QuantParams paramsFromRange(float lo, float hi, const QuantScheme &scheme);

/// [min, max] of each channel of `values` (row-major `shape`) along `axis` (negative counts
/// from the back). Throws BadInputError for NaN or Inf values (the caller adds the tensor name).
std::vector<std::pair<float, float>> channelRanges(std::span<const float> values, const ir::Shape &shape,
                                                   int64_t axis);

/// Weight parameters from the weight's own min/max: per channel along `axis` for per-channel
/// schemes (axis 0 for Conv's [M, C/g, kH, kW]), one global range otherwise (axis ignored).
ir::QuantParams weightParams(std::span<const float> values, const ir::Shape &shape, const QuantScheme &scheme,
                             int64_t axis = 0);

/// Int32 bias parameters as ONNX Runtime's QDQ convention: scale = inputScale * weight
/// scale (per channel when the weight is), zero point 0, storage I32, axis 0 when per channel.
ir::QuantParams biasParams(float inputScale, const ir::QuantParams &weight);

/// QuantizeLinear: q = saturate(roundHalfToEven(x / scale) + zeroPoint), per tensor or per
/// channel along params.axis. Saturates to the `bits`-bit range of params.storage (I8, U8;
/// I32 saturates to int32 and ignores bits). NaN quantizes to the lowest value, as in the
/// interpreter. Returns a tensor of dtype params.storage and x's shape.
ir::Tensor quantize(const ir::Tensor &x, const ir::QuantParams &params, int bits = 8);
/// DequantizeLinear: x = (q - zeroPoint) * scale, computed in float. q must be I8, U8 or I32.
ir::Tensor dequantize(const ir::Tensor &q, const ir::QuantParams &params);
/// quantize then dequantize in place on f32 data of the given shape: the values a
/// QuantizeLinear -> DequantizeLinear pair gives in ONNX Runtime.
void fakeQuantize(std::span<float> values, const ir::Shape &shape, const ir::QuantParams &params, int bits = 8);

/// SQNR results are clamped to +-kMaxSqnrDb (float32 rounding alone gives about 140 dB), so
/// identical data reports kMaxSqnrDb rather than infinity, which JSON cannot hold.
inline constexpr double kMaxSqnrDb = 200.0;
/// 10 * log10(sum(reference^2) / sum((reference - approximation)^2)), in double.
/// No noise: +kMaxSqnrDb (also for empty or all-zero identical inputs); all-zero reference
/// with noise: -kMaxSqnrDb. NaN anywhere gives NaN. The spans must have equal sizes
/// (InternalError otherwise).
double sqnrDb(std::span<const float> reference, std::span<const float> approximation);

/// Accumulates the signal and noise power of reference/approximation pairs, so the SQNR of
/// a tensor can span many samples. db() follows sqnrDb's conventions.
class SqnrAccumulator {
public:
  void add(std::span<const float> reference, std::span<const float> approximation);
  double db() const;

private:
  double signal_ = 0, noise_ = 0;
};

} // namespace leip::quant
