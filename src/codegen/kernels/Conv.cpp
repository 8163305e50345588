// 2-D convolution (NCHW, weights KCRS) with bias and a fused activation.
//
// Tasks: the implicit-GEMM path splits work into (image, group, block of kBlockSize output
// channels, tile of NR output positions), tile fastest, so each task packs only its own
// tile's columns (splitting by channel planes instead made every task re-pack the whole
// image). The compiler picks kBlockSize (convGemmTaskCount in Compiler.cpp) so that small
// late layers still give enough tasks. Depthwise tasks are (n, k) output planes.
//
// - Grouped/dense convolution (more than one input channel per group) and the 1x1 path
//   run as an implicit GEMM per (image, group): Y[k, p] = sum_q W[k, q] Col[q, p] with
//   q = (c, r, s) and p = (oh, ow). For each tile of NR output positions and chunk of kQC
//   q values the kernel packs the column panel (im2col of just that tile, zeros for
//   padding) into a stack buffer, then a register-blocked micro-kernel keeps an MR x NR
//   accumulator tile in vector registers while the K loop (q) runs innermost. NR is 32
//   positions for targets with 16-float vectors and 16 for narrower ones (the compiler
//   passes the target's lanes), so that the tile fits the register file. Every
//   output element is bias + w_0 x_0 + w_1 x_1 + ... in q order whatever the MR block or
//   q chunk, so results do not depend on how tasks are split across threads.
// - 1x1, stride 1, no padding (output the size of the input): the column panel of a full
//   tile is just NR contiguous floats of each input channel, so the micro-kernel reads x
//   directly (no packing); a partial last tile is packed by a plain copy.
// - Depthwise 3x3, stride 1 or 2, dilation 1: small planes in flat coordinates of a
//   zero-padded copy of the plane (at stride 2, of its four row x column phases), whole
//   vectors per tap; larger ones in blocks of 4 output rows x 16 columns with all 9 taps
//   accumulated in registers (bias + taps in (r, s) order, padding read as zero from
//   zero-padded copies of the input rows in a small stack ring buffer).
// - Other depthwise (one input channel per group): direct convolution. For each filter tap it
//   adds w * (a shifted input row) to the output row, over the output columns whose input
//   column lies inside the image (no bounds checks in the inner loop).
#include "Kernels.h"
#include "MicroKernel.h"

using namespace leip::kernels;

namespace {

typedef float v16f __attribute__((ext_vector_type(16)));

constexpr int64_t kQC = 256; // q (= c, r, s) per packed panel: 32 KiB, stays in L1
constexpr int64_t kPointwiseSpanFloats = 8192; // input floats of one span of pointwise tiles: 32 KiB

inline int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline void fill(float *__restrict y, int64_t n, float v) {
  for (int64_t i = 0; i < n; ++i) y[i] = v;
}

// The same vector with float alignment, for unaligned loads and stores.
typedef float v16u __attribute__((ext_vector_type(16), aligned(4)));
#define load16(p) (*(const v16u *)(p))
#define store16(p, v) (*(v16u *)(p) = (v))

/// Y rows k0..k0+MR-1, columns p0..p0+valid-1 of one image, for q in [q0, q0 + QC): starts
/// from the bias (q0 == 0) or the partial sums already in y, adds w[k, q] * panel[q - q0].
/// panel is QC x NR (row q holds the NR = 16 x NV positions of the tile). Splitting q into
/// chunks keeps the per-element order of additions, so results do not depend on the chunking.
/// The MR x NV accumulators must fit the register file: NV = 2 (12 zmm) for AVX-512, NV = 1
/// (12 ymm of AVX2's 16; two 16-column vectors per row spilled: mobilenet_v2's 16 -> 96
/// expansion took 2.2 ms instead of 1.7 on a Zen 3).
template <int MR, int NV>
__attribute__((always_inline)) inline void microKernel(const float *__restrict w, const float *__restrict bias,
                                                       const float *__restrict panel, float *__restrict y, int64_t Q,
                                                       int64_t q0, int64_t QC, int64_t P, int64_t k0, int64_t p0,
                                                       int64_t valid, int64_t panelStride, int32_t activation,
                                                       float actAlpha, float actBeta) {
  constexpr int64_t NR = 16 * NV;
  v16f acc[MR][NV];
  const float *__restrict wr[MR];
  _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
    float *__restrict out = y + (k0 + i) * P + p0;
    if (q0 == 0) {
      const float b = bias ? bias[k0 + i] : 0.0f;
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) acc[i][v] = b;
    } else if (valid == NR) {
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) acc[i][v] = load16(out + 16 * v);
    } else {
      float tmp[NR];
      for (int64_t j = 0; j < NR; ++j) tmp[j] = j < valid ? out[j] : 0.0f;
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) acc[i][v] = load16(tmp + 16 * v);
    }
    wr[i] = w + (k0 + i) * Q + q0;
  }
  for (int64_t q = 0; q < QC; ++q) {
    v16f xv[NV];
    _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) xv[v] = load16(panel + q * panelStride + 16 * v);
    _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
      const float wv = wr[i][q];
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) acc[i][v] += wv * xv[v];
    }
  }
  // The last q chunk applies Relu/Clip on registers (convGemm applies the others after).
  if (q0 + QC == Q && (activation == kRelu || activation == kClip)) {
    // The interpreter's formulas exactly (NaN: Relu gives 0, Clip keeps it).
    _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) {
        if (activation == kRelu) {
          acc[i][v] = acc[i][v] > 0.0f ? acc[i][v] : 0.0f;
        } else {
          acc[i][v] = acc[i][v] < actAlpha ? actAlpha : acc[i][v];
          acc[i][v] = acc[i][v] > actBeta ? actBeta : acc[i][v];
        }
      }
    }
  }
  _Pragma("clang loop unroll(full)") for (int i = 0; i < MR; ++i) {
    float *__restrict out = y + (k0 + i) * P + p0;
    if (valid == NR) {
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) store16(out + 16 * v, acc[i][v]);
    } else {
      float tmp[NR];
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) store16(tmp + 16 * v, acc[i][v]);
      for (int64_t j = 0; j < valid; ++j) out[j] = tmp[j];
    }
  }
}

/// Output channels [kBegin, kEnd) of one tile and q chunk: micro-kernels of 6, 4, 2 and 1
/// rows.
template <int NV>
__attribute__((always_inline)) inline void microKernelRows(const float *__restrict w, const float *__restrict bias,
                                                           const float *__restrict panel, float *__restrict y,
                                                           int64_t Q, int64_t q0, int64_t QC, int64_t P,
                                                           int64_t kBegin, int64_t kEnd, int64_t p0, int64_t valid,
                                                           int64_t panelStride, int32_t activation, float actAlpha,
                                                           float actBeta) {
  int64_t k = kBegin;
  for (; k + 6 <= kEnd; k += 6)
    microKernel<6, NV>(w, bias, panel, y, Q, q0, QC, P, k, p0, valid, panelStride, activation, actAlpha, actBeta);
  for (; k + 4 <= kEnd; k += 4)
    microKernel<4, NV>(w, bias, panel, y, Q, q0, QC, P, k, p0, valid, panelStride, activation, actAlpha, actBeta);
  for (; k + 2 <= kEnd; k += 2)
    microKernel<2, NV>(w, bias, panel, y, Q, q0, QC, P, k, p0, valid, panelStride, activation, actAlpha, actBeta);
  for (; k < kEnd; ++k)
    microKernel<1, NV>(w, bias, panel, y, Q, q0, QC, P, k, p0, valid, panelStride, activation, actAlpha, actBeta);
}

/// Output positions [dst, dst + len) of a tile lie in one output row; for filter tap
/// (r, s) they read input row ih0 + r*dilH, columns iw0 + s*dilW + j*strideW.
struct RowRun {
  int64_t ih0, iw0, dst, len;
};

/// One row of a column panel: tap (rowOff, colOff) of one input plane for the tile's runs;
/// positions outside the image and past the tile's valid positions read as zero.
template <int64_t NR>
__attribute__((always_inline)) inline void packPanelRow(const float *__restrict plane, float *__restrict dst,
                                                        const RowRun *runs, int64_t numRuns, int64_t valid,
                                                        int64_t H, int64_t W, int64_t strideW, int64_t rowOff,
                                                        int64_t colOff) {
  for (int64_t i = 0; i < numRuns; ++i) {
    const RowRun &run = runs[i];
    float *__restrict out = dst + run.dst;
    const int64_t ih = run.ih0 + rowOff;
    if ((uint64_t)ih >= (uint64_t)H) {
      for (int64_t j = 0; j < run.len; ++j) out[j] = 0.0f;
      continue;
    }
    // Columns j with 0 <= iw0 + j*strideW < W.
    const int64_t iw0 = run.iw0 + colOff;
    const int64_t lo = imin(run.len, iw0 >= 0 ? 0 : (-iw0 + strideW - 1) / strideW);
    const int64_t hi = iw0 > W - 1 ? 0 : imin(run.len, (W - 1 - iw0) / strideW + 1);
    const float *__restrict src = plane + ih * W + iw0;
    for (int64_t j = 0; j < lo; ++j) out[j] = 0.0f;
    if (strideW == 1) {
      for (int64_t j = lo; j < hi; ++j) out[j] = src[j];
    } else {
      for (int64_t j = lo; j < hi; ++j) out[j] = src[j * strideW];
    }
    for (int64_t j = imax(lo, hi); j < run.len; ++j) out[j] = 0.0f;
  }
  for (int64_t j = valid; j < NR; ++j) dst[j] = 0.0f;
}

/// Implicit-GEMM convolution of output channels [kBegin, kEnd) (one group) of image n, for
/// the tile of output positions [p0, p0 + 16 x NV) (clipped to P).
template <int NV>
__attribute__((always_inline)) inline void convGemmTile(const float *__restrict x, const float *__restrict w, const float *__restrict bias,
                  float *__restrict y, float *__restrict panel, int64_t n, int64_t C, int64_t H, int64_t W,
                  int64_t K, int64_t R, int64_t S, int64_t OH, int64_t OW, int64_t strideH, int64_t strideW,
                  int64_t padT, int64_t padL, int64_t dilH, int64_t dilW, int64_t cPerGroup, int64_t c0,
                  int64_t kBegin, int64_t kEnd, int64_t p0, int32_t activation, float actAlpha, float actBeta) {
  constexpr int64_t NR = 16 * NV;
  const int64_t P = OH * OW, RS = R * S, Q = cPerGroup * RS;
  const float *__restrict img = x + (n * C + c0) * H * W;
  float *__restrict out = y + n * K * P;
  const int64_t valid = imin(NR, P - p0);
  // 1x1, stride 1, no padding, output the size of the input: row q of the column panel
  // is just NR contiguous floats of input channel q, so the micro-kernel reads x directly.
  if (RS == 1 && strideH == 1 && strideW == 1 && padT == 0 && padL == 0 && OH == H && OW == W) {
    if (valid < NR) {
      // A partial last tile: copy its columns, zeros after them.
      for (int64_t q0 = 0; q0 < Q; q0 += kQC) {
        const int64_t QC = imin(kQC, Q - q0);
        for (int64_t q = 0; q < QC; ++q) {
          const float *__restrict src = img + (q0 + q) * P + p0;
          float *__restrict dst = panel + q * NR;
          for (int64_t j = 0; j < NR; ++j) dst[j] = j < valid ? src[j] : 0.0f;
        }
        microKernelRows<NV>(w, bias, panel, out, Q, q0, QC, P, kBegin, kEnd, p0, valid, NR, activation, actAlpha,
                        actBeta);
      }
      return;
    }
    for (int64_t q0 = 0; q0 < Q; q0 += kQC) {
      const int64_t QC = imin(kQC, Q - q0);
      const float *__restrict src = img + q0 * P + p0;
      microKernelRows<NV>(w, bias, src, out, Q, q0, QC, P, kBegin, kEnd, p0, valid, P, activation, actAlpha,
                      actBeta);
    }
    return;
  }
  // The tile's positions as runs along output rows: a run reads one input row per (c, r)
  // at a fixed column stride, so each panel row is packed as a few contiguous copies.
  RowRun runs[NR];
  int64_t numRuns = 0;
  for (int64_t j = 0; j < valid; ++numRuns) {
    const int64_t p = p0 + j, ow = p % OW, len = imin(OW - ow, valid - j);
    runs[numRuns] = {(p / OW) * strideH - padT, ow * strideW - padL, j, len};
    j += len;
  }
  for (int64_t q0 = 0; q0 < Q; q0 += kQC) {
    const int64_t QC = imin(kQC, Q - q0);
    for (int64_t q = 0; q < QC; ++q) {
      const int64_t c = (q0 + q) / RS, rs = (q0 + q) % RS, r = rs / S, s = rs % S;
      packPanelRow<NR>(img + c * H * W, panel + q * NR, runs, numRuns, valid, H, W, strideW, r * dilH, s * dilW);
    }
    microKernelRows<NV>(w, bias, panel, out, Q, q0, QC, P, kBegin, kEnd, p0, valid, NR, activation, actAlpha,
                    actBeta);
  }
}

/// Runs tasks [begin, end) of the implicit GEMM (see the task layout at the top), tiles of
/// 16 x NV positions.
template <int NV>
__attribute__((always_inline)) inline void convGemm(const float *__restrict x, const float *__restrict w, const float *__restrict bias,
              float *__restrict y, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t OH,
              int64_t OW, int64_t strideH, int64_t strideW, int64_t padT, int64_t padL, int64_t dilH,
              int64_t dilW, int64_t group, int64_t kBlockSize, int32_t activation, float actAlpha, float actBeta,
              int64_t begin, int64_t end) {
  const int64_t cPerGroup = C / group, kPerGroup = K / group;
  constexpr int64_t NR = 16 * NV;
  const int64_t P = OH * OW, tiles = (P + NR - 1) / NR;
  const int64_t kBlocks = (kPerGroup + kBlockSize - 1) / kBlockSize;
  alignas(64) float panel[kQC * NR];
  const bool pointwise = R == 1 && S == 1 && strideH == 1 && strideW == 1 && padT == 0 && padL == 0 && OH == H &&
                         OW == W;
  // Tiles per span of the pointwise path: its inputs (C/group x span positions) stay in L1.
  const int64_t spanTiles = imax(1, kPointwiseSpanFloats / (cPerGroup * NR));
  for (int64_t task = begin; task < end;) {
    const int64_t tile = task % tiles, kb = task / tiles % kBlocks, g = task / tiles / kBlocks % group;
    const int64_t n = task / tiles / kBlocks / group;
    const int64_t kBegin = g * kPerGroup + kb * kBlockSize;
    const int64_t kEnd = imin((g + 1) * kPerGroup, kBegin + kBlockSize);
    const int64_t p0 = tile * NR;
    // The pointwise path runs a span of full tiles 6 output channels at a time, so that each
    // output plane is written in runs of span x 4 bytes instead of one NR-float line per
    // tile: with 96 planes the per-tile order wrote 96 lines far apart per tile and waited
    // on their cache misses (mobilenet_v2's 16 -> 96 expansion at 112x112 took 1.7 ms in
    // the model, 0.7 ms alone). Each output is computed as in convGemmTile.
    int64_t span = 0;
    if (pointwise)
      span = imin(imin(end - task, (P / NR) - tile), spanTiles);
    if (span > 0) {
      const float *__restrict img = x + (n * C + g * cPerGroup) * P;
      float *__restrict out = y + n * K * P;
      const int64_t Q = cPerGroup;
      // The next span's input: one short run in each of Q planes, too many streams for the
      // hardware prefetchers, so ask for its lines while this span computes.
      const int64_t nextBegin = p0 + span * NR, nextEnd = imin(P, nextBegin + span * NR);
      for (int64_t c = 0; c < Q; ++c)
        for (int64_t p = nextBegin; p < nextEnd; p += 16) __builtin_prefetch(img + c * P + p, 0, 3);
      for (int64_t q0 = 0; q0 < Q; q0 += kQC) {
        const int64_t QC = imin(kQC, Q - q0);
        for (int64_t k = kBegin; k < kEnd; k += 6)
          for (int64_t t = 0; t < span; ++t)
            microKernelRows<NV>(w, bias, img + q0 * P + p0 + t * NR, out, Q, q0, QC, P, k, imin(k + 6, kEnd),
                                p0 + t * NR, NR, P, activation, actAlpha, actBeta);
      }
    } else {
      span = 1;
      convGemmTile<NV>(x, w, bias, y, panel, n, C, H, W, K, R, S, OH, OW, strideH, strideW, padT, padL, dilH,
                       dilW, cPerGroup, g * cPerGroup, kBegin, kEnd, p0, activation, actAlpha, actBeta);
    }
    if (activation != kRelu && activation != kClip) // those two ran in the micro-kernel
      for (int64_t k = kBegin; k < kEnd; ++k)
        activateFast(y + (n * K + k) * P + p0, imin(span * NR, P - p0), activation, actAlpha, actBeta);
    task += span;
  }
}

/// The zero border of `channels` padded planes [yH, yW] (interior OH x OW at (padT, padL))
/// around output rows [oh0, oh0 + rows): their left and right cells, and the rows above
/// the first and below the last output row when the task has them.
__attribute__((always_inline)) inline void zeroBorder(float *__restrict planes, int64_t channels, int64_t yPlane,
                                                      int64_t yH, int64_t yW, int64_t padT, int64_t padL, int64_t OH,
                                                      int64_t OW, int64_t oh0, int64_t rows) {
  const int64_t first = oh0 == 0 ? 0 : padT + oh0, last = oh0 + rows == OH ? yH : padT + oh0 + rows;
  for (int64_t k = 0; k < channels; ++k) {
    float *__restrict plane = planes + k * yPlane;
    for (int64_t r = first; r < last; ++r) {
      float *__restrict row = plane + r * yW;
      const bool inside = r >= padT && r < padT + OH;
      for (int64_t j = 0; j < (inside ? padL : yW); ++j) row[j] = 0.0f;
      if (inside)
        for (int64_t j = padL + OW; j < yW; ++j) row[j] = 0.0f;
    }
  }
}

/// The end of a direct-convolution task: acc holds output rows [oh0, oh0 + rows) x OW
/// positions x KB channels of channel block kb (channels in lanes). Adds the residual (see
/// directConv), applies the activation, and stores the rows transposed into y [N, K, yH, yW]
/// at (padT, padL), zeroing the border cells of its rows and channels.
__attribute__((always_inline)) inline void storeChannelLaneRows(
    float *__restrict acc, int64_t KB, const float *residual, float *y, int64_t n, int64_t K, int64_t kb, int64_t oh0,
    int64_t rows, int64_t OH, int64_t OW, int64_t yH, int64_t yW, int64_t padT, int64_t padL, int64_t resH,
    int64_t resW, int64_t resPadT, int64_t resPadL, int32_t activation, float actAlpha, float actBeta) {
  const int64_t positions = rows * OW, kValid = imin(KB, K - kb * KB), yPlane = yH * yW;
  // Not restrict: the residual may be this very tensor (the compiler writes over a
  // residual read by nothing after), so it is read before the rows are stored.
  float *planes = y + (n * K + kb * KB) * yPlane;
  if (residual) {
    const int64_t resPlane = resH * resW;
    const float *resPlanes = residual + (n * K + kb * KB) * resPlane;
    if (resW == OW) { // the block's rows are one run of positions
      addTransposed(acc, KB, resPlanes + (resPadT + oh0) * resW, resPlane, positions, kValid);
    } else {
      for (int64_t i = 0; i < rows; ++i)
        addTransposed(acc + i * OW * KB, KB, resPlanes + (resPadT + oh0 + i) * resW + resPadL, resPlane, OW, kValid);
    }
  }
  activateFast(acc, positions * KB, activation, actAlpha, actBeta);
  if (yW == OW) { // the block's rows are one run of positions
    storeTransposed(acc, KB, planes + (padT + oh0) * yW, yPlane, positions, kValid);
  } else {
    for (int64_t i = 0; i < rows; ++i)
      storeTransposed(acc + i * OW * KB, KB, planes + (padT + oh0 + i) * yW + padL, yPlane, OW, kValid);
  }
  if (yW != OW || yH != OH) zeroBorder(planes, kValid, yPlane, yH, yW, padT, padL, OH, OW, oh0, rows);
}

/// Floats of the direct convolution's accumulator buffer (32 KiB of stack): a task's
/// output rows x positions x 2L channels. The compiler only picks the direct kernel when one
/// row fits.
constexpr int64_t kDirectAccFloats = 8192;

/// Tasks [begin, end) of the direct convolution: task = (image, block of 2L channels, block
/// of RB output rows), rows fastest. A task runs the channels in chunks of CC whose packed
/// weights (CC x R x S x 2L floats) stay in L1 while every position of its rows uses them,
/// keeping partial sums in a stack buffer; then it applies the activation and writes the
/// buffer out transposed (channels are lanes here but rows of y). Every output is bias +
/// sum over q in (c, r, s) order whatever the task split. A `residual` (OH x OW planes, or
/// null) is added to the partial sums before the activation and the store; it may be y
/// itself (read before written: each task reads only the residual cells it stores). y
/// may be the interior of a zero-padded tensor [N, K, yH, yW] (the input of the next direct
/// convolutions, whose Pad nodes the compiler removed): rows are then stored one by one at
/// (padT + oh, padL) and each task zeroes the border cells of its rows and channels. The
/// residual may be stored that way too ([N, K, resH, resW] at (resPadT, resPadL)).
template <int L, int MR>
__attribute__((always_inline)) inline void directConv(const float *__restrict x, const float *__restrict wp,
                                                      const float *__restrict bias, const float *residual,
                                                      float *y, int64_t C,
                                                      int64_t Hp, int64_t Wp, int64_t K, int64_t R, int64_t S,
                                                      int64_t OH, int64_t OW, int64_t strideH, int64_t strideW,
                                                      int64_t dilH, int64_t dilW, int64_t RB, int64_t CC,
                                                      bool rowsOuter, int64_t yH, int64_t yW, int64_t padT,
                                                      int64_t padL, int64_t resH, int64_t resW, int64_t resPadT,
                                                      int64_t resPadL, int32_t activation, float actAlpha,
                                                      float actBeta, int64_t begin, int64_t end) {
  constexpr int64_t KB = 2 * L;
  const int64_t blocks = (K + KB - 1) / KB, rowBlocks = (OH + RB - 1) / RB, Q = C * R * S;
  const int64_t plane = Hp * Wp;
  alignas(64) float acc[kDirectAccFloats];
  for (int64_t task = begin; task < end; ++task) {
    // Rows outermost: a thread's share of the tasks (its home range, src/runtime) is a band
    // of rows of every channel block, so it reads only that band of the input; else a set
    // of channel blocks over all rows, so it reads only those blocks' weights.
    const int64_t rb = rowsOuter ? task / blocks % rowBlocks : task % rowBlocks;
    const int64_t kb = rowsOuter ? task % blocks : task / rowBlocks % blocks, n = task / rowBlocks / blocks;
    const int64_t oh0 = rb * RB, rows = imin(RB, OH - oh0);
    const float *__restrict xn = x + n * C * plane;
    const float *__restrict wk = wp + kb * Q * KB;
    // A 1x1 stride-1 convolution of an input without border reads its rows back to back:
    // they run as one row of rows x OW positions, so only the last tile is narrow (7x7
    // planes at 8 lanes: 48 positions in 6-wide tiles, not 7 rows of 4 + 3).
    const bool flat = R == 1 && S == 1 && strideH == 1 && strideW == 1 && Wp == OW;
    // The next chunk's weights (or the next block's: they follow) while this chunk computes.
    const int64_t ahead = CC * R * S * KB;
    for (int64_t c0 = 0; c0 < C; c0 += CC) {
      if (flat) {
        channelLaneRow<L, MR>(xn + c0 * plane + oh0 * Wp, wk + c0 * KB, bias + kb * KB, acc, c0 == 0,
                              imin(CC, C - c0), plane, Wp, 1, 1, dilH, dilW, 1, rows * OW, ahead);
        continue;
      }
      // Narrow rows that tiles do not divide (7 wide at 6 per tile) run as one run of
      // positions, tiles wrapping from one row to the next, rather than each ending in short
      // tiles with too few accumulators (resnet18's 7x7 layers 14 % faster on AVX2). Wide
      // rows keep a row per call: a few short tiles cost less there than the tiles' offsets
      // held in registers (each position sums in the same order either way).
      if (OW % MR != 0 && OW < 8 * MR) {
        channelLanePositions<L, MR>(xn + c0 * plane + oh0 * strideH * Wp, wk + c0 * R * S * KB, bias + kb * KB,
                                    acc, c0 == 0, imin(CC, C - c0), plane, Wp, R, S, dilH, dilW, rows * OW,
                                    [=](int64_t p) { return p / OW * strideH * Wp + p % OW * strideW; }, ahead);
        continue;
      }
      for (int64_t i = 0; i < rows; ++i)
        channelLaneRow<L, MR>(xn + c0 * plane + (oh0 + i) * strideH * Wp, wk + c0 * R * S * KB, bias + kb * KB,
                         acc + i * OW * KB, c0 == 0, imin(CC, C - c0), plane, Wp, R, S, dilH, dilW, strideW, OW,
                         ahead);
    }
    storeChannelLaneRows(acc, KB, residual, y, n, K, kb, oh0, rows, OH, OW, yH, yW, padT, padL, resH, resW, resPadT,
                         resPadL, activation, actAlpha, actBeta);
  }
}

/// Floats of the Winograd kernel's transformed-input buffer V (16 slabs of CC x T floats
/// plus kWinogradSlabPad: 128 KiB of stack) and of its sums M (KG x 16 x T x 2L: 64 KiB);
/// lower/Conv.cpp sizes CC, KG and T to fit.
constexpr int64_t kWinogradInputFloats = 32768, kWinogradSumFloats = 16384, kWinogradSlabPad = 16;
/// Floats of each of the Winograd kernel's four row buffers: the padded input width (OW + 2)
/// plus the column the last tile reads past it when OW is odd.
constexpr int64_t kWinogradRowFloats = 1024;

/// The even lanes (0, 2, 4, ...) and odd lanes of the concatenation (a, b). (Results by
/// reference: vector returns warn of ABI changes.)
template <typename V>
__attribute__((always_inline)) inline void splitEvenOdd(const V &a, const V &b, V &even, V &odd) {
  if constexpr (sizeof(V) == 64) {
    even = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    odd = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  } else if constexpr (sizeof(V) == 32) {
    even = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
    odd = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
  } else {
    even = __builtin_shufflevector(a, b, 0, 2, 4, 6);
    odd = __builtin_shufflevector(a, b, 1, 3, 5, 7);
  }
}

/// Winograd F(2x2, 3x3)'s input transform down the columns, B^T d for the four input rows
/// of a row of tiles: t0 = r0 - r2, t1 = r1 + r2, t2 = r2 - r1, t3 = r1 - r3 (r3 null: a
/// row of zeros) over n columns, in whole VL-float vectors, the last one overlapping, so
/// that no loop ends in a masked tail (microcode on AMD, see copyFloats).
template <int VL>
__attribute__((always_inline)) inline void winogradColumns(const float *__restrict r0, const float *__restrict r1,
                                                           const float *__restrict r2, const float *__restrict r3,
                                                           float *__restrict t0, float *__restrict t1,
                                                           float *__restrict t2, float *__restrict t3, int64_t n) {
  typedef float V __attribute__((ext_vector_type(VL)));
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  if (n < VL) {
#pragma clang loop vectorize(disable)
    for (int64_t j = 0; j < n; ++j) {
      t0[j] = r0[j] - r2[j];
      t1[j] = r1[j] + r2[j];
      t2[j] = r2[j] - r1[j];
      t3[j] = r3 ? r1[j] - r3[j] : r1[j];
    }
    return;
  }
  for (int64_t j = 0;; j += VL) {
    if (j + VL > n) j = n - VL;
    const V a = *(const VU *)(r0 + j), b = *(const VU *)(r1 + j), c = *(const VU *)(r2 + j);
    const V d = r3 ? *(const VU *)(r3 + j) : V(0.0f);
    *(VU *)(t0 + j) = a - c;
    *(VU *)(t1 + j) = b + c;
    *(VU *)(t2 + j) = c - b;
    *(VU *)(t3 + j) = b - d;
    if (j + VL == n) return;
  }
}

/// The transform across, d B, of one transformed row t (2 TX + 2 columns): for tile tx,
/// with a, b, e, f = t[2tx .. 2tx + 3], v0 = a - e, v1 = b + e, v2 = e - b, v3 = b - f. In
/// VL-tile vectors (even and odd columns split by shuffles), the last one overlapping; rows
/// of fewer tiles in vectors of 4, or one by one under 4.
template <int VL>
__attribute__((always_inline)) inline void winogradAcross(const float *__restrict t, float *__restrict v0,
                                                          float *__restrict v1, float *__restrict v2,
                                                          float *__restrict v3, int64_t TX) {
  if constexpr (VL > 4) {
    if (TX < VL) return winogradAcross<4>(t, v0, v1, v2, v3, TX);
  }
  typedef float V __attribute__((ext_vector_type(VL)));
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  if (TX < VL) {
#pragma clang loop vectorize(disable)
    for (int64_t tx = 0; tx < TX; ++tx) {
      const float a = t[2 * tx], b = t[2 * tx + 1], e = t[2 * tx + 2], f = t[2 * tx + 3];
      v0[tx] = a - e;
      v1[tx] = b + e;
      v2[tx] = e - b;
      v3[tx] = b - f;
    }
    return;
  }
  for (int64_t tx = 0;; tx += VL) {
    if (tx + VL > TX) tx = TX - VL;
    const V lo = *(const VU *)(t + 2 * tx), hi = *(const VU *)(t + 2 * tx + VL);
    const V lo2 = *(const VU *)(t + 2 * tx + 2), hi2 = *(const VU *)(t + 2 * tx + 2 + VL);
    V a, b, e, f;
    splitEvenOdd(lo, hi, a, b);
    splitEvenOdd(lo2, hi2, e, f);
    *(VU *)(v0 + tx) = a - e;
    *(VU *)(v1 + tx) = b + e;
    *(VU *)(v2 + tx) = e - b;
    *(VU *)(v3 + tx) = b - f;
    if (tx + VL == TX) return;
  }
}

/// 3x3, stride 1, dilation 1 convolution by Winograd's minimal filtering F(2x2, 3x3)
/// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 2x2 tile
/// of outputs is A^T [ (G g G^T) .* (B^T d B) ] A over its 4x4 input tile d, 16 products per
/// input channel where the direct convolution needs 36, so 2.25x fewer multiply-adds. The
/// compiler transforms the weights (U = G g G^T, exact in binary: G holds 0, 1 and 1/2) and
/// packs them [K / 2L blocks][16 elements xi][C][2L]; B^T and A^T hold only 0 and +-1.
///
/// Tasks are (image, group of KG blocks of 2L output channels, block of RB output rows),
/// rows fastest unless rowsOuter (as the direct convolution's), with the direct
/// convolution's input (zero-padded [N, C, Hp, Wp], read from its first OH + 2 rows and
/// OW + 2 columns) and epilogue (residual, activation, bordered output:
/// storeChannelLaneRows). A task's T = ceil(rows / 2) x ceil(OW / 2) tiles: for each chunk
/// of CC input channels it transforms their tiles into V [16][CC][T], then runs for each
/// block 16 products M[xi] += V[xi]^T U[xi] (T tiles x 2L channels, reduction over the
/// chunk) on the shared register tile (channelLanePositions, tiles as positions); last, the
/// output transform turns each block's M into its rows, plus bias. Each output is the same
/// sum whatever the task split (the chunks are fixed at compile time), so threads do not
/// change the result.
template <int L, int MR>
__attribute__((always_inline)) inline void winogradConv(const float *__restrict x, const float *__restrict u,
                                                        const float *__restrict bias, const float *residual,
                                                        float *y, int64_t C, int64_t Hp, int64_t Wp, int64_t K,
                                                        int64_t OH, int64_t OW, int64_t RB, int64_t KG,
                                                        int64_t CC, bool rowsOuter, int64_t yH, int64_t yW,
                                                        int64_t padT, int64_t padL, int64_t resH, int64_t resW,
                                                        int64_t resPadT, int64_t resPadL, int32_t activation,
                                                        float actAlpha, float actBeta, int64_t begin, int64_t end) {
  typedef float V __attribute__((ext_vector_type(L)));
  typedef float VU __attribute__((ext_vector_type(L), aligned(4)));
  constexpr int64_t KB = 2 * L;
  const int64_t blocks = (K + KB - 1) / KB, groups = (blocks + KG - 1) / KG, rowBlocks = (OH + RB - 1) / RB;
  const int64_t plane = Hp * Wp, TX = (OW + 1) / 2, inRows = OH + 2, inCols = OW + 2;
  const int64_t tCols = 2 * TX + 2; // columns of a transformed row t (one past inCols for odd OW)
  alignas(64) float v[kWinogradInputFloats];
  alignas(64) float m[kWinogradSumFloats];
  alignas(64) float acc[kDirectAccFloats];
  alignas(64) float t[4][kWinogradRowFloats];
  alignas(64) const float zeros[KB] = {};
  for (int64_t task = begin; task < end; ++task) {
    const int64_t rb = rowsOuter ? task / groups % rowBlocks : task % rowBlocks;
    const int64_t g = rowsOuter ? task % groups : task / rowBlocks % groups, n = task / rowBlocks / groups;
    const int64_t oh0 = rb * RB, rows = imin(RB, OH - oh0), TY = (rows + 1) / 2, T = TY * TX;
    const int64_t kb0 = g * KG, kbs = imin(KG, blocks - kb0);
    for (int64_t c0 = 0; c0 < C; c0 += CC) {
      // Slabs a little more than cc x T apart: slabs a multiple of 4 KiB apart made the
      // transform's four stores per tile alias each other in the store buffer.
      const int64_t cc = imin(CC, C - c0), xiStride = cc * T + kWinogradSlabPad;
      // Input transform B^T d B of each tile: first down the columns, four rows at a time
      // over the whole width (the row past the padded input of an odd height reads as
      // zero), then across.
      for (int64_t c = 0; c < cc; ++c) {
        const float *__restrict in = x + (n * C + c0 + c) * plane;
        for (int64_t ty = 0; ty < TY; ++ty) {
          const float *__restrict r0 = in + (oh0 + 2 * ty) * Wp;
          const bool fourthRowIn = oh0 + 2 * ty + 3 < inRows;
          winogradColumns<L>(r0, r0 + Wp, r0 + 2 * Wp, fourthRowIn ? r0 + 3 * Wp : nullptr, t[0], t[1], t[2], t[3],
                             inCols);
          if (tCols > inCols) // odd widths: the last tile's column past the padded input
            for (int64_t i = 0; i < 4; ++i) t[i][inCols] = 0.0f;
          for (int64_t i = 0; i < 4; ++i) {
            float *__restrict v0 = v + (4 * i) * xiStride + c * T + ty * TX;
            winogradAcross<L>(t[i], v0, v0 + xiStride, v0 + 2 * xiStride, v0 + 3 * xiStride, TX);
          }
        }
      }
      // The 16 element-wise products of each channel block, summed over the chunk's channels
      // (prefetching the next element's weights, C x 2L floats further).
      for (int64_t b = 0; b < kbs; ++b)
        for (int64_t xi = 0; xi < 16; ++xi)
          channelLanePositions<L, MR>(v + xi * xiStride, u + (((kb0 + b) * 16 + xi) * C + c0) * KB, zeros,
                                      m + (b * 16 + xi) * T * KB, c0 == 0, cc, T, 0, 1, 1, 1, 1, T,
                                      [](int64_t p) { return p; }, C * KB);
    }
    // Output transform A^T M A, plus bias, into each block's rows (the tiles' columns and
    // rows past OW and `rows` are dropped), then the direct kernel's epilogue.
    for (int64_t b = 0; b < kbs; ++b) {
      const float *__restrict mb = m + b * 16 * T * KB;
      for (int64_t ty = 0; ty < TY; ++ty)
        for (int64_t tx = 0; tx < TX; ++tx)
          for (int64_t h = 0; h < KB; h += L) {
            V e[16];
            for (int xi = 0; xi < 16; ++xi) e[xi] = *(const VU *)(mb + (xi * T + ty * TX + tx) * KB + h);
            V s[4], d[4];
            for (int j = 0; j < 4; ++j) {
              s[j] = e[j] + e[4 + j] + e[8 + j];
              d[j] = e[4 + j] - e[8 + j] - e[12 + j];
            }
            const V bv = *(const VU *)(bias + (kb0 + b) * KB + h);
            const V out[2][2] = {{s[0] + s[1] + s[2] + bv, s[1] - s[2] - s[3] + bv},
                                 {d[0] + d[1] + d[2] + bv, d[1] - d[2] - d[3] + bv}};
            for (int64_t dy = 0; dy < 2; ++dy)
              for (int64_t dx = 0; dx < 2; ++dx)
                if (2 * ty + dy < rows && 2 * tx + dx < OW)
                  *(VU *)(acc + ((2 * ty + dy) * OW + 2 * tx + dx) * KB + h) = out[dy][dx];
          }
      storeChannelLaneRows(acc, KB, residual, y, n, K, kb0 + b, oh0, rows, OH, OW, yH, yW, padT, padL, resH, resW,
                           resPadT, resPadL, activation, actAlpha, actBeta);
    }
  }
}

/// Floats of the fused max pool's row buffers (32 KiB of stack): one row of window maxima
/// over columns plus the ring of pooled rows in progress, each PW x 2L. The compiler only
/// fuses a MaxPool whose rows fit.
constexpr int64_t kPoolRowsFloats = 8192;

/// A direct convolution (as directConv, without residual) followed by a 2-D max pool of
/// its OH x OW output, whose result y [N, K, yH, yW] (PH x PW at (padT, padL) inside a zero
/// border, as directConv's) is all that is stored: the convolution's rows never leave L1.
/// Pool window (kH, kW), strides (sH, sW), leading pads (pT, pL), no dilation; every window
/// covers at least one convolution output (the compiler checks it). Task = (image, pooled
/// output row, block of 2L channels), blocks fastest: a thread's share is a band of rows, as
/// for the direct convolutions after it. For each image and block, the tasks of a call cover
/// a run of pooled rows; the call computes each convolution row they read once, up to G rows at
/// a time with the channel chunks outermost (as directConv), and for each row: the
/// activation, the max over each window's columns (channels in lanes, so a vector max per
/// column), and the max into the pooled rows whose windows contain that row (a ring of the
/// ceil(kH / sH) rows in progress); a pooled row is stored transposed once its window's last
/// row is in. A window's maximum ignores NaN as the reference kernel does (a value wins when
/// it is greater), so the result does not depend on the order of its taps.
template <int L, int MR>
__attribute__((always_inline)) inline void directConvMaxPool(
    const float *__restrict x, const float *__restrict wp, const float *__restrict bias, float *__restrict y,
    int64_t C, int64_t Hp, int64_t Wp, int64_t K, int64_t R, int64_t S, int64_t OH, int64_t OW, int64_t strideH,
    int64_t strideW, int64_t dilH, int64_t dilW, int64_t CC, int64_t PH, int64_t PW, int64_t kH, int64_t kW,
    int64_t sH, int64_t sW, int64_t pT, int64_t pL, int64_t yH, int64_t yW, int64_t padT, int64_t padL,
    int32_t activation, float actAlpha, float actBeta, int64_t begin, int64_t end) {
  typedef float V __attribute__((ext_vector_type(L)));
  typedef float VU __attribute__((ext_vector_type(L), aligned(4)));
  constexpr int64_t KB = 2 * L;
  const int64_t yPlane = yH * yW, plane = Hp * Wp, blocks = (K + KB - 1) / KB;
  const int64_t rowFloats = OW * KB, pooledFloats = PW * KB, ring = (kH + sH - 1) / sH;
  const int64_t G = imax(1, kDirectAccFloats / rowFloats); // convolution rows per pass
  alignas(64) float acc[kDirectAccFloats];
  alignas(64) float pooled[kPoolRowsFloats];
  float *__restrict windowMax = pooled + ring * pooledFloats;
  const V lowest = -__builtin_inff();
  for (int64_t n = begin / (PH * blocks); n * PH * blocks < end; ++n)
    for (int64_t kb = 0; kb < blocks; ++kb) {
      // Tasks (n, ph, kb), numbered (n * PH + ph) * blocks + kb, in [begin, end): pooled rows [ph0, ph1).
      const int64_t base = n * PH * blocks + kb;
      const int64_t ph0 = imax(0, floorDiv(begin - base + blocks - 1, blocks));
      const int64_t ph1 = imin(PH, floorDiv(end - base + blocks - 1, blocks));
      if (ph0 >= ph1) continue;
      const float *__restrict xn = x + n * C * plane;
      const float *__restrict wk = wp + kb * R * S * C * KB;
      const int64_t kValid = imin(KB, K - kb * KB);
      float *__restrict planes = y + (n * K + kb * KB) * yPlane;
      const int64_t r0 = imax(0, ph0 * sH - pT), r1 = imin(OH, (ph1 - 1) * sH - pT + kH);
      for (int64_t g0 = r0; g0 < r1; g0 += G) {
        const int64_t rows = imin(G, r1 - g0);
        for (int64_t c0 = 0; c0 < C; c0 += CC)
          for (int64_t i = 0; i < rows; ++i)
            channelLaneRow<L, MR>(xn + c0 * plane + (g0 + i) * strideH * Wp, wk + c0 * R * S * KB, bias + kb * KB,
                                  acc + i * rowFloats, c0 == 0, imin(CC, C - c0), plane, Wp, R, S, dilH, dilW,
                                  strideW, OW);
        for (int64_t i = 0; i < rows; ++i) {
          const int64_t r = g0 + i;
          float *__restrict row = acc + i * rowFloats;
          activateFast(row, rowFloats, activation, actAlpha, actBeta);
          for (int64_t pw = 0; pw < PW; ++pw) {
            const int64_t lo = imax(0, pw * sW - pL), hi = imin(OW, pw * sW - pL + kW);
            V m0 = lowest, m1 = lowest;
            for (int64_t col = lo; col < hi; ++col) {
              const V v0 = *(const VU *)(row + col * KB), v1 = *(const VU *)(row + col * KB + L);
              m0 = v0 > m0 ? v0 : m0;
              m1 = v1 > m1 ? v1 : m1;
            }
            *(VU *)(windowMax + pw * KB) = m0;
            *(VU *)(windowMax + pw * KB + L) = m1;
          }
          // The pooled rows of this run whose windows contain row r.
          const int64_t phLo = imax(ph0, floorDiv(r + pT - kH, sH) + 1), phHi = imin(ph1 - 1, floorDiv(r + pT, sH));
          for (int64_t ph = phLo; ph <= phHi; ++ph) {
            float *__restrict out = pooled + (ph % ring) * pooledFloats;
            const int64_t first = imax(0, ph * sH - pT), last = imin(OH, ph * sH - pT + kH) - 1;
            if (r == first) {
              for (int64_t j = 0; j < pooledFloats; ++j) out[j] = windowMax[j];
            } else {
              for (int64_t j = 0; j < pooledFloats; ++j) out[j] = windowMax[j] > out[j] ? windowMax[j] : out[j];
            }
            if (r == last) storeTransposed(out, KB, planes + (padT + ph) * yW + padL, yPlane, PW, kValid);
          }
        }
      }
      if (yW != PW || yH != PH) zeroBorder(planes, kValid, yPlane, yH, yW, padT, padL, PH, PW, ph0, ph1 - ph0);
    }
}

constexpr int64_t kDwRow = 640; // floats per padded input row of the 3x3 depthwise path
/// Output planes of up to kDwPrefetchMaxPlane floats have their lines fetched for writing
/// kDwPrefetchPlanes planes ahead (leip_k_conv2d_f32's depthwise loop).
constexpr int64_t kDwPrefetchPlanes = 8, kDwPrefetchMaxPlane = 1024;

/// Depthwise 3x3, stride 1 or 2, dilation 1: output plane `out` of input plane `plane`.
/// Each output row is computed VL columns at a time (VL = the target's float lanes, so that
/// the 4 x NV accumulators and 9 weight vectors fit its registers) with all 9 taps accumulated in
/// registers: bias + w00 x00 + w01 x01 + ... + w22 x22 (padding reads as zero). Input rows
/// are copied, zero padded, into a small ring of stack buffers so the inner loop has no
/// bounds checks.
template <int STRIDE, int NV, int VL>
__attribute__((always_inline)) inline void depthwise3x3(const float *__restrict plane, const float *__restrict filter, float b, float *__restrict out,
                  int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t padT, int64_t padL, int32_t activation,
                  float actAlpha, float actBeta) {
  typedef float V __attribute__((ext_vector_type(VL)));
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  constexpr int kRows = 4;                     // output rows per block: independent accumulators
  constexpr int kIn = (kRows - 1) * STRIDE + 3; // input rows they read
  alignas(64) float rows[16][kDwRow];
  alignas(64) float zeroRow[kDwRow];
  int64_t tag[16];
  for (int i = 0; i < 16; ++i) tag[i] = -1;
  // Padded columns the vector loop reads: it steps NV vectors at a time while ow < OW, and
  // a tap reads up to 2 columns further (at stride 2, each half of the split row holds
  // OWv + VL). Small planes (7 wide) spend more on filling rows than on their taps, so
  // no more is filled than this.
  const int64_t OWv = (OW + VL * NV - 1) / (VL * NV) * (VL * NV);
  const int64_t need = STRIDE == 1 ? OWv + VL + 2 : 2 * (OWv + VL);
  for (int64_t j = 0; j < need; ++j) zeroRow[j] = 0.0f;
  if (STRIDE == 2) // its odd columns
    for (int64_t j = 0; j < need / 2; ++j) zeroRow[kDwRow / 2 + j] = 0.0f;
  V wv[9];
  for (int i = 0; i < 9; ++i) wv[i] = filter[i];
  for (int64_t oh0 = 0; oh0 < OH; oh0 += kRows) {
    // The input usually comes from memory (the layer before wrote megabytes): ask for the
    // next block's new rows while this block computes.
    for (int64_t ih = (oh0 + kRows) * STRIDE - padT + kIn - kRows * STRIDE; ih < (oh0 + kRows) * STRIDE - padT + kIn;
         ++ih)
      if ((uint64_t)ih < (uint64_t)H)
        for (int64_t c = 0; c < W; c += 16) __builtin_prefetch(plane + ih * W + c, 0, 3);
    const float *__restrict src[kIn];
    for (int j = 0; j < kIn; ++j) {
      const int64_t ih = oh0 * STRIDE - padT + j;
      if ((uint64_t)ih >= (uint64_t)H) {
        src[j] = zeroRow;
        continue;
      }
      float *__restrict buf = rows[ih & 15];
      if (tag[ih & 15] != ih) {
        tag[ih & 15] = ih;
        const float *__restrict in = plane + ih * W;
        if (STRIDE == 1) {
          for (int64_t c = 0; c < padL; ++c) buf[c] = 0.0f;
          for (int64_t c = 0; c < W; ++c) buf[padL + c] = in[c];
          for (int64_t c = padL + W; c < need; ++c) buf[c] = 0.0f;
        } else {
          // Stride 2 stores the padded row's even columns, then its odd ones (at kDwRow / 2),
          // split straight from the input row: the three taps of a vector of outputs are
          // then three plain loads (even, odd, even one further), where splitting each use
          // of a row cost six shuffles per vector.
          auto column = [&](int64_t c) { return c >= 0 && c < W ? in[c] : 0.0f; }; // padded column c + padL
          int64_t half = 0; // column `half` of each half: padded columns 2 half and 2 half + 1
          for (; 2 * half < padL; ++half) {
            buf[half] = column(2 * half - padL);
            buf[kDwRow / 2 + half] = column(2 * half + 1 - padL);
          }
          for (; 2 * half - padL + 2 * VL <= W; half += VL) {
            const V lo = *(const VU *)(in + 2 * half - padL), hi = *(const VU *)(in + 2 * half - padL + VL);
            V even, odd;
            splitEvenOdd(lo, hi, even, odd);
            *(VU *)(buf + half) = even;
            *(VU *)(buf + kDwRow / 2 + half) = odd;
          }
          // Zeros from here to what the taps read, then the rest of the row (under 2 VL
          // columns) as the last 2 VL of its columns whose first is an even padded column,
          // rewriting some values already stored: scalar loops here cost more than the taps
          // (and a copy through a zeroed buffer stalled on reloading its scalar stores).
          const int64_t restFrom = 2 * half - padL;
          for (int64_t k = half; k < need / 2; k += VL) {
            *(VU *)(buf + k) = 0.0f;
            *(VU *)(buf + kDwRow / 2 + k) = 0.0f;
          }
          if (restFrom < W && W > 2 * VL) {
            const int64_t from = (W - 2 * VL + padL) % 2 == 0 ? W - 2 * VL : W - 2 * VL - 1;
            const V lo = *(const VU *)(in + from), hi = *(const VU *)(in + from + VL);
            V even, odd;
            splitEvenOdd(lo, hi, even, odd);
            *(VU *)(buf + (from + padL) / 2) = even;
            *(VU *)(buf + kDwRow / 2 + (from + padL) / 2) = odd;
            if (from + 2 * VL < W) buf[(W - 1 + padL) / 2] = in[W - 1]; // an even padded column
          } else {
            for (; 2 * half - padL < W; ++half) {
              buf[half] = column(2 * half - padL);
              buf[kDwRow / 2 + half] = column(2 * half + 1 - padL);
            }
          }
        }
      }
      src[j] = buf;
    }
    // NV VL-column vectors per row (two unless the row is short): 4 x NV independent
    // accumulators hide the FMA latency.
    for (int64_t ow = 0; ow < OW; ow += VL * NV) {
      V acc[kRows][NV];
      _Pragma("clang loop unroll(full)") for (int o = 0; o < kRows; ++o)
        _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) acc[o][v] = b;
      _Pragma("clang loop unroll(full)") for (int r = 0; r < 3; ++r) {
        _Pragma("clang loop unroll(full)") for (int o = 0; o < kRows; ++o) {
          _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) {
            if (STRIDE == 1) {
              const float *__restrict base = src[o * STRIDE + r] + ow + VL * v;
              acc[o][v] += wv[r * 3 + 0] * *(const VU *)base;
              acc[o][v] += wv[r * 3 + 1] * *(const VU *)(base + 1);
              acc[o][v] += wv[r * 3 + 2] * *(const VU *)(base + 2);
            } else {
              const float *__restrict even = src[o * STRIDE + r] + ow + VL * v;
              acc[o][v] += wv[r * 3 + 0] * *(const VU *)even;
              acc[o][v] += wv[r * 3 + 1] * *(const VU *)(even + kDwRow / 2);
              acc[o][v] += wv[r * 3 + 2] * *(const VU *)(even + 1);
            }
          }
        }
      }
      _Pragma("clang loop unroll(full)") for (int o = 0; o < kRows; ++o) {
        if (oh0 + o >= OH) break;
        _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) {
          const int64_t col = ow + VL * v;
          if (col >= OW) break;
          V value = acc[o][v];
          // Relu here, on registers. Clip's two bounds would raise the register pressure
          // enough to spill the weights (1.4x slower): it runs over the block's rows below,
          // still in L1; other activations after the plane (their libm calls).
          if (activation == kRelu) value = value > 0.0f ? value : 0.0f;
          float *__restrict dst = out + (oh0 + o) * OW + col;
          if (col + VL <= OW) {
            *(VU *)dst = value;
          } else {
            alignas(64) float tmp[VL];
            *(VU *)tmp = value;
            copyUnder<VL>(dst, tmp, OW - col);
          }
        }
      }
    }
    if (activation == kClip) clipFloats<VL>(out + oh0 * OW, imin(kRows, OH - oh0) * OW, actAlpha, actBeta);
  }
  if (activation != kRelu && activation != kClip) activateRange(out, OH * OW, activation, actAlpha, actBeta);
}

/// Floats of each zero-padded buffer of the flat depthwise kernels (the plane, or one of its
/// four stride-2 phases, with slack for the last vectors): planes up to about 30 x 30.
constexpr int64_t kDwFlat = 1024;
constexpr int kDwFlatVectors = 4; // vectors per step of the flat kernels: independent accumulators

/// The flat kernels' arithmetic: res[p] = bias + sum over the taps t, in (r, s) order, of
/// filter[t] * tap[t][p], for p < flat rounded up to whole steps of kDwFlatVectors VL-float
/// vectors (each tap must have that many readable floats). Relu and Clip are applied on
/// registers; the other activations are left to the caller.
template <int VL>
__attribute__((always_inline)) inline void depthwise3x3FlatTaps(const float *const tap[9],
                                                                const float *__restrict filter, float b,
                                                                int64_t flat, float *__restrict res,
                                                                int32_t activation, float actAlpha, float actBeta) {
  typedef float V __attribute__((ext_vector_type(VL)));
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  V wv[9];
  for (int i = 0; i < 9; ++i) wv[i] = filter[i];
  for (int64_t p0 = 0; p0 < flat; p0 += VL * kDwFlatVectors) {
    V acc[kDwFlatVectors];
    _Pragma("clang loop unroll(full)") for (int v = 0; v < kDwFlatVectors; ++v) acc[v] = b;
    _Pragma("clang loop unroll(full)") for (int t = 0; t < 9; ++t) {
      _Pragma("clang loop unroll(full)") for (int v = 0; v < kDwFlatVectors; ++v)
        acc[v] += wv[t] * *(const VU *)(tap[t] + p0 + VL * v);
    }
    _Pragma("clang loop unroll(full)") for (int v = 0; v < kDwFlatVectors; ++v) {
      V value = acc[v];
      if (activation == kRelu) value = value > 0.0f ? value : 0.0f;
      if (activation == kClip) {
        value = value < actAlpha ? actAlpha : value;
        value = value > actBeta ? actBeta : value;
      }
      *(VU *)(res + p0 + VL * v) = value;
    }
  }
}

/// Copies the plane's rows that land in rows [0, rows) of `padded` (zero-filled rows of Wp
/// floats) at offset (padT, padL), each clipped to the columns that land inside its row.
template <int VL>
__attribute__((always_inline)) inline void copyIntoPadded(const float *__restrict plane, int64_t H, int64_t W,
                                                          float *__restrict padded, int64_t rows, int64_t Wp,
                                                          int64_t padT, int64_t padL) {
  const int64_t cLo = imax(0, -padL), cHi = imin(W, Wp - padL);
  if (cHi <= cLo) return;
  for (int64_t row = imax(0, padT); row < imin(rows, H + padT); ++row)
    copyFloats<VL>(padded + row * Wp + padL + cLo, plane + (row - padT) * W + cLo, cHi - cLo);
}

/// Depthwise 3x3, stride 1, for small planes: the plane is copied into a zero-padded Hp x Wp
/// buffer, and outputs are computed in its flat coordinates p = oh * Wp + ow, where tap (r,
/// s) is simply p + r * Wp + s: whole vectors of outputs per load, no per-row edges (the
/// Wp - OW columns per row that fall in the padding are computed and dropped), VL = the
/// target's float lanes per vector. Each output is bias + taps in (r, s) order, as in
/// depthwise3x3.
template <int VL>
__attribute__((always_inline)) inline void depthwise3x3Flat(const float *__restrict plane,
                                                            const float *__restrict filter, float b,
                                                            float *__restrict out, int64_t H, int64_t W, int64_t OH,
                                                            int64_t OW, int64_t padT, int64_t padL, int32_t activation,
                                                            float actAlpha, float actBeta) {
  const int64_t Wp = OW + 2, Hp = OH + 2, flat = OH * Wp;
  alignas(64) float buf[kDwFlat];
  alignas(64) float res[kDwFlat];
  for (int64_t i = 0; i < Hp * Wp + 2 * Wp + 64; ++i) buf[i] = 0.0f; // all the vectors read
  copyIntoPadded<VL>(plane, H, W, buf, Hp, Wp, padT, padL);
  const float *tap[9];
  for (int t = 0; t < 9; ++t) tap[t] = buf + (t / 3) * Wp + t % 3;
  depthwise3x3FlatTaps<VL>(tap, filter, b, flat, res, activation, actAlpha, actBeta);
  for (int64_t oh = 0; oh < OH; ++oh) copyFloats<VL>(out + oh * OW, res + oh * Wp, OW);
  if (activation != kRelu && activation != kClip) activateRange(out, OH * OW, activation, actAlpha, actBeta);
}

/// Floats of each phase buffer of depthwise3x3FlatStride2 for an OH x OW output: its flat
/// outputs rounded up to whole steps plus the furthest tap offset (Wh + 1), and at least the
/// (OH + 1) rows of Wh written plus the last split's vector.
inline int64_t depthwise3x3PhaseFloats(int64_t OH, int64_t OW, int64_t VL) {
  const int64_t Wh = OW + 1, step = VL * kDwFlatVectors;
  const int64_t steps = (OH * Wh + step - 1) / step * step;
  return imax(steps + Wh + 1, (OH + 1) * Wh + VL);
}

/// Floats of the zero-padded plane of depthwise3x3FlatStride2: its 2 OH + 1 rows of 2 Wh
/// columns, and the last split's two vectors past them.
inline int64_t depthwise3x3PaddedFloats(int64_t OH, int64_t OW, int64_t VL) {
  return (2 * OH + 1) * 2 * (OW + 1) + 2 * VL;
}

/// Depthwise 3x3, stride 2, for small planes: the zero-padded plane is split into its four
/// phases (even or odd padded row) x (even or odd padded column), each (OH + 1) x Wh with
/// Wh = OW + 1, so that padded element (2 oh + r, 2 ow + s), which output (oh, ow) reads at
/// tap (r, s), is element p + (r / 2) Wh + s / 2 of phase (r % 2, s % 2), with p = oh Wh +
/// ow. The outputs are then computed in flat coordinates as in depthwise3x3Flat: whole
/// vectors, one load per tap, no shuffles (the split costs one per input vector, once).
template <int VL>
__attribute__((always_inline)) inline void depthwise3x3FlatStride2(const float *__restrict plane,
                                                                   const float *__restrict filter, float b,
                                                                   float *__restrict out, int64_t H, int64_t W,
                                                                   int64_t OH, int64_t OW, int64_t padT, int64_t padL,
                                                                   int32_t activation, float actAlpha, float actBeta) {
  typedef float V __attribute__((ext_vector_type(VL)));
  typedef float VU __attribute__((ext_vector_type(VL), aligned(4)));
  const int64_t Wh = OW + 1, Wp = 2 * Wh, flat = OH * Wh;
  const int64_t phaseFloats = depthwise3x3PhaseFloats(OH, OW, VL);
  const int64_t paddedFloats = depthwise3x3PaddedFloats(OH, OW, VL);
  alignas(64) float padded[2 * kDwFlat];
  alignas(64) float phase[4][kDwFlat];
  alignas(64) float res[kDwFlat];
  // The whole padded plane first, then its split: splitting each row right after copying it
  // loaded vectors that straddle the copy's stores, which stalls store-to-load forwarding
  // (a third of the layer's time).
  for (int64_t i = 0; i < paddedFloats; ++i) padded[i] = 0.0f;
  copyIntoPadded<VL>(plane, H, W, padded, 2 * OH + 1, Wp, padT, padL); // the rows read
  // Split rows write whole vectors: past Wh, into the next row of the phase, which the next
  // row of the same parity then overwrites. Past the last rows: zeros or that overflow,
  // read only by the dropped outputs.
  for (int k = 0; k < 4; ++k)
    for (int64_t i = OH * Wh; i < phaseFloats; ++i) phase[k][i] = 0.0f;
  for (int64_t row = 0; row <= 2 * OH; ++row) {
    float *__restrict even = phase[(row % 2) * 2] + (row / 2) * Wh;
    float *__restrict odd = phase[(row % 2) * 2 + 1] + (row / 2) * Wh;
    for (int64_t j = 0; j < Wh; j += VL) {
      const V lo = *(const VU *)(padded + row * Wp + 2 * j), hi = *(const VU *)(padded + row * Wp + 2 * j + VL);
      V e, o;
      splitEvenOdd(lo, hi, e, o);
      *(VU *)(even + j) = e;
      *(VU *)(odd + j) = o;
    }
  }
  const float *tap[9];
  for (int t = 0; t < 9; ++t) tap[t] = phase[(t / 3) % 2 * 2 + t % 3 % 2] + (t / 3) / 2 * Wh + (t % 3) / 2;
  depthwise3x3FlatTaps<VL>(tap, filter, b, flat, res, activation, actAlpha, actBeta);
  for (int64_t oh = 0; oh < OH; ++oh) copyFloats<VL>(out + oh * OW, res + oh * Wh, OW);
  if (activation != kRelu && activation != kClip) activateRange(out, OH * OW, activation, actAlpha, actBeta);
}

/// One output plane of a 3x3 depthwise convolution (stride 1 or 2, dilation 1) with
/// VL-float vectors: the flat kernel for small stride-1 planes, else depthwise3x3 with one
/// vector per row block when the row is that short, else two.
template <int VL>
__attribute__((always_inline)) inline void depthwise3x3Plane(const float *__restrict plane,
                                                             const float *__restrict filter, float b,
                                                             float *__restrict out, int64_t H, int64_t W, int64_t OH,
                                                             int64_t OW, int64_t stride, int64_t padT, int64_t padL,
                                                             int32_t activation, float actAlpha, float actBeta) {
  // The flat kernel reads up to 16 * 4 - 1 floats past the last output's taps.
  if (stride == 1 && (OH + 2) * (OW + 2) + 2 * (OW + 2) + 64 <= kDwFlat)
    depthwise3x3Flat<VL>(plane, filter, b, out, H, W, OH, OW, padT, padL, activation, actAlpha, actBeta);
  else if (stride == 2 && depthwise3x3PhaseFloats(OH, OW, VL) <= kDwFlat &&
           depthwise3x3PaddedFloats(OH, OW, VL) <= 2 * kDwFlat)
    depthwise3x3FlatStride2<VL>(plane, filter, b, out, H, W, OH, OW, padT, padL, activation, actAlpha, actBeta);
  else if (stride == 1 && OW <= VL)
    depthwise3x3<1, 1, VL>(plane, filter, b, out, H, W, OH, OW, padT, padL, activation, actAlpha, actBeta);
  else if (stride == 1)
    depthwise3x3<1, 2, VL>(plane, filter, b, out, H, W, OH, OW, padT, padL, activation, actAlpha, actBeta);
  else if (OW <= VL)
    depthwise3x3<2, 1, VL>(plane, filter, b, out, H, W, OH, OW, padT, padL, activation, actAlpha, actBeta);
  else
    depthwise3x3<2, 2, VL>(plane, filter, b, out, H, W, OH, OW, padT, padL, activation, actAlpha, actBeta);
}

} // namespace

extern "C" void leip_k_conv2d_f32(const float *__restrict x, const float *__restrict w, const float *__restrict bias,
                                  float *__restrict y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,
                                  int64_t R, int64_t S, int64_t OH, int64_t OW, int64_t strideH, int64_t strideW,
                                  int64_t padT, int64_t padL, int64_t dilH, int64_t dilW, int64_t group,
                                  int64_t kBlockSize, int64_t lanes, int32_t activation, float actAlpha,
                                  float actBeta, int64_t begin, int64_t end) {
  (void)N;
  const int64_t cPerGroup = C / group;
  const int64_t kPerGroup = K / group;
  if (cPerGroup > 1) {
    if (lanes >= 16)
      convGemm<2>(x, w, bias, y, C, H, W, K, R, S, OH, OW, strideH, strideW, padT, padL, dilH, dilW, group,
                  kBlockSize, activation, actAlpha, actBeta, begin, end);
    else
      convGemm<1>(x, w, bias, y, C, H, W, K, R, S, OH, OW, strideH, strideW, padT, padL, dilH, dilW, group,
                  kBlockSize, activation, actAlpha, actBeta, begin, end);
    return;
  }
  // Depthwise: direct convolution.
  if (cPerGroup == 1 && R == 3 && S == 3 && dilH == 1 && dilW == 1 && strideH == strideW &&
      (strideH == 1 || strideH == 2) && ((OW + 31) / 32 * 32) * strideH + 48 <= kDwRow && padL + W <= kDwRow) {
    // Small output planes: ask for the cache lines of the plane kDwPrefetchPlanes tasks
    // ahead for writing. A layer's output often lands where the layer before last left data
    // that both cores read (a 1x1 convolution split by output channels reads all of its
    // input), and each store to such a line waits for the other core to drop its copy;
    // asked for ahead, those waits overlap. On a 2-vCPU EPYC whose cores share no cache
    // (475 ns round trip), mobilenet_v2's 7x7 layers went from 89-94 to 32-34 us at 2
    // threads; on larger planes, already streamed, it cost 5-15 %.
    const bool prefetchOutput = OH * OW <= kDwPrefetchMaxPlane;
    for (int64_t task = begin; task < end; ++task) {
      if (prefetchOutput && task + kDwPrefetchPlanes < end) {
        const char *next = reinterpret_cast<const char *>(y + (task + kDwPrefetchPlanes) * OH * OW);
        for (int64_t byte = 0; byte < OH * OW * 4; byte += 64) __builtin_prefetch(next + byte, 1, 3);
      }
      const int64_t n = task / K, k = task % K;
      const int64_t c = (k / kPerGroup);
      const float *__restrict plane = x + (n * C + c) * H * W;
      float *__restrict out = y + task * OH * OW;
      const float b = bias ? bias[k] : 0.0f;
      const float *__restrict filter = w + k * 9;
      if (lanes >= 16)
        depthwise3x3Plane<16>(plane, filter, b, out, H, W, OH, OW, strideH, padT, padL, activation, actAlpha,
                              actBeta);
      else if (lanes == 8)
        depthwise3x3Plane<8>(plane, filter, b, out, H, W, OH, OW, strideH, padT, padL, activation, actAlpha,
                             actBeta);
      else
        depthwise3x3Plane<4>(plane, filter, b, out, H, W, OH, OW, strideH, padT, padL, activation, actAlpha,
                             actBeta);
    }
    return;
  }
  for (int64_t task = begin; task < end; ++task) {
    const int64_t n = task / K, k = task % K;
    const int64_t c0 = (k / kPerGroup) * cPerGroup;
    float *__restrict out = y + task * OH * OW;
    fill(out, OH * OW, bias ? bias[k] : 0.0f);
    for (int64_t c = 0; c < cPerGroup; ++c) {
      const float *__restrict plane = x + (n * C + c0 + c) * H * W;
      const float *__restrict filter = w + (k * cPerGroup + c) * R * S;
      for (int64_t r = 0; r < R; ++r) {
        // Output rows whose input row oh*strideH - padT + r*dilH lies in [0, H).
        const int64_t rowOff = r * dilH - padT;
        const int64_t ohLo = imax(0, floorDiv(-rowOff + strideH - 1, strideH));
        const int64_t ohHi = imin(OH, floorDiv(H - 1 - rowOff, strideH) + 1);
        for (int64_t s = 0; s < S; ++s) {
          const float wv = filter[r * S + s];
          const int64_t colOff = s * dilW - padL;
          const int64_t owLo = imax(0, floorDiv(-colOff + strideW - 1, strideW));
          const int64_t owHi = imin(OW, floorDiv(W - 1 - colOff, strideW) + 1);
          for (int64_t oh = ohLo; oh < ohHi; ++oh) {
            const float *__restrict src = plane + (oh * strideH + rowOff) * W + colOff;
            float *__restrict dst = out + oh * OW;
            if (strideW == 1) {
              for (int64_t ow = owLo; ow < owHi; ++ow) dst[ow] += wv * src[ow];
            } else {
              for (int64_t ow = owLo; ow < owHi; ++ow) dst[ow] += wv * src[ow * strideW];
            }
          }
        }
      }
    }
    activateFast(out, OH * OW, activation, actAlpha, actBeta);
  }
}

/// Direct convolution (directConv above) of a zero-padded input xp [N, C, Hp, Wp] with
/// weights packed by the compiler as [K / 2L blocks][q][2L] (zeros past K) and bias padded
/// to a multiple of 2L. `lanes` (L: 16 for AVX-512, 8 for AVX2, 4 for NEON/SSE) and `rows`
/// (MR, positions per micro-kernel) are compile-time constants chosen for the target's
/// vector registers, so after inlining only one instantiation remains; `rowsPerTask` x OW x
/// 2L floats must fit kDirectAccFloats. `residual` (null, or OH x OW planes stored as
/// [N, K, resH, resW] at (resPadT, resPadL)) is added before the activation: a folded
/// residual Add; it may be y itself, stored the same way. y is [N, K, yH, yW] with the OH x
/// OW output at (padT, padL) and zeros around it (yH = OH, yW = OW and no padding but for a
/// convolution that writes the next one's padded input); a residual may be stored the same way.
extern "C" void leip_k_conv2d_direct_f32(const float *__restrict xp, const float *__restrict wp,
                                         const float *__restrict bias, const float *residual,
                                         float *y, int64_t C, int64_t Hp,
                                         int64_t Wp, int64_t K, int64_t R, int64_t S, int64_t OH, int64_t OW,
                                         int64_t strideH, int64_t strideW, int64_t dilH, int64_t dilW, int64_t lanes,
                                         int64_t rows, int64_t rowsPerTask, int64_t channelChunk, int32_t rowsOuter,
                                         int64_t yH, int64_t yW, int64_t padT, int64_t padL, int64_t resH,
                                         int64_t resW, int64_t resPadT, int64_t resPadL, int32_t activation,
                                         float actAlpha, float actBeta, int64_t begin, int64_t end) {
#define LEIP_DIRECT(l, mr)                                                                                             \
  if (lanes == l && rows == mr)                                                                                        \
    return directConv<l, mr>(xp, wp, bias, residual, y, C, Hp, Wp, K, R, S, OH, OW, strideH, strideW, dilH, dilW,     \
                             rowsPerTask, channelChunk, rowsOuter != 0, yH, yW, padT, padL, resH, resW, resPadT,      \
                             resPadL, activation, actAlpha, actBeta, begin, end);
  LEIP_DIRECT(16, 14) LEIP_DIRECT(16, 12) LEIP_DIRECT(16, 8) LEIP_DIRECT(16, 7) LEIP_DIRECT(16, 4)
  LEIP_DIRECT(8, 6) LEIP_DIRECT(4, 12) LEIP_DIRECT(4, 6)
#undef LEIP_DIRECT
}

/// leip_k_conv2d_direct_f32's convolution for 3x3 kernels, stride 1 and dilation 1, by
/// Winograd F(2x2, 3x3) (winogradConv): the same input, output, residual and tasks; weights
/// transformed and packed by the compiler as [K / 2L blocks][16][C][2L], bias padded to a
/// multiple of 2L. Tasks: N x ceil(K / 2L / blocksPerTask) x ceil(OH / rowsPerTask).
/// rowsPerTask x OW x 2L floats must fit kDirectAccFloats, 16 x (channelChunk x tiles +
/// kWinogradSlabPad) kWinogradInputFloats and blocksPerTask x 16 x tiles x 2L
/// kWinogradSumFloats (tiles: ceil(rowsPerTask / 2) x ceil(OW / 2)).
extern "C" void leip_k_conv2d_winograd_f32(const float *__restrict xp, const float *__restrict u,
                                           const float *__restrict bias, const float *residual, float *y, int64_t C,
                                           int64_t Hp, int64_t Wp, int64_t K, int64_t OH, int64_t OW, int64_t lanes,
                                           int64_t rows, int64_t rowsPerTask, int64_t blocksPerTask,
                                           int64_t channelChunk, int32_t rowsOuter, int64_t yH, int64_t yW,
                                           int64_t padT, int64_t padL, int64_t resH, int64_t resW, int64_t resPadT,
                                           int64_t resPadL, int32_t activation, float actAlpha, float actBeta,
                                           int64_t begin, int64_t end) {
#define LEIP_WINOGRAD(l, mr)                                                                                           \
  if (lanes == l && rows == mr)                                                                                        \
    return winogradConv<l, mr>(xp, u, bias, residual, y, C, Hp, Wp, K, OH, OW, rowsPerTask, blocksPerTask,            \
                               channelChunk, rowsOuter != 0, yH, yW, padT, padL, resH, resW, resPadT, resPadL,         \
                               activation, actAlpha, actBeta, begin, end);
  LEIP_WINOGRAD(16, 14) LEIP_WINOGRAD(16, 12) LEIP_WINOGRAD(16, 8) LEIP_WINOGRAD(16, 7) LEIP_WINOGRAD(16, 4)
  LEIP_WINOGRAD(8, 6) LEIP_WINOGRAD(4, 12) LEIP_WINOGRAD(4, 6)
#undef LEIP_WINOGRAD
}

/// leip_k_conv2d_direct_f32's convolution (no residual) with a 2-D max pool after it
/// (directConvMaxPool): the kernel window (kH, kW), strides (sH, sW) and leading pads (pT,
/// pL) of the pool over the OH x OW convolution output, PH x PW pooled rows and columns
/// stored in y [N, K, yH, yW] at (padT, padL). Tasks: N x PH x K / 2L blocks.
extern "C" void leip_k_conv2d_direct_maxpool_f32(const float *__restrict xp, const float *__restrict wp,
                                                 const float *__restrict bias, float *__restrict y, int64_t C,
                                                 int64_t Hp, int64_t Wp, int64_t K, int64_t R, int64_t S, int64_t OH,
                                                 int64_t OW, int64_t strideH, int64_t strideW, int64_t dilH,
                                                 int64_t dilW, int64_t lanes, int64_t rows, int64_t channelChunk,
                                                 int64_t PH, int64_t PW, int64_t kH, int64_t kW, int64_t sH,
                                                 int64_t sW, int64_t pT, int64_t pL, int64_t yH, int64_t yW,
                                                 int64_t padT, int64_t padL, int32_t activation, float actAlpha,
                                                 float actBeta, int64_t begin, int64_t end) {
#define LEIP_DIRECT_POOL(l, mr)                                                                                        \
  if (lanes == l && rows == mr)                                                                                        \
    return directConvMaxPool<l, mr>(xp, wp, bias, y, C, Hp, Wp, K, R, S, OH, OW, strideH, strideW, dilH, dilW,         \
                                    channelChunk, PH, PW, kH, kW, sH, sW, pT, pL, yH, yW, padT, padL, activation,     \
                                    actAlpha, actBeta, begin, end);
  LEIP_DIRECT_POOL(16, 14) LEIP_DIRECT_POOL(16, 12) LEIP_DIRECT_POOL(16, 8) LEIP_DIRECT_POOL(16, 7)
  LEIP_DIRECT_POOL(16, 4) LEIP_DIRECT_POOL(8, 6) LEIP_DIRECT_POOL(4, 12)
  LEIP_DIRECT_POOL(4, 6)
#undef LEIP_DIRECT_POOL
}

/// 1x1, stride 1, no padding, one group: the same implicit GEMM with R = S = 1 over the
/// image seen as one row of P positions; tiles of 32 positions when the target has 16-float
/// vectors (`lanes`), else 16.
extern "C" void leip_k_conv1x1_f32(const float *__restrict x, const float *__restrict w, const float *__restrict bias,
                                   float *__restrict y, int64_t C, int64_t K, int64_t P, int64_t kBlockSize,
                                   int64_t lanes, int32_t activation, float actAlpha, float actBeta, int64_t begin,
                                   int64_t end) {
  if (lanes >= 16)
    convGemm<2>(x, w, bias, y, C, 1, P, K, 1, 1, 1, P, 1, 1, 0, 0, 1, 1, 1, kBlockSize, activation, actAlpha,
                actBeta, begin, end);
  else
    convGemm<1>(x, w, bias, y, C, 1, P, K, 1, 1, 1, P, 1, 1, 0, 0, 1, 1, 1, kBlockSize, activation, actAlpha,
                actBeta, begin, end);
}
