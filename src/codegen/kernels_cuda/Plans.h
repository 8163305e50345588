// The launch plans of the NVIDIA kernels (declared in Params.h, which includes this file):
// for one node's parameters, which kernel variant runs, on how many blocks of how many
// threads. Plain C++ that g++ (the compiler, host side) and clang (the kernels, device
// side) both compile; the few decisions a kernel must also know (how many threads share
// one pooling window, ...) are constexpr functions here, which clang's CUDA mode lets
// device code call, so the plan and the kernel cannot disagree.
#pragma once

namespace leip::gpu {

/// Streaming multiprocessors the plans aim to fill (an H100 SXM has 132).
constexpr int64_t kTargetSMs = 132;
/// Threads per block of every kernel but the convolution variants (ConvVariant::threads()).
constexpr int32_t kBlockThreads = 256;
/// Blocks of a grid-stride kernel (elementwise, copies): enough to fill every SM several times.
constexpr int64_t kMaxStreamBlocks = 4096;

constexpr int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t minI64(int64_t a, int64_t b) { return a < b ? a : b; }

/// A 1-D grid of kBlockThreads-thread blocks over `items` independent items, each thread
/// looping with a grid stride past the first kMaxStreamBlocks blocks' worth.
inline Launch streamLaunch(const char *kernel, int64_t items) {
  const int64_t blocks = minI64(ceilDiv(items > 0 ? items : 1, kBlockThreads), kMaxStreamBlocks);
  return {kernel, {static_cast<uint32_t>(blocks), 1, 1}, {static_cast<uint32_t>(kBlockThreads), 1, 1}};
}

// ---- convolution ----------------------------------------------------------------------------

/// One tiling of the implicit GEMM (M = output positions n*oh*ow, N = output channels of a
/// group, K = c/groups*kh*kw). A block computes tileM x tileN outputs; its threads form
/// kSplit slices of (tileM/threadM) x (tileN/threadN) threads, each accumulating a
/// threadM x threadN register tile over its share of every tileK-deep stage of K; the
/// slices' partial sums meet in shared memory at the end (a split of K inside one block,
/// for layers with few outputs and a long K).
struct ConvVariant {
  const char *kernel;
  int32_t tileM, tileN;
  int32_t threadM, threadN;
  int32_t kSplit;
  int32_t tileK;
  int32_t buffers;   // 2: double-buffered shared stages (one barrier per stage instead of two)
  int32_t registers; // per thread, as ptxas allocates them for sm_90 (for the occupancy estimate)
  float calibration; // measured time / convCost's estimate on an H200 (see convCost)
  constexpr int32_t threads() const { return tileM / threadM * (tileN / threadN) * kSplit; }
  /// Static shared memory: the stage buffers, or the slices' partial tiles if larger.
  constexpr int32_t sharedBytes() const {
    const int32_t stage = tileK * tileM + tileN * (tileK + 4), partial = kSplit * tileM * tileN;
    return 4 * (buffers * stage > partial ? buffers * stage : partial);
  }
};

inline constexpr ConvVariant kConvVariants[] = {
    {"leip_g_conv2d_f32_64x64", 64, 64, 4, 4, 1, 16, 1, 90, 1.15f},          // many positions, short K
    {"leip_g_conv2d_f32_128x32", 128, 32, 4, 4, 1, 16, 1, 80, 1.15f},        // many positions, few channels
    {"leip_g_conv2d_f32_32x32s4", 32, 32, 4, 4, 4, 32, 1, 80, 0.97f},        // large layers
    {"leip_g_conv2d_f32_16x32s4", 16, 32, 2, 4, 4, 32, 1, 64, 0.80f},        // resnet18 layer1
    {"leip_g_conv2d_f32_16x32s8k64d", 16, 32, 2, 4, 8, 64, 2, 64, 0.88f},    // layers 2-3
    {"leip_g_conv2d_f32_16x16s16k256", 16, 16, 2, 2, 16, 256, 1, 64, 1.20f}, // layer4: 7x7, K = 4608
    {"leip_g_conv2d_f32_4x16s8k256", 4, 16, 1, 1, 8, 256, 1, 127, 1.25f},    // a few rows (Gemm, batch 1)
};
constexpr int kConvVariantCount = sizeof(kConvVariants) / sizeof(kConvVariants[0]);

/// Depthwise convolutions (groups == c == k) run leip_g_depthwise_f32 instead.
constexpr bool isDepthwise(const ConvParams &p) { return p.groups > 1 && p.groups == p.c && p.groups == p.k; }

/// The grid of variant v for p: x over position tiles, y over channel tiles, z over groups.
inline Launch convLaunch(const ConvParams &p, const ConvVariant &v) {
  const int64_t m = int64_t{p.n} * p.oh * p.ow, n = p.k / p.groups;
  return {v.kernel,
          {static_cast<uint32_t>(ceilDiv(m, v.tileM)), static_cast<uint32_t>(ceilDiv(n, v.tileN)),
           static_cast<uint32_t>(p.groups)},
          {static_cast<uint32_t>(v.threads()), 1, 1}};
}

/// Estimated microseconds of variant v on an H100/H200-class GPU. A block runs its K stages
/// one after another; a stage costs a fixed latency (global loads, barriers: ~1000 cycles)
/// plus its instructions per thread (multiply-adds, shared loads, ~28 per gathered input
/// and ~10 per weight it loads) at the issue rate its SM's resident threads leave each
/// thread (at most one instruction per 2 cycles). Blocks beyond what the SMs hold at once
/// run in further waves. The constants and each variant's calibration factor were fitted
/// to timings of every variant on resnet18 and mobilenet_v2 layers on an H200.
inline double convCost(const ConvParams &p, const ConvVariant &v) {
  const double m = double(p.n) * p.oh * p.ow, n = double(p.k / p.groups);
  const double kdim = double(p.c / p.groups) * p.kh * p.kw;
  const double threads = v.threads();
  const double blocks = double(ceilDiv(int64_t(m), v.tileM)) * double(ceilDiv(int64_t(n), v.tileN)) * p.groups;
  double resident = 2048 / threads;
  const double byRegisters = double(int64_t(65536 / (threads * v.registers)));
  const double byShared = double(int64_t(228 * 1024 / v.sharedBytes()));
  if (byRegisters < resident) resident = byRegisters;
  if (byShared < resident) resident = byShared;
  if (resident < 1) resident = 1;
  const double stages = double(ceilDiv(int64_t(kdim), v.tileK));
  const double kPerThread = double(v.tileK / v.kSplit);
  const double chunksM = v.threadM < 4 ? 1.0 : v.threadM / 4.0; // vector loads of A per k
  const double instructions = v.threadM * v.threadN * kPerThread + (v.threadN + 4.0 * chunksM) * kPerThread / 4.0 +
                              28.0 * v.tileK * v.tileM / threads + 10.0 * v.tileK * v.tileN / threads + 20.0;
  const double perSM = double(ceilDiv(int64_t(blocks), kTargetSMs));
  const double concurrent = perSM < resident ? perSM : resident;
  const double waves = double(ceilDiv(int64_t(blocks), int64_t(kTargetSMs * resident)));
  double rate = 128.0 / (concurrent * threads); // instructions per cycle per thread
  if (rate > 0.5) rate = 0.5;
  const double cycles = waves * stages * (1000.0 + instructions / rate);
  return cycles / 1980.0 * v.calibration;
}

inline Launch planConv2d(const ConvParams &p) {
  if (isDepthwise(p)) return streamLaunch("leip_g_depthwise_f32", int64_t{p.n} * p.c * p.oh * p.ow);
  int best = 0;
  double bestCost = 0;
  for (int i = 0; i < kConvVariantCount; ++i) {
    if (p.groups > 65535) break; // beyond grid.z: no variant fits (the compiler rejects it first)
    const double cost = convCost(p, kConvVariants[i]);
    if (i == 0 || cost < bestCost) {
      best = i;
      bestCost = cost;
    }
  }
  return convLaunch(p, kConvVariants[best]);
}

// ---- pooling ----------------------------------------------------------------------------------

/// Threads that share one output when the window is a whole plane (GlobalAveragePool,
/// GlobalMaxPool) and large enough to be worth a shared-memory reduction; 0 otherwise (one
/// thread per output).
constexpr int32_t poolReductionGroup(const PoolParams &p) {
  const bool global = p.oh == 1 && p.ow == 1 && p.kh == p.h && p.kw == p.w && p.padTop == 0 && p.padLeft == 0 &&
                      p.dilationH == 1 && p.dilationW == 1;
  const int64_t plane = int64_t{p.h} * p.w;
  if (!global || plane < 16) return 0;
  return plane >= 2048 ? 256 : 32;
}

inline Launch planPool2d(const PoolParams &p) {
  const int64_t planes = int64_t{p.n} * p.c;
  const int32_t group = poolReductionGroup(p);
  if (group == 0) return streamLaunch("leip_g_pool2d_f32", planes * p.oh * p.ow);
  const int64_t blocks = minI64(ceilDiv(planes, kBlockThreads / group), kMaxStreamBlocks);
  return {"leip_g_pool2d_f32", {static_cast<uint32_t>(blocks), 1, 1}, {static_cast<uint32_t>(kBlockThreads), 1, 1}};
}

// ---- elementwise ------------------------------------------------------------------------------

inline Launch planBinary(const BinaryParams &p) { return streamLaunch("leip_g_binary_f32", p.count); }
inline Launch planUnary(const UnaryParams &p) { return streamLaunch("leip_g_unary_f32", p.count); }
inline Launch planCopy(const CopyParams &p) { return streamLaunch("leip_g_copy", p.count); }

// ---- softmax ------------------------------------------------------------------------------------

/// Threads that share one softmax row: 1 (a thread per row) when rows are short or when
/// consecutive rows are adjacent in memory (inner > 1: threads then read consecutive
/// addresses), else a group reducing through shared memory.
constexpr int32_t softmaxGroup(const SoftmaxParams &p) {
  if (p.axis <= 32 || p.inner >= 32) return 1;
  return p.axis <= 2048 ? 32 : 256;
}

inline Launch planSoftmax(const SoftmaxParams &p) {
  const int64_t rows = p.outer * p.inner;
  const int32_t group = softmaxGroup(p);
  const int64_t blocks = minI64(ceilDiv(rows, kBlockThreads / group), kMaxStreamBlocks);
  return {"leip_g_softmax_f32", {static_cast<uint32_t>(blocks), 1, 1}, {static_cast<uint32_t>(kBlockThreads), 1, 1}};
}

} // namespace leip::gpu
