#include "leip/ir/Statistics.h"

#include <set>

namespace leip::ir {

namespace {
// Ops that only move or reinterpret bytes.
const std::set<std::string> &dataMovementOps() {
  static const std::set<std::string> ops = {
      "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",  "Gather",
      "Identity", "Dropout", "Shape",  "Size",      "Pad",       "Expand", "Tile",  "Cast",  "ConstantOfShape",
      "GatherElements", "GatherND", "DepthToSpace", "SpaceToDepth", "Range"};
  return ops;
}
} // namespace

int64_t nodeFlops(const Node &node) {
  const std::string &op = node.opType();
  if (dataMovementOps().count(op) || node.numOutputs() == 0) return 0;
  const TensorType &out = node.output(0)->type();
  if (!out.isStatic()) return 0;
  int64_t outputs = out.numElements();
  auto inputType = [&](size_t i) -> const TensorType * {
    Value *v = node.input(i);
    return v && v->type().isStatic() ? &v->type() : nullptr;
  };
  if (op == "Conv" || op == "ConvInteger" || op == "QLinearConv") {
    // Each output element is a dot product over (Cin/group) * kernel taps.
    const TensorType *w = inputType(op == "QLinearConv" ? 3 : 1);
    if (!w || w->rank() < 2) return 0;
    int64_t perOutput = 1;
    for (size_t i = 1; i < w->shape.size(); ++i) perOutput *= w->shape[i];
    return 2 * outputs * perOutput;
  }
  if (op == "ConvTranspose") {
    // Every input element scatters into Cout/group * kernel taps.
    const TensorType *x = inputType(0), *w = inputType(1);
    if (!x || !w || w->rank() < 2) return 0;
    int64_t perInput = 1;
    for (size_t i = 1; i < w->shape.size(); ++i) perInput *= w->shape[i];
    return 2 * x->numElements() * perInput;
  }
  if (op == "Gemm" || op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    const TensorType *a = inputType(0);
    if (!a || a->rank() == 0) return 0;
    int64_t k = op == "Gemm" && node.attrs().getInt("transA", 0) ? a->shape.front() : a->shape.back();
    return 2 * outputs * k;
  }
  if (op.rfind("Reduce", 0) == 0 || op.find("Pool") != std::string::npos || op == "Softmax" ||
      op == "LogSoftmax") {
    const TensorType *x = inputType(0);
    return x ? x->numElements() : outputs;
  }
  return outputs;
}

int64_t graphFlops(const Graph &graph) {
  int64_t total = 0;
  for (const Node *node : graph.nodes()) total += nodeFlops(*node);
  return total;
}

std::map<std::string, int64_t> opHistogram(const Graph &graph) {
  std::map<std::string, int64_t> histogram;
  for (const Node *node : graph.nodes()) ++histogram[node->opType()];
  return histogram;
}

} // namespace leip::ir
