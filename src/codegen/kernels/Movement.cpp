// Data movement: strided gathers (Transpose, Slice, Expand), Concat and Pad. Shapes have
// at most 6 dims (the compiler collapses contiguous dims and pads with leading 1s); tasks
// are output rows (all dims but the last), whose inner loop is contiguous in the output.
#include "Kernels.h"

using namespace leip::kernels;

namespace {

/// Splits row index `row` of an output with dims d[0..4] (the row dims) into coordinates.
inline void rowCoords(int64_t row, const int64_t *d, int64_t *c) {
  for (int i = 4; i >= 0; --i) {
    c[i] = row % d[i];
    row /= d[i];
  }
}

/// Maps a coordinate outside [0, n) to the input coordinate Pad's edge (mode 1) or
/// reflect (mode 2) reads; -1 for constant mode (mode 0).
inline int64_t padSource(int64_t i, int64_t n, int32_t mode) {
  if (i >= 0 && i < n) return i;
  if (mode == 0) return -1;
  if (mode == 1 || n == 1) return i < 0 ? 0 : n - 1;
  const int64_t period = 2 * (n - 1);
  int64_t r = i % period;
  if (r < 0) r += period;
  return r < n ? r : period - r;
}

} // namespace

/// y[i0..i5] = x[base + sum_d i_d * s_d] for output dims d0..d5 (strides may be 0 or
/// negative).
extern "C" void leip_k_gather_f32(const float *__restrict x, float *__restrict y, int64_t base, int64_t d0,
                                  int64_t d1, int64_t d2, int64_t d3, int64_t d4, int64_t d5, int64_t s0, int64_t s1,
                                  int64_t s2, int64_t s3, int64_t s4, int64_t s5, int64_t begin, int64_t end) {
  const int64_t dims[5] = {d0, d1, d2, d3, d4};
  const int64_t strides[5] = {s0, s1, s2, s3, s4};
  for (int64_t row = begin; row < end; ++row) {
    int64_t c[5];
    rowCoords(row, dims, c);
    int64_t off = base;
    for (int i = 0; i < 5; ++i) off += c[i] * strides[i];
    const float *__restrict src = x + off;
    float *__restrict dst = y + row * d5;
    if (s5 == 1) {
      for (int64_t j = 0; j < d5; ++j) dst[j] = src[j];
    } else {
      for (int64_t j = 0; j < d5; ++j) dst[j] = src[j * s5];
    }
  }
}

/// One Concat input: rows of `inRow` elements go to y at `offset` within rows of
/// `outRow` elements. Tasks are the rows (the product of the dims before the axis).
extern "C" void leip_k_concat_f32(const float *__restrict x, float *__restrict y, int64_t inRow, int64_t outRow,
                                  int64_t offset, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float *__restrict src = x + r * inRow;
    float *__restrict dst = y + r * outRow + offset;
    for (int64_t j = 0; j < inRow; ++j) dst[j] = src[j];
  }
}

/// Pad (mode 0 constant, 1 edge, 2 reflect) from x with dims e[0..5] to y with dims
/// d[0..5]; p[i] is the (possibly negative) leading pad of dim i. `dims` holds d0..d5,
/// e0..e5, p0..p5.
extern "C" void leip_k_pad_f32(const float *__restrict x, float *__restrict y, const int64_t *__restrict dims,
                               int32_t mode, float value, int64_t begin, int64_t end) {
  const int64_t *d = dims, *e = dims + 6, *p = dims + 12;
  int64_t inStride[6];
  inStride[5] = 1;
  for (int i = 4; i >= 0; --i) inStride[i] = inStride[i + 1] * e[i + 1];
  const int64_t L = d[5];
  for (int64_t row = begin; row < end; ++row) {
    int64_t c[5];
    rowCoords(row, d, c);
    float *__restrict dst = y + row * L;
    int64_t off = 0;
    bool inside = true;
    for (int i = 0; i < 5; ++i) {
      const int64_t src = padSource(c[i] - p[i], e[i], mode);
      if (src < 0) inside = false;
      off += src * inStride[i];
    }
    if (!inside) {
      for (int64_t j = 0; j < L; ++j) dst[j] = value;
      continue;
    }
    const float *__restrict src = x + off;
    // Output columns [lo, hi) read input columns j - p5 directly.
    int64_t lo = p[5] < 0 ? 0 : (p[5] > L ? L : p[5]);
    int64_t hi = p[5] + e[5];
    hi = hi < lo ? lo : (hi > L ? L : hi);
    for (int64_t j = 0; j < lo; ++j) dst[j] = mode == 0 ? value : src[padSource(j - p[5], e[5], mode)];
    for (int64_t j = lo; j < hi; ++j) dst[j] = src[j - p[5]];
    for (int64_t j = hi; j < L; ++j) dst[j] = mode == 0 ? value : src[padSource(j - p[5], e[5], mode)];
  }
}
