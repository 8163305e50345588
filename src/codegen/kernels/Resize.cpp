// Resize over up to 6 dims (the compiler pads with leading dims of size 1). The compiler
// computes every axis's taps at compile time (coordinate transform, nearest rounding,
// linear/cubic weights, as the reference kernel does) and passes them as tables:
//   meta[0..6)   output dims
//   meta[6..12)  taps per output coordinate P_d (1 nearest or identity axis, 2 linear, 4 cubic)
//   meta[12..18) start of axis d's entries in `offsets`/`weights` ([coordinate][tap])
// offsets hold input element offsets (index * the input's stride along d), or -1 in the
// first tap of a coordinate outside the input (tf_crop_and_resize): such outputs take the
// fill value. The last axis's offsets come again as int32 in `lastOffsets` (its stride is 1),
// which halves the width of the gathers in the inner loops. Tasks are output rows (all dims
// but the last).
#include "Kernels.h"

namespace {

/// Decodes an output row into coordinates of dims 0..4 (once per row).
inline void rowCoordinates(const int64_t *__restrict meta, int64_t row, int64_t *o) {
  for (int d = 4; d >= 0; --d) {
    o[d] = row % meta[d];
    row /= meta[d];
  }
}

/// Nearest: a gather, so one kernel per element size serves every dtype.
template <typename T>
void resizeNearest(const T *__restrict x, T *__restrict y, const int64_t *__restrict meta,
                   const int64_t *__restrict offsets, const int32_t *__restrict last, T fill, int32_t hasOutside,
                   int64_t begin, int64_t end) {
  const int64_t W = meta[5];
  for (int64_t row = begin; row < end; ++row) {
    int64_t o[5];
    rowCoordinates(meta, row, o);
    int64_t base = 0;
    bool outside = false;
    for (int d = 0; d < 5; ++d) {
      const int64_t off = offsets[meta[12 + d] + o[d]];
      outside = outside || off < 0;
      base += off;
    }
    T *__restrict dst = y + row * W;
    if (outside) {
      for (int64_t j = 0; j < W; ++j) dst[j] = fill;
    } else if (hasOutside) {
      for (int64_t j = 0; j < W; ++j) dst[j] = last[j] < 0 ? fill : x[base + last[j]];
    } else {
      const T *__restrict src = x + base;
      for (int64_t j = 0; j < W; ++j) dst[j] = src[last[j]];
    }
  }
}

/// dst[j] (+)= w * sum_t weights[j][t] * src[offsets[j][t]] along the last axis; with
/// CheckOutside, coordinates outside the input take `fill`.
template <int P, bool CheckOutside>
inline void interpolateRow(const float *__restrict src, float *__restrict dst, int64_t W, float w, bool first,
                           const int32_t *__restrict off, const float *__restrict wt, float fill) {
  for (int64_t j = 0; j < W; ++j) {
    if (CheckOutside && off[j * P] < 0) {
      dst[j] = fill;
      continue;
    }
    float v = 0.0f;
#pragma clang loop unroll(full)
    for (int t = 0; t < P; ++t) v += wt[j * P + t] * src[off[j * P + t]];
    dst[j] = first ? w * v : dst[j] + w * v;
  }
}

template <bool CheckOutside>
inline void interpolateRows(int64_t P, const float *__restrict src, float *__restrict dst, int64_t W, float w,
                            bool first, const int32_t *__restrict off, const float *__restrict wt, float fill) {
  if (P == 1) interpolateRow<1, CheckOutside>(src, dst, W, w, first, off, wt, fill);
  else if (P == 2) interpolateRow<2, CheckOutside>(src, dst, W, w, first, off, wt, fill);
  else interpolateRow<4, CheckOutside>(src, dst, W, w, first, off, wt, fill);
}

} // namespace

#define LEIP_RESIZE_NEAREST(NAME, T)                                                                               \
  extern "C" void NAME(const T *x, T *y, const int64_t *meta, const int64_t *offsets, const int32_t *lastOffsets,  \
                       T fill, int32_t hasOutside, int64_t begin, int64_t end) {                                   \
    resizeNearest<T>(x, y, meta, offsets, lastOffsets, fill, hasOutside, begin, end);                             \
  }
LEIP_RESIZE_NEAREST(leip_k_resize_nearest_b1, uint8_t)
LEIP_RESIZE_NEAREST(leip_k_resize_nearest_b2, uint16_t)
LEIP_RESIZE_NEAREST(leip_k_resize_nearest_b4, uint32_t)
LEIP_RESIZE_NEAREST(leip_k_resize_nearest_b8, uint64_t)
#undef LEIP_RESIZE_NEAREST

/// Linear and cubic. Each output row is a sum over the combinations of taps of dims 0..4
/// (weight * input row): the rows are blended first (contiguous, vectorized) into a stack row
/// of inW elements, then the last axis is interpolated from it, so the inner loop gathers
/// P values per output instead of P per combination. Rows wider than the stack row sum the
/// last-axis interpolation of each input row instead (the reference's order of passes).
extern "C" void leip_k_resize_f32(const float *__restrict x, float *__restrict y, const int64_t *__restrict meta,
                                  const int64_t *__restrict offsets, const int32_t *__restrict lastOff,
                                  const float *__restrict weights, float fill, int32_t hasOutside, int64_t inW,
                                  int64_t begin, int64_t end) {
  constexpr int64_t kMaxRow = 4096;
  float blended[kMaxRow];
  const int64_t W = meta[5], P = meta[11];
  const int64_t combinations = meta[6] * meta[7] * meta[8] * meta[9] * meta[10];
  const float *__restrict lastWt = weights + meta[17];
  for (int64_t row = begin; row < end; ++row) {
    int64_t o[5], t[5] = {0, 0, 0, 0, 0};
    rowCoordinates(meta, row, o);
    float *__restrict dst = y + row * W;
    bool outside = false;
    for (int d = 0; d < 5; ++d) outside = outside || offsets[meta[12 + d] + o[d] * meta[6 + d]] < 0;
    if (outside) {
      for (int64_t j = 0; j < W; ++j) dst[j] = fill;
      continue;
    }
    const bool blend = inW <= kMaxRow;
    const float *src = blended;
    for (bool first = true;; first = false) {
      int64_t base = 0;
      float w = 1.0f;
      for (int d = 0; d < 5; ++d) {
        const int64_t at = meta[12 + d] + o[d] * meta[6 + d] + t[d];
        base += offsets[at];
        w *= weights[at];
      }
      const float *__restrict in = x + base;
      if (!blend) {
        if (hasOutside) interpolateRows<true>(P, in, dst, W, w, first, lastOff, lastWt, fill);
        else interpolateRows<false>(P, in, dst, W, w, first, lastOff, lastWt, fill);
      } else if (combinations == 1 && w == 1.0f) {
        src = in; // nothing to blend: interpolate straight from the input row
      } else if (first) {
        for (int64_t i = 0; i < inW; ++i) blended[i] = w * in[i];
      } else {
        for (int64_t i = 0; i < inW; ++i) blended[i] += w * in[i];
      }
      int d = 4; // next combination of taps
      while (d >= 0 && ++t[d] == meta[6 + d]) t[d--] = 0;
      if (d < 0) break;
    }
    if (blend) {
      if (hasOutside) interpolateRows<true>(P, src, dst, W, 1.0f, true, lastOff, lastWt, fill);
      else interpolateRows<false>(P, src, dst, W, 1.0f, true, lastOff, lastWt, fill);
    }
  }
}
