// Lowering of Resize (and Upsample, which the importer turns into Resize)
// (kernels/Resize.cpp). Every axis's taps are computed here, at compile time, with the
// formulas of the reference kernel (src/interp/kernels/NN.cpp: sourceCoordinate, axisTaps),
// and handed to the kernels as constant tables.
#include "NNCommon.h"

#include "leip/ir/NNGeometry.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>

namespace leip::codegen {

namespace {

constexpr size_t kMaxRank = 6;

struct ResizeParams {
  std::string mode, coord, nearest;
  double cubicA = -0.75;
  bool excludeOutside = false;
};

/// One axis: `perOutput` taps (input index, weight) per output coordinate, and which
/// coordinates fall outside the input (tf_crop_and_resize: they take the extrapolation value).
struct AxisTaps {
  int64_t perOutput = 1;
  std::vector<int64_t> index;
  std::vector<float> weight;
  std::vector<bool> outside;
};

double sourceCoordinate(const ResizeParams &p, int64_t x, int64_t inLen, int64_t outLen, double scale, double roiStart,
                        double roiEnd) {
  auto xr = static_cast<double>(x);
  double resized = scale * static_cast<double>(inLen);
  if (p.coord == "half_pixel") return (xr + 0.5) / scale - 0.5;
  if (p.coord == "pytorch_half_pixel") return resized > 1 ? (xr + 0.5) / scale - 0.5 : -0.5;
  if (p.coord == "align_corners") return resized == 1 ? 0.0 : xr * static_cast<double>(inLen - 1) / (resized - 1);
  if (p.coord == "asymmetric") return xr / scale;
  if (p.coord == "tf_half_pixel_for_nn") return (xr + 0.5) / scale;
  double span = (roiEnd - roiStart) * static_cast<double>(inLen - 1);
  double start = roiStart * static_cast<double>(inLen - 1);
  return outLen > 1 ? start + xr * span / static_cast<double>(outLen - 1) : start + 0.5 * span;
}

std::array<double, 4> cubicCoefficients(double ratio, double a) {
  double r1 = ratio + 1, r0 = ratio, s0 = 1 - ratio, s1 = 2 - ratio;
  return {((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a, ((a + 2) * r0 - (a + 3)) * r0 * r0 + 1,
          ((a + 2) * s0 - (a + 3)) * s0 * s0 + 1, ((a * s1 - 5 * a) * s1 + 8 * a) * s1 - 4 * a};
}

AxisTaps axisTaps(const ResizeParams &p, int64_t inLen, int64_t outLen, double scale, double roiStart, double roiEnd) {
  AxisTaps a;
  a.perOutput = p.mode == "nearest" ? 1 : p.mode == "linear" ? 2 : 4;
  auto add = [&](int64_t i, double w) {
    a.index.push_back(std::clamp<int64_t>(i, 0, inLen - 1));
    a.weight.push_back(static_cast<float>(w));
  };
  for (int64_t x = 0; x < outLen; ++x) {
    double src = sourceCoordinate(p, x, inLen, outLen, scale, roiStart, roiEnd);
    a.outside.push_back(p.coord == "tf_crop_and_resize" && (src < 0 || src > static_cast<double>(inLen - 1)));
    double fl = std::floor(src);
    auto base = static_cast<int64_t>(fl);
    double ratio = src - fl;
    if (p.mode == "nearest") {
      bool up = ratio != 0 && (p.nearest == "ceil" || (p.nearest == "round_prefer_floor" && ratio > 0.5) ||
                               (p.nearest == "round_prefer_ceil" && ratio >= 0.5));
      add(base + (up ? 1 : 0), 1.0);
    } else if (p.mode == "linear") {
      add(base, 1 - ratio);
      add(base + 1, ratio);
    } else {
      // The reference treats an integral coordinate as ratio 1 from the pixel before it.
      if (ratio == 0) {
        ratio = 1;
        --base;
      }
      std::array<double, 4> c = cubicCoefficients(ratio, p.cubicA);
      if (p.excludeOutside) {
        double sum = 0;
        for (int t = 0; t < 4; ++t) {
          if (base - 1 + t < 0 || base - 1 + t >= inLen) c[t] = 0;
          sum += c[t];
        }
        for (double &v : c) v = sum != 0 ? v / sum : 0;
      }
      for (int t = 0; t < 4; ++t) add(base - 1 + t, c[t]);
    }
  }
  return a;
}

/// The reference skips an interpolation pass whose taps map every coordinate to itself.
bool isIdentity(const AxisTaps &a, int64_t inLen, int64_t outLen, const ResizeParams &p) {
  if (inLen != outLen || p.coord == "tf_crop_and_resize") return false;
  for (size_t i = 0; i < a.index.size(); ++i) {
    auto x = static_cast<int64_t>(i) / a.perOutput;
    if (a.weight[i] != 0 && !(a.weight[i] == 1 && a.index[i] == x)) return false;
  }
  return true;
}

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
  const ir::AttributeMap &attrs = node.attrs();
  ResizeParams p;
  p.mode = attrs.getString("mode", "nearest");
  p.coord = attrs.getString("coordinate_transformation_mode", "half_pixel");
  p.nearest = attrs.getString("nearest_mode", "round_prefer_floor");
  p.cubicA = attrs.getFloat("cubic_coeff_a", -0.75f);
  p.excludeOutside = attrs.getInt("exclude_outside", 0) != 0;
  float extrapolation = attrs.getFloat("extrapolation_value", 0.f);
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
    AxisTaps a = axisTaps(p, inLen, outLen, g.scales[axis], g.roiStart[axis], g.roiEnd[axis]);
    if (!nearest && isIdentity(a, inLen, outLen, p)) {
      a.perOutput = 1;
      a.index.resize(static_cast<size_t>(outLen));
      a.weight.assign(static_cast<size_t>(outLen), 1.0f);
      for (int64_t i = 0; i < outLen; ++i) a.index[static_cast<size_t>(i)] = i;
    }
    meta[d] = outLen;
    meta[kMaxRank + d] = a.perOutput;
    for (size_t i = 0; i < a.index.size(); ++i) {
      bool outside = i % static_cast<size_t>(a.perOutput) == 0 && a.outside[i / static_cast<size_t>(a.perOutput)];
      hasOutside = hasOutside || outside;
      offsets.push_back(outside ? -1 : a.index[i] * strides[axis]);
      weights.push_back(a.weight[i]);
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
