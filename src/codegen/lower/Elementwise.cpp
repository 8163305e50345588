// Lowering of elementwise ops and Softmax (kernels/Elementwise.cpp, kernels/Softmax.cpp).
#include "../Lowering.h"

#include "leip/passes/FuseActivations.h"

namespace leip::codegen {

namespace {

/// Unary ops of leip_k_unary_f32 and their codes; codes 1..8 are the fused activations
/// (leip::ir::ActivationKind).
const std::map<std::string, int32_t> &unaryOps() {
  static const std::map<std::string, int32_t> ops = {
      {"Relu", 1},        {"Clip", 2},       {"LeakyRelu", 3}, {"Sigmoid", 4}, {"HardSigmoid", 5}, {"HardSwish", 6},
      {"Tanh", 7},        {"Exp", 20},       {"Log", 21},      {"Sqrt", 22},   {"Neg", 23},         {"Abs", 24},
      {"Reciprocal", 25}, {"Floor", 26},     {"Ceil", 27},     {"Erf", 28},    {"Softplus", 29},    {"Elu", 30},
      {"Softsign", 31},   {"Sin", 32},       {"Cos", 33},      {"Round", 34},  {"Sign", 36}};
  return ops;
}

/// Binary ops of leip_k_binary_f32 and their codes.
const std::map<std::string, int32_t> &binaryOps() {
  static const std::map<std::string, int32_t> ops = {{"Add", 0}, {"Sub", 1}, {"Mul", 2}, {"Div", 3},
                                                    {"Pow", 4}, {"Max", 5}, {"Min", 6}};
  return ops;
}

int64_t lowerUnary(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  ir::FusedActivation act;
  int32_t code = unaryOps().at(node.opType());
  if (code <= 8) {
    std::optional<ir::FusedActivation> a = passes::activationOf(node);
    if (!a) L.fail("Clip bounds must be constants");
    act = *a;
  } else if (node.opType() == "Elu") {
    act.alpha = node.attrs().getFloat("alpha", 1.0f);
  }
  const ir::Value *y = L.outputs()[0];
  L.callKernel("leip_k_unary_f32",
               {L.address(node.input(0)), L.address(y), L.i32(code), L.f32(act.alpha), L.f32(act.beta)});
  return y->type().numElements();
}

int64_t lowerBinary(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  if (node.numInputs() != 2) L.fail("only two operands so far");
  const ir::Value *a = node.input(0), *b = node.input(1), *y = L.outputs()[0];
  const ir::Shape &ys = y->type().shape;
  std::vector<int64_t> dims = ys;
  std::vector<std::vector<int64_t>> strides{broadcastStrides(a->type().shape, ys.size()),
                                            broadcastStrides(b->type().shape, ys.size())};
  if (!collapseDims(dims, strides, 4)) L.fail("more than 4 dims after merging contiguous ones");
  std::vector<llvm::Value *> args{L.address(a), L.address(b), L.address(y), L.i32(binaryOps().at(node.opType()))};
  for (int64_t d : dims) args.push_back(L.i64(d));
  for (const auto &st : strides)
    for (int64_t v : st) args.push_back(L.i64(v));
  L.pushActivation(args);
  L.callKernel("leip_k_binary_f32", args);
  return y->type().numElements();
}

int64_t lowerSoftmax(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  int64_t rank = static_cast<int64_t>(xs.size());
  int64_t axis = node.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) L.fail("axis out of range");
  int64_t len = xs[axis], inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= xs[d];
  L.callKernel("leip_k_softmax_f32", {L.address(x), L.address(L.outputs()[0]), L.i64(len), L.i64(inner),
                                      L.i32(node.opType() == "LogSoftmax")});
  return len == 0 ? 0 : x->type().numElements() / len;
}

} // namespace

bool isBinaryElementwise(const std::string &opType) { return binaryOps().count(opType) > 0; }

void addElementwiseLowerings(LoweringRules &rules) {
  for (const auto &entry : unaryOps()) rules[entry.first] = lowerUnary;
  for (const auto &entry : binaryOps()) rules[entry.first] = lowerBinary;
  rules["Softmax"] = lowerSoftmax;
  rules["LogSoftmax"] = lowerSoftmax;
}

} // namespace leip::codegen
