// Declarations shared by the kernel library (compiled to bitcode, see
// docs/codegen-design.md). Every kernel is extern "C", named leip_k_<op>_<variant>, takes
// plain pointers and int64_t sizes, and computes tasks [begin, end) of its natural outer
// dimension so that the runtime can split it across threads. The compiler calls them with
// constant sizes, so after inlining each loop nest is specialized to the model's shapes.
#pragma once

#include <stddef.h>
#include <stdint.h>

extern "C" {
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
}

namespace leip::kernels {

/// Activations a kernel can apply to its result before storing it (fusion).
enum Activation : int32_t { kNone = 0, kRelu = 1 };

inline float activate(float v, int32_t activation) {
  if (activation == kRelu) return v > 0.0f ? v : 0.0f;
  return v;
}

} // namespace leip::kernels
