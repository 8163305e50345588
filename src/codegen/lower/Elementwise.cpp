// Lowering of elementwise ops (kernels/Elementwise.cpp): unary math and activations,
// binary and variadic arithmetic, comparisons, logic, BitShift, PRelu, Where, Clip,
// IsNaN/IsInf, Cast/CastLike; and Softmax/LogSoftmax/Hardmax (kernels/Softmax.cpp). The
// op codes are the kernels' (UnaryOp, BinaryOp, CompareOp there).
#include "Typed.h"

#include <cmath>

namespace leip::codegen {

std::string kernelSuffix(NodeLowering &L, const ir::Value *v) {
  switch (v->type().dtype) {
  case ir::DType::F32: return "f32";
  case ir::DType::I8: return "i8";
  case ir::DType::U8:
  case ir::DType::Bool: return "u8";
  case ir::DType::I32: return "i32";
  case ir::DType::I64: return "i64";
  case ir::DType::F16: break;
  }
  L.fail("float16 arithmetic is not compiled, '" + v->name() + "' is f16 (Cast it to float32 first)");
}

llvm::Constant *broadcastGeometry(NodeLowering &L, const std::vector<const ir::Value *> &operands, const ir::Value *y) {
  std::vector<int64_t> dims = y->type().shape;
  std::vector<std::vector<int64_t>> strides;
  for (const ir::Value *v : operands) strides.push_back(broadcastStrides(v->type().shape, dims.size()));
  if (!collapseDims(dims, strides, 4)) L.fail("more than 4 dims after merging contiguous ones");
  for (const auto &s : strides) dims.insert(dims.end(), s.begin(), s.end());
  return L.i64Array(dims);
}


namespace {

struct UnaryOp {
  int32_t code;
  bool integers; // also for i8/u8/i32/i64 tensors (bool for Not)
};

const std::map<std::string, UnaryOp> &unaryOps() {
  static const std::map<std::string, UnaryOp> ops = {{"Relu", {1, true}},       {"LeakyRelu", {3, false}},
                                                     {"Sigmoid", {4, false}},   {"HardSigmoid", {5, false}},
                                                     {"HardSwish", {6, false}}, {"Tanh", {7, false}},
                                                     {"Exp", {20, false}},      {"Log", {21, false}},
                                                     {"Sqrt", {22, false}},     {"Neg", {23, true}},
                                                     {"Abs", {24, true}},       {"Reciprocal", {25, false}},
                                                     {"Floor", {26, false}},    {"Ceil", {27, false}},
                                                     {"Erf", {28, false}},      {"Softplus", {29, false}},
                                                     {"Elu", {30, false}},      {"Softsign", {31, false}},
                                                     {"Sin", {32, false}},      {"Cos", {33, false}},
                                                     {"Round", {34, false}},    {"Sign", {36, true}},
                                                     {"Tan", {37, false}},      {"Asin", {38, false}},
                                                     {"Acos", {39, false}},     {"Atan", {40, false}},
                                                     {"Sinh", {41, false}},     {"Cosh", {42, false}},
                                                     {"Asinh", {43, false}},    {"Acosh", {44, false}},
                                                     {"Atanh", {45, false}},    {"Selu", {46, false}},
                                                     {"Celu", {47, false}},     {"ThresholdedRelu", {48, false}},
                                                     {"Shrink", {49, true}},    {"Not", {50, true}}};
  return ops;
}

/// Binary and variadic ops of leip_k_binary_*; Mod and BitShift pick their code from
/// attributes.
const std::map<std::string, int32_t> &binaryOps() {
  static const std::map<std::string, int32_t> ops = {
      {"Add", 0},  {"Sub", 1}, {"Mul", 2},   {"Div", 3},       {"Pow", 4},  {"Max", 5}, {"Min", 6}, {"Sum", 0},
      {"Mean", 0}, {"Mod", 8}, {"PRelu", 9}, {"BitShift", 10}, {"And", 12}, {"Or", 13}, {"Xor", 14}};
  return ops;
}

/// The binary ops whose output has their inputs' dtype: they can absorb an activation.
bool absorbsActivation(const std::string &op) {
  return op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Max" || op == "Min" ||
         op == "Sum" || op == "Mod" || op == "PRelu";
}

const std::map<std::string, int32_t> &compareOps() {
  static const std::map<std::string, int32_t> ops = {
      {"Equal", 0}, {"Less", 1}, {"LessOrEqual", 2}, {"Greater", 3}, {"GreaterOrEqual", 4}};
  return ops;
}

constexpr int32_t kFirst = 15;      // BinaryOp returning a (variadic op with one input)
constexpr int32_t kShiftRight = 11; // BinaryOp
constexpr int32_t kFmod = 7;        // BinaryOp
constexpr int32_t kDivideBy = 64;   // the binary kernel's post-operation y / alpha (Mean)

int64_t lowerUnary(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const UnaryOp &op = unaryOps().at(node.opType());
  const auto &attrs = node.attrs();
  float alpha = 0.0f, beta = 0.0f;
  const std::string &name = node.opType();
  if (name == "LeakyRelu") {
    alpha = attrs.getFloat("alpha", 0.01f);
  } else if (name == "HardSigmoid") {
    alpha = attrs.getFloat("alpha", 0.2f);
    beta = attrs.getFloat("beta", 0.5f);
  } else if (name == "Elu" || name == "Celu" || name == "ThresholdedRelu") {
    alpha = attrs.getFloat("alpha", 1.0f);
    if (name == "Celu" && alpha == 0.0f) L.fail("attribute alpha must not be 0");
  } else if (name == "Selu") {
    alpha = attrs.getFloat("alpha", 1.67326319217681884765625f);
    beta = attrs.getFloat("gamma", 1.05070102214813232421875f);
  } else if (name == "Shrink") {
    alpha = attrs.getFloat("lambd", 0.5f);
    beta = attrs.getFloat("bias", 0.0f);
  }
  std::string suffix = kernelSuffix(L, x);
  if (suffix != "f32" && !op.integers) L.fail(name + " takes float tensors");
  L.callKernel("leip_k_unary_" + suffix, {L.address(x), L.address(y), L.i32(op.code), L.f32(alpha), L.f32(beta)});
  return y->type().numElements();
}

int64_t lowerClip(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  auto bound = [&](size_t i) { return i < node.numInputs() ? L.address(node.input(i)) : L.null(); };
  L.callKernel("leip_k_clip_" + kernelSuffix(L, x), {L.address(x), L.address(y), bound(1), bound(2)});
  return y->type().numElements();
}

int64_t lowerIsNaNOrInf(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  if (kernelSuffix(L, x) != "f32") L.fail("input must be float32");
  if (node.opType() == "IsNaN") {
    L.callKernel("leip_k_isnan_f32", {L.address(x), L.address(y)});
  } else {
    L.callKernel("leip_k_isinf_f32", {L.address(x), L.address(y), L.i32(node.attrs().getInt("detect_positive", 1) != 0),
                                      L.i32(node.attrs().getInt("detect_negative", 1) != 0)});
  }
  return y->type().numElements();
}

/// Binary arithmetic, logic and the variadic Sum/Mean/Max/Min: the first two inputs go to
/// the output, every further one folds into it (accumulate), as the interpreter folds.
int64_t lowerBinary(NodeLowering &L) {
  const ir::Node &node = L.node();
  const std::string &name = node.opType();
  const ir::Value *x0 = node.input(0), *y = L.outputs()[0];
  for (const ir::Value *in : node.inputs())
    if (!in) L.fail("missing input");
  int32_t op = binaryOps().at(name);
  if (name == "Mod" && node.attrs().getInt("fmod", 0) != 0) op = kFmod;
  if (name == "BitShift" && node.attrs().getString("direction", "") == "RIGHT") op = kShiftRight;

  ir::FusedActivation act = L.activation();
  int32_t kind = static_cast<int32_t>(act.kind);
  if (x0->type().dtype != ir::DType::F32 && act.kind != ir::ActivationKind::None) {
    // Integer activations that reach here: Relu, and Clip without bounds (f32 bounds
    // cannot go with integer tensors), which changes nothing.
    if (act.kind == ir::ActivationKind::Clip && std::isinf(act.alpha) && std::isinf(act.beta))
      kind = 0;
    else if (act.kind != ir::ActivationKind::Relu)
      L.fail(std::string(ir::activationName(act.kind)) + " on integer tensors");
  }
  if (name == "Mean") {
    kind = kDivideBy;
    act.alpha = static_cast<float>(node.numInputs());
  }
  std::string suffix = kernelSuffix(L, x0);
  if (name == "Mean" && suffix != "f32") L.fail("Mean takes float tensors");

  const ir::Value *x1 = node.numInputs() > 1 ? node.input(1) : x0;
  if (name == "Pow" && x1->type().dtype != x0->type().dtype) {
    std::string exponent = kernelSuffix(L, x1);
    bool supported = (suffix == "f32" || suffix == "i32" || suffix == "i64") &&
                     (exponent == "f32" || exponent == "i32" || exponent == "i64");
    if (!supported) L.fail("Pow of " + suffix + " by " + exponent);
    L.callKernel("leip_k_pow_" + suffix + "_" + exponent,
                 {L.address(x0), L.address(x1), L.address(y), broadcastGeometry(L, {x0, x1}, y), L.i32(kind),
                  L.f32(act.alpha), L.f32(act.beta)});
    return y->type().numElements();
  }

  std::string kernel = "leip_k_binary_" + suffix;
  size_t n = node.numInputs();
  if (n == 1) op = kFirst;
  for (size_t k = 1; k < std::max<size_t>(n, 2); ++k) {
    bool first = k == 1, last = k + 1 >= n;
    const ir::Value *a = first ? x0 : y, *b = first ? x1 : node.input(k);
    L.callKernel(kernel, {first ? L.address(a) : L.null(), L.address(b), L.address(y), broadcastGeometry(L, {a, b}, y),
                          L.i32(op), L.i32(!first), L.i32(last ? kind : 0), L.f32(last ? act.alpha : 0.0f),
                          L.f32(last ? act.beta : 0.0f)});
  }
  return y->type().numElements();
}

int64_t lowerCompare(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *a = node.input(0), *b = node.input(1), *y = L.outputs()[0];
  L.callKernel("leip_k_compare_" + kernelSuffix(L, a),
               {L.address(a), L.address(b), L.address(y), broadcastGeometry(L, {a, b}, y),
                L.i32(compareOps().at(node.opType()))});
  return y->type().numElements();
}

int64_t lowerWhere(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *c = node.input(0), *a = node.input(1), *b = node.input(2), *y = L.outputs()[0];
  std::string bits = std::to_string(8 * ir::dtypeSize(y->type().dtype));
  L.callKernel("leip_k_where_" + bits,
               {L.address(c), L.address(a), L.address(b), L.address(y), broadcastGeometry(L, {c, a, b}, y)});
  return y->type().numElements();
}

int64_t lowerCast(NodeLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  ir::DType from = x->type().dtype, to = y->type().dtype;
  if (from == to) {
    L.callKernel("leip_k_copy", {L.address(x), L.address(y)});
    return static_cast<int64_t>(y->type().byteSize());
  }
  L.callKernel("leip_k_cast", {L.address(x), L.address(y), L.i32(runtimeDTypeCode(from)), L.i32(runtimeDTypeCode(to))});
  return y->type().numElements();
}

int64_t lowerSoftmax(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  auto rank = static_cast<int64_t>(xs.size());
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", -1), rank);
  int64_t len = xs[axis], inner = dimProduct(xs, axis + 1, xs.size());
  int32_t kind = node.opType() == "Softmax" ? 0 : node.opType() == "LogSoftmax" ? 1 : 2;
  L.callKernel("leip_k_softmax_f32", {L.address(x), L.address(L.outputs()[0]), L.i64(len), L.i64(inner), L.i32(kind)});
  return len == 0 ? 0 : x->type().numElements() / len;
}

} // namespace

bool isBinaryElementwise(const std::string &opType) { return absorbsActivation(opType); }

void addElementwiseLowerings(LoweringRules &rules) {
  for (const auto &entry : unaryOps()) rules[entry.first] = lowerUnary;
  for (const auto &entry : binaryOps()) rules[entry.first] = lowerBinary;
  for (const auto &entry : compareOps()) rules[entry.first] = lowerCompare;
  rules["Clip"] = lowerClip;
  rules["IsNaN"] = lowerIsNaNOrInf;
  rules["IsInf"] = lowerIsNaNOrInf;
  rules["Where"] = lowerWhere;
  rules["Cast"] = lowerCast;
  rules["CastLike"] = lowerCast;
  rules["Softmax"] = lowerSoftmax;
  rules["LogSoftmax"] = lowerSoftmax;
  rules["Hardmax"] = lowerSoftmax;
}

} // namespace leip::codegen
