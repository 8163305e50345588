#include "leip/ir/DType.h"

#include <cmath>
#include <cstring>

namespace leip::ir {

size_t dtypeSize(DType type) {
  switch (type) {
  case DType::F32: return 4;
  case DType::F16: return 2;
  case DType::I8: return 1;
  case DType::U8: return 1;
  case DType::I32: return 4;
  case DType::I64: return 8;
  case DType::Bool: return 1;
  }
  return 0;
}

std::string_view dtypeName(DType type) {
  switch (type) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::I8: return "i8";
  case DType::U8: return "u8";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  case DType::Bool: return "bool";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view name) {
  struct Spelling {
    std::string_view text;
    DType type;
  };
  static constexpr Spelling spellings[] = {
      {"f32", DType::F32},  {"float32", DType::F32}, {"float", DType::F32}, {"f16", DType::F16},
      {"float16", DType::F16}, {"i8", DType::I8},    {"int8", DType::I8},   {"u8", DType::U8},
      {"uint8", DType::U8}, {"i32", DType::I32},    {"int32", DType::I32}, {"i64", DType::I64},
      {"int64", DType::I64}, {"bool", DType::Bool},
  };
  for (const auto &s : spellings)
    if (s.text == name) return s.type;
  return std::nullopt;
}

bool isFloat(DType type) { return type == DType::F32 || type == DType::F16; }

bool isInteger(DType type) {
  return type == DType::I8 || type == DType::U8 || type == DType::I32 || type == DType::I64;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else { // subnormal: renormalize
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ff;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t floatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t absBits = bits & 0x7fffffffu;
  if (absBits >= 0x7f800000u) // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absBits > 0x7f800000u ? 0x200u : 0));
  if (absBits >= 0x477ff000u) // rounds to a value beyond the largest half
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absBits < 0x38800000u) { // result is subnormal or zero: let the FPU round
    float magnitude;
    std::memcpy(&magnitude, &absBits, 4);
    // 2^-24 is the smallest half subnormal; rint rounds half to even.
    auto q = static_cast<uint32_t>(std::nearbyint(magnitude * 16777216.0f));
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t mantissa = absBits & 0x7fffffu;
  uint32_t exponent = (absBits >> 23) - 127 + 15;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half; // round to nearest even
  return static_cast<uint16_t>(sign | half);
}

} // namespace leip::ir
