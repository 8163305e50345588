// Pooling over 1 to 3 spatial dims (the compiler pads to 3 with dims of size 1): MaxPool
// (f32, i8, u8; optionally the Indices output), AveragePool, LpPool, and the global pools.
// Tasks are output rows (plane, od, oh). For each window tap (kd, kh, kw) whose input row
// exists, the kernel combines the tap into the output columns whose input column lies
// inside the image (ranges computed per tap, no bounds checks in the inner loop); windows
// never see the padding, as in the reference kernel.
#include "Sums.h"
#include "WindowGeometry.h"

using namespace leip::kernels;

namespace {

enum PoolKind { kMax, kMaxIndices, kAverage, kLp };

template <typename T> inline T lowestOf();
template <> inline float lowestOf<float>() { return -__builtin_inff(); }
template <> inline int8_t lowestOf<int8_t>() { return -128; }
template <> inline uint8_t lowestOf<uint8_t>() { return 0; }

inline float lpTerm(float v, int64_t p) {
  const float a = fabsf(v);
  return p == 1 ? a : p == 2 ? a * a : powf(a, static_cast<float>(p));
}

inline float lpRoot(float sum, int64_t p) {
  return p == 1 ? sum : p == 2 ? sqrtf(sum) : powf(sum, 1.0f / static_cast<float>(p));
}

/// Combines tap values into `acc` (the output row; `idx` the Indices row for kMaxIndices).
template <typename T, PoolKind Kind>
void pool(const T *__restrict x, T *__restrict y, int64_t *__restrict indices, const WindowGeometry &g, int64_t p,
          int64_t begin, int64_t end) {
  const int64_t D = g.in(0), H = g.in(1), W = g.in(2), OD = g.out(0), OH = g.out(1), OW = g.out(2);
  const int64_t sW = g.stride(2);
  for (int64_t task = begin; task < end; ++task) {
    const int64_t oh = task % OH, od = task / OH % OD, plane = task / (OH * OD);
    const T *__restrict src = x + plane * D * H * W;
    T *__restrict acc = y + task * OW;
    int64_t *__restrict idx = Kind == kMaxIndices ? indices + task * OW : nullptr;
    for (int64_t j = 0; j < OW; ++j) {
      acc[j] = Kind == kMax || Kind == kMaxIndices ? lowestOf<T>() : T(0);
      if (Kind == kMaxIndices) idx[j] = -1;
    }
    for (int64_t kd = 0; kd < g.kernel(0); ++kd) {
      const int64_t id = od * g.stride(0) - g.pad(0) + kd * g.dilation(0);
      if (id < 0 || id >= D) continue;
      for (int64_t kh = 0; kh < g.kernel(1); ++kh) {
        const int64_t ih = oh * g.stride(1) - g.pad(1) + kh * g.dilation(1);
        if (ih < 0 || ih >= H) continue;
        const T *__restrict row = src + (id * H + ih) * W;
        for (int64_t kw = 0; kw < g.kernel(2); ++kw) {
          // Output columns j with 0 <= j * sW + offset < W.
          const int64_t offset = kw * g.dilation(2) - g.pad(2);
          const int64_t lo = offset >= 0 ? 0 : (-offset + sW - 1) / sW;
          int64_t hi = W - 1 - offset < 0 ? 0 : (W - 1 - offset) / sW + 1;
          if (hi > OW) hi = OW;
          const T *__restrict in = row + offset;
          for (int64_t j = lo; j < hi; ++j) {
            const T v = in[j * sW];
            if (Kind == kMax) {
              acc[j] = v > acc[j] ? v : acc[j];
            } else if (Kind == kMaxIndices) {
              if (idx[j] < 0 || v > acc[j]) { // the first maximum in window order, as the reference
                acc[j] = v;
                idx[j] = plane * D * H * W + id * g.indexStride(0) + ih * g.indexStride(1) +
                         (j * sW + offset) * g.indexStride(2);
              }
            } else if (Kind == kAverage) {
              acc[j] += v;
            } else {
              acc[j] += lpTerm(v, p);
            }
          }
        }
      }
    }
    if (Kind == kLp)
      for (int64_t j = 0; j < OW; ++j) acc[j] = lpRoot(acc[j], p);
  }
}

/// 2-D max pooling, one output row per task, in contiguous vector loops: first the max of
/// the input rows the window covers, column by column, into a buffer padded with the type's
/// lowest value (so padding never wins, as in the generic kernel; integers: padding may tie
/// but never exceeds, and a window always covers an input); for stride 2 that row is split into its
/// even and odd columns; then each tap kw is a unit-stride max into the output row. The
/// output may be the interior of zero-padded planes (storedHeight x storedWidth at
/// (storedTop, storedLeft)): each task then zeroes its row's border cells, and the first and
/// last row's tasks the rows above and below.
template <typename T, int STRIDE>
void maxPoolRows(const T *__restrict x, T *__restrict y, const WindowGeometry &g, int64_t begin,
                 int64_t end) {
  const int64_t H = g.in(1), W = g.in(2), OH = g.out(1), OW = g.out(2), KW = g.kernel(2), padL = g.pad(2);
  const int64_t yH = g.storedHeight(), yW = g.storedWidth(), yTop = g.storedTop(), yLeft = g.storedLeft();
  alignas(64) T row[kPoolRow];
  alignas(64) T halves[2][kPoolRow / 2];
  const int64_t span = (OW - 1) * STRIDE + KW; // padded columns the window reads
  const int64_t right = span > padL + W ? span : padL + W;
  for (int64_t c = 0; c < padL; ++c) row[c] = lowestOf<T>();
  for (int64_t c = padL + W; c < right + 2; ++c) row[c] = lowestOf<T>();
  T *__restrict mid = row + padL;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t oh = task % OH, plane = task / OH;
    const T *__restrict src = x + plane * H * W;
    bool any = false;
    for (int64_t kh = 0; kh < g.kernel(1); ++kh) {
      const int64_t ih = oh * g.stride(1) - g.pad(1) + kh;
      if (ih < 0 || ih >= H) continue;
      const T *__restrict in = src + ih * W;
      if (!any)
        for (int64_t c = 0; c < W; ++c) mid[c] = in[c];
      else
        for (int64_t c = 0; c < W; ++c) mid[c] = in[c] > mid[c] ? in[c] : mid[c];
      any = true;
    }
    if (!any)
      for (int64_t c = 0; c < W; ++c) mid[c] = lowestOf<T>();
    T *__restrict planeOut = y + plane * yH * yW;
    T *__restrict out = planeOut + (yTop + oh) * yW + yLeft;
    if (yW != OW || yH != OH) { // the zero border of a padded output
      for (int64_t j = -yLeft; j < 0; ++j) out[j] = T(0);
      for (int64_t j = OW; j < yW - yLeft; ++j) out[j] = T(0);
      if (oh == 0)
        for (int64_t j = 0; j < yTop * yW; ++j) planeOut[j] = T(0);
      if (oh == OH - 1)
        for (int64_t j = (yTop + OH) * yW; j < yH * yW; ++j) planeOut[j] = T(0);
    }
    const T *__restrict taps[2] = {row, row};
    if (STRIDE == 2) {
      for (int64_t c = 0; c < (right + 2) / 2; ++c) {
        halves[0][c] = row[2 * c];
        halves[1][c] = row[2 * c + 1];
      }
      taps[0] = halves[0];
      taps[1] = halves[1];
    }
    for (int64_t j = 0; j < OW; ++j) out[j] = taps[0][j];
    for (int64_t kw = 1; kw < KW; ++kw) {
      const T *__restrict tap = STRIDE == 2 ? taps[kw & 1] + kw / 2 : row + kw; // column STRIDE * j + kw
      for (int64_t j = 0; j < OW; ++j) out[j] = tap[j] > out[j] ? tap[j] : out[j];
    }
  }
}

template <typename T>
void maxPool(const T *x, T *y, int64_t *indices, const int64_t *geom, int64_t begin, int64_t end) {
  const WindowGeometry g{geom};
  if (!indices && maxPoolRowsFit(g)) {
    if (g.stride(2) == 1)
      maxPoolRows<T, 1>(x, y, g, begin, end);
    else
      maxPoolRows<T, 2>(x, y, g, begin, end);
    return;
  }
  if (indices) pool<T, kMaxIndices>(x, y, indices, g, 0, begin, end);
  else pool<T, kMax>(x, y, nullptr, g, 0, begin, end);
}

} // namespace

/// indices: the Indices output (flat index into x, row- or column-major per the strides in
/// geom) or null.
extern "C" void leip_k_maxpool_f32(const float *x, float *y, int64_t *indices, const int64_t *geom, int64_t begin,
                                   int64_t end) {
  maxPool(x, y, indices, geom, begin, end);
}
extern "C" void leip_k_maxpool_i8(const int8_t *x, int8_t *y, int64_t *indices, const int64_t *geom, int64_t begin,
                                  int64_t end) {
  maxPool(x, y, indices, geom, begin, end);
}
extern "C" void leip_k_maxpool_u8(const uint8_t *x, uint8_t *y, int64_t *indices, const int64_t *geom,
                                  int64_t begin, int64_t end) {
  maxPool(x, y, indices, geom, begin, end);
}

/// divisors: per dim, the window size each output coordinate divides by (OD, then OH, then
/// OW entries); an output's divisor is their product (0 gives 0).
extern "C" void leip_k_avgpool_f32(const float *x, float *y, const int64_t *geom, const int64_t *__restrict divisors,
                                   int64_t begin, int64_t end) {
  const WindowGeometry g{geom};
  pool<float, kAverage>(x, y, nullptr, g, 0, begin, end);
  const int64_t OD = g.out(0), OH = g.out(1), OW = g.out(2);
  const int64_t *__restrict dW = divisors + OD + OH;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t oh = task % OH, od = task / OH % OD;
    const int64_t rowCount = divisors[od] * divisors[OD + oh];
    float *__restrict row = y + task * OW;
    for (int64_t j = 0; j < OW; ++j) {
      const int64_t count = rowCount * dW[j];
      row[j] = count > 0 ? row[j] / static_cast<float>(count) : 0.0f;
    }
  }
}

extern "C" void leip_k_lppool_f32(const float *x, float *y, const int64_t *geom, int64_t p, int64_t begin,
                                  int64_t end) {
  pool<float, kLp>(x, y, nullptr, WindowGeometry{geom}, p, begin, end);
}

/// GlobalAveragePool (op 0), GlobalMaxPool (op 1), GlobalLpPool (op 2, with p): one value
/// per (n, c) plane of `size` elements (a task).
extern "C" void leip_k_global_pool_f32(const float *__restrict x, float *__restrict y, int64_t size, int32_t op,
                                       int64_t p, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const float *__restrict plane = x + task * size;
    if (op == 1) {
      float acc = size > 0 ? -__builtin_inff() : 0.0f;
      for (int64_t i = 0; i < size; ++i) acc = plane[i] > acc ? plane[i] : acc;
      y[task] = acc;
    } else if (op == 0) {
      y[task] = static_cast<float>(sumF64(plane, size) / static_cast<double>(size));
    } else {
      double sum = 0.0;
      for (int64_t i = 0; i < size; ++i) sum += lpTerm(plane[i], p);
      y[task] = lpRoot(static_cast<float>(sum), p);
    }
  }
}
