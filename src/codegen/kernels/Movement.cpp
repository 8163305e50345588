// Data movement for every dtype: the elements are moved as opaque unsigned integers of
// their size, so each kernel is a template instantiated for 1, 2, 4 and 8 bytes (suffixes
// _b1, _b2, _b4, _b8), or a byte kernel when whole rows move with memcpy. Strided gathers
// (Transpose, Slice, Expand, Tile, DepthToSpace, SpaceToDepth) and Pad take their dims as
// constant arrays of any rank; tasks are output rows (all dims but the last), whose inner
// loop is contiguous in the output.
#include "Kernels.h"
#include "Odometer.h"

using namespace leip::kernels;

namespace {


/// y[i...] = x[base + sum_d i_d * s_d] over `rank` output dims (strides may be 0 or
/// negative). Tasks: rows.
template <typename T>
void gatherStrided(const T *__restrict x, T *__restrict y, int64_t base, int64_t rank, const int64_t *__restrict dims,
                   const int64_t *__restrict strides, int64_t begin, int64_t end) {
  const int64_t n = rank - 1, len = dims[n], step = strides[n];
  int64_t c[kMaxRank];
  coordsOf(begin, dims, n, c);
  int64_t off = base;
  for (int64_t i = 0; i < n; ++i) off += c[i] * strides[i];
  for (int64_t row = begin; row < end; ++row) {
    const T *__restrict src = x + off;
    T *__restrict dst = y + row * len;
    if (step == 1) {
      for (int64_t j = 0; j < len; ++j) dst[j] = src[j];
    } else {
      for (int64_t j = 0; j < len; ++j) dst[j] = src[j * step];
    }
    advanceCoords(dims, strides, n, c, off);
  }
}

/// Pad as per-axis tables: output element (i0, .., ik) is x[sum_d table_d[i_d]], or the fill
/// value when any table entry is -1 (constant padding). `tables` holds the tables of all
/// axes back to back (dims[d] entries each). On the last axis, columns [lo, hi) read
/// consecutive input elements. `fill` may be null (zero). Tasks: rows.
template <typename T>
void padTables(const T *__restrict x, T *__restrict y, int64_t rank, const int64_t *__restrict dims,
               const int64_t *__restrict tables, int64_t lo, int64_t hi, const T *fill, int64_t begin, int64_t end) {
  const T value = fill ? *fill : T(0);
  const int64_t n = rank - 1, len = dims[n];
  const int64_t *__restrict last = tables;
  for (int64_t i = 0; i < n; ++i) last += dims[i];
  int64_t c[kMaxRank];
  coordsOf(begin, dims, n, c);
  for (int64_t row = begin; row < end; ++row) {
    T *__restrict dst = y + row * len;
    int64_t off = 0;
    bool inside = true;
    const int64_t *table = tables;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = table[c[i]];
      inside = inside && t >= 0;
      off += t;
      table += dims[i];
    }
    if (!inside) {
      for (int64_t j = 0; j < len; ++j) dst[j] = value;
    } else {
      const T *__restrict src = x + off;
      for (int64_t j = 0; j < lo; ++j) dst[j] = last[j] < 0 ? value : src[last[j]];
      if (hi > lo) {
        const T *__restrict mid = src + last[lo];
        for (int64_t j = lo; j < hi; ++j) dst[j] = mid[j - lo];
      }
      for (int64_t j = hi; j < len; ++j) dst[j] = last[j] < 0 ? value : src[last[j]];
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      if (++c[i] < dims[i]) break;
      c[i] = 0;
    }
  }
}

/// Constant padding of the last two axes of [N, C, H, W] into [N, C, Hp, Wp] (pads >= 0):
/// one task per padded row of one channel. With `rowsOuter` tasks run (image, row,
/// channel), so a thread's share of them is a band of rows of every channel, the band the
/// direct convolution reading the result computes from when it splits its work by rows;
/// else (image, channel, row), a band of channels.
template <typename T>
void padPlanes(const T *__restrict x, T *__restrict y, int64_t C, int64_t H, int64_t W, int64_t Hp, int64_t Wp,
               int64_t padT, int64_t padL, int32_t rowsOuter, const T *fill, int64_t begin, int64_t end) {
  const T value = fill ? *fill : T(0);
  for (int64_t t = begin; t < end; ++t) {
    const int64_t r = rowsOuter ? t / C % Hp : t % Hp, c = rowsOuter ? t % C : t / Hp % C, n = t / (C * Hp);
    T *__restrict out = y + ((n * C + c) * Hp + r) * Wp;
    const int64_t ih = r - padT;
    if (ih < 0 || ih >= H) {
      for (int64_t j = 0; j < Wp; ++j) out[j] = value;
      continue;
    }
    const T *__restrict in = x + ((n * C + c) * H + ih) * W;
    for (int64_t j = 0; j < padL; ++j) out[j] = value;
    memcpy(out + padL, in, static_cast<size_t>(W) * sizeof(T));
    for (int64_t j = padL + W; j < Wp; ++j) out[j] = value;
  }
}

} // namespace

#define LEIP_MOVEMENT_KERNELS(suffix, T)                                                                             \
  extern "C" void leip_k_gather_##suffix(const T *x, T *y, int64_t base, int64_t rank, const int64_t *dims,          \
                                         const int64_t *strides, int64_t begin, int64_t end) {                       \
    gatherStrided(x, y, base, rank, dims, strides, begin, end);                                                      \
  }                                                                                                                  \
  extern "C" void leip_k_pad_##suffix(const T *x, T *y, int64_t rank, const int64_t *dims, const int64_t *tables,    \
                                      int64_t lo, int64_t hi, const T *fill, int64_t begin, int64_t end) {           \
    padTables(x, y, rank, dims, tables, lo, hi, fill, begin, end);                                                   \
  }                                                                                                                  \
  extern "C" void leip_k_pad_planes_##suffix(const T *x, T *y, int64_t C, int64_t H, int64_t W, int64_t Hp,          \
                                             int64_t Wp, int64_t padT, int64_t padL, int32_t rowsOuter,              \
                                             const T *fill, int64_t begin, int64_t end) {                            \
    padPlanes(x, y, C, H, W, Hp, Wp, padT, padL, rowsOuter, fill, begin, end);                                       \
  }

LEIP_MOVEMENT_KERNELS(b1, uint8_t)
LEIP_MOVEMENT_KERNELS(b2, uint16_t)
LEIP_MOVEMENT_KERNELS(b4, uint32_t)
LEIP_MOVEMENT_KERNELS(b8, uint64_t)

/// y[r * yRow + yOff ..][0, bytes) = x[r * xRow + xOff ..][0, bytes) for rows r: one input
/// of Concat or one output of Split. Each row is cut into `pieces` byte ranges so that a
/// few long rows still give every thread work; tasks are (row, piece).
extern "C" void leip_k_copy_rows(const char *__restrict x, char *__restrict y, int64_t bytes, int64_t xRow,
                                 int64_t xOff, int64_t yRow, int64_t yOff, int64_t pieces, int64_t begin, int64_t end) {
  for (int64_t t = begin; t < end; ++t) {
    const int64_t r = t / pieces, p = t % pieces;
    const int64_t from = bytes * p / pieces, to = bytes * (p + 1) / pieces;
    memcpy(y + r * yRow + yOff + from, x + r * xRow + xOff + from, static_cast<size_t>(to - from));
  }
}

/// Inference-mode Dropout: y = x, and the mask (if any) all true. Tasks: elements.
extern "C" void leip_k_dropout(const char *__restrict x, char *__restrict y, char *__restrict mask, int64_t elemSize,
                               int64_t begin, int64_t end) {
  memcpy(y + begin * elemSize, x + begin * elemSize, static_cast<size_t>((end - begin) * elemSize));
  if (mask) memset(mask + begin, 1, static_cast<size_t>(end - begin));
}
