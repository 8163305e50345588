// Shared by the fuzz targets (targets/*.cpp). Each target defines libFuzzer's entry
// LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer it is a fuzzer (tools/fuzz.sh), built
// with ReplayMain.cpp it replays files (the regression tests of the normal build).
//
// The rule every target checks: leip may reject an input only with BadInputError. Any other
// exception escapes the entry function, which aborts (a crash for libFuzzer and a failed
// replay test), as do crashes, sanitizer reports, timeouts and running out of memory.
#pragma once

#include "leip/support/Error.h"
#include "leip/support/MemoryLimit.h"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace leip::fuzz {

/// The --max_memory the targets run under, well below libFuzzer's -rss_limit_mb (2560 in
/// tools/fuzz.sh), so that a model or image asking for more is refused by leip's own check.
/// Small, because work grows with what the cap allows: a model may legitimately fold a
/// ConstantOfShape of the whole cap, which takes seconds per 100 MB under ASan (a 400 MB one
/// timed out at 512 MiB: regressions/onnx_loader/constant_of_shape_400mb.onnx).
constexpr uint64_t kFuzzMaxMemory = uint64_t{64} << 20;

inline std::string bytesOf(const uint8_t *data, size_t size) {
  return std::string(reinterpret_cast<const char *>(data), size);
}

/// A scratch folder of this process (in /dev/shm when there is one: the loaders under test
/// read files, and tmpfs keeps that cheap), removed at exit.
inline const std::filesystem::path &scratchDir() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    std::filesystem::path d = base / ("leip-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    static const std::filesystem::path removeAtExit = d;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(removeAtExit, ignored);
    });
    return d;
  }();
  return dir;
}

/// Writes `bytes` to scratchDir()/name and returns the path.
inline std::string writeScratch(const std::string &name, const std::string &bytes) {
  std::string path = (scratchDir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

/// Runs `body`; BadInputError (the expected rejection) is swallowed, anything else escapes.
template <typename Body> void expectOnlyBadInput(Body body) {
  try {
    body();
  } catch (const BadInputError &) {
  }
}

} // namespace leip::fuzz
