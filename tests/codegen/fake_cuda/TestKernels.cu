// The test model's kernels (TestModel.h) as real CUDA, compiled to PTX at build time by
// clang (no CUDA toolkit) and carried in the test artifact's descriptor: the fake driver
// only looks for their .entry names, a real GPU (leip_cuda_runtime_gpu_tests) runs them.
#include "TestModel.h"

#define LEIP_GLOBAL __attribute__((global))

using namespace cuda_test_model;

namespace {
__attribute__((device)) bool firstThread() {
  return __nvvm_read_ptx_sreg_ctaid_x() == 0 && __nvvm_read_ptx_sreg_ctaid_y() == 0 &&
         __nvvm_read_ptx_sreg_ctaid_z() == 0 && __nvvm_read_ptx_sreg_tid_x() == 0 &&
         __nvvm_read_ptx_sreg_tid_y() == 0 && __nvvm_read_ptx_sreg_tid_z() == 0;
}
} // namespace

// y[i] = x[i] * scale[i % 3] + bias[i], one thread per element.
extern "C" LEIP_GLOBAL void leip_gpu_0(char *arena, const char *weights) {
  const unsigned i = __nvvm_read_ptx_sreg_ctaid_x() * __nvvm_read_ptx_sreg_ntid_x() + __nvvm_read_ptx_sreg_tid_x();
  if (i >= 6) return;
  const float *x = reinterpret_cast<const float *>(arena + kOffsetX);
  const float *scale = reinterpret_cast<const float *>(arena + kOffsetScale);
  const float *bias = reinterpret_cast<const float *>(weights);
  reinterpret_cast<float *>(arena + kOffsetY)[i] = x[i] * scale[i % 3] + bias[i];
}

// y[i] = 2 * y[i]: by one thread of the 3-D grid, which must not double anything twice.
extern "C" LEIP_GLOBAL void leip_gpu_1(char *arena, const char *) {
  if (!firstThread()) return;
  float *y = reinterpret_cast<float *>(arena + kOffsetY);
  for (int i = 0; i < 6; ++i) y[i] *= 2.0f;
}

// count = number of y[i] > 0.
extern "C" LEIP_GLOBAL void leip_gpu_2(char *arena, const char *) {
  if (!firstThread()) return;
  const float *y = reinterpret_cast<const float *>(arena + kOffsetY);
  int count = 0;
  for (int i = 0; i < 6; ++i) count += y[i] > 0.0f;
  *reinterpret_cast<int *>(arena + kOffsetCount) = count;
}
