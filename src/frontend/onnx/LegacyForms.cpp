// Rewrites legacy ONNX op forms (opsets 7-16) into the opset-17 form that leip's shape
// rules and kernels implement, so that each op has one definition downstream.
//
// Changes handled (from the ONNX operator changelog):
//   Split 'split' attr (<13)              -> input 1 (i64)
//   Squeeze/Unsqueeze 'axes' attr (<13)   -> input 1 (i64)
//   ReduceSum 'axes' attr (<13)           -> input 1 (i64)
//   Clip 'min'/'max' attrs (<11)          -> inputs 1, 2 (scalars)
//   Pad 'pads'/'value' attrs (<11)        -> inputs 1, 2
//   Slice 'starts'/'ends'/'axes' (<10)    -> inputs 1, 2, 3
//   TopK 'k' attr (<10)                   -> input 1 (i64 [1])
//   Upsample (7-10), Resize (10)          -> Resize (X, -, scales), asymmetric/floor
//   Resize (11+) empty roi/scales         -> omitted inputs
//   Softmax/LogSoftmax/Hardmax (<13)      -> opset-13 form (single axis), via
//                                            Flatten -> op(axis=-1) -> Reshape when needed
//   Dropout 'ratio'/'is_test', BatchNormalization 'spatial'/'consumed_inputs'/'is_test'
//                                         -> dropped (no effect at inference)
//   Scatter (9-10)                        -> ScatterElements (same semantics)
#include "ImporterInternal.h"
#include "leip/support/Error.h"

#include <variant>

namespace leip::frontend::detail {
namespace {

[[noreturn]] void fail(const NodeSpec &spec, const std::string &message) {
  throw BadInputError(spec.describe() + ": " + message);
}

/// The attribute as T, null when absent; fails naming the node when of another kind.
template <typename T> const T *attr(const NodeSpec &spec, const std::string &name, const char *kind) {
  const auto &all = spec.attrs.all();
  auto it = all.find(name);
  if (it == all.end())
    return nullptr;
  if (const T *value = std::get_if<T>(&it->second))
    return value;
  fail(spec, "attribute '" + name + "' must be " + kind);
}

const std::vector<int64_t> *intsAttr(const NodeSpec &spec, const std::string &name) {
  return attr<std::vector<int64_t>>(spec, name, "a list of integers");
}

int64_t intAttr(const NodeSpec &spec, const std::string &name, int64_t fallback) {
  const int64_t *value = attr<int64_t>(spec, name, "an integer");
  return value ? *value : fallback;
}

std::string stringAttr(const NodeSpec &spec, const std::string &name, const std::string &fallback) {
  const std::string *value = attr<std::string>(spec, name, "a string");
  return value ? *value : fallback;
}

/// Puts `value` into input slot `index`, which the legacy form must leave empty.
void setInput(NodeSpec &spec, size_t index, ir::Value *value, const std::string &attrName) {
  if (index < spec.inputs.size() && spec.inputs[index] != nullptr)
    fail(spec, "has both attribute '" + attrName + "' and input " + std::to_string(index));
  if (spec.inputs.size() <= index)
    spec.inputs.resize(index + 1, nullptr);
  spec.inputs[index] = value;
}

ir::Tensor i64Vector(const std::vector<int64_t> &values) {
  return ir::Tensor::fromVector(ir::DType::I64, {static_cast<int64_t>(values.size())}, values);
}

/// Moves an integer-list attribute into input slot `index` as an i64 vector.
/// `required`: fail when the attribute is missing. `skipEmpty`: an empty list means
/// "not given" (ReduceSum's reduce-all).
void intsAttrToInput(NodeSpec &spec, ImportContext &ctx, const std::string &name, size_t index,
                     bool required = false, bool skipEmpty = false) {
  const std::vector<int64_t> *values = intsAttr(spec, name);
  if (!values) {
    if (required)
      fail(spec, "attribute '" + name + "' is required at opset " + std::to_string(ctx.opset()));
    return;
  }
  if (!(skipEmpty && values->empty()))
    setInput(spec, index, ctx.addConstant(spec.name + "_" + name, i64Vector(*values)), name);
  spec.attrs.erase(name);
}

/// A scalar constant with the element type of `like` when the model declares it (Clip
/// and Pad need their bounds/pad value in the data's type), f32 otherwise.
ir::Value *scalarLike(NodeSpec &spec, ImportContext &ctx, const std::string &base, float value,
                      const ir::Value *like) {
  ir::Tensor scalar = ir::Tensor::scalar(value);
  if (like)
    if (auto dtype = ctx.knownDType(like); dtype && *dtype != ir::DType::F32)
      scalar = scalar.castTo(*dtype);
  return ctx.addConstant(spec.name + "_" + base, std::move(scalar));
}

const float *floatAttr(const NodeSpec &spec, const std::string &name) {
  return attr<float>(spec, name, "a float");
}

ir::Value *firstInput(const NodeSpec &spec) { return spec.inputs.empty() ? nullptr : spec.inputs[0]; }

void rewriteClip(NodeSpec &spec, ImportContext &ctx) {
  const char *names[] = {"min", "max"};
  for (size_t i = 0; i < 2; ++i) {
    if (const float *bound = floatAttr(spec, names[i])) {
      setInput(spec, i + 1, scalarLike(spec, ctx, names[i], *bound, firstInput(spec)), names[i]);
      spec.attrs.erase(names[i]);
    }
  }
}

void rewritePad(NodeSpec &spec, ImportContext &ctx) {
  intsAttrToInput(spec, ctx, "pads", 1, /*required=*/true);
  if (const float *value = floatAttr(spec, "value")) {
    // Only constant mode uses the value; 0 is also the opset-11 default.
    if (*value != 0.0f && stringAttr(spec, "mode", "constant") == "constant")
      setInput(spec, 2, scalarLike(spec, ctx, "value", *value, firstInput(spec)), "value");
    spec.attrs.erase("value");
  }
}

void rewriteTopK(NodeSpec &spec, ImportContext &ctx) {
  const int64_t *k = attr<int64_t>(spec, "k", "an integer");
  if (!k)
    fail(spec, "attribute 'k' is required at opset " + std::to_string(ctx.opset()));
  setInput(spec, 1, ctx.addConstant(spec.name + "_k", i64Vector({*k})), "k");
  spec.attrs.erase("k");
}

/// Upsample (opsets 7-10) and Resize-10 both scale with "asymmetric" coordinates and,
/// for nearest, take the floor of the source coordinate. Expressed as Resize-13.
void rewriteUpsample(NodeSpec &spec, ImportContext &ctx) {
  const bool scalesAttr = spec.opType == "Upsample" && ctx.opset() < 9;
  ir::Value *scales = nullptr;
  if (scalesAttr) {
    const auto *values = attr<std::vector<float>>(spec, "scales", "a list of floats");
    if (!values)
      fail(spec, "attribute 'scales' is required at opset " + std::to_string(ctx.opset()));
    if (spec.inputs.size() > 1)
      fail(spec, "expects one input at opset " + std::to_string(ctx.opset()));
    scales = ctx.addConstant(spec.name + "_scales", ir::Tensor::fromVector(ir::DType::F32,
                                                                           {static_cast<int64_t>(values->size())},
                                                                           *values));
  } else {
    if (spec.inputs.size() != 2 || spec.inputs[1] == nullptr)
      fail(spec, "expects inputs (X, scales)");
    scales = spec.inputs[1];
  }
  std::string mode = stringAttr(spec, "mode", "nearest");
  if (mode == "bilinear")
    mode = "linear";
  if (mode != "nearest" && mode != "linear")
    fail(spec, "mode '" + mode + "' is not supported (expected nearest or linear)");

  NodeSpec resize;
  resize.opType = "Resize";
  resize.name = spec.name;
  resize.inputs = {firstInput(spec), nullptr, scales};
  resize.outputs = spec.outputs;
  resize.attrs.set("mode", mode);
  resize.attrs.set("coordinate_transformation_mode", std::string("asymmetric"));
  if (mode == "nearest")
    resize.attrs.set("nearest_mode", std::string("floor"));
  spec = std::move(resize);
}

bool isEmptyConstant(const ir::Value *value) {
  return value && value->isConstant() && value->constant()->numElements() == 0;
}

/// Resize-11 required roi and scales as inputs and let empty tensors stand for "not
/// given"; in the opset-13 form they are simply omitted.
void normalizeResizeInputs(NodeSpec &spec) {
  if (spec.inputs.size() > 1 && isEmptyConstant(spec.inputs[1]))
    spec.inputs[1] = nullptr;
  if (spec.inputs.size() > 3 && spec.inputs[3] != nullptr && isEmptyConstant(spec.inputs[2]))
    spec.inputs[2] = nullptr;
}

/// Softmax, LogSoftmax and Hardmax before opset 13 coerce the input to 2-D at `axis`
/// (default 1) and normalize over the whole trailing block. That equals the opset-13
/// single-axis op when the axis is the last one; otherwise we compute it on the
/// flattened tensor and reshape back, which is right for any rank.
void emitLegacySoftmax(NodeSpec spec, ImportContext &ctx) {
  const int64_t axis = intAttr(spec, "axis", 1);
  ir::Value *x = firstInput(spec);
  if (!x || spec.inputs.size() != 1 || spec.outputs.size() != 1) {
    ctx.emit(spec); // malformed: let the shape rule report it
    return;
  }
  std::optional<int64_t> rank = ctx.knownRank(x);
  if (rank) {
    if (axis < -*rank || axis >= *rank)
      fail(spec, "axis " + std::to_string(axis) + " is out of range for an input of rank " + std::to_string(*rank));
  }
  // axis -1 is the last axis whatever the rank.
  if (axis == -1 || (rank && (axis < 0 ? axis + *rank : axis) == *rank - 1)) {
    spec.attrs.set("axis", int64_t{-1});
    ctx.emit(spec);
    return;
  }

  const std::string &base = spec.name;
  NodeSpec flatten;
  flatten.opType = "Flatten";
  flatten.name = ctx.freshNodeName(base + "_flatten");
  flatten.inputs = {x};
  flatten.outputs = {ctx.freshValueName(base + "_2d")};
  flatten.attrs.set("axis", axis);
  ir::Node *flat = ctx.emit(flatten);

  NodeSpec op = spec;
  op.inputs = {flat->output(0)};
  op.outputs = {ctx.freshValueName(base + "_2d_out")};
  op.attrs.set("axis", int64_t{-1});
  ir::Node *normalized = ctx.emit(op);

  NodeSpec shape;
  shape.opType = "Shape";
  shape.name = ctx.freshNodeName(base + "_shape");
  shape.inputs = {x};
  shape.outputs = {ctx.freshValueName(base + "_shape")};
  ir::Node *shapeNode = ctx.emit(shape);

  NodeSpec reshape;
  reshape.opType = "Reshape";
  reshape.name = ctx.freshNodeName(base + "_reshape");
  reshape.inputs = {normalized->output(0), shapeNode->output(0)};
  reshape.outputs = spec.outputs;
  ctx.emit(reshape);
}

} // namespace

std::string canonicalOpType(const std::string &opType) {
  if (opType == "Upsample")
    return "Resize";
  if (opType == "Scatter")
    return "ScatterElements";
  return opType;
}

void emitCanonical(NodeSpec spec, ImportContext &ctx) {
  const int64_t opset = ctx.opset();
  const std::string op = spec.opType;

  if (op == "Split" && opset < 13)
    intsAttrToInput(spec, ctx, "split", 1);
  else if ((op == "Squeeze" || op == "Unsqueeze") && opset < 13)
    intsAttrToInput(spec, ctx, "axes", 1, /*required=*/op == "Unsqueeze");
  else if (op == "ReduceSum" && opset < 13)
    intsAttrToInput(spec, ctx, "axes", 1, /*required=*/false, /*skipEmpty=*/true);
  else if (op == "Clip" && opset < 11)
    rewriteClip(spec, ctx);
  else if (op == "Pad" && opset < 11)
    rewritePad(spec, ctx);
  else if (op == "Slice" && opset < 10) {
    intsAttrToInput(spec, ctx, "starts", 1, /*required=*/true);
    intsAttrToInput(spec, ctx, "ends", 2, /*required=*/true);
    intsAttrToInput(spec, ctx, "axes", 3);
  } else if (op == "TopK" && opset < 10)
    rewriteTopK(spec, ctx);
  else if (op == "Upsample" || (op == "Resize" && opset < 11))
    rewriteUpsample(spec, ctx);
  else if (op == "Resize")
    normalizeResizeInputs(spec);
  else if (op == "Scatter")
    spec.opType = "ScatterElements";
  else if (op == "Dropout") {
    spec.attrs.erase("ratio"); // an attribute before opset 12; inference ignores it
    spec.attrs.erase("is_test");
  } else if (op == "BatchNormalization") {
    if (intAttr(spec, "spatial", 1) != 1)
      fail(spec, "spatial=0 (per-element statistics) is not supported");
    spec.attrs.erase("spatial");
    spec.attrs.erase("consumed_inputs");
    spec.attrs.erase("is_test");
  } else if ((op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && opset < 13) {
    emitLegacySoftmax(std::move(spec), ctx);
    return;
  }

  while (!spec.inputs.empty() && spec.inputs.back() == nullptr)
    spec.inputs.pop_back();
  ctx.emit(spec);
}

} // namespace leip::frontend::detail
