// Gemm and MatMul. Rows of the output are tasks; each row accumulates
// y[m, :] += a[m, k] * b[k, :] over k, so the inner loop runs over contiguous columns of a
// row-major B (the compiler pre-packs a constant transposed B into that layout).
#include "Kernels.h"
#include "MicroKernel.h"

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

namespace {

/// Tasks [begin, end) of the packed Gemm: task = (block of MR rows, block of 2L columns),
/// columns fastest. Row m is a "position" of channelLaneTile reading A's row m (stride K);
/// the tile's 2L channels are 2L consecutive columns of Y, so the result is stored as is.
template <int L, int MR>
__attribute__((always_inline)) inline void gemmPacked(const float *__restrict a, const float *__restrict bp,
                                                      const float *__restrict bias, float *__restrict y, int64_t M,
                                                      int64_t N, int64_t K, int32_t activation, float actAlpha,
                                                      float actBeta, int64_t begin, int64_t end) {
  constexpr int64_t KB = 2 * L;
  const int64_t colBlocks = (N + KB - 1) / KB;
  alignas(64) float acc[MR * KB];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t nb = task % colBlocks, m0 = task / colBlocks * MR;
    const int64_t rows = M - m0 < MR ? M - m0 : MR, cols = N - nb * KB < KB ? N - nb * KB : KB;
    channelLaneRow<L, MR>(a + m0 * K, bp + nb * K * KB, bias + nb * KB, acc, true, K, 1, 0, 1, 1, 0, 0, K, rows);
    activateFast(acc, rows * KB, activation, actAlpha, actBeta);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) y[(m0 + i) * N + nb * KB + j] = acc[i * KB + j];
  }
}

} // namespace

/// Y[M, N] = A[M, K] B + bias with B constant, pre-packed by the compiler as [N / 2L
/// blocks][K][2L] (zeros past N; alpha folded in) and bias (beta C) padded to a multiple of
/// 2L. `lanes` and `rows` are compile-time constants as for leip_k_conv2d_direct_f32.
extern "C" void leip_k_gemm_packed_f32(const float *__restrict a, const float *__restrict bp,
                                       const float *__restrict bias, float *__restrict y, int64_t M, int64_t N,
                                       int64_t K, int64_t lanes, int64_t rows, int32_t activation, float actAlpha,
                                       float actBeta, int64_t begin, int64_t end) {
#define LEIP_GEMM(l, mr)                                                                                               \
  if (lanes == l && rows == mr)                                                                                        \
    return gemmPacked<l, mr>(a, bp, bias, y, M, N, K, activation, actAlpha, actBeta, begin, end);
  LEIP_GEMM(16, 14) LEIP_GEMM(16, 12) LEIP_GEMM(16, 8) LEIP_GEMM(16, 7) LEIP_GEMM(16, 4)
  LEIP_GEMM(8, 6) LEIP_GEMM(4, 12) LEIP_GEMM(4, 6)
#undef LEIP_GEMM
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
