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

/// y[i] = x[i] for i < n < Limit (a power of two), in moves of constant size by the bits of
/// n: a copy of variable size would be a call to libc's memcpy, and a loop a masked one
/// (copyFloats).
template <int Limit, typename T>
__attribute__((always_inline)) inline void copyUnder(T *__restrict y, const T *__restrict x, int64_t n) {
  int64_t i = 0;
  _Pragma("clang loop unroll(full)") for (int64_t size = Limit / 2; size >= 1; size /= 2) if (n & size) {
      __builtin_memcpy(y + i, x + i, size * sizeof(T));
      i += size;
    }
}

/// y[i] = x[i] for i < n, for short rows (n a constant after inlining). LLVM vectorizes a
/// loop whose constant trip count is under 16 only by masking its tail (vmaskmovps on
/// AVX2), which AMD's Zen cores run as microcode: such copies took half of mobilenet_v2's
/// 7x7 and 14x14 depthwise time. Here: whole VL-float vectors, the last one overlapping the
/// one before, and under VL floats, copyUnder.
template <int VL>
__attribute__((always_inline)) inline void copyFloats(float *__restrict y, const float *__restrict x, int64_t n) {
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  if (n < VL) return copyUnder<VL>(y, x, n);
  for (int64_t i = 0;; i += VL) {
    if (i + VL > n) i = n - VL;
    *(VU *)(y + i) = *(const VU *)(x + i);
    if (i + VL == n) return;
  }
}

/// y[i] = Clip(y[i], lo, hi) for i < n with activateFast's formula, in whole VL-float
/// vectors, the last one overlapping the one before (clipping twice changes nothing);
/// under VL floats one at a time. activateFast's loop stayed scalar for rows of a
/// variable length (a sixth of a depthwise layer's time).
template <int VL>
__attribute__((always_inline)) inline void clipFloats(float *__restrict y, int64_t n, float lo, float hi) {
  typedef float V __attribute__((ext_vector_type(VL)));
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  if (n < VL) return activateFast(y, n, kClip, lo, hi);
  for (int64_t i = 0;; i += VL) {
    if (i + VL > n) i = n - VL;
    const V v = *(const VU *)(y + i);
    const V t = v < lo ? lo : v;
    *(VU *)(y + i) = t > hi ? hi : t;
    if (i + VL == n) return;
  }
}

/// The register tile shared by the direct convolution (Conv.cpp) and the packed Gemm
/// (Gemm.cpp): MR "positions" x 2L output channels (two L-lane vectors per position) stay in
/// registers while the reduction runs over q = (c, r, s) for channels [0, CC). Each step
/// loads the 2L packed weights of q and broadcasts the MR input values the positions read
/// at tap q: position i, channel c, tap (r, s) reads x[pos[i] + c * plane + r * dilH * Wp +
/// s * dilW]. wp holds the packed weights [q][2L]; acc the positions' partial sums
/// [MR][2L], started from `bias` (2L values) when `first`. A Gemm row is a position with
/// pos[i] = i * K, plane = 1 and a 1x1 tap. `ahead` > 0: each step also prefetches the
/// weights `ahead` floats further (the next channel chunk's), so that a layer whose weights
/// come from memory loads them while it computes rather than stalling the chunk's first tile.
template <int L, int MR>
__attribute__((always_inline)) inline void channelLaneTile(const float *__restrict x, const float *__restrict wp,
                                                             const float *__restrict bias, float *__restrict acc,
                                                             bool first, int64_t CC, int64_t plane, int64_t Wp,
                                                             int64_t R, int64_t S, int64_t dilH, int64_t dilW,
                                                             const int64_t *pos, int64_t ahead = 0) {
  typedef float V __attribute__((ext_vector_type(L)));
  typedef float VU __attribute__((ext_vector_type(L), aligned(4)));
  V acc0[MR], acc1[MR];
  _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
    acc0[i] = *(const VU *)(first ? bias : acc + i * 2 * L);
    acc1[i] = *(const VU *)(first ? bias + L : acc + i * 2 * L + L);
  }
  int64_t at[MR];
  _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) at[i] = pos[i];
  const float *__restrict wq = wp;
  for (int64_t c = 0; c < CC; ++c) {
    for (int64_t r = 0; r < R; ++r) {
      const float *__restrict xr = x + c * plane + r * dilH * Wp;
      for (int64_t s = 0; s < S; ++s, wq += 2 * L) {
        const float *__restrict xs = xr + s * dilW;
        const V w0 = *(const VU *)wq, w1 = *(const VU *)(wq + L);
        if (ahead > 0) {
          __builtin_prefetch(wq + ahead, 0, 3);
          if constexpr (L == 16) __builtin_prefetch(wq + ahead + L, 0, 3); // 2 lines a step
        }
        _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
          const float xv = xs[at[i]];
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

/// `count` positions (partial sums acc [count][2L]) for one channel chunk, position p reading
/// its input at offsetOf(p): groups of MR positions, then the rest. A rest under MR / 2
/// positions would be a tile with too few accumulators to hide the FMA latency (AVX2, 7
/// positions: tiles of 6 and 1, the 1 at a quarter of the rate), so the last full group and
/// the rest run as two tiles of about equal size instead (4 and 3).
template <int L, int MR, typename OffsetOf>
__attribute__((always_inline)) inline void channelLanePositions(const float *__restrict x, const float *__restrict wp,
                                                                const float *__restrict bias, float *__restrict acc,
                                                                bool first, int64_t CC, int64_t plane, int64_t Wp,
                                                                int64_t R, int64_t S, int64_t dilH, int64_t dilW,
                                                                int64_t count, OffsetOf offsetOf, int64_t ahead = 0) {
  const int64_t rest = count % MR;
  const int64_t groupsEnd = count - rest - (rest != 0 && 2 * rest < MR && count > MR ? MR : 0);
  int64_t p = 0;
  for (; p < groupsEnd; p += MR) {
    int64_t pos[MR];
    _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) pos[i] = offsetOf(p + i);
    channelLaneTile<L, MR>(x, wp, bias, acc + p * 2 * L, first, CC, plane, Wp, R, S, dilH, dilW, pos, ahead);
  }
  // The positions left: rest, or MR + rest as two tiles.
  const int64_t left = count - p, firstTile = left > MR ? (left + 1) / 2 : left;
  const int64_t tiles[2] = {firstTile, left - firstTile};
  for (int64_t n : tiles) {
    int64_t pos[MR];
    for (int64_t i = 0; i < n; ++i) pos[i] = offsetOf(p + i);
    float *__restrict ar = acc + p * 2 * L;
#define LEIP_TILE_REST(k)                                                                                            \
  case k:                                                                                                              \
    if constexpr (k < MR)                                                                                              \
      channelLaneTile<L, k>(x, wp, bias, ar, first, CC, plane, Wp, R, S, dilH, dilW, pos, ahead);                    \
    break;
    switch (n) {
      LEIP_TILE_REST(1) LEIP_TILE_REST(2) LEIP_TILE_REST(3) LEIP_TILE_REST(4) LEIP_TILE_REST(5)
      LEIP_TILE_REST(6) LEIP_TILE_REST(7) LEIP_TILE_REST(8) LEIP_TILE_REST(9) LEIP_TILE_REST(10)
      LEIP_TILE_REST(11) LEIP_TILE_REST(12) LEIP_TILE_REST(13)
    default: break;
    }
#undef LEIP_TILE_REST
    p += n;
  }
}

/// OW consecutive positions of one row, strideW apart in x (channelLanePositions).
template <int L, int MR>
__attribute__((always_inline)) inline void channelLaneRow(const float *__restrict x, const float *__restrict wp,
                                                     const float *__restrict bias, float *__restrict acc, bool first,
                                                     int64_t CC, int64_t plane, int64_t Wp, int64_t R, int64_t S,
                                                     int64_t dilH, int64_t dilW, int64_t strideW, int64_t OW,
                                                     int64_t ahead = 0) {
  channelLanePositions<L, MR>(x, wp, bias, acc, first, CC, plane, Wp, R, S, dilH, dilW, OW,
                              [strideW](int64_t p) { return p * strideW; }, ahead);
}

typedef float V16 __attribute__((ext_vector_type(16)));
typedef float V16U __attribute__((ext_vector_type(16), aligned(4)));

/// Transposes the 16 x 16 block r in registers: four butterfly stages that swap the
/// off-diagonal s x s blocks, s = 8, 4, 2, 1.
__attribute__((always_inline)) inline void transpose16x16(V16 r[16]) {
#define LEIP_SWAP_BLOCKS(s, ...)                                                                                       \
  _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; ++i) {                                                   \
    if (i & s) continue;                                                                                               \
    const V16 a = r[i], b = r[i + s];                                                                                  \
    __VA_ARGS__                                                                                                        \
  }
  LEIP_SWAP_BLOCKS(8, r[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
                   r[i + 8] = __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30,
                                                      31);)
  LEIP_SWAP_BLOCKS(4, r[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
                   r[i + 4] = __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30,
                                                      31);)
  LEIP_SWAP_BLOCKS(2, r[i] = __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
                   r[i + 2] = __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30,
                                                      31);)
  LEIP_SWAP_BLOCKS(1, r[i] = __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
                   r[i + 1] = __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15,
                                                      31);)
#undef LEIP_SWAP_BLOCKS
}

/// out[k * outStride + j] = in[j * inStride + k] for j < rows, k < cols: the channel-lane
/// kernels' results ([position][channel]) written to NCHW rows ([channel][position]). Full
/// 16 x 16 blocks are transposed in registers, the edges element by element.
__attribute__((always_inline)) inline void storeTransposed(const float *__restrict in, int64_t inStride,
                                                           float *__restrict out, int64_t outStride, int64_t rows,
                                                           int64_t cols) {
  int64_t j0 = 0;
  for (; j0 + 16 <= rows; j0 += 16) {
    int64_t k0 = 0;
    for (; k0 + 16 <= cols; k0 += 16) {
      V16 r[16];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; ++i) r[i] = *(const V16U *)(in + (j0 + i) * inStride + k0);
      transpose16x16(r);
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; ++i) *(V16U *)(out + (k0 + i) * outStride + j0) = r[i];
    }
    for (int64_t k = k0; k < cols; ++k)
      for (int64_t j = j0; j < j0 + 16; ++j) out[k * outStride + j] = in[j * inStride + k];
  }
  for (int64_t k = 0; k < cols; ++k)
    for (int64_t j = j0; j < rows; ++j) out[k * outStride + j] = in[j * inStride + k];
}

/// acc[j * accStride + k] += res[k * resStride + j] for j < rows, k < cols: an NCHW residual
/// added to channel-lane partial sums before they are stored, so that the residual may be the
/// very tensor the store then overwrites. The reverse of storeTransposed.
__attribute__((always_inline)) inline void addTransposed(float *__restrict acc, int64_t accStride,
                                                         const float *res, int64_t resStride, int64_t rows,
                                                         int64_t cols) {
  int64_t j0 = 0;
  for (; j0 + 16 <= rows; j0 += 16) {
    int64_t k0 = 0;
    for (; k0 + 16 <= cols; k0 += 16) {
      V16 r[16];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; ++i) r[i] = *(const V16U *)(res + (k0 + i) * resStride + j0);
      transpose16x16(r);
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; ++i) {
        V16U *a = (V16U *)(acc + (j0 + i) * accStride + k0);
        *a = *a + r[i];
      }
    }
    for (int64_t k = k0; k < cols; ++k)
      for (int64_t j = j0; j < j0 + 16; ++j) acc[j * accStride + k] += res[k * resStride + j];
  }
  for (int64_t k = 0; k < cols; ++k)
    for (int64_t j = j0; j < rows; ++j) acc[j * accStride + k] += res[k * resStride + j];
}

} // namespace leip::kernels
