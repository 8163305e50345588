// A one-line "label: done / total" counter on stderr for long steps (calibration,
// evaluation), drawn only when stderr is a terminal and at most 5 times a second.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace leip::cli {

class Progress {
public:
  Progress(std::string label, size_t total)
      : label_(std::move(label)), total_(total), enabled_(::isatty(STDERR_FILENO) != 0) {}
  void update(size_t done) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    std::fprintf(stderr, "\r%s: %zu / %zu", label_.c_str(), done, total_);
    std::fflush(stderr);
  }
  ~Progress() {
    if (enabled_) std::fprintf(stderr, "\r%60s\r", "");
  }

private:
  std::string label_;
  size_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point last_{};
};

} // namespace leip::cli
