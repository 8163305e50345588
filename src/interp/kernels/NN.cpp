// Reference kernels of the neural-network family: Conv (im2col + GEMM, direct depthwise),
// ConvTranspose (GEMM + col2im), Gemm, MatMul, Einsum (pairwise contractions on the GEMM),
// BatchNormalization, InstanceNormalization, LayerNormalization, MeanVarianceNormalization,
// LRN, pools, Softmax family, Resize, GridSample, and the quantized QLinearConv,
// QLinearMatMul, ConvInteger and MatMulInteger (exact int64 products through the same
// convolution / matmul code). fp32 throughout (MaxPool also i8/u8, MatMul and Einsum also
// i32/i64, Resize nearest any dtype). Geometry (pads, auto_pad, output sizes) and Einsum's
// labels come from leip/ir/NNGeometry.h, the same code the shape rules use.
#include "leip/interp/Kernels.h"

#include "KernelUtil.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/NNGeometry.h"
#include "leip/support/Error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace leip::interp {

namespace {

using ir::DType;
using ir::Shape;
using ir::Tensor;
using ir::WindowGeometry;

int64_t product(const std::vector<int64_t> &dims, size_t from = 0) {
  int64_t n = 1;
  for (size_t i = from; i < dims.size(); ++i) n *= dims[i];
  return n;
}

/// Input i as f32 data; other dtypes (f16 included) are rejected with a clear message.
const float *f32Input(KernelContext &ctx, size_t i) {
  const Tensor &t = ctx.input(i);
  if (t.dtype() != DType::F32)
    ctx.fail("input " + std::to_string(i) + " has dtype " + std::string(ir::dtypeName(t.dtype())) +
             "; the reference kernel computes in f32 only");
  return t.data<float>();
}

/// Applies the activation a fusion pass recorded on the node ('activation',
/// 'activation_params'; see leip/ir/FusedActivation.h) to output 0.
void applyFusedActivation(KernelContext &ctx) {
  ir::FusedActivation act = ir::fusedActivation(ctx.node());
  if (act.kind == ir::ActivationKind::None) return;
  for (float &v : ctx.output(0).values<float>()) v = act.apply(v);
}

// ---------------------------------------------------------------------------------------
// GEMM: C[M,N] (+)= A[M,K] * B[K,N], row-major with leading dimensions. Blocked so that a
// panel of B stays in cache while four rows of C are updated from it; the innermost loop
// runs over contiguous j and vectorizes.

template <typename T>
void gemmRows4(int64_t nb, int64_t kb, const T *a, int64_t lda, const T *__restrict b, int64_t ldb,
               T *__restrict c0, T *__restrict c1, T *__restrict c2, T *__restrict c3) {
  for (int64_t k = 0; k < kb; ++k) {
    const T a0 = a[k], a1 = a[lda + k], a2 = a[2 * lda + k], a3 = a[3 * lda + k];
    const T *__restrict bk = b + k * ldb;
    for (int64_t j = 0; j < nb; ++j) {
      T bv = bk[j];
      c0[j] += a0 * bv;
      c1[j] += a1 * bv;
      c2[j] += a2 * bv;
      c3[j] += a3 * bv;
    }
  }
}

template <typename T>
void gemmRow1(int64_t nb, int64_t kb, const T *a, const T *__restrict b, int64_t ldb, T *__restrict c) {
  for (int64_t k = 0; k < kb; ++k) {
    const T av = a[k];
    const T *__restrict bk = b + k * ldb;
    for (int64_t j = 0; j < nb; ++j) c[j] += av * bk[j];
  }
}

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b, int64_t ldb, T *c, int64_t ldc,
          bool accumulate) {
  if (!accumulate)
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
  constexpr int64_t kBlockN = 512, kBlockK = 128;
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    int64_t nb = std::min(kBlockN, n - j0);
    for (int64_t k0 = 0; k0 < k; k0 += kBlockK) {
      int64_t kb = std::min(kBlockK, k - k0);
      const T *bp = b + k0 * ldb + j0;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) {
        T *ci = c + i * ldc + j0;
        gemmRows4(nb, kb, a + i * lda + k0, lda, bp, ldb, ci, ci + ldc, ci + 2 * ldc, ci + 3 * ldc);
      }
      for (; i < m; ++i) gemmRow1(nb, kb, a + i * lda + k0, bp, ldb, c + i * ldc + j0);
    }
  }
}

/// dst[cols x rows] = src[rows x cols]^T.
template <typename T> void transpose(const T *src, int64_t rows, int64_t cols, T *dst) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
}

// ---------------------------------------------------------------------------------------
// Sliding windows for convolutions. A "grid" position o (conv output) reads "image"
// position o * stride - padBegin + k * dilation (conv input). The grid is walked by rows
// (all dims but the last) and each (kernel offset, row) pair becomes one Run: the image
// positions of grid columns j in [lo, hi) are base + j * lastStride; the others are padding.

struct Run {
  int64_t base = 0;
  int64_t lo = 0, hi = 0; // empty when the row falls entirely into padding
};

struct ColumnMap {
  Shape image, grid;
  std::vector<int64_t> kernel, strides, dilations, padBegin;
  int64_t kernelSize = 1, imageSize = 1, gridRows = 1, rowLen = 1;
  std::vector<Run> runs; // index: kernelOffset * gridRows + row

  ColumnMap(Shape image_, Shape grid_, const WindowGeometry &g)
      : image(std::move(image_)), grid(std::move(grid_)), kernel(g.kernel), strides(g.strides),
        dilations(g.dilations), padBegin(g.padBegin) {
    size_t r = kernel.size();
    kernelSize = product(kernel);
    imageSize = product(image);
    rowLen = grid[r - 1];
    gridRows = product(grid) / rowLen;
    std::vector<int64_t> imageStrides = ir::stridesOf(image);
    runs.resize(static_cast<size_t>(kernelSize * gridRows));
    std::vector<int64_t> k(r, 0); // kernel offset multi-index
    for (int64_t kk = 0; kk < kernelSize; ++kk) {
      // Valid columns of the last dim: 0 <= j*s - p + k*d < image.
      int64_t s = strides[r - 1], off = k[r - 1] * dilations[r - 1] - padBegin[r - 1], len = image[r - 1];
      int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
      int64_t hi = len - 1 - off < 0 ? 0 : std::min(rowLen, (len - 1 - off) / s + 1);
      std::vector<int64_t> o(r, 0); // grid row multi-index (last entry unused)
      for (int64_t row = 0; row < gridRows; ++row) {
        Run run;
        int64_t base = off;
        bool valid = lo < hi;
        for (size_t d = 0; valid && d + 1 < r; ++d) {
          int64_t pos = o[d] * strides[d] - padBegin[d] + k[d] * dilations[d];
          valid = pos >= 0 && pos < image[d];
          base += pos * imageStrides[d];
        }
        if (valid) run = Run{base, lo, hi};
        runs[static_cast<size_t>(kk * gridRows + row)] = run;
        for (int64_t d = static_cast<int64_t>(r) - 2; d >= 0; --d) { // next row
          if (++o[d] < grid[d]) break;
          o[d] = 0;
        }
      }
      for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) { // next kernel offset
        if (++k[d] < kernel[d]) break;
        k[d] = 0;
      }
    }
  }
  const Run &run(int64_t kk, int64_t row) const { return runs[static_cast<size_t>(kk * gridRows + row)]; }
  int64_t lastStride() const { return strides.back(); }
};

/// Grid rows per chunk so that a column buffer of `colRows` rows stays near 8 MiB.
int64_t rowsPerChunk(const ColumnMap &map, int64_t colRows) {
  int64_t budget = (int64_t(1) << 21) / std::max<int64_t>(1, colRows * map.rowLen);
  return std::clamp<int64_t>(budget, 1, map.gridRows);
}

/// cols[c*kernelSize + kk][row - row0][j] = image channel c at the run's position (0 in padding).
template <typename T>
void im2col(const ColumnMap &map, const T *image, int64_t channels, int64_t row0, int64_t row1, T *cols) {
  int64_t width = (row1 - row0) * map.rowLen, s = map.lastStride();
  for (int64_t c = 0; c < channels; ++c) {
    const T *img = image + c * map.imageSize;
    for (int64_t kk = 0; kk < map.kernelSize; ++kk) {
      T *dst = cols + (c * map.kernelSize + kk) * width;
      for (int64_t row = row0; row < row1; ++row, dst += map.rowLen) {
        const Run &run = map.run(kk, row);
        std::fill(dst, dst + run.lo, T(0));
        if (s == 1) {
          for (int64_t j = run.lo; j < run.hi; ++j) dst[j] = img[run.base + j];
        } else {
          for (int64_t j = run.lo; j < run.hi; ++j) dst[j] = img[run.base + j * s];
        }
        std::fill(dst + std::max(run.lo, run.hi), dst + map.rowLen, T(0));
      }
    }
  }
}

/// The adjoint of im2col: adds each column entry into the image position it maps to.
void col2im(const ColumnMap &map, const float *cols, int64_t channels, int64_t row0, int64_t row1, float *image) {
  int64_t width = (row1 - row0) * map.rowLen, s = map.lastStride();
  for (int64_t c = 0; c < channels; ++c) {
    float *img = image + c * map.imageSize;
    for (int64_t kk = 0; kk < map.kernelSize; ++kk) {
      const float *src = cols + (c * map.kernelSize + kk) * width;
      for (int64_t row = row0; row < row1; ++row, src += map.rowLen) {
        const Run &run = map.run(kk, row);
        for (int64_t j = run.lo; j < run.hi; ++j) img[run.base + j * s] += src[j];
      }
    }
  }
}

void addChannelBias(const float *bias, int64_t batch, int64_t channels, int64_t plane, float *y) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      float b = bias[c];
      float *p = y + (n * channels + c) * plane;
      for (int64_t i = 0; i < plane; ++i) p[i] += b;
    }
}

/// y [N, M, out...] (zero on entry) = x [N, C, D...] convolved with w [M, C/group, k...],
/// without bias. T is float for Conv and int64_t for the integer convolutions, whose
/// inputs arrive with their zero points already subtracted.
template <typename T>
void convolve(const ir::Node &node, const Shape &xs, const Shape &ws, const T *x, const T *w, T *y) {
  WindowGeometry g = ir::convGeometry(node, xs, ws);
  int64_t batch = xs[0], inC = xs[1], outC = ws[0];
  int64_t group = node.attrs().getInt("group", 1);
  int64_t inCg = inC / group, outCg = outC / group;
  ColumnMap map(g.input, g.output, g);
  int64_t plane = product(g.output), k = inCg * map.kernelSize;

  if (inCg == 1) {
    // Depthwise (and channel-multiplier) conv: each output channel reads one input
    // channel, so a direct loop beats building columns.
    int64_t s = map.lastStride();
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t oc = 0; oc < outC; ++oc) {
        const T *img = x + (n * inC + oc / outCg) * map.imageSize;
        const T *wk = w + oc * map.kernelSize;
        T *dst = y + (n * outC + oc) * plane;
        for (int64_t row = 0; row < map.gridRows; ++row) {
          T *d = dst + row * map.rowLen;
          for (int64_t kk = 0; kk < map.kernelSize; ++kk) {
            const Run &run = map.run(kk, row);
            T wv = wk[kk];
            if (s == 1) {
              for (int64_t j = run.lo; j < run.hi; ++j) d[j] += wv * img[run.base + j];
            } else {
              for (int64_t j = run.lo; j < run.hi; ++j) d[j] += wv * img[run.base + j * s];
            }
          }
        }
      }
  } else {
    // 1x1, stride 1, no padding: the input already is the column matrix.
    bool pointwise = map.kernelSize == 1 && g.input == g.output &&
                     std::all_of(g.padBegin.begin(), g.padBegin.end(), [](int64_t p) { return p == 0; });
    int64_t chunkRows = pointwise ? map.gridRows : rowsPerChunk(map, k);
    std::vector<T> cols(pointwise ? 0 : static_cast<size_t>(k * chunkRows * map.rowLen));
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t gi = 0; gi < group; ++gi) {
        const T *img = x + (n * inC + gi * inCg) * map.imageSize;
        const T *a = w + gi * outCg * k;
        T *dst = y + (n * outC + gi * outCg) * plane;
        for (int64_t row0 = 0; row0 < map.gridRows; row0 += chunkRows) {
          int64_t row1 = std::min(map.gridRows, row0 + chunkRows);
          int64_t width = (row1 - row0) * map.rowLen;
          const T *b = img + row0 * map.rowLen;
          int64_t ldb = plane;
          if (!pointwise) {
            im2col(map, img, inCg, row0, row1, cols.data());
            b = cols.data();
            ldb = width;
          }
          gemm<T>(outCg, width, k, a, k, b, ldb, dst + row0 * map.rowLen, plane, false);
        }
      }
  }
}

void convKernel(KernelContext &ctx) {
  const Shape &xs = ctx.input(0).shape();
  const Shape &ws = ctx.input(1).shape();
  float *y = ctx.output(0).data<float>();
  convolve<float>(ctx.node(), xs, ws, f32Input(ctx, 0), f32Input(ctx, 1), y);
  if (ctx.hasInput(2)) addChannelBias(f32Input(ctx, 2), xs[0], ws[0], product(ctx.output(0).shape(), 2), y);

  applyFusedActivation(ctx);
}

void convTransposeKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const float *w = f32Input(ctx, 1);
  const Shape &xs = ctx.input(0).shape();
  const Shape &ws = ctx.input(1).shape();
  WindowGeometry g = ir::convTransposeGeometry(ctx.node(), xs, ws);
  float *y = ctx.output(0).data<float>();
  int64_t batch = xs[0], inC = xs[1];
  int64_t group = ctx.attrs().getInt("group", 1);
  int64_t inCg = inC / group, outCg = ws[1], outC = outCg * group;
  // The image is Y and the grid is X: Y position i*s - p + k*d receives X position i.
  ColumnMap map(g.output, g.input, g);
  int64_t inPlane = product(g.input), outPlane = map.imageSize, k = outCg * map.kernelSize;

  // A = W_g^T: [outCg*kernel, inCg], so cols = A * X_g holds each X position's contributions.
  std::vector<float> at(static_cast<size_t>(k * inCg));
  int64_t chunkRows = rowsPerChunk(map, k);
  std::vector<float> cols(static_cast<size_t>(k * chunkRows * map.rowLen));
  for (int64_t gi = 0; gi < group; ++gi) {
    transpose(w + gi * inCg * k, inCg, k, at.data());
    for (int64_t n = 0; n < batch; ++n) {
      const float *xg = x + (n * inC + gi * inCg) * inPlane;
      float *yg = y + (n * outC + gi * outCg) * outPlane;
      for (int64_t row0 = 0; row0 < map.gridRows; row0 += chunkRows) {
        int64_t row1 = std::min(map.gridRows, row0 + chunkRows);
        int64_t width = (row1 - row0) * map.rowLen;
        gemm<float>(k, width, inCg, at.data(), inCg, xg + row0 * map.rowLen, inPlane, cols.data(), width, false);
        col2im(map, cols.data(), outCg, row0, row1, yg);
      }
    }
  }
  if (ctx.hasInput(2)) addChannelBias(f32Input(ctx, 2), batch, outC, outPlane, y);

  applyFusedActivation(ctx);
}

// ---------------------------------------------------------------------------------------
// Gemm and MatMul

void gemmKernel(KernelContext &ctx) {
  const float *a = f32Input(ctx, 0);
  const float *b = f32Input(ctx, 1);
  const Shape &as = ctx.input(0).shape();
  const Shape &bs = ctx.input(1).shape();
  bool transA = ctx.attrs().getInt("transA", 0) != 0;
  bool transB = ctx.attrs().getInt("transB", 0) != 0;
  float alpha = ctx.attrs().getFloat("alpha", 1.f);
  float beta = ctx.attrs().getFloat("beta", 1.f);
  int64_t m = transA ? as[1] : as[0], k = transA ? as[0] : as[1];
  int64_t n = transB ? bs[0] : bs[1];
  std::vector<float> at, bt;
  if (transA) {
    at.resize(static_cast<size_t>(m * k));
    transpose(a, k, m, at.data());
    a = at.data();
  }
  if (transB) {
    bt.resize(static_cast<size_t>(k * n));
    transpose(b, n, k, bt.data());
    b = bt.data();
  }
  float *y = ctx.output(0).data<float>();
  gemm<float>(m, n, k, a, k, b, n, y, n, false);
  if (alpha != 1.f)
    for (int64_t i = 0; i < m * n; ++i) y[i] *= alpha;
  if (ctx.hasInput(2) && beta != 0.f) {
    // C broadcasts unidirectionally to [M, N]: a dim of 1 (or a missing one) repeats.
    const float *c = f32Input(ctx, 2);
    const Shape &cs = ctx.input(2).shape();
    int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] += beta * c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
  }
  applyFusedActivation(ctx);
}

/// numpy.matmul of a (shape aShape) and b (bShape) into y, whose shape the rule computed.
template <typename T> void batchedMatMul(const T *a, const Shape &aShape, const T *b, const Shape &bShape, T *y) {
  const ir::MatMulGeometry g = ir::matMulGeometry(aShape, bShape);
  for (size_t bi = 0; bi < g.aOffsets.size(); ++bi)
    gemm<T>(g.M, g.N, g.K, a + g.aOffsets[bi], g.K, b + g.bOffsets[bi], g.N, y + bi * g.M * g.N, g.N, false);
}

template <typename T> void matMulTyped(KernelContext &ctx) {
  const Tensor &a = ctx.input(0), &b = ctx.input(1);
  batchedMatMul<T>(a.data<T>(), a.shape(), b.data<T>(), b.shape(), ctx.output(0).data<T>());
}

void matMulKernel(KernelContext &ctx) {
  switch (ctx.input(0).dtype()) {
  case DType::F32: return matMulTyped<float>(ctx);
  case DType::I32: return matMulTyped<int32_t>(ctx);
  case DType::I64: return matMulTyped<int64_t>(ctx);
  default: ctx.fail("MatMul supports f32, i32 and i64, got " + ctx.input(0).type().toString());
  }
}

// ---------------------------------------------------------------------------------------
// Einsum: the operands are folded left to right by pairwise contractions. Each contraction
// gathers its two operands (transposing, taking diagonals of repeated labels, broadcasting)
// into [batch, free, summed] and [batch, summed, free] matrices and multiplies them with
// the GEMM above. A label that only one operand has but the result does not keep is summed
// as a contraction against the other operand broadcast along it, so reductions need no
// separate code; a single operand is contracted with the scalar 1.

struct EinsumOperand {
  Tensor data;
  std::vector<int> labels; // one per dim of data; repeats allowed
};

/// Offsets into `op` for walking `labels` (each of extent sizes[label]) in row-major order:
/// a label's stride sums op's strides of the dims carrying it (a diagonal when repeated);
/// labels op lacks or has as a size-1 dim get stride 0 (broadcast).
detail::AxisOffsets labelOffsets(const EinsumOperand &op, const std::vector<int> &labels,
                                 const std::map<int, int64_t> &sizes) {
  std::vector<int64_t> strides = ir::stridesOf(op.data.shape());
  detail::AxisOffsets axes;
  for (int label : labels) {
    int64_t stride = 0;
    for (size_t d = 0; d < op.labels.size(); ++d)
      if (op.labels[d] == label && op.data.shape()[d] != 1) stride += strides[d];
    std::vector<int64_t> offsets(static_cast<size_t>(sizes.at(label)));
    for (size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<int64_t>(i) * stride;
    axes.push_back(std::move(offsets));
  }
  return axes;
}

/// a x b summed over every label not in `keep`; the result's labels are the kept ones, in
/// the order [shared by a and b, a only, b only].
template <typename T>
EinsumOperand contract(const EinsumOperand &a, const EinsumOperand &b, const std::set<int> &keep,
                       const std::map<int, int64_t> &sizes) {
  auto has = [](const EinsumOperand &op, int label) {
    return std::find(op.labels.begin(), op.labels.end(), label) != op.labels.end();
  };
  std::vector<int> batch, freeA, freeB, summed, seen;
  for (const EinsumOperand *op : {&a, &b})
    for (int label : op->labels) {
      if (std::find(seen.begin(), seen.end(), label) != seen.end()) continue;
      seen.push_back(label);
      bool inA = has(a, label), inB = has(b, label);
      (!keep.count(label) ? summed : inA && inB ? batch : inA ? freeA : freeB).push_back(label);
    }
  auto extent = [&](const std::vector<int> &labels) {
    int64_t n = 1;
    for (int label : labels) n *= sizes.at(label);
    return n;
  };
  auto concat = [](std::vector<int> x, const std::vector<int> &y, const std::vector<int> &z) {
    x.insert(x.end(), y.begin(), y.end());
    x.insert(x.end(), z.begin(), z.end());
    return x;
  };
  int64_t nb = extent(batch), m = extent(freeA), n = extent(freeB), k = extent(summed);
  DType dtype = a.data.dtype();
  Tensor ga(dtype, {nb * m * k}), gb(dtype, {nb * k * n});
  detail::gatherAxes(a.data, ga, labelOffsets(a, concat(batch, freeA, summed), sizes));
  detail::gatherAxes(b.data, gb, labelOffsets(b, concat(batch, summed, freeB), sizes));
  EinsumOperand result;
  result.labels = concat(batch, freeA, freeB);
  Shape shape;
  for (int label : result.labels) shape.push_back(sizes.at(label));
  result.data = Tensor(dtype, shape);
  for (int64_t i = 0; i < nb; ++i)
    gemm<T>(m, n, k, ga.data<T>() + i * m * k, k, gb.data<T>() + i * k * n, n, result.data.data<T>() + i * m * n, n,
            false);
  return result;
}

template <typename T> void einsumTyped(KernelContext &ctx, const ir::EinsumSpec &spec) {
  std::set<int> outputLabels(spec.outputLabels.begin(), spec.outputLabels.end());
  EinsumOperand acc{ctx.input(0), spec.inputLabels[0]};
  if (ctx.numInputs() == 1) {
    EinsumOperand one{Tensor(acc.data.dtype(), {}), {}};
    one.data.setFromDouble(0, 1.0);
    acc = contract<T>(acc, one, outputLabels, spec.sizes);
  }
  for (size_t i = 1; i < ctx.numInputs(); ++i) {
    std::set<int> keep = outputLabels; // labels the output or a later operand still needs
    for (size_t j = i + 1; j < ctx.numInputs(); ++j)
      keep.insert(spec.inputLabels[j].begin(), spec.inputLabels[j].end());
    acc = contract<T>(acc, EinsumOperand{ctx.input(i), spec.inputLabels[i]}, keep, spec.sizes);
  }
  detail::gatherAxes(acc.data, ctx.output(0), labelOffsets(acc, spec.outputLabels, spec.sizes));
}

void einsumKernel(KernelContext &ctx) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.numInputs(); ++i) shapes.push_back(ctx.input(i).shape());
  ir::EinsumSpec spec = ir::einsumSpec(ctx.node(), shapes);
  switch (ctx.input(0).dtype()) {
  case DType::F32: return einsumTyped<float>(ctx, spec);
  case DType::I32: return einsumTyped<int32_t>(ctx, spec);
  case DType::I64: return einsumTyped<int64_t>(ctx, spec);
  default: ctx.fail("Einsum supports f32, i32 and i64, got " + ctx.input(0).type().toString());
  }
}

// ---------------------------------------------------------------------------------------
// Normalizations

void batchNormKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const float *scale = f32Input(ctx, 1), *bias = f32Input(ctx, 2);
  const float *mean = f32Input(ctx, 3), *var = f32Input(ctx, 4);
  double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  const Shape &xs = ctx.input(0).shape();
  int64_t batch = xs[0], channels = xs[1], plane = product(xs, 2);
  float *y = ctx.output(0).data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    // y = (x - mean) / sqrt(var + eps) * scale + B, folded into one multiply-add.
    double mul = scale[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    auto a = static_cast<float>(mul), b = static_cast<float>(bias[c] - mean[c] * mul);
    for (int64_t n = 0; n < batch; ++n) {
      const float *src = x + (n * channels + c) * plane;
      float *dst = y + (n * channels + c) * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] = src[i] * a + b;
    }
  }
}

/// Mean and biased variance of groups of elements: element i of x[0, n) belongs to group
/// groupOf(i). Two passes in double, so that a large mean does not cancel the variance.
struct Moments {
  std::vector<double> mean, variance;
};

template <typename GroupOf> Moments groupMoments(const float *x, int64_t n, int64_t groups, GroupOf groupOf) {
  Moments m;
  m.mean.assign(static_cast<size_t>(groups), 0.0);
  m.variance.assign(static_cast<size_t>(groups), 0.0);
  std::vector<int64_t> counts(static_cast<size_t>(groups), 0);
  for (int64_t i = 0; i < n; ++i) {
    auto g = static_cast<size_t>(groupOf(i));
    m.mean[g] += x[i];
    ++counts[g];
  }
  for (size_t g = 0; g < m.mean.size(); ++g) m.mean[g] /= static_cast<double>(counts[g]);
  for (int64_t i = 0; i < n; ++i) {
    auto g = static_cast<size_t>(groupOf(i));
    double d = x[i] - m.mean[g];
    m.variance[g] += d * d;
  }
  for (size_t g = 0; g < m.variance.size(); ++g) m.variance[g] /= static_cast<double>(counts[g]);
  return m;
}

/// For each element of `to` (row-major), its offset in a tensor of shape `from` that
/// broadcasts to `to` (numpy rules: right-aligned, size-1 dims repeat).
std::vector<int64_t> broadcastIndex(const Shape &from, const Shape &to) {
  std::vector<int64_t> fromStrides = ir::stridesOf(from), strides(to.size(), 0);
  size_t lead = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d) strides[lead + d] = from[d] == 1 ? 0 : fromStrides[d];
  std::vector<int64_t> index(static_cast<size_t>(ir::numElements(to)));
  std::vector<int64_t> coord(to.size(), 0);
  int64_t offset = 0;
  for (int64_t &out : index) {
    out = offset;
    for (size_t d = to.size(); d-- > 0;) { // odometer step, keeping the offset in sync
      offset += strides[d];
      if (++coord[d] < to[d]) break;
      offset -= strides[d] * to[d];
      coord[d] = 0;
    }
  }
  return index;
}

void instanceNormKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const float *scale = f32Input(ctx, 1), *bias = f32Input(ctx, 2);
  double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  const Shape &xs = ctx.input(0).shape();
  int64_t channels = xs[1], plane = product(xs, 2), planes = xs[0] * channels;
  Moments m = groupMoments(x, planes * plane, planes, [plane](int64_t i) { return i / plane; });
  float *y = ctx.output(0).data<float>();
  for (int64_t p = 0; p < planes; ++p) {
    int64_t c = p % channels;
    double mul = scale[c] / std::sqrt(m.variance[p] + eps);
    for (int64_t i = p * plane; i < (p + 1) * plane; ++i)
      y[i] = static_cast<float>((x[i] - m.mean[p]) * mul + bias[c]);
  }
}

/// LayerNormalization (opset 17): each row of the trailing dims from `axis` on is
/// normalized to zero mean and unit variance, then scaled and shifted (Scale and B
/// broadcast to those dims). Mean and InvStdDev are f32 (stash_type 1).
void layerNormKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const Shape &xs = ctx.input(0).shape();
  auto rank = static_cast<int64_t>(xs.size());
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  Shape normalized(xs.begin() + axis, xs.end());
  int64_t rows = product(Shape(xs.begin(), xs.begin() + axis)), len = product(normalized);
  Moments m = groupMoments(x, rows * len, rows, [len](int64_t i) { return i / len; });
  const float *scale = f32Input(ctx, 1);
  const float *bias = ctx.hasInput(2) ? f32Input(ctx, 2) : nullptr;
  std::vector<int64_t> scaleAt = broadcastIndex(ctx.input(1).shape(), normalized);
  std::vector<int64_t> biasAt = bias ? broadcastIndex(ctx.input(2).shape(), normalized) : std::vector<int64_t>{};
  float *y = ctx.output(0).data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    double invStdDev = 1.0 / std::sqrt(m.variance[r] + eps);
    for (int64_t j = 0; j < len; ++j) {
      int64_t i = r * len + j;
      double v = (x[i] - m.mean[r]) * invStdDev * scale[scaleAt[j]];
      y[i] = static_cast<float>(bias ? v + bias[biasAt[j]] : v);
    }
    if (ctx.numOutputs() > 1) ctx.output(1).data<float>()[r] = static_cast<float>(m.mean[r]);
    if (ctx.numOutputs() > 2) ctx.output(2).data<float>()[r] = static_cast<float>(invStdDev);
  }
}

/// MeanVarianceNormalization: (X - mean) / (std + 1e-9) over `axes` (default [0, 2, 3]), the
/// epsilon placed as in ONNX's function definition.
void mvnKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const Shape &xs = ctx.input(0).shape();
  auto rank = static_cast<int64_t>(xs.size());
  Shape kept = xs; // the statistics' shape: reduced axes become 1
  for (int64_t axis : ctx.attrs().getInts("axes", {0, 2, 3})) {
    if (axis < -rank || axis >= rank) ctx.fail("axis " + std::to_string(axis) + " is out of range");
    kept[static_cast<size_t>(axis < 0 ? axis + rank : axis)] = 1;
  }
  std::vector<int64_t> groupOf = broadcastIndex(kept, xs);
  Moments m = groupMoments(x, ctx.input(0).numElements(), product(kept),
                           [&groupOf](int64_t i) { return groupOf[static_cast<size_t>(i)]; });
  float *y = ctx.output(0).data<float>();
  for (size_t i = 0; i < groupOf.size(); ++i) {
    auto g = static_cast<size_t>(groupOf[i]);
    y[i] = static_cast<float>((x[i] - m.mean[g]) / (std::sqrt(m.variance[g]) + 1e-9));
  }
}

void lrnKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  double alpha = ctx.attrs().getFloat("alpha", 1e-4f), beta = ctx.attrs().getFloat("beta", 0.75f);
  double bias = ctx.attrs().getFloat("bias", 1.f);
  int64_t size = ctx.attrs().getInt("size", 1);
  const Shape &xs = ctx.input(0).shape();
  int64_t batch = xs[0], channels = xs[1], plane = product(xs, 2);
  int64_t before = (size - 1) / 2, after = size - 1 - before; // window [c - before, c + after]
  float *y = ctx.output(0).data<float>();
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      int64_t c0 = std::max<int64_t>(0, c - before), c1 = std::min(channels - 1, c + after);
      for (int64_t i = 0; i < plane; ++i) {
        double sq = 0;
        for (int64_t cc = c0; cc <= c1; ++cc) {
          double v = x[(n * channels + cc) * plane + i];
          sq += v * v;
        }
        int64_t at = (n * channels + c) * plane + i;
        y[at] = static_cast<float>(x[at] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
      }
    }
}

// ---------------------------------------------------------------------------------------
// Pooling. A PoolTable lists, for every output position, the input offsets (within one
// N,C plane) its window covers, plus how many window taps fall inside the padded input
// (the AveragePool divisor with count_include_pad=1).

struct PoolTable {
  std::vector<int64_t> start;   // output position i uses offsets[start[i] .. start[i+1])
  std::vector<int64_t> offsets;
  std::vector<int64_t> padded;  // taps inside [-padBegin, input + padEnd) per output position
  int64_t inPlane = 1, outPlane = 1;

  explicit PoolTable(const WindowGeometry &g) {
    size_t r = g.rank();
    inPlane = product(g.input);
    outPlane = product(g.output);
    std::vector<int64_t> inStrides = ir::stridesOf(g.input);
    // Per axis and output coordinate: valid input coordinates and the padded tap count.
    std::vector<std::vector<std::vector<int64_t>>> taps(r);
    std::vector<std::vector<int64_t>> paddedTaps(r);
    for (size_t d = 0; d < r; ++d) {
      taps[d].resize(static_cast<size_t>(g.output[d]));
      paddedTaps[d].resize(static_cast<size_t>(g.output[d]));
      for (int64_t o = 0; o < g.output[d]; ++o)
        for (int64_t k = 0; k < g.kernel[d]; ++k) {
          int64_t pos = o * g.strides[d] - g.padBegin[d] + k * g.dilations[d];
          if (pos >= 0 && pos < g.input[d]) taps[d][o].push_back(pos * inStrides[d]);
          if (pos >= -g.padBegin[d] && pos < g.input[d] + g.padEnd[d]) ++paddedTaps[d][o];
        }
    }
    start.reserve(static_cast<size_t>(outPlane + 1));
    padded.reserve(static_cast<size_t>(outPlane));
    std::vector<int64_t> o(r, 0);
    for (int64_t i = 0; i < outPlane; ++i) {
      start.push_back(static_cast<int64_t>(offsets.size()));
      int64_t count = 1;
      for (size_t d = 0; d < r; ++d) count *= paddedTaps[d][o[d]];
      padded.push_back(count);
      expand(taps, o, 0, 0);
      for (size_t d = r; d-- > 0;) {
        if (++o[d] < g.output[d]) break;
        o[d] = 0;
      }
    }
    start.push_back(static_cast<int64_t>(offsets.size()));
  }

private:
  void expand(const std::vector<std::vector<std::vector<int64_t>>> &taps, const std::vector<int64_t> &o, size_t d,
              int64_t offset) {
    if (d == taps.size()) {
      offsets.push_back(offset);
      return;
    }
    for (int64_t t : taps[d][static_cast<size_t>(o[d])]) expand(taps, o, d + 1, offset + t);
  }
};

/// Column-major (storage_order=1) spatial offset of a row-major one.
int64_t columnMajorOffset(int64_t offset, const Shape &dims) {
  int64_t result = 0, stride = 1;
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = offset % dims[d];
    offset /= dims[d];
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    result += idx[d] * stride;
    stride *= dims[d];
  }
  return result;
}

template <typename T> void maxPoolTyped(KernelContext &ctx, const WindowGeometry &g) {
  const Tensor &in = ctx.input(0);
  PoolTable table(g);
  int64_t planes = in.shape()[0] * in.shape()[1];
  const T *x = in.data<T>();
  T *y = ctx.output(0).data<T>();
  int64_t *indices = ctx.numOutputs() > 1 ? ctx.output(1).data<int64_t>() : nullptr;
  bool columnMajor = ctx.attrs().getInt("storage_order", 0) == 1;
  for (int64_t p = 0; p < planes; ++p) {
    const T *src = x + p * table.inPlane;
    for (int64_t i = 0; i < table.outPlane; ++i) {
      T best = std::numeric_limits<T>::lowest();
      int64_t arg = -1;
      for (int64_t t = table.start[i]; t < table.start[i + 1]; ++t) {
        int64_t off = table.offsets[t];
        if (arg < 0 || src[off] > best) {
          best = src[off];
          arg = off;
        }
      }
      y[p * table.outPlane + i] = best;
      if (indices) // flat index into the whole input tensor, as ONNX Runtime reports it
        indices[p * table.outPlane + i] =
            arg < 0 ? -1 : p * table.inPlane + (columnMajor ? columnMajorOffset(arg, g.input) : arg);
    }
  }
}

void maxPoolKernel(KernelContext &ctx) {
  WindowGeometry g = ir::poolGeometry(ctx.node(), ctx.input(0).shape());
  switch (ctx.input(0).dtype()) {
  case DType::F32: return maxPoolTyped<float>(ctx, g);
  case DType::I8: return maxPoolTyped<int8_t>(ctx, g);
  case DType::U8: return maxPoolTyped<uint8_t>(ctx, g);
  default: ctx.fail("MaxPool supports f32, i8 and u8, got " + ctx.input(0).type().toString());
  }
}

void averagePoolKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  WindowGeometry g = ir::poolGeometry(ctx.node(), ctx.input(0).shape());
  PoolTable table(g);
  bool includePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
  int64_t planes = ctx.input(0).shape()[0] * ctx.input(0).shape()[1];
  float *y = ctx.output(0).data<float>();
  for (int64_t p = 0; p < planes; ++p) {
    const float *src = x + p * table.inPlane;
    for (int64_t i = 0; i < table.outPlane; ++i) {
      double sum = 0;
      for (int64_t t = table.start[i]; t < table.start[i + 1]; ++t) sum += src[table.offsets[t]];
      int64_t count = includePad ? table.padded[i] : table.start[i + 1] - table.start[i];
      y[p * table.outPlane + i] = count > 0 ? static_cast<float>(sum / static_cast<double>(count)) : 0.f;
    }
  }
}

/// (sum |x|^p)^(1/p); p = 1 and 2 take the exact paths.
float lpNorm(const float *src, const int64_t *offsets, int64_t count, int64_t p) {
  double sum = 0;
  for (int64_t t = 0; t < count; ++t) {
    double v = std::fabs(static_cast<double>(src[offsets ? offsets[t] : t]));
    sum += p == 1 ? v : p == 2 ? v * v : std::pow(v, static_cast<double>(p));
  }
  return static_cast<float>(p == 1 ? sum : p == 2 ? std::sqrt(sum) : std::pow(sum, 1.0 / static_cast<double>(p)));
}

void lpPoolKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  WindowGeometry g = ir::poolGeometry(ctx.node(), ctx.input(0).shape());
  PoolTable table(g);
  int64_t p = ctx.attrs().getInt("p", 2);
  int64_t planes = ctx.input(0).shape()[0] * ctx.input(0).shape()[1];
  float *y = ctx.output(0).data<float>();
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t i = 0; i < table.outPlane; ++i)
      y[pl * table.outPlane + i] = lpNorm(x + pl * table.inPlane, table.offsets.data() + table.start[i],
                                          table.start[i + 1] - table.start[i], p);
}

enum class GlobalPool { Average, Max, Lp };

template <GlobalPool Kind> void globalPoolKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const Shape &xs = ctx.input(0).shape();
  int64_t planes = xs[0] * xs[1], plane = product(xs, 2);
  int64_t p = ctx.attrs().getInt("p", 2);
  float *y = ctx.output(0).data<float>();
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float *src = x + pl * plane;
    if constexpr (Kind == GlobalPool::Average) {
      double sum = 0;
      for (int64_t i = 0; i < plane; ++i) sum += src[i];
      y[pl] = static_cast<float>(sum / static_cast<double>(plane));
    } else if constexpr (Kind == GlobalPool::Max) {
      y[pl] = plane > 0 ? *std::max_element(src, src + plane) : 0.f;
    } else {
      y[pl] = lpNorm(src, nullptr, plane, p);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax along one axis (opset-13 semantics).

enum class SoftmaxKind { Softmax, LogSoftmax, Hardmax };

template <SoftmaxKind Kind> void softmaxKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const Shape &xs = ctx.input(0).shape();
  auto rank = static_cast<int64_t>(xs.size());
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  int64_t len = xs[static_cast<size_t>(axis)];
  int64_t inner = product(xs, static_cast<size_t>(axis) + 1);
  int64_t outer = len * inner == 0 ? 0 : ctx.input(0).numElements() / (len * inner);
  float *y = ctx.output(0).data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float *src = x + o * len * inner + i;
      float *dst = y + o * len * inner + i;
      float maxValue = -std::numeric_limits<float>::infinity();
      int64_t arg = 0;
      for (int64_t j = 0; j < len; ++j)
        if (src[j * inner] > maxValue || j == 0) {
          maxValue = src[j * inner];
          arg = j;
        }
      if constexpr (Kind == SoftmaxKind::Hardmax) {
        for (int64_t j = 0; j < len; ++j) dst[j * inner] = j == arg ? 1.f : 0.f;
      } else {
        double sum = 0;
        for (int64_t j = 0; j < len; ++j) {
          float e = std::exp(src[j * inner] - maxValue);
          if constexpr (Kind == SoftmaxKind::Softmax) dst[j * inner] = e;
          sum += e;
        }
        if constexpr (Kind == SoftmaxKind::Softmax) {
          auto inv = static_cast<float>(1.0 / sum);
          for (int64_t j = 0; j < len; ++j) dst[j * inner] *= inv;
        } else {
          auto logSum = static_cast<float>(std::log(sum));
          for (int64_t j = 0; j < len; ++j) dst[j * inner] = src[j * inner] - maxValue - logSum;
        }
      }
    }
}

// ---------------------------------------------------------------------------------------
// Resize: separable along each axis. For every output coordinate of an axis we compute the
// input coordinate (coordinate_transformation_mode) and its taps (input index, weight); as
// in ONNX's reference, indices beyond the edges take the edge value.

using ir::ResizeAxisTaps;
using ir::ResizeParams;
using ir::ResizeTap;

/// Nearest: a pure gather, so it works on the raw bytes of any dtype.
void resizeNearest(KernelContext &ctx, const std::vector<ResizeAxisTaps> &axes, const ResizeParams &p) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  size_t r = axes.size();
  size_t elem = ir::dtypeSize(in.dtype());
  std::vector<int64_t> inStrides = ir::stridesOf(in.shape());
  const auto *src = static_cast<const uint8_t *>(in.rawData());
  auto *dst = static_cast<uint8_t *>(out.rawData());
  std::vector<int64_t> idx(r, 0);
  int64_t total = out.numElements();
  for (int64_t i = 0; i < total; ++i) {
    int64_t off = 0;
    bool outside = false;
    for (size_t d = 0; d < r; ++d) {
      off += axes[d].taps[static_cast<size_t>(idx[d])].index * inStrides[d];
      outside = outside || axes[d].outside[static_cast<size_t>(idx[d])];
    }
    if (outside)
      out.setFromDouble(i, p.extrapolation);
    else
      std::memcpy(dst + static_cast<size_t>(i) * elem, src + static_cast<size_t>(off) * elem, elem);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < out.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

/// Linear/cubic: one weighted pass per resized axis, last axis first (the order in which
/// ONNX's reference nests its interpolation).
void resizeInterpolate(KernelContext &ctx, const std::vector<ResizeAxisTaps> &axes, const ResizeParams &p,
                       const Shape &outShape) {
  const Tensor &in = ctx.input(0);
  Shape shape = in.shape();
  std::vector<float> cur(in.data<float>(), in.data<float>() + in.numElements());
  for (size_t d = shape.size(); d-- > 0;) {
    if (axes[d].identity) continue; // every output takes its own input with weight 1
    int64_t outer = product(Shape(shape.begin(), shape.begin() + static_cast<int64_t>(d)));
    int64_t inner = product(shape, d + 1);
    int64_t inLen = shape[d], outLen = outShape[d];
    std::vector<float> next(static_cast<size_t>(outer * outLen * inner), 0.f);
    const ResizeAxisTaps &a = axes[d];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t x = 0; x < outLen; ++x) {
        float *dst = next.data() + (o * outLen + x) * inner;
        if (a.outside[static_cast<size_t>(x)]) {
          std::fill(dst, dst + inner, p.extrapolation);
          continue;
        }
        for (int64_t t = 0; t < a.perOutput; ++t) {
          const ResizeTap &tap = a.taps[static_cast<size_t>(x * a.perOutput + t)];
          const float *src = cur.data() + (o * inLen + tap.index) * inner;
          for (int64_t i = 0; i < inner; ++i) dst[i] += tap.weight * src[i];
        }
      }
    cur.swap(next);
    shape[d] = outLen;
  }
  std::copy(cur.begin(), cur.end(), ctx.output(0).data<float>());
}

void resizeKernel(KernelContext &ctx) {
  const ResizeParams p = ir::resizeParams(ctx.node());
  auto optional = [&](size_t i) { return ctx.hasInput(i) ? &ctx.input(i) : nullptr; };
  const Tensor *roi = p.coord == "tf_crop_and_resize" ? optional(1) : nullptr;
  ir::ResizeGeometry g = ir::resizeGeometry(ctx.node(), ctx.input(0).shape(), roi, optional(2), optional(3));
  const Shape &inShape = ctx.input(0).shape();
  std::vector<ResizeAxisTaps> axes;
  for (size_t d = 0; d < inShape.size(); ++d)
    axes.push_back(ir::resizeAxisTaps(p, inShape[d], g.output[d], g.scales[d], g.roiStart[d], g.roiEnd[d]));
  if (p.mode == "nearest") return resizeNearest(ctx, axes, p);
  f32Input(ctx, 0); // linear and cubic interpolate in f32 only
  resizeInterpolate(ctx, axes, p, g.output);
}

// ---------------------------------------------------------------------------------------
// GridSample (opset 16), as ONNX Runtime and PyTorch compute it: the grid's normalized
// (x, y) becomes an input coordinate, and each interpolation tap outside the input reads 0
// (zeros), the nearest edge pixel (border) or its mirror image (reflection).

class GridSampler {
public:
  enum class Mode { Bilinear, Nearest, Bicubic };
  enum class Padding { Zeros, Border, Reflection };

  GridSampler(const ir::AttributeMap &attrs) {
    std::string mode = attrs.getString("mode", "bilinear");
    std::string padding = attrs.getString("padding_mode", "zeros");
    mode_ = mode == "nearest" ? Mode::Nearest : mode == "bicubic" ? Mode::Bicubic : Mode::Bilinear;
    padding_ = padding == "border" ? Padding::Border : padding == "reflection" ? Padding::Reflection : Padding::Zeros;
    alignCorners_ = attrs.getInt("align_corners", 0) != 0;
  }

  /// Interpolation taps along one axis of length `len` for the normalized coordinate v.
  struct Taps {
    int64_t index[4]; // -1: a zero from padding
    float weight[4];
    int count = 0;
  };

  Taps taps(float v, int64_t len) const {
    float x = coordinate(v, len);
    Taps t;
    auto add = [&](int64_t i, double w) {
      t.index[t.count] = tap(i, len);
      t.weight[t.count++] = static_cast<float>(w);
    };
    if (mode_ == Mode::Nearest) {
      add(static_cast<int64_t>(x), 1.0); // x is integral already
      return t;
    }
    double base = std::floor(x), ratio = x - base;
    auto i0 = static_cast<int64_t>(base);
    if (mode_ == Mode::Bilinear) {
      add(i0, 1.0 - ratio);
      add(i0 + 1, ratio);
    } else {
      std::vector<double> c = ir::cubicCoefficients(ratio, -0.75);
      for (int j = 0; j < 4; ++j) add(i0 - 1 + j, c[static_cast<size_t>(j)]);
    }
    return t;
  }

private:
  // The range padding keeps coordinates in: pixel centres with align_corners, edges without.
  float lo(int64_t) const { return alignCorners_ ? 0.0f : -0.5f; }
  float hi(int64_t len) const { return alignCorners_ ? static_cast<float>(len - 1) : static_cast<float>(len) - 0.5f; }

  /// Mirrors x into [lo, hi] (repeatedly, for coordinates far outside).
  static float reflect(float x, float lo, float hi) {
    float range = hi - lo;
    if (!(range > 0)) return lo;
    if (x < lo) {
      float d = lo - x;
      auto n = static_cast<int64_t>(d / range);
      float r = d - static_cast<float>(n) * range;
      return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
      float d = x - hi;
      auto n = static_cast<int64_t>(d / range);
      float r = d - static_cast<float>(n) * range;
      return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
  }

  /// The input coordinate of normalized v (rounded half to even in nearest mode).
  float coordinate(float v, int64_t len) const {
    auto n = static_cast<float>(len);
    float x = alignCorners_ ? (v + 1) / 2 * (n - 1) : ((v + 1) * n - 1) / 2;
    // Bounded (NaN included) so that integer conversions stay defined; float coordinates
    // this large have no fractional precision left anyway.
    constexpr float kFar = 1e12f;
    x = std::isnan(x) ? -kFar : std::clamp(x, -kFar, kFar);
    return mode_ == Mode::Nearest ? std::nearbyint(x) : x;
  }

  /// The input index read for tap position i, or -1 for a zero.
  int64_t tap(int64_t i, int64_t len) const {
    if (i >= 0 && i < len) return i;
    if (padding_ == Padding::Zeros || len == 0) return -1;
    if (padding_ == Padding::Reflection)
      i = static_cast<int64_t>(reflect(static_cast<float>(i), lo(len), hi(len)));
    return std::clamp<int64_t>(i, 0, len - 1);
  }

  Mode mode_;
  Padding padding_;
  bool alignCorners_;
};

void gridSampleKernel(KernelContext &ctx) {
  const float *x = f32Input(ctx, 0);
  const float *grid = f32Input(ctx, 1);
  const Shape &xs = ctx.input(0).shape();
  const Shape &ys = ctx.output(0).shape();
  int64_t batch = xs[0], channels = xs[1], height = xs[2], width = xs[3];
  int64_t outPlane = ys[2] * ys[3], inPlane = height * width;
  GridSampler sampler(ctx.attrs());
  float *y = ctx.output(0).data<float>();
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t p = 0; p < outPlane; ++p) {
      const float *g = grid + (n * outPlane + p) * 2; // (x, y) normalized to [-1, 1]
      GridSampler::Taps tx = sampler.taps(g[0], width), ty = sampler.taps(g[1], height);
      for (int64_t c = 0; c < channels; ++c) {
        const float *plane = x + (n * channels + c) * inPlane;
        double sum = 0;
        for (int j = 0; j < ty.count; ++j) {
          if (ty.index[j] < 0) continue;
          for (int i = 0; i < tx.count; ++i)
            if (tx.index[i] >= 0) sum += ty.weight[j] * tx.weight[i] * plane[ty.index[j] * width + tx.index[i]];
        }
        y[(n * channels + c) * outPlane + p] = static_cast<float>(sum);
      }
    }
}

// ---------------------------------------------------------------------------------------
// Quantized operators (QOperator format). The integer products are exact: inputs minus
// their zero points become int64, go through the same convolution / matmul code as the
// float ops, and QLinear* requantize each accumulator as ONNX Runtime does:
// saturate(round_half_even(acc * (in_scale * w_scale / y_scale)) + y_zero_point), in f32.

/// Input i's values as int64 (its zero points), or {0} when the optional input is absent.
std::vector<int64_t> zeroPointsOf(const KernelContext &ctx, size_t i) {
  if (!ctx.hasInput(i) || ctx.input(i).numElements() == 0) return {0};
  return ctx.input(i).toInt64Vector();
}

/// The elements of an i8/u8 tensor as int64 minus their zero point. Element i uses
/// zeroPoints[(i / inner) % count]: one zero point for the tensor, or one per index of the
/// axis whose consecutive indices lie `inner` elements apart.
std::vector<int64_t> centered(const KernelContext &ctx, const Tensor &q, const std::vector<int64_t> &zeroPoints,
                              int64_t inner) {
  std::vector<int64_t> out(static_cast<size_t>(q.numElements()));
  auto count = static_cast<int64_t>(zeroPoints.size());
  auto fill = [&](const auto *data) {
    for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i)
      out[i] = static_cast<int64_t>(data[i]) - zeroPoints[static_cast<size_t>(count == 1 ? 0 : (i / inner) % count)];
  };
  if (q.dtype() == DType::U8) fill(q.data<uint8_t>());
  else if (q.dtype() == DType::I8) fill(q.data<int8_t>());
  else ctx.fail("expected a u8 or i8 tensor, got " + q.type().toString());
  return out;
}

/// Writes saturate(round(acc[i] * multiplier(i)) + zeroPoint(i)) into the u8/i8 output.
template <typename Multiplier, typename ZeroPoint>
void requantize(KernelContext &ctx, const std::vector<int64_t> &acc, Multiplier multiplier, ZeroPoint zeroPoint) {
  Tensor &out = ctx.output(0);
  auto write = [&](auto *dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    for (size_t i = 0; i < acc.size(); ++i) {
      auto at = static_cast<int64_t>(i);
      dst[i] = detail::quantizeScaled<Q>(static_cast<float>(acc[i]) * multiplier(at), zeroPoint(at));
    }
  };
  if (out.dtype() == DType::U8) write(out.data<uint8_t>());
  else if (out.dtype() == DType::I8) write(out.data<int8_t>());
  else ctx.fail("output must be u8 or i8, got " + out.type().toString());
}

/// A scale or zero point with one value per tensor or one per channel (the rules checked
/// the count), read as f32 at channel c.
class PerChannel {
public:
  explicit PerChannel(const Tensor &t) : values_(t.toFloatVector()) {}
  float at(int64_t c) const { return values_[values_.size() == 1 ? 0 : static_cast<size_t>(c) % values_.size()]; }

private:
  std::vector<float> values_;
};

/// ConvInteger and QLinearConv: the int64 convolution of x - x_zero_point with
/// w - w_zero_point (per output channel).
std::vector<int64_t> integerConv(KernelContext &ctx, size_t xIndex, size_t xZeroIndex, size_t wIndex,
                                 size_t wZeroIndex) {
  const Tensor &x = ctx.input(xIndex), &w = ctx.input(wIndex);
  std::vector<int64_t> xc = centered(ctx, x, zeroPointsOf(ctx, xZeroIndex), 1);
  int64_t perChannel = w.shape()[0] > 0 ? w.numElements() / w.shape()[0] : 1; // W is [M, C/group, k...]
  std::vector<int64_t> wc = centered(ctx, w, zeroPointsOf(ctx, wZeroIndex), perChannel);
  std::vector<int64_t> acc(static_cast<size_t>(ctx.output(0).numElements()), 0);
  convolve<int64_t>(ctx.node(), x.shape(), w.shape(), xc.data(), wc.data(), acc.data());
  return acc;
}

/// ConvInteger/MatMulInteger outputs are int32: the exact int64 sums wrap as int32
/// accumulation would.
void storeWrappedInt32(const std::vector<int64_t> &acc, Tensor &out) {
  int32_t *y = out.data<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<int32_t>(acc[i]);
}

void convIntegerKernel(KernelContext &ctx) {
  std::vector<int64_t> acc = integerConv(ctx, 0, 2, 1, 3);
  storeWrappedInt32(acc, ctx.output(0));
}

void qLinearConvKernel(KernelContext &ctx) {
  std::vector<int64_t> acc = integerConv(ctx, 0, 2, 3, 5);
  const Shape &ys = ctx.output(0).shape();
  int64_t channels = ys[1], plane = product(ys, 2);
  if (ctx.hasInput(8)) { // bias, quantized with scale x_scale * w_scale and zero point 0
    const int32_t *bias = ctx.input(8).data<int32_t>();
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += bias[(static_cast<int64_t>(i) / plane) % channels];
  }
  PerChannel xScale(ctx.input(1)), wScale(ctx.input(4)), yScale(ctx.input(6)), yZeroPoint(ctx.input(7));
  requantize(
      ctx, acc, [&](int64_t i) { return xScale.at(0) * wScale.at((i / plane) % channels) / yScale.at(0); },
      [&](int64_t) { return yZeroPoint.at(0); });
}

/// MatMulInteger and QLinearMatMul: numpy.matmul of a - a_zero_point (per row) and
/// b - b_zero_point (per column) in int64.
std::vector<int64_t> integerMatMul(KernelContext &ctx, size_t aIndex, size_t aZeroIndex, size_t bIndex,
                                   size_t bZeroIndex) {
  const Tensor &a = ctx.input(aIndex), &b = ctx.input(bIndex);
  std::vector<int64_t> ac = centered(ctx, a, zeroPointsOf(ctx, aZeroIndex), a.shape().back());
  std::vector<int64_t> bc = centered(ctx, b, zeroPointsOf(ctx, bZeroIndex), 1);
  std::vector<int64_t> acc(static_cast<size_t>(ctx.output(0).numElements()), 0);
  batchedMatMul<int64_t>(ac.data(), a.shape(), bc.data(), b.shape(), acc.data());
  return acc;
}

void matMulIntegerKernel(KernelContext &ctx) {
  std::vector<int64_t> acc = integerMatMul(ctx, 0, 2, 1, 3);
  storeWrappedInt32(acc, ctx.output(0));
}

void qLinearMatMulKernel(KernelContext &ctx) {
  std::vector<int64_t> acc = integerMatMul(ctx, 0, 2, 3, 5);
  const Tensor &a = ctx.input(0), &b = ctx.input(3);
  // Output element i sits in row (i / columns) % rows and column i % columns.
  int64_t rows = a.rank() == 1 ? 1 : a.shape()[a.shape().size() - 2];
  int64_t columns = b.rank() == 1 ? 1 : b.shape().back();
  PerChannel aScale(ctx.input(1)), bScale(ctx.input(4)), yScale(ctx.input(6)), yZeroPoint(ctx.input(7));
  auto row = [&](int64_t i) { return (i / columns) % rows; };
  requantize(
      ctx, acc, [&](int64_t i) { return aScale.at(row(i)) * bScale.at(i % columns) / yScale.at(row(i)); },
      [&](int64_t i) { return yZeroPoint.at(row(i)); });
}

} // namespace

void registerNNKernels(KernelTable &table) {
  table["Conv"] = convKernel;
  table["ConvTranspose"] = convTransposeKernel;
  table["Gemm"] = gemmKernel;
  table["MatMul"] = matMulKernel;
  table["BatchNormalization"] = batchNormKernel;
  table["InstanceNormalization"] = instanceNormKernel;
  table["LRN"] = lrnKernel;
  table["MaxPool"] = maxPoolKernel;
  table["AveragePool"] = averagePoolKernel;
  table["LpPool"] = lpPoolKernel;
  table["GlobalAveragePool"] = globalPoolKernel<GlobalPool::Average>;
  table["GlobalMaxPool"] = globalPoolKernel<GlobalPool::Max>;
  table["GlobalLpPool"] = globalPoolKernel<GlobalPool::Lp>;
  table["Softmax"] = softmaxKernel<SoftmaxKind::Softmax>;
  table["LogSoftmax"] = softmaxKernel<SoftmaxKind::LogSoftmax>;
  table["Hardmax"] = softmaxKernel<SoftmaxKind::Hardmax>;
  table["Resize"] = resizeKernel;
  table["GridSample"] = gridSampleKernel;
  table["Einsum"] = einsumKernel;
  table["LayerNormalization"] = layerNormKernel;
  table["MeanVarianceNormalization"] = mvnKernel;
  table["QLinearConv"] = qLinearConvKernel;
  table["ConvInteger"] = convIntegerKernel;
  table["QLinearMatMul"] = qLinearMatMulKernel;
  table["MatMulInteger"] = matMulIntegerKernel;
}

} // namespace leip::interp
