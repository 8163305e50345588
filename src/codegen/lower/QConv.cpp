// Lowering of leip.QConv, the integer convolution that passes::lowerQdqToInteger makes of
// QDQ patterns, to kernels/QConv.cpp: leip_k_qconv_depthwise (group = C = K; channels in
// the vector lanes, or one plane at a time where those buffers cannot hold a row),
// leip_k_qgemm (1x1 on 1x1 images: fully connected layers) or leip_k_qconv2d (the rest).
// The weights are packed here, at compile time, into the kernel's layout for the target's
// dot product; the input zero point is folded into a per-channel int32 correction, so the
// kernels multiply raw bytes; and the dense kernel's register tile and task split are
// chosen by a cost model.
#include "NNCommon.h"

#include "leip/ir/OpRegistry.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace leip::codegen {

namespace {

/// Attributes of a leip.QConv in the compiler's copy of the graph whose residual input is
/// 8-bit: the DequantizeLinear that made it float was folded in (foldResidualDequantizes).
constexpr const char *kResidualScaleAttr = "leip_residual_scale";
constexpr const char *kResidualZeroPointAttr = "leip_residual_zero_point";

// Mirrors of kernels/QConv.cpp's limits.
constexpr int64_t kPackBytes = 128 * 1024, kAccPositions = 1024, kMaxRowBytes = 4096, kMaxStride = 8;
constexpr int64_t kMaxTaps = 1024;
constexpr int64_t kLaneOutBytes = 32 * 1024;
/// Preferred transposed input per task of the channel-lane depthwise kernel: stays in L1.
constexpr int64_t kLanePreferredBytes = 32 * 1024;
/// Preferred packed input per task: stays in L2 next to the weights it meets.
constexpr int64_t kPreferredPackBytes = 112 * 1024;
/// Tasks wanted per convolution so that two or more threads get balanced shares.
constexpr int64_t kWantedTasks = 8, kMinTasks = 4;
/// Below this many multiply-adds (about 20 us) a convolution runs on one thread (the
/// compiler's cost model, Compiler.cpp), so it needs no more tasks than its cost gives.
constexpr double kMinSplitMacs = 4.0e6;

/// Register tile of kernels/QConv.cpp for a dot kind and vector width: lanes, MK output
/// channels, NV vectors of positions (MK * NV accumulators + NV inputs fit the registers).
struct QConvTile {
  int64_t lanes, mk, nv;
};

/// The tiles kernels/QConv.cpp instantiates for a dot kind and vector width.
std::vector<QConvTile> tilesFor(Int8Dot dot, int floatLanes) {
  // 8 lanes even with AVX-512.
  const bool avx2 = dot == Int8Dot::Avx2 || dot == Int8Dot::Avx2Bytes || dot == Int8Dot::Avx2Signs;
  if (floatLanes == 16 && !avx2) return {{16, 8, 3}, {16, 6, 4}};
  if (dot == Int8Dot::Sdot) return {{4, 8, 3}, {4, 6, 4}}; // NEON's 32 registers
  if (dot == Int8Dot::Vnni || avx2) return {{8, 4, 2}};
  return {{floatLanes >= 8 ? 8 : 4, 4, 2}};
}

QConvTile tileFor(Int8Dot dot, int floatLanes) { return tilesFor(dot, floatLanes).front(); }

/// Whether a float tensor is known to hold no NaN: the output of a QConv whose float
/// inputs (a residual, if any) hold none and whose scales and biases are at most 1e20 in
/// magnitude (with int32 sums, its values then stay far from overflowing to infinities,
/// whose difference in a later residual sum would be NaN).
bool isNanFree(const ir::Value *v) {
  const ir::Node *producer = v->producer();
  if (!producer || producer->opType() != "QConv" || producer->domain() != ir::kLeipDomain) return false;
  for (const char *name : {"scales", "biases"})
    for (float value : producer->attrs().getFloats(name))
      if (!(std::fabs(value) <= 1e20f)) return false;
  const ir::Value *residual = producer->numInputs() > 2 ? producer->input(2) : nullptr;
  return !residual || residual->type().dtype != ir::DType::F32 || isNanFree(residual);
}

/// The integers an 8-bit tensor's stored values can take, as far as its producer tells.
struct StoredRange {
  int64_t lo, hi;
};
StoredRange storedRange(const ir::Value *v) {
  const StoredRange full = v->type().dtype == ir::DType::I8 ? StoredRange{-128, 127} : StoredRange{0, 255};
  const ir::Node *producer = v->producer();
  if (!producer) return full;
  if (producer->opType() == "MaxPool" && producer->domain().empty() && producer->numInputs() == 1 &&
      producer->input(0)->type().dtype == v->type().dtype)
    return storedRange(producer->input(0)); // a maximum of input values
  if (producer->opType() != "QConv" || producer->domain() != ir::kLeipDomain) return full;
  const ir::AttributeMap &attrs = producer->attrs();
  if (attrs.has("requant_scales")) // direct requantization clamps to [y_min, y_max]
    return {std::max(full.lo, attrs.getInt("y_min", full.lo)), std::min(full.hi, attrs.getInt("y_max", full.hi))};
  // The general form, saturate(rint(v * y_inverse_scale) + y_zero_point), is monotone in v
  // (a positive inverse scale), so the activation's bounds bound it. A NaN would saturate to
  // the type's low end: then nothing is known.
  const float inverse = attrs.getFloat("y_inverse_scale", 1.0f);
  if (!isNanFree(producer->output(0)) || !(inverse > 0.0f)) return full;
  const int64_t zero = attrs.getInt("y_zero_point", 0);
  auto quantized = [&](float limit) { return static_cast<int64_t>(std::nearbyintf(limit * inverse)) + zero; };
  const ir::FusedActivation act = ir::fusedActivation(*producer);
  StoredRange range = full;
  if (act.kind == ir::ActivationKind::Relu) range.lo = std::max(range.lo, zero);
  if (act.kind == ir::ActivationKind::Clip) {
    range.lo = std::max(range.lo, quantized(act.alpha));
    range.hi = std::min(range.hi, quantized(act.beta));
  }
  return range.lo <= range.hi ? range : full;
}

/// The dot kind for this node: the module's, except on AVX2 without VNNI, where
/// - an input whose stored bytes (and zero point, the padding) all lie in 0..127, such as a
///   ReLU's int8 output, takes vpmaddubsw: no pair of its products can saturate 16 bits
///   then, and the bytes need no flip;
/// - any other input takes vpmaddubsw on |x| and the weights with x's signs when no weight
///   is -128 (symmetric quantizers give -127..127): its pairs cannot saturate either;
/// - else vpmaddwd on 16-bit halves.
Int8Dot dotForInput(NodeLowering &L) {
  if (L.int8Dot() != Int8Dot::Avx2) return L.int8Dot();
  const ir::Node &node = L.node();
  const StoredRange range = storedRange(node.input(0));
  const int64_t zero = node.attrs().getInt("x_zero_point", 0);
  if (range.lo >= 0 && range.hi <= 127 && zero >= 0 && zero <= 127) {
    L.countByteDotConv();
    return Int8Dot::Avx2Bytes;
  }
  const ir::Tensor &w = *node.input(1)->constant();
  const auto *wData = static_cast<const int8_t *>(w.rawData());
  if (std::find(wData, wData + w.numElements(), int8_t{-128}) != wData + w.numElements()) return Int8Dot::Avx2;
  L.countSignDotConv();
  return Int8Dot::Avx2Signs;
}

/// Four signed bytes as the kernels' dot products take them: one little-endian word (the
/// AVX2 kernels unpack it to 16-bit pairs themselves).
int32_t encodeQuad(const int32_t b[4]) {
  uint32_t word = 0;
  for (int t = 0; t < 4; ++t) word |= static_cast<uint32_t>(static_cast<uint8_t>(b[t])) << (8 * t);
  return static_cast<int32_t>(word);
}

/// Weights [K, Cg, R, S] (i8) as [group][Kg / MK][R][S][Cg / 4][MK] words, zeros past Kg
/// and Cg. A word holds the 4 bytes of a channel quad.
std::vector<int32_t> packWeights(const int8_t *w, int64_t K, int64_t Cg, int64_t R, int64_t S, int64_t group,
                                 int64_t mk) {
  const int64_t Kg = K / group, C4 = ceilDiv(Cg, 4), KB = ceilDiv(Kg, mk);
  std::vector<int32_t> packed(static_cast<size_t>(group * KB * R * S * C4 * mk), 0);
  size_t at = 0;
  for (int64_t g = 0; g < group; ++g)
    for (int64_t kb = 0; kb < KB; ++kb)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t c4 = 0; c4 < C4; ++c4)
            for (int64_t m = 0; m < mk; ++m, ++at) {
              const int64_t k = kb * mk + m;
              int32_t b[4] = {0, 0, 0, 0};
              for (int t = 0; t < 4; ++t) {
                const int64_t c = c4 * 4 + t;
                if (k < Kg && c < Cg) b[t] = w[(((g * Kg + k) * Cg + c) * R + r) * S + s];
              }
              packed[at] = encodeQuad(b);
            }
  return packed;
}

/// The arguments the kernels start with: input, its sign and zero point, weights (as the
/// kernel wants them), zero-point corrections, scales, biases, residual, output and its
/// quantization (general and direct form).
std::vector<llvm::Value *> commonArgs(NodeLowering &L, const std::vector<int32_t> &weights,
                                      const std::vector<int32_t> &corr) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *residual = node.numInputs() > 2 ? node.input(2) : nullptr;
  const std::string outputType = node.attrs().getString("output_type", "float32");
  const bool direct = node.attrs().has("requant_scales");
  return {L.address(x),
          L.i32(x->type().dtype == ir::DType::I8),
          L.i32(node.attrs().getInt("x_zero_point", 0)),
          L.derivedConstant(weights.data(), weights.size() * sizeof(int32_t)),
          L.derivedConstant(corr.data(), corr.size() * sizeof(int32_t)),
          L.derivedConstant(node.attrs().getFloats("scales")),
          L.derivedConstant(node.attrs().getFloats("biases")),
          residual ? L.address(residual) : L.null(),
          L.i32(!residual || residual->type().dtype == ir::DType::F32 ? 0
                : residual->type().dtype == ir::DType::U8            ? 1
                                                                     : 2),
          L.f32(node.attrs().getFloat(kResidualScaleAttr, 1.0f)),
          L.i32(node.attrs().getInt(kResidualZeroPointAttr, 0)),
          L.address(L.outputs()[0]),
          L.i32(outputType == "float32" ? 0 : outputType == "uint8" ? 1 : 2),
          L.f32(node.attrs().getFloat("y_inverse_scale", 1.0f)),
          L.i32(node.attrs().getInt("y_zero_point", 0)),
          direct ? L.derivedConstant(node.attrs().getFloats("requant_scales")) : L.null(),
          direct ? L.derivedConstant(node.attrs().getFloats("requant_offsets")) : L.null(),
          L.i32(node.attrs().getInt("y_min", 0)),
          L.i32(node.attrs().getInt("y_max", 0))};
}

void pushActivation(NodeLowering &L, std::vector<llvm::Value *> &args, const ir::FusedActivation &act) {
  args.push_back(L.i32(static_cast<int32_t>(act.kind)));
  args.push_back(L.f32(act.alpha));
  args.push_back(L.f32(act.beta));
}

/// group = C = K with channels in the lanes (leip_k_qconv_depthwise, qconvDepthwiseLanes), tasks (image,
/// block of `lanes` channels, block of output rows); weights [C / lanes][R][S / 4][lanes]
/// words (zeros past C and S). `fits(rows, bytes)`: a task's buffers fit, its transposed
/// input in `bytes`.
template <typename Fits>
int64_t lowerDepthwiseLanes(NodeLowering &L, Int8Dot dot, const std::vector<int32_t> &corr,
                            const ir::FusedActivation &act, int64_t lanes, const Fits &fits) {
  const ir::Node &node = L.node();
  const ir::Value *w = node.input(1);
  const ir::Shape &xs = node.input(0)->type().shape, &ws = w->type().shape;
  const ir::WindowGeometry g = ir::convGeometry(node, xs, ws);
  const int64_t N = xs[0], C = xs[1], R = ws[2], S = ws[3], OH = g.output[0], OW = g.output[1];
  const int64_t groups = ceilDiv(S, 4), blocks = ceilDiv(C, lanes);
  // Rows per task: the transposed input in L1 when possible; enough tasks for the threads.
  int64_t rows = 1;
  while (rows < OH && fits(rows + 1, kLanePreferredBytes)) ++rows;
  const double macs = static_cast<double>(N * C * OH * OW * R * S);
  if (macs >= kMinSplitMacs)
    while (rows > 1 && N * blocks * ceilDiv(OH, rows) < kMinTasks) rows = ceilDiv(rows, 2);
  rows = ceilDiv(OH, ceilDiv(OH, rows));
  const auto *wData = static_cast<const int8_t *>(w->constant()->rawData());
  std::vector<int32_t> weights(static_cast<size_t>(blocks * R * groups * lanes), 0);
  for (int64_t k = 0; k < C; ++k)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t gq = 0; gq < groups; ++gq) {
        int32_t b[4] = {0, 0, 0, 0};
        for (int64_t t = 0; t < 4 && gq * 4 + t < S; ++t) b[t] = wData[(k * R + r) * S + gq * 4 + t];
        weights[static_cast<size_t>(((k / lanes * R + r) * groups + gq) * lanes + k % lanes)] = encodeQuad(b);
      }
  std::vector<llvm::Value *> args = commonArgs(L, weights, corr);
  for (int64_t v : {N, C, xs[2], xs[3], R, S, OH, OW, g.strides[0], g.strides[1], g.dilations[0], g.dilations[1],
                    g.padBegin[0], g.padBegin[1], rows})
    args.push_back(L.i64(v));
  args.push_back(L.i32(static_cast<int32_t>(dot)));
  args.push_back(L.i64(lanes));
  args.push_back(L.i32(1)); // channels in the lanes
  pushActivation(L, args, act);
  L.callKernel("leip_k_qconv_depthwise", args);
  return N * blocks * ceilDiv(OH, rows);
}

/// group = C = K: leip_k_qconv_depthwise, one channel plane per task row block.
int64_t lowerDepthwise(NodeLowering &L, Int8Dot dot, const std::vector<int32_t> &corr,
                       const ir::FusedActivation &act) {
  const ir::Node &node = L.node();
  const ir::Value *w = node.input(1);
  const ir::Shape &xs = node.input(0)->type().shape, &ws = w->type().shape;
  const ir::WindowGeometry g = ir::convGeometry(node, xs, ws);
  const int64_t R = ws[2], S = ws[3], OH = g.output[0], OW = g.output[1];
  const int64_t sh = g.strides[0], sw = g.strides[1], dh = g.dilations[0], dw = g.dilations[1];
  const int64_t lanes = tileFor(dot, L.vectorLanes()).lanes, tileWidth = lanes * 4;
  const int64_t maxRowOff = (R - 1) * dh / sh, maxColOff = (S - 1) * dw / sw, Wph = OW + maxColOff;
  const int64_t groups = ceilDiv(S, 4);
  auto fits = [&](int64_t rows) {
    const int64_t planeBytes = ((rows + maxRowOff) * Wph + maxColOff + 63) & ~int64_t{63};
    const int64_t wordPlane = ((rows + maxRowOff) * Wph + tileWidth + 15) & ~int64_t{15};
    return sh * sw * planeBytes <= kPackBytes && sh * groups * wordPlane * 4 <= kPackBytes &&
           ceilDiv(rows * Wph, tileWidth) * tileWidth <= kAccPositions;
  };
  // Channels in the lanes (qconvDepthwiseLanes) where the transposed rows fit.
  // Its buffer: the input rows a task reads (flat, W bytes per channel each), the columns
  // read left of the first one and right of the last one.
  const int64_t padL = g.padBegin[1], W = xs[3];
  const int64_t slack = padL + std::max<int64_t>(0, (OW - 1) * sw - padL + (4 * groups - 1) * dw + 1 - W);
  const bool direct = node.attrs().has("requant_scales");
  auto fitsLanes = [&](int64_t rows, int64_t bytes) {
    const int64_t RH = (rows - 1) * sh + (R - 1) * dh + 1;
    return (RH * W + slack) * lanes <= bytes && rows * OW * lanes <= kLaneOutBytes &&
           (direct || rows * OW <= kAccPositions);
  };
  // LEIP_DEPTHWISE_KERNEL=planes in the environment picks the per-plane kernel wherever it
  // can (the codegen tests use it to cover both kernels on the same shapes).
  const char *forced = std::getenv("LEIP_DEPTHWISE_KERNEL");
  const bool planes = forced && std::string(forced) == "planes" && fits(1);
  if (!planes && fitsLanes(1, kPackBytes)) return lowerDepthwiseLanes(L, dot, corr, act, lanes, fitsLanes);
  if (!fits(1)) L.fail("an output row is too long for the depthwise integer kernel");
  int64_t rows = 1;
  while (rows < OH && fits(rows + 1)) ++rows;
  rows = ceilDiv(OH, ceilDiv(OH, rows));
  // Taps in groups of 4 along each kernel row (zeros past S): [K][R][S / 4] words.
  const auto *wData = static_cast<const int8_t *>(w->constant()->rawData());
  const int64_t K = ws[0];
  std::vector<int32_t> weights(static_cast<size_t>(K * R * groups));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t gq = 0; gq < groups; ++gq) {
        int32_t b[4] = {0, 0, 0, 0};
        for (int64_t t = 0; t < 4 && gq * 4 + t < S; ++t) b[t] = wData[(k * R + r) * S + gq * 4 + t];
        weights[static_cast<size_t>((k * R + r) * groups + gq)] = encodeQuad(b);
      }
  std::vector<llvm::Value *> args = commonArgs(L, weights, corr);
  for (int64_t v : {xs[0], xs[1], xs[2], xs[3], R, S, OH, OW, sh, sw, dh, dw, g.padBegin[0], g.padBegin[1], rows})
    args.push_back(L.i64(v));
  args.push_back(L.i32(static_cast<int32_t>(dot)));
  args.push_back(L.i64(lanes));
  args.push_back(L.i32(0)); // one channel plane at a time
  pushActivation(L, args, act);
  L.callKernel("leip_k_qconv_depthwise", args);
  return xs[0] * xs[1] * ceilDiv(OH, rows);
}

/// A 1x1 convolution of 1x1 images (a fully connected layer that the pass made a QConv):
/// leip_k_qgemm, output channels in lanes. Weights [M / (4 lanes)][K / 4][4 lanes] words.
int64_t lowerPointGemm(NodeLowering &L, Int8Dot dot, const std::vector<int32_t> &corr,
                       const ir::FusedActivation &act) {
  const ir::Node &node = L.node();
  const ir::Value *w = node.input(1);
  const int64_t N = node.input(0)->type().shape[0], K = w->type().shape[1], M = w->type().shape[0];
  const int64_t lanes = tileFor(dot, L.vectorLanes()).lanes, block = 4 * lanes;
  const int64_t K4 = ceilDiv(K, 4), blocks = ceilDiv(M, block);
  if (K4 * 4 > kPackBytes) L.fail("more than " + std::to_string(kPackBytes) + " input features");
  const auto *wData = static_cast<const int8_t *>(w->constant()->rawData());
  std::vector<int32_t> packed(static_cast<size_t>(blocks * K4 * block), 0);
  for (int64_t jb = 0; jb < blocks; ++jb)
    for (int64_t q = 0; q < K4; ++q)
      for (int64_t l = 0; l < block; ++l) {
        const int64_t j = jb * block + l;
        uint32_t word = 0;
        for (int64_t t = 0; t < 4 && j < M && q * 4 + t < K; ++t)
          word |= static_cast<uint32_t>(static_cast<uint8_t>(wData[j * K + q * 4 + t])) << (8 * t);
        packed[static_cast<size_t>((jb * K4 + q) * block + l)] = static_cast<int32_t>(word);
      }
  std::vector<llvm::Value *> args = commonArgs(L, packed, corr);
  for (int64_t v : {N, K, M}) args.push_back(L.i64(v));
  args.push_back(L.i32(static_cast<int32_t>(dot)));
  args.push_back(L.i64(lanes));
  pushActivation(L, args, act);
  L.callKernel("leip_k_qgemm", args);
  return N * blocks;
}

/// What the dense kernel's task split depends on.
struct QConvDims {
  int64_t N, group, Cg, Kg, R, S, OH, OW, sh, sw, dh, dw;
};

/// A register tile and a task split (rows x channels) of the dense kernel; rows 0 when no
/// tile's packed rows fit the kernel's buffers.
struct QConvPlan {
  QConvTile tile{};
  int64_t rows = 0, channelsPerTask = 0;
};

/// Chooses the tile and the split with the fewest estimated instructions: the dot products
/// of whole tiles (positions past the rows and channels past K computed too) plus packing,
/// which every task does for its rows (so channel splits repack the same rows). A
/// convolution of kMinSplitMacs or more gets at least kMinTasks tasks for the threads;
/// rows are split in balanced blocks.
QConvPlan planQConv(Int8Dot dot, int floatLanes, const QConvDims &d) {
  const int64_t C4 = ceilDiv(d.Cg, 4), maxRowOff = (d.R - 1) * d.dh / d.sh, maxColOff = (d.S - 1) * d.dw / d.sw;
  const int64_t Wph = d.OW + maxColOff, phases = d.sh * d.sw;
  const double macs = static_cast<double>(d.N * d.group * d.Kg * d.OH * d.OW) * static_cast<double>(d.Cg * d.R * d.S);
  const int64_t minTasks = macs < kMinSplitMacs ? 1 : kMinTasks;
  QConvPlan best;
  double bestCost = 0;
  // L2-sized packs when possible, else up to the kernel's buffer.
  for (int64_t limit : {kPreferredPackBytes, kPackBytes}) {
  if (best.rows != 0) break;
  for (const QConvTile &tile : tilesFor(dot, floatLanes)) {
    const int64_t tileWidth = tile.lanes * tile.nv, kBlocks = ceilDiv(d.Kg, tile.mk);
    auto planeWords = [&](int64_t r) { return ((r + maxRowOff) * Wph + 15) & ~int64_t{15}; };
    auto fits = [&](int64_t r) {
      return (phases * C4 * planeWords(r) + tileWidth + maxColOff) * 4 <= limit &&
             ceilDiv(r * Wph, tileWidth) * tileWidth <= kAccPositions;
    };
    for (int64_t blocks = 1; blocks <= d.OH; ++blocks) {
      const int64_t rows = ceilDiv(d.OH, blocks);
      if (ceilDiv(d.OH, rows) != blocks || !fits(rows)) continue;
      for (int64_t splits = 1; splits <= std::min<int64_t>(kBlocks, kWantedTasks); ++splits) {
        const int64_t perTask = ceilDiv(kBlocks, splits), used = ceilDiv(kBlocks, perTask);
        const int64_t tasks = d.N * d.group * blocks * used;
        if (tasks < minTasks && (blocks < d.OH || used < kBlocks)) continue; // more tasks are possible
        // Vector dot products of all tiles, and about a quarter instruction per packed word.
        const double dots = static_cast<double>(d.N * d.group * blocks * used * perTask * tile.mk) *
                            static_cast<double>(ceilDiv(rows * Wph, tileWidth) * tile.nv * C4 * d.R * d.S);
        const double pack = static_cast<double>(tasks * phases * C4 * planeWords(rows)) * 4.0 /
                            static_cast<double>(tile.lanes);
        const double cost = dots + pack;
        if (best.rows == 0 || cost < bestCost) {
          best = {tile, rows, perTask * tile.mk};
          bestCost = cost;
        }
      }
    }
  }
  }
  return best;
}

int64_t lowerQConv(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *w = node.input(1);
  const ir::Value *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ws = w->type().shape;
  if (xs.size() != 4 || ws.size() != 4) L.fail("only 2-D convolutions");
  if (!w->isConstant() || w->type().dtype != ir::DType::I8) L.fail("weights must be an int8 constant");
  const ir::WindowGeometry g = ir::convGeometry(node, xs, ws);
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], K = ws[0], Cg = ws[1], R = ws[2], S = ws[3];
  const int64_t OH = g.output[0], OW = g.output[1];
  const int64_t group = node.attrs().getInt("group", 1);
  const int64_t sh = g.strides[0], sw = g.strides[1], dh = g.dilations[0], dw = g.dilations[1];
  if (y->type().numElements() == 0) return emptyNode(L);
  if (W > kMaxRowBytes || OW > kMaxRowBytes) L.fail("rows longer than " + std::to_string(kMaxRowBytes));
  if (sw > kMaxStride) L.fail("a stride over " + std::to_string(kMaxStride));

  const bool xSigned = x->type().dtype == ir::DType::I8;
  const int64_t xZero = node.attrs().getInt("x_zero_point", 0);
  const std::vector<float> scales = node.attrs().getFloats("scales"), biases = node.attrs().getFloats("biases");
  if (static_cast<int64_t>(scales.size()) != K || static_cast<int64_t>(biases.size()) != K)
    L.fail("scales and biases need one value per output channel");

  const Int8Dot dot = dotForInput(L);

  // Packed bytes are unsigned (signed for sdot and Avx2Signs; the kernel flips input of the
  // other kind by 0x80; Avx2Bytes takes them as stored): the zero point moves with them, and
  // sum((x - z) w) = sum(x w) - z sum(w), the second term per channel.
  const bool packSigned = dot == Int8Dot::Sdot || dot == Int8Dot::Avx2Signs;
  const int64_t zeroPacked = dot == Int8Dot::Avx2Bytes || xSigned == packSigned ? xZero
                             : xSigned                                          ? xZero + 128
                                                                                : xZero - 128;
  const auto *wData = static_cast<const int8_t *>(w->constant()->rawData());
  std::vector<int32_t> corr(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    int64_t sum = 0;
    for (int64_t i = 0; i < Cg * R * S; ++i) sum += wData[k * Cg * R * S + i];
    corr[static_cast<size_t>(k)] = static_cast<int32_t>(-zeroPacked * sum);
  }

  const ir::FusedActivation &act = L.activation();
  if (group == C && K == C && C > 1) return lowerDepthwise(L, dot, corr, act);
  if (H == 1 && W == 1 && R == 1 && S == 1 && group == 1 && OH == 1 && OW == 1)
    return lowerPointGemm(L, dot, corr, act);

  if (R * S > kMaxTaps) L.fail("kernels of more than " + std::to_string(kMaxTaps) + " taps (R x S)");
  const QConvPlan plan = planQConv(dot, L.vectorLanes(), {N, group, Cg, K / group, R, S, OH, OW, sh, sw, dh, dw});
  if (plan.rows == 0)
    L.fail("an output row needs more packed input than the " + std::to_string(kPackBytes) +
           " bytes the integer kernel has");
  const QConvTile tile = plan.tile;
  const int64_t rows = plan.rows, channelsPerTask = plan.channelsPerTask;
  const int64_t tasks = N * group * ceilDiv(OH, rows) * ceilDiv(K / group, channelsPerTask);

  const std::vector<int32_t> packed = packWeights(wData, K, Cg, R, S, group, tile.mk);
  std::vector<llvm::Value *> args = commonArgs(L, packed, corr);
  for (int64_t v : {N, C, H, W, K, group, R, S, OH, OW, sh, sw, dh, dw, g.padBegin[0], g.padBegin[1], rows,
                    channelsPerTask})
    args.push_back(L.i64(v));
  args.push_back(L.i32(static_cast<int32_t>(dot)));
  for (int64_t v : {tile.lanes, tile.mk, tile.nv}) args.push_back(L.i64(v));
  pushActivation(L, args, act);
  L.callKernel("leip_k_qconv2d", args);
  return tasks;
}

} // namespace

int64_t foldResidualDequantizes(ir::Graph &graph) {
  int64_t folded = 0;
  for (ir::Node *qconv : graph.topologicalOrder()) {
    if (qconv->opType() != "QConv" || qconv->domain() != ir::kLeipDomain || !qconv->input(2)) continue;
    ir::Node *dq = qconv->input(2)->producer();
    if (!dq || dq->opType() != "DequantizeLinear" || !dq->domain().empty() || dq->numInputs() < 2) continue;
    const ir::Value *q = dq->input(0), *scale = dq->input(1), *zero = dq->numInputs() > 2 ? dq->input(2) : nullptr;
    const ir::DType type = q->type().dtype;
    if ((type != ir::DType::I8 && type != ir::DType::U8) || !scale->isConstant() ||
        scale->constant()->dtype() != ir::DType::F32 || scale->constant()->numElements() != 1 ||
        (zero && (!zero->isConstant() || zero->constant()->dtype() != type || zero->constant()->numElements() != 1)))
      continue; // per-channel or computed quantization: keep the node
    const int64_t zeroPoint = !zero ? 0
                              : type == ir::DType::U8 ? int64_t{zero->constant()->data<uint8_t>()[0]}
                                                      : int64_t{zero->constant()->data<int8_t>()[0]};
    qconv->attrs().set(kResidualScaleAttr, scale->constant()->data<float>()[0]);
    qconv->attrs().set(kResidualZeroPointAttr, zeroPoint);
    ir::Value *dequantized = dq->output(0);
    qconv->setInput(2, dq->input(0));
    const auto &outputs = graph.outputs();
    if (dequantized->users().empty() && std::find(outputs.begin(), outputs.end(), dequantized) == outputs.end())
      graph.eraseNode(dq);
    ++folded;
  }
  return folded;
}

void addQConvLowerings(LoweringRules &rules) { rules["leip.QConv"] = lowerQConv; }

} // namespace leip::codegen
