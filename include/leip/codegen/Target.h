// Code generation targets: what `--target` names (docs/codegen-design.md, "Targets").
#pragma once

#include <string>
#include <vector>

namespace leip::codegen {

struct Target {
  std::string arch;     // "x86_64", "aarch64" or "cuda": selects the embedded bitcode
  std::string triple;   // "x86_64-linux-gnu" (for cuda: the host code's triple)
  std::string cpu;      // LLVM CPU name ("skylake-avx512", "generic"; for cuda: the host's)
  std::string features; // LLVM feature string ("+avx2,+fma,-avx512f")
  std::string libDir;   // where lld finds libc/libm for this target
  std::string gpuArch;  // cuda only: the NVIDIA arch the PTX is for ("sm_80")
  bool isCuda() const { return arch == "cuda"; }
  /// The host code's arch: `arch` for CPU targets, x86_64 or aarch64 for cuda.
  std::string hostArch() const;
  /// How model_schema.json and messages name it: "x86_64 (cpu=znver3)", "cuda (sm_80, host x86_64)".
  std::string describe() const;
};

/// The NVIDIA archs `--target cuda -arch=` accepts, oldest first (sm_75 ... sm_90).
const std::vector<std::string> &cudaArchs();

/// The machine leip runs on, with its CPU name and features.
Target hostTarget();

/// Parses --target: "" (the host), "x86_64" or "llvm" (x86_64 with the host's CPU when the
/// host is x86_64, else generic x86-64), "aarch64" (generic with NEON), each optionally
/// followed by "-mcpu=NAME" and "-mattr=+a,-b"; or "cuda" optionally followed by
/// "-arch=sm_XX" (default sm_80) and "-host=x86_64|aarch64" (default x86_64; aarch64 for
/// Jetson and Grace machines). Throws UsageError on anything else.
Target parseTarget(const std::string &text);

} // namespace leip::codegen
