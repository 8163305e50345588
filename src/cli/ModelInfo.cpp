#include "ModelInfo.h"

#include <cstdio>

namespace leip::cli {

namespace {
/// Divides by `base` until below it and appends the matching unit: (1.82e9, 1000) -> "1.82 G".
std::string scaled(double value, double base, const char *const units[5], const char *smallFormat) {
  int unit = 0;
  while (value >= base && unit < 4) {
    value /= base;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, unit ? "%.2f %s" : smallFormat, value, units[unit]);
  return buffer;
}
} // namespace

std::string groupDigits(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string humanCount(double value) {
  static const char *const units[] = {"", "K", "M", "G", "T"};
  return scaled(value, 1000, units, "%.0f%s");
}

std::string humanBytes(double bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  return scaled(bytes, 1024, units, "%.0f %s");
}

} // namespace leip::cli
