// Lowering of Resize (and Upsample, which the importer turns into Resize)
// (kernels/Resize.cpp). Every axis's taps are computed here, at compile time, by the same
// code as the reference kernel's (ir::resizeAxisTaps), and handed to the kernels as
// constant tables.
#include "NNCommon.h"

#include "leip/ir/NNGeometry.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace leip::codegen {

namespace {

constexpr size_t kMaxRank = 6;

const ir::Tensor *optionalConstant(NodeLowering &L, size_t i, const char *what) {
  const ir::Value *v = L.node().numInputs() > i ? L.node().input(i) : nullptr;
  if (!v || v->type().numElements() == 0) return nullptr;
  if (!v->isConstant()) L.fail(std::string(what) + " must be a constant");
  return v->constant();
}

int64_t lowerResize(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  const ir::ResizeParams p = ir::resizeParams(node);
  const float extrapolation = p.extrapolation;
  bool nearest = p.mode == "nearest";
  if (!nearest) L.requireFloat32(1);
  if (xs.empty() || xs.size() > kMaxRank) L.fail("rank must be 1 to 6");
  const ir::Tensor *roi = p.coord == "tf_crop_and_resize" ? optionalConstant(L, 1, "roi") : nullptr;
  ir::ResizeGeometry g =
      ir::resizeGeometry(node, xs, roi, optionalConstant(L, 2, "scales"), optionalConstant(L, 3, "sizes"));
  if (g.output != y->type().shape) L.fail("output shape differs from the resize geometry");
  if (y->type().numElements() == 0) return emptyNode(L);

  // Tables over kMaxRank dims: leading dims of size 1 have one tap (offset 0, weight 1).
  size_t lead = kMaxRank - xs.size();
  std::vector<int64_t> strides = ir::stridesOf(xs);
  std::vector<int64_t> meta(3 * kMaxRank, 1), offsets;
  std::vector<float> weights;
  bool hasOutside = false;
  for (size_t d = 0; d < kMaxRank; ++d) {
    meta[2 * kMaxRank + d] = static_cast<int64_t>(offsets.size());
    if (d < lead) {
      offsets.push_back(0);
      weights.push_back(1.0f);
      continue;
    }
    size_t axis = d - lead;
    int64_t inLen = xs[axis], outLen = g.output[axis];
    ir::ResizeAxisTaps a = ir::resizeAxisTaps(p, inLen, outLen, g.scales[axis], g.roiStart[axis], g.roiEnd[axis]);
    if (!nearest && a.identity) { // the reference skips this pass: one tap per output, itself
      a.perOutput = 1;
      a.taps.clear();
      for (int64_t i = 0; i < outLen; ++i) a.taps.push_back({i, 1.0f});
    }
    meta[d] = outLen;
    meta[kMaxRank + d] = a.perOutput;
    for (size_t i = 0; i < a.taps.size(); ++i) {
      bool outside = i % static_cast<size_t>(a.perOutput) == 0 && a.outside[i / static_cast<size_t>(a.perOutput)];
      hasOutside = hasOutside || outside;
      offsets.push_back(outside ? -1 : a.taps[i].index * strides[axis]);
      weights.push_back(a.taps[i].weight);
    }
  }
  int64_t rows = y->type().numElements() / meta[kMaxRank - 1];
  // The last axis (stride 1) again as int32 for narrower gathers.
  if (xs.back() > INT32_MAX) L.fail("a last dim of more than 2^31 elements");
  std::vector<int32_t> lastOffsets(offsets.begin() + meta[3 * kMaxRank - 1], offsets.end());
  llvm::Constant *last = L.derivedConstant(lastOffsets.data(), lastOffsets.size() * sizeof(int32_t));

  if (nearest) {
    size_t elem = ir::dtypeSize(x->type().dtype);
    if (elem != 1 && elem != 2 && elem != 4 && elem != 8) L.fail("element size " + std::to_string(elem));
    ir::Tensor fill(x->type().dtype, {1});
    fill.setFromDouble(0, extrapolation);
    uint64_t bits = 0;
    std::memcpy(&bits, fill.rawData(), elem);
    llvm::Type *elemTy = L.builder().getIntNTy(static_cast<unsigned>(elem * 8));
    L.callKernel("leip_k_resize_nearest_b" + std::to_string(elem),
                 {L.address(x), L.address(y), L.i64Array(meta), L.i64Array(offsets), last,
                  llvm::ConstantInt::get(elemTy, bits), L.i32(hasOutside)});
  } else {
    L.callKernel("leip_k_resize_f32", {L.address(x), L.address(y), L.i64Array(meta), L.i64Array(offsets), last,
                                       L.derivedConstant(weights), L.f32(extrapolation), L.i32(hasOutside),
                                       L.i64(xs.back())});
  }
  return rows;
}

} // namespace

void addResizeLowerings(LoweringRules &rules) { rules["Resize"] = lowerResize; }

} // namespace leip::codegen
