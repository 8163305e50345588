// Lowering of pooling (kernels/Pool.cpp).
#include "../Lowering.h"

namespace leip::codegen {

namespace {

int64_t lowerPool(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  if (xs.size() != 4) L.fail("only 2-D pooling (4-D input) so far");
  if (node.numOutputs() > 1 && node.output(1) && !node.output(1)->users().empty()) L.fail("the Indices output");
  auto kernel = node.attrs().getInts("kernel_shape");
  auto strides = node.attrs().getInts("strides", {1, 1});
  auto dilations = node.attrs().getInts("dilations", {1, 1});
  if (kernel.size() != 2 || strides.size() != 2 || dilations.size() != 2)
    L.fail("kernel_shape, strides and dilations must have 2 values");
  auto pads = windowPads2d(L, xs, ys, kernel, strides, dilations);
  if (node.opType() == "MaxPool") {
    L.callKernel("leip_k_maxpool2d_f32",
                 {L.address(x), L.address(y), L.i64(xs[2]), L.i64(xs[3]), L.i64(ys[2]), L.i64(ys[3]),
                  L.i64(kernel[0]), L.i64(kernel[1]), L.i64(strides[0]), L.i64(strides[1]), L.i64(pads[0]),
                  L.i64(pads[1]), L.i64(dilations[0]), L.i64(dilations[1])});
  } else {
    if (dilations != std::vector<int64_t>{1, 1}) L.fail("dilated AveragePool");
    L.callKernel("leip_k_avgpool2d_f32",
                 {L.address(x), L.address(y), L.i64(xs[2]), L.i64(xs[3]), L.i64(ys[2]), L.i64(ys[3]),
                  L.i64(kernel[0]), L.i64(kernel[1]), L.i64(strides[0]), L.i64(strides[1]), L.i64(pads[0]),
                  L.i64(pads[1]), L.i64(pads[2]), L.i64(pads[3]),
                  L.i32(node.attrs().getInt("count_include_pad", 0))});
  }
  return ys[0] * ys[1];
}

int64_t lowerGlobalPool(NodeLowering &L) {
  L.requireFloat32();
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  if (xs.size() < 3) L.fail("input of rank < 3");
  int64_t planes = xs[0] * xs[1];
  if (planes == 0) return 0;
  L.callKernel("leip_k_global_pool_f32", {L.address(x), L.address(y), L.i64(x->type().numElements() / planes),
                                          L.i32(L.node().opType() == "GlobalMaxPool")});
  return planes;
}

} // namespace

void addPoolLowerings(LoweringRules &rules) {
  rules["MaxPool"] = lowerPool;
  rules["AveragePool"] = lowerPool;
  rules["GlobalAveragePool"] = lowerGlobalPool;
  rules["GlobalMaxPool"] = lowerGlobalPool;
}

} // namespace leip::codegen
