// Lowering of Einsum (kernels/Einsum.cpp). The equation is resolved by ir::einsumSpec, the
// function the shape rule and the reference kernel use.
#include "NNCommon.h"

#include "leip/ir/NNGeometry.h"

#include <algorithm>

namespace leip::codegen {

namespace {

/// Operand `op`'s element stride along `label`: the sum over its dims carrying the label
/// (a diagonal when repeated), 0 where it lacks the label or has it as a size-1 dim.
int64_t labelStride(const ir::Shape &shape, const std::vector<int> &labels, int label) {
  std::vector<int64_t> strides = ir::stridesOf(shape);
  int64_t stride = 0;
  for (size_t d = 0; d < labels.size(); ++d)
    if (labels[d] == label && shape[d] != 1) stride += strides[d];
  return stride;
}

int64_t lowerEinsum(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *y = L.outputs()[0];
  ir::DType dtype = node.input(0)->type().dtype;
  const char *suffix = dtype == ir::DType::F32 ? "f32" : dtype == ir::DType::I32 ? "i32"
                       : dtype == ir::DType::I64 ? "i64" : nullptr;
  if (!suffix) L.fail("Einsum of " + std::string(ir::dtypeName(dtype)));
  size_t operands = node.numInputs();
  if (operands < 1 || operands > 3) L.fail("more than 3 operands");
  std::vector<ir::Shape> shapes;
  for (const ir::Value *in : node.inputs()) {
    if (!in) L.fail("a missing operand");
    shapes.push_back(in->type().shape);
  }
  ir::EinsumSpec spec = ir::einsumSpec(node, shapes);
  std::vector<int> summed;
  for (const auto &[label, size] : spec.sizes)
    if (std::find(spec.outputLabels.begin(), spec.outputLabels.end(), label) == spec.outputLabels.end())
      summed.push_back(label);

  // Dims and strides per label set: stride set 0 is y's (output dims only), then operands.
  auto strideSets = [&](const std::vector<int> &labels, bool withOutput) {
    std::vector<int64_t> dims;
    for (int label : labels) dims.push_back(spec.sizes.at(label));
    std::vector<std::vector<int64_t>> sets;
    if (withOutput) sets.push_back(ir::stridesOf(dims));
    for (size_t k = 0; k < 3; ++k) {
      std::vector<int64_t> s(labels.size(), 0);
      for (size_t i = 0; i < labels.size() && k < operands; ++i)
        s[i] = labelStride(shapes[k], spec.inputLabels[k], labels[i]);
      sets.push_back(s);
    }
    return std::make_pair(dims, sets);
  };
  auto [outDims, outStrides] = strideSets(spec.outputLabels, true);
  auto [sumDims, sumStrides] = strideSets(summed, false);
  if (!collapseDims(outDims, outStrides, 4) || !collapseDims(sumDims, sumStrides, 4))
    L.fail("more than 4 output or summed dims after merging contiguous ones");
  std::vector<int64_t> meta = outDims;
  meta.insert(meta.end(), sumDims.begin(), sumDims.end());
  for (size_t k = 0; k < 3; ++k) {
    meta.insert(meta.end(), outStrides[k + 1].begin(), outStrides[k + 1].end());
    meta.insert(meta.end(), sumStrides[k].begin(), sumStrides[k].end());
  }
  std::vector<llvm::Value *> args;
  for (size_t k = 0; k < 3; ++k) args.push_back(L.address(k < operands ? node.input(k) : nullptr));
  args.push_back(L.address(y));
  if (y->type().numElements() == 0) return emptyNode(L);
  args.push_back(L.i64Array(meta));
  args.push_back(L.i64(static_cast<int64_t>(operands)));
  L.callKernel(std::string("leip_k_einsum_") + suffix, args);
  return outDims[0] * outDims[1] * outDims[2];
}

} // namespace

void addEinsumLowerings(LoweringRules &rules) { rules["Einsum"] = lowerEinsum; }

} // namespace leip::codegen
