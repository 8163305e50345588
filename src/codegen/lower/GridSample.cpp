// Lowering of GridSample (kernels/GridSample.cpp).
#include "NNCommon.h"

namespace leip::codegen {

namespace {

int64_t lowerGridSample(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *grid = node.input(1), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  if (xs.size() != 4) L.fail("only 4-D inputs");
  std::string mode = node.attrs().getString("mode", "bilinear");
  std::string padding = node.attrs().getString("padding_mode", "zeros");
  int32_t modeCode = mode == "bilinear" ? 0 : mode == "nearest" ? 1 : mode == "bicubic" ? 2 : -1;
  int32_t paddingCode = padding == "zeros" ? 0 : padding == "border" ? 1 : padding == "reflection" ? 2 : -1;
  if (modeCode < 0 || paddingCode < 0) L.fail("mode '" + mode + "', padding_mode '" + padding + "'");
  if (y->type().numElements() == 0) return emptyNode(L);
  L.callKernel("leip_k_grid_sample_f32",
               {L.address(x), L.address(grid), L.address(y), L.i64(xs[1]), L.i64(xs[2]), L.i64(xs[3]), L.i64(ys[2]),
                L.i64(ys[3]), L.i32(modeCode), L.i32(paddingCode),
                L.i32(node.attrs().getInt("align_corners", 0) != 0)});
  return ys[0] * ys[2];
}

} // namespace

void addGridSampleLowerings(LoweringRules &rules) { rules["GridSample"] = lowerGridSample; }

} // namespace leip::codegen
