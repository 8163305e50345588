// Shape rules of the ops leip adds itself (domain "leip"). They are produced by passes and
// never read from or written to ONNX.
//
// leip.QConv: a 2-D convolution on quantized integers, produced by
// passes::lowerQdqToInteger (leip/passes/LowerQdq.h).
//   inputs:  0 x u8/i8 [N, C, H, W]; 1 w i8 [K, C/group, R, S]; 2 residual f32 [N, K, OH, OW]
//            (optional)
//   attrs:   kernel_shape, strides, pads, dilations, group, auto_pad as ONNX Conv;
//            x_zero_point (int); scales, biases (K floats each); activation,
//            activation_params (leip/ir/FusedActivation.h); output_type "float32" | "uint8" |
//            "int8"; y_inverse_scale (float), y_zero_point (int) for the quantized types
//   output:  [N, K, OH, OW] of output_type. Per element:
//            acc = sum over the window positions inside x of (x - x_zero_point) * w (int32)
//            v = act(fmaf(float(acc), scales[k], biases[k]) [+ residual])
//            y = v, or saturate(nearbyintf(v * y_inverse_scale) + y_zero_point) (NaN -> lowest)
//            Direct requantization: when requant_scales and requant_offsets (K floats each)
//            and y_min, y_max (ints) are present (quantized output, no residual, no
//            activation attribute: a Relu or Clip is folded into the bounds), instead
//            y = min(max(nearbyintf(fmaf(float(acc), requant_scales[k], requant_offsets[k])),
//                        y_min), y_max)
//            which saves the float round trip per element (passes::lowerQdqToInteger sets
//            requant_scales = scales * y_inverse_scale, requant_offsets = biases *
//            y_inverse_scale + y_zero_point).
#include "leip/ir/FusedActivation.h"
#include "leip/ir/NNGeometry.h"
#include "leip/ir/OpRegistry.h"

#include <cmath>
#include <string>

namespace leip::ir {

namespace {

/// The inclusive value range of a quantized type.
void quantRange(DType type, int64_t &lo, int64_t &hi) {
  lo = type == DType::U8 ? 0 : -128;
  hi = type == DType::U8 ? 255 : 127;
}

/// A required integer attribute within the range of `type`.
void requireZeroPoint(const ShapeContext &ctx, const char *name, DType type) {
  const AttributeMap &attrs = ctx.attrs();
  int64_t value = attrs.getInt(name, ctx.node().describe());
  int64_t lo, hi;
  quantRange(type, lo, hi);
  if (value < lo || value > hi)
    ctx.fail("attribute '" + std::string(name) + "' " + std::to_string(value) + " is outside the range of " +
             std::string(dtypeName(type)) + " [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

/// A required floats attribute with `count` finite values.
void requireChannelFloats(const ShapeContext &ctx, const char *name, int64_t count) {
  if (!ctx.attrs().has(name)) ctx.fail("attribute '" + std::string(name) + "' is missing");
  std::vector<float> values = ctx.attrs().getFloats(name, {});
  if (static_cast<int64_t>(values.size()) != count)
    ctx.fail("attribute '" + std::string(name) + "' must have " + std::to_string(count) +
             " floats (one per output channel), got " + std::to_string(values.size()) +
             (std::holds_alternative<std::vector<float>>(ctx.attrs().all().at(name)) ? "" : " (it has another type)"));
  for (float v : values)
    if (!std::isfinite(v)) ctx.fail("attribute '" + std::string(name) + "' must hold finite values");
}

std::vector<TensorType> qConvRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  if ((x.dtype != DType::U8 && x.dtype != DType::I8) || x.rank() != 4)
    ctx.fail("input 0 (x) must be u8 or i8 of rank 4, got " + x.toString());
  const TensorType &w = ctx.input(1);
  if (w.dtype != DType::I8 || w.rank() != 4) ctx.fail("input 1 (w) must be i8 of rank 4, got " + w.toString());
  WindowGeometry g = convGeometry(ctx.node(), x.shape, w.shape);
  int64_t k = w.shape[0];
  int64_t taps = w.shape[1] * w.shape[2] * w.shape[3];
  if (taps > kQConvMaxTaps)
    ctx.fail("input 1 (w) " + w.toString() + ": " + std::to_string(taps) +
             " taps per output could overflow the int32 sum (at most " + std::to_string(kQConvMaxTaps) + ")");
  Shape out{x.shape[0], k, g.output[0], g.output[1]};

  requireZeroPoint(ctx, "x_zero_point", x.dtype);
  requireChannelFloats(ctx, "scales", k);
  requireChannelFloats(ctx, "biases", k);
  fusedActivation(ctx.node()); // throws for an unknown activation or wrong parameters

  if (ctx.hasInput(2)) {
    const TensorType &residual = ctx.input(2);
    if (residual.dtype != DType::F32 || residual.shape != out)
      ctx.fail("input 2 (residual) must be f32 with the output's shape " + shapeToString(out) + ", got " +
               residual.toString());
  }

  std::string outputType = ctx.attrs().getString("output_type", "");
  DType outType;
  if (outputType == "float32") {
    outType = DType::F32;
    for (const char *name : {"y_inverse_scale", "y_zero_point"})
      if (ctx.attrs().has(name))
        ctx.fail("attribute '" + std::string(name) + "' is only valid with a quantized output_type");
  } else if (outputType == "uint8" || outputType == "int8") {
    outType = outputType == "uint8" ? DType::U8 : DType::I8;
    if (!ctx.attrs().has("y_inverse_scale") || !std::holds_alternative<float>(ctx.attrs().all().at("y_inverse_scale")))
      ctx.fail("attribute 'y_inverse_scale' must be a float (output_type " + outputType + ")");
    float inverse = ctx.attrs().getFloat("y_inverse_scale", 0.0f);
    if (!std::isfinite(inverse) || inverse <= 0.0f)
      ctx.fail("attribute 'y_inverse_scale' must be finite and positive, got " + std::to_string(inverse));
    requireZeroPoint(ctx, "y_zero_point", outType);
    if (ctx.attrs().has("requant_scales")) {
      requireChannelFloats(ctx, "requant_scales", k);
      requireChannelFloats(ctx, "requant_offsets", k);
      requireZeroPoint(ctx, "y_min", outType);
      requireZeroPoint(ctx, "y_max", outType);
      if (ctx.attrs().getInt("y_min", 0) > ctx.attrs().getInt("y_max", 0))
        ctx.fail("attribute 'y_min' is above 'y_max'");
      if (ctx.hasInput(2) || ctx.attrs().has("activation"))
        ctx.fail("direct requantization (requant_scales) takes no residual and no activation attribute");
    }
  } else {
    ctx.fail("attribute 'output_type' must be \"float32\", \"uint8\" or \"int8\", got \"" + outputType + "\"" +
             (ctx.attrs().has("output_type") ? "" : " (it is missing)"));
  }
  return {TensorType{outType, out, {}}};
}

} // namespace

void registerInternalOps(OpTable &table) { table["QConv"] = {qConvRule, 2, 3}; }

} // namespace leip::ir
