// Normalizations: BatchNormalization (inference, parameters known only at run time; constant
// ones are folded away by the passes), InstanceNormalization, LayerNormalization,
// MeanVarianceNormalization and LRN. As in the reference kernels (src/interp/kernels/NN.cpp)
// statistics are two-pass means and biased variances in double; the per-element pass is f32.
#include "Sums.h"

using namespace leip::kernels;

/// y = x * a + b per channel, a = scale / sqrt(var + eps), b = bias - mean * a (computed in
/// double, as the reference does). Tasks are (n, c) planes of `plane` elements.
extern "C" void leip_k_batchnorm_f32(const float *__restrict x, const float *__restrict scale,
                                     const float *__restrict bias, const float *__restrict mean,
                                     const float *__restrict var, float *__restrict y, int64_t C, int64_t plane,
                                     float eps, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t c = task % C;
    const double mul = scale[c] / __builtin_sqrt(static_cast<double>(var[c]) + static_cast<double>(eps));
    const float a = static_cast<float>(mul), b = static_cast<float>(bias[c] - mean[c] * mul);
    const float *__restrict src = x + task * plane;
    float *__restrict dst = y + task * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = src[i] * a + b;
  }
}

/// InstanceNormalization: each (n, c) plane (a task) normalized by its own mean and
/// variance, then scaled and shifted by the channel's scale and bias.
extern "C" void leip_k_instancenorm_f32(const float *__restrict x, const float *__restrict scale,
                                        const float *__restrict bias, float *__restrict y, int64_t C, int64_t plane,
                                        float eps, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t c = task % C;
    const float *__restrict src = x + task * plane;
    float *__restrict dst = y + task * plane;
    const double m = sumF64(src, plane) / static_cast<double>(plane);
    const double var = squaredDeviationF64(src, plane, m) / static_cast<double>(plane);
    const float a = static_cast<float>(scale[c] / __builtin_sqrt(var + static_cast<double>(eps)));
    const float mf = static_cast<float>(m), b = bias[c];
    for (int64_t i = 0; i < plane; ++i) dst[i] = (src[i] - mf) * a + b;
  }
}

/// LayerNormalization: rows of `len` elements (tasks) normalized to zero mean and unit
/// variance, times scale and plus bias (bias may be null). scaleAt/biasAt give each row
/// position's element of a Scale/B that broadcasts to the row; null when they are full rows.
/// mean/invStdDev (null when unused) receive one value per row.
extern "C" void leip_k_layernorm_f32(const float *__restrict x, const float *__restrict scale,
                                     const float *__restrict bias, float *__restrict y, float *__restrict mean,
                                     float *__restrict invStdDev, const int64_t *__restrict scaleAt,
                                     const int64_t *__restrict biasAt, int64_t len, float eps, int64_t begin,
                                     int64_t end) {
  for (int64_t row = begin; row < end; ++row) {
    const float *__restrict src = x + row * len;
    float *__restrict dst = y + row * len;
    const double m = sumF64(src, len) / static_cast<double>(len);
    const double var = squaredDeviationF64(src, len, m) / static_cast<double>(len);
    const double inv = 1.0 / __builtin_sqrt(var + static_cast<double>(eps));
    if (mean) mean[row] = static_cast<float>(m);
    if (invStdDev) invStdDev[row] = static_cast<float>(inv);
    const float mf = static_cast<float>(m), invf = static_cast<float>(inv);
    if (!scaleAt) {
      for (int64_t j = 0; j < len; ++j) dst[j] = (src[j] - mf) * invf * scale[j];
    } else {
      for (int64_t j = 0; j < len; ++j) dst[j] = (src[j] - mf) * invf * scale[scaleAt[j]];
    }
    if (bias && !biasAt) {
      for (int64_t j = 0; j < len; ++j) dst[j] += bias[j];
    } else if (bias) {
      for (int64_t j = 0; j < len; ++j) dst[j] += bias[biasAt[j]];
    }
  }
}

namespace {

/// Calls f(offset, run) for every contiguous run of a group of a MeanVarianceNormalization:
/// r[0..4) are the reduced dims (merged, innermost last) and r[4..8) their strides.
template <typename F> inline void forEachRun(const int64_t *__restrict r, int64_t base, F f) {
  for (int64_t i0 = 0; i0 < r[0]; ++i0)
    for (int64_t i1 = 0; i1 < r[1]; ++i1)
      for (int64_t i2 = 0; i2 < r[2]; ++i2) {
        const int64_t off = base + i0 * r[4] + i1 * r[5] + i2 * r[6];
        if (r[7] == 1) {
          f(off, r[3]);
        } else {
          for (int64_t i3 = 0; i3 < r[3]; ++i3) f(off + i3 * r[7], 1);
        }
      }
}

} // namespace

/// MeanVarianceNormalization: (x - mean) / (sqrt(variance) + 1e-9) over groups that share
/// the kept coordinates. geom: [kept dims 4, kept strides 4, reduced dims 4, reduced strides
/// 4] (element strides of x and y). Tasks are groups.
extern "C" void leip_k_mvn_f32(const float *__restrict x, float *__restrict y, const int64_t *__restrict geom,
                               int64_t begin, int64_t end) {
  const int64_t *__restrict k = geom;
  const int64_t *__restrict r = geom + 8;
  const double count = static_cast<double>(r[0] * r[1] * r[2] * r[3]);
  for (int64_t g = begin; g < end; ++g) {
    const int64_t base = (g / (k[1] * k[2] * k[3])) * k[4] + (g / (k[2] * k[3]) % k[1]) * k[5] +
                         (g / k[3] % k[2]) * k[6] + (g % k[3]) * k[7];
    double sum = 0.0;
    forEachRun(r, base, [&](int64_t off, int64_t n) { sum += sumF64(x + off, n); });
    const double m = sum / count;
    double sq = 0.0;
    forEachRun(r, base, [&](int64_t off, int64_t n) { sq += squaredDeviationF64(x + off, n, m); });
    const float mf = static_cast<float>(m);
    const float inv = static_cast<float>(1.0 / (__builtin_sqrt(sq / count) + 1e-9));
    forEachRun(r, base, [&](int64_t off, int64_t n) {
      for (int64_t i = 0; i < n; ++i) y[off + i] = (x[off + i] - mf) * inv;
    });
  }
}

/// LRN across channels: y = x / (bias + alpha / size * sum of x^2 over the channel window
/// [c - before, c + after])^beta. Tasks are (n, c) planes; the plane is walked in chunks
/// whose squared sums stay on the stack.
extern "C" void leip_k_lrn_f32(const float *__restrict x, float *__restrict y, int64_t C, int64_t plane,
                               int64_t before, int64_t after, float alphaOverSize, float beta, float bias,
                               int64_t begin, int64_t end) {
  constexpr int64_t kChunk = 256;
  float sq[kChunk];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t c = task % C, n = task / C;
    const int64_t c0 = c - before < 0 ? 0 : c - before, c1 = c + after >= C ? C - 1 : c + after;
    for (int64_t i0 = 0; i0 < plane; i0 += kChunk) {
      const int64_t len = plane - i0 < kChunk ? plane - i0 : kChunk;
      for (int64_t i = 0; i < len; ++i) sq[i] = 0.0f;
      for (int64_t cc = c0; cc <= c1; ++cc) {
        const float *__restrict src = x + (n * C + cc) * plane + i0;
        for (int64_t i = 0; i < len; ++i) sq[i] += src[i] * src[i];
      }
      const float *__restrict src = x + task * plane + i0;
      float *__restrict dst = y + task * plane + i0;
      for (int64_t i = 0; i < len; ++i) dst[i] = src[i] / powf(bias + alphaOverSize * sq[i], beta);
    }
  }
}
