// Lowering of ConvTranspose over 1 to 3 spatial dims (kernels/ConvTranspose.cpp). The
// geometry (pads, auto_pad, output_shape, output_padding) comes from
// ir::convTransposeGeometry, the function the shape rule and the reference kernel use.
#include "NNCommon.h"

namespace leip::codegen {

namespace {

int64_t lowerConvTranspose(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *w = node.input(1), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ws = w->type().shape, &ys = y->type().shape;
  if (xs.size() < 3 || xs.size() > 5) L.fail("only 1-D, 2-D and 3-D ConvTranspose");
  ir::WindowGeometry g = ir::convTransposeGeometry(node, xs, ws);
  int64_t group = node.attrs().getInt("group", 1);
  if (group < 1 || xs[1] % group != 0) L.fail("bad group");
  std::vector<int64_t> geom = windowTable3d(g);
  int64_t outCg = ws[1];
  constexpr int64_t kBlock = 4; // the kernel's output channels per task
  int64_t tasks = ys[0] * group * ((outCg + kBlock - 1) / kBlock) * geom[3] * geom[4];
  const ir::Value *bias = node.numInputs() > 2 ? node.input(2) : nullptr;
  std::vector<llvm::Value *> args{L.address(x), L.address(w), L.address(bias), L.address(y),
                                  L.i64Array(geom), L.i64(xs[1]), L.i64(group), L.i64(outCg),
                                  L.i32(L.vectorLanes() >= 16)}; // 32-column tiles need 16 lanes x 32 registers
  if (tasks == 0) return emptyNode(L);
  L.pushActivation(args);
  L.callKernel("leip_k_conv_transpose_f32", args);
  return tasks;
}

} // namespace

void addConvTransposeLowerings(LoweringRules &rules) { rules["ConvTranspose"] = lowerConvTranspose; }

} // namespace leip::codegen
