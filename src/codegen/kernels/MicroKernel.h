// Register-tiled inner kernel shared by the convolution and Gemm kernels (see
// docs/codegen-design.md). Header-only: every kernel file that includes it gets its own
// always-inlined copy, specialized after inlining to the node's constant shapes.
#pragma once

#include "Kernels.h"

namespace leip::kernels {

/// activateRange with the common activations hoisted out of the loop (same formulas as
/// activate), so their loops vectorize.
inline void activateFast(float *__restrict y, int64_t n, int32_t activation, float alpha, float beta) {
  if (activation == kClip) {
    for (int64_t i = 0; i < n; ++i) {
      const float t = y[i] < alpha ? alpha : y[i];
      y[i] = t > beta ? beta : t;
    }
  } else if (activation == kRelu) {
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
  } else {
    activateRange(y, n, activation, alpha, beta);
  }
}

/// The register tile shared by the direct convolution (Conv.cpp) and the packed Gemm
/// (Gemm.cpp): MR "positions" x 2L output channels (two L-lane vectors per position) stay in
/// registers while the reduction runs over q = (c, r, s) for channels [0, CC). Each step
/// loads the 2L packed weights of q and broadcasts the MR input values the positions read
/// at tap q: position i, channel c, tap (r, s) reads x[i * strideW + c * plane + r * dilH *
/// Wp + s * dilW]. wp holds the packed weights [q][2L]; acc the positions' partial sums
/// [MR][2L], started from `bias` (2L values) when `first`. A Gemm row is a position with
/// strideW = K, plane = 1 and a 1x1 tap.
template <int L, int MR>
__attribute__((always_inline)) inline void channelLaneTile(const float *__restrict x, const float *__restrict wp,
                                                             const float *__restrict bias, float *__restrict acc,
                                                             bool first, int64_t CC, int64_t plane, int64_t Wp,
                                                             int64_t R, int64_t S, int64_t dilH, int64_t dilW,
                                                             int64_t strideW) {
  typedef float V __attribute__((ext_vector_type(L)));
  typedef float VU __attribute__((ext_vector_type(L), aligned(4)));
  V acc0[MR], acc1[MR];
  _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
    acc0[i] = *(const VU *)(first ? bias : acc + i * 2 * L);
    acc1[i] = *(const VU *)(first ? bias + L : acc + i * 2 * L + L);
  }
  const float *__restrict wq = wp;
  for (int64_t c = 0; c < CC; ++c) {
    for (int64_t r = 0; r < R; ++r) {
      const float *__restrict xr = x + c * plane + r * dilH * Wp;
      for (int64_t s = 0; s < S; ++s, wq += 2 * L) {
        const float *__restrict xs = xr + s * dilW;
        const V w0 = *(const VU *)wq, w1 = *(const VU *)(wq + L);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
          const float xv = xs[i * strideW];
          acc0[i] += xv * w0;
          acc1[i] += xv * w1;
        }
      }
    }
  }
  _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
    *(VU *)(acc + i * 2 * L) = acc0[i];
    *(VU *)(acc + i * 2 * L + L) = acc1[i];
  }
}

/// OW consecutive positions (partial sums acc [OW][2L]) for one channel chunk: groups of MR
/// positions, then the remainder with a smaller tile.
template <int L, int MR>
__attribute__((always_inline)) inline void channelLaneRow(const float *__restrict x, const float *__restrict wp,
                                                     const float *__restrict bias, float *__restrict acc, bool first,
                                                     int64_t CC, int64_t plane, int64_t Wp, int64_t R, int64_t S,
                                                     int64_t dilH, int64_t dilW, int64_t strideW, int64_t OW) {
  int64_t ow = 0;
  for (; ow + MR <= OW; ow += MR)
    channelLaneTile<L, MR>(x + ow * strideW, wp, bias, acc + ow * 2 * L, first, CC, plane, Wp, R, S, dilH, dilW,
                             strideW);
  const float *__restrict xr = x + ow * strideW;
  float *__restrict ar = acc + ow * 2 * L;
#define LEIP_TILE_REST(n)                                                                                            \
  case n:                                                                                                              \
    if constexpr (n < MR)                                                                                              \
      channelLaneTile<L, n>(xr, wp, bias, ar, first, CC, plane, Wp, R, S, dilH, dilW, strideW);                      \
    break;
  switch (OW - ow) {
    LEIP_TILE_REST(1) LEIP_TILE_REST(2) LEIP_TILE_REST(3) LEIP_TILE_REST(4) LEIP_TILE_REST(5)
    LEIP_TILE_REST(6) LEIP_TILE_REST(7) LEIP_TILE_REST(8) LEIP_TILE_REST(9) LEIP_TILE_REST(10)
    LEIP_TILE_REST(11) LEIP_TILE_REST(12) LEIP_TILE_REST(13)
  default: break;
  }
#undef LEIP_TILE_REST
}

} // namespace leip::kernels
