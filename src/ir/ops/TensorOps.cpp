// Shape rules for the tensor / data-movement ops (ONNX opset-17 semantics): Reshape, Slice,
// Concat, Gather, Pad, ... These ops only move bytes, so every rule accepts every dtype of
// the IR; where the output shape depends on an input's values (Reshape's shape, Slice's
// starts, Tile's repeats, ...) that input must be a constant (ctx.requireValue).
//
// The kernels in src/interp/kernels/TensorOps.cpp trust the shapes these rules compute
// (evaluateNode runs the rule first), so every check on shapes and attributes lives here.

#include "leip/ir/OpRegistry.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <set>

namespace leip::ir {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

std::string listToString(const std::vector<int64_t> &values) { return shapeToString(values); }

TensorType typed(DType dtype, Shape shape) { return TensorType{dtype, std::move(shape), {}}; }

/// a * b, failing instead of overflowing (dims are never negative here).
int64_t mulDims(const ShapeContext &ctx, int64_t a, int64_t b) {
  int64_t out;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out))
    ctx.fail("dimension " + str(a) + " * " + str(b) + " overflows or is negative");
  return out;
}

/// Element count of a shape computed by a rule; fails (naming the node) instead of
/// overflowing or accepting negative dims.
int64_t countOf(const ShapeContext &ctx, const Shape &shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) ctx.fail("shape " + shapeToString(shape) + " has a negative dimension");
    count = mulDims(ctx, count, dim);
  }
  return count;
}

/// The values of a constant integer input that must be a scalar or a 1-D list
/// (Reshape's shape, Slice's starts, Tile's repeats, ...).
std::vector<int64_t> constInts(const ShapeContext &ctx, size_t i, const char *what) {
  const Tensor &t = ctx.requireValue(i, what);
  if (t.dtype() != DType::I64 && t.dtype() != DType::I32)
    ctx.fail(std::string("input ") + str(static_cast<int64_t>(i)) + " (" + what + ") must be int64 or int32, got " +
             t.type().toString());
  if (t.rank() > 1)
    ctx.fail(std::string("input ") + str(static_cast<int64_t>(i)) + " (" + what + ") must be 1-D, got " +
             t.type().toString());
  return t.toInt64Vector();
}

/// A constant scalar (or one-element tensor) input.
const Tensor &constScalar(const ShapeContext &ctx, size_t i, const char *what) {
  const Tensor &t = ctx.requireValue(i, what);
  if (t.numElements() != 1 || t.rank() > 1)
    ctx.fail(std::string("input ") + str(static_cast<int64_t>(i)) + " (" + what + ") must be a scalar, got " +
             t.type().toString());
  return t;
}

void requireIndexType(const ShapeContext &ctx, size_t i, const char *what) {
  DType d = ctx.input(i).dtype;
  if (d != DType::I64 && d != DType::I32)
    ctx.fail(std::string("input ") + str(static_cast<int64_t>(i)) + " (" + what + ") must be int64 or int32, got " +
             ctx.input(i).toString());
}

void requireRankAtLeast(const ShapeContext &ctx, size_t i, int64_t rank) {
  if (ctx.input(i).rank() < rank)
    ctx.fail("input " + str(static_cast<int64_t>(i)) + " must have rank >= " + str(rank) + ", got " +
             ctx.input(i).toString());
}

/// Normalizes a list of axes against `rank`, failing on out-of-range or repeated axes.
std::vector<int64_t> normalizeAxes(const ShapeContext &ctx, const std::vector<int64_t> &axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank)
      ctx.fail("axis " + str(axis) + " is out of range for rank " + str(rank));
    int64_t a = axis < 0 ? axis + rank : axis;
    if (seen[static_cast<size_t>(a)]) ctx.fail("axis " + str(axis) + " appears more than once in " + listToString(axes));
    seen[static_cast<size_t>(a)] = true;
    out.push_back(a);
  }
  return out;
}

/// The same as normalizeAxis but for a single axis where rank 0 is not acceptable.
int64_t axisOf(const ShapeContext &ctx, int64_t axis, int64_t rank) {
  if (rank < 1) ctx.fail("needs an input of rank >= 1");
  return normalizeAxis(ctx, axis, rank);
}

// --- Reshape family -----------------------------------------------------------------------

std::vector<TensorType> inferFlatten(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  int64_t rank = in.rank();
  int64_t axis = ctx.attrs().getInt("axis", 1);
  if (axis < -rank || axis > rank) ctx.fail("axis " + str(axis) + " is out of range [" + str(-rank) + ", " + str(rank) + "]");
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t &side = i < axis ? outer : inner;
    side = mulDims(ctx, side, in.shape[i]);
  }
  return {typed(in.dtype, {outer, inner})};
}

std::vector<TensorType> inferReshape(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  std::vector<int64_t> requested = constInts(ctx, 1, "shape");
  bool allowZero = ctx.attrs().getInt("allowzero", 0) != 0;
  Shape out = requested;
  int64_t inferred = -1;
  bool hasZero = false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (inferred >= 0) ctx.fail("shape " + listToString(requested) + " has more than one -1");
      inferred = static_cast<int64_t>(i);
    } else if (out[i] == 0) {
      hasZero = true;
      if (!allowZero) { // 0 copies the input's dim at the same index
        if (static_cast<int64_t>(i) >= in.rank())
          ctx.fail("shape " + listToString(requested) + " has 0 at index " + str(static_cast<int64_t>(i)) +
                   " but the input " + in.toString() + " has no dim there to copy");
        out[i] = in.shape[i];
      }
    } else if (out[i] < -1) {
      ctx.fail("shape " + listToString(requested) + " has invalid dimension " + str(out[i]));
    }
  }
  if (allowZero && hasZero && inferred >= 0)
    ctx.fail("shape " + listToString(requested) + " has both 0 and -1, which allowzero=1 forbids");
  int64_t total = countOf(ctx, in.shape);
  if (inferred >= 0) {
    int64_t known = 1;
    for (size_t i = 0; i < out.size(); ++i)
      if (static_cast<int64_t>(i) != inferred) known = mulDims(ctx, known, out[i]);
    if (known == 0 || total % known != 0)
      ctx.fail("cannot reshape " + in.toString() + " to " + listToString(requested) +
               ": the -1 dimension cannot be inferred");
    out[static_cast<size_t>(inferred)] = total / known;
  }
  if (countOf(ctx, out) != total)
    ctx.fail("cannot reshape " + in.toString() + " (" + str(total) + " elements) to " + shapeToString(out) +
             " (requested " + listToString(requested) + ")");
  return {typed(in.dtype, out)};
}

std::vector<TensorType> inferSqueeze(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  std::vector<int64_t> axes;
  if (ctx.hasInput(1)) axes = normalizeAxes(ctx, constInts(ctx, 1, "axes"), in.rank());
  // No (or empty) axes: drop every dimension of size 1.
  std::vector<bool> drop(in.shape.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < in.shape.size(); ++i) drop[i] = in.shape[i] == 1;
  } else {
    for (int64_t a : axes) {
      if (in.shape[a] != 1)
        ctx.fail("cannot squeeze axis " + str(a) + " of " + in.toString() + ": its size is not 1");
      drop[a] = true;
    }
  }
  Shape out;
  for (size_t i = 0; i < in.shape.size(); ++i)
    if (!drop[i]) out.push_back(in.shape[i]);
  return {typed(in.dtype, out)};
}

std::vector<TensorType> inferUnsqueeze(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  std::vector<int64_t> rawAxes = constInts(ctx, 1, "axes");
  // Axes refer to the output, whose rank is the input's plus one per axis.
  int64_t outRank = in.rank() + static_cast<int64_t>(rawAxes.size());
  std::vector<int64_t> axes = normalizeAxes(ctx, rawAxes, outRank);
  std::vector<bool> inserted(static_cast<size_t>(outRank), false);
  for (int64_t a : axes) inserted[a] = true;
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < outRank; ++i) out.push_back(inserted[i] ? 1 : in.shape[next++]);
  return {typed(in.dtype, out)};
}

std::vector<TensorType> inferTranspose(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  int64_t rank = in.rank();
  std::vector<int64_t> perm = ctx.attrs().getInts("perm");
  if (!ctx.attrs().has("perm"))
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != rank)
    ctx.fail("perm " + listToString(perm) + " must have " + str(rank) + " entries for input " + in.toString());
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) ctx.fail("perm " + listToString(perm) + " is not a permutation of 0.." + str(rank - 1));
    seen[p] = true;
    out.push_back(in.shape[p]);
  }
  return {typed(in.dtype, out)};
}

// --- Concat / Split -----------------------------------------------------------------------

std::vector<TensorType> inferConcat(const ShapeContext &ctx) {
  const TensorType &first = ctx.input(0);
  int64_t axis = axisOf(ctx, ctx.attrs().getInt("axis", ctx.node().describe()), first.rank());
  Shape out = first.shape;
  out[axis] = 0;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    const TensorType &in = ctx.input(i);
    if (in.dtype != first.dtype || in.rank() != first.rank())
      ctx.fail("input " + str(static_cast<int64_t>(i)) + " " + in.toString() + " does not match input 0 " +
               first.toString() + " in dtype and rank");
    for (int64_t d = 0; d < first.rank(); ++d)
      if (d != axis && in.shape[d] != first.shape[d])
        ctx.fail("input " + str(static_cast<int64_t>(i)) + " " + in.toString() + " differs from input 0 " +
                 first.toString() + " outside axis " + str(axis));
    if (__builtin_add_overflow(out[axis], in.shape[axis], &out[axis])) ctx.fail("concatenated size overflows");
  }
  return {typed(first.dtype, out)};
}

std::vector<TensorType> inferSplit(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  int64_t axis = axisOf(ctx, ctx.attrs().getInt("axis", 0), in.rank());
  auto parts = static_cast<int64_t>(ctx.node().numOutputs());
  int64_t dim = in.shape[axis];
  std::vector<int64_t> sizes;
  if (ctx.hasInput(1)) {
    sizes = constInts(ctx, 1, "split");
    if (static_cast<int64_t>(sizes.size()) != parts)
      ctx.fail("split " + listToString(sizes) + " has " + str(static_cast<int64_t>(sizes.size())) +
               " entries but the node has " + str(parts) + " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) ctx.fail("split " + listToString(sizes) + " has a negative size");
      if (__builtin_add_overflow(sum, s, &sum)) ctx.fail("split sizes overflow");
    }
    if (sum != dim)
      ctx.fail("split " + listToString(sizes) + " sums to " + str(sum) + " but axis " + str(axis) + " of " +
               in.toString() + " has size " + str(dim));
  } else if (ctx.attrs().has("num_outputs")) {
    // Opset-18 form: ceil-sized chunks, the last one may be smaller.
    int64_t n = ctx.attrs().getInt("num_outputs", 0);
    if (n != parts || n < 1) ctx.fail("num_outputs=" + str(n) + " does not match the node's " + str(parts) + " outputs");
    int64_t chunk = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
    if (chunk * (n - 1) >= dim && dim > 0)
      ctx.fail("cannot split size " + str(dim) + " into " + str(n) + " non-empty chunks");
  } else {
    // Opset 13-17: equal parts, one per output; the size must divide evenly.
    if (parts < 1) ctx.fail("needs at least one output");
    if (dim % parts != 0)
      ctx.fail("axis " + str(axis) + " of " + in.toString() + " (size " + str(dim) + ") cannot be split into " +
               str(parts) + " equal parts");
    sizes.assign(static_cast<size_t>(parts), dim / parts);
  }
  std::vector<TensorType> out;
  for (int64_t s : sizes) {
    Shape shape = in.shape;
    shape[axis] = s;
    out.push_back(typed(in.dtype, shape));
  }
  return out;
}

// --- Slice / Pad --------------------------------------------------------------------------

std::vector<TensorType> inferSlice(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  int64_t rank = in.rank();
  std::vector<int64_t> starts = constInts(ctx, 1, "starts");
  std::vector<int64_t> ends = constInts(ctx, 2, "ends");
  if (starts.size() != ends.size())
    ctx.fail("starts " + listToString(starts) + " and ends " + listToString(ends) + " differ in length");
  std::vector<int64_t> axes;
  if (ctx.hasInput(3)) {
    axes = normalizeAxes(ctx, constInts(ctx, 3, "axes"), rank);
  } else {
    if (static_cast<int64_t>(starts.size()) > rank)
      ctx.fail("starts " + listToString(starts) + " has more entries than the input's rank " + str(rank));
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (axes.size() != starts.size())
    ctx.fail("axes has " + str(static_cast<int64_t>(axes.size())) + " entries, starts has " +
             str(static_cast<int64_t>(starts.size())));
  std::vector<int64_t> steps(starts.size(), 1);
  if (ctx.hasInput(4)) {
    steps = constInts(ctx, 4, "steps");
    if (steps.size() != starts.size())
      ctx.fail("steps " + listToString(steps) + " must have as many entries as starts " + listToString(starts));
  }
  Shape out = in.shape;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t dim = in.shape[axes[i]];
    int64_t step = steps[i];
    if (step == 0) ctx.fail("steps " + listToString(steps) + " contains 0");
    // ONNX clamping: negative values count from the end; then clamp to the valid range,
    // which for negative steps is [0, dim-1] for starts and [-1, dim-1] for ends.
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count;
    if (dim == 0) {
      count = 0;
    } else if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      int64_t magnitude = step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
      count = start > end ? (start - end - 1) / magnitude + 1 : 0;
    }
    out[axes[i]] = count;
  }
  return {typed(in.dtype, out)};
}

std::vector<TensorType> inferPad(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  int64_t rank = in.rank();
  std::string mode = ctx.attrs().getString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    ctx.fail("mode '" + mode + "' is not supported (expected constant, reflect or edge)");
  std::vector<int64_t> pads = constInts(ctx, 1, "pads");
  // Opset 18's optional axes input names the axes that pads cover.
  std::vector<int64_t> axes;
  if (ctx.hasInput(3)) {
    axes = normalizeAxes(ctx, constInts(ctx, 3, "axes"), rank);
  } else {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size())
    ctx.fail("pads " + listToString(pads) + " must have " + str(2 * static_cast<int64_t>(axes.size())) +
             " entries for input " + in.toString());
  if (ctx.hasInput(2)) {
    const TensorType &value = ctx.input(2);
    if (value.dtype != in.dtype) ctx.fail("constant_value " + value.toString() + " must have the dtype of the data " + in.toString());
    if (ir::isStatic(value.shape) && countOf(ctx, value.shape) > 1)
      ctx.fail("constant_value must be a scalar, got " + value.toString());
  }
  Shape out = in.shape;
  size_t n = axes.size();
  for (size_t i = 0; i < n; ++i) {
    int64_t dim = in.shape[axes[i]];
    int64_t begin = pads[i], end = pads[i + n];
    int64_t size;
    if (__builtin_add_overflow(dim, begin, &size) || __builtin_add_overflow(size, end, &size))
      ctx.fail("pads " + listToString(pads) + " overflow");
    if (size < 0)
      ctx.fail("pads " + listToString(pads) + " crop axis " + str(axes[i]) + " of " + in.toString() + " below size 0");
    // Reflect and edge need something left to copy from after negative pads crop.
    int64_t kept = dim + std::min<int64_t>(begin, 0) + std::min<int64_t>(end, 0);
    if (mode != "constant" && kept <= 0 && size > 0)
      ctx.fail("mode '" + mode + "' cannot pad axis " + str(axes[i]) + " of " + in.toString() + ", it has no elements");
    out[axes[i]] = size;
  }
  countOf(ctx, out);
  return {typed(in.dtype, out)};
}

// --- Shape, Size, ConstantOfShape, Range --------------------------------------------------

std::vector<TensorType> inferShape(const ShapeContext &ctx) {
  int64_t rank = ctx.input(0).rank();
  // Opset 15: start/end select a range of dims, negative counts from the back, clamped.
  auto clampIndex = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  int64_t start = clampIndex(ctx.attrs().getInt("start", 0));
  int64_t end = ctx.attrs().has("end") ? clampIndex(ctx.attrs().getInt("end", rank)) : rank;
  return {typed(DType::I64, {std::max<int64_t>(end - start, 0)})};
}

std::vector<TensorType> inferSize(const ShapeContext &ctx) {
  ctx.input(0);
  return {typed(DType::I64, {})};
}

std::vector<TensorType> inferConstantOfShape(const ShapeContext &ctx) {
  std::vector<int64_t> shape = constInts(ctx, 0, "shape");
  for (int64_t d : shape)
    if (d < 0) ctx.fail("shape " + listToString(shape) + " has a negative dimension");
  countOf(ctx, shape);
  DType dtype = DType::F32;
  if (ctx.attrs().has("value")) {
    const Tensor &value = ctx.attrs().getTensor("value", ctx.node().describe());
    if (value.numElements() != 1) ctx.fail("attribute 'value' must hold exactly one element, got " + value.type().toString());
    dtype = value.dtype();
  }
  return {typed(dtype, shape)};
}

std::vector<TensorType> inferRange(const ShapeContext &ctx) {
  DType dtype = ctx.input(0).dtype;
  if (dtype != DType::F32 && dtype != DType::I32 && dtype != DType::I64)
    ctx.fail("start must be f32, i32 or i64, got " + ctx.input(0).toString());
  const char *names[] = {"start", "limit", "delta"};
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input(i).dtype != dtype)
      ctx.fail(std::string(names[i]) + " " + ctx.input(i).toString() + " must have the dtype of start " +
               ctx.input(0).toString());
    constScalar(ctx, i, names[i]);
  }
  int64_t count;
  if (dtype == DType::F32) {
    float start = static_cast<float>(ctx.value(0)->getAsDouble(0));
    float limit = static_cast<float>(ctx.value(1)->getAsDouble(0));
    float delta = static_cast<float>(ctx.value(2)->getAsDouble(0));
    if (delta == 0.0f) ctx.fail("delta must not be 0");
    // As ONNX Runtime: the difference in float, the division in double.
    double n = std::ceil(static_cast<double>(limit - start) / delta);
    if (std::isnan(n)) ctx.fail("start, limit and delta must be finite");
    if (n > static_cast<double>(INT64_C(1) << 40)) ctx.fail("the range has too many elements");
    count = n > 0 ? static_cast<int64_t>(n) : 0;
  } else {
    int64_t start = ctx.value(0)->getAsInt64(0), limit = ctx.value(1)->getAsInt64(0),
            delta = ctx.value(2)->getAsInt64(0);
    if (delta == 0) ctx.fail("delta must not be 0");
    __int128 diff = static_cast<__int128>(limit) - start;
    __int128 step = delta;
    __int128 n = 0;
    if ((diff > 0 && step > 0) || (diff < 0 && step < 0)) {
      if (diff < 0) diff = -diff, step = -step;
      n = (diff + step - 1) / step;
    }
    if (n > (static_cast<__int128>(1) << 40)) ctx.fail("the range has too many elements");
    count = static_cast<int64_t>(n);
  }
  return {typed(dtype, {count})};
}

// --- Broadcast-like: Expand, Tile ---------------------------------------------------------

std::vector<TensorType> inferExpand(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  std::vector<int64_t> shape = constInts(ctx, 1, "shape");
  for (int64_t d : shape)
    if (d < 0) ctx.fail("shape " + listToString(shape) + " has a negative dimension");
  std::optional<Shape> out = broadcastShapes(in.shape, shape);
  if (!out) ctx.fail("cannot expand " + in.toString() + " to shape " + listToString(shape) + ": dimensions are incompatible");
  countOf(ctx, *out);
  return {typed(in.dtype, *out)};
}

std::vector<TensorType> inferTile(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  std::vector<int64_t> repeats = constInts(ctx, 1, "repeats");
  if (static_cast<int64_t>(repeats.size()) != in.rank())
    ctx.fail("repeats " + listToString(repeats) + " must have one entry per dimension of " + in.toString());
  Shape out = in.shape;
  for (size_t i = 0; i < out.size(); ++i) {
    if (repeats[i] < 0) ctx.fail("repeats " + listToString(repeats) + " has a negative entry");
    out[i] = mulDims(ctx, out[i], repeats[i]);
  }
  countOf(ctx, out);
  return {typed(in.dtype, out)};
}

// --- Gather / Scatter ---------------------------------------------------------------------

std::vector<TensorType> inferGather(const ShapeContext &ctx) {
  const TensorType &data = ctx.input(0);
  requireIndexType(ctx, 1, "indices");
  const TensorType &indices = ctx.input(1);
  int64_t axis = axisOf(ctx, ctx.attrs().getInt("axis", 0), data.rank());
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), indices.shape.begin(), indices.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  return {typed(data.dtype, out)};
}

std::vector<TensorType> inferGatherElements(const ShapeContext &ctx) {
  const TensorType &data = ctx.input(0);
  requireIndexType(ctx, 1, "indices");
  const TensorType &indices = ctx.input(1);
  int64_t axis = axisOf(ctx, ctx.attrs().getInt("axis", 0), data.rank());
  if (indices.rank() != data.rank())
    ctx.fail("indices " + indices.toString() + " must have the rank of data " + data.toString());
  for (int64_t d = 0; d < data.rank(); ++d)
    if (d != axis && indices.shape[d] > data.shape[d])
      ctx.fail("indices " + indices.toString() + " is larger than data " + data.toString() + " on axis " + str(d));
  return {typed(data.dtype, indices.shape)};
}

std::vector<TensorType> inferGatherND(const ShapeContext &ctx) {
  const TensorType &data = ctx.input(0);
  requireIndexType(ctx, 1, "indices");
  const TensorType &indices = ctx.input(1);
  int64_t b = ctx.attrs().getInt("batch_dims", 0);
  int64_t r = data.rank(), q = indices.rank();
  if (r < 1 || q < 1) ctx.fail("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q)) ctx.fail("batch_dims " + str(b) + " must be in [0, min(rank(data), rank(indices)))");
  for (int64_t d = 0; d < b; ++d)
    if (data.shape[d] != indices.shape[d])
      ctx.fail("batch dimension " + str(d) + " differs between data " + data.toString() + " and indices " + indices.toString());
  int64_t m = indices.shape[q - 1];
  if (m < 1 || m > r - b)
    ctx.fail("the last dimension of indices " + indices.toString() + " must be in [1, " + str(r - b) + "]");
  Shape out(indices.shape.begin(), indices.shape.end() - 1);
  out.insert(out.end(), data.shape.begin() + b + m, data.shape.end());
  return {typed(data.dtype, out)};
}

/// What ScatterND and ScatterElements both require: integer indices, a known reduction
/// (numeric data unless "none"), and updates of the data's dtype.
void checkScatterInputs(const ShapeContext &ctx) {
  const TensorType &data = ctx.input(0);
  const TensorType &updates = ctx.input(2);
  requireIndexType(ctx, 1, "indices");
  std::string reduction = ctx.attrs().getString("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" && reduction != "max" && reduction != "min")
    ctx.fail("reduction '" + reduction + "' is not supported (expected none, add, mul, max or min)");
  if (reduction != "none" && data.dtype == DType::Bool) ctx.fail("reduction '" + reduction + "' needs numeric data");
  if (updates.dtype != data.dtype)
    ctx.fail("updates " + updates.toString() + " must have the dtype of data " + data.toString());
}

std::vector<TensorType> inferScatterND(const ShapeContext &ctx) {
  const TensorType &data = ctx.input(0);
  const TensorType &indices = ctx.input(1);
  const TensorType &updates = ctx.input(2);
  checkScatterInputs(ctx);
  int64_t r = data.rank(), q = indices.rank();
  if (r < 1 || q < 1) ctx.fail("data and indices must have rank >= 1");
  int64_t k = indices.shape[q - 1];
  if (k < 1 || k > r) ctx.fail("the last dimension of indices " + indices.toString() + " must be in [1, " + str(r) + "]");
  Shape expected(indices.shape.begin(), indices.shape.end() - 1);
  expected.insert(expected.end(), data.shape.begin() + k, data.shape.end());
  if (updates.shape != expected)
    ctx.fail("updates " + updates.toString() + " must have shape " + shapeToString(expected));
  return {typed(data.dtype, data.shape)};
}

std::vector<TensorType> inferScatterElements(const ShapeContext &ctx) {
  const TensorType &data = ctx.input(0);
  const TensorType &indices = ctx.input(1);
  const TensorType &updates = ctx.input(2);
  checkScatterInputs(ctx);
  int64_t axis = axisOf(ctx, ctx.attrs().getInt("axis", 0), data.rank());
  if (indices.rank() != data.rank())
    ctx.fail("indices " + indices.toString() + " must have the rank of data " + data.toString());
  if (updates.shape != indices.shape)
    ctx.fail("updates " + updates.toString() + " must have the shape of indices " + indices.toString());
  // Element (.., i_d, ..) of updates goes to data position i_d on every axis d but `axis`.
  for (int64_t d = 0; d < data.rank(); ++d)
    if (d != axis && indices.shape[d] > data.shape[d])
      ctx.fail("indices " + indices.toString() + " is larger than data " + data.toString() + " on axis " + str(d));
  return {typed(data.dtype, data.shape)};
}

// --- DepthToSpace / SpaceToDepth ----------------------------------------------------------

int64_t blockSizeOf(const ShapeContext &ctx) {
  int64_t b = ctx.attrs().getInt("blocksize", ctx.node().describe());
  if (b < 1) ctx.fail("blocksize " + str(b) + " must be positive");
  if (ctx.input(0).rank() != 4) ctx.fail("input must be 4-D (NCHW), got " + ctx.input(0).toString());
  return b;
}

std::vector<TensorType> inferDepthToSpace(const ShapeContext &ctx) {
  int64_t b = blockSizeOf(ctx);
  const TensorType &in = ctx.input(0);
  std::string mode = ctx.attrs().getString("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") ctx.fail("mode '" + mode + "' must be DCR or CRD");
  int64_t bb = mulDims(ctx, b, b);
  if (in.shape[1] % bb != 0)
    ctx.fail("channels of " + in.toString() + " are not divisible by blocksize^2 = " + str(bb));
  return {typed(in.dtype, {in.shape[0], in.shape[1] / bb, mulDims(ctx, in.shape[2], b), mulDims(ctx, in.shape[3], b)})};
}

std::vector<TensorType> inferSpaceToDepth(const ShapeContext &ctx) {
  int64_t b = blockSizeOf(ctx);
  const TensorType &in = ctx.input(0);
  if (in.shape[2] % b != 0 || in.shape[3] % b != 0)
    ctx.fail("height and width of " + in.toString() + " must be divisible by blocksize " + str(b));
  return {typed(in.dtype, {in.shape[0], mulDims(ctx, in.shape[1], mulDims(ctx, b, b)), in.shape[2] / b, in.shape[3] / b})};
}

// --- EyeLike, ReverseSequence -------------------------------------------------------------

std::vector<TensorType> inferEyeLike(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  if (in.rank() != 2) ctx.fail("input must be 2-D, got " + in.toString());
  DType dtype = in.dtype;
  if (ctx.attrs().has("dtype")) dtype = dtypeFromOnnx(ctx, ctx.attrs().getInt("dtype", ctx.node().describe()));
  ctx.attrs().getInt("k", 0); // an int (a wrong kind fails here)
  return {typed(dtype, in.shape)};
}

std::vector<TensorType> inferReverseSequence(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  requireRankAtLeast(ctx, 0, 2);
  int64_t batchAxis = ctx.attrs().getInt("batch_axis", 1);
  int64_t timeAxis = ctx.attrs().getInt("time_axis", 0);
  if ((batchAxis != 0 && batchAxis != 1) || (timeAxis != 0 && timeAxis != 1) || batchAxis == timeAxis)
    ctx.fail("attributes batch_axis (" + str(batchAxis) + ") and time_axis (" + str(timeAxis) +
             ") must be 0 and 1 in either order");
  const TensorType &lens = ctx.input(1);
  if (lens.dtype != DType::I64 || lens.shape != Shape{in.shape[batchAxis]})
    ctx.fail("sequence_lens must be i64 with one entry per batch element ([" + str(in.shape[batchAxis]) + "]), got " +
             lens.toString());
  return {in};
}

// --- Trilu, OneHot, TopK ------------------------------------------------------------------

std::vector<TensorType> inferTrilu(const ShapeContext &ctx) {
  requireRankAtLeast(ctx, 0, 2);
  if (ctx.hasInput(1)) {
    const TensorType &k = ctx.input(1);
    if (k.dtype != DType::I64) ctx.fail("k must be an int64 scalar, got " + k.toString());
    if (ir::isStatic(k.shape) && countOf(ctx, k.shape) != 1) ctx.fail("k must be a scalar, got " + k.toString());
  }
  return {ctx.input(0)};
}

std::vector<TensorType> inferOneHot(const ShapeContext &ctx) {
  const TensorType &indices = ctx.input(0);
  if (indices.dtype == DType::Bool) ctx.fail("indices must be numeric, got " + indices.toString());
  const Tensor &depthValue = constScalar(ctx, 1, "depth");
  if (depthValue.dtype() == DType::Bool) ctx.fail("depth must be numeric");
  int64_t depth = depthValue.getAsInt64(0);
  if (depth < 1) ctx.fail("depth " + str(depth) + " must be positive");
  const TensorType &values = ctx.input(2);
  if (values.shape != Shape{2}) ctx.fail("values must have shape [2] (off, on), got " + values.toString());
  int64_t rank = indices.rank() + 1;
  int64_t axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), rank);
  Shape out = indices.shape;
  out.insert(out.begin() + axis, depth);
  countOf(ctx, out);
  return {typed(values.dtype, out)};
}

std::vector<TensorType> inferTopK(const ShapeContext &ctx) {
  const TensorType &in = ctx.input(0);
  if (in.dtype == DType::Bool) ctx.fail("input must be numeric, got " + in.toString());
  int64_t axis = axisOf(ctx, ctx.attrs().getInt("axis", -1), in.rank());
  const Tensor &kValue = constScalar(ctx, 1, "K");
  if (kValue.dtype() != DType::I64) ctx.fail("K must be int64, got " + kValue.type().toString());
  int64_t k = kValue.getAsInt64(0);
  if (k < 0 || k > in.shape[axis])
    ctx.fail("K = " + str(k) + " must be in [0, " + str(in.shape[axis]) + "] for input " + in.toString());
  Shape out = in.shape;
  out[axis] = k;
  return {typed(in.dtype, out), typed(DType::I64, out)};
}

} // namespace

void registerTensorOps(OpTable &table) {
  table["Flatten"] = {inferFlatten, 1, 1};
  table["Reshape"] = {inferReshape, 2, 2};
  table["Squeeze"] = {inferSqueeze, 1, 2};
  table["Unsqueeze"] = {inferUnsqueeze, 2, 2};
  table["Transpose"] = {inferTranspose, 1, 1};
  table["Concat"] = {inferConcat, 1, INT_MAX};
  table["Split"] = {inferSplit, 1, 2};
  table["Slice"] = {inferSlice, 3, 5};
  table["Pad"] = {inferPad, 2, 4};
  table["Shape"] = {inferShape, 1, 1};
  table["Size"] = {inferSize, 1, 1};
  table["ConstantOfShape"] = {inferConstantOfShape, 1, 1};
  table["Range"] = {inferRange, 3, 3};
  table["Expand"] = {inferExpand, 2, 2};
  table["Tile"] = {inferTile, 2, 2};
  table["Gather"] = {inferGather, 2, 2};
  table["GatherElements"] = {inferGatherElements, 2, 2};
  table["GatherND"] = {inferGatherND, 2, 2};
  table["ScatterND"] = {inferScatterND, 3, 3};
  table["ScatterElements"] = {inferScatterElements, 3, 3};
  table["DepthToSpace"] = {inferDepthToSpace, 1, 1};
  table["SpaceToDepth"] = {inferSpaceToDepth, 1, 1};
  table["Trilu"] = {inferTrilu, 1, 2};
  table["OneHot"] = {inferOneHot, 3, 3};
  table["TopK"] = {inferTopK, 2, 2};
  table["EyeLike"] = {inferEyeLike, 1, 1};
  table["ReverseSequence"] = {inferReverseSequence, 2, 2};
}

} // namespace leip::ir
