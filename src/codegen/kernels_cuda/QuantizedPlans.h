// Launch plans of the integer kernels (QuantizedParams.h, kernels_cuda/Quantized.cu).
// Included from Params.h after Plans.h, whose helpers (streamLaunch, ceilDiv, kTargetSMs)
// it uses. Plain C++ for g++ (the compiler) and clang (the kernels) alike.
#pragma once

namespace leip::gpu {

// ---- leip.QConv ---------------------------------------------------------------------------

/// One tiling of the int8 implicit GEMM (M = output positions n*oh*ow, N = output channels
/// of a group, K = c/groups*kh*kw reduction elements, taken four at a time as one 32-bit
/// word for dp4a). As ConvVariant (Plans.h): a block computes tileM x tileN outputs with
/// kSplit slices of (tileM/threadM) x (tileN/threadN) threads, each stage holding tileKWords
/// words (4 * tileKWords reduction elements) of A and B in shared memory.
struct QConvVariant {
  const char *kernel;
  int32_t tileM, tileN;
  int32_t threadM, threadN;
  int32_t kSplit;
  int32_t tileKWords;
  constexpr int32_t threads() const { return tileM / threadM * (tileN / threadN) * kSplit; }
};

inline constexpr QConvVariant kQConvVariants[] = {
    {"leip_g_qconv2d_64x64", 64, 64, 4, 4, 1, 8},     // large layers
    {"leip_g_qconv2d_32x32s4", 32, 32, 4, 4, 4, 16},  // middle layers
    {"leip_g_qconv2d_16x16s4", 16, 16, 2, 2, 4, 16},  // small late layers, long K
    {"leip_g_qconv2d_4x16s4", 4, 16, 1, 1, 4, 64},    // a handful of positions (1x1 images)
};
constexpr int kQConvVariantCount = sizeof(kQConvVariants) / sizeof(kQConvVariants[0]);

/// One thread per output (leip_g_qconv2d_depthwise): depthwise convolutions (groups == c ==
/// k) and any grouped one with fewer than this many output channels per group, where a
/// GEMM tile would be mostly empty.
constexpr int32_t kQConvDirectMaxGroupChannels = 8;

constexpr bool isQConvDirect(const QConvParams &p) {
  return p.groups > 1 && ((p.groups == p.c && p.groups == p.k) || p.k / p.groups < kQConvDirectMaxGroupChannels);
}

/// The grid of variant v for p: x over position tiles, y over channel tiles of every group.
inline Launch qconvLaunch(const QConvParams &p, const QConvVariant &v) {
  const int64_t m = int64_t{p.n} * p.oh * p.ow, n = p.k / p.groups;
  const int64_t tilesN = ceilDiv(n, v.tileN);
  return {v.kernel,
          {static_cast<uint32_t>(ceilDiv(m, v.tileM)), static_cast<uint32_t>(tilesN * p.groups), 1},
          {static_cast<uint32_t>(v.threads()), 1, 1}};
}

/// A rough time estimate of variant v (arbitrary units), convCost's model (Plans.h) with
/// one dp4a per four reduction elements: the work of whole tiles, the shared-memory loads
/// per dp4a of the register tile, a fixed cost per stage, spread over the SMs.
inline double qconvCost(const QConvParams &p, const QConvVariant &v) {
  const int64_t m = int64_t{p.n} * p.oh * p.ow, n = p.k / p.groups;
  const int64_t kWords = ceilDiv(int64_t{p.c} / p.groups * p.kh * p.kw, 4);
  const int64_t blocks = ceilDiv(m, v.tileM) * ceilDiv(n, v.tileN) * p.groups;
  const int64_t stages = ceilDiv(kWords, v.tileKWords);
  const double perThreadDots = double(v.threadM) * v.threadN * v.tileKWords / v.kSplit;
  const double perThreadLoads = (4.0 + v.threadN) * v.tileKWords / v.kSplit / 4.0;
  // Global loads: 4 bytes of A per word (a load and a bounds check each), 1 of B.
  const double perThreadGlobal = double(v.tileKWords) * (4.0 * v.tileM + v.tileN) / v.threads();
  const double blockTime = double(stages) * (perThreadDots + 2.0 * perThreadLoads + perThreadGlobal + 40.0) + 250.0;
  const double perSM = double(ceilDiv(blocks, kTargetSMs));
  const double concurrency = perSM < 4.0 ? perSM : 4.0; // resident blocks per SM
  const double speedup = concurrency * 0.4 < 1.0 ? concurrency * 0.4 : 1.0;
  return perSM * blockTime / speedup * (v.threads() / 256.0);
}

inline Launch planQConv(const QConvParams &p) {
  if (isQConvDirect(p)) return streamLaunch("leip_g_qconv2d_depthwise", int64_t{p.n} * p.k * p.oh * p.ow);
  int best = 0;
  double bestCost = 0;
  for (int i = 0; i < kQConvVariantCount; ++i) {
    const double cost = qconvCost(p, kQConvVariants[i]);
    if (i == 0 || cost < bestCost) {
      best = i;
      bestCost = cost;
    }
  }
  return qconvLaunch(p, kQConvVariants[best]);
}

// ---- elementwise and pooling ------------------------------------------------------------------

inline Launch planQuantize(const QuantizeParams &p) { return streamLaunch("leip_g_quantize", p.count); }
inline Launch planDequantize(const DequantizeParams &p) { return streamLaunch("leip_g_dequantize", p.count); }
inline Launch planIntegerMaxPool(const PoolParams &p, int32_t type) {
  return streamLaunch(type == kUint8 ? "leip_g_maxpool_u8" : "leip_g_maxpool_i8", int64_t{p.n} * p.c * p.oh * p.ow);
}

} // namespace leip::gpu
