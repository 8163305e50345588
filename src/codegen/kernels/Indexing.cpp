// Indexing ops: Gather, GatherElements, GatherND, ScatterND, ScatterElements, OneHot, TopK,
// Trilu, ReverseSequence. Data moves as bytes (memcpy of rows) or as unsigned integers of
// the element size (suffixes _b1.._b8); only TopK (ordering) and the scatter reductions
// (arithmetic) are typed (_f32, _i8, _u8, _i32, _i64). Index tensors are read through
// loadIndex with the index dtype as a constant argument, so one kernel serves int32 and
// int64 indices. Out-of-range index values, which the interpreter reports as an error,
// cannot be reported from inside a kernel: gathers write zeros for them and scatters skip
// them, so a kernel never reads or writes outside its tensors.
#include "Kernels.h"
#include "Odometer.h"

using namespace leip::kernels;

extern "C" {
void *malloc(size_t size);
void free(void *p);
}

namespace {

/// The dtypes an index tensor may have (the compiler passes one of these as a constant).
enum IndexType : int32_t { kIndexI32 = 0, kIndexI64 = 1, kIndexI8 = 2, kIndexU8 = 3, kIndexF32 = 4 };

/// Element i of an index tensor as int64; floats convert as leip::ir::Tensor::getAsInt64
/// does (NaN -> 0, saturating, truncation toward zero).
inline int64_t loadIndex(const void *p, int64_t i, int32_t type) {
  switch (type) {
  case kIndexI32: return static_cast<const int32_t *>(p)[i];
  case kIndexI64: return static_cast<const int64_t *>(p)[i];
  case kIndexI8: return static_cast<const int8_t *>(p)[i];
  case kIndexU8: return static_cast<const uint8_t *>(p)[i];
  default: {
    const double v = static_cast<const float *>(p)[i];
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return static_cast<int64_t>(v);
  }
  }
}

/// A possibly negative index into a dim of size `dim`, or -1 when out of range.
inline int64_t normalizeIndex(int64_t index, int64_t dim) {
  if (index < -dim || index >= dim) return -1;
  return index < 0 ? index + dim : index;
}


// --- GatherElements ------------------------------------------------------------------------

/// y[c] = data[sum_d c_d * strides[d] + index(c) * axisStride] over the index tensor's dims;
/// strides[axis] is 0. Tasks: rows of the index tensor.
template <typename T>
void gatherElements(const T *__restrict data, const void *indices, T *__restrict y, int32_t indexType, int64_t rank,
                    const int64_t *dims, const int64_t *strides, int64_t axisStride, int64_t axisDim, int64_t begin,
                    int64_t end) {
  const int64_t n = rank - 1, len = dims[n], step = strides[n];
  int64_t c[kMaxRank];
  coordsOf(begin, dims, n, c);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) off += c[i] * strides[i];
  for (int64_t row = begin; row < end; ++row) {
    for (int64_t j = 0; j < len; ++j) {
      const int64_t index = normalizeIndex(loadIndex(indices, row * len + j, indexType), axisDim);
      y[row * len + j] = index < 0 ? T(0) : data[off + j * step + index * axisStride];
    }
    advanceCoords(dims, strides, n, c, off);
  }
}

// --- Scatter -------------------------------------------------------------------------------

/// ScatterND / ScatterElements reductions; integers wrap, as the interpreter's.
enum Reduction : int32_t { kNone = 0, kAdd = 1, kMul = 2, kMax = 3, kMin = 4 };

template <typename T> inline T reduce(T a, T b, int32_t r) {
  T out = b;
  switch (r) {
  case kAdd:
    if constexpr (__is_floating_point(T)) out = a + b;
    else __builtin_add_overflow(a, b, &out);
    break;
  case kMul:
    if constexpr (__is_floating_point(T)) out = a * b;
    else __builtin_mul_overflow(a, b, &out);
    break;
  case kMax: out = a < b ? b : a; break; // std::max
  case kMin: out = b < a ? b : a; break; // std::min
  default: break;
  }
  return out;
}

/// Copies rows [begin, end) of data's first dim to y: each task owns those output rows and
/// applies, in index order, only the updates that land in them, so any split of the tasks
/// gives the sequential result.
template <typename T>
inline void copyOwnRows(const T *data, T *y, int64_t rowElems, int64_t begin, int64_t end) {
  memcpy(y + begin * rowElems, data + begin * rowElems, static_cast<size_t>((end - begin) * rowElems) * sizeof(T));
}

/// out = data; then for each index tuple t (k values over data's first k dims) the slice of
/// sliceElems elements at the tuple is set (or reduced) from updates[t]. Tasks: rows of
/// data's first dim (rowElems elements each); `strides` are data's for its first k dims.
template <typename T>
void scatterND(const T *data, const void *indices, const T *__restrict updates, T *y, int32_t indexType,
               int32_t reduction, int64_t k, const int64_t *dims, const int64_t *strides, int64_t tuples,
               int64_t sliceElems, int64_t rowElems, int64_t begin, int64_t end) {
  copyOwnRows(data, y, rowElems, begin, end);
  for (int64_t t = 0; t < tuples; ++t) {
    const int64_t first = normalizeIndex(loadIndex(indices, t * k, indexType), dims[0]);
    if (first < begin || first >= end) continue; // out of range (-1) or another task's row
    int64_t off = first * strides[0];
    bool valid = true;
    for (int64_t j = 1; j < k; ++j) {
      const int64_t index = normalizeIndex(loadIndex(indices, t * k + j, indexType), dims[j]);
      valid = valid && index >= 0;
      off += index * strides[j];
    }
    if (!valid) continue;
    T *__restrict dst = y + off;
    const T *__restrict src = updates + t * sliceElems;
    if (reduction == kNone) {
      for (int64_t e = 0; e < sliceElems; ++e) dst[e] = src[e];
    } else {
      for (int64_t e = 0; e < sliceElems; ++e) dst[e] = reduce(dst[e], src[e], reduction);
    }
  }
}

/// out = data; then out[c with c[axis] = index(c)] (op)= updates[c] for every coordinate c
/// of the index tensor (dims), in row-major order. `strides` are data's with
/// strides[axis] = 0. Tasks: rows of data's first dim (rowElems elements each).
template <typename T>
void scatterElements(const T *data, const void *indices, const T *__restrict updates, T *y, int32_t indexType,
                     int32_t reduction, int64_t rank, const int64_t *dims, const int64_t *strides, int64_t axis,
                     int64_t axisStride, int64_t axisDim, int64_t rowElems, int64_t begin, int64_t end) {
  copyOwnRows(data, y, rowElems, begin, end);
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d) count *= dims[d];
  if (count == 0) return;
  // Along another axis than 0, the updates for rows [begin, end) are a contiguous run.
  const int64_t perRow = count / dims[0];
  const int64_t from = axis == 0 ? 0 : begin * perRow;
  const int64_t to = axis == 0 ? count : (end < dims[0] ? end : dims[0]) * perRow;
  if (from >= to) return;
  int64_t c[kMaxRank];
  coordsOf(from, dims, rank, c);
  int64_t off = 0;
  for (int64_t d = 0; d < rank; ++d) off += c[d] * strides[d];
  for (int64_t e = from; e < to; ++e) {
    const int64_t index = normalizeIndex(loadIndex(indices, e, indexType), axisDim);
    const int64_t row = axis == 0 ? index : c[0];
    if (index >= 0 && row >= begin && row < end) {
      T &dst = y[off + index * axisStride];
      dst = reduction == kNone ? updates[e] : reduce(dst, updates[e], reduction);
    }
    advanceCoords(dims, strides, rank, c, off);
  }
}

// --- TopK ----------------------------------------------------------------------------------

template <typename T> inline bool isNaN(T v) { return v != v; }

/// Whether key a ranks strictly before key b: larger (or smaller) first, NaN above every
/// number (numpy's order), as the interpreter's.
template <typename T> inline bool ranksBefore(T a, T b, bool largest) {
  const bool na = isNaN(a), nb = isNaN(b);
  if (na || nb) return na && nb ? false : (largest ? na : nb);
  return largest ? a > b : a < b;
}

/// Stable bottom-up merge sort of positions `pos` (initially 0..n-1) by keys; ties keep the
/// lower position first. `tmp` has room for n positions. Returns the sorted array.
template <typename T>
int64_t *sortPositions(const T *keys, int64_t *pos, int64_t *tmp, int64_t n, bool largest) {
  int64_t *src = pos, *dst = tmp;
  for (int64_t width = 1; width < n; width *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * width) {
      const int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
      int64_t a = lo, b = mid, o = lo;
      while (a < mid && b < hi) dst[o++] = ranksBefore(keys[src[b]], keys[src[a]], largest) ? src[b++] : src[a++];
      while (a < mid) dst[o++] = src[a++];
      while (b < hi) dst[o++] = src[b++];
    }
    int64_t *swap = src;
    src = dst;
    dst = swap;
  }
  return src;
}

/// The k best positions of keys[0..n) in order into `best` by insertion, for small k: a
/// position enters only if it ranks strictly before the current k-th, and goes after the
/// positions it does not rank before, so ties keep the lower position first.
template <typename T> void selectPositions(const T *keys, int64_t n, int64_t k, int64_t *best, bool largest) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (count == k && !ranksBefore(keys[i], keys[best[k - 1]], largest)) continue;
    int64_t p = count < k ? count++ : k - 1;
    while (p > 0 && ranksBefore(keys[i], keys[best[p - 1]], largest)) {
      best[p] = best[p - 1];
      --p;
    }
    best[p] = i;
  }
}

/// TopK along an axis of length `dim` ([outer, dim, inner] view): the k first elements in
/// order, their positions as int64. Tasks: (outer, inner) slices.
template <typename T>
void topK(const T *__restrict x, T *__restrict values, int64_t *__restrict indices, int64_t dim, int64_t inner,
          int64_t k, int32_t largest, int64_t begin, int64_t end) {
  constexpr int64_t kStackDim = 512, kInsertionK = 16;
  int64_t stackPos[2 * kStackDim];
  T stackKeys[kStackDim];
  int64_t *pos = stackPos;
  T *keys = stackKeys;
  void *heap = nullptr;
  if (dim > kStackDim) {
    heap = malloc(static_cast<size_t>(dim) * (2 * sizeof(int64_t) + sizeof(T)));
    if (!heap) return;
    pos = static_cast<int64_t *>(heap);
    keys = reinterpret_cast<T *>(pos + 2 * dim);
  }
  for (int64_t s = begin; s < end; ++s) {
    const int64_t o = s / inner, j = s % inner;
    const T *__restrict slice = x + o * dim * inner + j;
    for (int64_t i = 0; i < dim; ++i) keys[i] = slice[i * inner];
    // Few positions wanted: insertion costs about one comparison per element.
    const int64_t *sorted = pos;
    if (k <= kInsertionK) {
      selectPositions(keys, dim, k, pos, largest != 0);
    } else {
      for (int64_t i = 0; i < dim; ++i) pos[i] = i;
      sorted = sortPositions(keys, pos, pos + dim, dim, largest != 0);
    }
    for (int64_t r = 0; r < k; ++r) {
      const int64_t at = (o * k + r) * inner + j;
      values[at] = keys[sorted[r]];
      if (indices) indices[at] = sorted[r];
    }
  }
  if (heap) free(heap);
}

// --- OneHot --------------------------------------------------------------------------------

/// y[o, d, j] = values[1] where index(o, j) (normalized) is d, else values[0]; indices
/// outside [-depth, depth) leave the row all "off". Tasks: o.
template <typename T>
void oneHot(const void *indices, const T *values, T *__restrict y, int32_t indexType, int64_t depth, int64_t inner,
            int64_t begin, int64_t end) {
  const T off = values[0], on = values[1];
  for (int64_t o = begin; o < end; ++o) {
    T *__restrict dst = y + o * depth * inner;
    for (int64_t e = 0; e < depth * inner; ++e) dst[e] = off;
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t index = normalizeIndex(loadIndex(indices, o * inner + j, indexType), depth);
      if (index >= 0) dst[index * inner + j] = on;
    }
  }
}

} // namespace

#define LEIP_SIZED_INDEXING_KERNELS(suffix, T)                                                                       \
  extern "C" void leip_k_gather_elements_##suffix(const T *data, const void *indices, T *y, int32_t indexType,      \
                                                  int64_t rank, const int64_t *dims, const int64_t *strides,         \
                                                  int64_t axisStride, int64_t axisDim, int64_t begin, int64_t end) { \
    gatherElements(data, indices, y, indexType, rank, dims, strides, axisStride, axisDim, begin, end);               \
  }                                                                                                                  \
  extern "C" void leip_k_one_hot_##suffix(const void *indices, const T *values, T *y, int32_t indexType,            \
                                          int64_t depth, int64_t inner, int64_t begin, int64_t end) {                \
    oneHot(indices, values, y, indexType, depth, inner, begin, end);                                                 \
  }

LEIP_SIZED_INDEXING_KERNELS(b1, uint8_t)
LEIP_SIZED_INDEXING_KERNELS(b2, uint16_t)
LEIP_SIZED_INDEXING_KERNELS(b4, uint32_t)
LEIP_SIZED_INDEXING_KERNELS(b8, uint64_t)

// Scatter: typed for the reductions; _b2 (float16) only without a reduction.
#define LEIP_SCATTER_KERNELS(suffix, T)                                                                              \
  extern "C" void leip_k_scatter_nd_##suffix(const T *data, const void *indices, const T *updates, T *y,            \
                                             int32_t indexType, int32_t reduction, int64_t k, const int64_t *dims,   \
                                             const int64_t *strides, int64_t tuples, int64_t sliceElems,             \
                                             int64_t rowElems, int64_t begin, int64_t end) {                         \
    scatterND(data, indices, updates, y, indexType, reduction, k, dims, strides, tuples, sliceElems, rowElems,       \
              begin, end);                                                                                           \
  }                                                                                                                  \
  extern "C" void leip_k_scatter_elements_##suffix(                                                                  \
      const T *data, const void *indices, const T *updates, T *y, int32_t indexType, int32_t reduction,              \
      int64_t rank, const int64_t *dims, const int64_t *strides, int64_t axis, int64_t axisStride, int64_t axisDim,  \
      int64_t rowElems, int64_t begin, int64_t end) {                                                                \
    scatterElements(data, indices, updates, y, indexType, reduction, rank, dims, strides, axis, axisStride, axisDim, \
                    rowElems, begin, end);                                                                           \
  }

LEIP_SCATTER_KERNELS(f32, float)
LEIP_SCATTER_KERNELS(i8, int8_t)
LEIP_SCATTER_KERNELS(u8, uint8_t)
LEIP_SCATTER_KERNELS(b2, uint16_t)
LEIP_SCATTER_KERNELS(i32, int32_t)
LEIP_SCATTER_KERNELS(i64, int64_t)

#define LEIP_TOPK_KERNEL(suffix, T)                                                                                  \
  extern "C" void leip_k_topk_##suffix(const T *x, T *values, int64_t *indices, int64_t dim, int64_t inner,         \
                                       int64_t k, int32_t largest, int64_t begin, int64_t end) {                     \
    topK(x, values, indices, dim, inner, k, largest, begin, end);                                                    \
  }

LEIP_TOPK_KERNEL(f32, float)
LEIP_TOPK_KERNEL(i8, int8_t)
LEIP_TOPK_KERNEL(u8, uint8_t)
LEIP_TOPK_KERNEL(i32, int32_t)
LEIP_TOPK_KERNEL(i64, int64_t)

/// Gather along an axis ([outer, dim, inner] view, inner as bytes): row (o, i) of y is row
/// (o, index(i)) of data. Tasks: (o, i) rows.
extern "C" void leip_k_gather_axis(const char *__restrict data, const void *indices, char *__restrict y,
                                   int32_t indexType, int64_t count, int64_t dim, int64_t innerBytes, int64_t begin,
                                   int64_t end) {
  int64_t o = begin / count, i = begin % count;
  for (int64_t t = begin; t < end; ++t) {
    const int64_t index = normalizeIndex(loadIndex(indices, i, indexType), dim);
    char *dst = y + t * innerBytes;
    if (index < 0) memset(dst, 0, static_cast<size_t>(innerBytes));
    else memcpy(dst, data + (o * dim + index) * innerBytes, static_cast<size_t>(innerBytes));
    if (++i == count) {
      i = 0;
      ++o;
    }
  }
}

/// GatherND: tuple t (m index values over data's dims after the batch dims, `dims` and byte
/// `strides` of those) selects a slice of sliceBytes in batch t / tuplesPerBatch. Tasks:
/// tuples.
extern "C" void leip_k_gather_nd(const char *__restrict data, const void *indices, char *__restrict y,
                                 int32_t indexType, int64_t m, const int64_t *dims, const int64_t *strides,
                                 int64_t tuplesPerBatch, int64_t batchBytes, int64_t sliceBytes, int64_t begin,
                                 int64_t end) {
  for (int64_t t = begin; t < end; ++t) {
    int64_t off = t / tuplesPerBatch * batchBytes;
    bool valid = true;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t index = normalizeIndex(loadIndex(indices, t * m + j, indexType), dims[j]);
      valid = valid && index >= 0;
      off += index * strides[j];
    }
    char *dst = y + t * sliceBytes;
    if (valid) memcpy(dst, data + off, static_cast<size_t>(sliceBytes));
    else memset(dst, 0, static_cast<size_t>(sliceBytes));
  }
}

/// Trilu on rows of cols elements of elemSize bytes: row i of each matrix keeps columns j
/// with j - i >= k (upper) or j - i <= k (lower), the rest is zero. k is *kInput when
/// given (a run-time tensor), else kConst. Tasks: matrix rows.
extern "C" void leip_k_trilu(const char *__restrict x, char *__restrict y, const int64_t *kInput, int64_t kConst,
                             int32_t upper, int64_t rows, int64_t cols, int64_t elemSize, int64_t begin,
                             int64_t end) {
  int64_t k = kInput ? *kInput : kConst;
  k = k < -rows - 1 ? -rows - 1 : (k > cols + 1 ? cols + 1 : k); // beyond this nothing changes
  auto clampCol = [cols](int64_t v) { return v < 0 ? 0 : (v > cols ? cols : v); };
  for (int64_t t = begin; t < end; ++t) {
    const int64_t i = t % rows;
    const int64_t lo = upper ? clampCol(i + k) : 0;
    int64_t hi = upper ? cols : clampCol(i + k + 1);
    if (hi < lo) hi = lo;
    const int64_t row = t * cols * elemSize;
    memset(y + row, 0, static_cast<size_t>(lo * elemSize));
    memcpy(y + row + lo * elemSize, x + row + lo * elemSize, static_cast<size_t>((hi - lo) * elemSize));
    memset(y + row + hi * elemSize, 0, static_cast<size_t>((cols - hi) * elemSize));
  }
}

/// ReverseSequence: the first lens[b] time steps of batch element b are reversed (lengths
/// outside [0, steps] are clamped), the rest copied; each (batch, time) cell has innerBytes.
/// Tasks: cells in memory order ([batch, time] or [time, batch]).
extern "C" void leip_k_reverse_sequence(const char *__restrict x, const int64_t *lens, char *__restrict y,
                                        int32_t batchFirst, int64_t batch, int64_t steps, int64_t innerBytes,
                                        int64_t begin, int64_t end) {
  for (int64_t p = begin; p < end; ++p) {
    const int64_t b = batchFirst ? p / steps : p % batch, t = batchFirst ? p % steps : p / batch;
    int64_t len = lens[b];
    len = len < 0 ? 0 : (len > steps ? steps : len);
    const int64_t from = t < len ? len - 1 - t : t;
    const int64_t src = batchFirst ? b * steps + from : from * batch + b;
    memcpy(y + p * innerBytes, x + src * innerBytes, static_cast<size_t>(innerBytes));
  }
}
