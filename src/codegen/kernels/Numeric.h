// Element types, conversions and integer arithmetic shared by the elementwise, reduction
// and quantization kernels (freestanding: no <type_traits>, no <limits>). The conversions
// reproduce the interpreter's (leip::ir::Tensor::castTo, src/interp/kernels/Elementwise.cpp)
// bit for bit.
#pragma once

#include "Kernels.h"

extern "C" {
float tanf(float);
float asinf(float);
float acosf(float);
float atanf(float);
float sinhf(float);
float coshf(float);
float asinhf(float);
float acoshf(float);
float atanhf(float);
float fmodf(float, float);
double exp(double);
double log(double);
double sqrt(double);
double pow(double, double);
}

namespace leip::kernels {

/// leip_dtype codes of include/leip/runtime.h, which the compiler passes to dtype-generic
/// kernels (Cast).
enum DTypeCode : int32_t { kF32 = 0, kF16 = 1, kI8 = 2, kU8 = 3, kI32 = 4, kI64 = 5, kBool = 6 };

template <typename T> struct Num; // element types the kernels instantiate
template <> struct Num<float> {
  static constexpr bool isFloat = true, isSigned = true;
  static constexpr float lowest = -__builtin_inff(), highest = __builtin_inff(); // reduction identities
  using Wide = double;                                                           // accumulator
};
template <> struct Num<double> { // accumulators
  static constexpr bool isFloat = true, isSigned = true;
};
template <> struct Num<int8_t> {
  static constexpr bool isFloat = false, isSigned = true;
  static constexpr int8_t lowest = -128, highest = 127;
  using Unsigned = uint8_t;
  using Wide = int64_t;
};
template <> struct Num<uint8_t> {
  static constexpr bool isFloat = false, isSigned = false;
  static constexpr uint8_t lowest = 0, highest = 255;
  using Unsigned = uint8_t;
  using Wide = int64_t;
};
template <> struct Num<int32_t> {
  static constexpr bool isFloat = false, isSigned = true;
  static constexpr int32_t lowest = -2147483647 - 1, highest = 2147483647;
  using Unsigned = uint32_t;
  using Wide = int64_t;
};
template <> struct Num<int64_t> {
  static constexpr bool isFloat = false, isSigned = true;
  static constexpr int64_t lowest = -9223372036854775807LL - 1, highest = 9223372036854775807LL;
  using Unsigned = uint64_t;
  using Wide = int64_t;
};

/// Integer +, -, * and negation wrap around (two's complement) like the interpreter's;
/// float ones are the plain operations.
template <typename T> inline T wrapAdd(T a, T b) {
  if constexpr (Num<T>::isFloat)
    return a + b;
  else
    return static_cast<T>(static_cast<typename Num<T>::Unsigned>(a) + static_cast<typename Num<T>::Unsigned>(b));
}
template <typename T> inline T wrapSub(T a, T b) {
  if constexpr (Num<T>::isFloat)
    return a - b;
  else
    return static_cast<T>(static_cast<typename Num<T>::Unsigned>(a) - static_cast<typename Num<T>::Unsigned>(b));
}
template <typename T> inline T wrapMul(T a, T b) {
  if constexpr (Num<T>::isFloat)
    return a * b;
  else
    return static_cast<T>(static_cast<typename Num<T>::Unsigned>(a) * static_cast<typename Num<T>::Unsigned>(b));
}
template <typename T> inline T wrapNeg(T a) { return wrapSub(T(0), a); }

/// The interpreter's min/max: NaN propagates like numpy's.
template <typename T> inline T maxOf(T a, T b) { return (b > a || b != b) ? b : a; }
template <typename T> inline T minOf(T a, T b) { return (b < a || b != b) ? b : a; }

/// double -> T as the interpreter's fromDouble: integers truncate toward zero and
/// saturate at T's range; NaN becomes 0.
template <typename T> inline T fromDouble(double v) {
  if constexpr (Num<T>::isFloat) {
    return static_cast<T>(v);
  } else {
    if (v != v) return 0;
    if (v <= static_cast<double>(Num<T>::lowest)) return Num<T>::lowest;
    if (v >= static_cast<double>(Num<T>::highest)) return Num<T>::highest;
    return static_cast<T>(v);
  }
}

/// A finished accumulator (Num<T>::Wide) as an element: doubles through fromDouble,
/// int64 sums wrap into T.
template <typename T> inline T toElement(double v) { return fromDouble<T>(v); }
template <typename T> inline T toElement(int64_t v) { return static_cast<T>(v); }

/// ONNX's quantization step for a value already divided by its scale: round half to
/// even, add the zero point, saturate (NaN gives Q's lowest value).
template <typename Q> inline Q quantizeScaled(float scaled, float zeroPoint) {
  const float v = __builtin_rintf(scaled) + zeroPoint; // an intrinsic: vectorizes
  const float lo = static_cast<float>(Num<Q>::lowest), hi = static_cast<float>(Num<Q>::highest);
  const float clamped = v > lo ? v : lo; // NaN fails the comparison: lo, as fmax gives
  return static_cast<Q>(clamped < hi ? clamped : hi);
}

/// As leip::ir::halfToFloat, without loops or libm calls so that casts vectorize.
inline float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) { // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  const uint32_t bits = exponent == 0x1f ? sign | 0x7f800000u | (mantissa << 13)
                                         : sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  return __builtin_bit_cast(float, bits);
}

/// Round to nearest even, as leip::ir::floatToHalf.
inline uint16_t floatToHalf(float value) {
  const uint32_t bits = __builtin_bit_cast(uint32_t, value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t absBits = bits & 0x7fffffffu;
  if (absBits >= 0x7f800000u) // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absBits > 0x7f800000u ? 0x200u : 0u));
  if (absBits >= 0x477ff000u) // rounds beyond the largest half
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absBits < 0x38800000u) { // subnormal or zero: 2^-24 is the smallest half subnormal
    const float magnitude = __builtin_bit_cast(float, absBits);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(__builtin_rintf(magnitude * 16777216.0f)));
  }
  const uint32_t mantissa = absBits & 0x7fffffu;
  const uint32_t exponent = (absBits >> 23) - 127 + 15;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

/// Tasks [begin, end) over the positions of a tensor viewed as [outer, len, inner] (one
/// position per (outer, inner) pair), in runs of at most `tile` neighbours along inner:
/// run(base, position, count) gets the element offset of the run's first position at
/// len index 0.
template <typename Run>
inline void forEachPositionRun(int64_t len, int64_t inner, int64_t tile, int64_t begin, int64_t end, Run &&run) {
  for (int64_t p = begin; p < end;) {
    const int64_t o = p / inner, i = p % inner;
    int64_t count = inner - i;
    if (count > end - p) count = end - p;
    if (count > tile) count = tile;
    run(o * len * inner + i, p, count);
    p += count;
  }
}

} // namespace leip::kernels
