// GridSample (opset 16) on X [N, C, H, W] with grid [N, OH, OW, 2], as the reference kernel
// (src/interp/kernels/NN.cpp, GridSampler) computes it: the grid's normalized (x, y) becomes
// an input coordinate; each interpolation tap outside the input reads 0 (zeros), the nearest
// edge pixel (border) or its mirror image (reflection). Tasks are (n, oh) rows of output
// positions; each position's taps are computed once and applied to every channel.
#include "Kernels.h"

namespace {

enum Mode : int32_t { kBilinear = 0, kNearest = 1, kBicubic = 2 };
enum Padding : int32_t { kZeros = 0, kBorder = 1, kReflection = 2 };

struct Taps {
  int64_t index[4]; // -1: a zero from padding
  float weight[4];
  int count = 0;
};

struct Sampler {
  int32_t mode, padding, alignCorners;

  /// Mirrors x into [lo, hi] (repeatedly, for coordinates far outside).
  static float reflect(float x, float lo, float hi) {
    const float range = hi - lo;
    if (!(range > 0)) return lo;
    if (x < lo) {
      const float d = lo - x;
      const auto n = static_cast<int64_t>(d / range);
      const float r = d - static_cast<float>(n) * range;
      return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
      const float d = x - hi;
      const auto n = static_cast<int64_t>(d / range);
      const float r = d - static_cast<float>(n) * range;
      return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
  }

  float coordinate(float v, int64_t len) const {
    const auto n = static_cast<float>(len);
    float x = alignCorners ? (v + 1) / 2 * (n - 1) : ((v + 1) * n - 1) / 2;
    constexpr float kFar = 1e12f; // keeps integer conversions defined (NaN included)
    x = x != x ? -kFar : x < -kFar ? -kFar : x > kFar ? kFar : x;
    return mode == kNearest ? nearbyintf(x) : x;
  }

  int64_t tap(int64_t i, int64_t len) const {
    if (i >= 0 && i < len) return i;
    if (padding == kZeros || len == 0) return -1;
    if (padding == kReflection) {
      const float lo = alignCorners ? 0.0f : -0.5f;
      const float hi = alignCorners ? static_cast<float>(len - 1) : static_cast<float>(len) - 0.5f;
      i = static_cast<int64_t>(reflect(static_cast<float>(i), lo, hi));
    }
    return i < 0 ? 0 : i >= len ? len - 1 : i;
  }

  Taps taps(float v, int64_t len) const {
    const float x = coordinate(v, len);
    Taps t;
    auto add = [&](int64_t i, double w) {
      t.index[t.count] = tap(i, len);
      t.weight[t.count++] = static_cast<float>(w);
    };
    if (mode == kNearest) {
      add(static_cast<int64_t>(x), 1.0);
      return t;
    }
    const double base = floorf(x), ratio = x - base;
    const auto i0 = static_cast<int64_t>(base);
    if (mode == kBilinear) {
      add(i0, 1.0 - ratio);
      add(i0 + 1, ratio);
    } else { // cubic convolution with a = -0.75, the reference's coefficients
      const double a = -0.75, r1 = ratio + 1, r0 = ratio, s0 = 1 - ratio, s1 = 2 - ratio;
      add(i0 - 1, ((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a);
      add(i0, ((a + 2) * r0 - (a + 3)) * r0 * r0 + 1);
      add(i0 + 1, ((a + 2) * s0 - (a + 3)) * s0 * s0 + 1);
      add(i0 + 2, ((a * s1 - 5 * a) * s1 + 8 * a) * s1 - 4 * a);
    }
    return t;
  }
};

} // namespace

extern "C" void leip_k_grid_sample_f32(const float *__restrict x, const float *__restrict grid, float *__restrict y,
                                       int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int32_t mode,
                                       int32_t padding, int32_t alignCorners, int64_t begin, int64_t end) {
  const Sampler sampler{mode, padding, alignCorners};
  const int64_t outPlane = OH * OW, inPlane = H * W;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t n = task / OH;
    for (int64_t p = (task % OH) * OW; p < (task % OH + 1) * OW; ++p) {
      const float *g = grid + (n * outPlane + p) * 2; // (x, y) normalized to [-1, 1]
      const Taps tx = sampler.taps(g[0], W), ty = sampler.taps(g[1], H);
      for (int64_t c = 0; c < C; ++c) {
        const float *__restrict plane = x + (n * C + c) * inPlane;
        float sum = 0.0f;
        for (int j = 0; j < ty.count; ++j) {
          if (ty.index[j] < 0) continue;
          for (int i = 0; i < tx.count; ++i)
            if (tx.index[i] >= 0) sum += ty.weight[j] * tx.weight[i] * plane[ty.index[j] * W + tx.index[i]];
        }
        y[(n * C + c) * outPlane + p] = sum;
      }
    }
  }
}
