// Formatting helpers shared by the subcommands' human-readable output.
#pragma once

#include <cstdint>

#include <string>

namespace leip::cli {

std::string groupDigits(int64_t value);  // 1234567 -> "1,234,567"
std::string humanCount(double value);    // 1.82e9 -> "1.82 G"
std::string humanBytes(double bytes);    // 4096 -> "4.00 KiB"

} // namespace leip::cli
