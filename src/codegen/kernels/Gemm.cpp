// Gemm: Y[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, with C broadcast by strides
// (0 along a broadcast dim) and a fused activation. Tasks are rows of Y.
#include "Kernels.h"

using namespace leip::kernels;

extern "C" void leip_k_gemm_f32(const float *a, const float *b, const float *c, float *y, int64_t M, int64_t N,
                                int64_t K, int32_t transA, int32_t transB, float alpha, float beta,
                                int64_t cStrideM, int64_t cStrideN, int32_t activation, int64_t begin,
                                int64_t end) {
  // Element strides of op(A) and op(B), so one loop nest serves every transposition.
  const int64_t aStrideM = transA ? 1 : K, aStrideK = transA ? M : 1;
  const int64_t bStrideK = transB ? 1 : N, bStrideN = transB ? K : 1;
  for (int64_t m = begin; m < end; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += a[m * aStrideM + k * aStrideK] * b[k * bStrideK + n * bStrideN];
      float v = alpha * acc;
      if (c) v += beta * c[m * cStrideM + n * cStrideN];
      y[m * N + n] = activate(v, activation);
    }
  }
}
