// Lowering of convolution (kernels/Conv.cpp).
#include "../Lowering.h"

#include <algorithm>

namespace leip::codegen {

namespace {

/// Task count of the implicit-GEMM convolution kernel (kernels/Conv.cpp), whose tasks are
/// (image, group, channel block, tile of 32 output positions). Channels are split into
/// blocks (multiples of the micro-kernel's 6 rows) only when the tiles alone give fewer
/// than 8 tasks, so late small layers still spread over the threads. Sets `kBlockSize`.
int64_t convGemmTaskCount(int64_t N, int64_t group, int64_t kPerGroup, int64_t positions, int64_t &kBlockSize) {
  constexpr int64_t kTile = 32, kMinTasks = 8, kRows = 6;
  const int64_t tiles = N * group * ((positions + kTile - 1) / kTile);
  kBlockSize = kRows;
  if (tiles == 0) return 0; // an empty output: nothing to compute
  int64_t blocks = std::clamp((kMinTasks + tiles - 1) / tiles, int64_t{1}, (kPerGroup + kRows - 1) / kRows);
  kBlockSize = ((kPerGroup + blocks - 1) / blocks + kRows - 1) / kRows * kRows;
  blocks = (kPerGroup + kBlockSize - 1) / kBlockSize;
  return tiles * blocks;
}

int64_t lowerConv(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  if (xs.size() != 4) L.fail("only 2-D convolution (4-D input) so far");
  if (!node.input(1)->isConstant()) L.fail("weights must be constants");
  const ir::Shape &ws = node.input(1)->type().shape;
  std::vector<int64_t> kernel{ws[2], ws[3]};
  auto strides = node.attrs().getInts("strides", {1, 1});
  auto dilations = node.attrs().getInts("dilations", {1, 1});
  int64_t group = node.attrs().getInt("group", 1);
  if (strides.size() != 2 || dilations.size() != 2 || group < 1) L.fail("bad strides/dilations");
  auto pads = windowPads2d(L, xs, ys, kernel, strides, dilations);
  const ir::Value *bias = node.numInputs() > 2 ? node.input(2) : nullptr;
  std::vector<llvm::Value *> args{L.address(x), L.address(node.input(1)), L.address(bias), L.address(y)};
  bool pointwise = ws[2] == 1 && ws[3] == 1 && strides == std::vector<int64_t>{1, 1} && group == 1 &&
                   pads == std::array<int64_t, 4>{0, 0, 0, 0} && ys[2] == xs[2] && ys[3] == xs[3];
  bool depthwise = xs[1] / group == 1;
  int64_t kBlockSize = 0;
  int64_t tasks =
      depthwise ? ys[0] * ys[1] : convGemmTaskCount(ys[0], group, ys[1] / group, ys[2] * ys[3], kBlockSize);
  if (pointwise) {
    for (int64_t v : {xs[1], ys[1], xs[2] * xs[3], kBlockSize}) args.push_back(L.i64(v));
    L.pushActivation(args);
    L.callKernel("leip_k_conv1x1_f32", args);
  } else {
    for (int64_t v : {xs[0], xs[1], xs[2], xs[3], ys[1], ws[2], ws[3], ys[2], ys[3], strides[0], strides[1], pads[0],
                      pads[1], dilations[0], dilations[1], group, depthwise ? int64_t{1} : kBlockSize})
      args.push_back(L.i64(v));
    L.pushActivation(args);
    L.callKernel("leip_k_conv2d_f32", args);
  }
  return tasks;
}

} // namespace

void addConvLowerings(LoweringRules &rules) { rules["Conv"] = lowerConv; }

} // namespace leip::codegen
