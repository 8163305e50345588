// 2-D convolution (and Gemm/MatMul as a 1x1 convolution) as an implicit GEMM, fp32:
//   M = output positions n*oh*ow, N = output channels of one group, K = c/groups*kh*kw,
//   Y[m][n] = sum_k A[m][k] * B[k][n], A the input patches (never materialized), B = w^T.
// A block computes a tileM x tileN tile of Y (see ConvVariant in Plans.h). Each stage
// loads a tileK-deep slice of A and B into shared memory (the next stage's slice is
// fetched into registers while this one is multiplied), then every thread accumulates its
// threadM x threadN register tile; with kSplit > 1 the block's threads form slices that
// share each stage's k rows, and their partial tiles are summed in shared memory at the
// end. The epilogue (bias, residual, activation) stores through shared memory so that
// consecutive threads write consecutive positions. Variants with buffers = 2 alternate two
// stage buffers (one barrier per stage instead of two). The input gather looks the kernel
// taps up in a small shared table (one division per k instead of two) and loads without
// branches (padding reads a valid address and is zeroed after), so a stage's loads issue
// back to back. Loads of x and w go through the read-only cache (ld.global.nc).
//
// Every ConvParams field is a constant once the compiler inlines the kernel into its
// node's entry, so the divisions below (by kh*kw, kw, oh*ow, ow) become multiplications
// and the branches on the shape disappear.
#include "Device.cuh"

namespace leip::gpu {
namespace {

template <int BM, int BN, int TM, int TN, int S, int TK, int NB> struct ConvKernel {
  static constexpr int kThreadsM = BM / TM, kThreadsN = BN / TN;
  static constexpr int kSliceThreads = kThreadsM * kThreadsN;
  static constexpr int kThreads = kSliceThreads * S;
  static constexpr int kSliceK = TK / S;  // k rows of a stage per slice
  static constexpr int kBStride = TK + 4; // B tile row pitch: 16-byte rows, fewer bank conflicts
  static constexpr int kALoads = TK * BM / kThreads;
  static constexpr int kBLoads = TK * BN / kThreads;
  static constexpr int kStageFloats = TK * BM + BN * kBStride;
  static constexpr int kTileFloats = NB * kStageFloats; // NB = 2: double-buffered stages
  static constexpr int kReduceFloats = S * BM * BN;
  static constexpr int kSharedFloats = kTileFloats > kReduceFloats ? kTileFloats : kReduceFloats;
  static constexpr int kMaxTaps = 64; // kh*kw of the largest kernel with a tap table
  static_assert(kThreads <= 1024, "");
  // A thread's TM positions: kAChunks vectors of AV, BM / kAChunks apart (for TM = 8,
  // two float4 halves, so that a quarter warp's vector loads hit distinct banks).
  static constexpr int AV = TM < 4 ? TM : 4;
  static constexpr int kAChunks = TM / AV;
  static_assert(BM % TM == 0 && BN % TN == 0 && TM <= 8 && TN <= 8 && (TM & (TM - 1)) == 0, "");
  static_assert(kThreads % BM == 0 && kThreads % TK == 0, "each thread loads a fixed A column and B k");
  static_assert((TK * BM) % kThreads == 0 && (TK * BN) % kThreads == 0 && kSliceK % 4 == 0, "");
  static_assert(BM % 4 == 0, "");
  static_assert(kSharedFloats * 4 + kMaxTaps * 16 <= 48 * 1024, "static shared memory of one block");

  LEIP_DEVICE LEIP_INLINE static void run(const ConvParams &p, const float *__restrict__ x,
                                          const float *__restrict__ w, const float *__restrict__ bias,
                                          const float *__restrict__ residual, float *__restrict__ y) {
    alignas(16) LEIP_SHARED float smem[kSharedFloats];
    // Stage buffer b: A slice [TK][BM] (positions fastest), then B slice [BN][kBStride] (k fastest).
    auto aTile = [&](int b) LEIP_INLINE { return smem + b * kStageFloats; };
    auto bTile = [&](int b) LEIP_INLINE { return smem + b * kStageFloats + TK * BM; };

    const int cg = p.c / p.groups, ng = p.k / p.groups;
    const int khw = p.kh * p.kw, hw = p.h * p.w, ohw = p.oh * p.ow;
    const int kdim = cg * khw;
    const int m = p.n * ohw;
    const int g = blockZ();
    const int m0 = blockX() * BM, n0 = blockY() * BN;
    const int t = threadX();
    // 1x1, stride 1, no padding: A is the input itself, [n][c][position].
    const bool pointwise = p.kh == 1 && p.kw == 1 && p.strideH == 1 && p.strideW == 1 && p.padTop == 0 &&
                           p.padLeft == 0;

    // This thread's A column (one output position) for every stage.
    const int aCol = t % BM, aRow0 = t / BM;
    constexpr int kARowStep = kThreads / BM;
    const int am = m0 + aCol;
    const bool aValid = am < m;
    const int an = aValid ? am / ohw : 0;
    const int apos = aValid ? am - an * ohw : 0;
    const int aoy = apos / p.ow, aox = apos - aoy * p.ow;
    const int iy0 = aoy * p.strideH - p.padTop, ix0 = aox * p.strideW - p.padLeft;
    const float *__restrict__ xBase = x + (int64_t{an} * p.c + int64_t{g} * cg) * hw;

    // This thread's B k (within a stage) and output channels.
    const int bK = t % TK, bRow0 = t / TK;
    constexpr int kBRowStep = kThreads / TK;
    const float *__restrict__ wBase = w + int64_t{g} * ng * kdim;

    // The kernel taps' offsets (dy * w + dx, dy, dx) in shared memory, so that a k needs one
    // division (by kh*kw, for its channel) instead of two; the element after it in a stage
    // advances (channel, tap) by a constant step.
    LEIP_SHARED typename IntVec<4>::type taps[kMaxTaps];
    const bool tapTable = !pointwise && khw > 1 && khw <= kMaxTaps;
    if (tapTable) {
      for (int rs = t; rs < khw; rs += kThreads) {
        const int r = rs / p.kw, dy = r * p.dilationH, dx = (rs - r * p.kw) * p.dilationW;
        taps[rs] = typename IntVec<4>::type{dy * p.w + dx, dy, dx, 0};
      }
      syncThreads();
    }
    const int aOff = iy0 * p.w + ix0;
    const int stepC = kARowStep / khw, stepRs = kARowStep - stepC * khw;

    float aReg[kALoads], bReg[kBLoads];
    auto loadStage = [&](int k0) LEIP_INLINE {
      int c = (k0 + aRow0) / khw, rs = k0 + aRow0 - c * khw;
      LEIP_UNROLL
      for (int i = 0; i < kALoads; ++i) {
        if (i > 0) {
          c += stepC;
          rs += stepRs;
          if (rs >= khw) {
            rs -= khw;
            ++c;
          }
        }
        // Every thread loads (an address inside x when its element is padding), so that
        // a stage's loads issue back to back without branches.
        const int kg = k0 + aRow0 + i * kARowStep;
        bool inside = aValid && kg < kdim;
        int at;
        if (pointwise) {
          at = kg * hw + apos;
        } else {
          int off = 0, dy = 0, dx = 0;
          if (tapTable) {
            const typename IntVec<4>::type tap = taps[rs];
            off = tap[0], dy = tap[1], dx = tap[2];
          } else if (khw > 1) {
            const int r = rs / p.kw;
            dy = r * p.dilationH, dx = (rs - r * p.kw) * p.dilationW, off = dy * p.w + dx;
          }
          // iy0 + dy in [0, h) and ix0 + dx in [0, w), one unsigned comparison each
          inside = inside && static_cast<unsigned>(iy0 + dy) < static_cast<unsigned>(p.h) &&
                   static_cast<unsigned>(ix0 + dx) < static_cast<unsigned>(p.w);
          at = c * hw + aOff + off;
        }
        const float v = loadReadOnly(inside ? xBase + at : x);
        aReg[i] = inside ? v : 0.0f;
      }
      LEIP_UNROLL
      for (int i = 0; i < kBLoads; ++i) {
        const int nn = n0 + bRow0 + i * kBRowStep, kg = k0 + bK;
        const bool inside = nn < ng && kg < kdim;
        const float v = loadReadOnly(inside ? wBase + int64_t{nn} * kdim + kg : w);
        bReg[i] = inside ? v : 0.0f;
      }
    };
    auto storeStage = [&](int buffer) LEIP_INLINE {
      float *const As = aTile(buffer), *const Bs = bTile(buffer);
      LEIP_UNROLL
      for (int i = 0; i < kALoads; ++i) As[(aRow0 + i * kARowStep) * BM + aCol] = aReg[i];
      LEIP_UNROLL
      for (int i = 0; i < kBLoads; ++i) Bs[(bRow0 + i * kBRowStep) * kBStride + bK] = bReg[i];
    };

    // The register tile: this thread's slice, positions tx*AV.. (per chunk), channels ty*TN...
    const int slice = t / kSliceThreads, st = t - slice * kSliceThreads;
    const int tx = st % kThreadsM, ty = st / kThreadsM;
    float acc[TM][TN];
    LEIP_UNROLL
    for (int i = 0; i < TM; ++i)
      LEIP_UNROLL
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

    const int stages = (kdim + TK - 1) / TK;
    loadStage(0);
    storeStage(0);
    syncThreads();
    for (int stage = 0; stage < stages; ++stage) {
      const bool more = stage + 1 < stages;
      if (more) loadStage((stage + 1) * TK); // in flight while this stage is multiplied
      const float *const As = aTile(NB == 2 ? stage & 1 : 0), *const Bs = bTile(NB == 2 ? stage & 1 : 0);
      LEIP_UNROLL
      for (int kq = 0; kq < kSliceK; kq += 4) {
        const int kk = slice * kSliceK + kq;
        typename FloatVec<4>::type b[TN];
        LEIP_UNROLL
        for (int j = 0; j < TN; ++j) b[j] = loadVec<4>(&Bs[(ty * TN + j) * kBStride + kk]);
        LEIP_UNROLL
        for (int q = 0; q < 4; ++q) {
          typename FloatVec<AV>::type a[kAChunks];
          LEIP_UNROLL
          for (int v = 0; v < kAChunks; ++v) a[v] = loadVec<AV>(&As[(kk + q) * BM + v * (BM / kAChunks) + tx * AV]);
          LEIP_UNROLL
          for (int i = 0; i < TM; ++i)
            LEIP_UNROLL
            for (int j = 0; j < TN; ++j) acc[i][j] += lane<AV>(a[i / AV], i % AV) * b[j][q];
        }
      }
      if constexpr (NB == 2) {
        // The other buffer was last read before the previous barrier: one barrier per stage.
        if (more) storeStage((stage + 1) & 1);
        syncThreads();
      } else {
        syncThreads();
        if (more) {
          storeStage(0);
          syncThreads();
        }
      }
    }

    // Partial tiles to shared memory ([slice][channel][position]), then each thread sums
    // and stores whole outputs, consecutive threads at consecutive positions.
    float *const partial = smem;
    LEIP_UNROLL
    for (int j = 0; j < TN; ++j)
      LEIP_UNROLL
      for (int i0 = 0; i0 < TM; i0 += AV) {
        typename FloatVec<AV>::type v;
        LEIP_UNROLL
        for (int i = 0; i < AV; ++i) {
          if constexpr (AV == 1) v = acc[i0 + i][j];
          else v[i] = acc[i0 + i][j];
        }
        storeVec<AV>(&partial[(slice * BN + ty * TN + j) * BM + i0 / AV * (BM / kAChunks) + tx * AV], v);
      }
    syncThreads();
    LEIP_UNROLL
    for (int q = 0; q < (BM * BN + kThreads - 1) / kThreads; ++q) {
      const int e = t + q * kThreads;
      const int mm = e % BM, nn = e / BM;
      const int om = m0 + mm, on = n0 + nn;
      if (e >= BM * BN || om >= m || on >= ng) continue;
      float sum = partial[nn * BM + mm];
      LEIP_UNROLL
      for (int s = 1; s < S; ++s) sum += partial[(s * BN + nn) * BM + mm];
      const int channel = g * ng + on;
      const int image = om / ohw;
      const int64_t at = (int64_t{image} * p.k + channel) * ohw + (om - image * ohw);
      if (bias) sum += bias[channel];
      if (residual) sum += residual[at];
      y[at] = activate(sum, p.act);
    }
  }
};

} // namespace
} // namespace leip::gpu

using leip::gpu::ConvKernel;
using leip::gpu::ConvParams;
using leip::gpu::kConvVariants;

namespace {
constexpr bool sameName(const char *a, const char *b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
template <int V>
using VariantKernel = ConvKernel<kConvVariants[V].tileM, kConvVariants[V].tileN, kConvVariants[V].threadM,
                                 kConvVariants[V].threadN, kConvVariants[V].kSplit, kConvVariants[V].tileK,
                                 kConvVariants[V].buffers>;
} // namespace

// One extern "C" entry per row of kConvVariants, named as the row says.
#define LEIP_CONV_VARIANT(index, name)                                                                                \
  static_assert(sameName(kConvVariants[index].kernel, #name), "kConvVariants order");                               \
  static_assert(VariantKernel<index>::kThreads == kConvVariants[index].threads() &&                                \
                    VariantKernel<index>::kSharedFloats * 4 == kConvVariants[index].sharedBytes(),                 \
                "the plan's view of the variant");                                                                  \
  extern "C" LEIP_DEVICE void name(const ConvParams *p, const float *__restrict__ x, const float *__restrict__ w,    \
                                   const float *__restrict__ bias, const float *__restrict__ residual,              \
                                   float *__restrict__ y) {                                                         \
    VariantKernel<index>::run(*p, x, w, bias, residual, y);                                                         \
  }

LEIP_CONV_VARIANT(0, leip_g_conv2d_f32_64x64)
LEIP_CONV_VARIANT(1, leip_g_conv2d_f32_128x32)
LEIP_CONV_VARIANT(2, leip_g_conv2d_f32_32x32s4)
LEIP_CONV_VARIANT(3, leip_g_conv2d_f32_16x32s4)
LEIP_CONV_VARIANT(4, leip_g_conv2d_f32_16x32s8k64d)
LEIP_CONV_VARIANT(5, leip_g_conv2d_f32_16x16s16k256)
LEIP_CONV_VARIANT(6, leip_g_conv2d_f32_4x16s8k256)
static_assert(leip::gpu::kConvVariantCount == 7, "one LEIP_CONV_VARIANT per variant");

// ---- depthwise ------------------------------------------------------------------------------------

/// groups == c == k: one thread per output, consecutive threads along a row; the kh*kw
/// weights of a channel are the same for a whole warp (broadcast loads).
extern "C" LEIP_DEVICE void leip_g_depthwise_f32(const ConvParams *pp, const float *__restrict__ x,
                                                 const float *__restrict__ w, const float *__restrict__ bias,
                                                 const float *__restrict__ residual, float *__restrict__ y) {
  using namespace leip::gpu;
  const ConvParams &p = *pp;
  const int ohw = p.oh * p.ow, hw = p.h * p.w;
  const int total = p.n * p.c * ohw;
  for (int i = blockX() * blockDimX() + threadX(); i < total; i += gridDimX() * blockDimX()) {
    const int plane = i / ohw, pos = i - plane * ohw;
    const int c = plane % p.c;
    const int oy = pos / p.ow, ox = pos - oy * p.ow;
    const int iy0 = oy * p.strideH - p.padTop, ix0 = ox * p.strideW - p.padLeft;
    const float *__restrict__ src = x + int64_t{plane} * hw;
    const float *__restrict__ wc = w + c * p.kh * p.kw;
    float sum = bias ? bias[c] : 0.0f;
    for (int r = 0; r < p.kh; ++r) {
      const int iy = iy0 + r * p.dilationH;
      if (iy < 0 || iy >= p.h) continue;
      for (int s = 0; s < p.kw; ++s) {
        const int ix = ix0 + s * p.dilationW;
        if (ix >= 0 && ix < p.w) sum += loadReadOnly(&src[iy * p.w + ix]) * loadReadOnly(&wc[r * p.kw + s]);
      }
    }
    if (residual) sum += residual[i];
    y[i] = activate(sum, p.act);
  }
}
