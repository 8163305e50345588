// Elementwise kernels. Tasks are output elements. Unary ops map x to y. Ops with several
// operands (arithmetic, comparisons, logic, Where) broadcast over an output of at most 4
// dims (the compiler drops size-1 dims and merges contiguous ones first) described by a
// constant `shape` array: the 4 dims, then 4 element strides per operand (0 along
// broadcast dims). The walk goes row by row, so the inner loop is contiguous in the
// output; the strides are constants after inlining, so each loop is specialized.
//
// Formulas are the interpreter's (src/interp/kernels/Elementwise.cpp): integer +, -, *
// wrap; integer division or modulo by zero gives 0 where the interpreter reports an error
// (compiled code must not trap).
#include "Numeric.h"

using namespace leip::kernels;

namespace {

/// Unary op codes: 1..8 are the activations (Kernels.h), the rest follow. Rounding and
/// fabs use the __builtin_ forms, which become LLVM intrinsics (vector instructions)
/// rather than libm calls.
enum UnaryOp : int32_t {
  kExp = 20,
  kLog = 21,
  kSqrt = 22,
  kNeg = 23,
  kAbs = 24,
  kReciprocal = 25,
  kFloor = 26,
  kCeil = 27,
  kErf = 28,
  kSoftplus = 29,
  kElu = 30,
  kSoftsign = 31,
  kSin = 32,
  kCos = 33,
  kRound = 34,
  kGelu = 35,
  kSign = 36,
  kTan = 37,
  kAsin = 38,
  kAcos = 39,
  kAtan = 40,
  kSinh = 41,
  kCosh = 42,
  kAsinh = 43,
  kAcosh = 44,
  kAtanh = 45,
  kSelu = 46,
  kCelu = 47,
  kThresholdedRelu = 48,
  kShrink = 49,
  kNot = 50,
};

enum BinaryOp : int32_t {
  kAdd = 0,
  kSub = 1,
  kMul = 2,
  kDiv = 3,
  kPow = 4,
  kMax = 5,
  kMin = 6,
  kFmod = 7,
  kMod = 8, // Python's %: the result takes the divisor's sign
  kPRelu = 9,
  kShiftLeft = 10,
  kShiftRight = 11,
  kAnd = 12,
  kOr = 13,
  kXor = 14,
  kFirst = 15, // a: a variadic op with one input
};

enum CompareOp : int32_t { kEqual = 0, kLess = 1, kLessOrEqual = 2, kGreater = 3, kGreaterOrEqual = 4 };

/// An extra post-operation of the binary kernel besides the activations: y / alpha (Mean).
constexpr int32_t kDivideBy = 64;

/// std::min/std::max as the interpreter calls them (with their NaN behaviour).
inline float stdMin(float a, float b) { return b < a ? b : a; }
inline float stdMax(float a, float b) { return a < b ? b : a; }

/// Shrink of the interpreter: computed in double, converted back through fromDouble.
template <typename T> inline T shrink(T x, float lambd, float bias) {
  const double v = static_cast<double>(x), l = lambd, b = bias;
  return v < -l ? fromDouble<T>(v + b) : v > l ? fromDouble<T>(v - b) : T(0);
}

inline float unaryF32(float v, int32_t op, float alpha, float beta) {
  switch (op) {
  case kRelu: return v > 0.0f ? v : 0.0f;
  case kHardSigmoid: return stdMax(0.0f, stdMin(1.0f, mulAddUnfused(alpha, v, beta)));
  case kHardSwish: return v * stdMax(0.0f, stdMin(1.0f, v / 6.0f + 0.5f));
  case kExp: return expf(v);
  case kLog: return logf(v);
  case kSqrt: return sqrtf(v);
  case kNeg: return -v;
  case kAbs: return __builtin_fabsf(v);
  case kReciprocal: return 1.0f / v;
  case kFloor: return __builtin_floorf(v);
  case kCeil: return __builtin_ceilf(v);
  case kErf: return erff(v);
  case kSoftplus: return v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v));
  case kElu: return v < 0.0f ? alpha * expm1f(v) : v;
  case kSoftsign: return v / (1.0f + __builtin_fabsf(v));
  case kSin: return sinf(v);
  case kCos: return cosf(v);
  case kRound: return __builtin_rintf(v); // half to even
  case kGelu: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  case kSign: return v != v ? v : static_cast<float>((v > 0.0f) - (v < 0.0f));
  case kTan: return tanf(v);
  case kAsin: return asinf(v);
  case kAcos: return acosf(v);
  case kAtan: return atanf(v);
  case kSinh: return sinhf(v);
  case kCosh: return coshf(v);
  case kAsinh: return asinhf(v);
  case kAcosh: return acoshf(v);
  case kAtanh: return atanhf(v);
  case kSelu: return v > 0.0f ? beta * v : beta * alpha * expm1f(v); // alpha, gamma
  case kCelu: return stdMax(0.0f, v) + stdMin(0.0f, alpha * expm1f(v / alpha));
  case kThresholdedRelu: return v > alpha ? v : 0.0f;
  case kShrink: return shrink(v, alpha, beta);
  default: return activate(v, op, alpha, beta);
  }
}

template <typename T> inline T unaryInt(T v, int32_t op, float alpha, float beta) {
  switch (op) {
  case kRelu: return v > 0 ? v : T(0);
  case kNeg: return wrapNeg(v);
  case kAbs: return Num<T>::isSigned && v < 0 ? wrapNeg(v) : v;
  case kSign: return static_cast<T>((v > 0) - (v < 0));
  case kShrink: return shrink(v, alpha, beta);
  case kNot: return v == 0;
  default: return v;
  }
}

template <typename T> inline T binaryOp(int32_t op, T a, T b) {
  switch (op) {
  case kAdd: return wrapAdd(a, b);
  case kSub: return wrapSub(a, b);
  case kMul: return wrapMul(a, b);
  case kDiv:
    if constexpr (Num<T>::isFloat) {
      return a / b;
    } else {
      if (b == 0) return 0;
      if (Num<T>::isSigned && b == T(-1)) return wrapNeg(a); // INT_MIN / -1 traps
      return static_cast<T>(a / b);
    }
  case kPow:
    if constexpr (Num<T>::isFloat)
      return powf(a, b);
    else
      return fromDouble<T>(pow(static_cast<double>(a), static_cast<double>(b)));
  case kMax: return maxOf(a, b);
  case kMin: return minOf(a, b);
  case kFmod:
  case kMod:
    if constexpr (Num<T>::isFloat) {
      return fmodf(a, b); // the shape rule admits float Mod only with fmod=1
    } else {
      if (b == 0 || (Num<T>::isSigned && b == T(-1))) return 0;
      T r = static_cast<T>(a % b); // the sign of the dividend, like C's fmod
      if (op == kMod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      return r;
    }
  case kPRelu: return a < 0 ? wrapMul(a, b) : a;
  case kShiftLeft:
    if constexpr (Num<T>::isFloat)
      return a;
    else
      return b >= T(8 * sizeof(T)) ? T(0) : static_cast<T>(a << b);
  case kShiftRight:
    if constexpr (Num<T>::isFloat)
      return a;
    else
      return b >= T(8 * sizeof(T)) ? T(0) : static_cast<T>(a >> b);
  case kAnd: return (a != 0) && (b != 0);
  case kOr: return (a != 0) || (b != 0);
  case kXor: return (a != 0) != (b != 0);
  default: return a;
  }
}

template <typename T> inline uint8_t compareOp(int32_t op, T a, T b) {
  switch (op) {
  case kEqual: return a == b;
  case kLess: return a < b;
  case kLessOrEqual: return a <= b;
  case kGreater: return a > b;
  default: return a >= b;
  }
}

/// The fused activation (integers: only Relu reaches a kernel) or Mean's division.
template <typename T> inline T post(T v, int32_t activation, float alpha, float beta) {
  if constexpr (Num<T>::isFloat)
    return activation == kDivideBy ? v / alpha : activate(v, activation, alpha, beta);
  else
    return activation == kRelu && v < 0 ? T(0) : v;
}

/// Calls run(index, count, offsets) for every contiguous run of output elements in
/// [begin, end); offsets[k] is operand k's element offset at the run's first element.
template <int N, typename Run> inline void forEachRun(const int64_t *shape, int64_t begin, int64_t end, Run &&run) {
  const int64_t d1 = shape[1], d2 = shape[2], d3 = shape[3];
  for (int64_t i = begin; i < end;) {
    const int64_t row = i / d3, col = i % d3;
    const int64_t i2 = row % d2, i1 = (row / d2) % d1, i0 = row / (d2 * d1);
    const int64_t count = end - i < d3 - col ? end - i : d3 - col;
    int64_t offsets[N];
    for (int k = 0; k < N; ++k) {
      const int64_t *s = shape + 4 + 4 * k;
      offsets[k] = i0 * s[0] + i1 * s[1] + i2 * s[2] + col * s[3];
    }
    run(i, count, offsets);
    i += count;
  }
}

/// y = post(op(a, b)); with `accumulate`, y = post(op(y, b)) (a is unused): the second
/// and later inputs of a variadic op fold into the output, as the interpreter folds them.
template <typename A, typename B, typename Y, typename Op>
inline void binaryKernel(const A *__restrict a, const B *__restrict b, Y *__restrict y, const int64_t *shape,
                         int32_t accumulate, int32_t activation, float alpha, float beta, Op op, int64_t begin,
                         int64_t end) {
  const int64_t as = shape[7], bs = shape[11];
  forEachRun<2>(shape, begin, end, [&](int64_t i, int64_t n, const int64_t *off) {
    const B *pb = b + off[1];
    Y *py = y + i;
    if constexpr (__is_same(A, Y)) {
      if (accumulate) {
        for (int64_t j = 0; j < n; ++j) py[j] = post(op(py[j], pb[j * bs]), activation, alpha, beta);
        return;
      }
    }
    const A *pa = a + off[0];
    for (int64_t j = 0; j < n; ++j) py[j] = post(op(pa[j * as], pb[j * bs]), activation, alpha, beta);
  });
}

template <typename T>
inline void binary(const T *__restrict a, const T *__restrict b, T *__restrict y, const int64_t *shape, int32_t op,
                   int32_t accumulate, int32_t activation, float alpha, float beta, int64_t begin, int64_t end) {
  binaryKernel(
      a, b, y, shape, accumulate, activation, alpha, beta, [op](T u, T v) { return binaryOp(op, u, v); }, begin, end);
}

/// Pow(X, Y) with operands of different types: computed in double, like the interpreter.
template <typename X, typename Y>
inline void powMixed(const X *__restrict a, const Y *__restrict b, X *__restrict y, const int64_t *shape,
                     int32_t activation, float alpha, float beta, int64_t begin, int64_t end) {
  binaryKernel(
      a, b, y, shape, 0, activation, alpha, beta,
      [](X u, Y v) { return fromDouble<X>(pow(static_cast<double>(u), static_cast<double>(v))); }, begin, end);
}

template <typename T>
inline void compare(const T *__restrict a, const T *__restrict b, uint8_t *__restrict y, const int64_t *shape,
                    int32_t op, int64_t begin, int64_t end) {
  binaryKernel(
      a, b, y, shape, 0, kNone, 0.0f, 0.0f, [op](T u, T v) { return compareOp(op, u, v); }, begin, end);
}

template <typename T>
inline void where(const uint8_t *__restrict cond, const T *__restrict x, const T *__restrict y, T *__restrict out,
                  const int64_t *shape, int64_t begin, int64_t end) {
  const int64_t cs = shape[7], xs = shape[11], ys = shape[15];
  forEachRun<3>(shape, begin, end, [&](int64_t i, int64_t n, const int64_t *off) {
    const uint8_t *pc = cond + off[0];
    const T *px = x + off[1];
    const T *py = y + off[2];
    T *po = out + i;
    for (int64_t j = 0; j < n; ++j) po[j] = pc[j * cs] ? px[j * xs] : py[j * ys];
  });
}

/// Clip to [*lo, *hi]; a null bound is no bound. min(max(x, lo), hi), as numpy.clip.
template <typename T>
inline void clip(const T *__restrict x, T *__restrict y, const T *lo, const T *hi, int64_t begin, int64_t end) {
  const T l = lo ? *lo : Num<T>::lowest, h = hi ? *hi : Num<T>::highest;
  for (int64_t i = begin; i < end; ++i) {
    const T v = x[i] < l ? l : x[i];
    y[i] = v > h ? h : v;
  }
}

template <typename From, typename To> inline To convert(From v) {
  if constexpr (__is_same(From, To)) {
    return v;
  } else if constexpr (!Num<From>::isFloat && !Num<To>::isFloat) {
    return static_cast<To>(static_cast<int64_t>(v)); // integers wrap
  } else if constexpr (Num<To>::isFloat) {
    return static_cast<To>(static_cast<double>(v));
  } else {
    // Float -> integer: truncate to int64 (saturating, NaN -> 0), then wrap into To, as
    // leip::ir::Tensor::setFromDouble.
    const double d = v;
    const int64_t wide = d != d                        ? 0
                         : d >= 9.2233720368547758e18  ? Num<int64_t>::highest
                         : d <= -9.2233720368547758e18 ? Num<int64_t>::lowest
                                                       : static_cast<int64_t>(d);
    return static_cast<To>(wide);
  }
}

/// Elements as they are read for a cast: f16 as float, bool as 0/1.
template <int32_t Code> struct Element;
template <> struct Element<kF32> {
  using Stored = float;
  using Value = float;
  static Value read(Stored v) { return v; }
  template <typename V> static Stored write(V v) { return convert<V, float>(v); }
};
template <> struct Element<kF16> {
  using Stored = uint16_t;
  using Value = float;
  static Value read(Stored v) { return halfToFloat(v); }
  template <typename V> static Stored write(V v) { return floatToHalf(convert<V, float>(v)); }
};
template <> struct Element<kBool> {
  using Stored = uint8_t;
  using Value = uint8_t;
  static Value read(Stored v) { return v != 0; }
  template <typename V> static Stored write(V v) { return v != 0; } // NaN != 0: true
};
template <typename T> struct IntElement {
  using Stored = T;
  using Value = T;
  static Value read(Stored v) { return v; }
  template <typename V> static Stored write(V v) { return convert<V, T>(v); }
};
template <> struct Element<kI8> : IntElement<int8_t> {};
template <> struct Element<kU8> : IntElement<uint8_t> {};
template <> struct Element<kI32> : IntElement<int32_t> {};
template <> struct Element<kI64> : IntElement<int64_t> {};

template <int32_t From, int32_t To>
inline void castRange(const void *__restrict x, void *__restrict y, int64_t begin, int64_t end) {
  const auto *px = static_cast<const typename Element<From>::Stored *>(x);
  auto *py = static_cast<typename Element<To>::Stored *>(y);
  for (int64_t i = begin; i < end; ++i) py[i] = Element<To>::write(Element<From>::read(px[i]));
}

template <int32_t From>
inline void castFrom(const void *__restrict x, void *__restrict y, int32_t to, int64_t begin, int64_t end) {
  switch (to) {
  case kF32: return castRange<From, kF32>(x, y, begin, end);
  case kF16: return castRange<From, kF16>(x, y, begin, end);
  case kI8: return castRange<From, kI8>(x, y, begin, end);
  case kU8: return castRange<From, kU8>(x, y, begin, end);
  case kI32: return castRange<From, kI32>(x, y, begin, end);
  case kI64: return castRange<From, kI64>(x, y, begin, end);
  case kBool: return castRange<From, kBool>(x, y, begin, end);
  default: return;
  }
}

} // namespace

extern "C" void leip_k_unary_f32(const float *__restrict x, float *__restrict y, int32_t op, float alpha, float beta,
                                 int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) y[i] = unaryF32(x[i], op, alpha, beta);
}

#define LEIP_UNARY_INT(suffix, T)                                                                                      \
  extern "C" void leip_k_unary_##suffix(const T *__restrict x, T *__restrict y, int32_t op, float alpha, float beta,   \
                                        int64_t begin, int64_t end) {                                                  \
    for (int64_t i = begin; i < end; ++i) y[i] = unaryInt(x[i], op, alpha, beta);                                      \
  }
LEIP_UNARY_INT(i8, int8_t)
LEIP_UNARY_INT(u8, uint8_t)
LEIP_UNARY_INT(i32, int32_t)
LEIP_UNARY_INT(i64, int64_t)

extern "C" void leip_k_isnan_f32(const float *__restrict x, uint8_t *__restrict y, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) y[i] = x[i] != x[i];
}

extern "C" void leip_k_isinf_f32(const float *__restrict x, uint8_t *__restrict y, int32_t positive, int32_t negative,
                                 int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    y[i] = (positive && x[i] == __builtin_inff()) || (negative && x[i] == -__builtin_inff());
}

#define LEIP_TYPED_KERNELS(suffix, T)                                                                                  \
  extern "C" void leip_k_binary_##suffix(const T *__restrict a, const T *__restrict b, T *__restrict y,                \
                                         const int64_t *shape, int32_t op, int32_t accumulate, int32_t activation,     \
                                         float alpha, float beta, int64_t begin, int64_t end) {                        \
    binary(a, b, y, shape, op, accumulate, activation, alpha, beta, begin, end);                                       \
  }                                                                                                                    \
  extern "C" void leip_k_compare_##suffix(const T *__restrict a, const T *__restrict b, uint8_t *__restrict y,         \
                                          const int64_t *shape, int32_t op, int64_t begin, int64_t end) {              \
    compare(a, b, y, shape, op, begin, end);                                                                           \
  }                                                                                                                    \
  extern "C" void leip_k_clip_##suffix(const T *__restrict x, T *__restrict y, const T *lo, const T *hi,               \
                                       int64_t begin, int64_t end) {                                                   \
    clip(x, y, lo, hi, begin, end);                                                                                    \
  }
LEIP_TYPED_KERNELS(f32, float)
LEIP_TYPED_KERNELS(i8, int8_t)
LEIP_TYPED_KERNELS(u8, uint8_t)
LEIP_TYPED_KERNELS(i32, int32_t)
LEIP_TYPED_KERNELS(i64, int64_t)

#define LEIP_POW_MIXED(xs, X, ys, Y)                                                                                   \
  extern "C" void leip_k_pow_##xs##_##ys(const X *__restrict a, const Y *__restrict b, X *__restrict y,                \
                                         const int64_t *shape, int32_t activation, float alpha, float beta,            \
                                         int64_t begin, int64_t end) {                                                 \
    powMixed(a, b, y, shape, activation, alpha, beta, begin, end);                                                     \
  }
LEIP_POW_MIXED(f32, float, i32, int32_t)
LEIP_POW_MIXED(f32, float, i64, int64_t)
LEIP_POW_MIXED(i32, int32_t, f32, float)
LEIP_POW_MIXED(i64, int64_t, f32, float)
LEIP_POW_MIXED(i32, int32_t, i64, int64_t)
LEIP_POW_MIXED(i64, int64_t, i32, int32_t)

/// Where by element size (any dtype): shape has the condition's, x's and y's strides.
#define LEIP_WHERE(bits)                                                                                               \
  extern "C" void leip_k_where_##bits(const uint8_t *__restrict cond, const uint##bits##_t *__restrict x,              \
                                      const uint##bits##_t *__restrict y, uint##bits##_t *__restrict out,              \
                                      const int64_t *shape, int64_t begin, int64_t end) {                              \
    where(cond, x, y, out, shape, begin, end);                                                                         \
  }
LEIP_WHERE(8)
LEIP_WHERE(16)
LEIP_WHERE(32)
LEIP_WHERE(64)

/// Cast between any two dtypes (codes of runtime.h; the compiler passes constants, so
/// after inlining only one conversion loop remains).
extern "C" void leip_k_cast(const void *__restrict x, void *__restrict y, int32_t from, int32_t to, int64_t begin,
                            int64_t end) {
  switch (from) {
  case kF32: return castFrom<kF32>(x, y, to, begin, end);
  case kF16: return castFrom<kF16>(x, y, to, begin, end);
  case kI8: return castFrom<kI8>(x, y, to, begin, end);
  case kU8: return castFrom<kU8>(x, y, to, begin, end);
  case kI32: return castFrom<kI32>(x, y, to, begin, end);
  case kI64: return castFrom<kI64>(x, y, to, begin, end);
  case kBool: return castFrom<kBool>(x, y, to, begin, end);
  default: return;
  }
}

/// Byte copy (Reshape/Flatten/Identity that cannot alias). Tasks are bytes.
extern "C" void leip_k_copy(const char *x, char *y, int64_t begin, int64_t end) {
  memcpy(y + begin, x + begin, static_cast<size_t>(end - begin));
}
