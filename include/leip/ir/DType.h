// Element types of leip tensors. The set is deliberately small: what edge models carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leip::ir {

enum class DType : uint8_t { F32, F16, I8, U8, I32, I64, Bool };

/// Bytes per element.
size_t dtypeSize(DType type);
/// Lower-case name as printed and parsed: "f32", "f16", "i8", "u8", "i32", "i64", "bool".
std::string_view dtypeName(DType type);
/// Parses dtypeName() spellings and numpy-style ones ("float32", "int64", ...).
std::optional<DType> parseDType(std::string_view name);
bool isFloat(DType type);
bool isInteger(DType type); // signed or unsigned integers, not bool

/// IEEE half <-> float conversions (round to nearest even), used for f16 storage.
float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);

} // namespace leip::ir
