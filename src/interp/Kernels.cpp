#include "leip/interp/Kernels.h"

#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

namespace leip::interp {

// The "leip" domain's kernels (kernels/Internal.cpp); the ONNX families are declared in
// Kernels.h.
void registerInternalKernels(KernelTable &table);

const ir::Tensor &KernelContext::input(size_t i) const {
  if (!hasInput(i)) fail("input " + std::to_string(i) + " is required but missing");
  return *inputs_[i];
}

void KernelContext::fail(const std::string &message) const {
  throw BadInputError(node_.describe() + ": " + message);
}

const KernelTable &kernelTable() {
  static const KernelTable table = [] {
    KernelTable t;
    registerElementwiseKernels(t);
    registerNNKernels(t);
    registerTensorKernels(t);
    return t;
  }();
  return table;
}

/// Kernels of the "leip" domain (ir::kLeipDomain).
static const KernelTable &internalKernelTable() {
  static const KernelTable table = [] {
    KernelTable t;
    registerInternalKernels(t);
    return t;
  }();
  return table;
}

KernelFn findKernel(const std::string &domain, const std::string &opType) {
  bool onnx = domain.empty() || domain == "ai.onnx";
  if (!onnx && domain != ir::kLeipDomain) return nullptr;
  const KernelTable &table = onnx ? kernelTable() : internalKernelTable();
  auto it = table.find(opType);
  return it == table.end() ? nullptr : it->second;
}

std::vector<ir::Tensor> evaluateNode(const ir::Node &node, const std::vector<const ir::Tensor *> &inputs) {
  KernelFn kernel = findKernel(node.domain(), node.opType());
  if (!kernel) throw BadInputError(node.describe() + ": the interpreter has no kernel for op " + node.opType());
  std::vector<const ir::TensorType *> types;
  types.reserve(inputs.size());
  for (const ir::Tensor *t : inputs) types.push_back(t ? &t->type() : nullptr);
  std::vector<ir::TensorType> outTypes = ir::inferNodeTypes(node, types, inputs);
  std::vector<ir::Tensor> outputs;
  outputs.reserve(outTypes.size());
  for (ir::TensorType &type : outTypes) outputs.emplace_back(std::move(type));
  KernelContext ctx(node, inputs, outputs);
  kernel(ctx);
  return outputs;
}

} // namespace leip::interp
