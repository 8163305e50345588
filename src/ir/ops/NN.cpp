// Shape rules of the neural-network family (ONNX opset-17 semantics): Conv, ConvTranspose,
// Gemm, MatMul, Einsum, BatchNormalization, the pools, Softmax/LogSoftmax/Hardmax, Resize,
// GridSample, InstanceNormalization, LayerNormalization, MeanVarianceNormalization, LRN,
// and the quantized operators QLinearConv, QLinearMatMul, ConvInteger and MatMulInteger;
// plus the window/resize geometry and Einsum parsing shared with the kernels
// (leip/ir/NNGeometry.h).
#include "leip/ir/NNGeometry.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

namespace leip::ir {

namespace {

[[noreturn]] void failNode(const Node &node, const std::string &message) {
  throw BadInputError(node.describe() + ": " + message);
}

std::string listToString(const std::vector<int64_t> &values) { return shapeToString(values); }

/// An ints attribute that must have `length` entries, each >= minValue; `fallback` fills
/// it when absent.
std::vector<int64_t> intsAttr(const Node &node, const std::string &name, size_t length, int64_t fallback,
                              int64_t minValue) {
  if (!node.attrs().has(name)) return std::vector<int64_t>(length, fallback);
  std::vector<int64_t> values = node.attrs().getInts(name);
  if (values.size() != length)
    failNode(node, "attribute '" + name + "' must have " + std::to_string(length) + " values, got " +
                       listToString(values));
  for (int64_t v : values)
    if (v < minValue)
      failNode(node, "attribute '" + name + "' values must be >= " + std::to_string(minValue) + ", got " +
                         listToString(values));
  return values;
}

/// Fails unless every dim of `shape` is known (shape rules run after input shapes are bound).
void requireStatic(const Node &node, const Shape &shape, const char *what) {
  if (!isStatic(shape)) failNode(node, std::string(what) + " must have a static shape, got " + shapeToString(shape));
}

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

AutoPad autoPadAttr(const Node &node) {
  std::string mode = node.attrs().getString("auto_pad", "NOTSET");
  if (mode == "NOTSET" || mode.empty()) return AutoPad::NotSet;
  if (mode == "SAME_UPPER") return AutoPad::SameUpper;
  if (mode == "SAME_LOWER") return AutoPad::SameLower;
  if (mode == "VALID") return AutoPad::Valid;
  failNode(node, "attribute 'auto_pad' must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '" + mode + "'");
}

int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// Strides, dilations, pads and output size of a forward window (Conv and pools) given the
/// input's spatial dims and the kernel. Pools also require pads smaller than the window, so
/// that no window lies entirely in padding (as ONNX Runtime and PyTorch require).
WindowGeometry forwardWindow(const Node &node, const Shape &in, const std::vector<int64_t> &kernel, bool ceilMode,
                             bool isPool) {
  size_t r = in.size();
  WindowGeometry g;
  g.input = in;
  g.kernel = kernel;
  g.strides = intsAttr(node, "strides", r, 1, 1);
  g.dilations = intsAttr(node, "dilations", r, 1, 1);
  std::vector<int64_t> pads = intsAttr(node, "pads", 2 * r, 0, 0);
  AutoPad autoPad = autoPadAttr(node);
  g.output.resize(r);
  g.padBegin.assign(r, 0);
  g.padEnd.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    int64_t extent = (kernel[i] - 1) * g.dilations[i] + 1; // dilated kernel size
    int64_t out = 0;
    switch (autoPad) {
    case AutoPad::NotSet: {
      g.padBegin[i] = pads[i];
      g.padEnd[i] = pads[i + r];
      if (isPool && std::max(pads[i], pads[i + r]) >= extent)
        failNode(node, "attribute 'pads' " + listToString(pads) + ": pads of spatial dim " + std::to_string(i) +
                           " must be smaller than the window (" + std::to_string(extent) + ")");
      int64_t span = in[i] + pads[i] + pads[i + r] - extent;
      if (span < 0)
        failNode(node, "spatial dim " + std::to_string(i) + ": the window (kernel " + std::to_string(kernel[i]) +
                           ", dilation " + std::to_string(g.dilations[i]) + ") does not fit the padded input (" +
                           std::to_string(in[i]) + " + pads " + std::to_string(pads[i]) + "+" +
                           std::to_string(pads[i + r]) + ")");
      out = (ceilMode ? ceilDiv(span, g.strides[i]) : span / g.strides[i]) + 1;
      // A last window starting inside the end padding would see no input (PyTorch rule).
      if (ceilMode && (out - 1) * g.strides[i] >= in[i] + pads[i]) --out;
      break;
    }
    case AutoPad::SameUpper:
    case AutoPad::SameLower: {
      out = ceilDiv(in[i], g.strides[i]);
      int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[i] + extent - in[i]);
      int64_t small = total / 2;
      g.padBegin[i] = autoPad == AutoPad::SameUpper ? small : total - small;
      g.padEnd[i] = total - g.padBegin[i];
      break;
    }
    case AutoPad::Valid:
      out = in[i] >= extent ? (in[i] - extent) / g.strides[i] + 1 : 0;
      break;
    }
    if (out < 1)
      failNode(node, "spatial dim " + std::to_string(i) + " of the output would be " + std::to_string(out) +
                         " (input " + std::to_string(in[i]) + ", kernel " + std::to_string(kernel[i]) +
                         "): expected a kernel no larger than the padded input");
    g.output[i] = out;
  }
  return g;
}

Shape spatialOf(const Shape &s) { return Shape(s.begin() + 2, s.end()); }

/// Kernel dims from W, checked against the optional kernel_shape attribute.
std::vector<int64_t> kernelFromWeights(const Node &node, const Shape &w) {
  std::vector<int64_t> kernel = spatialOf(w);
  for (int64_t k : kernel)
    if (k < 1) failNode(node, "weight W has an empty kernel: " + shapeToString(w));
  if (node.attrs().has("kernel_shape") && node.attrs().getInts("kernel_shape") != kernel)
    failNode(node, "attribute 'kernel_shape' " + listToString(node.attrs().getInts("kernel_shape")) +
                       " does not match the weight's spatial dims " + listToString(kernel));
  return kernel;
}

/// Common checks of X and W for Conv/ConvTranspose; returns the group count.
int64_t checkConvOperands(const Node &node, const Shape &x, const Shape &w) {
  requireStatic(node, x, "input X");
  requireStatic(node, w, "weight W");
  if (x.size() < 3)
    failNode(node, "input X must have rank >= 3 (N, C, spatial dims...), got " + shapeToString(x));
  if (w.size() != x.size())
    failNode(node, "weight W must have the same rank as X (" + std::to_string(x.size()) + "), got " +
                       shapeToString(w));
  int64_t group = node.attrs().getInt("group", 1);
  if (group < 1) failNode(node, "attribute 'group' must be >= 1, got " + std::to_string(group));
  return group;
}

} // namespace

WindowGeometry convGeometry(const Node &node, const Shape &x, const Shape &w) {
  int64_t group = checkConvOperands(node, x, w);
  if (w[1] * group != x[1])
    failNode(node, "X has " + std::to_string(x[1]) + " channels but W " + shapeToString(w) + " with group " +
                       std::to_string(group) + " expects " + std::to_string(w[1] * group));
  if (w[0] % group != 0)
    failNode(node, "W's output channels (" + std::to_string(w[0]) + ") must be divisible by group (" +
                       std::to_string(group) + ")");
  return forwardWindow(node, spatialOf(x), kernelFromWeights(node, w), false, false);
}

WindowGeometry convTransposeGeometry(const Node &node, const Shape &x, const Shape &w) {
  int64_t group = checkConvOperands(node, x, w);
  if (w[0] != x[1])
    failNode(node, "X has " + std::to_string(x[1]) + " channels but W " + shapeToString(w) + " expects " +
                       std::to_string(w[0]) + " (W is [C, M/group, k...])");
  if (x[1] % group != 0)
    failNode(node, "X's channels (" + std::to_string(x[1]) + ") must be divisible by group (" +
                       std::to_string(group) + ")");
  size_t r = x.size() - 2;
  WindowGeometry g;
  g.input = spatialOf(x);
  g.kernel = kernelFromWeights(node, w);
  g.strides = intsAttr(node, "strides", r, 1, 1);
  g.dilations = intsAttr(node, "dilations", r, 1, 1);
  std::vector<int64_t> pads = intsAttr(node, "pads", 2 * r, 0, 0);
  std::vector<int64_t> outputPadding = intsAttr(node, "output_padding", r, 0, 0);
  AutoPad autoPad = autoPadAttr(node);

  // output_shape may name only the spatial dims or (as some exporters write) all of them.
  std::vector<int64_t> outputShape = node.attrs().getInts("output_shape");
  if (outputShape.size() == r + 2) outputShape.erase(outputShape.begin(), outputShape.begin() + 2);
  if (!outputShape.empty() && outputShape.size() != r)
    failNode(node, "attribute 'output_shape' must have " + std::to_string(r) + " values, got " +
                       listToString(node.attrs().getInts("output_shape")));

  g.output.resize(r);
  g.padBegin.assign(r, 0);
  g.padEnd.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    // Size of the full (unpadded) result of scattering every input position.
    int64_t full = g.strides[i] * (g.input[i] - 1) + outputPadding[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t out;
    if (!outputShape.empty() || autoPad == AutoPad::SameUpper || autoPad == AutoPad::SameLower) {
      out = !outputShape.empty() ? outputShape[i] : g.input[i] * g.strides[i];
      // Output larger than `full` just gets zeros at the end (as ONNX Runtime does).
      int64_t total = std::max<int64_t>(0, full - out);
      g.padBegin[i] = autoPad == AutoPad::SameUpper ? total / 2 : total - total / 2;
      g.padEnd[i] = total - g.padBegin[i];
    } else if (autoPad == AutoPad::Valid) {
      out = full;
    } else {
      g.padBegin[i] = pads[i];
      g.padEnd[i] = pads[i + r];
      out = full - pads[i] - pads[i + r];
    }
    if (out < 1)
      failNode(node, "spatial dim " + std::to_string(i) + " of the output would be " + std::to_string(out) +
                         ": expected pads smaller than the full output size " + std::to_string(full));
    g.output[i] = out;
  }
  return g;
}

ResizeParams resizeParams(const Node &node) {
  const AttributeMap &attrs = node.attrs();
  ResizeParams p;
  p.mode = attrs.getString("mode", "nearest");
  p.coord = attrs.getString("coordinate_transformation_mode", "half_pixel");
  p.nearest = attrs.getString("nearest_mode", "round_prefer_floor");
  p.cubicA = attrs.getFloat("cubic_coeff_a", -0.75f);
  p.excludeOutside = attrs.getInt("exclude_outside", 0) != 0;
  p.extrapolation = attrs.getFloat("extrapolation_value", 0.f);
  return p;
}

namespace {

double sourceCoordinate(const ResizeParams &p, int64_t x, int64_t inLen, int64_t outLen, double scale, double roiStart,
                        double roiEnd) {
  double xr = static_cast<double>(x);
  // ONNX's reference uses scale * input as the resized length (equal to the output size
  // when `sizes` is given).
  double resized = scale * static_cast<double>(inLen);
  if (p.coord == "half_pixel") return (xr + 0.5) / scale - 0.5;
  if (p.coord == "pytorch_half_pixel") return resized > 1 ? (xr + 0.5) / scale - 0.5 : -0.5;
  if (p.coord == "align_corners") return resized == 1 ? 0.0 : xr * static_cast<double>(inLen - 1) / (resized - 1);
  if (p.coord == "asymmetric") return xr / scale;
  if (p.coord == "tf_half_pixel_for_nn") return (xr + 0.5) / scale;
  // tf_crop_and_resize: the roi of the input is mapped onto the output.
  double span = (roiEnd - roiStart) * static_cast<double>(inLen - 1);
  double start = roiStart * static_cast<double>(inLen - 1);
  return outLen > 1 ? start + xr * span / static_cast<double>(outLen - 1) : start + 0.5 * span;
}

} // namespace

std::vector<double> cubicCoefficients(double ratio, double a) {
  double r1 = ratio + 1, r0 = ratio, s0 = 1 - ratio, s1 = 2 - ratio;
  return {((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a, ((a + 2) * r0 - (a + 3)) * r0 * r0 + 1,
          ((a + 2) * s0 - (a + 3)) * s0 * s0 + 1, ((a * s1 - 5 * a) * s1 + 8 * a) * s1 - 4 * a};
}

ResizeAxisTaps resizeAxisTaps(const ResizeParams &p, int64_t inLen, int64_t outLen, double scale, double roiStart,
                              double roiEnd) {
  ResizeAxisTaps result;
  result.perOutput = p.mode == "nearest" ? 1 : p.mode == "linear" ? 2 : 4;
  result.outside.assign(static_cast<size_t>(outLen), false);
  auto clampIndex = [&](int64_t i) { return std::clamp<int64_t>(i, 0, inLen - 1); };
  for (int64_t x = 0; x < outLen; ++x) {
    double src = sourceCoordinate(p, x, inLen, outLen, scale, roiStart, roiEnd);
    if (p.coord == "tf_crop_and_resize" && (src < 0 || src > static_cast<double>(inLen - 1)))
      result.outside[static_cast<size_t>(x)] = true;
    double fl = std::floor(src);
    auto base = static_cast<int64_t>(fl);
    double ratio = src - fl;
    if (p.mode == "nearest") {
      int64_t idx = base;
      if (ratio != 0) {
        bool up = p.nearest == "ceil" || (p.nearest == "round_prefer_floor" && ratio > 0.5) ||
                  (p.nearest == "round_prefer_ceil" && ratio >= 0.5);
        idx += up ? 1 : 0;
      }
      result.taps.push_back({clampIndex(idx), 1.f});
    } else if (p.mode == "linear") {
      result.taps.push_back({clampIndex(base), static_cast<float>(1 - ratio)});
      result.taps.push_back({clampIndex(base + 1), static_cast<float>(ratio)});
    } else {
      // The reference takes the 4 neighbours with the left ones preferred: an integral
      // coordinate is treated as ratio 1 from the pixel before it.
      if (ratio == 0) {
        ratio = 1;
        --base;
      }
      std::vector<double> c = cubicCoefficients(ratio, p.cubicA);
      if (p.excludeOutside) {
        double sum = 0;
        for (int t = 0; t < 4; ++t) {
          int64_t idx = base - 1 + t;
          if (idx < 0 || idx >= inLen) c[static_cast<size_t>(t)] = 0;
          sum += c[static_cast<size_t>(t)];
        }
        for (double &v : c) v = sum != 0 ? v / sum : 0;
      }
      for (int t = 0; t < 4; ++t)
        result.taps.push_back({clampIndex(base - 1 + t), static_cast<float>(c[static_cast<size_t>(t)])});
    }
  }
  result.identity = inLen == outLen && p.coord != "tf_crop_and_resize";
  for (size_t i = 0; i < result.taps.size() && result.identity; ++i) {
    const ResizeTap &tap = result.taps[i];
    result.identity = tap.weight == 0 || (tap.weight == 1 && tap.index == static_cast<int64_t>(i) / result.perOutput);
  }
  return result;
}


MatMulGeometry matMulGeometry(const Shape &aShape, const Shape &bShape) {
  const Shape as = aShape.size() == 1 ? Shape{1, aShape[0]} : aShape;
  const Shape bs = bShape.size() == 1 ? Shape{bShape[0], 1} : bShape;
  MatMulGeometry g;
  g.M = as[as.size() - 2];
  g.K = as.back();
  g.N = bs.back();
  // Batch dims, right-aligned to the broadcast rank; a dim of 1 gets stride 0.
  const size_t ra = as.size() - 2, rb = bs.size() - 2, rank = std::max(ra, rb);
  Shape batch(rank);
  std::vector<int64_t> strideA(rank, 0), strideB(rank, 0);
  int64_t sa = g.M * g.K, sb = g.K * g.N;
  for (size_t i = rank; i-- > 0;) {
    const int64_t da = i >= rank - ra ? as[i - (rank - ra)] : 1;
    const int64_t db = i >= rank - rb ? bs[i - (rank - rb)] : 1;
    batch[i] = std::max(da, db);
    if (da != 1) strideA[i] = sa;
    if (db != 1) strideB[i] = sb;
    sa *= da;
    sb *= db;
  }
  std::vector<int64_t> idx(rank, 0);
  for (int64_t bi = 0; bi < numElements(batch); ++bi) {
    int64_t offA = 0, offB = 0;
    for (size_t d = 0; d < rank; ++d) {
      offA += idx[d] * strideA[d];
      offB += idx[d] * strideB[d];
    }
    g.aOffsets.push_back(offA);
    g.bOffsets.push_back(offB);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return g;
}

WindowGeometry poolGeometry(const Node &node, const Shape &x) {
  requireStatic(node, x, "input X");
  if (x.size() < 3) failNode(node, "input X must have rank >= 3 (N, C, spatial dims...), got " + shapeToString(x));
  size_t r = x.size() - 2;
  if (!node.attrs().has("kernel_shape")) failNode(node, "attribute 'kernel_shape' is required");
  std::vector<int64_t> kernel = intsAttr(node, "kernel_shape", r, 1, 1);
  int64_t ceilMode = node.attrs().getInt("ceil_mode", 0);
  return forwardWindow(node, spatialOf(x), kernel, ceilMode != 0, true);
}

ResizeGeometry resizeGeometry(const Node &node, const Shape &x, const Tensor *roi, const Tensor *scales,
                              const Tensor *sizes) {
  requireStatic(node, x, "input X");
  size_t r = x.size();
  if (r == 0) failNode(node, "input X must have rank >= 1");
  for (size_t i = 0; i < r; ++i)
    if (x[i] < 1) failNode(node, "input X must not be empty, got shape " + shapeToString(x));
  bool crop = node.attrs().getString("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize";
  bool hasScales = scales && scales->numElements() > 0;
  bool hasSizes = sizes && sizes->numElements() > 0;
  if (hasScales == hasSizes)
    failNode(node, "exactly one of the inputs 'scales' and 'sizes' must be given (non-empty)");

  ResizeGeometry g;
  g.roiStart.assign(r, 0.0);
  g.roiEnd.assign(r, 1.0);
  if (crop && roi && roi->numElements() > 0) {
    if (roi->numElements() != static_cast<int64_t>(2 * r) || !isFloat(roi->dtype()))
      failNode(node, "input 'roi' must be a float tensor of " + std::to_string(2 * r) + " values, got " +
                         roi->type().toString());
    for (size_t i = 0; i < r; ++i) {
      g.roiStart[i] = roi->getAsDouble(static_cast<int64_t>(i));
      g.roiEnd[i] = roi->getAsDouble(static_cast<int64_t>(i + r));
    }
  }
  g.output.resize(r);
  g.scales.resize(r);
  if (hasScales) {
    if (scales->numElements() != static_cast<int64_t>(r) || !isFloat(scales->dtype()))
      failNode(node, "input 'scales' must be a float tensor with one value per axis of X (" + std::to_string(r) +
                         "), got " + scales->type().toString());
    for (size_t i = 0; i < r; ++i) {
      double s = scales->getAsDouble(static_cast<int64_t>(i));
      if (!(s > 0) || !std::isfinite(s))
        failNode(node, "input 'scales' must hold positive values, got " + std::to_string(s) + " at axis " +
                           std::to_string(i));
      double extent = static_cast<double>(x[i]) * s * (crop ? g.roiEnd[i] - g.roiStart[i] : 1.0);
      if (!(extent >= 1) || extent > 1e15)
        failNode(node, "axis " + std::to_string(i) + " of the output would have size " +
                           // Converting a size above 2^63 to int64_t is undefined (found by fuzzing).
                           (extent > 1e15 ? std::string("over 10^15")
                                          : std::to_string(static_cast<int64_t>(std::floor(std::max(extent, 0.0))))) +
                           " (input " + std::to_string(x[i]) + ", scale " + std::to_string(s) +
                           "): expected 1 to 10^15");
      g.scales[i] = s;
      g.output[i] = static_cast<int64_t>(std::floor(extent));
    }
  } else {
    if (sizes->numElements() != static_cast<int64_t>(r) || sizes->dtype() != DType::I64)
      failNode(node, "input 'sizes' must be an i64 tensor with one value per axis of X (" + std::to_string(r) +
                         "), got " + sizes->type().toString());
    for (size_t i = 0; i < r; ++i) {
      int64_t n = sizes->getAsInt64(static_cast<int64_t>(i));
      if (n < 1)
        failNode(node, "input 'sizes' must hold positive values, got " + std::to_string(n) + " at axis " +
                           std::to_string(i));
      g.output[i] = n;
      g.scales[i] = static_cast<double>(n) / static_cast<double>(x[i]);
    }
  }
  return g;
}

EinsumSpec einsumSpec(const Node &node, const std::vector<Shape> &inputs) {
  const std::string raw = node.attrs().getString("equation", "");
  std::string eq;
  for (char c : raw)
    if (c != ' ' && c != '\t' && c != '\n') eq += c;
  const std::string quoted = "equation '" + raw + "'";
  if (!node.attrs().has("equation")) failNode(node, "attribute 'equation' is required");
  size_t arrow = eq.find("->");
  bool explicitOutput = arrow != std::string::npos;
  std::string lhs = explicitOutput ? eq.substr(0, arrow) : eq;
  std::string rhs = explicitOutput ? eq.substr(arrow + 2) : "";
  if (rhs.find('-') != std::string::npos || rhs.find('>') != std::string::npos || lhs.find('>') != std::string::npos)
    failNode(node, quoted + " must contain at most one '->'");

  // A term: letters before and after an optional "...".
  struct Term {
    std::vector<int> before, after;
    bool ellipsis = false;
  };
  auto parseTerm = [&](const std::string &text, const std::string &what) {
    Term term;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "...") == 0) {
        if (term.ellipsis) failNode(node, quoted + ": " + what + " has more than one '...'");
        term.ellipsis = true;
        i += 3;
        continue;
      }
      char c = text[i++];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        failNode(node, quoted + ": unexpected character '" + std::string(1, c) + "' in " + what +
                           " (expected letters, '...', ',' and '->')");
      (term.ellipsis ? term.after : term.before).push_back(c);
    }
    return term;
  };

  std::vector<std::string> texts(1);
  for (char c : lhs) {
    if (c == ',') texts.emplace_back();
    else texts.back() += c;
  }
  if (texts.size() != inputs.size())
    failNode(node, quoted + " has " + std::to_string(texts.size()) + " operand terms but the node has " +
                       std::to_string(inputs.size()) + " inputs");
  std::vector<Term> terms;
  int64_t ellipsisRank = 0; // dims the broadcast ellipsis stands for
  for (size_t i = 0; i < texts.size(); ++i) {
    requireStatic(node, inputs[i], "every input");
    terms.push_back(parseTerm(texts[i], "operand " + std::to_string(i)));
    const Term &t = terms.back();
    auto letters = static_cast<int64_t>(t.before.size() + t.after.size());
    auto rank = static_cast<int64_t>(inputs[i].size());
    if (t.ellipsis ? letters > rank : letters != rank)
      failNode(node, quoted + ": operand " + std::to_string(i) + " term '" + texts[i] + "' names " +
                         std::to_string(letters) + " dims but input " + std::to_string(i) + " has shape " +
                         shapeToString(inputs[i]));
    if (t.ellipsis) ellipsisRank = std::max(ellipsisRank, rank - letters);
  }

  EinsumSpec spec;
  std::map<int, int> letterCounts;
  auto labelName = [](int label) {
    return label >= kEinsumEllipsisLabel ? std::string("...") : std::string(1, static_cast<char>(label));
  };
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term &t = terms[i];
    std::vector<int> labels = t.before;
    auto covered = static_cast<int64_t>(inputs[i].size() - t.before.size() - t.after.size());
    for (int64_t j = ellipsisRank - covered; j < ellipsisRank; ++j) // right-aligned, as numpy
      labels.push_back(kEinsumEllipsisLabel + static_cast<int>(j));
    labels.insert(labels.end(), t.after.begin(), t.after.end());
    for (size_t d = 0; d < labels.size(); ++d) {
      int64_t dim = inputs[i][d];
      auto [it, inserted] = spec.sizes.emplace(labels[d], dim);
      if (!inserted && it->second != dim) {
        if (it->second == 1) it->second = dim; // numpy broadcasting of size-1 dims
        else if (dim != 1)
          failNode(node, quoted + ": label '" + labelName(labels[d]) + "' has size " + std::to_string(it->second) +
                             " and " + std::to_string(dim) + " (in input " + std::to_string(i) + " " +
                             shapeToString(inputs[i]) + ")");
      }
      if (labels[d] < kEinsumEllipsisLabel) ++letterCounts[labels[d]];
    }
    spec.inputLabels.push_back(std::move(labels));
  }

  std::vector<int> ellipsisLabels;
  for (int64_t j = 0; j < ellipsisRank; ++j) ellipsisLabels.push_back(kEinsumEllipsisLabel + static_cast<int>(j));
  if (explicitOutput) {
    Term out = parseTerm(rhs, "the output term");
    if (!out.ellipsis && ellipsisRank > 0)
      failNode(node, quoted + ": the output term must contain '...' for the " + std::to_string(ellipsisRank) +
                         " dims the inputs' ellipsis stands for");
    spec.outputLabels = out.before;
    spec.outputLabels.insert(spec.outputLabels.end(), ellipsisLabels.begin(), ellipsisLabels.end());
    spec.outputLabels.insert(spec.outputLabels.end(), out.after.begin(), out.after.end());
    std::set<int> seen;
    for (int label : spec.outputLabels) {
      if (!spec.sizes.count(label))
        failNode(node, quoted + ": output label '" + labelName(label) + "' does not appear in any operand");
      if (!seen.insert(label).second)
        failNode(node, quoted + ": output label '" + labelName(label) + "' appears more than once");
    }
  } else {
    // numpy's implicit output: the ellipsis dims, then letters used once, in ASCII order.
    spec.outputLabels = ellipsisLabels;
    for (const auto &[label, count] : letterCounts)
      if (count == 1) spec.outputLabels.push_back(label);
  }
  for (int label : spec.outputLabels) spec.output.push_back(spec.sizes.at(label));
  return spec;
}

namespace {

// ---- shape rules ----

TensorType typed(DType dtype, Shape shape) { return TensorType{dtype, std::move(shape), {}}; }

void requireFloat(const ShapeContext &ctx, size_t i, const char *what) {
  const TensorType &t = ctx.input(i);
  if (!isFloat(t.dtype)) ctx.fail(std::string(what) + " must be a float tensor, got " + t.toString());
}

/// Input i must have input 0's dtype.
void requireSameType(const ShapeContext &ctx, size_t i, const char *what) {
  if (ctx.input(i).dtype != ctx.input(0).dtype)
    ctx.fail(std::string(what) + " must have the first input's dtype " + std::string(dtypeName(ctx.input(0).dtype)) +
             ", got " + ctx.input(i).toString());
}

/// A per-channel 1-D parameter (bias, scale, mean, ...) of `count` elements.
void requireVector(const ShapeContext &ctx, size_t i, int64_t count, const char *what) {
  const TensorType &t = ctx.input(i);
  if (t.shape != Shape{count})
    ctx.fail(std::string(what) + " must have shape [" + std::to_string(count) + "], got " + t.toString());
  requireSameType(ctx, i, what);
}

/// [N, M, output spatial dims...] of a convolution of X [N, C, D...] with W [M, C/group, k...].
Shape convOutputShape(const ShapeContext &ctx, const Shape &x, const Shape &w) {
  WindowGeometry g = convGeometry(ctx.node(), x, w);
  Shape out{x[0], w[0]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return out;
}

std::vector<TensorType> convRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  requireSameType(ctx, 1, "weight W");
  Shape out = convOutputShape(ctx, ctx.input(0).shape, ctx.input(1).shape);
  if (ctx.hasInput(2)) requireVector(ctx, 2, out[1], "bias B");
  return {typed(ctx.input(0).dtype, out)};
}

std::vector<TensorType> convTransposeRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  requireSameType(ctx, 1, "weight W");
  const Shape &x = ctx.input(0).shape;
  const Shape &w = ctx.input(1).shape;
  WindowGeometry g = convTransposeGeometry(ctx.node(), x, w);
  int64_t outChannels = w[1] * ctx.attrs().getInt("group", 1);
  if (ctx.hasInput(2)) requireVector(ctx, 2, outChannels, "bias B");
  Shape out{x[0], outChannels};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return {typed(ctx.input(0).dtype, out)};
}

std::vector<TensorType> gemmRule(const ShapeContext &ctx) {
  const TensorType &a = ctx.input(0);
  const TensorType &b = ctx.input(1);
  if (a.dtype != DType::F32 && a.dtype != DType::F16)
    ctx.fail("input A must be f32 (or f16), got " + a.toString());
  requireSameType(ctx, 1, "input B");
  if (a.rank() != 2 || b.rank() != 2)
    ctx.fail("inputs A and B must be 2-D, got " + a.toString() + " and " + b.toString());
  bool transA = ctx.attrs().getInt("transA", 0) != 0;
  bool transB = ctx.attrs().getInt("transB", 0) != 0;
  int64_t m = transA ? a.shape[1] : a.shape[0];
  int64_t k = transA ? a.shape[0] : a.shape[1];
  int64_t kb = transB ? b.shape[1] : b.shape[0];
  int64_t n = transB ? b.shape[0] : b.shape[1];
  if (k != kb)
    ctx.fail("inner dims differ: A" + std::string(transA ? "^T" : "") + " is " + std::to_string(m) + "x" +
             std::to_string(k) + ", B" + (transB ? "^T" : "") + " is " + std::to_string(kb) + "x" + std::to_string(n));
  if (ctx.hasInput(2)) {
    requireSameType(ctx, 2, "input C");
    const Shape &c = ctx.input(2).shape;
    Shape target{m, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      int64_t t = target[2 - c.size() + i];
      ok = c[i] == 1 || c[i] == t;
    }
    if (!ok) ctx.fail("input C " + ctx.input(2).toString() + " does not broadcast to the output [" +
                      std::to_string(m) + "," + std::to_string(n) + "]");
  }
  return {typed(a.dtype, {m, n})};
}

/// numpy.matmul's result shape for A and B (their dtypes are checked by the callers).
Shape matMulOutputShape(const ShapeContext &ctx, const TensorType &a, const TensorType &b) {
  if (a.rank() < 1 || b.rank() < 1)
    ctx.fail("inputs must have rank >= 1, got " + a.toString() + " and " + b.toString());
  // numpy: a 1-D A is a row vector, a 1-D B a column vector; both extra dims are dropped.
  Shape sa = a.rank() == 1 ? Shape{1, a.shape[0]} : a.shape;
  Shape sb = b.rank() == 1 ? Shape{b.shape[0], 1} : b.shape;
  int64_t m = sa[sa.size() - 2], k = sa.back(), kb = sb[sb.size() - 2], n = sb.back();
  if (k != kb)
    ctx.fail("inner dims differ: " + a.toString() + " x " + b.toString() + " (" + std::to_string(k) + " vs " +
             std::to_string(kb) + ")");
  std::optional<Shape> batch =
      broadcastShapes(Shape(sa.begin(), sa.end() - 2), Shape(sb.begin(), sb.end() - 2));
  if (!batch) ctx.fail("batch dims of " + a.toString() + " and " + b.toString() + " do not broadcast");
  Shape out = *batch;
  if (a.rank() > 1) out.push_back(m);
  if (b.rank() > 1) out.push_back(n);
  return out;
}

std::vector<TensorType> matMulRule(const ShapeContext &ctx) {
  const TensorType &a = ctx.input(0);
  if (a.dtype == DType::Bool || a.dtype == DType::I8 || a.dtype == DType::U8)
    ctx.fail("input A must be f32, f16, i32 or i64, got " + a.toString());
  requireSameType(ctx, 1, "input B");
  return {typed(a.dtype, matMulOutputShape(ctx, a, ctx.input(1)))};
}

/// Rows (M) and columns (N) of numpy.matmul's A and B: a 1-D A is one row, a 1-D B one column.
int64_t matMulRows(const TensorType &a) { return a.rank() == 1 ? 1 : a.shape[a.shape.size() - 2]; }
int64_t matMulColumns(const TensorType &b) { return b.rank() == 1 ? 1 : b.shape.back(); }

std::vector<TensorType> batchNormRule(const ShapeContext &ctx) {
  if (ctx.attrs().getInt("training_mode", 0) != 0)
    ctx.fail("training_mode=1 is not supported (leip runs BatchNormalization in inference mode only)");
  if (ctx.node().numOutputs() > 1)
    ctx.fail("only the first output Y is supported (running mean/var outputs exist only in training mode), "
             "got " + std::to_string(ctx.node().numOutputs()) + " outputs");
  if (ctx.attrs().has("spatial") && ctx.attrs().getInt("spatial", 1) == 0)
    ctx.fail("attribute 'spatial'=0 (per-activation statistics) is not supported");
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input X must have rank >= 2 (N, C, ...), got " + x.toString());
  static const char *names[] = {"", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) requireVector(ctx, i, x.shape[1], names[i]);
  return {x};
}

std::vector<TensorType> maxPoolRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  if (!isFloat(x.dtype) && x.dtype != DType::I8 && x.dtype != DType::U8)
    ctx.fail("input X must be f32, f16, i8 or u8, got " + x.toString());
  int64_t storageOrder = ctx.attrs().getInt("storage_order", 0);
  if (storageOrder != 0 && storageOrder != 1)
    ctx.fail("attribute 'storage_order' must be 0 or 1, got " + std::to_string(storageOrder));
  WindowGeometry g = poolGeometry(ctx.node(), x.shape);
  Shape out{x.shape[0], x.shape[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return {typed(x.dtype, out), typed(DType::I64, out)};
}

std::vector<TensorType> poolRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  if (ctx.node().opType() == "LpPool" && ctx.attrs().getInt("p", 2) < 1)
    ctx.fail("attribute 'p' must be >= 1, got " + std::to_string(ctx.attrs().getInt("p", 2)));
  WindowGeometry g = poolGeometry(ctx.node(), x.shape);
  Shape out{x.shape[0], x.shape[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return {typed(x.dtype, out)};
}

std::vector<TensorType> globalPoolRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input X must have rank >= 2 (N, C, spatial dims...), got " + x.toString());
  if (ctx.node().opType() == "GlobalLpPool" && ctx.attrs().getInt("p", 2) < 1)
    ctx.fail("attribute 'p' must be >= 1, got " + std::to_string(ctx.attrs().getInt("p", 2)));
  Shape out = x.shape;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  return {typed(x.dtype, out)};
}

std::vector<TensorType> softmaxRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input");
  const TensorType &x = ctx.input(0);
  if (x.rank() < 1) ctx.fail("input must have rank >= 1, got a scalar");
  normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), x.rank());
  return {typed(x.dtype, x.shape)};
}

std::vector<TensorType> resizeRule(const ShapeContext &ctx) {
  const TensorType &x = ctx.input(0);
  const AttributeMap &attrs = ctx.attrs();
  std::string mode = attrs.getString("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    ctx.fail("attribute 'mode' must be nearest, linear or cubic, got '" + mode + "'");
  if (mode != "nearest" && !isFloat(x.dtype))
    ctx.fail("mode '" + mode + "' needs a float input X, got " + x.toString());
  std::string coord = attrs.getString("coordinate_transformation_mode", "half_pixel");
  if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" && coord != "asymmetric" &&
      coord != "tf_crop_and_resize" && coord != "tf_half_pixel_for_nn")
    ctx.fail("attribute 'coordinate_transformation_mode' must be half_pixel, pytorch_half_pixel, align_corners, "
             "asymmetric, tf_half_pixel_for_nn or tf_crop_and_resize, got '" + coord + "'");
  std::string nearest = attrs.getString("nearest_mode", "round_prefer_floor");
  if (nearest != "round_prefer_floor" && nearest != "round_prefer_ceil" && nearest != "floor" && nearest != "ceil")
    ctx.fail("attribute 'nearest_mode' must be round_prefer_floor, round_prefer_ceil, floor or ceil, got '" +
             nearest + "'");
  for (const char *unsupported : {"antialias", "axes", "keep_aspect_ratio_policy"})
    if (attrs.has(unsupported))
      ctx.fail(std::string("attribute '") + unsupported + "' (opset 18) is not supported");
  // Only the non-empty one of scales/sizes must be constant; roi only matters for cropping.
  const Tensor *roi = nullptr, *scales = nullptr, *sizes = nullptr;
  if (coord == "tf_crop_and_resize" && ctx.hasInput(1) && ctx.input(1).numElements() > 0)
    roi = &ctx.requireValue(1, "roi");
  if (ctx.hasInput(2) && ctx.input(2).numElements() > 0) scales = &ctx.requireValue(2, "scales");
  if (ctx.hasInput(3) && ctx.input(3).numElements() > 0) sizes = &ctx.requireValue(3, "sizes");
  ResizeGeometry g = resizeGeometry(ctx.node(), x.shape, roi, scales, sizes);
  return {typed(x.dtype, g.output)};
}

std::vector<TensorType> instanceNormRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input X must have rank >= 2 (N, C, spatial dims...), got " + x.toString());
  requireVector(ctx, 1, x.shape[1], "scale");
  requireVector(ctx, 2, x.shape[1], "B");
  return {typed(x.dtype, x.shape)};
}

std::vector<TensorType> lrnRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input X must have rank >= 2 (N, C, ...), got " + x.toString());
  if (!ctx.attrs().has("size")) ctx.fail("attribute 'size' is required");
  int64_t size = ctx.attrs().getInt("size", 1);
  if (size < 1) ctx.fail("attribute 'size' must be >= 1, got " + std::to_string(size));
  return {typed(x.dtype, x.shape)};
}

/// `what` (input i) must broadcast to `target` in one direction (numpy rules).
void requireBroadcastsTo(const ShapeContext &ctx, size_t i, const Shape &target, const char *what) {
  const TensorType &t = ctx.input(i);
  std::optional<Shape> out = broadcastShapes(target, t.shape);
  if (!out || *out != target)
    ctx.fail(std::string(what) + " " + t.toString() + " does not broadcast to the normalized shape " +
             shapeToString(target));
}

/// LayerNormalization (opset 17): Y, and optionally Mean and InvStdDev (f32, X's shape with
/// the normalized dims kept as 1).
std::vector<TensorType> layerNormRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  if (x.rank() < 1) ctx.fail("input X must have rank >= 1, got " + x.toString());
  if (ctx.node().numOutputs() > 3)
    ctx.fail("has " + std::to_string(ctx.node().numOutputs()) + " outputs, expected at most 3 (Y, Mean, InvStdDev)");
  int64_t axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), x.rank());
  int64_t stashType = ctx.attrs().getInt("stash_type", 1);
  if (stashType != 1) ctx.fail("attribute 'stash_type' must be 1 (float), got " + std::to_string(stashType));
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  requireSameType(ctx, 1, "Scale");
  requireBroadcastsTo(ctx, 1, normalized, "Scale");
  if (ctx.hasInput(2)) {
    requireSameType(ctx, 2, "B");
    requireBroadcastsTo(ctx, 2, normalized, "B");
  }
  Shape reduced = x.shape;
  std::fill(reduced.begin() + axis, reduced.end(), 1);
  return {x, typed(DType::F32, reduced), typed(DType::F32, reduced)};
}

std::vector<TensorType> mvnRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  const TensorType &x = ctx.input(0);
  std::vector<int64_t> axes = ctx.attrs().getInts("axes", {0, 2, 3});
  std::set<int64_t> seen;
  for (int64_t axis : axes)
    if (!seen.insert(normalizeAxis(ctx, axis, x.rank())).second)
      ctx.fail("attribute 'axes' " + listToString(axes) + " names axis " + std::to_string(axis) + " twice");
  return {typed(x.dtype, x.shape)};
}

/// GridSample (opset 16): X [N, C, H, W] sampled at grid [N, H_out, W_out, 2] -> [N, C, H_out, W_out].
std::vector<TensorType> gridSampleRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  requireSameType(ctx, 1, "grid");
  const TensorType &x = ctx.input(0);
  const TensorType &grid = ctx.input(1);
  if (x.rank() != 4) ctx.fail("input X must be 4-D (N, C, H, W), got " + x.toString());
  if (grid.rank() != 4 || grid.shape[0] != x.shape[0] || grid.shape[3] != 2)
    ctx.fail("grid must have shape [" + std::to_string(x.shape[0]) + ", H_out, W_out, 2] for X " + x.toString() +
             ", got " + grid.toString());
  std::string mode = ctx.attrs().getString("mode", "bilinear");
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic")
    ctx.fail("attribute 'mode' must be bilinear, nearest or bicubic, got '" + mode + "'");
  std::string padding = ctx.attrs().getString("padding_mode", "zeros");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    ctx.fail("attribute 'padding_mode' must be zeros, border or reflection, got '" + padding + "'");
  int64_t alignCorners = ctx.attrs().getInt("align_corners", 0);
  if (alignCorners != 0 && alignCorners != 1)
    ctx.fail("attribute 'align_corners' must be 0 or 1, got " + std::to_string(alignCorners));
  return {typed(x.dtype, {x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]})};
}

std::vector<TensorType> einsumRule(const ShapeContext &ctx) {
  DType dtype = ctx.input(0).dtype;
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::I32 && dtype != DType::I64)
    ctx.fail("inputs must be f32, f16, i32 or i64, got " + ctx.input(0).toString());
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    requireSameType(ctx, i, ("input " + std::to_string(i)).c_str());
    shapes.push_back(ctx.input(i).shape);
  }
  return {typed(dtype, einsumSpec(ctx.node(), shapes).output)};
}

// ---- quantized operators (QOperator format: QLinearConv, QLinearMatMul, ConvInteger,
// MatMulInteger) ----

void requireQuantized(const ShapeContext &ctx, size_t i, const char *what) {
  DType d = ctx.input(i).dtype;
  if (d != DType::U8 && d != DType::I8)
    ctx.fail(std::string(what) + " must be u8 or i8, got " + ctx.input(i).toString());
}

/// A scale or zero point of `dtype`: one value (per tensor) or, when perChannel > 0, a 1-D
/// tensor of perChannel values (one per output channel, row or column).
void requireQuantParam(const ShapeContext &ctx, size_t i, DType dtype, int64_t perChannel, const char *what) {
  const TensorType &t = ctx.input(i);
  if (t.dtype != dtype)
    ctx.fail(std::string(what) + " must be " + std::string(dtypeName(dtype)) + ", got " + t.toString());
  bool perTensor = t.rank() <= 1 && t.numElements() == 1;
  bool vector = perChannel > 0 && t.rank() == 1 && t.shape[0] == perChannel;
  if (!perTensor && !vector)
    ctx.fail(std::string(what) + " must be a scalar" +
             (perChannel > 0 ? " or a 1-D tensor of " + std::to_string(perChannel) + " values" : std::string()) +
             ", got " + t.toString());
}

std::vector<TensorType> qLinearConvRule(const ShapeContext &ctx) {
  requireQuantized(ctx, 0, "input x");
  requireQuantized(ctx, 3, "weight w");
  requireQuantized(ctx, 7, "y_zero_point");
  Shape out = convOutputShape(ctx, ctx.input(0).shape, ctx.input(3).shape);
  int64_t m = out[1];
  requireQuantParam(ctx, 1, DType::F32, 0, "x_scale");
  requireQuantParam(ctx, 2, ctx.input(0).dtype, 0, "x_zero_point");
  requireQuantParam(ctx, 4, DType::F32, m, "w_scale");
  requireQuantParam(ctx, 5, ctx.input(3).dtype, m, "w_zero_point");
  requireQuantParam(ctx, 6, DType::F32, 0, "y_scale");
  requireQuantParam(ctx, 7, ctx.input(7).dtype, 0, "y_zero_point");
  if (ctx.hasInput(8) && (ctx.input(8).dtype != DType::I32 || ctx.input(8).shape != Shape{m}))
    ctx.fail("bias B must be i32 with shape [" + std::to_string(m) + "], got " + ctx.input(8).toString());
  return {typed(ctx.input(7).dtype, out)};
}

std::vector<TensorType> convIntegerRule(const ShapeContext &ctx) {
  requireQuantized(ctx, 0, "input x");
  requireQuantized(ctx, 1, "weight w");
  Shape out = convOutputShape(ctx, ctx.input(0).shape, ctx.input(1).shape);
  if (ctx.hasInput(2)) requireQuantParam(ctx, 2, ctx.input(0).dtype, 0, "x_zero_point");
  if (ctx.hasInput(3)) requireQuantParam(ctx, 3, ctx.input(1).dtype, out[1], "w_zero_point");
  return {typed(DType::I32, out)};
}

std::vector<TensorType> matMulIntegerRule(const ShapeContext &ctx) {
  requireQuantized(ctx, 0, "input A");
  requireQuantized(ctx, 1, "input B");
  const TensorType &a = ctx.input(0), &b = ctx.input(1);
  Shape out = matMulOutputShape(ctx, a, b);
  if (ctx.hasInput(2)) requireQuantParam(ctx, 2, a.dtype, matMulRows(a), "a_zero_point (per tensor or per row)");
  if (ctx.hasInput(3)) requireQuantParam(ctx, 3, b.dtype, matMulColumns(b), "b_zero_point (per tensor or per column)");
  return {typed(DType::I32, out)};
}

std::vector<TensorType> qLinearMatMulRule(const ShapeContext &ctx) {
  requireQuantized(ctx, 0, "input a");
  requireQuantized(ctx, 3, "input b");
  requireQuantized(ctx, 7, "y_zero_point");
  const TensorType &a = ctx.input(0), &b = ctx.input(3);
  Shape out = matMulOutputShape(ctx, a, b);
  int64_t rows = matMulRows(a), columns = matMulColumns(b);
  requireQuantParam(ctx, 1, DType::F32, rows, "a_scale (per tensor or per row)");
  requireQuantParam(ctx, 2, a.dtype, rows, "a_zero_point (per tensor or per row)");
  requireQuantParam(ctx, 4, DType::F32, columns, "b_scale (per tensor or per column)");
  requireQuantParam(ctx, 5, b.dtype, columns, "b_zero_point (per tensor or per column)");
  requireQuantParam(ctx, 6, DType::F32, rows, "y_scale (per tensor or per row)");
  requireQuantParam(ctx, 7, ctx.input(7).dtype, rows, "y_zero_point (per tensor or per row)");
  return {typed(ctx.input(7).dtype, out)};
}

} // namespace

void registerNNOps(OpTable &table) {
  table["Conv"] = {convRule, 2, 3};
  table["ConvTranspose"] = {convTransposeRule, 2, 3};
  table["Gemm"] = {gemmRule, 2, 3};
  table["MatMul"] = {matMulRule, 2, 2};
  table["BatchNormalization"] = {batchNormRule, 5, 5};
  table["MaxPool"] = {maxPoolRule, 1, 1};
  table["AveragePool"] = {poolRule, 1, 1};
  table["LpPool"] = {poolRule, 1, 1};
  table["GlobalAveragePool"] = {globalPoolRule, 1, 1};
  table["GlobalMaxPool"] = {globalPoolRule, 1, 1};
  table["GlobalLpPool"] = {globalPoolRule, 1, 1};
  table["Softmax"] = {softmaxRule, 1, 1};
  table["LogSoftmax"] = {softmaxRule, 1, 1};
  table["Hardmax"] = {softmaxRule, 1, 1};
  table["Resize"] = {resizeRule, 1, 4};
  table["InstanceNormalization"] = {instanceNormRule, 3, 3};
  table["LRN"] = {lrnRule, 1, 1};
  table["LayerNormalization"] = {layerNormRule, 2, 3};
  table["MeanVarianceNormalization"] = {mvnRule, 1, 1};
  table["GridSample"] = {gridSampleRule, 2, 2};
  table["Einsum"] = {einsumRule, 1, std::numeric_limits<int>::max()};
  table["QLinearConv"] = {qLinearConvRule, 8, 9};
  table["ConvInteger"] = {convIntegerRule, 2, 4};
  table["QLinearMatMul"] = {qLinearMatMulRule, 8, 8};
  table["MatMulInteger"] = {matMulIntegerRule, 2, 4};
}

} // namespace leip::ir
