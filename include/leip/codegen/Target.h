// Code generation targets: what `--target` names (docs/codegen-design.md, "Targets").
#pragma once

#include <string>

namespace leip::codegen {

struct Target {
  std::string arch;     // "x86_64" or "aarch64": selects the embedded bitcode
  std::string triple;   // "x86_64-linux-gnu"
  std::string cpu;      // LLVM CPU name ("skylake-avx512", "generic")
  std::string features; // LLVM feature string ("+avx2,+fma,-avx512f")
  std::string libDir;   // where lld finds libc/libm for this target
  /// How model_schema.json and messages name it: "x86_64 (cpu=znver3)".
  std::string describe() const;
};

/// The machine leip runs on, with its CPU name and features.
Target hostTarget();

/// Parses --target: "" (the host), "x86_64" or "llvm" (x86_64 with the host's CPU when the
/// host is x86_64, else generic x86-64), "aarch64" (generic with NEON), each optionally
/// followed by "-mcpu=NAME" and "-mattr=+a,-b". Throws UsageError on anything else.
Target parseTarget(const std::string &text);

} // namespace leip::codegen
