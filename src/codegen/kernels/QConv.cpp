// Integer convolutions of leip.QConv (the op and its exact formulas: src/ir/ops/Internal.cpp;
// design: docs/codegen-design.md, "Integer kernels"): 8-bit activations x 8-bit weights
// summed in int32, then v = fma(float(acc), scale[k], bias[k]) (+ residual), the fused
// activation, and either the float result or saturate(rint(v * yInverseScale) + yZeroPoint);
// or, in the direct form, min(max(rint(fma(float(acc), requantScale[k], requantOffset[k])),
// yMin), yMax). Three kernels: dense/grouped (leip_k_qconv2d), depthwise
// (leip_k_qconv_depthwise) and fully connected (leip_k_qgemm).
//
// Output positions are the vector lanes and the weights are broadcast: a task packs the
// input rows its output rows need into "channel quads" (4 consecutive input channels of a
// position in one 32-bit word, the operand of VNNI's vpdpbusd), one plane per stride phase,
// in flat padded coordinates (position q = row * Wph + column, padding filled with the zero
// point), so every filter tap of every position is one load at a constant offset: no
// im2col, no bounds checks, any stride and dilation. Columns past the output width are
// computed and dropped. Each register tile holds MK output channels x NV vectors of L
// positions; its int32 sums go to a small buffer from which the epilogue writes whole
// output rows (contiguous in NCHW, the residual read the same way).
#include "Kernels.h"
#include "MicroKernel.h"

using namespace leip::kernels;

namespace {

/// How the 4-way u8 x s8 dot product of one 32-bit lane is computed (chosen by the compiler
/// from the target's features).
enum DotKind : int32_t {
  kDotGeneric = 0, // plain integer arithmetic (vectorized by LLVM): any target
  kDotVnni = 1,    // vpdpbusd: AVX-512 VNNI (L = 16) or AVX-VNNI (L = 8)
  kDotAvx2 = 2,    // vpmaddwd on 16-bit halves (exact; vpmaddubsw would saturate)
  kDotSdot = 3,    // aarch64 sdot (+dotprod): signed x signed, so the packed input is signed
};

/// Whether a dot kind multiplies signed input bytes (the packer flips the input to match).
constexpr bool packsSigned(int dot) { return dot == kDotSdot; }

/// Limits the compiler respects when it picks this kernel (lower/QConv.cpp).
constexpr int64_t kPackBytes = 128 * 1024;
constexpr int64_t kAccPositions = 1024; // flat positions per task (times MK int32 sums)
constexpr int64_t kMaxRowBytes = 4096;  // input and output row length
constexpr int64_t kMaxStride = 8;

#if defined(__x86_64__)
typedef int I32x16Gcc __attribute__((vector_size(64)));
typedef int I32x8Gcc __attribute__((vector_size(32)));
typedef short I16x16Gcc __attribute__((vector_size(32)));

// Not inlined when the bitcode is built (the target attributes differ, which is also why
// vectors travel by pointer); at compile time every function gets the real target's
// features and O3 inlines them. The compiler only selects a kind the target has, so the
// others are dropped before instruction selection.
/// acc += per lane, the sum of the 4 unsigned bytes of a times the 4 signed bytes of b.
__attribute__((target("avx512f,avx512vnni"))) inline void dotVnni512(I32x16Gcc *acc, const I32x16Gcc *a,
                                                                     const I32x16Gcc *b) {
  *acc = __builtin_ia32_vpdpbusd512(*acc, *a, *b);
}
__attribute__((target("avxvnni"))) inline void dotVnni256(I32x8Gcc *acc, const I32x8Gcc *a, const I32x8Gcc *b) {
  *acc = __builtin_ia32_vpdpbusd256(*acc, *a, *b);
}
/// Even bytes (0, 2) and odd bytes (1, 3) of every lane, zero-extended to 16 bits, times
/// the weights packed as 16-bit pairs (w0, w2) and (w1, w3).
__attribute__((target("avx2"))) inline void dotAvx2(I32x8Gcc *acc, const I32x8Gcc *x, int32_t wEven, int32_t wOdd) {
  typedef unsigned U32x8Gcc __attribute__((vector_size(32)));
  const I32x8Gcc mask = {0x00FF00FF, 0x00FF00FF, 0x00FF00FF, 0x00FF00FF,
                         0x00FF00FF, 0x00FF00FF, 0x00FF00FF, 0x00FF00FF};
  const I32x8Gcc even = *x & mask, odd = (I32x8Gcc)((U32x8Gcc)*x >> 8) & mask;
  const I32x8Gcc we = {wEven, wEven, wEven, wEven, wEven, wEven, wEven, wEven};
  const I32x8Gcc wo = {wOdd, wOdd, wOdd, wOdd, wOdd, wOdd, wOdd, wOdd};
  *acc += __builtin_ia32_pmaddwd256((I16x16Gcc)even, (I16x16Gcc)we) +
          __builtin_ia32_pmaddwd256((I16x16Gcc)odd, (I16x16Gcc)wo);
}
#endif

#if defined(__aarch64__)
typedef int I32x4Gcc __attribute__((vector_size(16)));
/// acc += per lane, the sum of the 4 signed bytes of a times the 4 signed bytes of b. Inline
/// assembly: the compiler selects it only for targets with +dotprod.
inline void dotSdot(I32x4Gcc *acc, const I32x4Gcc *a, const I32x4Gcc *b) {
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(*acc) : "w"(*a), "w"(*b));
}
#endif

/// Words of packed weights per (tap, channel quad, output channel): 2 for kDotAvx2.
constexpr int wordsPerQuad(int dot) { return dot == kDotAvx2 ? 2 : 1; }

template <int L> struct IntVector {
  typedef int32_t Type __attribute__((ext_vector_type(L)));
};

/// acc += per lane, the 4-way dot product of the bytes of a (unsigned; signed for kDotSdot)
/// with the signed bytes of b: VNNI, sdot, or plain arithmetic for any other kind.
template <int L, int DOT>
__attribute__((always_inline)) inline void dot4Vectors(typename IntVector<L>::Type &acc,
                                                       const typename IntVector<L>::Type &a,
                                                       const typename IntVector<L>::Type &b) {
#if defined(__x86_64__)
  if constexpr (DOT == kDotVnni && L == 16) {
    dotVnni512((I32x16Gcc *)&acc, (const I32x16Gcc *)&a, (const I32x16Gcc *)&b);
    return;
  } else if constexpr (DOT == kDotVnni && L == 8) {
    dotVnni256((I32x8Gcc *)&acc, (const I32x8Gcc *)&a, (const I32x8Gcc *)&b);
    return;
  }
#endif
#if defined(__aarch64__)
  if constexpr (DOT == kDotSdot && L == 4) {
    dotSdot((I32x4Gcc *)&acc, (const I32x4Gcc *)&a, (const I32x4Gcc *)&b);
    return;
  }
#endif
  acc += (a & 0xFF) * ((b << 24) >> 24) + ((a >> 8) & 0xFF) * ((b << 16) >> 24) +
         ((a >> 16) & 0xFF) * ((b << 8) >> 24) + ((a >> 24) & 0xFF) * (b >> 24);
}

/// acc += the 4-way dot products of the input quads in x with the weight quad `w`, one word
/// broadcast to every lane (kDotAvx2: the two pair words w[0], w[1]).
template <int L, int DOT>
__attribute__((always_inline)) inline void dot4(typename IntVector<L>::Type &acc, const typename IntVector<L>::Type &x,
                                                const int32_t *__restrict w) {
#if defined(__x86_64__)
  if constexpr (DOT == kDotAvx2 && L == 8) {
    dotAvx2((I32x8Gcc *)&acc, (const I32x8Gcc *)&x, w[0], w[1]);
    return;
  }
#endif
  const typename IntVector<L>::Type wv = w[0];
  dot4Vectors<L, DOT>(acc, x, wv);
}

/// How input bytes are packed: unsigned, or signed for kDotSdot; input of the other
/// signedness is flipped by 0x80 (x + 128 or x - 128), and its zero point moves with it.
struct PackedInput {
  uint32_t flip; // xor for 4 bytes
  uint8_t zero;  // the zero point's packed byte
};
inline PackedInput packedInput(int32_t xSigned, int32_t xZeroPoint, int32_t dotKind) {
  const bool flips = (xSigned != 0) != packsSigned(dotKind);
  const int32_t zero = xZeroPoint + (flips ? (xSigned ? 128 : -128) : 0);
  return {flips ? 0x80808080u : 0u, (uint8_t)zero};
}

/// One convolution as the kernel sees it (all values constant after inlining).
struct QConvShape {
  int64_t N, C, H, W, K, group, R, S, OH, OW;
  int64_t strideH, strideW, dilH, dilW, padT, padL;
  int64_t rowsPerTask, channelsPerTask; // a task: rowsPerTask output rows x channelsPerTask channels
  // Derived.
  int64_t Cg, Kg, C4, Wph, maxRowOff, maxColOff;
};

/// Epilogue parameters: int32 sums -> output.
struct QConvOutput {
  const int32_t *corr; // per channel: -zeroPoint * sum of its weights (the zero point in the packed domain)
  const float *scales, *biases;
  const float *residual; // null when absent
  void *y;
  int32_t yType; // 0 f32, 1 u8, 2 i8
  float yInverseScale, yZeroPoint;
  int32_t activation;
  float alpha, beta;
  // Direct requantization (null requantScales: the general form above).
  const float *requantScales, *requantOffsets;
  float yMin, yMax;
};

/// The phase columns [lo, hi) whose input columns j * strideW + pw - padL lie inside
/// [0, W) for every phase pw (the rest touch the padding).
struct ColumnRange {
  int64_t lo, hi;
};
__attribute__((always_inline)) inline ColumnRange insideColumns(const QConvShape &s) {
  const int64_t sw = s.strideW;
  int64_t lo = (s.padL + sw - 1) / sw;
  int64_t hi = s.W - sw + s.padL < 0 ? 0 : (s.W - sw + s.padL) / sw + 1;
  lo = lo < s.Wph ? lo : s.Wph;
  hi = hi < s.Wph ? hi : s.Wph;
  return {lo, hi > lo ? hi : lo};
}

/// Column j of every phase, checked against the image: load(column) or `pad`.
template <typename T, typename Load>
__attribute__((always_inline)) inline void packEdgeColumn(T *const *out, const QConvShape &s, int64_t j, T pad,
                                                          Load load) {
  for (int64_t pw = 0; pw < s.strideW; ++pw) {
    const int64_t col = j * s.strideW + pw - s.padL;
    out[pw][j] = col >= 0 && col < s.W ? load(col) : pad;
  }
}

/// One input row into its strideW column phases: out[pw][j] = load(j * strideW + pw - padL)
/// for columns inside [0, W), `pad` outside, j < Wph. Stride 1 and 2 run as plain
/// contiguous loops (stride 2 reads each pair of columns once, for both phases) so that
/// they vectorize.
template <typename T, typename Load>
__attribute__((always_inline)) inline void packColumnPhases(T *const *out, const QConvShape &s, T pad, Load load) {
  const int64_t sw = s.strideW;
  const auto [jlo, jhi] = insideColumns(s);
  for (int64_t j = 0; j < jlo; ++j) packEdgeColumn(out, s, j, pad, load);
  if (sw == 1) {
    T *__restrict o0 = out[0];
    for (int64_t j = jlo; j < jhi; ++j) o0[j] = load(j - s.padL);
  } else if (sw == 2) {
    T *__restrict o0 = out[0], *__restrict o1 = out[1];
    for (int64_t j = jlo; j < jhi; ++j) {
      o0[j] = load(2 * j - s.padL);
      o1[j] = load(2 * j + 1 - s.padL);
    }
  } else {
    for (int64_t pw = 0; pw < sw; ++pw)
      for (int64_t j = jlo; j < jhi; ++j) out[pw][j] = load(j * sw + pw - s.padL);
  }
  for (int64_t j = jhi; j < s.Wph; ++j) packEdgeColumn(out, s, j, pad, load);
}

/// packColumnPhases for a row of bytes (depthwise), with stride 1 and 2 in explicit 32-byte
/// vectors (stride 2 splits 64 bytes into even and odd ones); the last vector overlaps the
/// one before rather than leaving a scalar remainder.
__attribute__((always_inline)) inline void packByteRowPhases(uint8_t *const *out, const QConvShape &s,
                                                             const uint8_t *__restrict src, uint8_t flip,
                                                             uint8_t zero) {
  constexpr int64_t VL = 32;
  typedef uint8_t B __attribute__((ext_vector_type(VL), aligned(1)));
  typedef uint16_t H __attribute__((ext_vector_type(VL), aligned(1)));
  const int64_t sw = s.strideW;
  const auto [jlo, jhi] = insideColumns(s);
  auto load = [&](int64_t col) { return (uint8_t)(src[col] ^ flip); };
  if (sw > 2 || jhi - jlo < VL) {
    packColumnPhases<uint8_t>(out, s, zero, load);
    return;
  }
  for (int64_t j = 0; j < jlo; ++j) packEdgeColumn(out, s, j, zero, load);
  for (int64_t j0 = jlo; j0 < jhi; j0 += VL) {
    const int64_t j = j0 + VL <= jhi ? j0 : jhi - VL;
    if (sw == 1) {
      *(B *)(out[0] + j) = *(const B *)(src + j - s.padL) ^ flip;
    } else {
      const H lo = *(const H *)(src + 2 * j - s.padL);
      *(B *)(out[0] + j) = __builtin_convertvector(lo, B) ^ flip;
      *(B *)(out[1] + j) = __builtin_convertvector(lo >> 8, B) ^ flip;
    }
  }
  for (int64_t j = jhi; j < s.Wph; ++j) packEdgeColumn(out, s, j, zero, load);
}

/// Packs rows [oh0, oh0 + rows) of group g, image n: P[phase][c4][RH * Wph + slack] words.
/// Quads hold input channels 4 c4 .. 4 c4 + 3 of the group, as unsigned bytes (signed
/// input is flipped by 0x80, the zero point with it); padding and missing channels hold
/// the zero point.
__attribute__((always_inline)) inline void packRows(const uint8_t *__restrict x, uint32_t flip, uint8_t zero,
                                                    const QConvShape &s, int64_t n, int64_t g, int64_t oh0,
                                                    int64_t rows, int64_t planeWords, int64_t slack,
                                                    uint32_t *__restrict pack) {
  const int64_t RH = rows + s.maxRowOff;
  uint8_t padRow[kMaxRowBytes];
  for (int64_t i = 0; i < s.W; ++i) padRow[i] = zero ^ (uint8_t)flip; // flipped back below
  const uint32_t zeroWord = zero * 0x01010101u;
  auto quadRowByRow = [&](int64_t ph, int64_t c4) {
    for (int64_t i = 0; i < RH; ++i) {
      const int64_t ih = (oh0 + i) * s.strideH + ph - s.padT;
      const uint8_t *src[4];
      for (int t = 0; t < 4; ++t) {
        const int64_t c = c4 * 4 + t;
        src[t] = (c < s.Cg && ih >= 0 && ih < s.H) ? x + ((n * s.C + g * s.Cg + c) * s.H + ih) * s.W : padRow;
      }
      uint32_t *out[kMaxStride];
      for (int64_t pw = 0; pw < s.strideW; ++pw)
        out[pw] = pack + ((ph * s.strideW + pw) * s.C4 + c4) * planeWords + i * s.Wph;
      const uint8_t *__restrict s0 = src[0], *__restrict s1 = src[1], *__restrict s2 = src[2],
                                *__restrict s3 = src[3];
      packColumnPhases<uint32_t>(out, s, zeroWord, [&](int64_t col) {
        return ((uint32_t)s0[col] | (uint32_t)s1[col] << 8 | (uint32_t)s2[col] << 16 | (uint32_t)s3[col] << 24) ^
               flip;
      });
    }
  };
  if (s.strideH == 1 && s.strideW == 1 && s.padL == 0 && s.Wph == s.W) {
    // Rows as wide as the input (a 1x1 convolution, say): the rows inside the image are
    // one contiguous run per channel, so a full quad packs in one loop however narrow each
    // row is.
    int64_t iLo = s.padT - oh0, iHi = s.H + s.padT - oh0;
    iLo = iLo < 0 ? 0 : iLo > RH ? RH : iLo;
    iHi = iHi < iLo ? iLo : iHi > RH ? RH : iHi;
    const int64_t ih0 = oh0 + iLo - s.padT;
    for (int64_t c4 = 0; c4 < s.C4; ++c4) {
      if (c4 * 4 + 3 >= s.Cg) {
        quadRowByRow(0, c4); // the last quad, with missing channels
        continue;
      }
      uint32_t *__restrict plane = pack + c4 * planeWords;
      const uint8_t *first = x + ((n * s.C + g * s.Cg + c4 * 4) * s.H + ih0) * s.W;
      const int64_t channel = s.H * s.W;
      const uint8_t *__restrict s0 = first, *__restrict s1 = first + channel, *__restrict s2 = first + 2 * channel,
                                *__restrict s3 = first + 3 * channel;
      for (int64_t q = 0; q < iLo * s.W; ++q) plane[q] = zeroWord;
      uint32_t *__restrict out = plane + iLo * s.W;
      for (int64_t q = 0; q < (iHi - iLo) * s.W; ++q)
        out[q] = ((uint32_t)s0[q] | (uint32_t)s1[q] << 8 | (uint32_t)s2[q] << 16 | (uint32_t)s3[q] << 24) ^ flip;
      for (int64_t q = iHi * s.W; q < RH * s.W; ++q) plane[q] = zeroWord;
    }
  } else {
    for (int64_t ph = 0; ph < s.strideH; ++ph)
      for (int64_t c4 = 0; c4 < s.C4; ++c4) quadRowByRow(ph, c4);
  }
  // Past each plane's rows, and the slack after the last plane: only the garbage columns of
  // the last tiles read them (a tile may run into the next plane), but keep them defined.
  const int64_t planes = s.strideH * s.strideW * s.C4;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t q = RH * s.Wph; q < planeWords; ++q) pack[p * planeWords + q] = zeroWord;
  for (int64_t q = 0; q < slack; ++q) pack[planes * planeWords + q] = zeroWord;
}

/// MK channels starting at k0 (of the group) x NV vectors of L flat positions from q0.
template <int L, int MK, int NV, int DOT>
__attribute__((always_inline)) inline void tile(const uint32_t *__restrict pack, const int32_t *__restrict wp,
                                                const QConvShape &s, int64_t planeWords, int64_t q0,
                                                int32_t *__restrict acc, int64_t accStride) {
  typedef typename IntVector<L>::Type V;
  typedef int32_t VU __attribute__((ext_vector_type(L), aligned(4)));
  constexpr int WPQ = wordsPerQuad(DOT);
  V sum[MK][NV];
  _Pragma("clang loop unroll(full)") for (int m = 0; m < MK; ++m)
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) sum[m][v] = 0;
  const int32_t *__restrict wq = wp;
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t c = 0; c < s.S; ++c) {
      const int64_t phase = ((r * s.dilH) % s.strideH) * s.strideW + (c * s.dilW) % s.strideW;
      const int64_t offset = ((r * s.dilH) / s.strideH) * s.Wph + (c * s.dilW) / s.strideW;
      const uint32_t *__restrict xt = pack + phase * s.C4 * planeWords + offset + q0;
      for (int64_t c4 = 0; c4 < s.C4; ++c4, xt += planeWords, wq += MK * WPQ) {
        V xv[NV];
        _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) xv[v] = *(const VU *)(xt + v * L);
        _Pragma("clang loop unroll(full)") for (int m = 0; m < MK; ++m)
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v)
                dot4<L, DOT>(sum[m][v], xv[v], wq + m * WPQ);
      }
    }
  _Pragma("clang loop unroll(full)") for (int m = 0; m < MK; ++m)
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) *(VU *)(acc + m * accStride + v * L) =
          sum[m][v];
}

/// Writes channel k (of the whole output) for the task's rows from its flat sums. The
/// arithmetic runs over the flat positions, garbage columns included, so that its loops
/// have whole vectors even for rows narrower than a vector; then each row's valid columns
/// are copied out.
__attribute__((always_inline)) inline void epilogue(const int32_t *__restrict acc, const QConvShape &s,
                                                    const QConvOutput &o, int64_t n, int64_t k, int64_t oh0,
                                                    int64_t rows) {
  const int32_t corr = o.corr[k];
  const float scale = o.scales[k], bias = o.biases[k];
  const int64_t flat = (rows * s.Wph + 15) & ~(int64_t)15; // the sums buffer holds whole tiles
  const int64_t plane = (n * s.K + k) * s.OH * s.OW + oh0 * s.OW;
  alignas(64) uint8_t bytes[kAccPositions];
  if (o.requantScales) {
    const float m = o.requantScales[k], c = o.requantOffsets[k];
    for (int64_t q = 0; q < flat; ++q) {
      float t = __builtin_rintf(__builtin_fmaf((float)(acc[q] + corr), m, c));
      t = t >= o.yMin ? t : o.yMin;
      t = t <= o.yMax ? t : o.yMax;
      bytes[q] = (uint8_t)(int32_t)t;
    }
    for (int64_t i = 0; i < rows; ++i) __builtin_memcpy((uint8_t *)o.y + plane + i * s.OW, bytes + i * s.Wph, s.OW);
    return;
  }
  alignas(64) float v[kAccPositions];
  for (int64_t q = 0; q < flat; ++q) v[q] = __builtin_fmaf((float)(acc[q] + corr), scale, bias);
  if (o.residual)
    for (int64_t i = 0; i < rows; ++i) {
      const float *__restrict res = o.residual + plane + i * s.OW;
      float *__restrict vi = v + i * s.Wph;
      for (int64_t j = 0; j < s.OW; ++j) vi[j] += res[j];
    }
  activateFast(v, flat, o.activation, o.alpha, o.beta);
  if (o.yType == 0) {
    for (int64_t i = 0; i < rows; ++i) __builtin_memcpy((float *)o.y + plane + i * s.OW, v + i * s.Wph, s.OW * sizeof(float));
    return;
  }
  const float lo = o.yType == 2 ? -128.0f : 0.0f, hi = o.yType == 2 ? 127.0f : 255.0f;
  for (int64_t q = 0; q < flat; ++q) {
    float t = __builtin_rintf(v[q] * o.yInverseScale) + o.yZeroPoint;
    t = t >= lo ? t : lo; // NaN fails the comparison: lo
    t = t <= hi ? t : hi;
    // Both types through int32: the low byte is the same two's complement pattern.
    bytes[q] = (uint8_t)(int32_t)t;
  }
  for (int64_t i = 0; i < rows; ++i) __builtin_memcpy((uint8_t *)o.y + plane + i * s.OW, bytes + i * s.Wph, s.OW);
}

template <int L, int MK, int NV, int DOT>
__attribute__((always_inline)) inline void qconv(const uint8_t *x, uint32_t flip, uint8_t zero, const int32_t *wp,
                                                 QConvShape s, const QConvOutput &o, int64_t begin, int64_t end) {
  constexpr int64_t TILE = (int64_t)NV * L;
  constexpr int WPQ = wordsPerQuad(DOT);
  s.Cg = s.C / s.group;
  s.Kg = s.K / s.group;
  s.C4 = (s.Cg + 3) / 4;
  s.maxRowOff = ((s.R - 1) * s.dilH) / s.strideH;
  s.maxColOff = ((s.S - 1) * s.dilW) / s.strideW;
  s.Wph = s.OW + s.maxColOff;
  const int64_t rowBlocks = (s.OH + s.rowsPerTask - 1) / s.rowsPerTask;
  const int64_t channelBlocks = (s.Kg + s.channelsPerTask - 1) / s.channelsPerTask;
  const int64_t RH = s.rowsPerTask + s.maxRowOff;
  const int64_t planeWords = (RH * s.Wph + 15) & ~(int64_t)15;
  const int64_t slack = TILE + s.maxColOff;
  const int64_t tiles = (s.rowsPerTask * s.Wph + TILE - 1) / TILE;
  const int64_t kBlocksPerGroup = (s.Kg + MK - 1) / MK;
  const int64_t taps = s.R * s.S;
  alignas(64) uint32_t pack[kPackBytes / 4];
  alignas(64) int32_t acc[MK * kAccPositions];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t cb = task % channelBlocks, rb = task / channelBlocks % rowBlocks;
    const int64_t g = task / (channelBlocks * rowBlocks) % s.group, n = task / (channelBlocks * rowBlocks * s.group);
    const int64_t oh0 = rb * s.rowsPerTask;
    const int64_t rows = s.OH - oh0 < s.rowsPerTask ? s.OH - oh0 : s.rowsPerTask;
    // A task after the first of the same rows repacks them: cheap next to its MACs.
    packRows(x, flip, zero, s, n, g, oh0, rows, planeWords, slack, pack);
    const int64_t rowTiles = (rows * s.Wph + TILE - 1) / TILE;
    const int64_t kEnd = (cb + 1) * s.channelsPerTask < s.Kg ? (cb + 1) * s.channelsPerTask : s.Kg;
    for (int64_t k0 = cb * s.channelsPerTask; k0 < kEnd; k0 += MK) {
      const int32_t *wk = wp + (g * kBlocksPerGroup + k0 / MK) * taps * s.C4 * MK * WPQ;
      for (int64_t t = 0; t < rowTiles; ++t) tile<L, MK, NV, DOT>(pack, wk, s, planeWords, t * TILE, acc + t * TILE, tiles * TILE);
      for (int64_t m = 0; m < MK && k0 + m < kEnd; ++m)
        epilogue(acc + m * tiles * TILE, s, o, n, g * s.Kg + k0 + m, oh0, rows);
    }
  }
}

/// Depthwise (one input channel per group, one output channel per group): a task packs
/// rows of one channel plane (bytes, one plane per stride phase, flat padded coordinates as
/// above), then makes "tap words" of them: for each row phase and group of 4 horizontal
/// taps, the 4 bytes those taps read for a position, so that one 4-way dot product (VNNI's
/// vpdpbusd) applies 4 taps of a kernel row. A word plane serves every kernel row of its
/// phase (at a row offset). w: [K][R][S / 4][words per quad] packed like the dense weights.
template <int L, int NV, int DOT>
__attribute__((always_inline)) inline void qconvDepthwise(const uint8_t *x, uint32_t flip, uint8_t zero,
                                                          const int32_t *w, QConvShape s, const QConvOutput &o,
                                                          int64_t begin, int64_t end) {
  typedef typename IntVector<L>::Type V;
  typedef int32_t VU __attribute__((ext_vector_type(L), aligned(4)));
  constexpr int64_t TILE = (int64_t)NV * L;
  constexpr int WPQ = wordsPerQuad(DOT);
  s.maxRowOff = ((s.R - 1) * s.dilH) / s.strideH;
  s.maxColOff = ((s.S - 1) * s.dilW) / s.strideW;
  s.Wph = s.OW + s.maxColOff;
  const int64_t rowBlocks = (s.OH + s.rowsPerTask - 1) / s.rowsPerTask;
  const int64_t RH = s.rowsPerTask + s.maxRowOff;
  const int64_t planeBytes = (RH * s.Wph + s.maxColOff + 63) & ~(int64_t)63;
  const int64_t groups = (s.S + 3) / 4;
  const int64_t wordPlane = (RH * s.Wph + TILE + 15) & ~(int64_t)15;
  const uint8_t flipByte = (uint8_t)flip;
  alignas(64) uint8_t pack[kPackBytes];
  alignas(64) uint32_t words[kPackBytes / 4];
  alignas(64) int32_t acc[kAccPositions];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t rb = task % rowBlocks, k = task / rowBlocks % s.K, n = task / (rowBlocks * s.K);
    const int64_t oh0 = rb * s.rowsPerTask;
    const int64_t rows = s.OH - oh0 < s.rowsPerTask ? s.OH - oh0 : s.rowsPerTask;
    const int64_t flat = (rows + s.maxRowOff) * s.Wph;
    const uint8_t *plane = x + (n * s.C + k) * s.H * s.W;
    for (int64_t ph = 0; ph < s.strideH; ++ph) {
      for (int64_t i = 0; i < rows + s.maxRowOff; ++i) {
        const int64_t ih = (oh0 + i) * s.strideH + ph - s.padT;
        uint8_t *out[kMaxStride];
        for (int64_t pw = 0; pw < s.strideW; ++pw) out[pw] = pack + (ph * s.strideW + pw) * planeBytes + i * s.Wph;
        if (ih < 0 || ih >= s.H) {
          for (int64_t pw = 0; pw < s.strideW; ++pw) __builtin_memset(out[pw], zero, s.Wph);
          continue;
        }
        const uint8_t *__restrict src = plane + ih * s.W;
        packByteRowPhases(out, s, src, flipByte, zero);
      }
      for (int64_t pw = 0; pw < s.strideW; ++pw) __builtin_memset(pack + (ph * s.strideW + pw) * planeBytes + flat, zero, s.maxColOff);
      // Tap words of this row phase; taps past S read the zero point (their weight is 0).
      for (int64_t gq = 0; gq < groups; ++gq) {
        const uint8_t *tap[4];
        for (int t = 0; t < 4; ++t) {
          const int64_t c = gq * 4 + t < s.S ? gq * 4 + t : 0;
          tap[t] = pack + (ph * s.strideW + (c * s.dilW) % s.strideW) * planeBytes + (c * s.dilW) / s.strideW;
        }
        const uint8_t *__restrict t0 = tap[0], *__restrict t1 = tap[1], *__restrict t2 = tap[2],
                                  *__restrict t3 = tap[3];
        uint32_t *__restrict dst = words + (ph * groups + gq) * wordPlane;
        for (int64_t q = 0; q < flat; ++q)
          dst[q] = (uint32_t)t0[q] | (uint32_t)t1[q] << 8 | (uint32_t)t2[q] << 16 | (uint32_t)t3[q] << 24;
        for (int64_t q = flat; q < wordPlane; ++q) dst[q] = 0;
      }
    }
    const int32_t *__restrict wk = w + k * s.R * groups * WPQ;
    const int64_t rowTiles = (rows * s.Wph + TILE - 1) / TILE;
    for (int64_t t = 0; t < rowTiles; ++t) {
      V sum[NV];
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) sum[v] = 0;
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t gq = 0; gq < groups; ++gq) {
          const int64_t ph = (r * s.dilH) % s.strideH, offset = ((r * s.dilH) / s.strideH) * s.Wph;
          const uint32_t *__restrict xt = words + (ph * groups + gq) * wordPlane + offset + t * TILE;
          _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) {
            const V xv = *(const VU *)(xt + v * L);
            dot4<L, DOT>(sum[v], xv, wk + (r * groups + gq) * WPQ);
          }
        }
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) *(V *)(acc + t * TILE + v * L) = sum[v];
    }
    epilogue(acc, s, o, n, k, oh0, rows);
  }
}

/// A fully connected layer, y[n][j] = epilogue(sum_k x[n][k] w[j][k]): output channels in
/// lanes, the 4 bytes of a channel quad of x broadcast. w: [M / (4 L)][K / 4][4 L] words
/// (zeros past M and K). Tasks: (row n, block of 4 L channels).
template <int L, int DOT>
__attribute__((always_inline)) inline void qgemm(const uint8_t *x, uint32_t flip, uint8_t zero, const int32_t *w,
                                                 int64_t N, int64_t K, int64_t M, const QConvOutput &o, int64_t begin,
                                                 int64_t end) {
  typedef typename IntVector<L>::Type V;
  constexpr int NV = 4;
  const int64_t K4 = (K + 3) / 4, blocks = (M + NV * L - 1) / (NV * L);
  alignas(64) uint32_t quads[kPackBytes / 4];
  alignas(64) int32_t sums[NV * L];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t n = task / blocks, jb = task % blocks;
    const uint8_t *xn = x + n * K;
    for (int64_t q = 0; q < K4; ++q) {
      uint32_t word = zero * 0x01010101u;
      for (int t = 0; t < 4 && q * 4 + t < K; ++t)
        word = (word & ~(0xFFu << (8 * t))) | (uint32_t)(uint8_t)(xn[q * 4 + t] ^ (uint8_t)flip) << (8 * t);
      quads[q] = word;
    }
    V acc[NV];
    _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) acc[v] = 0;
    const V *__restrict wb = (const V *)(w + jb * K4 * NV * L);
    for (int64_t q = 0; q < K4; ++q, wb += NV) {
      const V a = (int32_t)quads[q];
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) dot4Vectors<L, DOT>(acc[v], a, wb[v]);
    }
    _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) *(V *)(sums + v * L) = acc[v];
    const int64_t j0 = jb * NV * L, count = M - j0 < NV * L ? M - j0 : NV * L;
    if (o.requantScales) {
      uint8_t bytes[NV * L];
      for (int64_t j = 0; j < NV * L; ++j) {
        const int64_t c = j0 + j < M ? j0 + j : M - 1;
        float t = __builtin_rintf(__builtin_fmaf((float)(sums[j] + o.corr[c]), o.requantScales[c], o.requantOffsets[c]));
        t = t >= o.yMin ? t : o.yMin;
        t = t <= o.yMax ? t : o.yMax;
        bytes[j] = (uint8_t)(int32_t)t;
      }
      __builtin_memcpy((uint8_t *)o.y + n * M + j0, bytes, count);
      continue;
    }
    float out[NV * L];
    for (int64_t j = 0; j < NV * L; ++j) {
      const int64_t c = j0 + j < M ? j0 + j : M - 1; // lanes past M compute a copy of the last channel
      out[j] = __builtin_fmaf((float)(sums[j] + o.corr[c]), o.scales[c], o.biases[c]);
      if (o.residual) out[j] += o.residual[n * M + c];
    }
    activateFast(out, NV * L, o.activation, o.alpha, o.beta);
    if (o.yType == 0) {
      __builtin_memcpy((float *)o.y + n * M + j0, out, count * sizeof(float));
      continue;
    }
    const float lo = o.yType == 2 ? -128.0f : 0.0f, hi = o.yType == 2 ? 127.0f : 255.0f;
    uint8_t bytes[NV * L];
    for (int64_t j = 0; j < NV * L; ++j) {
      float t = __builtin_rintf(out[j] * o.yInverseScale) + o.yZeroPoint;
      t = t >= lo ? t : lo;
      t = t <= hi ? t : hi;
      bytes[j] = (uint8_t)(int32_t)t;
    }
    __builtin_memcpy((uint8_t *)o.y + n * M + j0, bytes, count);
  }
}

} // namespace

/// Tasks: (image, group, block of rowsPerTask output rows, block of channelsPerTask
/// channels), channel blocks fastest. wp: weights packed by lower/QConv.cpp as
/// [group][K_g / MK][R][S][C_g / 4][MK][words per quad] (zeros past K_g and C_g).
extern "C" void leip_k_qconv2d(const void *x, int32_t xSigned, int32_t xZeroPoint, const int32_t *wp,
                               const int32_t *corr, const float *scales, const float *biases, const float *residual,
                               void *y, int32_t yType, float yInverseScale, int32_t yZeroPoint, const float *requantScales,
                               const float *requantOffsets, int32_t yMin, int32_t yMax, int64_t N, int64_t C,
                               int64_t H, int64_t W, int64_t K, int64_t group, int64_t R, int64_t S, int64_t OH,
                               int64_t OW, int64_t strideH, int64_t strideW, int64_t dilH, int64_t dilW, int64_t padT,
                               int64_t padL, int64_t rowsPerTask, int64_t channelsPerTask, int32_t dotKind,
                               int64_t lanes, int64_t mk, int64_t nv, int32_t activation, float alpha, float beta,
                               int64_t begin, int64_t end) {
  const QConvShape s{N, C, H, W, K, group, R, S, OH, OW, strideH, strideW, dilH, dilW, padT, padL, rowsPerTask,
                     channelsPerTask, 0, 0, 0, 0, 0, 0};
  const QConvOutput o{corr,       scales, biases, residual,       y,           yType,       yInverseScale,
                      (float)yZeroPoint, activation, alpha,  beta, requantScales, requantOffsets, (float)yMin,
                      (float)yMax};
  const PackedInput in = packedInput(xSigned, xZeroPoint, dotKind);
  const uint8_t *xb = (const uint8_t *)x;
#define LEIP_QCONV(dot, l, m, v)                                                                                       \
  if (dotKind == dot && lanes == l && mk == m && nv == v) return qconv<l, m, v, dot>(xb, in.flip, in.zero, wp, s, o, begin, end);
  LEIP_QCONV(kDotVnni, 16, 8, 3)
  LEIP_QCONV(kDotVnni, 16, 6, 4)
  LEIP_QCONV(kDotVnni, 8, 4, 2)
  LEIP_QCONV(kDotAvx2, 8, 4, 2)
  LEIP_QCONV(kDotSdot, 4, 8, 3)
  LEIP_QCONV(kDotSdot, 4, 6, 4)
  LEIP_QCONV(kDotGeneric, 16, 8, 3)
  LEIP_QCONV(kDotGeneric, 16, 6, 4)
  LEIP_QCONV(kDotGeneric, 8, 4, 2)
  LEIP_QCONV(kDotGeneric, 4, 4, 2)
#undef LEIP_QCONV
}

/// Depthwise convolutions (group = C = K). Tasks: (image, channel, block of rowsPerTask
/// output rows). w: tap-group words packed by lower/QConv.cpp.
extern "C" void leip_k_qconv_depthwise(const void *x, int32_t xSigned, int32_t xZeroPoint, const int32_t *w,
                                       const int32_t *corr, const float *scales, const float *biases,
                                       const float *residual, void *y, int32_t yType, float yInverseScale,
                                       int32_t yZeroPoint, const float *requantScales, const float *requantOffsets,
                                       int32_t yMin, int32_t yMax, int64_t N, int64_t C, int64_t H, int64_t W, int64_t R,
                                       int64_t S, int64_t OH, int64_t OW, int64_t strideH, int64_t strideW,
                                       int64_t dilH, int64_t dilW, int64_t padT, int64_t padL, int64_t rowsPerTask,
                                       int32_t dotKind, int64_t lanes, int32_t activation, float alpha, float beta,
                                       int64_t begin, int64_t end) {
  const QConvShape s{N, C, H, W, C, C, R, S, OH, OW, strideH, strideW, dilH, dilW, padT, padL, rowsPerTask,
                     1, 1, 1, 1, 0, 0, 0};
  const QConvOutput o{corr,       scales, biases, residual,       y,           yType,       yInverseScale,
                      (float)yZeroPoint, activation, alpha,  beta, requantScales, requantOffsets, (float)yMin,
                      (float)yMax};
  const PackedInput in = packedInput(xSigned, xZeroPoint, dotKind);
  const uint8_t *xb = (const uint8_t *)x;
#define LEIP_DEPTHWISE(dot, l)                                                                                         \
  if (dotKind == dot && lanes == l) return qconvDepthwise<l, 4, dot>(xb, in.flip, in.zero, w, s, o, begin, end);
  LEIP_DEPTHWISE(kDotVnni, 16)
  LEIP_DEPTHWISE(kDotVnni, 8)
  LEIP_DEPTHWISE(kDotAvx2, 8)
  LEIP_DEPTHWISE(kDotSdot, 4)
  LEIP_DEPTHWISE(kDotGeneric, 16)
  LEIP_DEPTHWISE(kDotGeneric, 8)
  LEIP_DEPTHWISE(kDotGeneric, 4)
#undef LEIP_DEPTHWISE
}

/// A 1x1 convolution of 1x1 images, i.e. a fully connected layer ([N, K] x [M, K]^T):
/// tasks (row, block of 4 * lanes output channels); w packed by lower/QConv.cpp.
extern "C" void leip_k_qgemm(const void *x, int32_t xSigned, int32_t xZeroPoint, const int32_t *w,
                             const int32_t *corr, const float *scales, const float *biases, const float *residual,
                             void *y, int32_t yType, float yInverseScale, int32_t yZeroPoint,
                             const float *requantScales, const float *requantOffsets, int32_t yMin, int32_t yMax,
                             int64_t N, int64_t K,
                             int64_t M, int32_t dotKind, int64_t lanes, int32_t activation, float alpha, float beta,
                             int64_t begin, int64_t end) {
  const QConvOutput o{corr,       scales, biases, residual,       y,           yType,       yInverseScale,
                      (float)yZeroPoint, activation, alpha,  beta, requantScales, requantOffsets, (float)yMin,
                      (float)yMax};
  const PackedInput in = packedInput(xSigned, xZeroPoint, dotKind);
  const uint8_t *xb = (const uint8_t *)x;
  if (dotKind == kDotVnni && lanes == 16) return qgemm<16, kDotVnni>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotVnni && lanes == 8) return qgemm<8, kDotVnni>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotSdot && lanes == 4) return qgemm<4, kDotSdot>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (lanes == 16) return qgemm<16, kDotGeneric>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (lanes == 8) return qgemm<8, kDotGeneric>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  return qgemm<4, kDotGeneric>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
}
