// Declarations shared by the kernel library (compiled to bitcode, see
// docs/codegen-design.md). Every kernel is extern "C", named leip_k_<op>_<variant>, takes
// plain pointers and int64_t sizes, and computes tasks [begin, end) of its natural outer
// dimension so that the runtime can split it across threads. The compiler calls them with
// constant sizes, so after inlining each loop nest is specialized to the model's shapes;
// the innermost loops run over contiguous memory so that O3 vectorizes them for the real
// target.
#pragma once

#include <stddef.h>
#include <stdint.h>

extern "C" {
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
float expf(float);
float logf(float);
float tanhf(float);
float sqrtf(float);
float erff(float);
float floorf(float);
float ceilf(float);
float log1pf(float);
float expm1f(float);
float powf(float, float);
float fabsf(float);
float sinf(float);
float cosf(float);
float nearbyintf(float);
}

namespace leip::kernels {

/// Activations a kernel applies to its result before storing it (fusion). The numbers are
/// leip::ir::ActivationKind's (include/leip/ir/FusedActivation.h).
enum Activation : int32_t {
  kNone = 0,
  kRelu = 1,
  kClip = 2,
  kLeakyRelu = 3,
  kSigmoid = 4,
  kHardSigmoid = 5,
  kHardSwish = 6,
  kTanh = 7,
  kSilu = 8,
};

inline float sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  const float e = expf(v);
  return e / (1.0f + e);
}

inline float minf(float a, float b) { return a < b ? a : b; }
inline float maxf(float a, float b) { return a > b ? a : b; }

/// alpha * v + beta rounded twice, as the interpreter computes it: clang would otherwise
/// contract it into one fused multiply-add on FMA targets.
inline float mulAddUnfused(float alpha, float v, float beta) {
#pragma clang fp contract(off)
  return alpha * v + beta;
}

/// Same formulas as leip::ir::FusedActivation::apply (the interpreter's).
inline float activate(float v, int32_t activation, float alpha, float beta) {
  switch (activation) {
  case kRelu: return v > 0.0f ? v : 0.0f;
  case kClip: {
    const float t = v < alpha ? alpha : v;
    return t > beta ? beta : t;
  }
  case kLeakyRelu: return v < 0.0f ? alpha * v : v;
  case kSigmoid: return sigmoid(v);
  case kHardSigmoid: return maxf(0.0f, minf(1.0f, mulAddUnfused(alpha, v, beta)));
  case kHardSwish: return v * maxf(0.0f, minf(1.0f, v / 6.0f + 0.5f));
  case kTanh: return tanhf(v);
  case kSilu: return v * sigmoid(v);
  default: return v;
  }
}

/// Applies the activation to n contiguous values in place (a separate pass keeps the
/// accumulation loops free of it; the values are still in cache).
inline void activateRange(float *__restrict y, int64_t n, int32_t activation, float alpha, float beta) {
  if (activation == kNone) return;
  for (int64_t i = 0; i < n; ++i) y[i] = activate(y[i], activation, alpha, beta);
}

} // namespace leip::kernels
