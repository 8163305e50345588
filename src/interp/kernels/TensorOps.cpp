// Reference kernels for the tensor / data-movement ops. They move elements as opaque bytes
// of dtypeSize(dtype), so every dtype of the IR works the same way; only TopK (ordering)
// and the reductions of ScatterND / ScatterElements (arithmetic) look at the values.
//
// evaluateNode runs the op's shape rule (src/ir/ops/TensorOps.cpp) before the kernel, so
// attributes, axes and shapes are already validated and the outputs are allocated with
// their final shapes. Kernels still check what only run-time data can break: index values.
//
// Most ops are expressed with one helper, gatherAxes(): every output coordinate along each
// axis maps to an element offset in the input, and the output is filled in row-major order
// from the sum of those offsets. Transpose, Slice, Expand, Tile, Pad, DepthToSpace and
// SpaceToDepth differ only in the offset tables they build.

#include "leip/interp/Kernels.h"

#include "KernelUtil.h"
#include "leip/ir/OpRegistry.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>

namespace leip::interp {

namespace {

using ir::DType;
using ir::Shape;
using ir::Tensor;

std::string str(int64_t v) { return std::to_string(v); }

const std::byte *bytesOf(const Tensor &t) { return static_cast<const std::byte *>(t.rawData()); }
std::byte *bytesOf(Tensor &t) { return static_cast<std::byte *>(t.rawData()); }
size_t elemSize(const Tensor &t) { return ir::dtypeSize(t.dtype()); }

int64_t product(const Shape &shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
  return p;
}

/// Normalizes an axis the shape rule already validated.
int64_t axisFor(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

/// An index value from a Gather-like op: negative counts from the end; out-of-range values
/// fail the node, naming the index.
int64_t checkedIndex(const KernelContext &ctx, int64_t index, int64_t dim, const char *what) {
  if (index < -dim || index >= dim)
    ctx.fail(std::string(what) + " value " + str(index) + " is out of range [" + str(-dim) + ", " + str(dim - 1) + "]");
  return index < 0 ? index + dim : index;
}

// --- The shared N-d walker ------------------------------------------------------------------

using detail::AxisOffsets;
using detail::gatherAxes;
using detail::kFill;

std::vector<int64_t> linearOffsets(int64_t count, int64_t stride) {
  std::vector<int64_t> offs(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) offs[i] = i * stride;
  return offs;
}

template <size_t N> void copyElements(std::byte *dst, const std::byte *src, const int64_t *offs, size_t n) {
  for (size_t i = 0; i < n; ++i) std::memcpy(dst + i * N, src + offs[i] * static_cast<int64_t>(N), N);
}

class AxisGatherer {
public:
  AxisGatherer(const std::byte *src, std::byte *dst, size_t elemSize, const AxisOffsets &axes, const std::byte *fill)
      : src_(src), dst_(dst), size_(elemSize), axes_(axes), fill_(fill) {}

  void run() {
    if (axes_.empty()) { // a scalar
      std::memcpy(dst_, src_, size_);
      return;
    }
    for (const auto &offs : axes_)
      if (offs.empty()) return; // nothing to write
    const auto &last = axes_.back();
    innerContiguous_ = true;
    for (size_t i = 0; i < last.size(); ++i)
      if (last[i] == kFill || last[i] != last[0] + static_cast<int64_t>(i)) innerContiguous_ = false;
    walk(0, 0, false);
  }

private:
  void walk(size_t axis, int64_t base, bool filled) {
    const auto &offs = axes_[axis];
    if (axis + 1 < axes_.size()) {
      for (int64_t off : offs) walk(axis + 1, off == kFill ? base : base + off, filled || off == kFill);
      return;
    }
    size_t n = offs.size();
    if (filled) {
      for (size_t i = 0; i < n; ++i) std::memcpy(dst_ + i * size_, fill_, size_);
    } else if (innerContiguous_) {
      std::memcpy(dst_, src_ + (base + offs[0]) * static_cast<int64_t>(size_), n * size_);
    } else if (fill_) { // Pad: some coordinates of this row may be outside the input
      for (size_t i = 0; i < n; ++i)
        std::memcpy(dst_ + i * size_, offs[i] == kFill ? fill_ : src_ + (base + offs[i]) * static_cast<int64_t>(size_),
                    size_);
    } else {
      const std::byte *row = src_ + base * static_cast<int64_t>(size_);
      switch (size_) { // fixed-size copies let the compiler use plain loads and stores
      case 1: copyElements<1>(dst_, row, offs.data(), n); break;
      case 2: copyElements<2>(dst_, row, offs.data(), n); break;
      case 4: copyElements<4>(dst_, row, offs.data(), n); break;
      default: copyElements<8>(dst_, row, offs.data(), n); break;
      }
    }
    dst_ += n * size_;
  }

  const std::byte *src_;
  std::byte *dst_;
  size_t size_;
  const AxisOffsets &axes_;
  const std::byte *fill_;
  bool innerContiguous_ = false;
};

// --- Reshape family: the bytes do not change ----------------------------------------------

void copyBytes(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  if (out.byteSize() != in.byteSize()) ctx.fail("internal: output size differs from input size");
  if (in.byteSize()) std::memcpy(out.rawData(), in.rawData(), in.byteSize());
}

void transposeKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  int64_t rank = in.rank();
  std::vector<int64_t> perm = ctx.attrs().getInts("perm");
  if (!ctx.attrs().has("perm"))
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  std::vector<int64_t> strides = ir::stridesOf(in.shape());
  AxisOffsets axes;
  for (int64_t p : perm) axes.push_back(linearOffsets(in.shape()[p], strides[p]));
  gatherAxes(in, ctx.output(0), axes);
}

// --- Concat / Split -----------------------------------------------------------------------

void concatKernel(KernelContext &ctx) {
  Tensor &out = ctx.output(0);
  int64_t axis = axisFor(ctx.attrs().getInt("axis", 0), out.rank());
  int64_t outer = product(out.shape(), 0, axis);
  size_t inner = static_cast<size_t>(product(out.shape(), axis + 1, out.shape().size())) * elemSize(out);
  std::byte *dst = bytesOf(out);
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
      const Tensor &in = ctx.input(i);
      size_t chunk = static_cast<size_t>(in.shape()[axis]) * inner;
      if (chunk) std::memcpy(dst, bytesOf(in) + o * chunk, chunk);
      dst += chunk;
    }
}

void splitKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  int64_t axis = axisFor(ctx.attrs().getInt("axis", 0), in.rank());
  int64_t outer = product(in.shape(), 0, axis);
  size_t inner = static_cast<size_t>(product(in.shape(), axis + 1, in.shape().size())) * elemSize(in);
  const std::byte *src = bytesOf(in);
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < ctx.numOutputs(); ++i) {
      Tensor &out = ctx.output(i);
      size_t chunk = static_cast<size_t>(out.shape()[axis]) * inner;
      if (chunk) std::memcpy(bytesOf(out) + o * chunk, src, chunk);
      src += chunk;
    }
}

// --- Slice / Pad --------------------------------------------------------------------------

void sliceKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  int64_t rank = in.rank();
  std::vector<int64_t> starts = ctx.input(1).toInt64Vector();
  std::vector<int64_t> axes(starts.size());
  if (ctx.hasInput(3)) {
    axes = ctx.input(3).toInt64Vector();
  } else {
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<int64_t> steps = ctx.hasInput(4) ? ctx.input(4).toInt64Vector() : std::vector<int64_t>(starts.size(), 1);
  std::vector<int64_t> strides = ir::stridesOf(in.shape());
  // Untouched axes are copied whole; each sliced axis starts at its clamped start
  // (the rule computed the output length) and moves by its step.
  std::vector<int64_t> first(rank, 0), step(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axisFor(axes[i], rank);
    int64_t dim = in.shape()[a];
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t hi = steps[i] > 0 ? dim : dim - 1;
    first[a] = std::max<int64_t>(0, std::min(s, hi));
    step[a] = steps[i];
  }
  AxisOffsets offsets(rank);
  for (int64_t a = 0; a < rank; ++a) {
    int64_t count = out.shape()[a];
    offsets[a].resize(count);
    for (int64_t j = 0; j < count; ++j) offsets[a][j] = (first[a] + j * step[a]) * strides[a];
  }
  gatherAxes(in, out, offsets);
}

void padKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  int64_t rank = in.rank();
  std::string mode = ctx.attrs().getString("mode", "constant");
  std::vector<int64_t> pads = ctx.input(1).toInt64Vector();
  std::vector<int64_t> axes(static_cast<size_t>(rank));
  if (ctx.hasInput(3)) {
    axes = ctx.input(3).toInt64Vector();
  } else {
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<int64_t> begins(rank, 0), ends(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axisFor(axes[i], rank);
    begins[a] = pads[i];
    ends[a] = pads[i + axes.size()];
  }
  // The fill value: constant_value when given (the rule checked its dtype), zero otherwise.
  std::byte zero[8] = {};
  const std::byte *fill = zero;
  if (ctx.hasInput(2) && ctx.input(2).numElements() > 0) fill = bytesOf(ctx.input(2));
  std::vector<int64_t> strides = ir::stridesOf(in.shape());
  AxisOffsets offsets(rank);
  for (int64_t a = 0; a < rank; ++a) {
    int64_t count = out.shape()[a];
    offsets[a].resize(count);
    for (int64_t o = 0; o < count; ++o) {
      int64_t src = padSourceIndex(o, in.shape()[a], begins[a], ends[a], mode);
      offsets[a][o] = src < 0 ? kFill : src * strides[a];
    }
  }
  gatherAxes(in, out, offsets, fill);
}

// --- Expand / Tile ------------------------------------------------------------------------

void expandKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  int64_t rank = out.rank(), lead = rank - in.rank();
  std::vector<int64_t> strides = ir::stridesOf(in.shape());
  AxisOffsets offsets(rank);
  for (int64_t a = 0; a < rank; ++a) {
    int64_t count = out.shape()[a];
    // Axes the input lacks or has as 1 repeat the same element (stride 0).
    bool broadcast = a < lead || in.shape()[a - lead] == 1;
    offsets[a] = linearOffsets(count, broadcast ? 0 : strides[a - lead]);
  }
  gatherAxes(in, out, offsets);
}

void tileKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  int64_t rank = in.rank();
  std::vector<int64_t> strides = ir::stridesOf(in.shape());
  AxisOffsets offsets(rank);
  for (int64_t a = 0; a < rank; ++a) {
    int64_t dim = in.shape()[a];
    offsets[a].resize(out.shape()[a]);
    for (int64_t o = 0; o < out.shape()[a]; ++o) offsets[a][o] = (o % dim) * strides[a];
  }
  gatherAxes(in, out, offsets);
}

// --- DepthToSpace / SpaceToDepth: a transpose of a 6-D view -------------------------------

void depthToSpaceKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  int64_t b = ctx.attrs().getInt("blocksize", 1);
  bool crd = ctx.attrs().getString("mode", "DCR") == "CRD";
  const Shape &s = in.shape();
  int64_t c = out.shape()[1];
  int64_t sN = s[1] * s[2] * s[3], sC = s[2] * s[3], sH = s[3];
  // The output is the view [N, C', H, b1, W, b2]; input channel = (b1*b + b2)*C' + c (DCR)
  // or c*b*b + b1*b + b2 (CRD).
  AxisOffsets offsets = {linearOffsets(s[0], sN),
                         linearOffsets(c, crd ? b * b * sC : sC),
                         linearOffsets(s[2], sH),
                         linearOffsets(b, crd ? b * sC : b * c * sC),
                         linearOffsets(s[3], 1),
                         linearOffsets(b, crd ? sC : c * sC)};
  gatherAxes(in, out, offsets);
}

void spaceToDepthKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  int64_t b = ctx.attrs().getInt("blocksize", 1);
  const Shape &s = in.shape();
  int64_t sN = s[1] * s[2] * s[3], sC = s[2] * s[3], sH = s[3];
  // The output is the view [N, b1, b2, C, H/b, W/b]; output channel = (b1*b + b2)*C + c.
  AxisOffsets offsets = {linearOffsets(s[0], sN),   linearOffsets(b, sH),          linearOffsets(b, 1),
                         linearOffsets(s[1], sC),   linearOffsets(s[2] / b, b * sH), linearOffsets(s[3] / b, b)};
  gatherAxes(in, out, offsets);
}

// --- Shape, Size, ConstantOfShape, Range --------------------------------------------------

void shapeKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  int64_t rank = in.rank();
  int64_t start = ctx.attrs().getInt("start", 0);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  int64_t *out = ctx.output(0).data<int64_t>();
  for (int64_t i = 0; i < ctx.output(0).numElements(); ++i) out[i] = in.shape()[start + i];
}

void sizeKernel(KernelContext &ctx) { ctx.output(0).data<int64_t>()[0] = ctx.input(0).numElements(); }

void constantOfShapeKernel(KernelContext &ctx) {
  Tensor &out = ctx.output(0);
  if (!ctx.attrs().has("value")) return; // outputs start zeroed: f32 0
  const Tensor &value = ctx.attrs().getTensor("value", ctx.node().describe());
  size_t size = elemSize(out);
  std::byte *dst = bytesOf(out);
  for (int64_t i = 0; i < out.numElements(); ++i) std::memcpy(dst + i * size, bytesOf(value), size);
}

void rangeKernel(KernelContext &ctx) {
  Tensor &out = ctx.output(0);
  int64_t n = out.numElements();
  if (out.dtype() == DType::F32) {
    // numpy's arange: start + i * delta, computed in double and rounded once.
    double start = ctx.input(0).getAsDouble(0), delta = ctx.input(2).getAsDouble(0);
    float *dst = out.data<float>();
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(start + static_cast<double>(i) * delta);
    return;
  }
  // Integers: every value lies between start and limit, so the int64 arithmetic is exact.
  int64_t start = ctx.input(0).getAsInt64(0), delta = ctx.input(2).getAsInt64(0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = start + i * delta;
    if (out.dtype() == DType::I32)
      out.data<int32_t>()[i] = static_cast<int32_t>(v);
    else
      out.data<int64_t>()[i] = v;
  }
}

// --- Gather family ------------------------------------------------------------------------

void gatherKernel(KernelContext &ctx) {
  const Tensor &data = ctx.input(0);
  const Tensor &indicesTensor = ctx.input(1);
  Tensor &out = ctx.output(0);
  int64_t axis = axisFor(ctx.attrs().getInt("axis", 0), data.rank());
  int64_t dim = data.shape()[axis];
  int64_t outer = product(data.shape(), 0, axis);
  size_t inner = static_cast<size_t>(product(data.shape(), axis + 1, data.shape().size())) * elemSize(data);
  std::vector<int64_t> indices = indicesTensor.toInt64Vector();
  for (int64_t &index : indices) index = checkedIndex(ctx, index, dim, "index");
  const std::byte *src = bytesOf(data);
  std::byte *dst = bytesOf(out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t index : indices) {
      if (inner) std::memcpy(dst, src + (o * dim + index) * inner, inner);
      dst += inner;
    }
}

void gatherElementsKernel(KernelContext &ctx) {
  const Tensor &data = ctx.input(0);
  const Tensor &indicesTensor = ctx.input(1);
  Tensor &out = ctx.output(0);
  int64_t rank = data.rank();
  int64_t axis = axisFor(ctx.attrs().getInt("axis", 0), rank);
  std::vector<int64_t> indices = indicesTensor.toInt64Vector();
  std::vector<int64_t> dataStrides = ir::stridesOf(data.shape());
  const Shape &shape = indicesTensor.shape();
  size_t size = elemSize(data);
  std::vector<int64_t> coord(rank, 0);
  for (size_t i = 0; i < indices.size(); ++i) {
    // out[coord] = data[coord with coord[axis] replaced by the index]
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d)
      offset += (d == axis ? checkedIndex(ctx, indices[i], data.shape()[axis], "index") : coord[d]) * dataStrides[d];
    std::memcpy(bytesOf(out) + i * size, bytesOf(data) + offset * static_cast<int64_t>(size), size);
    for (int64_t d = rank - 1; d >= 0 && ++coord[d] == shape[d]; --d) coord[d] = 0; // row-major odometer
  }
}

/// Element offset (within one batch of data) of the index tuple starting at `tuple`.
int64_t tupleOffset(const KernelContext &ctx, const int64_t *tuple, int64_t m, const Shape &shape,
                    const std::vector<int64_t> &strides, int64_t firstDim) {
  int64_t offset = 0;
  for (int64_t j = 0; j < m; ++j)
    offset += checkedIndex(ctx, tuple[j], shape[firstDim + j], "index") * strides[firstDim + j];
  return offset;
}

void gatherNDKernel(KernelContext &ctx) {
  const Tensor &data = ctx.input(0);
  const Tensor &indicesTensor = ctx.input(1);
  Tensor &out = ctx.output(0);
  int64_t b = ctx.attrs().getInt("batch_dims", 0);
  const Shape &ds = data.shape(), &is = indicesTensor.shape();
  int64_t m = is.back();
  int64_t batches = product(is, 0, b);
  int64_t tuplesPerBatch = product(is, b, is.size() - 1);
  int64_t sliceElems = product(ds, b + m, ds.size());
  int64_t batchElems = product(ds, b, ds.size());
  std::vector<int64_t> strides = ir::stridesOf(ds);
  std::vector<int64_t> indices = indicesTensor.toInt64Vector();
  size_t size = elemSize(data), slice = static_cast<size_t>(sliceElems) * size;
  std::byte *dst = bytesOf(out);
  for (int64_t bi = 0; bi < batches; ++bi)
    for (int64_t t = 0; t < tuplesPerBatch; ++t) {
      const int64_t *tuple = indices.data() + (bi * tuplesPerBatch + t) * m;
      int64_t offset = bi * batchElems + tupleOffset(ctx, tuple, m, ds, strides, b);
      if (slice) std::memcpy(dst, bytesOf(data) + offset * static_cast<int64_t>(size), slice);
      dst += slice;
    }
}

// ScatterND's reductions: integers wrap (no undefined overflow), f16 goes through f32.
enum class Reduction { None, Add, Mul, Max, Min };

template <typename T> T reduceValue(T a, T b, Reduction r) {
  T out = b;
  switch (r) {
  case Reduction::None: break;
  case Reduction::Add:
    if constexpr (std::is_integral_v<T>) __builtin_add_overflow(a, b, &out);
    else out = a + b;
    break;
  case Reduction::Mul:
    if constexpr (std::is_integral_v<T>) __builtin_mul_overflow(a, b, &out);
    else out = a * b;
    break;
  case Reduction::Max: out = std::max(a, b); break;
  case Reduction::Min: out = std::min(a, b); break;
  }
  return out;
}

template <typename T> void reduceInto(std::byte *dst, const std::byte *src, int64_t n, Reduction r) {
  for (int64_t i = 0; i < n; ++i) {
    T a, b;
    std::memcpy(&a, dst + i * sizeof(T), sizeof(T));
    std::memcpy(&b, src + i * sizeof(T), sizeof(T));
    T v = reduceValue(a, b, r);
    std::memcpy(dst + i * sizeof(T), &v, sizeof(T));
  }
}

void reduceElements(DType dtype, std::byte *dst, const std::byte *src, int64_t n, Reduction r) {
  switch (dtype) {
  case DType::F32: reduceInto<float>(dst, src, n, r); break;
  case DType::I8: reduceInto<int8_t>(dst, src, n, r); break;
  case DType::U8: reduceInto<uint8_t>(dst, src, n, r); break;
  case DType::I32: reduceInto<int32_t>(dst, src, n, r); break;
  case DType::I64: reduceInto<int64_t>(dst, src, n, r); break;
  case DType::Bool: break; // the rule rejects reductions on bool
  case DType::F16:
    for (int64_t i = 0; i < n; ++i) {
      uint16_t a, b;
      std::memcpy(&a, dst + 2 * i, 2);
      std::memcpy(&b, src + 2 * i, 2);
      uint16_t v = ir::floatToHalf(reduceValue(ir::halfToFloat(a), ir::halfToFloat(b), r));
      std::memcpy(dst + 2 * i, &v, 2);
    }
    break;
  }
}

/// The 'reduction' attribute of ScatterND / ScatterElements (the rules validated it).
Reduction reductionOf(const KernelContext &ctx) {
  std::string name = ctx.attrs().getString("reduction", "none");
  return name == "add"   ? Reduction::Add
         : name == "mul" ? Reduction::Mul
         : name == "max" ? Reduction::Max
         : name == "min" ? Reduction::Min
                         : Reduction::None;
}

void scatterNDKernel(KernelContext &ctx) {
  const Tensor &data = ctx.input(0);
  const Tensor &indicesTensor = ctx.input(1);
  const Tensor &updates = ctx.input(2);
  Tensor &out = ctx.output(0);
  Reduction r = reductionOf(ctx);
  if (data.byteSize()) std::memcpy(out.rawData(), data.rawData(), data.byteSize());
  const Shape &ds = data.shape();
  int64_t k = indicesTensor.shape().back();
  int64_t tuples = indicesTensor.numElements() / k;
  int64_t sliceElems = product(ds, k, ds.size());
  std::vector<int64_t> strides = ir::stridesOf(ds);
  std::vector<int64_t> indices = indicesTensor.toInt64Vector();
  size_t size = elemSize(data);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t offset = tupleOffset(ctx, indices.data() + t * k, k, ds, strides, 0);
    std::byte *dst = bytesOf(out) + offset * static_cast<int64_t>(size);
    const std::byte *src = bytesOf(updates) + t * sliceElems * static_cast<int64_t>(size);
    if (r == Reduction::None) {
      if (sliceElems) std::memcpy(dst, src, static_cast<size_t>(sliceElems) * size);
    } else {
      reduceElements(data.dtype(), dst, src, sliceElems, r);
    }
  }
}

/// out = data, then out[coord with coord[axis] = indices[coord]] (op)= updates[coord] for
/// every coord of indices, in row-major order (later duplicates win without a reduction).
void scatterElementsKernel(KernelContext &ctx) {
  const Tensor &data = ctx.input(0);
  const Tensor &indicesTensor = ctx.input(1);
  const Tensor &updates = ctx.input(2);
  Tensor &out = ctx.output(0);
  Reduction r = reductionOf(ctx);
  if (data.byteSize()) std::memcpy(out.rawData(), data.rawData(), data.byteSize());
  int64_t rank = data.rank();
  int64_t axis = axisFor(ctx.attrs().getInt("axis", 0), rank);
  std::vector<int64_t> indices = indicesTensor.toInt64Vector();
  std::vector<int64_t> strides = ir::stridesOf(data.shape());
  const Shape &shape = indicesTensor.shape();
  size_t size = elemSize(data);
  std::vector<int64_t> coord(rank, 0);
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d)
      offset += (d == axis ? checkedIndex(ctx, indices[i], data.shape()[axis], "index") : coord[d]) * strides[d];
    std::byte *dst = bytesOf(out) + offset * static_cast<int64_t>(size);
    const std::byte *src = bytesOf(updates) + i * size;
    if (r == Reduction::None)
      std::memcpy(dst, src, size);
    else
      reduceElements(data.dtype(), dst, src, 1, r);
    for (int64_t d = rank - 1; d >= 0 && ++coord[d] == shape[d]; --d) coord[d] = 0; // row-major odometer
  }
}

// --- EyeLike, ReverseSequence -------------------------------------------------------------

void eyeLikeKernel(KernelContext &ctx) {
  Tensor &out = ctx.output(0);
  int64_t rows = out.shape()[0], cols = out.shape()[1];
  // Ones on the k-th diagonal (k > 0 above the main one); beyond [-rows, cols] none remain.
  int64_t k = std::clamp<int64_t>(ctx.attrs().getInt("k", 0), -rows, cols);
  Tensor one = Tensor::scalar(1.0f).castTo(out.dtype());
  size_t size = elemSize(out);
  for (int64_t i = 0; i < rows; ++i) {
    int64_t j = i + k;
    if (j >= 0 && j < cols)
      std::memcpy(bytesOf(out) + (i * cols + j) * static_cast<int64_t>(size), one.rawData(), size);
  }
}

/// Reverses the first sequence_lens[b] time steps of every batch element b; the rest is copied.
void reverseSequenceKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  bool batchFirst = ctx.attrs().getInt("batch_axis", 1) == 0;
  const Shape &s = in.shape();
  int64_t batch = batchFirst ? s[0] : s[1], steps = batchFirst ? s[1] : s[0];
  size_t inner = static_cast<size_t>(product(s, 2, s.size())) * elemSize(in);
  if (in.byteSize()) std::memcpy(out.rawData(), in.rawData(), in.byteSize());
  auto at = [&](int64_t b, int64_t t) { // byte offset of (batch b, time t)
    return static_cast<size_t>(batchFirst ? b * steps + t : t * batch + b) * inner;
  };
  std::vector<int64_t> lens = ctx.input(1).toInt64Vector();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t len = lens[b];
    if (len < 0 || len > steps)
      ctx.fail("sequence_lens[" + str(b) + "] = " + str(len) + " is out of range [0, " + str(steps) + "]");
    for (int64_t t = 0; t < len && inner; ++t)
      std::memcpy(bytesOf(out) + at(b, t), bytesOf(in) + at(b, len - 1 - t), inner);
  }
}

// --- Trilu, OneHot, TopK ------------------------------------------------------------------

void triluKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  bool upper = ctx.attrs().getInt("upper", 1) != 0;
  const Shape &s = in.shape();
  int64_t rows = s[s.size() - 2], cols = s.back();
  int64_t k = ctx.hasInput(1) && ctx.input(1).numElements() > 0 ? ctx.input(1).getAsInt64(0) : 0;
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1); // beyond this range nothing changes; avoids overflow
  int64_t matrices = product(s, 0, s.size() - 2);
  size_t size = elemSize(in);
  // Row i keeps columns j with j - i >= k (upper) or j - i <= k (lower); the rest stays 0.
  for (int64_t m = 0; m < matrices; ++m)
    for (int64_t i = 0; i < rows; ++i) {
      int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      if (hi <= lo) continue;
      size_t offset = static_cast<size_t>((m * rows + i) * cols + lo) * size;
      std::memcpy(bytesOf(out) + offset, bytesOf(in) + offset, static_cast<size_t>(hi - lo) * size);
    }
}

void oneHotKernel(KernelContext &ctx) {
  const Tensor &indicesTensor = ctx.input(0);
  const Tensor &values = ctx.input(2);
  Tensor &out = ctx.output(0);
  int64_t axis = axisFor(ctx.attrs().getInt("axis", -1), out.rank());
  int64_t depth = out.shape()[axis];
  int64_t outer = product(indicesTensor.shape(), 0, axis);
  int64_t inner = product(indicesTensor.shape(), axis, indicesTensor.shape().size());
  std::vector<int64_t> indices = indicesTensor.toInt64Vector();
  size_t size = elemSize(out);
  const std::byte *off = bytesOf(values), *on = bytesOf(values) + size;
  std::byte *dst = bytesOf(out);
  for (int64_t i = 0; i < out.numElements(); ++i) std::memcpy(dst + i * size, off, size);
  // Negative indices count from the end; values outside [-depth, depth) leave all "off".
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      int64_t index = indices[o * inner + j];
      if (index < -depth || index >= depth) continue;
      if (index < 0) index += depth;
      std::memcpy(dst + ((o * depth + index) * inner + j) * static_cast<int64_t>(size), on, size);
    }
}

/// Sorts positions 0..n-1 of one TopK slice by key. Ties keep the lower index first, as
/// ONNX requires; NaN ranks above every number (numpy's order).
template <typename K>
void topKOrder(std::vector<int64_t> &order, const std::vector<K> &keys, int64_t base, int64_t stride, int64_t k,
               bool largest) {
  auto keyAt = [&](int64_t i) { return keys[base + i * stride]; };
  auto before = [&](int64_t a, int64_t b) {
    K ka = keyAt(a), kb = keyAt(b);
    if constexpr (std::is_floating_point_v<K>) {
      bool na = std::isnan(ka), nb = std::isnan(kb);
      if (na || nb) {
        if (na && nb) return a < b;
        return largest ? na : nb;
      }
    }
    if (ka != kb) return largest ? ka > kb : ka < kb;
    return a < b;
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
}

template <typename K> void topK(KernelContext &ctx, const std::vector<K> &keys) {
  const Tensor &in = ctx.input(0);
  Tensor &values = ctx.output(0);
  int64_t axis = axisFor(ctx.attrs().getInt("axis", -1), in.rank());
  bool largest = ctx.attrs().getInt("largest", 1) != 0;
  int64_t dim = in.shape()[axis];
  int64_t k = values.shape()[axis];
  int64_t outer = product(in.shape(), 0, axis);
  int64_t inner = product(in.shape(), axis + 1, in.shape().size());
  size_t size = elemSize(in);
  int64_t *indicesOut = ctx.numOutputs() > 1 ? ctx.output(1).data<int64_t>() : nullptr;
  std::vector<int64_t> order(static_cast<size_t>(dim));
  // Results are always sorted, which sorted=0 (order unspecified) also allows.
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      std::iota(order.begin(), order.end(), 0);
      topKOrder(order, keys, o * dim * inner + j, inner, k, largest);
      for (int64_t r = 0; r < k; ++r) {
        int64_t src = (o * dim + order[r]) * inner + j;
        int64_t dst = (o * k + r) * inner + j;
        std::memcpy(bytesOf(values) + dst * static_cast<int64_t>(size), bytesOf(in) + src * static_cast<int64_t>(size),
                    size);
        if (indicesOut) indicesOut[dst] = order[r];
      }
    }
}

void topKKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  // Integer keys stay int64 so that large i64 values compare exactly.
  if (ir::isFloat(in.dtype())) {
    std::vector<float> keys = in.toFloatVector();
    topK(ctx, keys);
  } else {
    std::vector<int64_t> keys = in.toInt64Vector();
    topK(ctx, keys);
  }
}

} // namespace

void detail::gatherAxes(const Tensor &in, Tensor &out, const AxisOffsets &axes, const std::byte *fill) {
  AxisGatherer(bytesOf(in), bytesOf(out), elemSize(out), axes, fill).run();
}

int64_t padSourceIndex(int64_t o, int64_t dim, int64_t begin, int64_t end, const std::string &mode) {
  // Negative pads crop first; the kept input range is [cropLo, cropLo + kept).
  int64_t cropLo = std::max<int64_t>(-begin, 0);
  int64_t kept = dim + std::min<int64_t>(begin, 0) + std::min<int64_t>(end, 0);
  int64_t c = o - std::max<int64_t>(begin, 0);
  if (c >= 0 && c < kept) return cropLo + c;
  if (mode == "constant" || kept <= 0) return -1;
  if (mode == "edge") return cropLo + std::clamp<int64_t>(c, 0, kept - 1);
  // reflect (numpy's, without repeating the edge), periodic for pads longer than the axis
  if (kept == 1) return cropLo;
  int64_t period = 2 * (kept - 1);
  c %= period;
  if (c < 0) c += period;
  if (c >= kept) c = period - c;
  return cropLo + c;
}

void registerTensorKernels(KernelTable &table) {
  table["Flatten"] = copyBytes;
  table["Reshape"] = copyBytes;
  table["Squeeze"] = copyBytes;
  table["Unsqueeze"] = copyBytes;
  table["Transpose"] = transposeKernel;
  table["Concat"] = concatKernel;
  table["Split"] = splitKernel;
  table["Slice"] = sliceKernel;
  table["Pad"] = padKernel;
  table["Shape"] = shapeKernel;
  table["Size"] = sizeKernel;
  table["ConstantOfShape"] = constantOfShapeKernel;
  table["Range"] = rangeKernel;
  table["Expand"] = expandKernel;
  table["Tile"] = tileKernel;
  table["Gather"] = gatherKernel;
  table["GatherElements"] = gatherElementsKernel;
  table["GatherND"] = gatherNDKernel;
  table["ScatterND"] = scatterNDKernel;
  table["ScatterElements"] = scatterElementsKernel;
  table["DepthToSpace"] = depthToSpaceKernel;
  table["SpaceToDepth"] = spaceToDepthKernel;
  table["Trilu"] = triluKernel;
  table["OneHot"] = oneHotKernel;
  table["TopK"] = topKKernel;
  table["EyeLike"] = eyeLikeKernel;
  table["ReverseSequence"] = reverseSequenceKernel;
}

} // namespace leip::interp
