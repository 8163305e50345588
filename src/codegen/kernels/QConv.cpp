// Integer convolutions of leip.QConv (the op and its exact formulas: src/ir/ops/Internal.cpp;
// design: docs/codegen-design.md, "Integer kernels"): 8-bit activations x 8-bit weights
// summed in int32, then v = fma(float(acc), scale[k], bias[k]) (+ residual), the fused
// activation, and either the float result or saturate(rint(v * yInverseScale) + yZeroPoint);
// or, in the direct form, min(max(rint(fma(float(acc), requantScale[k], requantOffset[k])),
// yMin), yMax). Three entry points: dense/grouped (leip_k_qconv2d), depthwise
// (leip_k_qconv_depthwise: with channels in the vector lanes, qconvDepthwiseLanes, or one
// channel plane per task, qconvDepthwise, for rows too wide for the other) and fully
// connected (leip_k_qgemm).
//
// Dense: output positions are the vector lanes and the weights are broadcast: a task packs the
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

// The channel-lane depthwise kernel's helpers pass and return vectors by value. They are
// inlined (always_inline, or lambdas of one kernel), and every function of the bitcode gets
// the same target features at compile time, so no call crosses the vector-ABI difference
// that -Wpsabi warns about for 256- and 512-bit vectors.
#pragma clang diagnostic ignored "-Wpsabi"
// Its loops over kernel rows and tap groups ask to be unrolled fully: they are once the
// shapes are constants (at compile time); at bitcode time their counts are unknown.
#pragma clang diagnostic ignored "-Wpass-failed"

namespace {

/// How the 4-way u8 x s8 dot product of one 32-bit lane is computed (chosen by the compiler
/// from the target's features).
enum DotKind : int32_t {
  kDotGeneric = 0, // plain integer arithmetic (vectorized by LLVM): any target
  kDotVnni = 1,    // vpdpbusd: AVX-512 VNNI (L = 16) or AVX-VNNI (L = 8)
  kDotAvx2 = 2,    // vpmaddwd on 16-bit halves (exact; vpmaddubsw would saturate)
  kDotSdot = 3,    // aarch64 sdot (+dotprod): signed x signed, so the packed input is signed
  kDotAvx2Bytes = 4, // vpmaddubsw, for input bytes the compiler knows lie in 0..127: exact
  kDotAvx2Signs = 5, // vpsignb + vpmaddubsw on signed input, for weights without -128: exact
};

/// Whether a dot kind multiplies signed input bytes (the packer flips the input to match).
constexpr bool packsSigned(int dot) { return dot == kDotSdot || dot == kDotAvx2Signs; }
/// Whether a dot kind takes the input bytes as they are stored, whatever their type (the
/// compiler chose it because they lie in 0..127, read signed or unsigned alike).
constexpr bool packsAsStored(int dot) { return dot == kDotAvx2Bytes; }

/// Whether a dot kind implies AVX2 and FMA (the compiler picks the x86 kinds only for
/// targets with both), so the epilogues may use their instructions.
constexpr bool impliesAvx2Fma(int dot) {
  return dot == kDotVnni || dot == kDotAvx2 || dot == kDotAvx2Bytes || dot == kDotAvx2Signs;
}

/// Limits the compiler respects when it picks this kernel (lower/QConv.cpp).
constexpr int64_t kPackBytes = 128 * 1024;
constexpr int64_t kAccPositions = 1024; // flat positions per task (times MK int32 sums)
constexpr int64_t kMaxRowBytes = 4096;  // input and output row length
constexpr int64_t kMaxStride = 8;
constexpr int64_t kMaxTaps = 1024; // R x S of the dense kernel (its table of tap offsets)

#if defined(__x86_64__)
typedef int I32x16Gcc __attribute__((vector_size(64)));
typedef int I32x8Gcc __attribute__((vector_size(32)));
typedef short I16x16Gcc __attribute__((vector_size(32)));
typedef float F32x16Gcc __attribute__((vector_size(64)));

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
/// the weight quad's bytes sign-extended to 16-bit pairs (w0, w2) and (w1, w3): vpmaddwd is
/// exact where vpmaddubsw would saturate. The weights stay 8-bit in the library (a shift
/// pair per quad, shared by the tile's positions, unpacks them).
__attribute__((target("avx2"))) inline void dotAvx2Pairs(I32x8Gcc *acc, const I32x8Gcc *x, const I32x8Gcc *w) {
  typedef unsigned U32x8Gcc __attribute__((vector_size(32)));
  const I32x8Gcc mask = {0x00FF00FF, 0x00FF00FF, 0x00FF00FF, 0x00FF00FF,
                         0x00FF00FF, 0x00FF00FF, 0x00FF00FF, 0x00FF00FF};
  const I32x8Gcc even = *x & mask, odd = (I32x8Gcc)((U32x8Gcc)*x >> 8) & mask;
  const I16x16Gcc w16 = (I16x16Gcc)*w;
  const I16x16Gcc we = (I16x16Gcc)(w16 << 8) >> 8, wo = w16 >> 8;
  *acc += __builtin_ia32_pmaddwd256((I16x16Gcc)even, we) + __builtin_ia32_pmaddwd256((I16x16Gcc)odd, wo);
}
/// The same for unsigned bytes of x in 0..127: vpmaddubsw's pair sums, at most
/// 2 * 127 * 128 in magnitude, cannot saturate, and vpmaddwd with ones widens them to int32.
/// Three instructions per 32 products against the four of dotAvx2Pairs plus its unpacking
/// (about twice the throughput on Zen 3).
__attribute__((target("avx2"))) inline void dotAvx2Bytes(I32x8Gcc *acc, const I32x8Gcc *x, const I32x8Gcc *w) {
  const I16x16Gcc ones = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const I16x16Gcc pairs = __builtin_ia32_pmaddubsw256((__attribute__((vector_size(32))) char)*x,
                                                     (__attribute__((vector_size(32))) char)*w);
  *acc += __builtin_ia32_pmaddwd256(pairs, ones);
}
/// Signed bytes of x times signed bytes of w, none of them -128: vpmaddubsw's unsigned
/// operand is |x| (vpsignb x by itself; |-128| reads as the byte 128) and its signed one w
/// with x's signs (vpsignb w by x), so each product is x * w and a pair sums to at most
/// 2 * 128 * 127 in magnitude: no saturation. One vpsignb per vector more than dotAvx2Bytes
/// (the |x| one is shared by the tile's channels), against dotAvx2Pairs' second vpmaddwd
/// and unpacking: 10-15 % faster in a loop shaped like the dense tile on Zen 3.
__attribute__((target("avx2"))) inline void dotAvx2Signs(I32x8Gcc *acc, const I32x8Gcc *x, const I32x8Gcc *w) {
  typedef char I8x32 __attribute__((vector_size(32)));
  const I16x16Gcc ones = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const I8x32 magnitudes = __builtin_ia32_psignb256((I8x32)*x, (I8x32)*x);
  const I8x32 signedWeights = __builtin_ia32_psignb256((I8x32)*w, (I8x32)*x);
  *acc += __builtin_ia32_pmaddwd256(__builtin_ia32_pmaddubsw256(magnitudes, signedWeights), ones);
}
/// Direct requantization of 16 int32 sums (16 channels of a position) to int32 values in
/// [lo, hi]: rint(fma(float(a), mul, add)) clamped, computed as the clamp of the fma then
/// vcvtps2dq, which rounds in the current mode as rintf does (the bounds are integers, so
/// clamping before or after rounding gives the same value).
__attribute__((target("avx512f"))) inline void requant512(I32x16Gcc *r, const I32x16Gcc *a, const F32x16Gcc *mul,
                                                          const F32x16Gcc *add, const F32x16Gcc *lo,
                                                          const F32x16Gcc *hi) {
  F32x16Gcc t = __builtin_convertvector(*a, F32x16Gcc);
  t = __builtin_ia32_vfmaddps512_mask(t, *mul, *add, (unsigned short)-1, 4);
  t = __builtin_ia32_maxps512(t, *lo, 4);
  t = __builtin_ia32_minps512(t, *hi, 4);
  *r = __builtin_ia32_cvtps2dq512_mask(t, (I32x16Gcc){}, (unsigned short)-1, 4);
}

typedef float F32x8Gcc __attribute__((vector_size(32)));
typedef char I8x32Gcc __attribute__((vector_size(32)));

/// Four vectors of 8 int32 values, each already in [-128, 255], as 32 bytes in their order:
/// two saturating packs (which keep every value) and a dword permutation that undoes their
/// interleaving of the 128-bit lanes. Signed bytes when the values may be negative.
__attribute__((target("avx2"))) inline void packBytes32(uint8_t *y, const I32x8Gcc *r, bool signedBytes) {
  const I16x16Gcc ab = __builtin_ia32_packssdw256(r[0], r[1]), cd = __builtin_ia32_packssdw256(r[2], r[3]);
  const I8x32Gcc bytes = signedBytes ? __builtin_ia32_packsswb256(ab, cd) : (I8x32Gcc)__builtin_ia32_packuswb256(ab, cd);
  const I32x8Gcc ordered = __builtin_ia32_permvarsi256((I32x8Gcc)bytes, (I32x8Gcc){0, 4, 1, 5, 2, 6, 3, 7});
  __builtin_memcpy(y, &ordered, 32);
}

/// Direct requantization of 32 int32 sums a[0..3] into bytes, as requant512: the clamp of
/// fma(float(a), mul, add) to [lo, hi] (maxps keeps lo for NaN, as t >= lo ? t : lo does),
/// then vcvtps2dq's rounding in the current mode, which is rintf's.
__attribute__((target("avx2,fma"))) inline void requant32(uint8_t *y, const I32x8Gcc *a, const F32x8Gcc *mul,
                                                          const F32x8Gcc *add, const F32x8Gcc *lo,
                                                          const F32x8Gcc *hi, bool signedBytes) {
  I32x8Gcc r[4];
  _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) {
    F32x8Gcc t = __builtin_ia32_vfmaddps256(__builtin_convertvector(a[j], F32x8Gcc), *mul, *add);
    t = __builtin_ia32_minps256(__builtin_ia32_maxps256(t, *lo), *hi);
    r[j] = __builtin_ia32_cvtps2dq256(t);
  }
  packBytes32(y, r, signedBytes);
}

/// The general form's last step for 32 floats v[0..3]: clamp(rint(v * inverseScale) +
/// zeroPoint, lo, hi) as bytes (roundps in the current mode is rintf; maxps keeps lo for
/// NaN, as t >= lo ? t : lo does).
__attribute__((target("avx2"))) inline void quantize32(uint8_t *y, const F32x8Gcc *v, const F32x8Gcc *inverseScale,
                                                       const F32x8Gcc *zeroPoint, const F32x8Gcc *lo,
                                                       const F32x8Gcc *hi, bool signedBytes) {
  I32x8Gcc r[4];
  _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) {
    F32x8Gcc t = __builtin_ia32_roundps256(v[j] * *inverseScale, 4) + *zeroPoint;
    t = __builtin_ia32_minps256(__builtin_ia32_maxps256(t, *lo), *hi);
    r[j] = __builtin_ia32_cvtps2dq256(t);
  }
  packBytes32(y, r, signedBytes);
}
#endif

/// y[q] = f(x[q]) for q < n, by step(x + q, y + q), which maps 32 values to 32 bytes. The
/// last step moves back to n - 32, overlapping the one before rather than leaving a
/// remainder. Under 32 values, x must have 32 readable ones (the sums buffers hold whole
/// tiles and more); the bytes past n are dropped.
template <typename T, typename Step>
__attribute__((always_inline)) inline void overlappingSteps32(const T *x, int64_t n, uint8_t *y, Step step) {
  if (n < 32) {
    alignas(32) uint8_t out[32];
    step(x, out);
    copyUnder<32>(y, out, n);
    return;
  }
  for (int64_t q = 0;; q += 32) {
    if (q + 32 > n) q = n - 32;
    step(x + q, y + q);
    if (q + 32 == n) return;
  }
}

#if defined(__aarch64__)
typedef int I32x4Gcc __attribute__((vector_size(16)));
/// acc += per lane, the sum of the 4 signed bytes of a times the 4 signed bytes of b. Inline
/// assembly: the compiler selects it only for targets with +dotprod.
inline void dotSdot(I32x4Gcc *acc, const I32x4Gcc *a, const I32x4Gcc *b) {
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(*acc) : "w"(*a), "w"(*b));
}
#endif

template <int L> struct IntVector {
  typedef int32_t Type __attribute__((ext_vector_type(L)));
};

/// acc += per lane, the 4-way dot product of the bytes of a (unsigned; signed for kDotSdot
/// and kDotAvx2Signs) with the signed bytes of b: VNNI, sdot, or plain arithmetic for any other kind.
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
  } else if constexpr (DOT == kDotAvx2 && L == 8) {
    dotAvx2Pairs((I32x8Gcc *)&acc, (const I32x8Gcc *)&a, (const I32x8Gcc *)&b);
    return;
  } else if constexpr (DOT == kDotAvx2Bytes && L == 8) {
    dotAvx2Bytes((I32x8Gcc *)&acc, (const I32x8Gcc *)&a, (const I32x8Gcc *)&b);
    return;
  } else if constexpr (DOT == kDotAvx2Signs && L == 8) {
    dotAvx2Signs((I32x8Gcc *)&acc, (const I32x8Gcc *)&a, (const I32x8Gcc *)&b);
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
/// broadcast to every lane.
template <int L, int DOT>
__attribute__((always_inline)) inline void dot4(typename IntVector<L>::Type &acc, const typename IntVector<L>::Type &x,
                                                const int32_t *__restrict w) {
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
  const bool flips = !packsAsStored(dotKind) && (xSigned != 0) != packsSigned(dotKind);
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
  // Added before the activation (null when absent): float, or 8-bit values read as
  // (float)(r - residualZeroPoint) * residualScale, DequantizeLinear's formula, when the
  // compiler folded the residual's DequantizeLinear in (residualType 1 u8, 2 i8; 0 f32).
  const void *residual;
  int32_t residualType;
  float residualScale;
  int32_t residualZeroPoint;
  void *y;
  int32_t yType; // 0 f32, 1 u8, 2 i8
  float yInverseScale, yZeroPoint;
  int32_t activation;
  float alpha, beta;
  // Direct requantization (null requantScales: the general form above).
  const float *requantScales, *requantOffsets;
  float yMin, yMax;
};

/// Element i of the epilogue's residual as a float. The product is its own statement, so it
/// is rounded before the caller's addition (never contracted into an FMA), as the separate
/// DequantizeLinear rounded it.
inline float residualAt(const QConvOutput &o, int64_t i) {
  if (o.residualType == 0) return ((const float *)o.residual)[i];
  const int32_t r = o.residualType == 1 ? (int32_t)((const uint8_t *)o.residual)[i]
                                        : (int32_t)((const int8_t *)o.residual)[i];
  const float value = (float)(r - o.residualZeroPoint) * o.residualScale;
  return value;
}

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
  // always_inline: out of line, this lambda took `s` by reference, and then none of the
  // kernel's shapes folded to constants (divisions by the strides stayed in every tile).
  auto quadRowByRow = [&](int64_t ph, int64_t c4) __attribute__((always_inline)) {
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

/// MK channels starting at k0 (of the group) x NV vectors of L flat positions from q0;
/// tapWords[t]: where tap t = r * S + s reads in the pack (phase plane, row and column
/// offset), relative to the position.
template <int L, int MK, int NV, int DOT>
__attribute__((always_inline)) inline void tile(const uint32_t *__restrict pack, const int32_t *__restrict wp,
                                                const QConvShape &s, int64_t planeWords,
                                                const int64_t *__restrict tapWords, int64_t q0,
                                                int32_t *__restrict acc, int64_t accStride) {
  typedef typename IntVector<L>::Type V;
  typedef int32_t VU __attribute__((ext_vector_type(L), aligned(4)));
  V sum[MK][NV];
  _Pragma("clang loop unroll(full)") for (int m = 0; m < MK; ++m)
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) sum[m][v] = 0;
  const int32_t *__restrict wq = wp;
  for (int64_t t = 0; t < s.R * s.S; ++t) {
    const uint32_t *__restrict xt = pack + tapWords[t] + q0;
    for (int64_t c4 = 0; c4 < s.C4; ++c4, xt += planeWords, wq += MK) {
      V xv[NV];
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) xv[v] = *(const VU *)(xt + v * L);
      _Pragma("clang loop unroll(full)") for (int m = 0; m < MK; ++m)
          _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) dot4<L, DOT>(sum[m][v], xv[v], wq + m);
    }
  }
  _Pragma("clang loop unroll(full)") for (int m = 0; m < MK; ++m)
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) *(VU *)(acc + m * accStride + v * L) =
          sum[m][v];
}

/// Writes channel k (of the whole output) for the task's rows from its flat sums. The
/// arithmetic runs over the flat positions, garbage columns included, so that its loops
/// have whole vectors even for rows narrower than a vector; then each row's valid columns
/// are copied out (8-bit rows without garbage columns are written in place).
template <int DOT>
__attribute__((always_inline)) inline void epilogue(const int32_t *__restrict acc, const QConvShape &s,
                                                    const QConvOutput &o, int64_t n, int64_t k, int64_t oh0,
                                                    int64_t rows) {
  const int32_t corr = o.corr[k];
  const float scale = o.scales[k], bias = o.biases[k];
  const int64_t flat = (rows * s.Wph + 15) & ~(int64_t)15; // the sums buffer holds whole tiles
  const int64_t plane = (n * s.K + k) * s.OH * s.OW + oh0 * s.OW;
  alignas(64) uint8_t bytes[kAccPositions];
  // Rows without garbage columns (Wph = OW: 1x1 layers, say) lie back to back in the
  // output too: their bytes go straight there, exactly rows * OW of them.
  const bool contiguous = s.Wph == s.OW;
  uint8_t *__restrict out = contiguous ? (uint8_t *)o.y + plane : bytes;
  const int64_t count = contiguous ? rows * s.OW : flat;
  if (o.requantScales) {
    const float m = o.requantScales[k], c = o.requantOffsets[k];
    int64_t q = 0;
#if defined(__x86_64__)
    if constexpr (impliesAvx2Fma(DOT)) {
      const F32x8Gcc vm = (F32x8Gcc){} + m, vc = (F32x8Gcc){} + c, lo = (F32x8Gcc){} + o.yMin,
                     hi = (F32x8Gcc){} + o.yMax;
      overlappingSteps32(acc, count, out, [&](const int32_t *a32, uint8_t *y32) {
        I32x8Gcc a[4];
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) {
          __builtin_memcpy(&a[j], a32 + 8 * j, sizeof(a[j]));
          a[j] += corr;
        }
        requant32(y32, a, &vm, &vc, &lo, &hi, o.yMin < 0.0f);
      });
      q = count;
    }
#endif
    for (; q < count; ++q) {
      float t = __builtin_rintf(__builtin_fmaf((float)(acc[q] + corr), m, c));
      t = t >= o.yMin ? t : o.yMin;
      t = t <= o.yMax ? t : o.yMax;
      out[q] = (uint8_t)(int32_t)t;
    }
    if (!contiguous)
      for (int64_t i = 0; i < rows; ++i) __builtin_memcpy((uint8_t *)o.y + plane + i * s.OW, bytes + i * s.Wph, s.OW);
    return;
  }
  // Float rows without garbage columns are computed in place in the output (exactly
  // count values: the output is never the residual, which the lowering keeps apart).
  const bool floatsInPlace = o.yType == 0 && contiguous;
  alignas(64) float staged[kAccPositions];
  float *__restrict v = floatsInPlace ? (float *)o.y + plane : staged;
  const int64_t computed = floatsInPlace ? count : flat;
  for (int64_t q = 0; q < computed; ++q) v[q] = __builtin_fmaf((float)(acc[q] + corr), scale, bias);
  if (o.residual)
    for (int64_t i = 0; i < rows; ++i) {
      float *__restrict vi = v + i * s.Wph;
      for (int64_t j = 0; j < s.OW; ++j) vi[j] += residualAt(o, plane + i * s.OW + j);
    }
  activateFast(v, computed, o.activation, o.alpha, o.beta);
  if (o.yType == 0) {
    if (!floatsInPlace)
      for (int64_t i = 0; i < rows; ++i)
        __builtin_memcpy((float *)o.y + plane + i * s.OW, v + i * s.Wph, s.OW * sizeof(float));
    return;
  }
  const float lo = o.yType == 2 ? -128.0f : 0.0f, hi = o.yType == 2 ? 127.0f : 255.0f;
  int64_t q = 0;
#if defined(__x86_64__)
  if constexpr (impliesAvx2Fma(DOT)) {
    const F32x8Gcc inverse = (F32x8Gcc){} + o.yInverseScale, zeroPoint = (F32x8Gcc){} + o.yZeroPoint,
                   vlo = (F32x8Gcc){} + lo, vhi = (F32x8Gcc){} + hi;
    overlappingSteps32(v, count, out, [&](const float *v32, uint8_t *y32) {
      F32x8Gcc f[4];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) __builtin_memcpy(&f[j], v32 + 8 * j, sizeof(f[j]));
      quantize32(y32, f, &inverse, &zeroPoint, &vlo, &vhi, o.yType == 2);
    });
    q = count;
  }
#endif
  for (; q < count; ++q) {
    float t = __builtin_rintf(v[q] * o.yInverseScale) + o.yZeroPoint;
    t = t >= lo ? t : lo; // NaN fails the comparison: lo
    t = t <= hi ? t : hi;
    // Both types through int32: the low byte is the same two's complement pattern.
    out[q] = (uint8_t)(int32_t)t;
  }
  if (!contiguous)
    for (int64_t i = 0; i < rows; ++i) __builtin_memcpy((uint8_t *)o.y + plane + i * s.OW, bytes + i * s.Wph, s.OW);
}

template <int L, int MK, int NV, int DOT>
__attribute__((always_inline)) inline void qconv(const uint8_t *x, uint32_t flip, uint8_t zero, const int32_t *wp,
                                                 QConvShape s, const QConvOutput &o, int64_t begin, int64_t end) {
  constexpr int64_t TILE = (int64_t)NV * L;
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
  // Computed once per call: no division by a stride is left in the tile loop even where
  // the shapes are not constants (a 3-channel stem's tile does one quad per tap).
  int64_t tapWords[kMaxTaps];
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t c = 0; c < s.S; ++c) {
      const int64_t phase = ((r * s.dilH) % s.strideH) * s.strideW + (c * s.dilW) % s.strideW;
      tapWords[r * s.S + c] =
          phase * s.C4 * planeWords + ((r * s.dilH) / s.strideH) * s.Wph + (c * s.dilW) / s.strideW;
    }
  alignas(64) uint32_t pack[kPackBytes / 4];
  alignas(64) int32_t acc[MK * kAccPositions];
  int64_t packed = -1; // the task / channelBlocks whose rows `pack` holds
  for (int64_t task = begin; task < end; ++task) {
    const int64_t cb = task % channelBlocks, rb = task / channelBlocks % rowBlocks;
    const int64_t g = task / (channelBlocks * rowBlocks) % s.group, n = task / (channelBlocks * rowBlocks * s.group);
    const int64_t oh0 = rb * s.rowsPerTask;
    const int64_t rows = s.OH - oh0 < s.rowsPerTask ? s.OH - oh0 : s.rowsPerTask;
    // Channel blocks of the same rows are consecutive tasks: pack once per run of them. A
    // thread that gets only some of them repacks the rows, cheap next to their MACs.
    if (task / channelBlocks != packed) packRows(x, flip, zero, s, n, g, oh0, rows, planeWords, slack, pack);
    packed = task / channelBlocks;
    const int64_t rowTiles = (rows * s.Wph + TILE - 1) / TILE;
    const int64_t kEnd = (cb + 1) * s.channelsPerTask < s.Kg ? (cb + 1) * s.channelsPerTask : s.Kg;
    for (int64_t k0 = cb * s.channelsPerTask; k0 < kEnd; k0 += MK) {
      const int32_t *wk = wp + (g * kBlocksPerGroup + k0 / MK) * taps * s.C4 * MK;
      for (int64_t t = 0; t < rowTiles; ++t) tile<L, MK, NV, DOT>(pack, wk, s, planeWords, tapWords, t * TILE, acc + t * TILE, tiles * TILE);
      for (int64_t m = 0; m < MK && k0 + m < kEnd; ++m)
        epilogue<DOT>(acc + m * tiles * TILE, s, o, n, g * s.Kg + k0 + m, oh0, rows);
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
    const int32_t *__restrict wk = w + k * s.R * groups;
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
            dot4<L, DOT>(sum[v], xv, wk + (r * groups + gq));
          }
        }
      _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; ++v) *(V *)(acc + t * TILE + v * L) = sum[v];
    }
    epilogue<DOT>(acc, s, o, n, k, oh0, rows);
  }
}

/// Bytes of output per task of the channel-lane depthwise kernel (qconvDepthwiseLanes;
/// lower/QConv.cpp mirrors it).
constexpr int64_t kLaneOutBytes = 32 * 1024;

template <typename T, T... I> struct IndexList {};

/// Unit i of interleaving the low (H = 0) or high (H = 1) halves of each 16-byte lane of
/// two vectors of U units, P per lane: punpckl/punpckh (x86), zip1/zip2 (aarch64).
constexpr int interleaveIndex(int i, int U, int P, int H) {
  const int lane = i / P, j = i % P;
  return (j % 2) * U + lane * P + H * (P / 2) + j / 2;
}
template <int H, typename T, int... I>
__attribute__((always_inline)) inline T interleaveLanes(T a, T b, IndexList<int, I...>) {
  constexpr int U = sizeof...(I), P = U / (int)(sizeof(T) / 16);
  return __builtin_shufflevector(a, b, interleaveIndex(I, U, P, H)...);
}

/// transposeLanes16 leaves column j of each lane's block in v[kBitReverse4[j]].
constexpr int kBitReverse4[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};

/// Transposes the 16 x 16 byte block in each 16-byte lane of v[0..15] (VB bytes each; lane
/// k of v[i] is row i of block k): four rounds of interleaving pairs of rows (bytes, then
/// 2-, 4- and 8-byte units). On exit lane k of v[kBitReverse4[j]] holds column j of block k.
template <int VB> struct ByteVector {
  typedef uint8_t Type __attribute__((ext_vector_type(VB)));
};
template <int VB>
__attribute__((always_inline)) inline void transposeLanes16(typename ByteVector<VB>::Type *v) {
  typedef typename ByteVector<VB>::Type B;
  typedef uint16_t H __attribute__((ext_vector_type(VB / 2)));
  typedef uint32_t W __attribute__((ext_vector_type(VB / 4)));
  typedef uint64_t D __attribute__((ext_vector_type(VB / 8)));
  B t[16];
  _Pragma("clang loop unroll(full)") for (int k = 0; k < 8; ++k) {
    t[k] = interleaveLanes<0>(v[2 * k], v[2 * k + 1], __make_integer_seq<IndexList, int, VB>{});
    t[k + 8] = interleaveLanes<1>(v[2 * k], v[2 * k + 1], __make_integer_seq<IndexList, int, VB>{});
  }
  _Pragma("clang loop unroll(full)") for (int k = 0; k < 8; ++k) {
    const H a = (H)t[2 * k], b = (H)t[2 * k + 1];
    v[k] = (B)interleaveLanes<0>(a, b, __make_integer_seq<IndexList, int, VB / 2>{});
    v[k + 8] = (B)interleaveLanes<1>(a, b, __make_integer_seq<IndexList, int, VB / 2>{});
  }
  _Pragma("clang loop unroll(full)") for (int k = 0; k < 8; ++k) {
    const W a = (W)v[2 * k], b = (W)v[2 * k + 1];
    t[k] = (B)interleaveLanes<0>(a, b, __make_integer_seq<IndexList, int, VB / 4>{});
    t[k + 8] = (B)interleaveLanes<1>(a, b, __make_integer_seq<IndexList, int, VB / 4>{});
  }
  _Pragma("clang loop unroll(full)") for (int k = 0; k < 8; ++k) {
    const D a = (D)t[2 * k], b = (D)t[2 * k + 1];
    v[k] = (B)interleaveLanes<0>(a, b, __make_integer_seq<IndexList, int, VB / 8>{});
    v[k + 8] = (B)interleaveLanes<1>(a, b, __make_integer_seq<IndexList, int, VB / 8>{});
  }
}

/// Byte i = 16 k + j of a row of 16 M input positions, lane k of it holding positions
/// M j + k: the input shuffle of transposeInBlock.
constexpr int spreadIndex(int i, int M) { return M * (i % 16) + i / 16; }
/// Its inverse, position p = M t + k from byte 16 k + t: the output shuffle of
/// transposeOutBlock.
constexpr int gatherIndex(int p, int M) { return 16 * (p % M) + p / M; }
template <int M, typename T, int... I>
__attribute__((always_inline)) inline T spreadLanes(T a, IndexList<int, I...>) {
  return __builtin_shufflevector(a, a, spreadIndex(I, M)...);
}
template <int M, typename T, int... I>
__attribute__((always_inline)) inline T gatherLanes(T a, IndexList<int, I...>) {
  return __builtin_shufflevector(a, a, gatherIndex(I, M)...);
}

/// Input positions [q, q + VB) of the L channel planes into buf (flat positions, L bytes
/// each, at dst), VB = 16 M. Row l is channel l (zero past L), shuffled so that lane k
/// holds positions q + M j + k (j = 0..15); after the transpose lane k of
/// v[kBitReverse4[j]] holds column j of lane k's block, position q + M j + k, so
/// v[kBitReverse4[j]] holds positions q + M j .. q + M j + M - 1: VB contiguous bytes of
/// buf when L = 16 (M > 1 needs 16 lanes).
template <int L, int VB>
__attribute__((always_inline)) inline void transposeInBlock(const uint8_t *const *plane, int64_t q, uint8_t flip,
                                                            uint8_t *__restrict dst) {
  typedef typename ByteVector<VB>::Type B;
  typedef uint8_t BU __attribute__((ext_vector_type(VB), aligned(1)));
  constexpr int M = VB / 16;
  static_assert(M == 1 || L == 16, "wide input blocks need 16 lanes");
  B v[16];
  _Pragma("clang loop unroll(full)") for (int l = 0; l < 16; ++l) v[l] =
      l < L ? spreadLanes<M>(*(const BU *)(plane[l] + q) ^ flip, __make_integer_seq<IndexList, int, VB>{}) : (B)0;
  transposeLanes16<VB>(v);
  _Pragma("clang loop unroll(full)") for (int j = 0; j < 16; ++j) {
    if constexpr (L == 16)
      *(BU *)(dst + M * j * L) = v[kBitReverse4[j]];
    else
      __builtin_memcpy(dst + j * L, &v[kBitReverse4[j]], L);
  }
}

/// Output positions [q, q + VB) of the task, VB = 16 M, from out ([position][L] bytes) to
/// the `valid` channel planes at yb (OHW bytes apart). Row t holds positions q + M t ..
/// q + M t + M - 1, so lane k of column c holds positions q + M t + k (t = 0..15), put in
/// order by one shuffle (M > 1 needs 16 lanes).
template <int L, int VB>
__attribute__((always_inline)) inline void transposeOutBlock(const uint8_t *__restrict out, int64_t q,
                                                             uint8_t *__restrict yb, int64_t OHW, int64_t valid) {
  typedef typename ByteVector<VB>::Type B;
  typedef uint8_t BU __attribute__((ext_vector_type(VB), aligned(1)));
  constexpr int M = VB / 16;
  static_assert(M == 1 || L == 16, "wide output blocks need 16 lanes");
  B v[16];
  // For L < 16 the bytes past L belong to the next positions: their columns are dropped.
  _Pragma("clang loop unroll(full)") for (int t = 0; t < 16; ++t) v[t] = *(const BU *)(out + (q + M * t) * L);
  transposeLanes16<VB>(v);
  auto store = [&](int l) {
    *(BU *)(yb + l * OHW + q) = gatherLanes<M>(v[kBitReverse4[l]], __make_integer_seq<IndexList, int, VB>{});
  };
  if (valid == L) {
    _Pragma("clang loop unroll(full)") for (int l = 0; l < L; ++l) store(l);
  } else {
    for (int l = 0; l < valid; ++l) store(l);
  }
}

/// block(q, Width<VB>{}) (a transposeInBlock or transposeOutBlock of positions [q, q + VB))
/// over positions [p0, p1): blocks of WIDE, then the rest in one block of 32 or 64
/// positions ending at p1 (overlapping the ones before), or blocks of 16 (the last one
/// overlapping); single(p) one position at a time when the range is shorter than 16.
template <int N> struct Width {
  static constexpr int value = N;
};
template <int WIDE, typename Block, typename Single>
__attribute__((always_inline)) inline void transposeRange(int64_t p0, int64_t p1, Block block, Single single) {
  int64_t p = p0;
  for (; p + WIDE <= p1; p += WIDE) block(p, Width<WIDE>{});
  if (p == p1) return;
  const int64_t rest = p1 - p, range = p1 - p0;
  if constexpr (WIDE >= 32) {
    if (rest <= 32 && range >= 32) return block(p1 - 32, Width<32>{});
  }
  if constexpr (WIDE >= 64) {
    if (range >= 64) return block(p1 - 64, Width<64>{});
  }
  if (range >= 16) {
    for (; p < p1; p += 16) block(p + 16 <= p1 ? p : p1 - 16, Width<16>{});
    return;
  }
  for (; p < p1; ++p) single(p);
}

/// The 4 L bytes of 4 taps (columns `step` bytes apart in a channel-interleaved row, L
/// channels each) as L lane quads: lane l holds the 4 taps of channel l, tap t in byte t.
template <int L>
__attribute__((always_inline)) inline typename IntVector<L>::Type laneQuads(const uint8_t *__restrict p,
                                                                            int64_t step) {
  typedef uint8_t Q __attribute__((ext_vector_type(4 * L)));
  typedef uint8_t QU __attribute__((ext_vector_type(4 * L), aligned(1)));
  Q b;
  if (step == L) {
    b = *(const QU *)p;
  } else {
    alignas(64) uint8_t taps[4 * L];
    _Pragma("clang loop unroll(full)") for (int t = 0; t < 4; ++t) __builtin_memcpy(taps + t * L, p + t * step, L);
    b = *(const Q *)taps;
  }
  if constexpr (L == 16)
    return (typename IntVector<L>::Type)__builtin_shufflevector(
        b, b, 0, 16, 32, 48, 1, 17, 33, 49, 2, 18, 34, 50, 3, 19, 35, 51, 4, 20, 36, 52, 5, 21, 37, 53, 6, 22, 38, 54,
        7, 23, 39, 55, 8, 24, 40, 56, 9, 25, 41, 57, 10, 26, 42, 58, 11, 27, 43, 59, 12, 28, 44, 60, 13, 29, 45, 61, 14,
        30, 46, 62, 15, 31, 47, 63);
  else if constexpr (L == 8)
    return (typename IntVector<L>::Type)__builtin_shufflevector(b, b, 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3,
                                                                11, 19, 27, 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22,
                                                                30, 7, 15, 23, 31);
  else
    return (typename IntVector<L>::Type)__builtin_shufflevector(b, b, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7,
                                                                11, 15);
}

/// acc += per lane, the 4-way dot product of the quad in x with the lane's weight quad:
/// w holds L words.
template <int L, int DOT>
__attribute__((always_inline)) inline void dot4Lanes(typename IntVector<L>::Type &acc,
                                                     const typename IntVector<L>::Type &x,
                                                     const int32_t *__restrict w) {
  typedef int32_t VU __attribute__((ext_vector_type(L), aligned(4)));
  const typename IntVector<L>::Type wv = *(const VU *)w;
  dot4Vectors<L, DOT>(acc, x, wv);
}

/// Direct requantization of n sums (positions x L channels, their constants repeated per
/// position) into bytes: the interpreter's formula, with strict comparisons (max and min
/// instructions) that give the same bytes as its t >= yMin ? t : yMin (they differ only
/// for t = yMin = 0 and -0, both byte 0). A plain loop, vectorized by LLVM.
__attribute__((always_inline)) inline void requantBytes(const int32_t *__restrict a, const float *__restrict mul,
                                                        const float *__restrict add, float lo, float hi, int64_t n,
                                                        uint8_t *__restrict y) {
  for (int64_t q = 0; q < n; ++q) {
    float t = __builtin_rintf(__builtin_fmaf((float)a[q], mul[q], add[q]));
    t = t > lo ? t : lo;
    t = t < hi ? t : hi;
    y[q] = (uint8_t)(int32_t)t;
  }
}

constexpr int lowByteIndex(int i) { return 4 * i; }
template <typename T, int... I>
__attribute__((always_inline)) inline auto lowBytes(T a, T b, IndexList<int, I...>) {
  return __builtin_shufflevector(a, b, lowByteIndex(I)...);
}
constexpr int identityIndex(int i) { return i; }
template <typename T, int... I>
__attribute__((always_inline)) inline auto concatVectors(T a, T b, IndexList<int, I...>) {
  return __builtin_shufflevector(a, b, identityIndex(I)...);
}

/// The output bytes of positions [p0, p1) of a row (y: [position][L] bytes), their sums
/// computed by sumsOf(p): requant512 on 4 positions at a time with 16 lanes and VNNI
/// (AVX-512), the sums staying in registers; else requantBytes.
template <int L, int DOT, typename Sums>
__attribute__((always_inline)) inline void requantRow(Sums sumsOf, int64_t p0, int64_t p1,
                                                      const float *__restrict mul, const float *__restrict add,
                                                      float lo, float hi, uint8_t *__restrict y) {
  typedef typename IntVector<L>::Type V;
  int64_t p = p0;
#if defined(__x86_64__)
  if constexpr (DOT == kDotVnni && L == 16) {
    typedef uint8_t B64 __attribute__((ext_vector_type(64)));
    typedef uint8_t B64U __attribute__((ext_vector_type(64), aligned(1)));
    const F32x16Gcc m = *(const F32x16Gcc *)mul, c = *(const F32x16Gcc *)add;
    const F32x16Gcc vlo = {lo, lo, lo, lo, lo, lo, lo, lo, lo, lo, lo, lo, lo, lo, lo, lo};
    const F32x16Gcc vhi = {hi, hi, hi, hi, hi, hi, hi, hi, hi, hi, hi, hi, hi, hi, hi, hi};
    for (; p + 4 <= p1; p += 4) {
      I32x16Gcc r[4];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) {
        const I32x16Gcc sum = (I32x16Gcc)sumsOf(p + j);
        requant512(&r[j], &sum, &m, &c, &vlo, &vhi);
      }
      const auto ab = lowBytes((B64)r[0], (B64)r[1], __make_integer_seq<IndexList, int, 32>{});
      const auto cd = lowBytes((B64)r[2], (B64)r[3], __make_integer_seq<IndexList, int, 32>{});
      *(B64U *)(y + p * 16) = concatVectors(ab, cd, __make_integer_seq<IndexList, int, 64>{});
    }
  } else if constexpr (impliesAvx2Fma(DOT) && L == 8) {
    const F32x8Gcc m = *(const F32x8Gcc *)mul, c = *(const F32x8Gcc *)add;
    const F32x8Gcc vlo = (F32x8Gcc){} + lo, vhi = (F32x8Gcc){} + hi;
    for (; p + 4 <= p1; p += 4) {
      I32x8Gcc a[4];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) a[j] = (I32x8Gcc)sumsOf(p + j);
      requant32(y + p * 8, a, &m, &c, &vlo, &vhi, lo < 0.0f);
    }
  }
#endif
  alignas(64) int32_t a[4 * L];
  for (; p + 4 <= p1; p += 4) {
    _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; ++j) *(V *)(a + j * L) = sumsOf(p + j);
    requantBytes(a, mul, add, lo, hi, 4 * L, y + p * L);
  }
  for (; p < p1; ++p) {
    *(V *)a = sumsOf(p);
    requantBytes(a, mul, add, lo, hi, L, y + p * L);
  }
}

/// Depthwise with CHANNELS in the vector lanes: almost no cost per channel plane, so small
/// planes (14x14, 7x7) run at the rate of large ones. A task takes a block of L channels
/// and a block of output rows. It transposes the input rows they read into a
/// channel-interleaved buffer, buf[position][L] bytes (flat positions of the input rows,
/// rows outside the image holding the zero point), 16 channels x 16 positions at a time (64
/// positions with 16 lanes). For each output position and kernel row it loads the 4 L bytes
/// of 4 consecutive columns and one shuffle makes them L lane quads (4 horizontal taps of
/// each channel, the operand of vpdpbusd), dotted with the channels' tap words. Columns
/// left or right of the image are not padded in the buffer (a row's neighbours are read
/// there): at the few output columns whose taps reach them those bytes are replaced by the
/// zero point. The sums start at the zero-point correction; the epilogue runs L channels
/// at a time and a second transpose writes the output planes (NCHW). w: [C / L][R][S / 4]
/// [words per quad][L] words, zeros past C and S.
template <int L, int DOT>
__attribute__((always_inline)) inline void qconvDepthwiseLanes(const uint8_t *x, uint32_t flip, uint8_t zero,
                                                               const int32_t *w, const QConvShape &s,
                                                               const QConvOutput &o, int64_t begin, int64_t end) {
  typedef typename IntVector<L>::Type V;
  typedef int32_t VU __attribute__((ext_vector_type(L), aligned(4)));
  constexpr int WIDE = L == 16 ? 64 : 16; // positions per transposed block
  const int64_t groups = (s.S + 3) / 4, blocks = (s.C + L - 1) / L;
  const int64_t rowBlocks = (s.OH + s.rowsPerTask - 1) / s.rowsPerTask;
  const int64_t HW = s.H * s.W, OHW = s.OH * s.OW;
  // Columns read left of a row's first one and right of the last row's end (lane quads
  // past S included).
  const int64_t front = s.padL, back = (s.OW - 1) * s.strideW - s.padL + (4 * groups - 1) * s.dilW + 1 - s.W;
  // Output columns whose real taps all lie inside the image: [owLo, owHi).
  const int64_t owLo = (s.padL + s.strideW - 1) / s.strideW;
  const int64_t lastIn = s.W - 1 + s.padL - (s.S - 1) * s.dilW; // ow * strideW at most this
  int64_t owHi = lastIn < 0 ? 0 : lastIn / s.strideW + 1;
  const int64_t owLoC = owLo < s.OW ? owLo : s.OW;
  owHi = owHi < owLoC ? owLoC : owHi > s.OW ? s.OW : owHi;
  const uint8_t flipByte = (uint8_t)flip;
  const V zeroQuads = (int32_t)(zero * 0x01010101u);
  alignas(64) uint8_t buf[kPackBytes + 64];
  alignas(64) uint8_t out[kLaneOutBytes + 64];
  alignas(64) int32_t sums[kAccPositions * L]; // the general epilogue's input
  uint8_t *const base = buf + front * L;       // buffer position 0: column 0 of the task's first input row
  for (int64_t task = begin; task < end; ++task) {
    // Rows outermost, as in the dense kernels: a thread's share of the tasks is a band of
    // rows of every channel, the band the 1x1 layers around it write and read on that core.
    const int64_t cb = task % blocks, rb = task / blocks % rowBlocks, n = task / (rowBlocks * blocks);
    const int64_t c0 = cb * L, valid = s.C - c0 < L ? s.C - c0 : L;
    const int64_t oh0 = rb * s.rowsPerTask;
    const int64_t rows = s.OH - oh0 < s.rowsPerTask ? s.OH - oh0 : s.rowsPerTask;
    const int64_t ih0 = oh0 * s.strideH - s.padT, RH = (rows - 1) * s.strideH + (s.R - 1) * s.dilH + 1;
    // Channels past C repeat the last one (their results are not written).
    const uint8_t *plane[L];
    _Pragma("clang loop unroll(full)") for (int l = 0; l < L; ++l) plane[l] =
        x + (n * s.C + c0 + (l < valid ? l : valid - 1)) * HW;

    // Rows above and below the image and the slack hold the zero point; the image rows
    // (buffer rows [lo, hi)) are transposed as one flat range of positions.
    int64_t lo = -ih0, hi = s.H - ih0; // buffer rows [lo, hi) are image rows
    lo = lo < 0 ? 0 : lo > RH ? RH : lo;
    hi = hi < lo ? lo : hi > RH ? RH : hi;
    __builtin_memset(buf, zero, front * L);
    __builtin_memset(base, zero, lo * s.W * L);
    __builtin_memset(base + hi * s.W * L, zero, ((RH - hi) * s.W + (back > 0 ? back : 0)) * L);
    const int64_t p0 = (ih0 + lo) * s.W, p1 = (ih0 + hi) * s.W;
    uint8_t *const at0 = base - ih0 * s.W * L; // position p of the image at at0 + p * L
    transposeRange<WIDE>(
        p0, p1,
        [&](int64_t q, auto width) {
          transposeInBlock<L, decltype(width)::value>(plane, q, flipByte, at0 + q * L);
        },
        [&](int64_t q) {
          for (int l = 0; l < L; ++l) at0[q * L + l] = plane[l][q] ^ flipByte;
        });

    // Per-channel constants of the block.
    alignas(64) int32_t corr[L];
    alignas(64) float mul[4 * L], add[4 * L]; // repeated for 4 positions
    if (valid == L) {
      for (int l = 0; l < L; ++l) corr[l] = o.requantScales ? o.corr[c0 + l] : 0;
      if (o.requantScales)
        for (int l = 0; l < L; ++l) mul[l] = o.requantScales[c0 + l], add[l] = o.requantOffsets[c0 + l];
    } else {
      for (int l = 0; l < L; ++l) {
        const int64_t c = c0 + (l < valid ? l : valid - 1);
        corr[l] = o.requantScales ? o.corr[c] : 0; // the general epilogue adds it itself
        mul[l] = o.requantScales ? o.requantScales[c] : 0.0f;
        add[l] = o.requantScales ? o.requantOffsets[c] : 0.0f;
      }
    }
    for (int j = 1; j < 4; ++j)
      for (int l = 0; l < L; ++l) mul[j * L + l] = mul[l], add[j * L + l] = add[l];
    const V corrV = *(const V *)corr;
    const int32_t *__restrict wk = w + cb * s.R * groups * L;
    // The sums of output position (i, ow), `edge`: some real taps lie left or right of the
    // image (a neighbouring row is read there: their bytes are replaced by the zero point).
    auto sumsAt = [&](int64_t i, int64_t ow, bool edge) {
      V sum = corrV;
      const int64_t col = ow * s.strideW - s.padL;
      _Pragma("clang loop unroll(full)") for (int64_t r = 0; r < s.R; ++r)
          _Pragma("clang loop unroll(full)") for (int64_t gq = 0; gq < groups; ++gq) {
        const uint8_t *xp = base + ((i * s.strideH + r * s.dilH) * s.W + col + 4 * gq * s.dilW) * L;
        V xq = laneQuads<L>(xp, s.dilW * L);
        if (edge) {
          uint32_t outside = 0;
          for (int t = 0; t < 4; ++t) {
            const int64_t tap = 4 * gq + t, c = col + tap * s.dilW;
            if (tap < s.S && (c < 0 || c >= s.W)) outside |= 0xFFu << (8 * t);
          }
          const V m = (int32_t)outside;
          xq = (xq & ~m) | (zeroQuads & m);
        }
        dot4Lanes<L, DOT>(sum, xq, wk + (r * groups + gq) * L);
      }
      return sum;
    };
    for (int64_t i = 0; i < rows; ++i) {
      auto edgeSums = [&](int64_t ow) { return sumsAt(i, ow, true); };
      // The inner columns: taps at constant offsets from one pointer.
      const uint8_t *row = base + (i * s.strideH * s.W - s.padL) * L;
      auto innerSums = [&](int64_t ow) {
        const uint8_t *xp = row + ow * s.strideW * L;
        V sum = corrV;
        _Pragma("clang loop unroll(full)") for (int64_t r = 0; r < s.R; ++r)
            _Pragma("clang loop unroll(full)") for (int64_t gq = 0; gq < groups; ++gq)
                dot4Lanes<L, DOT>(sum, laneQuads<L>(xp + (r * s.dilH * s.W + 4 * gq * s.dilW) * L, s.dilW * L),
                                  wk + (r * groups + gq) * L);
        return sum;
      };
      if (o.requantScales) {
        uint8_t *ob = out + i * s.OW * L;
        requantRow<L, DOT>(edgeSums, 0, owLoC, mul, add, o.yMin, o.yMax, ob);
        requantRow<L, DOT>(innerSums, owLoC, owHi, mul, add, o.yMin, o.yMax, ob);
        requantRow<L, DOT>(edgeSums, owHi, s.OW, mul, add, o.yMin, o.yMax, ob);
      } else {
        int32_t *rs = sums + i * s.OW * L;
        for (int64_t ow = 0; ow < owLoC; ++ow) *(V *)(rs + ow * L) = edgeSums(ow);
        for (int64_t ow = owLoC; ow < owHi; ++ow) *(V *)(rs + ow * L) = innerSums(ow);
        for (int64_t ow = owHi; ow < s.OW; ++ow) *(V *)(rs + ow * L) = edgeSums(ow);
      }
    }

    const int64_t P = rows * s.OW; // output positions of the task, contiguous in each plane
    if (!o.requantScales) {
      // The general epilogue, one channel plane at a time (rows of OW sums, no gaps).
      QConvShape flat = s;
      flat.Wph = s.OW;
      alignas(64) int32_t accPlane[kAccPositions];
      for (int64_t l = 0; l < valid; ++l) {
        for (int64_t q = 0; q < P; ++q) accPlane[q] = sums[q * L + l];
        for (int64_t q = P; q < ((P + 15) & ~(int64_t)15); ++q) accPlane[q] = 0;
        epilogue<DOT>(accPlane, flat, o, n, c0 + l, oh0, rows);
      }
      continue;
    }
    uint8_t *yb = (uint8_t *)o.y + (n * s.C + c0) * OHW + oh0 * s.OW;
    transposeRange<WIDE>(
        0, P, [&](int64_t q, auto width) { transposeOutBlock<L, decltype(width)::value>(out, q, yb, OHW, valid); },
        [&](int64_t q) {
          for (int64_t l = 0; l < valid; ++l) yb[l * OHW + q] = out[q * L + l];
        });
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
      if (o.residual) out[j] += residualAt(o, n * M + c);
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
                               const int32_t *corr, const float *scales, const float *biases, const void *residual,
                               int32_t residualType, float residualScale, int32_t residualZeroPoint, void *y,
                               int32_t yType, float yInverseScale, int32_t yZeroPoint, const float *requantScales,
                               const float *requantOffsets, int32_t yMin, int32_t yMax, int64_t N, int64_t C,
                               int64_t H, int64_t W, int64_t K, int64_t group, int64_t R, int64_t S, int64_t OH,
                               int64_t OW, int64_t strideH, int64_t strideW, int64_t dilH, int64_t dilW, int64_t padT,
                               int64_t padL, int64_t rowsPerTask, int64_t channelsPerTask, int32_t dotKind,
                               int64_t lanes, int64_t mk, int64_t nv, int32_t activation, float alpha, float beta,
                               int64_t begin, int64_t end) {
  const QConvShape s{N, C, H, W, K, group, R, S, OH, OW, strideH, strideW, dilH, dilW, padT, padL, rowsPerTask,
                     channelsPerTask, 0, 0, 0, 0, 0, 0};
  const QConvOutput o{corr,        scales,         biases,     residual,          residualType,
                      residualScale, residualZeroPoint, y,     yType,             yInverseScale,
                      (float)yZeroPoint, activation, alpha,  beta,              requantScales,
                      requantOffsets, (float)yMin,    (float)yMax};
  const PackedInput in = packedInput(xSigned, xZeroPoint, dotKind);
  const uint8_t *xb = (const uint8_t *)x;
#define LEIP_QCONV(dot, l, m, v)                                                                                       \
  if (dotKind == dot && lanes == l && mk == m && nv == v) return qconv<l, m, v, dot>(xb, in.flip, in.zero, wp, s, o, begin, end);
  LEIP_QCONV(kDotVnni, 16, 8, 3)
  LEIP_QCONV(kDotVnni, 16, 6, 4)
  LEIP_QCONV(kDotVnni, 8, 4, 2)
  LEIP_QCONV(kDotAvx2, 8, 4, 2)
  LEIP_QCONV(kDotAvx2Bytes, 8, 4, 2)
  LEIP_QCONV(kDotAvx2Signs, 8, 4, 2)
  LEIP_QCONV(kDotSdot, 4, 8, 3)
  LEIP_QCONV(kDotSdot, 4, 6, 4)
  LEIP_QCONV(kDotGeneric, 16, 8, 3)
  LEIP_QCONV(kDotGeneric, 16, 6, 4)
  LEIP_QCONV(kDotGeneric, 8, 4, 2)
  LEIP_QCONV(kDotGeneric, 4, 4, 2)
#undef LEIP_QCONV
}

/// Depthwise convolutions (group = C = K), w packed by lower/QConv.cpp: with
/// `channelsInLanes`, qconvDepthwiseLanes (tasks: image, block of rowsPerTask output rows,
/// block of `lanes` channels); else qconvDepthwise, one channel plane at a time (tasks:
/// image, channel, block of rowsPerTask output rows).
extern "C" void leip_k_qconv_depthwise(const void *x, int32_t xSigned, int32_t xZeroPoint, const int32_t *w,
                                       const int32_t *corr, const float *scales, const float *biases,
                                       const void *residual, int32_t residualType, float residualScale,
                                       int32_t residualZeroPoint, void *y, int32_t yType, float yInverseScale,
                                       int32_t yZeroPoint, const float *requantScales, const float *requantOffsets,
                                       int32_t yMin, int32_t yMax, int64_t N, int64_t C, int64_t H, int64_t W, int64_t R,
                                       int64_t S, int64_t OH, int64_t OW, int64_t strideH, int64_t strideW,
                                       int64_t dilH, int64_t dilW, int64_t padT, int64_t padL, int64_t rowsPerTask,
                                       int32_t dotKind, int64_t lanes, int32_t channelsInLanes, int32_t activation,
                                       float alpha, float beta, int64_t begin, int64_t end) {
  const QConvShape s{N, C, H, W, C, C, R, S, OH, OW, strideH, strideW, dilH, dilW, padT, padL, rowsPerTask,
                     1, 1, 1, 1, 0, 0, 0};
  const QConvOutput o{corr,        scales,         biases,     residual,          residualType,
                      residualScale, residualZeroPoint, y,     yType,             yInverseScale,
                      (float)yZeroPoint, activation, alpha,  beta,              requantScales,
                      requantOffsets, (float)yMin,    (float)yMax};
  const PackedInput in = packedInput(xSigned, xZeroPoint, dotKind);
  const uint8_t *xb = (const uint8_t *)x;
#define LEIP_DEPTHWISE(dot, l)                                                                                         \
  if (dotKind == dot && lanes == l) {                                                                                  \
    if (channelsInLanes) return qconvDepthwiseLanes<l, dot>(xb, in.flip, in.zero, w, s, o, begin, end);               \
    return qconvDepthwise<l, 4, dot>(xb, in.flip, in.zero, w, s, o, begin, end);                                       \
  }
  LEIP_DEPTHWISE(kDotVnni, 16)
  LEIP_DEPTHWISE(kDotVnni, 8)
  LEIP_DEPTHWISE(kDotAvx2, 8)
  LEIP_DEPTHWISE(kDotAvx2Bytes, 8)
  LEIP_DEPTHWISE(kDotAvx2Signs, 8)
  LEIP_DEPTHWISE(kDotSdot, 4)
  LEIP_DEPTHWISE(kDotGeneric, 16)
  LEIP_DEPTHWISE(kDotGeneric, 8)
  LEIP_DEPTHWISE(kDotGeneric, 4)
#undef LEIP_DEPTHWISE
}

/// A 1x1 convolution of 1x1 images, i.e. a fully connected layer ([N, K] x [M, K]^T):
/// tasks (row, block of 4 * lanes output channels); w packed by lower/QConv.cpp.
extern "C" void leip_k_qgemm(const void *x, int32_t xSigned, int32_t xZeroPoint, const int32_t *w,
                             const int32_t *corr, const float *scales, const float *biases, const void *residual,
                             int32_t residualType, float residualScale, int32_t residualZeroPoint, void *y,
                             int32_t yType, float yInverseScale, int32_t yZeroPoint, const float *requantScales,
                             const float *requantOffsets, int32_t yMin, int32_t yMax,
                             int64_t N, int64_t K,
                             int64_t M, int32_t dotKind, int64_t lanes, int32_t activation, float alpha, float beta,
                             int64_t begin, int64_t end) {
  const QConvOutput o{corr,        scales,         biases,     residual,          residualType,
                      residualScale, residualZeroPoint, y,     yType,             yInverseScale,
                      (float)yZeroPoint, activation, alpha,  beta,              requantScales,
                      requantOffsets, (float)yMin,    (float)yMax};
  const PackedInput in = packedInput(xSigned, xZeroPoint, dotKind);
  const uint8_t *xb = (const uint8_t *)x;
  if (dotKind == kDotVnni && lanes == 16) return qgemm<16, kDotVnni>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotVnni && lanes == 8) return qgemm<8, kDotVnni>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotAvx2 && lanes == 8) return qgemm<8, kDotAvx2>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotAvx2Bytes && lanes == 8)
    return qgemm<8, kDotAvx2Bytes>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotAvx2Signs && lanes == 8)
    return qgemm<8, kDotAvx2Signs>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (dotKind == kDotSdot && lanes == 4) return qgemm<4, kDotSdot>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (lanes == 16) return qgemm<16, kDotGeneric>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  if (lanes == 8) return qgemm<8, kDotGeneric>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
  return qgemm<4, kDotGeneric>(xb, in.flip, in.zero, w, N, K, M, o, begin, end);
}
