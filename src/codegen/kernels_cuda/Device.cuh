// The thin layer every NVIDIA kernel (kernels_cuda/*.cu) is written against: thread and
// block indices, barriers, block-shared arrays, dp4a and float math.
//
// On the device (clang-16 -x cuda --cuda-device-only -nocudainc -nocudalib) these are
// NVVM builtins and inline PTX; there is no libdevice, so every transcendental function
// is built here from the hardware approximations ex2.approx / lg2.approx and polynomials.
//
// Under LEIP_GPU_EMULATION (defined only by the host test build, tests/codegen/cuda_emu/)
// the same names map onto a CPU emulator: indices come from thread_local state, a barrier
// synchronizes the block's emulated threads (std::threads), LEIP_SHARED arrays are
// function statics (blocks run one after another) and the hardware primitives come from
// <cmath>. Everything built on the primitives (tanh, erf, the activations, ...) is the same
// code in both builds, so the emulated tests check it. On an H200, the unary kernels'
// results were within 5e-7 (relative to the largest output) of float64 references.
#pragma once

#include "Params.h"

#include <stdint.h>

#ifdef LEIP_GPU_EMULATION
#include "CudaEmu.h"

#include <cmath>

#define LEIP_DEVICE
#define LEIP_SHARED static
#else
#define LEIP_DEVICE __attribute__((device))
#define LEIP_SHARED __attribute__((shared))
#endif

/// Fully unrolled loops on the device (g++ does not know clang's pragma).
#ifdef LEIP_GPU_EMULATION
#define LEIP_UNROLL
#else
#define LEIP_UNROLL _Pragma("unroll")
#endif
/// For the lambdas of a kernel's stages: inlined even where the inliner's budget ends.
#define LEIP_INLINE __attribute__((always_inline))

namespace leip::gpu {

// ---- indices and barriers -----------------------------------------------------------------

#ifdef LEIP_GPU_EMULATION
inline int threadX() { return static_cast<int>(emu::current.threadIdx[0]); }
inline int threadY() { return static_cast<int>(emu::current.threadIdx[1]); }
inline int blockX() { return static_cast<int>(emu::current.blockIdx[0]); }
inline int blockY() { return static_cast<int>(emu::current.blockIdx[1]); }
inline int blockZ() { return static_cast<int>(emu::current.blockIdx[2]); }
inline int blockDimX() { return static_cast<int>(emu::current.blockDim[0]); }
inline int gridDimX() { return static_cast<int>(emu::current.gridDim[0]); }
inline void syncThreads() { emu::syncThreads(); }
#else
LEIP_DEVICE inline int threadX() { return static_cast<int>(__nvvm_read_ptx_sreg_tid_x()); }
LEIP_DEVICE inline int threadY() { return static_cast<int>(__nvvm_read_ptx_sreg_tid_y()); }
LEIP_DEVICE inline int blockX() { return static_cast<int>(__nvvm_read_ptx_sreg_ctaid_x()); }
LEIP_DEVICE inline int blockY() { return static_cast<int>(__nvvm_read_ptx_sreg_ctaid_y()); }
LEIP_DEVICE inline int blockZ() { return static_cast<int>(__nvvm_read_ptx_sreg_ctaid_z()); }
LEIP_DEVICE inline int blockDimX() { return static_cast<int>(__nvvm_read_ptx_sreg_ntid_x()); }
LEIP_DEVICE inline int gridDimX() { return static_cast<int>(__nvvm_read_ptx_sreg_nctaid_x()); }
LEIP_DEVICE inline void syncThreads() { __syncthreads(); }
#endif

// ---- memory -----------------------------------------------------------------------------------------

/// A load through the read-only data cache (ld.global.nc): only for tensors that no thread
/// of the launch writes.
LEIP_DEVICE inline float loadReadOnly(const float *p) {
#ifdef LEIP_GPU_EMULATION
  return *p;
#else
  return __nvvm_ldg_f(p);
#endif
}

// ---- integer dot product --------------------------------------------------------------------

/// c + the sum of the products of the four signed bytes of a and b (PTX dp4a.s32.s32, sm_61+).
LEIP_DEVICE inline int32_t dp4a(int32_t a, int32_t b, int32_t c) {
#ifdef LEIP_GPU_EMULATION
  uint32_t sum = static_cast<uint32_t>(c);
  for (int i = 0; i < 4; ++i) {
    const auto ai = static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i));
    const auto bi = static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
    sum += static_cast<uint32_t>(ai * bi); // wraps like the hardware
  }
  return static_cast<int32_t>(sum);
#else
  int32_t r;
  asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
#endif
}

// ---- float primitives ---------------------------------------------------------------------------

/// 2^x (ex2.approx.f32: relative error about 2^-22).
LEIP_DEVICE inline float exp2Approx(float x) {
#ifdef LEIP_GPU_EMULATION
  return std::exp2(x);
#else
  return __nvvm_ex2_approx_f(x);
#endif
}

/// log2(x) (lg2.approx.f32: absolute error about 2^-22).
LEIP_DEVICE inline float log2Approx(float x) {
#ifdef LEIP_GPU_EMULATION
  return std::log2(x);
#else
  return __nvvm_lg2_approx_f(x);
#endif
}

/// Correctly rounded square root and reciprocal.
LEIP_DEVICE inline float sqrtF(float x) {
#ifdef LEIP_GPU_EMULATION
  return std::sqrt(x);
#else
  return __nvvm_sqrt_rn_f(x);
#endif
}
LEIP_DEVICE inline float rcpF(float x) {
#ifdef LEIP_GPU_EMULATION
  return 1.0f / x;
#else
  return __nvvm_rcp_rn_f(x);
#endif
}

/// These lower to single PTX instructions (cvt.rmi, cvt.rpi, abs), no library calls.
LEIP_DEVICE inline float floorF(float x) { return __builtin_floorf(x); }
LEIP_DEVICE inline float ceilF(float x) { return __builtin_ceilf(x); }
LEIP_DEVICE inline float absF(float x) { return __builtin_fabsf(x); }
LEIP_DEVICE inline float minF(float a, float b) { return a < b ? a : b; }
LEIP_DEVICE inline float maxF(float a, float b) { return a > b ? a : b; }
LEIP_DEVICE inline float infF() { return __builtin_inff(); }
LEIP_DEVICE inline float nanF() { return __builtin_nanf(""); }

// ---- transcendental functions built on the primitives -------------------------------------------

constexpr float kLog2e = 1.44269504088896340736f;
constexpr float kLn2 = 0.693147180559945309417f;

LEIP_DEVICE inline float expF(float x) { return exp2Approx(x * kLog2e); }
LEIP_DEVICE inline float logF(float x) { return log2Approx(x) * kLn2; }

/// log(1 + u); the series for small |u|, where 1 + u would lose u's low bits.
LEIP_DEVICE inline float log1pF(float u) {
  if (absF(u) < 0.01f) return u * (1.0f + u * (-0.5f + u * (1.0f / 3.0f + u * -0.25f)));
  return logF(1.0f + u);
}

/// Numerically stable two-branch logistic, as the interpreter's (FusedActivation.h).
LEIP_DEVICE inline float sigmoidF(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expF(-x));
  const float e = expF(x);
  return e / (1.0f + e);
}

/// tanh: its odd series near 0 (where 1 - 2/(e^2x + 1) cancels), else through exp.
LEIP_DEVICE inline float tanhF(float x) {
  const float a = absF(x);
  if (a < 0.3f) {
    const float x2 = x * x;
    return x + x * x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f + x2 * (62.0f / 2835.0f))));
  }
  const float t = 1.0f - 2.0f / (expF(2.0f * a) + 1.0f); // e^2a = inf gives 1
  return x < 0.0f ? -t : t;
}

/// erf: Taylor series below 0.5, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) above.
LEIP_DEVICE inline float erfF(float x) {
  const float a = absF(x);
  if (a < 0.5f) {
    const float x2 = x * x;
    // 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320)
    return 1.12837916709551257390f * x *
           (1.0f + x2 * (-1.0f / 3.0f + x2 * (1.0f / 10.0f + x2 * (-1.0f / 42.0f + x2 * (1.0f / 216.0f + x2 * (-1.0f / 1320.0f))))));
  }
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float r = 1.0f - poly * expF(-a * a);
  return x < 0.0f ? -r : r;
}

/// log(1 + e^x) without overflow, as the interpreter's.
LEIP_DEVICE inline float softplusF(float x) { return x > 0.0f ? x + log1pF(expF(-x)) : log1pF(expF(x)); }

/// a^b for float a, b (std::pow's special cases for the values models use: b = 0, a = 0,
/// negative a with an integer b, NaN otherwise).
LEIP_DEVICE inline float powF(float a, float b) {
  if (b == 0.0f) return 1.0f;
  if (b == 1.0f) return a;
  if (b == 2.0f) return a * a;
  if (b == 0.5f && a >= 0.0f) return sqrtF(a);
  if (a == 1.0f) return 1.0f;
  const float m = exp2Approx(b * log2Approx(absF(a))); // |a|^b; a = 0 gives 0 or inf
  if (a >= 0.0f || a != a) return m;
  if (floorF(b) != b) return nanF();
  // Integer b: the sign is odd b's. |b| >= 2^24 is always even in float.
  const float half = b * 0.5f;
  return floorF(half) != half ? -m : m;
}

// ---- fused activations ----------------------------------------------------------------------------

/// The formulas of leip::ir::FusedActivation::apply (include/leip/ir/FusedActivation.h).
LEIP_DEVICE inline float activate(float v, const Activation &act) {
  switch (act.kind) {
  case 1: return v > 0.0f ? v : 0.0f;
  case 2: {
    const float t = v < act.alpha ? act.alpha : v;
    return t > act.beta ? act.beta : t;
  }
  case 3: return v < 0.0f ? act.alpha * v : v;
  case 4: return sigmoidF(v);
  case 5: return maxF(0.0f, minF(1.0f, act.alpha * v + act.beta));
  case 6: return v * maxF(0.0f, minF(1.0f, v / 6.0f + 0.5f));
  case 7: return tanhF(v);
  case 8: return v * sigmoidF(v);
  default: return v;
  }
}

// ---- vectors -----------------------------------------------------------------------------------

/// N consecutive floats loaded or stored as one (ld.shared.v2/v4); the address must be
/// aligned to the vector's size.
template <int N> struct FloatVec {
  typedef float type __attribute__((vector_size(N * sizeof(float))));
};
template <> struct FloatVec<1> {
  typedef float type;
};

template <int N> struct IntVec {
  typedef int32_t type __attribute__((vector_size(N * sizeof(int32_t))));
};

template <int N> LEIP_DEVICE inline typename FloatVec<N>::type loadVec(const float *p) {
  return *reinterpret_cast<const typename FloatVec<N>::type *>(p);
}
template <int N> LEIP_DEVICE inline void storeVec(float *p, typename FloatVec<N>::type v) {
  *reinterpret_cast<typename FloatVec<N>::type *>(p) = v;
}
template <int N> LEIP_DEVICE inline float lane(typename FloatVec<N>::type v, int i) {
  if constexpr (N == 1) return v;
  else return v[i];
}

// ---- block reductions ---------------------------------------------------------------------------

/// Reduces `v` over groups of G consecutive threads (G a power of two dividing the block)
/// through `scratch` (one float per thread of the block); every thread of a group gets the
/// result. All threads of the block must call it.
template <int G, typename Op> LEIP_DEVICE inline float groupReduce(float v, float *scratch, Op op) {
  const int t = threadX();
  const int lane = t & (G - 1);
  scratch[t] = v;
  syncThreads();
  for (int step = G / 2; step > 0; step /= 2) {
    if (lane < step) scratch[t] = op(scratch[t], scratch[t + step]);
    syncThreads();
  }
  const float result = scratch[t - lane];
  syncThreads(); // scratch may be reused right away
  return result;
}

} // namespace leip::gpu
