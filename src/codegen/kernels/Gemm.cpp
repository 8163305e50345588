// Gemm and MatMul. Rows of the output are tasks; each row accumulates
// y[m, :] += a[m, k] * b[k, :] over k, so the inner loop runs over contiguous columns of a
// row-major B (the compiler pre-packs a constant transposed B into that layout).
#include "Kernels.h"

using namespace leip::kernels;

namespace {

/// row[0, N) = sum_k a[k * aStrideK] * b[k * bStrideK + n * bStrideN].
inline void gemmRow(const float *__restrict a, int64_t aStrideK, const float *__restrict b, int64_t bStrideK,
                    int64_t bStrideN, float *__restrict row, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) row[n] = 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float av = a[k * aStrideK];
    const float *__restrict bk = b + k * bStrideK;
    if (bStrideN == 1) {
      for (int64_t n = 0; n < N; ++n) row[n] += av * bk[n];
    } else {
      for (int64_t n = 0; n < N; ++n) row[n] += av * bk[n * bStrideN];
    }
  }
}

} // namespace

/// Y[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, C broadcast by strides (0 along a
/// broadcast dim), then the fused activation.
extern "C" void leip_k_gemm_f32(const float *__restrict a, const float *__restrict b, const float *__restrict c,
                                float *__restrict y, int64_t M, int64_t N, int64_t K, int32_t transA, int32_t transB,
                                float alpha, float beta, int64_t cStrideM, int64_t cStrideN, int32_t activation,
                                float actAlpha, float actBeta, int64_t begin, int64_t end) {
  // Element strides of op(A) and op(B), so one loop nest serves every transposition.
  const int64_t aStrideM = transA ? 1 : K, aStrideK = transA ? M : 1;
  const int64_t bStrideK = transB ? 1 : N, bStrideN = transB ? K : 1;
  for (int64_t m = begin; m < end; ++m) {
    float *__restrict row = y + m * N;
    gemmRow(a + m * aStrideM, aStrideK, b, bStrideK, bStrideN, row, N, K);
    if (alpha != 1.0f)
      for (int64_t n = 0; n < N; ++n) row[n] *= alpha;
    if (c) {
      const float *__restrict crow = c + m * cStrideM;
      for (int64_t n = 0; n < N; ++n) row[n] += beta * crow[n * cStrideN];
    }
    activateRange(row, N, activation, actAlpha, actBeta);
  }
}

/// numpy.matmul over `batches` output matrices [M, N]: batch i reads A at element offset
/// aOffsets[i] and B at bOffsets[i] (broadcast batch dims repeat offsets). Tasks are rows
/// of all batches (batches * M).
extern "C" void leip_k_matmul_f32(const float *__restrict a, const float *__restrict b, float *__restrict y,
                                  int64_t M, int64_t N, int64_t K, const int64_t *__restrict aOffsets,
                                  const int64_t *__restrict bOffsets, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t batch = task / M, m = task % M;
    gemmRow(a + aOffsets[batch] + m * K, 1, b + bOffsets[batch], N, 1, y + task * N, N, K);
  }
}
