// Shape rules of the neural-network family (ONNX opset-17 semantics): Conv, ConvTranspose,
// Gemm, MatMul, BatchNormalization, the pools, Softmax/LogSoftmax/Hardmax, Resize,
// InstanceNormalization and LRN; plus the window/resize geometry shared with the kernels
// (leip/ir/NNGeometry.h).
#include "leip/ir/NNGeometry.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <cmath>
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
                           std::to_string(static_cast<int64_t>(std::floor(std::max(extent, 0.0)))) +
                           " (input " + std::to_string(x[i]) + ", scale " + std::to_string(s) +
                           "): expected at least 1");
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

std::vector<TensorType> convRule(const ShapeContext &ctx) {
  requireFloat(ctx, 0, "input X");
  requireSameType(ctx, 1, "weight W");
  const Shape &x = ctx.input(0).shape;
  const Shape &w = ctx.input(1).shape;
  WindowGeometry g = convGeometry(ctx.node(), x, w);
  if (ctx.hasInput(2)) requireVector(ctx, 2, w[0], "bias B");
  Shape out{x[0], w[0]};
  out.insert(out.end(), g.output.begin(), g.output.end());
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

std::vector<TensorType> matMulRule(const ShapeContext &ctx) {
  const TensorType &a = ctx.input(0);
  const TensorType &b = ctx.input(1);
  if (a.dtype == DType::Bool || a.dtype == DType::I8 || a.dtype == DType::U8)
    ctx.fail("input A must be f32, f16, i32 or i64, got " + a.toString());
  requireSameType(ctx, 1, "input B");
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
  return {typed(a.dtype, out)};
}

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
}

} // namespace leip::ir
