// Shape rules of the elementwise family: broadcasting binary ops (BitShift included), unary
// activations and math, logical ops, Cast/Identity/Dropout, reductions, CumSum,
// ArgMax/ArgMin and QuantizeLinear/DequantizeLinear/DynamicQuantizeLinear (ONNX opset-17
// semantics).
#include "leip/ir/OpRegistry.h"

#include <algorithm>
#include <limits>
#include <string>

namespace leip::ir {

namespace {

// Sets of element types an op accepts, as bit masks.
enum TypeSet : unsigned {
  kFloat = 1u << 0, // f32, f16
  kInt = 1u << 1,   // i8, u8, i32, i64
  kBool = 1u << 2,
  kNumeric = kFloat | kInt,
  kAny = kFloat | kInt | kBool,
};

constexpr int kVariadic = std::numeric_limits<int>::max();

bool inSet(DType type, unsigned set) {
  if (isFloat(type)) return set & kFloat;
  if (isInteger(type)) return set & kInt;
  return type == DType::Bool && (set & kBool);
}

std::string describeSet(unsigned set) {
  std::string out;
  auto add = [&](const char *name) { out += (out.empty() ? "" : " or ") + std::string(name); };
  if (set & kFloat) add("float (f32/f16)");
  if (set & kInt) add("integer (i8/u8/i32/i64)");
  if (set & kBool) add("bool");
  return out;
}

void requireSet(const ShapeContext &ctx, size_t i, unsigned set) {
  const TensorType &type = ctx.input(i);
  if (!inSet(type.dtype, set))
    ctx.fail("input " + std::to_string(i) + " must be " + describeSet(set) + ", got " + type.toString());
}

void requireSameDType(const ShapeContext &ctx, size_t i, size_t j) {
  const TensorType &a = ctx.input(i);
  const TensorType &b = ctx.input(j);
  if (a.dtype != b.dtype)
    ctx.fail("inputs " + std::to_string(i) + " and " + std::to_string(j) + " must have the same dtype, got " +
             a.toString() + " and " + b.toString());
}

/// Broadcasts `next` onto the shape gathered so far (`shape`, of `dtype`).
Shape broadcastOrFail(const ShapeContext &ctx, DType dtype, const Shape &shape, const TensorType &next) {
  std::optional<Shape> out = broadcastShapes(shape, next.shape);
  if (!out) ctx.fail("cannot broadcast " + TensorType{dtype, shape, {}}.toString() + " with " + next.toString());
  return *out;
}

/// All inputs share one dtype from `Set`; the output is their multidirectional broadcast.
template <unsigned Set, bool BoolOutput>
std::vector<TensorType> broadcastRule(const ShapeContext &ctx) {
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    requireSet(ctx, i, Set);
    if (i) requireSameDType(ctx, 0, i);
  }
  Shape shape = ctx.input(0).shape;
  for (size_t i = 1; i < ctx.numInputs(); ++i)
    shape = broadcastOrFail(ctx, ctx.input(0).dtype, shape, ctx.input(i));
  return {TensorType{BoolOutput ? DType::Bool : ctx.input(0).dtype, shape, {}}};
}

/// Pow(X, Y): X and Y may differ in type (ONNX T and T1); the result has X's type.
std::vector<TensorType> powRule(const ShapeContext &ctx) {
  requireSet(ctx, 0, kNumeric);
  requireSet(ctx, 1, kNumeric);
  const TensorType &x = ctx.input(0);
  return {TensorType{x.dtype, broadcastOrFail(ctx, x.dtype, x.shape, ctx.input(1)), {}}};
}

std::vector<TensorType> modRule(const ShapeContext &ctx) {
  if (isFloat(ctx.input(0).dtype) && ctx.attrs().getInt("fmod", 0) != 1)
    ctx.fail("Mod of float inputs requires attribute fmod=1");
  return broadcastRule<kNumeric, false>(ctx);
}

std::vector<TensorType> whereRule(const ShapeContext &ctx) {
  if (ctx.input(0).dtype != DType::Bool) ctx.fail("input 0 (condition) must be bool, got " + ctx.input(0).toString());
  requireSameDType(ctx, 1, 2);
  Shape shape = broadcastOrFail(ctx, DType::Bool, ctx.input(0).shape, ctx.input(1));
  shape = broadcastOrFail(ctx, ctx.input(1).dtype, shape, ctx.input(2));
  return {TensorType{ctx.input(1).dtype, shape, {}}};
}

/// PRelu: the slope broadcasts to X's shape in one direction only.
std::vector<TensorType> preluRule(const ShapeContext &ctx) {
  requireSet(ctx, 0, kNumeric);
  requireSameDType(ctx, 0, 1);
  const TensorType &x = ctx.input(0);
  const TensorType &slope = ctx.input(1);
  std::optional<Shape> out = broadcastShapes(x.shape, slope.shape);
  if (!out || *out != x.shape)
    ctx.fail("slope " + slope.toString() + " does not broadcast to input " + x.toString());
  return {TensorType{x.dtype, x.shape, {}}};
}

template <unsigned Set, bool BoolOutput>
std::vector<TensorType> unaryRule(const ShapeContext &ctx) {
  requireSet(ctx, 0, Set);
  return {TensorType{BoolOutput ? DType::Bool : ctx.input(0).dtype, ctx.input(0).shape, {}}};
}

std::vector<TensorType> clipRule(const ShapeContext &ctx) {
  requireSet(ctx, 0, kNumeric);
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.hasInput(i)) continue;
    requireSameDType(ctx, 0, i);
    if (ctx.input(i).numElements() != 1)
      ctx.fail("input " + std::to_string(i) + (i == 1 ? " (min)" : " (max)") + " must be a scalar, got " +
               ctx.input(i).toString());
  }
  return {TensorType{ctx.input(0).dtype, ctx.input(0).shape, {}}};
}

std::vector<TensorType> dropoutRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  requireSet(ctx, 0, kFloat);
  if (ctx.hasInput(1)) {
    requireSet(ctx, 1, kFloat);
    if (ctx.input(1).numElements() != 1) ctx.fail("input 1 (ratio) must be a scalar, got " + ctx.input(1).toString());
  }
  if (ctx.hasInput(2) && (ctx.input(2).dtype != DType::Bool || ctx.input(2).numElements() != 1))
    ctx.fail("input 2 (training_mode) must be a bool scalar, got " + ctx.input(2).toString());
  return {TensorType{x.dtype, x.shape, {}}, TensorType{DType::Bool, x.shape, {}}};
}

std::vector<TensorType> castRule(const ShapeContext &ctx) {
  DType to = dtypeFromOnnx(ctx, ctx.attrs().getInt("to", ctx.node().describe()));
  return {TensorType{to, ctx.input(0).shape, {}}};
}

std::vector<TensorType> castLikeRule(const ShapeContext &ctx) {
  return {TensorType{ctx.input(1).dtype, ctx.input(0).shape, {}}};
}

std::vector<TensorType> identityRule(const ShapeContext &ctx) {
  return {TensorType{ctx.input(0).dtype, ctx.input(0).shape, {}}};
}

/// Reductions: axes from input 1 when present (ReduceSum since opset 13), else from the
/// 'axes' attribute; no axes means all axes unless noop_with_empty_axes is set.
std::vector<TensorType> reduceRule(const ShapeContext &ctx) {
  requireSet(ctx, 0, kNumeric);
  const Shape &in = ctx.input(0).shape;
  auto rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes;
  if (ctx.hasInput(1)) {
    const Tensor &axesValue = ctx.requireValue(1, "axes");
    if (!isInteger(axesValue.dtype()) || axesValue.rank() > 1)
      ctx.fail("input 1 (axes) must be a 1-D integer tensor, got " + axesValue.type().toString());
    axes = axesValue.toInt64Vector();
  } else {
    axes = ctx.attrs().getInts("axes");
  }
  bool keepdims = ctx.attrs().getInt("keepdims", 1) != 0;
  if (axes.empty()) {
    if (ctx.attrs().getInt("noop_with_empty_axes", 0) != 0) return {TensorType{ctx.input(0).dtype, in, {}}};
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  std::vector<bool> reduced(in.size(), false);
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank)
      ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    int64_t a = axis < 0 ? axis + rank : axis;
    if (reduced[a]) ctx.fail("axis " + std::to_string(axis) + " appears more than once in axes");
    reduced[a] = true;
  }
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduced[d]) out.push_back(in[d]);
    else if (keepdims) out.push_back(1);
  }
  return {TensorType{ctx.input(0).dtype, out, {}}};
}

std::vector<TensorType> argRule(const ShapeContext &ctx) {
  requireSet(ctx, 0, kNumeric);
  const Shape &in = ctx.input(0).shape;
  if (in.empty()) ctx.fail("input must have rank >= 1, got " + ctx.input(0).toString());
  int64_t axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", 0), static_cast<int64_t>(in.size()));
  if (in[axis] == 0) ctx.fail("cannot take " + ctx.node().opType() + " over axis " + std::to_string(axis) +
                              " of size 0 in " + ctx.input(0).toString());
  Shape out = in;
  if (ctx.attrs().getInt("keepdims", 1) != 0) out[axis] = 1;
  else out.erase(out.begin() + axis);
  return {TensorType{DType::I64, out, {}}};
}

/// Checks QuantizeLinear/DequantizeLinear's scale and zero point against x: both scalars
/// (per-tensor) or both 1-D with x.shape[axis] entries (per-axis).
void checkQuantParams(const ShapeContext &ctx, DType zeroPointType) {
  const TensorType &x = ctx.input(0);
  const TensorType &scale = ctx.input(1);
  if (scale.dtype != DType::F32) ctx.fail("input 1 (scale) must be f32, got " + scale.toString());
  if (scale.rank() > 1) ctx.fail("input 1 (scale) must be a scalar or 1-D, got " + scale.toString());
  if (scale.rank() == 1 && scale.numElements() != 1) {
    int64_t axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", 1), x.rank());
    if (x.rank() == 0 || scale.shape[0] != x.shape[axis])
      ctx.fail("per-axis scale " + scale.toString() + " must have one entry per element of axis " +
               std::to_string(axis) + " of " + x.toString());
  }
  if (ctx.hasInput(2)) {
    const TensorType &zp = ctx.input(2);
    if (zp.dtype != zeroPointType)
      ctx.fail("input 2 (zero point) must be " + std::string(dtypeName(zeroPointType)) + ", got " + zp.toString());
    if (zp.numElements() != scale.numElements() || zp.rank() > 1)
      ctx.fail("zero point " + zp.toString() + " must have the shape of scale " + scale.toString());
  }
}

std::vector<TensorType> quantizeRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  if (x.dtype != DType::F32 && x.dtype != DType::I32)
    ctx.fail("input 0 must be f32 or i32, got " + x.toString());
  DType outType = ctx.hasInput(2) ? ctx.input(2).dtype : DType::U8;
  if (outType != DType::U8 && outType != DType::I8)
    ctx.fail("input 2 (zero point) must be u8 or i8, got " + ctx.input(2).toString());
  checkQuantParams(ctx, outType);
  return {TensorType{outType, x.shape, {}}};
}

std::vector<TensorType> dequantizeRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  if (x.dtype != DType::U8 && x.dtype != DType::I8 && x.dtype != DType::I32)
    ctx.fail("input 0 must be u8, i8 or i32, got " + x.toString());
  checkQuantParams(ctx, x.dtype);
  return {TensorType{DType::F32, x.shape, {}}};
}

/// BitShift: unsigned integers only (ONNX's uint8..uint64; u8 is the IR's only unsigned type).
std::vector<TensorType> bitShiftRule(const ShapeContext &ctx) {
  std::string direction = ctx.attrs().getString("direction", "");
  if (direction != "LEFT" && direction != "RIGHT")
    ctx.fail("attribute 'direction' must be LEFT or RIGHT, got '" + direction + "'");
  for (size_t i = 0; i < 2; ++i)
    if (ctx.input(i).dtype != DType::U8)
      ctx.fail("input " + std::to_string(i) + " must be u8 (BitShift takes unsigned integers), got " +
               ctx.input(i).toString());
  return broadcastRule<kInt, false>(ctx);
}

/// CumSum(x, axis): the axis is a scalar input; its value is checked here when constant and
/// by the kernel otherwise.
std::vector<TensorType> cumSumRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  if (x.dtype != DType::F32 && x.dtype != DType::F16 && x.dtype != DType::I32 && x.dtype != DType::I64)
    ctx.fail("input 0 must be f32, f16, i32 or i64, got " + x.toString());
  if (x.rank() < 1) ctx.fail("input 0 must have rank >= 1, got " + x.toString());
  const TensorType &axis = ctx.input(1);
  if ((axis.dtype != DType::I32 && axis.dtype != DType::I64) || axis.rank() > 1 || axis.numElements() != 1)
    ctx.fail("input 1 (axis) must be an i32 or i64 scalar, got " + axis.toString());
  if (const Tensor *value = ctx.value(1)) normalizeAxis(ctx, value->getAsInt64(0), x.rank());
  for (const char *flag : {"exclusive", "reverse"}) {
    int64_t v = ctx.attrs().getInt(flag, 0);
    if (v != 0 && v != 1) ctx.fail(std::string("attribute '") + flag + "' must be 0 or 1, got " + std::to_string(v));
  }
  return {TensorType{x.dtype, x.shape, {}}};
}

/// DynamicQuantizeLinear(x) -> y (u8), y_scale (f32 scalar), y_zero_point (u8 scalar).
std::vector<TensorType> dynamicQuantizeRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  if (x.dtype != DType::F32) ctx.fail("input 0 must be f32, got " + x.toString());
  return {TensorType{DType::U8, x.shape, {}}, TensorType{DType::F32, {}, {}}, TensorType{DType::U8, {}, {}}};
}

} // namespace

DType dtypeFromOnnx(const ShapeContext &ctx, int64_t code) {
  switch (code) {
  case 1: return DType::F32;
  case 2: return DType::U8;
  case 3: return DType::I8;
  case 6: return DType::I32;
  case 7: return DType::I64;
  case 9: return DType::Bool;
  case 10: return DType::F16;
  default: break;
  }
  static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",     "INT8",       "UINT16",  "INT16",
                                      "INT32",     "INT64",  "STRING",    "BOOL",       "FLOAT16", "DOUBLE",
                                      "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
  std::string name = code >= 0 && code < static_cast<int64_t>(std::size(names)) ? names[code] : "unknown";
  ctx.fail("ONNX type " + std::to_string(code) + " (" + name +
           ") is not supported (leip supports FLOAT, FLOAT16, INT8, UINT8, INT32, INT64, BOOL)");
}

void registerElementwiseOps(OpTable &table) {
  auto add = [&](const char *name, ShapeRule rule, int minInputs, int maxInputs) {
    table[name] = OpInfo{rule, minInputs, maxInputs};
  };

  // Binary and variadic ops with multidirectional broadcasting.
  for (const char *name : {"Add", "Sub", "Mul", "Div"}) add(name, broadcastRule<kNumeric, false>, 2, 2);
  for (const char *name : {"Min", "Max", "Sum"}) add(name, broadcastRule<kNumeric, false>, 1, kVariadic);
  add("Mean", broadcastRule<kFloat, false>, 1, kVariadic);
  add("Mod", modRule, 2, 2);
  add("Pow", powRule, 2, 2);
  add("Equal", broadcastRule<kAny, true>, 2, 2);
  for (const char *name : {"Less", "LessOrEqual", "Greater", "GreaterOrEqual"})
    add(name, broadcastRule<kNumeric, true>, 2, 2);
  for (const char *name : {"And", "Or", "Xor"}) add(name, broadcastRule<kBool, false>, 2, 2);
  add("Where", whereRule, 3, 3);
  add("BitShift", bitShiftRule, 2, 2);
  add("PRelu", preluRule, 2, 2);

  // Unary ops.
  for (const char *name :
       {"LeakyRelu", "Elu", "Selu", "Celu", "ThresholdedRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
        "Softplus", "Softsign", "Sqrt", "Exp", "Log", "Erf", "Floor", "Ceil", "Round", "Reciprocal", "Sin", "Cos",
        "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"})
    add(name, unaryRule<kFloat, false>, 1, 1);
  for (const char *name : {"Relu", "Abs", "Neg", "Sign", "Shrink"}) add(name, unaryRule<kNumeric, false>, 1, 1);
  add("Not", unaryRule<kBool, false>, 1, 1);
  add("IsNaN", unaryRule<kFloat, true>, 1, 1);
  add("IsInf", unaryRule<kFloat, true>, 1, 1);
  add("Clip", clipRule, 1, 3);

  // Copies and conversions.
  add("Identity", identityRule, 1, 1);
  add("Dropout", dropoutRule, 1, 3);
  add("Cast", castRule, 1, 1);
  add("CastLike", castLikeRule, 2, 2);

  // Reductions.
  for (const char *name : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    add(name, reduceRule, 1, 2);
  add("ArgMax", argRule, 1, 1);
  add("ArgMin", argRule, 1, 1);
  add("CumSum", cumSumRule, 2, 2);

  // Quantization.
  add("QuantizeLinear", quantizeRule, 2, 3);
  add("DequantizeLinear", dequantizeRule, 2, 3);
  add("DynamicQuantizeLinear", dynamicQuantizeRule, 1, 1);
}

} // namespace leip::ir
