// Lowering of QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear
// (kernels/Quantize.cpp). Scales and zero points may be constants or computed tensors.
#include "Typed.h"

namespace leip::codegen {

namespace {

/// x as [outer, channels, inner] for its scale: (channels, inner).
std::pair<int64_t, int64_t> channelLayout(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::TensorType &x = node.input(0)->type();
  if (node.input(1)->type().numElements() == 1) return {1, x.numElements()};
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 1), x.rank());
  return {x.shape[axis], dimProduct(x.shape, axis + 1, x.shape.size())};
}

const ir::Value *optionalInput(const ir::Node &node, size_t i) {
  return i < node.numInputs() ? node.input(i) : nullptr;
}

int64_t lowerQuantize(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  auto [channels, inner] = channelLayout(L);
  std::string name = node.opType() == "QuantizeLinear"
                         ? "leip_k_quantize_" + kernelSuffix(L, x) + "_" + kernelSuffix(L, y)
                         : "leip_k_dequantize_" + kernelSuffix(L, x);
  L.callKernel(name, {L.address(x), L.address(y), L.address(node.input(1)), L.address(optionalInput(node, 2)),
                      L.i64(channels), L.i64(inner)});
  return y->type().numElements();
}

int64_t lowerDynamicQuantize(NodeLowering &L) {
  const ir::Value *x = L.node().input(0);
  const auto &outs = L.outputs();
  auto output = [&](size_t i) { return L.address(i < outs.size() ? outs[i] : nullptr); };
  L.callKernel("leip_k_dynamic_quantize_f32",
               {L.address(x), output(0), output(1), output(2), L.i64(x->type().numElements())});
  return 1; // the range needs every element before any is quantized
}

} // namespace

void addQuantizeLowerings(LoweringRules &rules) {
  rules["QuantizeLinear"] = lowerQuantize;
  rules["DequantizeLinear"] = lowerQuantize;
  rules["DynamicQuantizeLinear"] = lowerDynamicQuantize;
}

} // namespace leip::codegen
