// Reductions (Reduce*), ArgMax/ArgMin and CumSum, with the interpreter's accumulators
// (src/interp/kernels/Elementwise.cpp): sums in double for floats and in wrapping int64 for
// integers, max/min in the element type with NaN propagating.
//
// Reduce*: the compiler views the input as at most 3 kept dims and 3 reduced dims (after
// dropping size-1 dims and merging neighbours of the same kind), padded with leading 1s:
// geometry = [K0, K1, K2, kept strides x3, R0, R1, R2, reduced strides x3, count], element
// strides into the input; the output is contiguous over the kept dims. Tasks are output
// elements. When the input's innermost dim is reduced, each output element reduces its
// own elements in input order; when it is kept (K2 contiguous), a run of neighbouring
// outputs accumulates together so the inner loop is contiguous.
#include "Numeric.h"

using namespace leip::kernels;

namespace {

enum ReduceOp : int32_t {
  kSum = 0,
  kSumSquare = 1,
  kL1 = 2,
  kL2 = 3,
  kLogSum = 4,
  kLogSumExp = 5,
  kMean = 6,
  kMax = 7,
  kMin = 8,
  kProd = 9,
};

/// log(sum(exp(x))) in one pass: the running maximum and the sum of exp(x - maximum).
struct LogSumExp {
  double max, sum;
};

/// One reduction: init() and step(acc, x) accumulate, finish(acc, count) gives the element.
template <typename T, int32_t Op> struct Reduction {
  using W = typename Num<T>::Wide;
  using Acc = W;
  static Acc init() { return Op == kProd ? W(1) : W(0); }
  static constexpr bool kMergeable = true; // merge() combines partial accumulators
  static Acc merge(Acc a, Acc b) { return Op == kProd ? wrapMul(a, b) : wrapAdd(a, b); }
  static Acc step(Acc a, T value) {
    const W x = static_cast<W>(value);
    switch (Op) {
    case kSumSquare:
    case kL2: return wrapAdd(a, wrapMul(x, x));
    case kL1: return wrapAdd(a, x < 0 ? wrapNeg(x) : x);
    case kProd: return wrapMul(a, x);
    default: return wrapAdd(a, x);
    }
  }
  static T finish(Acc a, int64_t count) {
    switch (Op) {
    case kL2: return toElement<T>(sqrt(static_cast<double>(a)));
    case kLogSum: return toElement<T>(log(static_cast<double>(a)));
    case kMean:
      if constexpr (Num<T>::isFloat)
        return static_cast<T>(a / static_cast<double>(count));
      else
        return count == 0 ? T(0) : static_cast<T>(a / count); // integer mean truncates
    case kProd: return static_cast<T>(a);
    default: return toElement<T>(a);
    }
  }
};

template <typename T, int32_t Op>
requires(Op == kMax || Op == kMin) struct Reduction<T, Op> {
  using Acc = T;
  static Acc init() { return Op == kMax ? Num<T>::lowest : Num<T>::highest; }
  static constexpr bool kMergeable = true;
  static Acc merge(Acc a, Acc b) { return step(a, b); }
  static Acc step(Acc a, T x) { return Op == kMax ? maxOf(a, x) : minOf(a, x); }
  static T finish(Acc a, int64_t) { return a; }
};

template <typename T> struct Reduction<T, kLogSumExp> {
  using Acc = LogSumExp;
  static constexpr bool kMergeable = false; // sequential: the running maximum rescales the sum
  static Acc init() { return {-__builtin_inf(), 0.0}; }
  static Acc step(Acc s, T value) {
    const double x = static_cast<double>(value);
    if (x > s.max) {
      s.sum = s.sum * exp(s.max - x) + 1;
      s.max = x;
    } else if (x == s.max) {
      s.sum += 1; // also covers infinities, where x - max is NaN
    } else {
      s.sum += exp(x - s.max); // NaN x gives a NaN sum
    }
    return s;
  }
  static T finish(Acc s, int64_t) { return fromDouble<T>(s.max == -__builtin_inf() ? s.max : s.max + log(s.sum)); }
};

/// Outputs accumulated together when the innermost dim is kept: long runs keep the input
/// streaming (a row of the reduced dim at a time).
constexpr int64_t kTile = 1024;
/// Partial accumulators of a contiguous reduced run, combined in a fixed order at its end
/// so that the loop vectorizes (sums are reassociated, still in double).
constexpr int64_t kLanes = 8;

template <typename R, typename T> inline typename R::Acc reduceRun(const T *__restrict p, int64_t n) {
  typename R::Acc lanes[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) lanes[l] = R::init();
  const int64_t full = n / kLanes * kLanes;
  for (int64_t i = 0; i < full; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = R::step(lanes[l], p[i + l]);
  for (int64_t i = full; i < n; ++i) lanes[i - full] = R::step(lanes[i - full], p[i]);
  typename R::Acc acc = lanes[0];
  for (int64_t l = 1; l < kLanes; ++l) acc = R::merge(acc, lanes[l]);
  return acc;
}

template <typename T, int32_t Op>
inline void reduce(const T *__restrict x, T *__restrict y, const int64_t *g, int64_t begin, int64_t end) {
  using R = Reduction<T, Op>;
  if (begin >= end) return;
  const int64_t K1 = g[1], K2 = g[2], ks0 = g[3], ks1 = g[4], ks2 = g[5];
  const int64_t R0 = g[6], R1 = g[7], R2 = g[8], rs0 = g[9], rs1 = g[10], rs2 = g[11], count = g[12];
  if (K2 > 1 && ks2 == 1) {
    for (int64_t o = begin; o < end;) {
      const int64_t k2 = o % K2, row = o / K2, k1 = row % K1, k0 = row / K1;
      int64_t n = K2 - k2;
      if (n > end - o) n = end - o;
      if (n > kTile) n = kTile;
      typename R::Acc acc[kTile];
      for (int64_t j = 0; j < n; ++j) acc[j] = R::init();
      const T *base = x + k0 * ks0 + k1 * ks1 + k2;
      for (int64_t r0 = 0; r0 < R0; ++r0)
        for (int64_t r1 = 0; r1 < R1; ++r1)
          for (int64_t r2 = 0; r2 < R2; ++r2) {
            const T *__restrict p = base + r0 * rs0 + r1 * rs1 + r2 * rs2;
            for (int64_t j = 0; j < n; ++j) acc[j] = R::step(acc[j], p[j]);
          }
      for (int64_t j = 0; j < n; ++j) y[o + j] = R::finish(acc[j], count);
      o += n;
    }
    return;
  }
  int64_t k2 = begin % K2, k1 = (begin / K2) % K1, k0 = begin / (K2 * K1);
  for (int64_t o = begin; o < end; ++o) {
    const T *base = x + k0 * ks0 + k1 * ks1 + k2 * ks2;
    typename R::Acc acc = R::init();
    for (int64_t r0 = 0; r0 < R0; ++r0)
      for (int64_t r1 = 0; r1 < R1; ++r1) {
        const T *p = base + r0 * rs0 + r1 * rs1;
        if constexpr (R::kMergeable) {
          if (rs2 == 1 && R2 >= 2 * kLanes) {
            acc = R::merge(acc, reduceRun<R>(p, R2));
            continue;
          }
        }
        for (int64_t r2 = 0; r2 < R2; ++r2) acc = R::step(acc, p[r2 * rs2]);
      }
    y[o] = R::finish(acc, count);
    if (++k2 == K2) {
      k2 = 0;
      if (++k1 == K1) {
        k1 = 0;
        ++k0;
      }
    }
  }
}

template <typename T>
inline void reduceAny(const T *__restrict x, T *__restrict y, const int64_t *g, int32_t op, int64_t begin,
                      int64_t end) {
  switch (op) {
  case kSum: return reduce<T, kSum>(x, y, g, begin, end);
  case kSumSquare: return reduce<T, kSumSquare>(x, y, g, begin, end);
  case kL1: return reduce<T, kL1>(x, y, g, begin, end);
  case kL2: return reduce<T, kL2>(x, y, g, begin, end);
  case kLogSum: return reduce<T, kLogSum>(x, y, g, begin, end);
  case kLogSumExp: return reduce<T, kLogSumExp>(x, y, g, begin, end);
  case kMean: return reduce<T, kMean>(x, y, g, begin, end);
  case kMax: return reduce<T, kMax>(x, y, g, begin, end);
  case kMin: return reduce<T, kMin>(x, y, g, begin, end);
  default: return reduce<T, kProd>(x, y, g, begin, end);
  }
}

/// ArgMax/ArgMin along the middle of [outer, n, inner]: the first (or with `last`, the
/// last) best element, compared as the interpreter compares. Tasks: outer * inner.
template <typename T>
inline void argReduce(const T *__restrict x, int64_t *__restrict y, int64_t n, int64_t inner, int32_t isMax,
                      int32_t last, int64_t begin, int64_t end) {
  forEachPositionRun(n, inner, kTile, begin, end, [&](int64_t base, int64_t p, int64_t count) {
    const T *__restrict src = x + base;
    T best[kTile];
    int64_t at[kTile];
    for (int64_t i = 0; i < count; ++i) {
      best[i] = src[i];
      at[i] = 0;
    }
    for (int64_t k = 1; k < n; ++k)
      for (int64_t i = 0; i < count; ++i) {
        const T v = src[k * inner + i], b = best[i];
        const bool better = isMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
        best[i] = better ? v : b;
        at[i] = better ? k : at[i];
      }
    for (int64_t i = 0; i < count; ++i) y[p + i] = at[i];
  });
}

/// CumSum along the middle of [outer, len, inner]; tasks: outer * inner.
template <typename T>
inline void cumSum(const T *__restrict x, T *__restrict y, int64_t len, int64_t inner, int32_t exclusive,
                   int32_t reverse, int64_t begin, int64_t end) {
  using W = typename Num<T>::Wide;
  forEachPositionRun(len, inner, kTile, begin, end, [&](int64_t base, int64_t, int64_t count) {
    W acc[kTile];
    for (int64_t i = 0; i < count; ++i) acc[i] = 0;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t at = base + (reverse ? len - 1 - j : j) * inner;
      const T *__restrict src = x + at;
      T *__restrict dst = y + at;
      for (int64_t i = 0; i < count; ++i) {
        const W before = acc[i];
        acc[i] = wrapAdd(before, static_cast<W>(src[i]));
        dst[i] = toElement<T>(exclusive ? before : acc[i]);
      }
    }
  });
}

} // namespace

#define LEIP_REDUCE(suffix, T)                                                                                         \
  extern "C" void leip_k_reduce_##suffix(const T *__restrict x, T *__restrict y, const int64_t *geometry, int32_t op,  \
                                         int64_t begin, int64_t end) {                                                 \
    reduceAny(x, y, geometry, op, begin, end);                                                                         \
  }                                                                                                                    \
  extern "C" void leip_k_argreduce_##suffix(const T *__restrict x, int64_t *__restrict y, int64_t n, int64_t inner,    \
                                            int32_t isMax, int32_t last, int64_t begin, int64_t end) {                 \
    argReduce(x, y, n, inner, isMax, last, begin, end);                                                                \
  }
LEIP_REDUCE(f32, float)
LEIP_REDUCE(i8, int8_t)
LEIP_REDUCE(u8, uint8_t)
LEIP_REDUCE(i32, int32_t)
LEIP_REDUCE(i64, int64_t)

#define LEIP_CUMSUM(suffix, T)                                                                                         \
  extern "C" void leip_k_cumsum_##suffix(const T *__restrict x, T *__restrict y, int64_t len, int64_t inner,           \
                                         int32_t exclusive, int32_t reverse, int64_t begin, int64_t end) {             \
    cumSum(x, y, len, inner, exclusive, reverse, begin, end);                                                          \
  }
LEIP_CUMSUM(f32, float)
LEIP_CUMSUM(i32, int32_t)
LEIP_CUMSUM(i64, int64_t)
