// The NVIDIA kernels (src/codegen/kernels_cuda/*.cu) without a GPU: the same kernel source
// compiled as C++ with LEIP_GPU_EMULATION runs under the block/thread emulator of
// cuda_emu/ (blocks one after another, each block's threads as concurrent std::threads
// meeting at syncThreads), launched with the grid and block its plan<Op>() returns, so
// the plans are checked too. Every result is compared with a naive double-precision
// reference written here from the ONNX definition, on seeded random data: within 1e-5 of
// the reference's largest magnitude for plain arithmetic, 1e-4 where the kernels
// approximate transcendental functions (Device.cuh builds them on exp2/log2, which the
// emulator takes from <cmath>). A last test runs llc and ptxas on the linked device
// bitcode for every architecture leip accepts.
#include "CudaEmu.h"
#include "Params.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace leip::gpu;

// The kernels, as the compiled .cu files define them.
using ConvFn = void(const ConvParams *, const float *, const float *, const float *, const float *, float *);
extern "C" {
ConvFn leip_g_conv2d_f32_64x64, leip_g_conv2d_f32_128x32, leip_g_conv2d_f32_32x32s4, leip_g_conv2d_f32_16x32s4,
    leip_g_conv2d_f32_16x32s8k64d, leip_g_conv2d_f32_16x16s16k256, leip_g_conv2d_f32_4x16s8k256, leip_g_depthwise_f32;
void leip_g_pool2d_f32(const PoolParams *, const float *, float *);
void leip_g_binary_f32(const BinaryParams *, const float *, const float *, float *);
void leip_g_unary_f32(const UnaryParams *, const float *, float *);
void leip_g_softmax_f32(const SoftmaxParams *, const float *, float *);
void leip_g_copy(const CopyParams *, const void *, void *);
}

namespace {

constexpr double kExact = 1e-5;  // plain arithmetic (float sums in another order)
constexpr double kApprox = 1e-4; // transcendental functions

ConvFn *convKernel(const std::string &name) {
  static const std::map<std::string, ConvFn *> kernels = {
      {"leip_g_conv2d_f32_64x64", leip_g_conv2d_f32_64x64},
      {"leip_g_conv2d_f32_128x32", leip_g_conv2d_f32_128x32},
      {"leip_g_conv2d_f32_32x32s4", leip_g_conv2d_f32_32x32s4},
      {"leip_g_conv2d_f32_16x32s4", leip_g_conv2d_f32_16x32s4},
      {"leip_g_conv2d_f32_16x32s8k64d", leip_g_conv2d_f32_16x32s8k64d},
      {"leip_g_conv2d_f32_16x16s16k256", leip_g_conv2d_f32_16x16s16k256},
      {"leip_g_conv2d_f32_4x16s8k256", leip_g_conv2d_f32_4x16s8k256},
      {"leip_g_depthwise_f32", leip_g_depthwise_f32}};
  auto it = kernels.find(name);
  return it == kernels.end() ? nullptr : it->second;
}

std::vector<float> randomFloats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v) x = dist(gen);
  return v;
}

/// The interpreter's activation formulas (include/leip/ir/FusedActivation.h), in double.
double activateRef(double v, const Activation &a) {
  switch (a.kind) {
  case 1: return v > 0 ? v : 0;
  case 2: return std::min<double>(std::max<double>(v, a.alpha), a.beta);
  case 3: return v < 0 ? a.alpha * v : v;
  case 4: return 1 / (1 + std::exp(-v));
  case 5: return std::max(0.0, std::min(1.0, a.alpha * v + a.beta));
  case 6: return v * std::max(0.0, std::min(1.0, v / 6 + 0.5));
  case 7: return std::tanh(v);
  case 8: return v / (1 + std::exp(-v));
  default: return v;
  }
}

const Activation kActivations[] = {{0, 0, 0},     {1, 0, 0}, {2, -0.3f, 0.4f}, {3, 0.1f, 0},  {4, 0, 0},
                                   {5, 0.2f, 0.5f}, {6, 0, 0}, {7, 0, 0},        {8, 0, 0}};
bool isTranscendental(const Activation &a) { return a.kind == 4 || a.kind == 7 || a.kind == 8; }

/// Fails unless every |got - want| <= tol * max|want| (NaN must match NaN).
template <typename T>
void expectClose(const std::vector<float> &got, const std::vector<T> &want, double tol, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (T v : want)
    if (std::isfinite(static_cast<double>(v))) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  scale = std::max(scale, 1e-30);
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = static_cast<double>(want[i]);
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::fabs(g - w) <= tol * scale;
    if (!ok) {
      if (bad++ == 0) first = i;
      if (std::isfinite(g)) worst = std::max(worst, std::fabs(g - w) / scale);
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " outside " << tol << " x " << scale
                     << " (first at " << first << ": got " << got[first] << ", want " << want[first]
                     << "; worst relative " << worst << ")";
}

std::string describe(const ConvParams &p) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "n%d c%d %dx%d k%d -> %dx%d kernel %dx%d stride %d,%d pad %d,%d dil %d,%d g%d act%d",
                p.n, p.c, p.h, p.w, p.k, p.oh, p.ow, p.kh, p.kw, p.strideH, p.strideW, p.padTop, p.padLeft,
                p.dilationH, p.dilationW, p.groups, p.act.kind);
  return buf;
}

// ---- convolution ---------------------------------------------------------------------------------

/// ConvParams for a square-or-not conv; the output size as ONNX computes it (pads equal at
/// both ends).
ConvParams convParams(int n, int c, int h, int w, int k, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                      int groups, Activation act = {}) {
  ConvParams p{};
  p.n = n, p.c = c, p.h = h, p.w = w, p.k = k, p.kh = kh, p.kw = kw;
  p.strideH = sh, p.strideW = sw, p.padTop = ph, p.padLeft = pw, p.dilationH = dh, p.dilationW = dw;
  p.groups = groups;
  p.oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  p.ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  p.act = act;
  return p;
}

struct ConvData {
  std::vector<float> x, w, bias, residual;
};

ConvData convData(const ConvParams &p, bool bias, bool residual, uint32_t seed) {
  ConvData d;
  d.x = randomFloats(size_t(p.n) * p.c * p.h * p.w, seed);
  d.w = randomFloats(size_t(p.k) * (p.c / p.groups) * p.kh * p.kw, seed + 1);
  if (bias) d.bias = randomFloats(size_t(p.k), seed + 2);
  if (residual) d.residual = randomFloats(size_t(p.n) * p.k * p.oh * p.ow, seed + 3);
  return d;
}

std::vector<double> convReference(const ConvParams &p, const ConvData &d) {
  const int cg = p.c / p.groups, kg = p.k / p.groups;
  std::vector<double> y(size_t(p.n) * p.k * p.oh * p.ow);
  for (int n = 0; n < p.n; ++n)
    for (int k = 0; k < p.k; ++k)
      for (int oy = 0; oy < p.oh; ++oy)
        for (int ox = 0; ox < p.ow; ++ox) {
          const int g = k / kg;
          double sum = d.bias.empty() ? 0.0 : d.bias[k];
          for (int c = 0; c < cg; ++c)
            for (int r = 0; r < p.kh; ++r)
              for (int s = 0; s < p.kw; ++s) {
                const int iy = oy * p.strideH - p.padTop + r * p.dilationH;
                const int ix = ox * p.strideW - p.padLeft + s * p.dilationW;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                sum += double(d.x[((size_t(n) * p.c + g * cg + c) * p.h + iy) * p.w + ix]) *
                       d.w[((size_t(k) * cg + c) * p.kh + r) * p.kw + s];
              }
          const size_t at = ((size_t(n) * p.k + k) * p.oh + oy) * p.ow + ox;
          if (!d.residual.empty()) sum += d.residual[at];
          y[at] = activateRef(sum, p.act);
        }
  return y;
}

std::vector<float> runConv(const Launch &launch, const ConvParams &p, const ConvData &d) {
  ConvFn *fn = convKernel(launch.kernel);
  EXPECT_NE(fn, nullptr) << "no kernel " << launch.kernel;
  std::vector<float> y(size_t(p.n) * p.k * p.oh * p.ow, std::nanf(""));
  if (!fn) return y;
  const float *bias = d.bias.empty() ? nullptr : d.bias.data();
  const float *residual = d.residual.empty() ? nullptr : d.residual.data();
  emu::launch(launch, [&] { fn(&p, d.x.data(), d.w.data(), bias, residual, y.data()); });
  return y;
}

/// Runs the planned kernel (or variant `variant` when >= 0) and compares with the reference.
void checkConv(const ConvParams &p, bool bias, bool residual, uint32_t seed, int variant = -1) {
  const ConvData d = convData(p, bias, residual, seed);
  const Launch launch = variant < 0 ? planConv2d(p) : convLaunch(p, kConvVariants[variant]);
  const std::vector<float> y = runConv(launch, p, d);
  expectClose(y, convReference(p, d), isTranscendental(p.act) ? kApprox : kExact,
              std::string(launch.kernel) + " " + describe(p) + (bias ? " bias" : "") + (residual ? " residual" : ""));
}

int variantIndex(const char *kernel) {
  for (int i = 0; i < kConvVariantCount; ++i)
    if (std::string(kConvVariants[i].kernel) == kernel) return i;
  return -1;
}

// Each variant on shapes that give it several blocks along x (positions) and y (channels),
// channel counts that are not multiples of its tile, and a K over several stages (with and
// without the tap table, through the single- or double-buffered stage loop).
TEST(CudaConv, EveryVariantOnSeveralBlocks) {
  for (int v = 0; v < kConvVariantCount; ++v) {
    const ConvVariant &cv = kConvVariants[v];
    SCOPED_TRACE(cv.kernel);
    // Positions: 2.5 tiles (two images); channels: 2.5 tiles; K = 5 * 9 = 45 taps.
    const int positions = cv.tileM * 5 / 4; // per image
    const int side = std::max(1, int(std::sqrt(double(positions))));
    ConvParams p = convParams(2, 5, side, (positions + side - 1) / side, cv.tileN * 5 / 2, 3, 3, 1, 1, 1, 1, 1, 1, 1,
                              {1, 0, 0});
    const Launch l = convLaunch(p, cv);
    EXPECT_GE(l.grid[0], 2u);
    EXPECT_GE(l.grid[1], 2u);
    checkConv(p, true, v % 2 == 0, 100 + v, v);
    // Strided, padded, dilated, grouped (grid.z), a non-square kernel.
    checkConv(convParams(1, 6, 13, 11, cv.tileN + 6, 3, 2, 2, 1, 2, 1, 2, 1, 2), v % 2 == 1, true, 200 + v, v);
    // 1x1 (the pointwise path) and 3x3 (the tap table), both with K over three stages.
    const int stagesC = 2 * cv.tileK + 5;
    checkConv(convParams(1, stagesC, 3, 5, cv.tileN + 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, {3, 0.1f, 0}), true, false, 300 + v,
              v);
    checkConv(convParams(1, (stagesC + 8) / 9, 4, 3, cv.tileN - 1, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, true, 400 + v, v);
  }
}

// A kernel larger than the tap table (kMaxTaps = 64): the division fallback.
TEST(CudaConv, LargeKernelWithoutTapTable) {
  checkConv(convParams(1, 3, 12, 12, 10, 9, 9, 1, 1, 4, 4, 1, 1, 1), true, false, 450, 2);
  checkConv(convParams(1, 2, 3, 80, 7, 1, 70, 1, 1, 0, 5, 1, 1, 1), false, true, 451, 5); // a 1-D kernel of 70
}

// Shapes as the plan sees them (including Gemm as 1x1 convolutions of 1x1 images).
TEST(CudaConv, PlannedShapes) {
  const ConvParams shapes[] = {
      convParams(1, 3, 20, 20, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, {1, 0, 0}),       // a resnet stem
      convParams(1, 16, 9, 9, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1),                   // 3x3 pad 1
      convParams(2, 12, 8, 8, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, {2, 0.0f, 6.0f}),  // stride 2, Clip (Relu6)
      convParams(1, 8, 10, 10, 12, 3, 3, 1, 1, 2, 2, 2, 2, 1),                  // dilation 2
      convParams(1, 12, 6, 6, 18, 3, 3, 1, 1, 1, 1, 1, 1, 3),                   // 3 groups
      convParams(2, 8, 5, 5, 16, 1, 1, 1, 1, 0, 0, 1, 1, 4),                    // grouped 1x1
      convParams(1, 24, 7, 7, 40, 1, 1, 2, 2, 0, 0, 1, 1, 1),                   // 1x1 stride 2
      convParams(1, 160, 1, 1, 100, 1, 1, 1, 1, 0, 0, 1, 1, 1),                 // Gemm, one row
      convParams(5, 33, 1, 1, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1, {4, 0, 0}),        // Gemm, five rows
      convParams(1, 64, 3, 3, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1),                   // a late layer
  };
  uint32_t seed = 400;
  for (const ConvParams &p : shapes) {
    checkConv(p, true, false, seed++);
    checkConv(p, false, true, seed++);
  }
}

TEST(CudaConv, EveryActivation) {
  uint32_t seed = 500;
  for (const Activation &act : kActivations) {
    // Inputs up to +-4 reach the saturated ranges of Clip, HardSigmoid and HardSwish.
    ConvParams p = convParams(1, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, act);
    ConvData d = convData(p, true, true, seed++);
    for (float &v : d.x) v *= 4.0f;
    const Launch l = planConv2d(p);
    const std::vector<float> y = runConv(l, p, d);
    expectClose(y, convReference(p, d), isTranscendental(act) ? kApprox : kExact, describe(p));
    ConvParams dw = convParams(1, 5, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, act);
    checkConv(dw, true, act.kind % 2 == 0, seed++);
  }
}

TEST(CudaConv, Depthwise) {
  const ConvParams shapes[] = {
      convParams(1, 12, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12, {2, 0.0f, 6.0f}), // mobilenet's 3x3
      convParams(2, 7, 11, 10, 7, 3, 3, 2, 2, 1, 1, 1, 1, 7),                   // stride 2, batch 2
      convParams(1, 5, 13, 12, 5, 5, 5, 1, 2, 4, 2, 2, 1, 5),                   // 5x5, dilation 2
      convParams(1, 300, 20, 20, 300, 3, 3, 1, 1, 1, 1, 1, 1, 300),             // several blocks
  };
  uint32_t seed = 600;
  for (const ConvParams &p : shapes) {
    const Launch l = planConv2d(p);
    EXPECT_STREQ(l.kernel, "leip_g_depthwise_f32");
    checkConv(p, true, true, seed++);
    checkConv(p, false, false, seed++);
  }
  // A grid smaller than the outputs: the grid-stride loop.
  ConvParams p = shapes[1];
  ConvData d = convData(p, true, false, 700);
  Launch small{"leip_g_depthwise_f32", {3, 1, 1}, {64, 1, 1}};
  expectClose(runConv(small, p, d), convReference(p, d), kExact, "depthwise on 3 blocks");
}

// The plan gives large layers large tiles, long-K late layers the split-K variants, a
// one-row Gemm the narrow one, and never an empty or out-of-limit grid.
TEST(CudaConv, PlanChoices) {
  struct Case {
    ConvParams p;
    std::vector<const char *> allowed;
  };
  const Case cases[] = {
      // resnet18's stem and layers (batch 1)
      {convParams(1, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, 1, 1, 1), {"leip_g_conv2d_f32_32x32s4", "leip_g_conv2d_f32_64x64"}},
      {convParams(1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), {"leip_g_conv2d_f32_16x32s4", "leip_g_conv2d_f32_32x32s4"}},
      {convParams(1, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), {"leip_g_conv2d_f32_16x32s8k64d"}},
      {convParams(1, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1, 1, 1, 1), {"leip_g_conv2d_f32_16x16s16k256"}},
      // its classifier (a one-row Gemm) and mobilenet_v2's wide, shallow 1x1 layers
      {convParams(1, 512, 1, 1, 1000, 1, 1, 1, 1, 0, 0, 1, 1, 1), {"leip_g_conv2d_f32_4x16s8k256"}},
      {convParams(1, 32, 112, 112, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1), {"leip_g_conv2d_f32_128x32", "leip_g_conv2d_f32_32x32s4"}},
      {convParams(1, 16, 112, 112, 96, 1, 1, 1, 1, 0, 0, 1, 1, 1), {"leip_g_conv2d_f32_128x32", "leip_g_conv2d_f32_64x64"}},
      // a large batch: big tiles
      {convParams(32, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), {"leip_g_conv2d_f32_64x64", "leip_g_conv2d_f32_128x32"}},
  };
  for (const Case &c : cases) {
    const Launch l = planConv2d(c.p);
    bool ok = false;
    for (const char *name : c.allowed) ok = ok || std::string(l.kernel) == name;
    EXPECT_TRUE(ok) << describe(c.p) << " planned " << l.kernel;
  }
  // Every variant is the plan's choice for some layer of resnet18 / mobilenet_v2 / a Gemm.
  std::vector<bool> chosen(kConvVariantCount, false);
  for (int hw : {224, 112, 56, 28, 14, 7, 1})
    for (int c : {3, 16, 32, 64, 96, 128, 256, 320, 512, 1280})
      for (int k : {16, 24, 64, 128, 256, 512, 1000})
        for (int kernel : {1, 3}) {
          const ConvParams p = convParams(1, c, hw, hw, k, kernel, kernel, 1, 1, kernel / 2, kernel / 2, 1, 1, 1);
          const Launch l = planConv2d(p);
          const int v = variantIndex(l.kernel);
          ASSERT_GE(v, 0) << l.kernel;
          chosen[size_t(v)] = true;
          for (int d = 0; d < 3; ++d) EXPECT_GE(l.grid[d], 1u);
          EXPECT_LE(l.grid[1], 65535u);
          EXPECT_EQ(l.block[0] * l.block[1] * l.block[2], uint32_t(kConvVariants[v].threads()));
        }
  for (int v = 0; v < kConvVariantCount; ++v) EXPECT_TRUE(chosen[size_t(v)]) << kConvVariants[v].kernel << " never chosen";
}

// ---- pooling ------------------------------------------------------------------------------------

PoolParams poolParams(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                      int kind, int includePad) {
  PoolParams p{};
  p.n = n, p.c = c, p.h = h, p.w = w, p.kh = kh, p.kw = kw, p.strideH = sh, p.strideW = sw;
  p.padTop = ph, p.padLeft = pw, p.dilationH = dh, p.dilationW = dw, p.kind = kind, p.countIncludePad = includePad;
  p.oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  p.ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  return p;
}

std::vector<double> poolReference(const PoolParams &p, const std::vector<float> &x) {
  std::vector<double> y(size_t(p.n) * p.c * p.oh * p.ow);
  for (int plane = 0; plane < p.n * p.c; ++plane)
    for (int oy = 0; oy < p.oh; ++oy)
      for (int ox = 0; ox < p.ow; ++ox) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int taps = 0;
        for (int r = 0; r < p.kh; ++r)
          for (int s = 0; s < p.kw; ++s) {
            const int iy = oy * p.strideH - p.padTop + r * p.dilationH;
            const int ix = ox * p.strideW - p.padLeft + s * p.dilationW;
            if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
            const double v = x[(size_t(plane) * p.h + iy) * p.w + ix];
            best = std::max(best, v);
            sum += v;
            ++taps;
          }
        const int count = p.countIncludePad ? p.kh * p.kw : taps;
        y[(size_t(plane) * p.oh + oy) * p.ow + ox] = p.kind == 0 ? best : sum / count;
      }
  return y;
}

void checkPool(const PoolParams &p, uint32_t seed, int expectGroup) {
  const std::vector<float> x = randomFloats(size_t(p.n) * p.c * p.h * p.w, seed);
  std::vector<float> y(size_t(p.n) * p.c * p.oh * p.ow, std::nanf(""));
  const Launch l = planPool2d(p);
  EXPECT_EQ(poolReductionGroup(p), expectGroup);
  emu::launch(l, [&] { leip_g_pool2d_f32(&p, x.data(), y.data()); });
  char what[160];
  std::snprintf(what, sizeof what, "pool kind %d n%d c%d %dx%d window %dx%d stride %d pad %d dil %d includePad %d",
                p.kind, p.n, p.c, p.h, p.w, p.kh, p.kw, p.strideH, p.padTop, p.dilationH, p.countIncludePad);
  expectClose(y, poolReference(p, x), kExact, what);
}

TEST(CudaPool, Windows) {
  checkPool(poolParams(1, 3, 15, 15, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0), 800, 0);  // resnet's max pool
  checkPool(poolParams(2, 5, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0), 801, 0);    // average, pads skipped
  checkPool(poolParams(2, 5, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 802, 0);    // average, pads counted
  checkPool(poolParams(1, 4, 10, 11, 2, 2, 2, 2, 0, 0, 1, 1, 1, 0), 803, 0);  // 2x2 stride 2
  checkPool(poolParams(1, 3, 12, 12, 3, 2, 1, 2, 2, 1, 2, 3, 0, 0), 804, 0);  // dilated, uneven
  checkPool(poolParams(3, 40, 10, 10, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0), 805, 0); // several blocks
}

TEST(CudaPool, WholePlanes) {
  checkPool(poolParams(1, 37, 7, 7, 7, 7, 1, 1, 0, 0, 1, 1, 1, 0), 810, 32); // GlobalAveragePool 7x7
  checkPool(poolParams(2, 9, 9, 11, 9, 11, 1, 1, 0, 0, 1, 1, 0, 0), 811, 32); // GlobalMaxPool
  checkPool(poolParams(1, 3, 50, 45, 50, 45, 1, 1, 0, 0, 1, 1, 1, 0), 812, 256);
  checkPool(poolParams(1, 2, 64, 64, 64, 64, 1, 1, 0, 0, 1, 1, 0, 0), 813, 256);
  checkPool(poolParams(2, 6, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0), 814, 0);    // too small to share
  // More planes than one grid covers: the grid-stride loop of the shared reduction.
  PoolParams p = poolParams(2, 600, 5, 5, 5, 5, 1, 1, 0, 0, 1, 1, 1, 0);
  const std::vector<float> x = randomFloats(size_t(p.n) * p.c * 25, 815);
  std::vector<float> y(size_t(p.n) * p.c, std::nanf(""));
  Launch l = planPool2d(p);
  l.grid[0] = 7;
  emu::launch(l, [&] { leip_g_pool2d_f32(&p, x.data(), y.data()); });
  expectClose(y, poolReference(p, x), kExact, "global average on 7 blocks");
}

// ---- elementwise ----------------------------------------------------------------------------------

/// BinaryParams as the compiler builds them: y's dims right-aligned in kMaxRank dims, and
/// element strides of a and b with 0 along broadcast dims (numpy rules).
BinaryParams binaryParams(int op, const std::vector<int64_t> &ys, const std::vector<int64_t> &as,
                          const std::vector<int64_t> &bs, Activation act = {}) {
  BinaryParams p{};
  p.op = op;
  p.rank = kMaxRank;
  p.count = 1;
  auto strides = [&](const std::vector<int64_t> &s, int64_t *out) {
    int64_t stride = 1;
    for (int d = kMaxRank - 1, i = int(s.size()) - 1; d >= 0; --d, --i) {
      const int64_t dim = i >= 0 ? s[size_t(i)] : 1;
      out[d] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  };
  for (int d = kMaxRank - 1, i = int(ys.size()) - 1; d >= 0; --d, --i) {
    p.dims[d] = i >= 0 ? ys[size_t(i)] : 1;
    p.count *= p.dims[d];
  }
  strides(as, p.strideA);
  strides(bs, p.strideB);
  p.act = act;
  return p;
}

double binaryRef(int op, double a, double b) {
  switch (op) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  case 3: return a / b;
  case 4: return std::max(a, b);
  case 5: return std::min(a, b);
  default: return std::pow(a, b);
  }
}

void checkBinary(const BinaryParams &p, const std::vector<float> &a, const std::vector<float> &b, double tol,
                 const std::string &what, const Launch *custom = nullptr) {
  std::vector<double> want(size_t(p.count));
  for (int64_t i = 0; i < p.count; ++i) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = kMaxRank - 1; d >= 0; --d) {
      const int64_t at = rest % p.dims[d];
      rest /= p.dims[d];
      ia += at * p.strideA[d];
      ib += at * p.strideB[d];
    }
    want[size_t(i)] = activateRef(binaryRef(p.op, a[size_t(ia)], b[size_t(ib)]), p.act);
  }
  std::vector<float> y(size_t(p.count), std::nanf(""));
  const Launch l = custom ? *custom : planBinary(p);
  emu::launch(l, [&] { leip_g_binary_f32(&p, a.data(), b.data(), y.data()); });
  expectClose(y, want, tol, what);
}

int64_t product(const std::vector<int64_t> &s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

TEST(CudaElementwise, BinaryBroadcasting) {
  struct Shapes {
    std::vector<int64_t> y, a, b;
  };
  const Shapes shapes[] = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}}, // same shape
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {1, 3, 1, 5}}, // b broadcast along two dims
      {{4, 1, 6}, {4, 1, 6}, {6}},                // a bias row
      {{3, 7, 5}, {3, 1, 5}, {7, 1}},             // both broadcast
      {{1000}, {1000}, {1}},                      // a scalar
      {{2, 2, 2, 2, 3, 5}, {2, 1, 2, 1, 3, 5}, {1, 2, 1, 2, 3, 1}}, // six dims
  };
  uint32_t seed = 900;
  for (int op = 0; op <= 6; ++op)
    for (const Shapes &s : shapes) {
      std::vector<float> a = randomFloats(size_t(product(s.a)), seed++, -2.0f, 2.0f);
      std::vector<float> b = randomFloats(size_t(product(s.b)), seed++, -2.0f, 2.0f);
      if (op == 3)
        for (float &v : b) v = v < 0 ? v - 0.5f : v + 0.5f; // no division by ~0
      if (op == 6) {
        for (float &v : a) v = std::fabs(v) + 0.1f; // positive bases, any exponent
      }
      const Activation act = kActivations[size_t(seed % 9)];
      const double tol = op == 6 || isTranscendental(act) ? kApprox : kExact;
      checkBinary(binaryParams(op, s.y, s.a, s.b, act), a, b, tol,
                  "op " + std::to_string(op) + " act " + std::to_string(act.kind) + " y " + std::to_string(s.y.size()) +
                      "-D");
    }
}

TEST(CudaElementwise, BinarySpecialValues) {
  // Pow: negative bases with integer exponents, 0 and 1 exponents, zero bases, NaN results.
  const std::vector<float> a = {-2.0f, -2.0f, -3.0f, 0.0f, 0.0f, 5.0f, -1.5f, 4.0f, 9.0f, 2.0f, -0.5f, 1.0f};
  const std::vector<float> b = {3.0f, 2.0f, 0.0f, 2.5f, -1.0f, 1.0f, 0.5f, 0.5f, -0.5f, 10.0f, -3.0f, 123.4f};
  checkBinary(binaryParams(6, {12}, {12}, {12}), a, b, kApprox, "pow special values");
  // Max/Min propagate NaN from either side.
  const float nan = std::nanf("");
  std::vector<float> x = {1.0f, nan, 3.0f, nan}, z = {nan, 2.0f, -1.0f, nan};
  for (int op : {4, 5}) {
    BinaryParams p = binaryParams(op, {4}, {4}, {4});
    std::vector<float> y(4);
    emu::launch(planBinary(p), [&] { leip_g_binary_f32(&p, x.data(), z.data(), y.data()); });
    EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]) && std::isnan(y[3])) << "op " << op;
    EXPECT_EQ(y[2], op == 4 ? 3.0f : -1.0f);
  }
  // More elements than the grid's threads: the grid-stride loop.
  BinaryParams p = binaryParams(0, {3, 700}, {3, 700}, {700});
  const Launch small{"leip_g_binary_f32", {2, 1, 1}, {128, 1, 1}};
  checkBinary(p, randomFloats(2100, 950), randomFloats(700, 951), kExact, "add on 2 blocks", &small);
}

double unaryRef(int op, double x) {
  switch (op) {
  case 1: return std::exp(x);
  case 2: return std::log(x);
  case 3: return std::sqrt(x);
  case 4: return -x;
  case 5: return std::fabs(x);
  case 6: return 1 / x;
  case 7: return std::floor(x);
  case 8: return std::ceil(x);
  case 9: return std::erf(x);
  case 10: return std::log1p(std::exp(x));
  default: return x;
  }
}

void checkUnary(int op, const Activation &act, const std::vector<float> &x, double tol) {
  UnaryParams p{};
  p.op = op;
  p.count = int64_t(x.size());
  p.act = act;
  std::vector<double> want(x.size());
  // The kernel rounds f(x) to float before the activation (exp(100) is inf).
  for (size_t i = 0; i < x.size(); ++i) want[i] = activateRef(double(float(unaryRef(op, x[i]))), act);
  std::vector<float> y(x.size(), std::nanf(""));
  emu::launch(planUnary(p), [&] { leip_g_unary_f32(&p, x.data(), y.data()); });
  expectClose(y, want, tol, "unary op " + std::to_string(op) + " act " + std::to_string(act.kind));
}

TEST(CudaElementwise, Unary) {
  uint32_t seed = 1000;
  const int n = 3001; // several blocks, a partial last one
  for (int op = 1; op <= 10; ++op) {
    std::vector<float> x = randomFloats(n, seed++, -6.0f, 6.0f);
    if (op == 2 || op == 3)
      for (float &v : x) v = std::fabs(v) + 1e-3f;
    if (op == 6)
      for (float &v : x) v = v < 0 ? v - 0.25f : v + 0.25f;
    const bool approx = op == 1 || op == 2 || op == 9 || op == 10;
    checkUnary(op, {}, x, approx ? kApprox : kExact);
    checkUnary(op, kActivations[size_t(op % 9)], x, kApprox);
  }
  // Exp and Softplus far out: overflow to inf, underflow to 0, no NaN.
  checkUnary(1, {}, {-100.0f, -90.0f, 0.0f, 80.0f, 100.0f}, kApprox);
  checkUnary(10, {}, {-100.0f, -20.0f, -1e-3f, 0.0f, 1e-3f, 20.0f, 100.0f}, kApprox);
  // Erf across the series/approximation boundary and in the tails; Log of tiny and large values.
  checkUnary(9, {}, {-5.0f, -0.5001f, -0.4999f, -1e-4f, 0.0f, 1e-4f, 0.4999f, 0.5001f, 3.0f}, kApprox);
  checkUnary(2, {}, {1e-30f, 1e-3f, 0.999f, 1.0f, 1.001f, 1e30f}, kApprox);
}

TEST(CudaElementwise, StandaloneActivations) {
  uint32_t seed = 1100;
  for (const Activation &act : kActivations) {
    std::vector<float> x = randomFloats(2000, seed++, -8.0f, 8.0f);
    x.insert(x.end(), {0.0f, -0.0f, 0.29f, 0.31f, -0.29f, -0.31f, 30.0f, -30.0f, 100.0f, -100.0f});
    checkUnary(0, act, x, isTranscendental(act) ? kApprox : kExact);
  }
  // Near zero Tanh and Sigmoid keep their relative accuracy (no cancellation).
  std::vector<float> small = randomFloats(500, 1199, -0.3f, 0.3f);
  checkUnary(0, {7, 0, 0}, small, kApprox);
}

// ---- softmax -----------------------------------------------------------------------------------------

void checkSoftmax(int64_t outer, int64_t axis, int64_t inner, bool logSoftmax, float spread, int expectGroup,
                  uint32_t seed) {
  SoftmaxParams p{};
  p.outer = outer, p.axis = axis, p.inner = inner, p.logSoftmax = logSoftmax;
  EXPECT_EQ(softmaxGroup(p), expectGroup);
  const std::vector<float> x = randomFloats(size_t(outer * axis * inner), seed, -spread, spread);
  std::vector<double> want(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t i) { return size_t((o * axis + i) * inner + in); };
      double mx = -INFINITY, sum = 0;
      for (int64_t i = 0; i < axis; ++i) mx = std::max(mx, double(x[at(i)]));
      for (int64_t i = 0; i < axis; ++i) sum += std::exp(x[at(i)] - mx);
      for (int64_t i = 0; i < axis; ++i)
        want[at(i)] = logSoftmax ? x[at(i)] - mx - std::log(sum) : std::exp(x[at(i)] - mx) / sum;
    }
  std::vector<float> y(x.size(), std::nanf(""));
  emu::launch(planSoftmax(p), [&] { leip_g_softmax_f32(&p, x.data(), y.data()); });
  expectClose(y, want, kApprox,
              "softmax [" + std::to_string(outer) + "," + std::to_string(axis) + "," + std::to_string(inner) + "]" +
                  (logSoftmax ? " log" : ""));
}

TEST(CudaSoftmax, Axes) {
  for (bool log : {false, true}) {
    checkSoftmax(300, 10, 1, log, 5.0f, 1, 1200);    // short rows: a thread per row, two blocks
    checkSoftmax(3, 1000, 1, log, 5.0f, 32, 1201);   // classifier logits: 32 threads per row
    checkSoftmax(2, 3000, 1, log, 5.0f, 256, 1202);  // long rows: a block per row
    checkSoftmax(2, 50, 7, log, 5.0f, 32, 1203);     // a middle axis, strided rows
    checkSoftmax(3, 40, 33, log, 5.0f, 1, 1204);     // a middle axis, adjacent rows
    checkSoftmax(1, 5, 400, log, 5.0f, 1, 1205);     // the first axis of [5, 400]
    checkSoftmax(4, 100, 1, log, 500.0f, 32, 1206);  // large logits: exp would overflow unshifted
  }
}

// ---- copies ---------------------------------------------------------------------------------------------

/// CopyParams for a row-major view `dims` of src (strides srcStrides, from srcBase) into
/// dst (dstStrides, from dstBase), right-aligned in kMaxRank dims.
CopyParams copyParams(int bytes, const std::vector<int64_t> &dims, const std::vector<int64_t> &srcStrides,
                      const std::vector<int64_t> &dstStrides, int64_t srcBase, int64_t dstBase) {
  CopyParams p{};
  p.elementBytes = bytes;
  p.rank = kMaxRank;
  p.count = 1;
  p.srcBase = srcBase;
  p.dstBase = dstBase;
  const int lead = kMaxRank - int(dims.size());
  for (int d = 0; d < kMaxRank; ++d) {
    const bool real = d >= lead;
    p.dims[d] = real ? dims[size_t(d - lead)] : 1;
    p.srcStrides[d] = real ? srcStrides[size_t(d - lead)] : 0;
    p.dstStrides[d] = real ? dstStrides[size_t(d - lead)] : 0;
    p.count *= p.dims[d];
  }
  return p;
}

template <typename T> void checkCopy(const CopyParams &p, size_t srcElems, size_t dstElems, const Launch *custom = nullptr) {
  std::vector<T> src(srcElems), dst(dstElems), want(dstElems);
  std::mt19937_64 gen(uint64_t(p.count) * 31 + sizeof(T));
  for (T &v : src) v = static_cast<T>(gen());
  for (size_t i = 0; i < dstElems; ++i) dst[i] = want[i] = static_cast<T>(~i);
  for (int64_t i = 0; i < p.count; ++i) {
    int64_t rest = i, is = p.srcBase, id = p.dstBase;
    for (int d = kMaxRank - 1; d >= 0; --d) {
      const int64_t at = rest % p.dims[d];
      rest /= p.dims[d];
      is += at * p.srcStrides[d];
      id += at * p.dstStrides[d];
    }
    want[size_t(id)] = src[size_t(is)];
  }
  const Launch l = custom ? *custom : planCopy(p);
  emu::launch(l, [&] { leip_g_copy(&p, src.data(), dst.data()); });
  size_t bad = 0;
  for (size_t i = 0; i < dstElems; ++i) bad += dst[i] != want[i];
  EXPECT_EQ(bad, 0u) << sizeof(T) << "-byte copy of " << p.count << " elements";
}

template <typename T> void copyCases() {
  // A plain copy (Reshape): several blocks.
  checkCopy<T>(copyParams(sizeof(T), {1500}, {1}, {1}, 0, 0), 1500, 1500);
  // Transpose [2,3,4,5] -> perm (0,2,3,1): y[n][h][w][c] = x[n][c][h][w].
  checkCopy<T>(copyParams(sizeof(T), {2, 4, 5, 3}, {60, 5, 1, 20}, {60, 15, 3, 1}, 0, 0), 120, 120);
  // Transpose of a matrix (perm (1,0)).
  checkCopy<T>(copyParams(sizeof(T), {17, 13}, {1, 17}, {13, 1}, 0, 0), 221, 221);
  // Slice x[1:3, 2:7:2] of [4, 9] into a [2,3] tensor.
  checkCopy<T>(copyParams(sizeof(T), {2, 3}, {9, 2}, {3, 1}, 9 + 2, 0), 36, 6);
  // Concat: the second input [2,3,4] at offset 5 along axis 1 of y [2,8,4].
  checkCopy<T>(copyParams(sizeof(T), {2, 3, 4}, {12, 4, 1}, {32, 4, 1}, 0, 5 * 4), 24, 64);
  // Grid-stride: 3 blocks of 32 threads over 1000 elements.
  const Launch small{"leip_g_copy", {3, 1, 1}, {32, 1, 1}};
  checkCopy<T>(copyParams(sizeof(T), {10, 100}, {1, 10}, {100, 1}, 0, 0), 1000, 1000, &small);
}

TEST(CudaCopy, ElementSizesAndViews) {
  copyCases<uint8_t>();
  copyCases<uint16_t>();
  copyCases<uint32_t>();
  copyCases<uint64_t>();
}

// ---- plans ------------------------------------------------------------------------------------------------

TEST(CudaPlans, GridsStayWithinLimits) {
  BinaryParams b = binaryParams(0, {int64_t(1) << 33}, {int64_t(1) << 33}, {1});
  Launch l = planBinary(b);
  EXPECT_LE(l.grid[0], uint32_t(kMaxStreamBlocks));
  EXPECT_EQ(l.block[0], uint32_t(kBlockThreads));
  UnaryParams u{};
  u.count = 1;
  EXPECT_EQ(planUnary(u).grid[0], 1u);
  SoftmaxParams s{};
  s.outer = 1 << 30, s.axis = 100, s.inner = 1;
  EXPECT_LE(planSoftmax(s).grid[0], uint32_t(kMaxStreamBlocks));
  // Groups go along grid.z.
  ConvParams p = convParams(1, 2048, 8, 8, 4096, 3, 3, 1, 1, 1, 1, 1, 1, 1024);
  l = planConv2d(p);
  EXPECT_LE(l.grid[1], 65535u);
  EXPECT_EQ(l.grid[2], 1024u);
  EXPECT_EQ(l.block[1], 1u);
}

// ---- PTX -----------------------------------------------------------------------------------------------------

/// The linked device bitcode through LLVM's NVPTX backend and NVIDIA's assembler for every
/// architecture leip accepts (the PTX version each arch needs at least).
TEST(CudaPtx, AssemblesForEveryArch) {
  const char *ptxas = "/usr/local/cuda/bin/ptxas";
  if (!std::filesystem::exists(ptxas)) GTEST_SKIP() << "no " << ptxas << " (the CUDA toolkit's assembler) here";
  const std::string bitcode = LEIP_CUDA_DEVICE_BITCODE;
  ASSERT_TRUE(std::filesystem::exists(bitcode)) << bitcode << " (build target leip_bitcode)";
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("leip_cuda_ptx_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::pair<const char *, const char *> arches[] = {
      {"sm_75", "ptx63"}, {"sm_80", "ptx70"}, {"sm_86", "ptx71"}, {"sm_89", "ptx78"}, {"sm_90", "ptx78"}};
  // One llc | ptxas pipeline per arch, concurrently.
  std::vector<int> llcStatus(std::size(arches)), ptxasStatus(std::size(arches));
  std::vector<std::thread> jobs;
  for (size_t i = 0; i < std::size(arches); ++i)
    jobs.emplace_back([&, i] {
      const std::string arch = arches[i].first, ptx = arches[i].second;
      const std::string base = (dir / arch).string();
      const std::string llc = "llc-16 -O3 -march=nvptx64 -mcpu=" + arch + " -mattr=+" + ptx + " '" + bitcode + "' -o '" +
                              base + ".ptx' > '" + base + ".llc.log' 2>&1";
      llcStatus[i] = std::system(llc.c_str());
      // -c: the kernels are device functions (the compiler adds the entries), so no
      // whole-program link.
      const std::string as = std::string(ptxas) + " -c -arch=" + arch + " '" + base + ".ptx' -o '" + base +
                             ".o' > '" + base + ".ptxas.log' 2>&1";
      ptxasStatus[i] = llcStatus[i] == 0 ? std::system(as.c_str()) : -1;
    });
  for (std::thread &job : jobs) job.join();
  for (size_t i = 0; i < std::size(arches); ++i) {
    const std::string arch = arches[i].first, base = (dir / arch).string();
    EXPECT_EQ(llcStatus[i], 0) << arch << ": llc failed, see " << base << ".llc.log";
    EXPECT_EQ(ptxasStatus[i], 0) << arch << ": ptxas failed, see " << base << ".ptxas.log";
    // No call may leave the module: there is no libdevice or libm on the device.
    FILE *f = std::fopen((base + ".ptx").c_str(), "r");
    ASSERT_NE(f, nullptr) << arch;
    char line[4096];
    while (std::fgets(line, sizeof line, f)) EXPECT_EQ(std::strstr(line, ".extern .func"), nullptr) << arch << ": " << line;
    std::fclose(f);
  }
  if (HasFailure()) return; // keep the logs
  std::filesystem::remove_all(dir);
}

} // namespace
