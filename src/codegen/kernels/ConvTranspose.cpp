// ConvTranspose over 1 to 3 spatial dims (the compiler pads to 3 with dims of size 1):
// input position i adds x[i] * w[k] into output position i * stride - pad + k * dilation.
// Tasks are (image, group, block of up to 4 output channels, output row (od, oh)): for each
// output row the kernel finds the input rows and taps that reach it, so every output
// element is computed by exactly one task (bias + sum over (kd, kh), input channel, kw in
// that order, whatever the split), accumulating in the rows while they are in L1.
#include "Kernels.h"

using namespace leip::kernels;

namespace {

constexpr int64_t kBlock = 4; // output channels per task: one input row feeds 4 output rows

/// Geometry layout (3 values each, depth, height, width): input dims, output dims, kernel,
/// strides, dilations, leading pads.
struct Geometry {
  const int64_t *g;
  int64_t in(int d) const { return g[d]; }
  int64_t out(int d) const { return g[3 + d]; }
  int64_t kernel(int d) const { return g[6 + d]; }
  int64_t stride(int d) const { return g[9 + d]; }
  int64_t dilation(int d) const { return g[12 + d]; }
  int64_t pad(int d) const { return g[15 + d]; }
};

/// The input coordinate whose tap k lands on output coordinate o along dim d, or -1.
inline int64_t sourceOf(const Geometry &g, int d, int64_t o, int64_t k) {
  const int64_t t = o + g.pad(d) - k * g.dilation(d);
  if (t < 0 || t % g.stride(d) != 0) return -1;
  const int64_t i = t / g.stride(d);
  return i < g.in(d) ? i : -1;
}

template <int NB>
inline void accumulateRow(const float *__restrict xr, float *__restrict *rows, const float *wv, int64_t jlo,
                          int64_t jhi, int64_t stride, int64_t offset) {
  float *__restrict r0 = rows[0];
  float *__restrict r1 = rows[NB > 1 ? 1 : 0];
  float *__restrict r2 = rows[NB > 2 ? 2 : 0];
  float *__restrict r3 = rows[NB > 3 ? 3 : 0];
  if (stride == 1) {
    for (int64_t j = jlo; j < jhi; ++j) {
      const float v = xr[j];
      r0[j + offset] += wv[0] * v;
      if (NB > 1) r1[j + offset] += wv[1] * v;
      if (NB > 2) r2[j + offset] += wv[2] * v;
      if (NB > 3) r3[j + offset] += wv[3] * v;
    }
  } else {
    for (int64_t j = jlo; j < jhi; ++j) {
      const float v = xr[j];
      const int64_t o = j * stride + offset;
      r0[o] += wv[0] * v;
      if (NB > 1) r1[o] += wv[1] * v;
      if (NB > 2) r2[o] += wv[2] * v;
      if (NB > 3) r3[o] += wv[3] * v;
    }
  }
}

template <int NB>
void outputRows(const float *__restrict x, const float *__restrict w, const Geometry &g, float *__restrict *rows,
                int64_t n, int64_t C, int64_t ic0, int64_t inCg, int64_t outCg, int64_t ocg0, int64_t od,
                int64_t oh) {
  const int64_t ID = g.in(0), IH = g.in(1), IW = g.in(2), OW = g.out(2);
  const int64_t KD = g.kernel(0), KH = g.kernel(1), KW = g.kernel(2), K = KD * KH * KW;
  const int64_t sW = g.stride(2), dW = g.dilation(2), pW = g.pad(2);
  for (int64_t kd = 0; kd < KD; ++kd) {
    const int64_t id = sourceOf(g, 0, od, kd);
    if (id < 0) continue;
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = sourceOf(g, 1, oh, kh);
      if (ih < 0) continue;
      for (int64_t ic = 0; ic < inCg; ++ic) {
        const float *__restrict xr = x + (((n * C + ic0 + ic) * ID + id) * IH + ih) * IW;
        // w is [C, outCg, KD, KH, KW].
        const float *__restrict wk = w + ((ic0 + ic) * outCg + ocg0) * K + (kd * KH + kh) * KW;
        for (int64_t kw = 0; kw < KW; ++kw) {
          // Input columns j with 0 <= j * sW - pW + kw * dW < OW.
          const int64_t offset = kw * dW - pW;
          int64_t jlo = offset >= 0 ? 0 : (-offset + sW - 1) / sW;
          int64_t jhi = OW - 1 - offset < 0 ? 0 : (OW - 1 - offset) / sW + 1;
          if (jhi > IW) jhi = IW;
          if (jlo >= jhi) continue;
          float wv[kBlock];
          for (int b = 0; b < NB; ++b) wv[b] = wk[b * K + kw];
          accumulateRow<NB>(xr, rows, wv, jlo, jhi, sW, offset);
        }
      }
    }
  }
}

} // namespace

/// x [N, C, ID, IH, IW], w [C, outCg, KD, KH, KW], bias [group * outCg] or null,
/// y [N, group * outCg, OD, OH, OW]; geom as in Geometry.
extern "C" void leip_k_conv_transpose_f32(const float *__restrict x, const float *__restrict w,
                                          const float *__restrict bias, float *__restrict y,
                                          const int64_t *__restrict geom, int64_t C, int64_t group,
                                          int64_t outCg, int32_t activation, float actAlpha, float actBeta,
                                          int64_t begin, int64_t end) {
  const Geometry g{geom};
  const int64_t OD = g.out(0), OH = g.out(1), OW = g.out(2);
  const int64_t inCg = C / group, M = group * outCg;
  const int64_t blocks = (outCg + kBlock - 1) / kBlock;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t oh = task % OH, od = task / OH % OD;
    const int64_t block = task / (OH * OD) % blocks, gi = task / (OH * OD * blocks) % group;
    const int64_t n = task / (OH * OD * blocks * group);
    const int64_t ocg0 = block * kBlock;
    const int64_t nb = outCg - ocg0 < kBlock ? outCg - ocg0 : kBlock;
    float *rows[kBlock];
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t oc = gi * outCg + ocg0 + b;
      rows[b] = y + ((n * M + oc) * OD + od) * OH * OW + oh * OW;
      const float init = bias ? bias[oc] : 0.0f;
      for (int64_t j = 0; j < OW; ++j) rows[b][j] = init;
    }
    const int64_t ic0 = gi * inCg;
    switch (nb) {
    case 1: outputRows<1>(x, w, g, rows, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
    case 2: outputRows<2>(x, w, g, rows, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
    case 3: outputRows<3>(x, w, g, rows, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
    default: outputRows<4>(x, w, g, rows, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
    }
    for (int64_t b = 0; b < nb; ++b) activateRange(rows[b], OW, activation, actAlpha, actBeta);
  }
}
