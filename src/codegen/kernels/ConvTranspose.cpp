// ConvTranspose over 1 to 3 spatial dims (the compiler pads to 3 with dims of size 1):
// input position i adds x[i] * w[k] into output position i * stride - pad + k * dilation.
// Tasks are (image, group, block of up to 4 output channels, output row (od, oh)). Each task
// gathers: for its output row it finds the input rows and taps that reach it and, per phase
// of the output columns modulo the stride, sums w * x over contiguous input columns, so
// every output element is computed by exactly one task (bias + sum over (kd, kh), kw, input
// channel in that order, whatever the split).
#include "Kernels.h"
#include "WindowGeometry.h"

using namespace leip::kernels;

namespace {

constexpr int64_t kBlock = 4; // output channels per task: one input row feeds 4 output rows

/// The input coordinate whose tap k lands on output coordinate o along dim d, or -1.
inline int64_t sourceOf(const WindowGeometry &g, int d, int64_t o, int64_t k) {
  const int64_t t = o + g.pad(d) - k * g.dilation(d);
  if (t < 0 || t % g.stride(d) != 0) return -1;
  const int64_t i = t / g.stride(d);
  return i < g.in(d) ? i : -1;
}

typedef float v16f __attribute__((ext_vector_type(16)));
typedef float v16u __attribute__((ext_vector_type(16), aligned(4))); // unaligned loads

/// One output row of NB channels (rows[b] = init[b] + sums) for the output columns of
/// phase p: o = p + t * sW. Column o receives, from tap kw with (kw * dW - pW) = p (mod sW),
/// input column j = t + (p - kw * dW + pW) / sW. Tiles of 16 * V columns whose taps all lie
/// inside the input accumulate in registers (V vector loads of x feed NB * V FMAs); the edges
/// take a scalar loop with bounds checks. Both sum over (kd, kh), kw, input channel in the
/// same order.
template <int NB, int V>
void outputPhase(const float *__restrict x, const float *__restrict w, const WindowGeometry &g, float *__restrict *rows,
                 const float *init, int64_t n, int64_t C, int64_t ic0, int64_t inCg, int64_t outCg, int64_t ocg0,
                 int64_t od, int64_t oh, int64_t p) {
  const int64_t ID = g.in(0), IH = g.in(1), IW = g.in(2), OW = g.out(2);
  const int64_t KD = g.kernel(0), KH = g.kernel(1), KW = g.kernel(2), K = KD * KH * KW;
  const int64_t sW = g.stride(2), dW = g.dilation(2), pW = g.pad(2);
  const int64_t T = (OW - p + sW - 1) / sW;
  constexpr int64_t kTile = 16 * V; // columns per register tile: V vectors of 16
  const int64_t xChannel = ID * IH * IW, wChannel = outCg * K;
  // Input column j = t + shift(kw) for the taps of this phase.
  auto inPhase = [&](int64_t kw) { return ((kw * dW - pW - p) % sW + sW) % sW == 0; };
  auto shift = [&](int64_t kw) { return (p - kw * dW + pW) / sW; };
  int64_t tLo = 0, tHi = T; // columns where every tap of the phase reads inside the input
  for (int64_t kw = 0; kw < KW; ++kw)
    if (inPhase(kw)) {
      tLo = -shift(kw) > tLo ? -shift(kw) : tLo;
      tHi = IW - shift(kw) < tHi ? IW - shift(kw) : tHi;
    }
  // Calls f(input row offset, weight offset, input column shift) for every tap (kd, kh, kw)
  // of the phase and input channel.
  auto forEachTap = [&](auto f) {
    for (int64_t kd = 0; kd < KD; ++kd) {
      const int64_t id = sourceOf(g, 0, od, kd);
      if (id < 0) continue;
      for (int64_t kh = 0; kh < KH; ++kh) {
        const int64_t ih = sourceOf(g, 1, oh, kh);
        if (ih < 0) continue;
        const int64_t xRow = ((n * C + ic0) * ID + id) * IH * IW + ih * IW;
        const int64_t wTap = (ic0 * outCg + ocg0) * K + (kd * KH + kh) * KW;
        for (int64_t kw = 0; kw < KW; ++kw)
          if (inPhase(kw))
            for (int64_t ic = 0; ic < inCg; ++ic) f(xRow + ic * xChannel, wTap + ic * wChannel + kw, shift(kw));
      }
    }
  };
  auto vectorTile = [&](int64_t t) {
    v16f acc[NB][V];
    for (int b = 0; b < NB; ++b)
      for (int v = 0; v < V; ++v) acc[b][v] = 0.0f;
    forEachTap([&](int64_t xRow, int64_t wAt, int64_t sh) {
      v16f xv[V];
#pragma clang loop unroll(full)
      for (int v = 0; v < V; ++v) xv[v] = *(const v16u *)(x + xRow + t + sh + 16 * v);
#pragma clang loop unroll(full)
      for (int b = 0; b < NB; ++b) {
        const float wv = w[wAt + b * K];
#pragma clang loop unroll(full)
        for (int v = 0; v < V; ++v) acc[b][v] += wv * xv[v];
      }
    });
    for (int b = 0; b < NB; ++b)
      for (int v = 0; v < V; ++v)
        for (int l = 0; l < 16; ++l) rows[b][p + (t + 16 * v + l) * sW] = init[b] + acc[b][v][l];
  };
  auto scalarColumn = [&](int64_t t) {
    float acc[NB];
    for (int b = 0; b < NB; ++b) acc[b] = 0.0f;
    forEachTap([&](int64_t xRow, int64_t wAt, int64_t sh) {
      const int64_t j = t + sh;
      if (j < 0 || j >= IW) return;
      const float xv = x[xRow + j];
      for (int b = 0; b < NB; ++b) acc[b] += w[wAt + b * K] * xv;
    });
    for (int b = 0; b < NB; ++b) rows[b][p + t * sW] = init[b] + acc[b];
  };
  if (tHi - tLo < kTile) {
    for (int64_t t = 0; t < T; ++t) scalarColumn(t);
    return;
  }
  for (int64_t t = 0; t < tLo; ++t) scalarColumn(t);
  // The last tile overlaps the one before it when the interior is not a multiple of 16: its
  // columns are recomputed with the same sums.
  for (int64_t t = tLo;; t += kTile) {
    const int64_t start = t + kTile <= tHi ? t : tHi - kTile;
    vectorTile(start);
    if (start + kTile >= tHi) break;
  }
  for (int64_t t = tHi; t < T; ++t) scalarColumn(t);
}

template <int NB, int V>
void outputRows(const float *__restrict x, const float *__restrict w, const WindowGeometry &g, float *__restrict *rows,
                const float *init, int64_t n, int64_t C, int64_t ic0, int64_t inCg, int64_t outCg, int64_t ocg0,
                int64_t od, int64_t oh) {
  const int64_t phases = g.stride(2) < g.out(2) ? g.stride(2) : g.out(2);
  for (int64_t p = 0; p < phases; ++p) outputPhase<NB, V>(x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh, p);
}

template <int V>
void rowBlock(int64_t nb, const float *__restrict x, const float *__restrict w, const WindowGeometry &g,
              float *__restrict *rows, const float *init, int64_t n, int64_t C, int64_t ic0, int64_t inCg,
              int64_t outCg, int64_t ocg0, int64_t od, int64_t oh) {
  switch (nb) {
  case 1: outputRows<1, V>(x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
  case 2: outputRows<2, V>(x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
  case 3: outputRows<3, V>(x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
  default: outputRows<4, V>(x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh); break;
  }
}

} // namespace

/// x [N, C, ID, IH, IW], w [C, outCg, KD, KH, KW], bias [group * outCg] or null,
/// y [N, group * outCg, OD, OH, OW]; geom as in WindowGeometry. wideTiles: 32-column register
/// tiles (targets with 32 vector registers) instead of 16.
extern "C" void leip_k_conv_transpose_f32(const float *__restrict x, const float *__restrict w,
                                          const float *__restrict bias, float *__restrict y,
                                          const int64_t *__restrict geom, int64_t C, int64_t group,
                                          int64_t outCg, int32_t wideTiles, int32_t activation, float actAlpha,
                                          float actBeta, int64_t begin, int64_t end) {
  const WindowGeometry g{geom};
  const int64_t OD = g.out(0), OH = g.out(1), OW = g.out(2);
  const int64_t inCg = C / group, M = group * outCg;
  const int64_t blocks = (outCg + kBlock - 1) / kBlock;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t oh = task % OH, od = task / OH % OD;
    const int64_t block = task / (OH * OD) % blocks, gi = task / (OH * OD * blocks) % group;
    const int64_t n = task / (OH * OD * blocks * group);
    const int64_t ocg0 = block * kBlock;
    const int64_t nb = outCg - ocg0 < kBlock ? outCg - ocg0 : kBlock;
    float *rows[kBlock], init[kBlock];
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t oc = gi * outCg + ocg0 + b;
      rows[b] = y + ((n * M + oc) * OD + od) * OH * OW + oh * OW;
      init[b] = bias ? bias[oc] : 0.0f;
    }
    const int64_t ic0 = gi * inCg;
    if (wideTiles) rowBlock<2>(nb, x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh);
    else rowBlock<1>(nb, x, w, g, rows, init, n, C, ic0, inCg, outCg, ocg0, od, oh);
    for (int64_t b = 0; b < nb; ++b) activateRange(rows[b], OW, activation, actAlpha, actBeta);
  }
}
