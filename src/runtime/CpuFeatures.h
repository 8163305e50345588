// The instruction-set features an artifact's code may use, and how the runtime finds them on
// the machine that loads it. The compiler (src/codegen/CompilerSupport.cpp) records, by name,
// the features of this table that its target machine enables (leip_compiled_cpu_features,
// and "required_features" in model_schema.json); the runtime (Runtime.cpp) checks each one
// at load, so that an artifact built for a newer CPU fails with the missing feature's name
// instead of SIGILL. Only features that LLVM emits from plain code are listed (not AES, SHA,
// AMX, which need intrinsics the kernels do not use). Names are LLVM's.
//
// Freestanding: included by the runtime bitcode and by the compiler.
#pragma once

#include <stdint.h>

namespace leip_cpu {

/// x86: a CPUID bit, plus the XCR0 state bits the OS must enable for the registers (AVX:
/// xmm/ymm state 0x6; AVX-512 adds opmask and zmm state 0xe0).
struct X86Feature {
  const char *name;
  uint32_t leaf, subleaf;
  uint8_t reg; // 0 eax, 1 ebx, 2 ecx, 3 edx
  uint8_t bit;
  uint32_t xcr0;
};

constexpr uint32_t kAvxState = 0x6, kAvx512State = 0xe6;

inline constexpr X86Feature kX86Features[] = {
    {"sse3", 1, 0, 2, 0, 0},
    {"ssse3", 1, 0, 2, 9, 0},
    {"fma", 1, 0, 2, 12, kAvxState},
    {"sse4.1", 1, 0, 2, 19, 0},
    {"sse4.2", 1, 0, 2, 20, 0},
    {"movbe", 1, 0, 2, 22, 0},
    {"popcnt", 1, 0, 2, 23, 0},
    {"avx", 1, 0, 2, 28, kAvxState},
    {"f16c", 1, 0, 2, 29, kAvxState},
    {"bmi", 7, 0, 1, 3, 0},
    {"avx2", 7, 0, 1, 5, kAvxState},
    {"bmi2", 7, 0, 1, 8, 0},
    {"avx512f", 7, 0, 1, 16, kAvx512State},
    {"avx512dq", 7, 0, 1, 17, kAvx512State},
    {"avx512ifma", 7, 0, 1, 21, kAvx512State},
    {"avx512cd", 7, 0, 1, 28, kAvx512State},
    {"avx512bw", 7, 0, 1, 30, kAvx512State},
    {"avx512vl", 7, 0, 1, 31, kAvx512State},
    {"avx512vbmi", 7, 0, 2, 1, kAvx512State},
    {"avx512vbmi2", 7, 0, 2, 6, kAvx512State},
    {"gfni", 7, 0, 2, 8, 0},
    {"avx512vnni", 7, 0, 2, 11, kAvx512State},
    {"avx512bitalg", 7, 0, 2, 12, kAvx512State},
    {"avx512vpopcntdq", 7, 0, 2, 14, kAvx512State},
    {"avx512fp16", 7, 0, 3, 23, kAvx512State},
    {"avxvnni", 7, 1, 0, 4, kAvxState},
    {"avx512bf16", 7, 1, 0, 5, kAvx512State},
    {"lzcnt", 0x80000001u, 0, 2, 5, 0},
};

/// aarch64: a bit of getauxval(AT_HWCAP) (hwcap 1) or AT_HWCAP2 (hwcap 2), as Linux reports.
struct Arm64Feature {
  const char *name;
  uint8_t hwcap;
  uint8_t bit;
};

inline constexpr Arm64Feature kArm64Features[] = {
    {"neon", 1, 1},     // HWCAP_ASIMD
    {"lse", 1, 8},      // HWCAP_ATOMICS
    {"fullfp16", 1, 10}, // HWCAP_ASIMDHP
    {"rcpc", 1, 15},    // HWCAP_LRCPC
    {"dotprod", 1, 20}, // HWCAP_ASIMDDP
    {"sve", 1, 22},     // HWCAP_SVE
    {"fp16fml", 1, 23}, // HWCAP_ASIMDFHM
    {"sve2", 2, 1},     // HWCAP2_SVE2
    {"i8mm", 2, 13},    // HWCAP2_I8MM
    {"bf16", 2, 14},    // HWCAP2_BF16
};

} // namespace leip_cpu
