#include "leip/passes/ShapeInference.h"

#include "leip/interp/Kernels.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"
#include "leip/support/MemoryLimit.h"

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

/// Keeps the model's declared tensors within --max_memory (support/MemoryLimit.h): each
/// one, and all of them together (what the interpreter holds at most), checked before
/// constant folding or the interpreter allocates anything.
class MemoryBudget {
public:
  void add(const ir::TensorType &type, const std::string &what) {
    std::optional<uint64_t> bytes;
    if (type.isStatic()) {
      int64_t count = 1;
      bool overflow = false;
      for (int64_t dim : type.shape) {
        if (dim != 0 && count > INT64_MAX / dim) overflow = true;
        if (!overflow) count *= dim;
      }
      if (!overflow) bytes = checkedBytes(count, ir::dtypeSize(type.dtype));
    }
    if (type.isStatic() && !bytes)
      throw BadInputError(what + " has shape " + ir::shapeToString(type.shape) +
                          ", whose size in bytes does not fit in 64 bits");
    if (!bytes) return;
    checkMemory(*bytes, what + " " + type.toString());
    // An empty tensor may still have one enormous axis, and kernels keep per-axis tables
    // (the fuzzer's f32[0,3.4e17] Expand asked for 2.7 EB of offsets).
    for (int64_t dim : type.shape)
      if (checkedBytes(dim, ir::dtypeSize(type.dtype)).value_or(UINT64_MAX) > maxMemory())
        throw BadInputError(what + " " + type.toString() + " has an axis of " + std::to_string(dim) +
                            ", more than --max_memory allows (" + formatBytes(maxMemory()) + ")");
    total_ += *bytes; // each term is at most the limit (< 2^63): no overflow
    if (*bytes > largestBytes_) {
      largestBytes_ = *bytes;
      largest_ = what;
    }
    if (total_ > maxMemory())
      checkMemory(total_, "the sum of the model's tensors (the largest: " + largest_ + ")");
  }

private:
  uint64_t total_ = 0, largestBytes_ = 0;
  std::string largest_;
};

std::string outputWhat(const ir::Node &node, const ir::Value &out) {
  return "tensor '" + out.name() + "' (output of " + node.describe() + ")";
}

} // namespace

void inferShapes(ir::Graph &graph) {
  MemoryBudget budget;
  for (ir::Value *input : graph.inputs()) {
    if (!input->type().isStatic())
      throw BadInputError("input '" + input->name() + "' has dynamic shape " + input->type().toString() +
                          "; give it with --input_shapes");
    budget.add(input->type(), "input '" + input->name() + "'");
  }
  for (ir::Value *value : graph.values())
    if (value->isConstant()) budget.add(value->type(), "tensor '" + value->name() + "'");

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
    // Types first, also for nodes about to be folded: a ConstantOfShape or Expand must not
    // allocate terabytes because a constant said so.
    std::vector<ir::TensorType> outTypes = ir::inferNodeTypes(*node, types, values);
    for (size_t i = 0; i < outTypes.size() && i < node->numOutputs(); ++i)
      budget.add(outTypes[i], outputWhat(*node, *node->output(i)));
    if (allConstant && !keepUnfolded(*node) && interp::findKernel(node->domain(), node->opType())) {
      graph.replaceNodeWithConstants(node, interp::evaluateNode(*node, values));
      ++folded;
      continue;
    }
    for (size_t i = 0; i < outTypes.size(); ++i) node->output(i)->setType(std::move(outTypes[i]));
  }
  size_t removed = graph.removeDeadCode();
  spdlog::debug("shape inference: folded {} node(s), removed {} dead node(s)", folded, removed);
}

} // namespace leip::passes
