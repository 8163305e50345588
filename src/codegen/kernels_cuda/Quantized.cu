// The integer kernels (QuantizedParams.h): leip.QConv on u8/i8 inputs with i8 weights,
// QuantizeLinear, DequantizeLinear and MaxPool on u8/i8. Their outputs are bitwise the
// reference interpreter's (src/interp/kernels/Internal.cpp, Elementwise.cpp, NN.cpp), so
// every float step below is the interpreter's, rounded the same way: no contraction into
// fma (see the pragma), the exact fmaf and round-half-even of the specification, and the
// interpreter's std::min/std::max argument order where NaN or -0 could tell them apart.
// The one exception: the transcendental activations (Sigmoid, Tanh, Silu) use Device.cuh's
// approximations, as the fp32 kernels do.
//
// leip.QConv, dense and grouped: an implicit GEMM as Conv.cu's (M = output positions, N =
// output channels of a group, K = c/groups*kh*kw in the weights' [c][r][s] order), with
// four consecutive K elements packed into one 32-bit word on both sides (x bytes, w
// bytes, zeros past K), multiplied by dp4a into int32. A zero point is not subtracted per
// element (x - zp does not fit a byte): the raw x bytes enter dp4a (u8 x: dp4a.u32.s32)
// and taps outside x read the zero point itself, so every tap of the window contributes
// x*w and the result is corrected by zp * sum_k w[k] per output channel, a sum the loader
// threads accumulate from the weight words they fetch anyway. Depthwise (and narrow
// grouped) convolutions: one thread per output, (x - zp) * w in int32.
#include "Device.cuh"

#ifndef LEIP_GPU_EMULATION
// CUDA defaults to -ffp-contract=fast, which would fuse HardSigmoid's alpha * v + beta
// into one fma (one rounding where the interpreter has two). Off for the rest of this file.
#pragma clang fp contract(off)
#endif

namespace leip::gpu {
namespace {

// ---- integer dot products ------------------------------------------------------------------------

/// c + the sum of the products of a's four unsigned bytes with b's four signed bytes (PTX
/// dp4a.u32.s32).
LEIP_DEVICE inline int32_t dp4aUnsignedSigned(int32_t a, int32_t b, int32_t c) {
#ifdef LEIP_GPU_EMULATION
  uint32_t sum = static_cast<uint32_t>(c);
  for (int i = 0; i < 4; ++i) {
    const auto ai = static_cast<uint8_t>(static_cast<uint32_t>(a) >> (8 * i));
    const auto bi = static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
    sum += static_cast<uint32_t>(int32_t{ai} * bi); // wraps like the hardware
  }
  return static_cast<int32_t>(sum);
#else
  int32_t r;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
#endif
}

/// c + x . w for a word of x bytes (u8 when XUnsigned, else i8) and a word of i8 weights.
template <bool XUnsigned> LEIP_DEVICE inline int32_t dot4(int32_t x, int32_t w, int32_t c) {
  if constexpr (XUnsigned) return dp4aUnsignedSigned(x, w, c);
  else return dp4a(x, w, c);
}

/// Four i8 bytes of 1: dp4a(kOnes, w, s) adds w's four bytes to s.
constexpr int32_t kOnes = 0x01010101;

/// N consecutive int32 loaded as one (ld.shared.v2/v4); aligned to the vector's size.
template <int N> struct IntVec {
  typedef int32_t type __attribute__((vector_size(N * sizeof(int32_t))));
};
template <> struct IntVec<1> {
  typedef int32_t type;
};
template <int N> LEIP_DEVICE inline typename IntVec<N>::type loadInts(const int32_t *p) {
  return *reinterpret_cast<const typename IntVec<N>::type *>(p);
}
template <int N> LEIP_DEVICE inline void storeInts(int32_t *p, typename IntVec<N>::type v) {
  *reinterpret_cast<typename IntVec<N>::type *>(p) = v;
}
template <int N> LEIP_DEVICE inline int32_t intLane(typename IntVec<N>::type v, int i) {
  if constexpr (N == 1) return v;
  else return v[i];
}

// ---- the interpreter's float steps, exactly -----------------------------------------------------

/// fmaf and nearbyintf: fma.rn.f32 and cvt.rni.f32.f32 (no library calls).
LEIP_DEVICE inline float fmaExact(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
LEIP_DEVICE inline float roundHalfEven(float v) { return __builtin_rintf(v); }

/// x, through a register move LLVM cannot see through. The NVPTX backend turns a select
/// on a strict comparison of its own operands (`a < b ? b : a`) into max.f32/min.f32,
/// whose result for -0 and +0 is not necessarily the select's (Clip(0, 6) of -0 is -0);
/// comparing a copy keeps the select.
LEIP_DEVICE inline float opaque(float x) {
#ifdef LEIP_GPU_EMULATION
  return x;
#else
  float r;
  asm("mov.b32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#endif
}

/// std::max(a, b) and std::min(a, b): a unless b compares greater (less).
LEIP_DEVICE inline float stdMax(float a, float b) { return opaque(a) < b ? b : a; }
LEIP_DEVICE inline float stdMin(float a, float b) { return b < opaque(a) ? b : a; }

/// leip::ir::FusedActivation::apply, operation for operation.
LEIP_DEVICE inline float activateExact(float x, const Activation &act) {
  switch (act.kind) {
  case 1: return opaque(x) > 0.0f ? x : 0.0f;
  case 2: {
    const float v = opaque(x) < act.alpha ? act.alpha : x;
    return opaque(v) > act.beta ? act.beta : v;
  }
  case 3: return x < 0.0f ? act.alpha * x : x;
  case 4: return sigmoidF(x); // approximate (ex2.approx)
  case 5: return stdMax(0.0f, stdMin(1.0f, act.alpha * x + act.beta));
  case 6: return x * stdMax(0.0f, stdMin(1.0f, x / 6.0f + 0.5f));
  case 7: return tanhF(x);         // approximate
  case 8: return x * sigmoidF(x);  // approximate
  default: return x;
  }
}

LEIP_DEVICE inline float lowestOf(int32_t type) { return type == kUint8 ? 0.0f : -128.0f; }
LEIP_DEVICE inline float highestOf(int32_t type) { return type == kUint8 ? 255.0f : 127.0f; }

/// The interpreter's quantizeScaled (kernels/KernelUtil.h): round half to even, add the
/// zero point, saturate; fmax (max.f32) maps NaN to the lowest value.
LEIP_DEVICE inline float quantizeStep(float scaled, float zeroPoint, int32_t type) {
  const float v = roundHalfEven(scaled) + zeroPoint;
  return __builtin_fminf(__builtin_fmaxf(v, lowestOf(type)), highestOf(type));
}

/// Stores an integral float within the range of `type` (u8 or i8).
LEIP_DEVICE inline void storeByte(void *y, int64_t at, int32_t type, float v) {
  const auto i = static_cast<int32_t>(v);
  if (type == kUint8) static_cast<uint8_t *>(y)[at] = static_cast<uint8_t>(i);
  else static_cast<int8_t *>(y)[at] = static_cast<int8_t>(i);
}

/// Output `at` (channel `channel`) of leip.QConv from its exact int32 sum.
LEIP_DEVICE LEIP_INLINE inline void qconvStore(const QConvParams &p, int32_t acc, int channel, int64_t at,
                                               const float *__restrict__ scales, const float *__restrict__ biases,
                                               const float *__restrict__ residual, void *__restrict__ y) {
  const auto a = static_cast<float>(acc);
  if (p.directRequant) {
    float t = roundHalfEven(fmaExact(a, scales[channel], biases[channel]));
    t = stdMin(stdMax(t, static_cast<float>(p.yMin)), static_cast<float>(p.yMax));
    storeByte(y, at, p.outputType, t);
    return;
  }
  float v = fmaExact(a, scales[channel], biases[channel]);
  if (residual) v = v + residual[at];
  v = activateExact(v, p.act);
  if (p.outputType == kFloat32) {
    static_cast<float *>(y)[at] = v;
    return;
  }
  storeByte(y, at, p.outputType, quantizeStep(v * p.yInverseScale, static_cast<float>(p.yZeroPoint), p.outputType));
}

// ---- leip.QConv: the implicit GEMM ----------------------------------------------------------------

template <int BM, int BN, int TM, int TN, int S, int TKW> struct QConvKernel {
  static constexpr int kThreadsM = BM / TM, kThreadsN = BN / TN;
  static constexpr int kSliceThreads = kThreadsM * kThreadsN;
  static constexpr int kThreads = kSliceThreads * S;
  static constexpr int kSliceK = TKW / S;  // words of a stage per slice
  static constexpr int kBStride = TKW + 4; // B tile row pitch: 16-byte rows, fewer bank conflicts
  static constexpr int kALoads = TKW * BM / kThreads;
  static constexpr int kBLoads = TKW * BN / kThreads;
  static constexpr int kTileWords = TKW * BM + BN * kBStride;
  // The end: partial tiles [S][BN][BM], the weight-sum partials [BN][TKW] and totals [BN].
  static constexpr int kEndWords = S * BM * BN + BN * TKW + BN;
  static constexpr int kSharedWords = kTileWords > kEndWords ? kTileWords : kEndWords;
  static constexpr int AV = TM < 4 ? TM : 4;
  static constexpr int kAChunks = TM / AV;
  static_assert(kThreads <= 1024 && BN <= kThreads, "");
  static_assert(BM % TM == 0 && BN % TN == 0 && TM <= 8 && TN <= 8 && (TM & (TM - 1)) == 0, "");
  static_assert(kThreads % BM == 0 && kThreads % TKW == 0, "each thread loads a fixed A column and B word");
  static_assert((TKW * BM) % kThreads == 0 && (TKW * BN) % kThreads == 0 && kSliceK % 4 == 0 && BM % 4 == 0, "");
  static_assert(kSharedWords * 4 <= 48 * 1024, "static shared memory of one block");

  /// One array for both input types' instantiations of run.
  LEIP_DEVICE LEIP_INLINE static int32_t *shared() {
    alignas(16) LEIP_SHARED int32_t words[kSharedWords];
    return words;
  }

  template <bool XUnsigned>
  LEIP_DEVICE LEIP_INLINE static void run(const QConvParams &p, const uint8_t *__restrict__ x,
                                          const int8_t *__restrict__ w, const float *__restrict__ scales,
                                          const float *__restrict__ biases, const float *__restrict__ residual,
                                          void *__restrict__ y) {
    int32_t *const smem = shared();
    int32_t *const As = smem;           // [TKW][BM]: A words, positions fastest
    int32_t *const Bs = smem + TKW * BM; // [BN][kBStride]: B words, k fastest

    const int cg = p.c / p.groups, ng = p.k / p.groups;
    const int khw = p.kh * p.kw, hw = p.h * p.w, ohw = p.oh * p.ow;
    const int kdim = cg * khw, kWords = (kdim + 3) / 4;
    const int m = p.n * ohw;
    const int tilesN = (ng + BN - 1) / BN;
    const int g = blockY() / tilesN;
    const int m0 = blockX() * BM, n0 = (blockY() - g * tilesN) * BN;
    const int t = threadX();
    const bool pointwise = p.kh == 1 && p.kw == 1 && p.strideH == 1 && p.strideW == 1 && p.padTop == 0 &&
                           p.padLeft == 0;
    // With a zero point, taps outside x read it (their x - zp is 0 once corrected).
    const bool shifted = p.xZeroPoint != 0;
    const uint32_t outsideByte = static_cast<uint8_t>(p.xZeroPoint);

    // This thread's A column (one output position) for every stage.
    const int aCol = t % BM, aRow0 = t / BM;
    constexpr int kARowStep = kThreads / BM;
    const int am = m0 + aCol;
    const bool aValid = am < m;
    const int an = aValid ? am / ohw : 0;
    const int apos = aValid ? am - an * ohw : 0;
    const int aoy = apos / p.ow, aox = apos - aoy * p.ow;
    const int iy0 = aoy * p.strideH - p.padTop, ix0 = aox * p.strideW - p.padLeft;
    const uint8_t *__restrict__ xBase = x + (int64_t{an} * p.c + int64_t{g} * cg) * hw;

    // This thread's B word (within a stage) and output channels.
    const int bK = t % TKW, bRow0 = t / TKW;
    constexpr int kBRowStep = kThreads / TKW;
    const int8_t *__restrict__ wBase = w + int64_t{g} * ng * kdim;
    const bool wordAligned = kdim % 4 == 0 && (reinterpret_cast<uintptr_t>(w) & 3) == 0;

    int32_t aReg[kALoads], bReg[kBLoads], wSum[kBLoads];
LEIP_UNROLL
    for (int i = 0; i < kBLoads; ++i) wSum[i] = 0;
    auto loadStage = [&](int k0) LEIP_INLINE {
LEIP_UNROLL
      for (int i = 0; i < kALoads; ++i) {
        const int kw = k0 + aRow0 + i * kARowStep;
        uint32_t word = 0;
        if (aValid && kw < kWords) {
          const int kg = 4 * kw;
          if (pointwise) {
LEIP_UNROLL
            for (int e = 0; e < 4; ++e)
              if (kg + e < kdim) word |= uint32_t{xBase[(kg + e) * hw + apos]} << (8 * e);
          } else {
            int c = kg / khw;
            const int rs = kg - c * khw;
            int r = rs / p.kw, s = rs - r * p.kw;
LEIP_UNROLL
            for (int e = 0; e < 4; ++e) {
              if (kg + e < kdim) {
                const int iy = iy0 + r * p.dilationH, ix = ix0 + s * p.dilationW;
                const uint32_t b =
                    iy >= 0 && iy < p.h && ix >= 0 && ix < p.w ? uint32_t{xBase[c * hw + iy * p.w + ix]} : outsideByte;
                word |= b << (8 * e);
              }
              if (++s == p.kw) {
                s = 0;
                if (++r == p.kh) {
                  r = 0;
                  ++c;
                }
              }
            }
          }
        }
        aReg[i] = static_cast<int32_t>(word);
      }
LEIP_UNROLL
      for (int i = 0; i < kBLoads; ++i) {
        const int nn = n0 + bRow0 + i * kBRowStep, kw = k0 + bK;
        uint32_t word = 0;
        if (nn < ng && kw < kWords) {
          const int8_t *row = wBase + int64_t{nn} * kdim + 4 * kw;
          if (wordAligned) {
            __builtin_memcpy(&word, __builtin_assume_aligned(row, 4), 4);
          } else {
LEIP_UNROLL
            for (int e = 0; e < 4; ++e)
              if (4 * kw + e < kdim) word |= uint32_t{static_cast<uint8_t>(row[e])} << (8 * e);
          }
        }
        bReg[i] = static_cast<int32_t>(word);
        if (shifted) wSum[i] = dp4a(kOnes, bReg[i], wSum[i]); // every weight word is fetched once
      }
    };
    auto storeStage = [&]() LEIP_INLINE {
LEIP_UNROLL
      for (int i = 0; i < kALoads; ++i) As[(aRow0 + i * kARowStep) * BM + aCol] = aReg[i];
LEIP_UNROLL
      for (int i = 0; i < kBLoads; ++i) Bs[(bRow0 + i * kBRowStep) * kBStride + bK] = bReg[i];
    };

    // The register tile: this thread's slice, positions tx*AV.. (per chunk), channels ty*TN...
    const int slice = t / kSliceThreads, st = t - slice * kSliceThreads;
    const int tx = st % kThreadsM, ty = st / kThreadsM;
    int32_t acc[TM][TN];
LEIP_UNROLL
    for (int i = 0; i < TM; ++i)
LEIP_UNROLL
      for (int j = 0; j < TN; ++j) acc[i][j] = 0;

    const int stages = (kWords + TKW - 1) / TKW;
    loadStage(0);
    storeStage();
    syncThreads();
    for (int stage = 0; stage < stages; ++stage) {
      const bool more = stage + 1 < stages;
      if (more) loadStage((stage + 1) * TKW); // in flight while this stage is multiplied
LEIP_UNROLL
      for (int kq = 0; kq < kSliceK; kq += 4) {
        const int kk = slice * kSliceK + kq;
        typename IntVec<4>::type b[TN];
LEIP_UNROLL
        for (int j = 0; j < TN; ++j) b[j] = loadInts<4>(&Bs[(ty * TN + j) * kBStride + kk]);
LEIP_UNROLL
        for (int q = 0; q < 4; ++q) {
          typename IntVec<AV>::type a[kAChunks];
LEIP_UNROLL
          for (int v = 0; v < kAChunks; ++v) a[v] = loadInts<AV>(&As[(kk + q) * BM + v * (BM / kAChunks) + tx * AV]);
LEIP_UNROLL
          for (int i = 0; i < TM; ++i)
LEIP_UNROLL
            for (int j = 0; j < TN; ++j)
              acc[i][j] = dot4<XUnsigned>(intLane<AV>(a[i / AV], i % AV), b[j][q], acc[i][j]);
        }
      }
      syncThreads();
      if (more) {
        storeStage();
        syncThreads();
      }
    }

    // Partial tiles ([slice][channel][position]) and weight-sum partials to shared memory;
    // then each thread sums and stores whole outputs, consecutive threads at consecutive
    // positions.
    int32_t *const partial = smem;
    int32_t *const wPartial = smem + S * BM * BN; // [BN][TKW]
    int32_t *const wTotal = wPartial + BN * TKW;  // [BN]
LEIP_UNROLL
    for (int j = 0; j < TN; ++j)
LEIP_UNROLL
      for (int i0 = 0; i0 < TM; i0 += AV) {
        typename IntVec<AV>::type v;
LEIP_UNROLL
        for (int i = 0; i < AV; ++i) {
          if constexpr (AV == 1) v = acc[i0 + i][j];
          else v[i] = acc[i0 + i][j];
        }
        storeInts<AV>(&partial[(slice * BN + ty * TN + j) * BM + i0 / AV * (BM / kAChunks) + tx * AV], v);
      }
    if (shifted) {
LEIP_UNROLL
      for (int i = 0; i < kBLoads; ++i) wPartial[(bRow0 + i * kBRowStep) * TKW + bK] = wSum[i];
    }
    syncThreads();
    if (shifted) {
      if (t < BN) {
        uint32_t total = 0;
LEIP_UNROLL
        for (int q = 0; q < TKW; ++q) total += static_cast<uint32_t>(wPartial[t * TKW + q]);
        wTotal[t] = static_cast<int32_t>(total);
      }
      syncThreads();
    }
LEIP_UNROLL
    for (int q = 0; q < (BM * BN + kThreads - 1) / kThreads; ++q) {
      const int e = t + q * kThreads;
      const int mm = e % BM, nn = e / BM;
      const int om = m0 + mm, on = n0 + nn;
      if (e >= BM * BN || om >= m || on >= ng) continue;
      // Unsigned: the raw sums may wrap; the corrected one is the exact int32 sum.
      auto sum = static_cast<uint32_t>(partial[nn * BM + mm]);
LEIP_UNROLL
      for (int s = 1; s < S; ++s) sum += static_cast<uint32_t>(partial[(s * BN + nn) * BM + mm]);
      if (shifted) sum -= static_cast<uint32_t>(p.xZeroPoint) * static_cast<uint32_t>(wTotal[nn]);
      const int channel = g * ng + on;
      const int image = om / ohw;
      const int64_t at = (int64_t{image} * p.k + channel) * ohw + (om - image * ohw);
      qconvStore(p, static_cast<int32_t>(sum), channel, at, scales, biases, residual, y);
    }
  }
};

// ---- leip.QConv: one thread per output -----------------------------------------------------------

/// Depthwise and narrow grouped convolutions: sum (x - zp) * w over the taps inside x.
template <typename X>
LEIP_DEVICE LEIP_INLINE inline void qconvDirect(const QConvParams &p, const X *__restrict__ x,
                                                const int8_t *__restrict__ w, const float *__restrict__ scales,
                                                const float *__restrict__ biases, const float *__restrict__ residual,
                                                void *__restrict__ y) {
  const int ohw = p.oh * p.ow, hw = p.h * p.w, khw = p.kh * p.kw;
  const int cg = p.c / p.groups, ng = p.k / p.groups;
  const int total = p.n * p.k * ohw;
  for (int i = blockX() * blockDimX() + threadX(); i < total; i += gridDimX() * blockDimX()) {
    const int plane = i / ohw, pos = i - plane * ohw;
    const int image = plane / p.k, channel = plane - image * p.k;
    const int oy = pos / p.ow, ox = pos - oy * p.ow;
    const int iy0 = oy * p.strideH - p.padTop, ix0 = ox * p.strideW - p.padLeft;
    const X *__restrict__ src = x + (int64_t{image} * p.c + channel / ng * cg) * hw;
    const int8_t *__restrict__ wk = w + int64_t{channel} * cg * khw;
    int32_t acc = 0;
    for (int c = 0; c < cg; ++c)
      for (int r = 0; r < p.kh; ++r) {
        const int iy = iy0 + r * p.dilationH;
        if (iy < 0 || iy >= p.h) continue;
        for (int s = 0; s < p.kw; ++s) {
          const int ix = ix0 + s * p.dilationW;
          if (ix >= 0 && ix < p.w)
            acc += (int32_t{src[c * hw + iy * p.w + ix]} - p.xZeroPoint) * int32_t{wk[(c * p.kh + r) * p.kw + s]};
        }
      }
    qconvStore(p, acc, channel, i, scales, biases, residual, y);
  }
}

// ---- MaxPool ----------------------------------------------------------------------------------

/// One output per thread; padded taps are skipped (a window with none gives the lowest value).
template <typename T>
LEIP_DEVICE LEIP_INLINE inline void maxPool(const PoolParams &p, const T *__restrict__ x, T *__restrict__ y) {
  const int ohw = p.oh * p.ow, hw = p.h * p.w;
  const int total = p.n * p.c * ohw;
  for (int i = blockX() * blockDimX() + threadX(); i < total; i += gridDimX() * blockDimX()) {
    const int plane = i / ohw, pos = i - plane * ohw;
    const int oy = pos / p.ow, ox = pos - oy * p.ow;
    const int iy0 = oy * p.strideH - p.padTop, ix0 = ox * p.strideW - p.padLeft;
    const T *__restrict__ src = x + int64_t{plane} * hw;
    int32_t best = static_cast<T>(-1) < 0 ? -128 : 0; // T's lowest
    for (int r = 0; r < p.kh; ++r) {
      const int iy = iy0 + r * p.dilationH;
      if (iy < 0 || iy >= p.h) continue;
      for (int s = 0; s < p.kw; ++s) {
        const int ix = ix0 + s * p.dilationW;
        if (ix < 0 || ix >= p.w) continue;
        const int32_t v = src[iy * p.w + ix];
        best = v > best ? v : best;
      }
    }
    y[i] = static_cast<T>(best);
  }
}

/// The grid-stride loop of the elementwise kernels.
template <typename Fn> LEIP_DEVICE LEIP_INLINE inline void forEachElement(int64_t count, Fn fn) {
  const int64_t stride = int64_t{gridDimX()} * blockDimX();
  for (int64_t i = int64_t{blockX()} * blockDimX() + threadX(); i < count; i += stride) fn(i);
}

/// The scale/zero-point index of element i (per tensor: 0).
LEIP_DEVICE inline int64_t quantChannel(int64_t i, int64_t axisSize, int64_t inner) {
  return axisSize == 1 ? 0 : i / inner % axisSize;
}

LEIP_DEVICE inline int32_t zeroPointAt(const void *zeroPoint, int32_t type, int64_t c) {
  if (!zeroPoint) return 0;
  return type == kUint8 ? int32_t{static_cast<const uint8_t *>(zeroPoint)[c]}
                        : int32_t{static_cast<const int8_t *>(zeroPoint)[c]};
}

} // namespace
} // namespace leip::gpu

using leip::gpu::kQConvVariants;
using leip::gpu::QConvKernel;
using leip::gpu::QConvParams;

namespace {
constexpr bool sameKernelName(const char *a, const char *b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
template <int V>
using QVariantKernel = QConvKernel<kQConvVariants[V].tileM, kQConvVariants[V].tileN, kQConvVariants[V].threadM,
                                   kQConvVariants[V].threadN, kQConvVariants[V].kSplit, kQConvVariants[V].tileKWords>;
} // namespace

// One extern "C" entry per row of kQConvVariants, named as the row says.
#define LEIP_QCONV_VARIANT(index, name)                                                                                \
  static_assert(sameKernelName(kQConvVariants[index].kernel, #name), "kQConvVariants order");                        \
  extern "C" LEIP_DEVICE void name(const QConvParams *p, const void *__restrict__ x, const int8_t *__restrict__ w,    \
                                   const float *__restrict__ scales, const float *__restrict__ biases,               \
                                   const float *__restrict__ residual, void *__restrict__ y) {                       \
    const auto *bytes = static_cast<const uint8_t *>(x);                                                             \
    if (p->inputType == leip::gpu::kUint8)                                                                           \
      QVariantKernel<index>::run<true>(*p, bytes, w, scales, biases, residual, y);                                   \
    else                                                                                                             \
      QVariantKernel<index>::run<false>(*p, bytes, w, scales, biases, residual, y);                                  \
  }

LEIP_QCONV_VARIANT(0, leip_g_qconv2d_64x64)
LEIP_QCONV_VARIANT(1, leip_g_qconv2d_32x32s4)
LEIP_QCONV_VARIANT(2, leip_g_qconv2d_16x16s4)
LEIP_QCONV_VARIANT(3, leip_g_qconv2d_4x16s4)
static_assert(leip::gpu::kQConvVariantCount == 4, "one LEIP_QCONV_VARIANT per variant");

/// Depthwise (groups == c == k) and narrow grouped convolutions (isQConvDirect, QuantizedPlans.h).
extern "C" LEIP_DEVICE void leip_g_qconv2d_depthwise(const QConvParams *p, const void *__restrict__ x,
                                                     const int8_t *__restrict__ w, const float *__restrict__ scales,
                                                     const float *__restrict__ biases,
                                                     const float *__restrict__ residual, void *__restrict__ y) {
  using namespace leip::gpu;
  if (p->inputType == kUint8) qconvDirect(*p, static_cast<const uint8_t *>(x), w, scales, biases, residual, y);
  else qconvDirect(*p, static_cast<const int8_t *>(x), w, scales, biases, residual, y);
}

/// QuantizeLinear: y = saturate(nearbyintf(x / scale) + zeroPoint), as the interpreter.
extern "C" LEIP_DEVICE void leip_g_quantize(const leip::gpu::QuantizeParams *pp, const float *__restrict__ x,
                                            const float *__restrict__ scale, const void *__restrict__ zeroPoint,
                                            void *__restrict__ y) {
  using namespace leip::gpu;
  const QuantizeParams &p = *pp;
  forEachElement(p.count, [&](int64_t i) LEIP_INLINE {
    const int64_t c = quantChannel(i, p.axisSize, p.inner);
    const auto zp = static_cast<float>(zeroPointAt(zeroPoint, p.outputType, c));
    storeByte(y, i, p.outputType, quantizeStep(x[i] / scale[c], zp, p.outputType));
  });
}

/// DequantizeLinear: y = float(x - zeroPoint) * scale, as the interpreter.
extern "C" LEIP_DEVICE void leip_g_dequantize(const leip::gpu::DequantizeParams *pp, const void *__restrict__ x,
                                              const float *__restrict__ scale, const void *__restrict__ zeroPoint,
                                              float *__restrict__ y) {
  using namespace leip::gpu;
  const DequantizeParams &p = *pp;
  forEachElement(p.count, [&](int64_t i) LEIP_INLINE {
    const int64_t c = quantChannel(i, p.axisSize, p.inner);
    const int32_t v = p.inputType == kUint8 ? int32_t{static_cast<const uint8_t *>(x)[i]}
                                            : int32_t{static_cast<const int8_t *>(x)[i]};
    y[i] = static_cast<float>(v - zeroPointAt(zeroPoint, p.inputType, c)) * scale[c];
  });
}

extern "C" LEIP_DEVICE void leip_g_maxpool_u8(const leip::gpu::PoolParams *p, const void *__restrict__ x,
                                              void *__restrict__ y) {
  leip::gpu::maxPool(*p, static_cast<const uint8_t *>(x), static_cast<uint8_t *>(y));
}

extern "C" LEIP_DEVICE void leip_g_maxpool_i8(const leip::gpu::PoolParams *p, const void *__restrict__ x,
                                              void *__restrict__ y) {
  leip::gpu::maxPool(*p, static_cast<const int8_t *>(x), static_cast<int8_t *>(y));
}
