#include "leip/support/MemoryLimit.h"

#include "leip/support/Error.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace leip {

namespace {
// 0: not set, use the default. Atomic: read by worker threads of the interpreter.
std::atomic<uint64_t> gMaxMemory{0};
constexpr uint64_t kGiB = uint64_t{1} << 30;
} // namespace

uint64_t defaultMaxMemory() {
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0) return 8 * kGiB;
  return static_cast<uint64_t>(pages) / 4 * 3 * static_cast<uint64_t>(pageSize);
}

uint64_t maxMemory() {
  uint64_t set = gMaxMemory.load(std::memory_order_relaxed);
  return set ? set : defaultMaxMemory();
}

void setMaxMemory(uint64_t bytes) { gMaxMemory.store(bytes, std::memory_order_relaxed); }

uint64_t parseByteSize(const std::string &text) {
  auto bad = [&](const std::string &why) -> UsageError {
    return UsageError("--max_memory '" + text + "': " + why +
                      " (expected bytes with an optional K, M, G or T suffix, e.g. 512M or 8G)");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw bad("no number");
  char *end = nullptr;
  std::string number = text.substr(0, i);
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) throw bad("not a number");
  std::string unit = text.substr(i);
  for (char &c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() >= 2 && unit.substr(unit.size() - 2) == "IB") unit.erase(unit.size() - 2);
  else if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  double scale = 1;
  if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = static_cast<double>(kGiB);
  else if (unit == "T") scale = static_cast<double>(kGiB) * 1024;
  else if (!unit.empty()) throw bad("unknown unit");
  double bytes = value * scale;
  if (!(bytes >= 1)) throw bad("must be at least 1 byte");
  if (bytes > 9.2e18) throw bad("too large");
  return static_cast<uint64_t>(bytes);
}

std::string formatBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

std::optional<uint64_t> checkedBytes(int64_t count, uint64_t elementSize) {
  if (count < 0 || elementSize == 0) return std::nullopt;
  constexpr uint64_t kMax = uint64_t{1} << 63;
  if (static_cast<uint64_t>(count) > (kMax - 1) / elementSize) return std::nullopt; // < 2^63
  return static_cast<uint64_t>(count) * elementSize;
}

void checkMemory(uint64_t bytes, const std::string &what) {
  uint64_t limit = maxMemory();
  if (bytes <= limit) return;
  throw BadInputError(what + " needs " + std::to_string(bytes) + " bytes (" + formatBytes(bytes) +
                      "), more than --max_memory allows (" + formatBytes(limit) + ")");
}

void liftAddressSpaceCap() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_AS, &limit);
}

} // namespace leip
