#include "leip/passes/ShapeInference.h"

#include "leip/interp/Kernels.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace leip::passes {

namespace {

/// Ops whose all-constant instances must not be folded: QDQ pairs on weights carry the
/// quantization that later stages read, so they stay as nodes.
bool keepUnfolded(const ir::Node &node) {
  return node.opType() == "QuantizeLinear" || node.opType() == "DequantizeLinear";
}

/// Shape and Size depend only on their input's static shape, not its values.
std::optional<ir::Tensor> foldFromShape(const ir::Node &node, const ir::TensorType &input) {
  if (node.opType() == "Size") return ir::Tensor::scalarI64(input.numElements());
  if (node.opType() != "Shape") return std::nullopt;
  auto rank = input.rank();
  auto clampAxis = [rank](int64_t axis) { return std::clamp(axis < 0 ? axis + rank : axis, int64_t{0}, rank); };
  int64_t start = clampAxis(node.attrs().getInt("start", 0));
  int64_t end = node.attrs().has("end") ? clampAxis(node.attrs().getInt("end", rank)) : rank;
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(input.shape[static_cast<size_t>(i)]);
  return ir::Tensor::fromVector<int64_t>(ir::DType::I64, {static_cast<int64_t>(dims.size())}, dims);
}

} // namespace

void inferShapes(ir::Graph &graph) {
  for (ir::Value *input : graph.inputs())
    if (!input->type().isStatic())
      throw BadInputError("input '" + input->name() + "' has dynamic shape " + input->type().toString() +
                          "; give it with --input_shapes");

  size_t folded = 0;
  for (ir::Node *node : graph.topologicalOrder()) {
    std::vector<const ir::TensorType *> types;
    std::vector<const ir::Tensor *> values;
    bool allConstant = true;
    for (ir::Value *in : node->inputs()) {
      types.push_back(in ? &in->type() : nullptr);
      values.push_back(in ? in->constant() : nullptr);
      if (in && !in->isConstant()) allConstant = false;
    }

    if (node->numInputs() == 1 && node->input(0) && node->numOutputs() == 1) {
      if (auto shapeValue = foldFromShape(*node, node->input(0)->type())) {
        std::vector<ir::Tensor> results;
        results.push_back(std::move(*shapeValue));
        graph.replaceNodeWithConstants(node, std::move(results));
        ++folded;
        continue;
      }
    }
    if (allConstant && !keepUnfolded(*node) && interp::findKernel(node->domain(), node->opType())) {
      graph.replaceNodeWithConstants(node, interp::evaluateNode(*node, values));
      ++folded;
      continue;
    }
    std::vector<ir::TensorType> outTypes = ir::inferNodeTypes(*node, types, values);
    for (size_t i = 0; i < outTypes.size(); ++i) node->output(i)->setType(std::move(outTypes[i]));
  }
  size_t removed = graph.removeDeadCode();
  spdlog::debug("shape inference: folded {} node(s), removed {} dead node(s)", folded, removed);
}

} // namespace leip::passes
