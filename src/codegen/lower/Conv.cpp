// Lowering of convolution (kernels/Conv.cpp).
#include "../Lowering.h"
#include "NNCommon.h"

#include "leip/ir/NNGeometry.h"
#include "leip/passes/FuseActivations.h"
#include "leip/support/Error.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace leip::codegen {

/// Attribute of a Conv or MaxPool in the compiler's copy of the graph: its output is written
/// inside a zero border, as the padded input of the direct convolutions after it
/// (insertConvPadding).
constexpr const char *kOutputPadsAttr = "leip_output_pads";

std::array<int64_t, 4> outputPads(const ir::Node &node) {
  if (!node.attrs().has(kOutputPadsAttr)) return {0, 0, 0, 0};
  const std::vector<int64_t> pads = node.attrs().getInts(kOutputPadsAttr);
  return {pads[0], pads[1], pads[2], pads[3]};
}

ir::Shape unpaddedOutputShape(const ir::Node &node) {
  ir::Shape ys = node.output(0)->type().shape;
  const std::array<int64_t, 4> pads = outputPads(node);
  if (ys.size() == 4) {
    ys[2] -= pads[0] + pads[2];
    ys[3] -= pads[1] + pads[3];
  }
  return ys;
}

ir::Shape convOutputShape(const ir::Node &conv) {
  ir::Shape ys = unpaddedOutputShape(conv);
  if (std::optional<passes::FusedMaxPool> pool = passes::fusedMaxPool(conv)) {
    ys[2] = pool->convOutput[0];
    ys[3] = pool->convOutput[1];
  }
  return ys;
}

namespace {

/// Output positions per tile of the implicit-GEMM convolution kernel (kernels/Conv.cpp):
/// two 16-float vectors where the target has them, else one (what fits its registers).
int64_t convGemmTilePositions(int lanes) { return lanes >= 16 ? 32 : 16; }

/// Task count of the implicit-GEMM convolution kernel (kernels/Conv.cpp), whose tasks are
/// (image, group, channel block, tile of convGemmTilePositions positions). Channels are split into
/// blocks (multiples of the micro-kernel's 6 rows) only when the tiles alone give fewer
/// than 8 tasks, so late small layers still spread over the threads. Sets `kBlockSize`.
int64_t convGemmTaskCount(int64_t N, int64_t group, int64_t kPerGroup, int64_t positions, int lanes,
                          int64_t &kBlockSize) {
  constexpr int64_t kMinTasks = 8, kRows = 6;
  const int64_t tile = convGemmTilePositions(lanes);
  const int64_t tiles = N * group * ((positions + tile - 1) / tile);
  kBlockSize = kRows;
  if (tiles == 0) return 0; // an empty output: nothing to compute
  int64_t blocks = std::clamp((kMinTasks + tiles - 1) / tiles, int64_t{1}, (kPerGroup + kRows - 1) / kRows);
  kBlockSize = ((kPerGroup + blocks - 1) / blocks + kRows - 1) / kRows * kRows;
  blocks = (kPerGroup + kBlockSize - 1) / kBlockSize;
  return tiles * blocks;
}

/// Floats of the fused max pool's row buffers (kPoolRowsFloats in kernels/Conv.cpp).
constexpr int64_t kPoolRowsFloats = 8192;

/// Reduction length (C/group x R x S) from which a dense convolution uses the direct kernel
/// (channels in vector lanes). Below it its transposing stores cost more than the implicit
/// GEMM's packing; a 1x1 stride-1 layer needs more, because the implicit GEMM reads its
/// input without packing.
constexpr int64_t kDirectMinReduction = 16, kDirectMinPointwiseReduction = 128;

/// Floats of the direct kernel's per-task accumulator buffer (kDirectAccFloats in
/// kernels/Conv.cpp).
constexpr int64_t kDirectAccFloats = 8192;
/// Bytes of packed weights a channel chunk of a spatial kernel may take. Every chunk after
/// the first reloads the task's partial sums, so spatial kernels take most of L1: with 32 KiB
/// instead of 16 resnet18 went from 1.04 to 1.02x ONNX Runtime at 1 thread and 1.11 to 1.08x
/// at 2 (48 and 64 KiB: no better).
constexpr int64_t kDirectSpatialChunkBytes = 32768;
/// Input channels per chunk of a 1x1 kernel. Each tile reads one input line per channel
/// besides the chunk's weights (2L floats per channel), and both must stay in L1 from one
/// tile to the next: 128 channels are 16 KiB of weights at 16 lanes (mobilenet_v2 was 4 %
/// slower with 32) and 8 KiB at 8, where 16 KiB (256 channels) made mobilenet_v2's 7x7
/// pointwise layers 15-25 % slower on a 32 KiB-L1 AVX2 machine.
constexpr int64_t kDirectPointwiseChunkChannels = 128;
/// On small planes every tile of a 1x1 layer re-reads the chunk's whole input planes, so the
/// chunk is halved when its planes and weights then fit this much of L1 (three quarters of
/// 32 KiB): 64 channels on 7x7 planes made mobilenet_v2's 7x7 pointwise layers 5-13 % faster
/// on the AVX2 machine (on 14x14, where even 64 planes do not fit, 64 was 4 % slower).
constexpr int64_t kDirectPointwisePlanesBytes = 24576;

/// Input channels per chunk of a direct 1x1 kernel whose input planes hold `planeFloats`
/// floats, with `blockChannels` (2L) packed weights per input channel.
int64_t pointwiseChunkChannels(int64_t planeFloats, int64_t blockChannels) {
  const int64_t half = kDirectPointwiseChunkChannels / 2, bytesPerChannel = (planeFloats + blockChannels) * 4;
  return bytesPerChannel * kDirectPointwiseChunkChannels > kDirectPointwisePlanesBytes &&
                 bytesPerChannel * half <= kDirectPointwisePlanesBytes
             ? half
             : kDirectPointwiseChunkChannels;
}


/// Attribute of a direct Conv reading a padded tensor (kOutputPadsAttr) with a wider border
/// than it needs: [top, left], where its own padded input starts inside that tensor.
constexpr const char *kInputOffsetAttr = "leip_input_offset";

/// Where a direct convolution's residual lies in its buffer: the stored height and width,
/// and the offset (top, left) of the tensor inside the zero border its producer may have
/// written (insertConvPadding).
struct StoredWindow {
  int64_t height, width, top, left;
};

StoredWindow residualWindow(const ir::Value &r) {
  const ir::Shape &rs = r.type().shape;
  const std::array<int64_t, 4> pads = r.producer() ? outputPads(*r.producer()) : std::array<int64_t, 4>{0, 0, 0, 0};
  return {rs[2], rs[3], pads[0], pads[1]};
}

bool usesDirectConv(const ir::Node &conv, int lanes) {
  const ir::Shape &ws = conv.input(1)->type().shape, ys = convOutputShape(conv);
  const std::vector<int64_t> strides = conv.attrs().getInts("strides");
  const bool unitStride = std::all_of(strides.begin(), strides.end(), [](int64_t s) { return s == 1; });
  if (conv.input(0)->type().shape.size() != 4 || ws.size() != 4 || ys.size() != 4) return false;
  // A pointwise layer whose output channels leave much of the last 2L-channel block empty
  // (24 channels at 8 lanes: a third of the work on padding) runs as the implicit GEMM,
  // whose 6-channel rows waste none.
  const int64_t block = 2 * lanes, paddedK = (ws[0] + block - 1) / block * block;
  if (ws[2] * ws[3] == 1 && unitStride && (paddedK - ws[0]) * 4 > ws[0]) return false;
  return conv.input(1)->isConstant() &&
         (conv.numInputs() < 3 || !conv.input(2) || conv.input(2)->isConstant()) &&
         conv.attrs().getInt("group", 1) == 1 &&
         ws[1] * ws[2] * ws[3] >=
             (ws[2] * ws[3] == 1 && unitStride ? kDirectMinPointwiseReduction : kDirectMinReduction) &&
         ys[3] * 2 * lanes <= kDirectAccFloats;
}

/// Floats of the Winograd kernel's stack buffers and slab padding (kWinogradInputFloats,
/// kWinogradSumFloats, kWinogradSlabPad and kWinogradRowFloats in kernels/Conv.cpp).
constexpr int64_t kWinogradInputFloats = 32768, kWinogradSumFloats = 16384, kWinogradSlabPad = 16,
                  kWinogradRowFloats = 1024;
/// Input and output channels from which a 3x3 stride-1 convolution runs as Winograd F(2x2,
/// 3x3): its transforms cost per channel what the products save per pair of channels, so
/// layers with fewer keep the direct kernel.
constexpr int64_t kWinogradMinChannels = 16;
/// Tiles (2x2 outputs) per Winograd task at most: its sums, 16 x tiles x 2L floats, must fit
/// kWinogradSumFloats (64 tiles at 8 lanes, 32 at 16).
int64_t winogradMaxTiles(int64_t blockChannels) { return kWinogradSumFloats / (16 * blockChannels); }

/// Output tiles from which a 3x3 stride-1 convolution runs as Winograd F(2x2, 3x3). Its
/// transformed weights are 16/9 of the direct kernel's and each serves one tile per
/// image, so on the smallest planes the layer is bound by reading them. On an AVX2 Zen 3,
/// in resnet18 (per node, alternating rounds): 14x14 layers (49 tiles, 4 MB of weights)
/// 2-6 % faster at 1 thread and 20-25 % at 2; 7x7 layers (16 tiles, 16 MB each) no faster
/// at the median, for 22 MB more library.
constexpr int64_t kWinogradMinTiles = 32;

/// Whether a direct convolution (C input and K output channels, weights ws, OH x OW
/// outputs) runs as Winograd F(2x2, 3x3): 3x3, stride 1, dilation 1, enough channels and
/// tiles, and a row of tiles that fits the kernel's buffers (wider rows keep the direct
/// kernel).
bool usesWinograd(int64_t C, int64_t K, const ir::Shape &ws, int64_t OH, int64_t OW,
                  const std::vector<int64_t> &strides, const std::vector<int64_t> &dilations, int lanes) {
  const int64_t KB = 2 * lanes;
  const int64_t tileRows = (OH + 1) / 2, tileCols = (OW + 1) / 2;
  return ws[2] == 3 && ws[3] == 3 && strides == std::vector<int64_t>{1, 1} && dilations == std::vector<int64_t>{1, 1} &&
         C >= kWinogradMinChannels && K >= kWinogradMinChannels && tileRows * tileCols >= kWinogradMinTiles &&
         tileCols <= winogradMaxTiles(KB) && 2 * OW * KB <= kDirectAccFloats && OW + 4 <= kWinogradRowFloats;
}

/// Calls a channel-lane convolution kernel (leip_k_conv2d_direct_f32 or _winograd_f32):
/// input, packed weights, bias, residual, output, then `sizes`, then whether the threads
/// split it by rows, the output's stored window, the residual's, and the activation.
void callChannelLaneKernel(NodeLowering &L, const char *kernel, llvm::Value *input, const std::vector<float> &packed,
                           const std::vector<float> &bias, const ir::Value *y, const StoredWindow &residual,
                           std::initializer_list<int64_t> sizes) {
  const ir::Shape &paddedYs = y->type().shape;
  const std::array<int64_t, 4> outPads = outputPads(L.node());
  std::vector<llvm::Value *> args{input, L.derivedConstant(packed), L.derivedConstant(bias), L.address(L.residual()),
                                  L.address(y)};
  for (int64_t v : sizes) args.push_back(L.i64(v));
  args.push_back(L.i32(directConvSplitsRows(L.node(), L.vectorLanes())));
  for (int64_t v : {paddedYs[2], paddedYs[3], outPads[0], outPads[1], residual.height, residual.width, residual.top,
                    residual.left})
    args.push_back(L.i64(v));
  L.pushActivation(args);
  L.callKernel(kernel, args);
}

/// The direct convolution's node by Winograd F(2x2, 3x3) (leip_k_conv2d_winograd_f32): the
/// weights transformed to U = G g G^T (computed in double; G's entries 0, 1, 1/2 make U exact
/// up to the final rounding) and packed [K / 2L][16][C][2L] with zeros past K.
int64_t lowerWinogradConv(NodeLowering &L, llvm::Value *input, const ir::Value *y, const StoredWindow &residual,
                          const std::vector<float> &bias) {
  const ir::Node &node = L.node();
  const ir::Shape &xs = node.input(0)->type().shape, ys = convOutputShape(node), &ws = node.input(1)->type().shape;
  const int64_t lanes = L.vectorLanes(), KB = 2 * lanes, K = ws[0], C = ws[1];
  const int64_t blocks = (K + KB - 1) / KB, OH = ys[2], OW = ys[3], tileCols = (OW + 1) / 2;
  const float *w = node.input(1)->constant()->data<float>();
  constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  std::vector<float> packed(static_cast<size_t>(blocks * 16 * C * KB), 0.0f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      const float *g = w + (k * C + c) * 9;
      double gG[3][4]; // g G^T
      for (int r = 0; r < 3; ++r)
        for (int j = 0; j < 4; ++j) gG[r][j] = G[j][0] * g[r * 3] + G[j][1] * g[r * 3 + 1] + G[j][2] * g[r * 3 + 2];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const double u = G[i][0] * gG[0][j] + G[i][1] * gG[1][j] + G[i][2] * gG[2][j];
          packed[(((k / KB) * 16 + i * 4 + j) * C + c) * KB + k % KB] = static_cast<float>(u);
        }
    }
  // Tile rows per task: as many as the sums and the accumulator rows hold, but at least
  // kMinTasks tasks when there are rows enough (as the direct kernel); rows in pairs.
  constexpr int64_t kMinTasks = 8;
  const int64_t tileRows = (OH + 1) / 2;
  int64_t tileRowsPerTask =
      std::clamp<int64_t>(std::min(winogradMaxTiles(KB) / tileCols, kDirectAccFloats / (2 * OW * KB)), 1, tileRows);
  const int64_t fewestRowBlocks = std::min<int64_t>(tileRows, ceilDiv(kMinTasks, ys[0] * blocks));
  tileRowsPerTask = std::min(tileRowsPerTask, ceilDiv(tileRows, fewestRowBlocks));
  tileRowsPerTask = ceilDiv(tileRows, ceilDiv(tileRows, tileRowsPerTask)); // equal blocks
  const int64_t tiles = tileRowsPerTask * tileCols, rowsPerTask = std::min(OH, 2 * tileRowsPerTask);
  // Output-channel blocks per task: each chunk's transformed input serves every block of the
  // task, so as many as the sums hold while there are still kMinTasks tasks (resnet18's
  // 7x7 layer4: 4 blocks of 16 tiles, 8 tasks).
  const int64_t rowBlocks = ceilDiv(OH, rowsPerTask);
  int64_t blocksPerTask = std::clamp<int64_t>(winogradMaxTiles(KB) / tiles, 1, blocks);
  blocksPerTask = std::min(blocksPerTask, std::max<int64_t>(1, blocks * rowBlocks * ys[0] / kMinTasks));
  blocksPerTask = ceilDiv(blocks, ceilDiv(blocks, blocksPerTask)); // equal groups
  // Input channels per chunk: as many as the transformed input holds, in equal chunks.
  const int64_t maxChunk = std::max<int64_t>(1, (kWinogradInputFloats / 16 - kWinogradSlabPad) / tiles);
  const int64_t channelChunk = ceilDiv(C, ceilDiv(C, maxChunk));
  callChannelLaneKernel(L, "leip_k_conv2d_winograd_f32", input, packed, bias, y, residual,
                        {C, xs[2], xs[3], K, OH, OW, lanes, laneTileRows(L.vectorLanes(), tiles), rowsPerTask,
                         blocksPerTask, channelChunk});
  L.countWinogradConv();
  return ys[0] * ceilDiv(blocks, blocksPerTask) * rowBlocks;
}

/// A direct convolution's weights packed [K / KB][q][KB] (q = (c, r, s)), zeros past K.
std::vector<float> packDirectWeights(const ir::Node &conv, int64_t KB) {
  const ir::Shape &ws = conv.input(1)->type().shape;
  const int64_t K = ws[0], Q = ws[1] * ws[2] * ws[3];
  const float *w = conv.input(1)->constant()->data<float>();
  std::vector<float> packed(static_cast<size_t>(ceilDiv(K, KB) * Q * KB), 0.0f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t q = 0; q < Q; ++q) packed[((k / KB) * Q + q) * KB + k % KB] = w[k * Q + q];
  return packed;
}

/// The direct kernel: weights packed by packDirectWeights, bias padded the same way; the
/// input was zero-padded by insertConvPadding. 3x3 stride-1 layers that usesWinograd
/// accepts go to lowerWinogradConv.
int64_t lowerDirectConv(NodeLowering &L, const ir::Value *x, const ir::Value *y, const std::vector<int64_t> &strides,
                        const std::vector<int64_t> &dilations) {
  const ir::Node &node = L.node();
  const ir::Shape &xs = x->type().shape, ys = convOutputShape(node), &ws = node.input(1)->type().shape;
  const ir::Shape &paddedYs = y->type().shape;
  const std::array<int64_t, 4> outPads = outputPads(node);
  const int64_t lanes = L.vectorLanes(), KB = 2 * lanes, K = ws[0];
  const int64_t blocks = (K + KB - 1) / KB;
  std::vector<float> bias(static_cast<size_t>(blocks * KB), 0.0f);
  const ir::Value *b = node.numInputs() > 2 ? node.input(2) : nullptr;
  if (b) {
    if (!b->isConstant()) L.fail("bias must be a constant");
    const float *bv = b->constant()->data<float>();
    std::copy(bv, bv + K, bias.begin());
  }
  // Rows per task: as many as the accumulator buffer holds, but at least kMinTasks tasks
  // when there are rows enough, so small late layers still spread over the threads.
  constexpr int64_t kMinTasks = 8;
  const int64_t fewestRowBlocks = std::min<int64_t>(ys[2], (kMinTasks + ys[0] * blocks - 1) / (ys[0] * blocks));
  int64_t rowsPerTask = std::clamp<int64_t>(kDirectAccFloats / (ys[3] * KB), 1, ys[2]);
  rowsPerTask = std::min(rowsPerTask, (ys[2] + fewestRowBlocks - 1) / fewestRowBlocks);
  // Row blocks of equal height (56 rows as 7 x 8, not 6 x 9 + 2): the pool hands each thread
  // an equal number of tasks, so unequal tasks could leave one thread a quarter more work
  // than the other (layer1 of resnet18, 2 threads).
  if (ys[2] > 0) rowsPerTask = ceilDiv(ys[2], ceilDiv(ys[2], rowsPerTask));
  const int64_t channelChunk =
      std::clamp<int64_t>(ws[2] * ws[3] > 1 ? kDirectSpatialChunkBytes / (ws[2] * ws[3] * KB * 4)
                                            : pointwiseChunkChannels(xs[2] * xs[3], KB),
                          1, ws[1]);
  // A reader of a tensor stored with a wider border than it needs starts inside it.
  llvm::Value *input = L.address(x);
  if (node.attrs().has(kInputOffsetAttr)) {
    const std::vector<int64_t> offset = node.attrs().getInts(kInputOffsetAttr);
    input = L.builder().CreateConstInBoundsGEP1_64(L.builder().getFloatTy(), input, offset[0] * xs[3] + offset[1]);
  }
  if (std::optional<passes::FusedMaxPool> pool = passes::fusedMaxPool(node)) {
    // The pooled output: PH x PW rows and columns, stored at (outPads[0], outPads[1]).
    const ir::Shape pooled = unpaddedOutputShape(node);
    std::vector<llvm::Value *> args{input, L.derivedConstant(packDirectWeights(node, KB)), L.derivedConstant(bias),
                                    L.address(y)};
    for (int64_t v : {xs[1], xs[2], xs[3], K, ws[2], ws[3], ys[2], ys[3], strides[0], strides[1], dilations[0],
                      dilations[1], lanes, laneTileRows(L.vectorLanes(), ys[3]), channelChunk, pooled[2], pooled[3],
                      pool->kernel[0], pool->kernel[1], pool->strides[0], pool->strides[1], pool->padBegin[0],
                      pool->padBegin[1], paddedYs[2], paddedYs[3], outPads[0], outPads[1]})
      args.push_back(L.i64(v));
    L.pushActivation(args);
    L.callKernel("leip_k_conv2d_direct_maxpool_f32", args);
    return ys[0] * blocks * pooled[2];
  }
  const StoredWindow residual = L.residual() ? residualWindow(*L.residual()) : StoredWindow{ys[2], ys[3], 0, 0};
  if (usesWinograd(xs[1], K, ws, ys[2], ys[3], strides, dilations, lanes))
    return lowerWinogradConv(L, input, y, residual, bias);
  callChannelLaneKernel(L, "leip_k_conv2d_direct_f32", input, packDirectWeights(node, KB), bias, y, residual,
                        {xs[1], xs[2], xs[3], K, ws[2], ws[3], ys[2], ys[3], strides[0], strides[1], dilations[0],
                         dilations[1], lanes, laneTileRows(L.vectorLanes(), ys[3]), rowsPerTask, channelChunk});
  return ys[0] * blocks * ((ys[2] + rowsPerTask - 1) / rowsPerTask);
}

/// A 1-D or 2-D convolution as the 2-D one the kernels compute (a 1-D one is an image of
/// height 1): shapes, strides, dilations and pads (top, left, bottom, right).
struct Conv2dView {
  ir::Shape xs, ys, ws;
  std::vector<int64_t> strides, dilations;
  std::array<int64_t, 4> pads{};
  int64_t group = 1;
};

std::optional<Conv2dView> conv2dView(const ir::Node &node) {
  Conv2dView v{node.input(0)->type().shape, convOutputShape(node), node.input(1)->type().shape, {}, {}, {}, 1};
  // The same resolution of pads, auto_pad, strides and dilations as the shape rule and the
  // interpreter.
  const ir::WindowGeometry geometry = ir::convGeometry(node, v.xs, v.ws);
  const size_t spatial = geometry.rank();
  if (spatial != 1 && spatial != 2) return std::nullopt;
  v.strides = geometry.strides;
  v.dilations = geometry.dilations;
  v.group = node.attrs().getInt("group", 1);
  if (spatial == 2) {
    v.pads = {geometry.padBegin[0], geometry.padBegin[1], geometry.padEnd[0], geometry.padEnd[1]};
    return v;
  }
  for (ir::Shape *shape : {&v.xs, &v.ys, &v.ws}) shape->insert(shape->begin() + 2, 1);
  v.strides.insert(v.strides.begin(), 1);
  v.dilations.insert(v.dilations.begin(), 1);
  v.pads = {0, geometry.padBegin[0], 0, geometry.padEnd[0]};
  return v;
}

int64_t lowerConv(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  std::optional<Conv2dView> view = conv2dView(node);
  if (!view) L.fail("only 1-D and 2-D convolution (3-D or 4-D input) so far");
  const auto &[xs, ys, ws, strides, dilations, pads, group] = *view;
  if (usesDirectConv(node, L.vectorLanes())) {
    if (pads != std::array<int64_t, 4>{0, 0, 0, 0})
      throw InternalError("codegen: " + node.describe() + " should have been padded by insertConvPadding");
    return lowerDirectConv(L, x, y, strides, dilations);
  }
  const ir::Value *bias = node.numInputs() > 2 ? node.input(2) : nullptr;
  std::vector<llvm::Value *> args{L.address(x), L.address(node.input(1)), L.address(bias), L.address(y)};
  bool pointwise = ws[2] == 1 && ws[3] == 1 && strides == std::vector<int64_t>{1, 1} && group == 1 &&
                   pads == std::array<int64_t, 4>{0, 0, 0, 0} && ys[2] == xs[2] && ys[3] == xs[3];
  bool depthwise = xs[1] / group == 1;
  int64_t kBlockSize = 0;
  int64_t tasks =
      depthwise ? ys[0] * ys[1]
                : convGemmTaskCount(ys[0], group, ys[1] / group, ys[2] * ys[3], L.vectorLanes(), kBlockSize);
  if (pointwise) {
    for (int64_t v : {xs[1], ys[1], xs[2] * xs[3], kBlockSize, int64_t{L.vectorLanes()}}) args.push_back(L.i64(v));
    L.pushActivation(args);
    L.callKernel("leip_k_conv1x1_f32", args);
  } else {
    for (int64_t v : {xs[0], xs[1], xs[2], xs[3], ys[1], ws[2], ws[3], ys[2], ys[3], strides[0], strides[1], pads[0],
                      pads[1], dilations[0], dilations[1], group, depthwise ? int64_t{1} : kBlockSize,
                      int64_t{L.vectorLanes()}})
      args.push_back(L.i64(v));
    L.pushActivation(args);
    L.callKernel("leip_k_conv2d_f32", args);
  }
  return tasks;
}

} // namespace

int64_t insertConvPadding(ir::Graph &graph, int vectorLanes) {
  // 1. The zero padding (top, left, bottom, right) each direct convolution reads around its
  //    input; the convolutions themselves then compute without padding.
  std::vector<ir::Node *> order = graph.topologicalOrder();
  std::map<const ir::Node *, std::array<int64_t, 4>> needs;
  for (ir::Node *conv : order) {
    if (conv->opType() != "Conv" || !conv->domain().empty() || !usesDirectConv(*conv, vectorLanes)) continue;
    std::optional<Conv2dView> view = conv2dView(*conv);
    if (!view) continue; // lowerConv reports it
    const ir::Shape &xs = view->xs, &ys = view->ys, &ws = view->ws;
    const std::vector<int64_t> &strides = view->strides, &dilations = view->dilations;
    std::array<int64_t, 4> pads = view->pads;
    // Bottom/right padding beyond what the last output reads is never touched: trim it.
    const int64_t needH = (ys[2] - 1) * strides[0] + (ws[2] - 1) * dilations[0] + 1;
    const int64_t needW = (ys[3] - 1) * strides[1] + (ws[3] - 1) * dilations[1] + 1;
    pads[2] = std::max<int64_t>(0, needH - xs[2] - pads[0]);
    pads[3] = std::max<int64_t>(0, needW - xs[3] - pads[1]);
    conv->attrs().set("auto_pad", ir::Attribute(std::string("NOTSET")));
    conv->attrs().set("pads", ir::Attribute(std::vector<int64_t>{0, 0, 0, 0}));
    needs[conv] = pads;
  }
  // 2. A direct convolution (or a MaxPool) whose output only direct convolutions read (as
  //    their input or their residual) writes it once inside the widest border they need: no
  //    Pad node, no second pass over the tensor. Readers that need less read an interior
  //    window.
  int64_t paddedOutputs = 0;
  const auto &graphOutputs = graph.outputs();
  std::set<const ir::Value *> stored;
  for (ir::Node *conv : order) {
    auto need = needs.find(conv);
    if (need == needs.end() || need->second == std::array<int64_t, 4>{0, 0, 0, 0}) continue;
    ir::Value *x = conv->input(0);
    if (stored.count(x)) continue;
    ir::Node *producer = x->producer();
    std::array<int64_t, 4> widest{0, 0, 0, 0};
    bool onlyDirectReaders = producer && (needs.count(producer) || maxPoolWritesPaddedOutputs(*producer)) &&
                             producer->numOutputs() == 1 && !producer->attrs().has(kOutputPadsAttr) &&
                             std::find(graphOutputs.begin(), graphOutputs.end(), x) == graphOutputs.end();
    for (const ir::Node *user : x->users()) {
      auto userNeed = needs.find(user);
      onlyDirectReaders = onlyDirectReaders && userNeed != needs.end() && user->input(1) != x && user->input(2) != x;
      if (onlyDirectReaders && user->input(0) == x)
        for (size_t i = 0; i < 4; ++i) widest[i] = std::max(widest[i], userNeed->second[i]);
    }
    if (onlyDirectReaders) {
      const ir::Shape &xs = x->type().shape;
      // A wider border than the readers need, when it is its residual's, lets the producer
      // store its output over the residual (directConvMayWriteOverResidual).
      const ir::Value *residual = passes::convResidual(*producer);
      const std::array<int64_t, 4> residualPads =
          residual && residual->producer() ? outputPads(*residual->producer()) : widest;
      if (residual && residual->type().dtype == x->type().dtype && residualPads != widest &&
          unpaddedOutputShape(*residual->producer()) == xs &&
          std::equal(widest.begin(), widest.end(), residualPads.begin(), std::less_equal<int64_t>()))
        widest = residualPads;
      producer->attrs().set(kOutputPadsAttr, ir::Attribute(std::vector<int64_t>(widest.begin(), widest.end())));
      x->setType({x->type().dtype, {xs[0], xs[1], xs[2] + widest[0] + widest[2], xs[3] + widest[1] + widest[3]}, {}});
      for (ir::Node *user : x->users()) {
        const std::array<int64_t, 4> &userNeed = needs[user];
        if (user->input(0) == x && (userNeed[0] != widest[0] || userNeed[1] != widest[1]))
          user->attrs().set(kInputOffsetAttr,
                            ir::Attribute(std::vector<int64_t>{widest[0] - userNeed[0], widest[1] - userNeed[1]}));
      }
      stored.insert(x);
      ++paddedOutputs;
      continue;
    }
    const std::array<int64_t, 4> &pads = need->second;
    const ir::Shape xs = x->type().shape;
    ir::Value *padsValue = graph.addConstant(
        graph.uniqueName(conv->name() + "_pads"),
        ir::Tensor::fromVector(ir::DType::I64, {8}, std::vector<int64_t>{0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]}));
    ir::Node *pad = graph.addNode("Pad", graph.uniqueName(conv->name() + "_pad"), {x, padsValue},
                                  {graph.uniqueName(x->name() + "_padded")});
    pad->output(0)->setType({x->type().dtype, {xs[0], xs[1], xs[2] + pads[0] + pads[2], xs[3] + pads[1] + pads[3]}, {}});
    conv->setInput(0, pad->output(0));
  }
  return paddedOutputs;
}

bool directConvSplitsRows(const ir::Node &conv, int vectorLanes) {
  if (conv.opType() != "Conv" || !conv.domain().empty() || !usesDirectConv(conv, vectorLanes)) return false;
  // By rows when the input outweighs the packed weights (early layers), by channel blocks
  // otherwise (late layers, megabytes of weights).
  const ir::Shape &ws = conv.input(1)->type().shape;
  const int64_t KB = 2 * vectorLanes, packedWeights = (ws[0] + KB - 1) / KB * KB * ws[1] * ws[2] * ws[3];
  return conv.input(0)->type().numElements() > packedWeights;
}

bool directConvTakesResidual(const ir::Node &conv, int vectorLanes) {
  return conv.opType() == "Conv" && conv.domain().empty() && usesDirectConv(conv, vectorLanes);
}

bool directConvMayWriteOverResidual(const ir::Node &conv, const ir::Value &residual, int vectorLanes) {
  if (!directConvTakesResidual(conv, vectorLanes) || conv.numOutputs() != 1 || conv.input(0) == &residual) return false;
  // The same stored shape and the same offset of the tensor in it: every cell of the output
  // is the residual's cell at the same address.
  const ir::Value &y = *conv.output(0);
  const StoredWindow window = residualWindow(residual);
  const std::array<int64_t, 4> pads = outputPads(conv);
  return y.type() == residual.type() && y.type().shape.size() == 4 && window.top == pads[0] &&
         window.left == pads[1];
}

bool directConvTakesMaxPool(const ir::Node &conv, const ir::Node &pool, int vectorLanes) {
  if (conv.opType() != "Conv" || !conv.domain().empty() || !usesDirectConv(conv, vectorLanes)) return false;
  // The kernel's row buffers: the ring of ceil(kernel / stride) pooled rows in progress and
  // one row of window maxima, each pooled width x 2L floats.
  const ir::WindowGeometry g = ir::poolGeometry(pool, conv.output(0)->type().shape);
  const int64_t ring = (g.kernel[0] + g.strides[0] - 1) / g.strides[0];
  return (ring + 1) * g.output[1] * 2 * vectorLanes <= kPoolRowsFloats;
}

void addConvLowerings(LoweringRules &rules) { rules["Conv"] = lowerConv; }

} // namespace leip::codegen
