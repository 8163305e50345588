#include "leip/quant/Quantizer.h"

#include "QuantUtil.h"

#include "leip/support/Error.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

namespace leip::quant {

namespace {

struct KindName {
  QuantizerKind kind;
  std::string_view name;
};
constexpr KindName kQuantizerNames[] = {
    {QuantizerKind::Asymmetric, "asymmetric"},
    {QuantizerKind::Symmetric, "symmetric"},
    {QuantizerKind::SymmetricPerChannel, "symmetricpc"},
    {QuantizerKind::AsymmetricPerChannel, "asymmetricpc"},
    {QuantizerKind::PowerOfTwo, "power_of_two"},
};

/// The smallest power of two >= x (x > 0), kept within float's normal range.
float powerOfTwoAtLeast(double x) {
  int exponent;
  double mantissa = std::frexp(x, &exponent); // x = mantissa * 2^exponent, mantissa in [0.5, 1)
  if (mantissa == 0.5) --exponent;            // x is already a power of two
  return std::ldexp(1.0f, std::clamp(exponent, -126, 127));
}

/// x viewed as [outer, channels, inner] with one scale per channel.
struct ChannelLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

int64_t normalizeAxis(int64_t axis, const ir::Shape &shape) {
  auto rank = static_cast<int64_t>(shape.size());
  if (axis < -rank || axis >= rank)
    throw InternalError("quantization axis " + std::to_string(axis) + " is out of range for shape " +
                        ir::shapeToString(shape));
  return axis < 0 ? axis + rank : axis;
}

ChannelLayout channelLayout(const ir::Shape &shape, std::optional<int64_t> axis) {
  ChannelLayout layout;
  if (!axis) {
    layout.inner = ir::numElements(shape);
    return layout;
  }
  int64_t a = normalizeAxis(*axis, shape);
  layout.channels = shape[static_cast<size_t>(a)];
  for (int64_t d = 0; d < a; ++d)
    layout.outer *= shape[static_cast<size_t>(d)];
  for (auto d = static_cast<size_t>(a) + 1; d < shape.size(); ++d)
    layout.inner *= shape[d];
  return layout;
}

ChannelLayout checkedLayout(const ir::Shape &shape, size_t size, const ir::QuantParams &params) {
  if (static_cast<size_t>(ir::numElements(shape)) != size)
    throw InternalError("quantization: " + std::to_string(size) + " values do not fill shape " +
                        ir::shapeToString(shape));
  ChannelLayout layout = channelLayout(shape, params.axis);
  if (params.scales.size() != static_cast<size_t>(layout.channels) ||
      params.zeroPoints.size() != params.scales.size())
    throw InternalError("quantization: " + std::to_string(params.scales.size()) + " scales and " +
                        std::to_string(params.zeroPoints.size()) + " zero points for " +
                        std::to_string(layout.channels) + " channels of shape " + ir::shapeToString(shape));
  return layout;
}

/// Calls fn(begin, end, channel) for every run of elements that share one channel.
template <typename Fn> void forEachChannelRun(const ChannelLayout &layout, Fn &&fn) {
  for (int64_t o = 0; o < layout.outer; ++o)
    for (int64_t c = 0; c < layout.channels; ++c) {
      int64_t begin = (o * layout.channels + c) * layout.inner;
      fn(begin, begin + layout.inner, static_cast<size_t>(c));
    }
}

/// The saturation bounds of quantize() for a storage type: the `bits`-bit range for I8/U8,
/// int32's for I32.
std::pair<double, double> saturationBounds(ir::DType storage, int bits) {
  if (storage == ir::DType::I32)
    return {static_cast<double>(std::numeric_limits<int32_t>::min()),
            static_cast<double>(std::numeric_limits<int32_t>::max())};
  QuantScheme scheme{QuantizerKind::Asymmetric, bits, storage};
  scheme.validate();
  return {static_cast<double>(scheme.intMin()), static_cast<double>(scheme.intMax())};
}

/// QuantizeLinear on one value, as the interpreter and ONNX Runtime: x / scale in float,
/// round half to even, add the zero point, saturate (NaN to the lower bound).
inline double quantizeValue(float x, float scale, double zeroPoint, double lo, double hi) {
  double v = std::rint(static_cast<double>(x / scale)) + zeroPoint;
  return std::fmin(std::fmax(v, lo), hi);
}

} // namespace

std::string_view quantizerName(QuantizerKind kind) {
  for (const auto &entry : kQuantizerNames)
    if (entry.kind == kind) return entry.name;
  throw InternalError("unknown QuantizerKind");
}

QuantizerKind parseQuantizerKind(std::string_view name) {
  std::string valid;
  for (const auto &entry : kQuantizerNames) {
    if (entry.name == name) return entry.kind;
    valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw BadInputError("unknown quantizer '" + std::string(name) + "'; expected one of " + valid);
}

QuantScheme QuantScheme::perTensor() const {
  QuantScheme scheme = *this;
  if (kind == QuantizerKind::SymmetricPerChannel) scheme.kind = QuantizerKind::Symmetric;
  if (kind == QuantizerKind::AsymmetricPerChannel) scheme.kind = QuantizerKind::Asymmetric;
  return scheme;
}

int64_t QuantScheme::intMin() const { return storage == ir::DType::U8 ? 0 : -(int64_t{1} << (bits - 1)); }
int64_t QuantScheme::intMax() const {
  return storage == ir::DType::U8 ? (int64_t{1} << bits) - 1 : (int64_t{1} << (bits - 1)) - 1;
}
int64_t QuantScheme::symmetricZeroPoint() const { return storage == ir::DType::U8 ? int64_t{1} << (bits - 1) : 0; }
int64_t QuantScheme::qmin() const { return symmetric() ? intMin() + 1 : intMin(); }
int64_t QuantScheme::qmax() const { return intMax(); }

void QuantScheme::validate() const {
  if (bits < 2 || bits > 8)
    throw BadInputError("quantization bits must be between 2 and 8, got " + std::to_string(bits));
  if (storage != ir::DType::I8 && storage != ir::DType::U8)
    throw BadInputError("quantized data type must be int8 or uint8, got " + std::string(ir::dtypeName(storage)));
}

ir::QuantParams paramsFromRange(float lo, float hi, const QuantScheme &scheme) {
  scheme.validate();
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    throw BadInputError("quantization range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                        "] must be finite with min <= max");
  // In double: hi - lo can exceed FLT_MAX.
  double rlo = std::min(static_cast<double>(lo), 0.0), rhi = std::max(static_cast<double>(hi), 0.0);
  ir::QuantParams params;
  params.storage = scheme.storage;
  const auto qmin = static_cast<double>(scheme.qmin()), qmax = static_cast<double>(scheme.qmax());
  float scale;
  int64_t zeroPoint;
  if (scheme.symmetric()) {
    double absMax = std::max(-rlo, rhi);
    double exact = absMax / ((qmax - qmin) / 2);
    if (absMax == 0)
      scale = 1.0f;
    else if (scheme.kind == QuantizerKind::PowerOfTwo)
      scale = powerOfTwoAtLeast(exact);
    else
      scale = std::max(static_cast<float>(exact), FLT_MIN);
    zeroPoint = scheme.symmetricZeroPoint();
  } else if (rhi == rlo) {
    scale = 1.0f;
    zeroPoint = std::clamp<int64_t>(0, scheme.qmin(), scheme.qmax());
  } else {
    scale = std::max(static_cast<float>((rhi - rlo) / (qmax - qmin)), FLT_MIN);
    // As ONNX Runtime: round(qmin - lo / scale), half to even, with the scale actually used.
    zeroPoint = static_cast<int64_t>(std::clamp(std::rint(qmin - rlo / scale), qmin, qmax));
  }
  params.scales = {scale};
  params.zeroPoints = {zeroPoint};
  return params;
}

std::vector<std::pair<float, float>> channelRanges(std::span<const float> values, const ir::Shape &shape,
                                                   int64_t axis) {
  if (static_cast<size_t>(ir::numElements(shape)) != values.size())
    throw InternalError("channelRanges: " + std::to_string(values.size()) + " values do not fill shape " +
                        ir::shapeToString(shape));
  detail::checkFinite(values);
  ChannelLayout layout = channelLayout(shape, axis);
  std::vector<std::pair<float, float>> ranges(static_cast<size_t>(layout.channels),
                                              {std::numeric_limits<float>::infinity(),
                                               -std::numeric_limits<float>::infinity()});
  forEachChannelRun(layout, [&](int64_t begin, int64_t end, size_t c) {
    for (int64_t i = begin; i < end; ++i) {
      ranges[c].first = std::min(ranges[c].first, values[static_cast<size_t>(i)]);
      ranges[c].second = std::max(ranges[c].second, values[static_cast<size_t>(i)]);
    }
  });
  for (auto &range : ranges) // empty channels (a zero-sized inner extent)
    if (range.first > range.second) range = {0.0f, 0.0f};
  return ranges;
}

ir::QuantParams weightParams(std::span<const float> values, const ir::Shape &shape, const QuantScheme &scheme,
                             int64_t axis) {
  scheme.validate();
  if (!scheme.perChannel()) {
    auto [lo, hi] = channelRanges(values, {1, static_cast<int64_t>(values.size())}, 0).front(); // one channel
    return paramsFromRange(lo, hi, scheme);
  }
  ir::QuantParams params;
  params.storage = scheme.storage;
  params.axis = normalizeAxis(axis, shape);
  for (auto [lo, hi] : channelRanges(values, shape, axis)) {
    ir::QuantParams channel = paramsFromRange(lo, hi, scheme);
    params.scales.push_back(channel.scales.front());
    params.zeroPoints.push_back(channel.zeroPoints.front());
  }
  return params;
}

ir::QuantParams biasParams(float inputScale, const ir::QuantParams &weight) {
  ir::QuantParams params;
  params.storage = ir::DType::I32;
  for (float weightScale : weight.scales)
    params.scales.push_back(std::max(inputScale * weightScale, FLT_MIN));
  params.zeroPoints.assign(params.scales.size(), 0);
  if (weight.perChannel()) params.axis = 0;
  return params;
}

ir::Tensor quantize(const ir::Tensor &x, const ir::QuantParams &params, int bits) {
  if (x.dtype() != ir::DType::F32) throw InternalError("quantize expects f32 data, got " + x.type().toString());
  ChannelLayout layout = checkedLayout(x.shape(), static_cast<size_t>(x.numElements()), params);
  auto [lo, hi] = saturationBounds(params.storage, bits);
  ir::Tensor out(params.storage, x.shape());
  const float *src = x.data<float>();
  auto quantizeInto = [&](auto *dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    forEachChannelRun(layout, [&](int64_t begin, int64_t end, size_t c) {
      const float scale = params.scales[c];
      const auto zeroPoint = static_cast<double>(params.zeroPoints[c]);
      for (int64_t i = begin; i < end; ++i)
        dst[i] = static_cast<Q>(quantizeValue(src[i], scale, zeroPoint, lo, hi));
    });
  };
  switch (params.storage) {
  case ir::DType::I8: quantizeInto(out.data<int8_t>()); break;
  case ir::DType::U8: quantizeInto(out.data<uint8_t>()); break;
  default: quantizeInto(out.data<int32_t>()); break; // saturationBounds accepted only I32 besides
  }
  return out;
}

ir::Tensor dequantize(const ir::Tensor &q, const ir::QuantParams &params) {
  if (q.dtype() != params.storage)
    throw InternalError("dequantize: data " + q.type().toString() + " does not match the storage " +
                        std::string(ir::dtypeName(params.storage)));
  ChannelLayout layout = checkedLayout(q.shape(), static_cast<size_t>(q.numElements()), params);
  ir::Tensor out(ir::DType::F32, q.shape());
  float *dst = out.data<float>();
  auto dequantizeFrom = [&](const auto *src) {
    forEachChannelRun(layout, [&](int64_t begin, int64_t end, size_t c) {
      const float scale = params.scales[c];
      const int64_t zeroPoint = params.zeroPoints[c];
      for (int64_t i = begin; i < end; ++i)
        dst[i] = static_cast<float>(static_cast<int64_t>(src[i]) - zeroPoint) * scale;
    });
  };
  switch (params.storage) {
  case ir::DType::I8: dequantizeFrom(q.data<int8_t>()); break;
  case ir::DType::U8: dequantizeFrom(q.data<uint8_t>()); break;
  case ir::DType::I32: dequantizeFrom(q.data<int32_t>()); break;
  default: throw InternalError("dequantize: storage must be i8, u8 or i32");
  }
  return out;
}

void fakeQuantize(std::span<float> values, const ir::Shape &shape, const ir::QuantParams &params, int bits) {
  ChannelLayout layout = checkedLayout(shape, values.size(), params);
  auto [lo, hi] = saturationBounds(params.storage, bits);
  forEachChannelRun(layout, [&](int64_t begin, int64_t end, size_t c) {
    const float scale = params.scales[c];
    const auto zeroPoint = static_cast<double>(params.zeroPoints[c]);
    for (int64_t i = begin; i < end; ++i) {
      float &x = values[static_cast<size_t>(i)];
      // The integer is exact in double; the product is rounded to float as DequantizeLinear does.
      x = static_cast<float>(quantizeValue(x, scale, zeroPoint, lo, hi) - zeroPoint) * scale;
    }
  });
}

void SqnrAccumulator::add(std::span<const float> reference, std::span<const float> approximation) {
  if (reference.size() != approximation.size())
    throw InternalError("SqnrAccumulator: " + std::to_string(reference.size()) + " reference values but " +
                        std::to_string(approximation.size()) + " approximations");
  for (size_t i = 0; i < reference.size(); ++i) {
    double r = reference[i], d = r - static_cast<double>(approximation[i]);
    signal_ += r * r;
    noise_ += d * d;
  }
}

double SqnrAccumulator::db() const {
  if (std::isnan(signal_) || std::isnan(noise_)) return std::numeric_limits<double>::quiet_NaN();
  if (noise_ == 0) return kMaxSqnrDb;
  if (signal_ == 0) return -kMaxSqnrDb;
  return std::clamp(10.0 * std::log10(signal_ / noise_), -kMaxSqnrDb, kMaxSqnrDb);
}

double sqnrDb(std::span<const float> reference, std::span<const float> approximation) {
  SqnrAccumulator sqnr;
  sqnr.add(reference, approximation);
  return sqnr.db();
}

} // namespace leip::quant
