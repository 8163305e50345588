// 2-D convolution (NCHW, weights KCRS) with bias and a fused activation. Tasks are (n, k)
// output planes.
//
// - leip_k_conv2d_f32: direct convolution, grouped and dilated. For each input channel
//   and filter tap it adds w * (a shifted input row) to the output row, over the output
//   columns whose input column lies inside the image (computed once per tap, so the inner
//   loop has no bounds checks). With cPerGroup == 1 this is the depthwise path.
// - leip_k_conv1x1_f32: 1x1, stride 1, no padding, one group: a GEMM
//   Y[k, p] = sum_c W[k, c] X[c, p]; consecutive output channels of a task range are
//   computed four at a time so each loaded input row feeds four accumulator rows.
#include "Kernels.h"

using namespace leip::kernels;

namespace {

inline int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline void fill(float *__restrict y, int64_t n, float v) {
  for (int64_t i = 0; i < n; ++i) y[i] = v;
}

} // namespace

extern "C" void leip_k_conv2d_f32(const float *__restrict x, const float *__restrict w, const float *__restrict bias,
                                  float *__restrict y, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,
                                  int64_t R, int64_t S, int64_t OH, int64_t OW, int64_t strideH, int64_t strideW,
                                  int64_t padT, int64_t padL, int64_t dilH, int64_t dilW, int64_t group,
                                  int32_t activation, float actAlpha, float actBeta, int64_t begin, int64_t end) {
  const int64_t cPerGroup = C / group;
  const int64_t kPerGroup = K / group;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t n = task / K, k = task % K;
    const int64_t c0 = (k / kPerGroup) * cPerGroup;
    float *__restrict out = y + task * OH * OW;
    fill(out, OH * OW, bias ? bias[k] : 0.0f);
    for (int64_t c = 0; c < cPerGroup; ++c) {
      const float *__restrict plane = x + (n * C + c0 + c) * H * W;
      const float *__restrict filter = w + (k * cPerGroup + c) * R * S;
      for (int64_t r = 0; r < R; ++r) {
        // Output rows whose input row oh*strideH - padT + r*dilH lies in [0, H).
        const int64_t rowOff = r * dilH - padT;
        const int64_t ohLo = imax(0, floorDiv(-rowOff + strideH - 1, strideH));
        const int64_t ohHi = imin(OH, floorDiv(H - 1 - rowOff, strideH) + 1);
        for (int64_t s = 0; s < S; ++s) {
          const float wv = filter[r * S + s];
          const int64_t colOff = s * dilW - padL;
          const int64_t owLo = imax(0, floorDiv(-colOff + strideW - 1, strideW));
          const int64_t owHi = imin(OW, floorDiv(W - 1 - colOff, strideW) + 1);
          for (int64_t oh = ohLo; oh < ohHi; ++oh) {
            const float *__restrict src = plane + (oh * strideH + rowOff) * W + colOff;
            float *__restrict dst = out + oh * OW;
            if (strideW == 1) {
              for (int64_t ow = owLo; ow < owHi; ++ow) dst[ow] += wv * src[ow];
            } else {
              for (int64_t ow = owLo; ow < owHi; ++ow) dst[ow] += wv * src[ow * strideW];
            }
          }
        }
      }
    }
    activateRange(out, OH * OW, activation, actAlpha, actBeta);
  }
}

extern "C" void leip_k_conv1x1_f32(const float *__restrict x, const float *__restrict w, const float *__restrict bias,
                                   float *__restrict y, int64_t C, int64_t K, int64_t P, int32_t activation,
                                   float actAlpha, float actBeta, int64_t begin, int64_t end) {
  int64_t task = begin;
  while (task < end) {
    const int64_t n = task / K, k = task % K;
    const float *__restrict img = x + n * C * P;
    float *__restrict out = y + task * P;
    if (k + 4 <= K && task + 4 <= end) {
      // Four output channels share each input row.
      float *__restrict o0 = out;
      float *__restrict o1 = out + P;
      float *__restrict o2 = out + 2 * P;
      float *__restrict o3 = out + 3 * P;
      fill(o0, P, bias ? bias[k] : 0.0f);
      fill(o1, P, bias ? bias[k + 1] : 0.0f);
      fill(o2, P, bias ? bias[k + 2] : 0.0f);
      fill(o3, P, bias ? bias[k + 3] : 0.0f);
      for (int64_t c = 0; c < C; ++c) {
        const float w0 = w[k * C + c], w1 = w[(k + 1) * C + c], w2 = w[(k + 2) * C + c], w3 = w[(k + 3) * C + c];
        const float *__restrict src = img + c * P;
        for (int64_t p = 0; p < P; ++p) {
          const float v = src[p];
          o0[p] += w0 * v;
          o1[p] += w1 * v;
          o2[p] += w2 * v;
          o3[p] += w3 * v;
        }
      }
      activateRange(out, 4 * P, activation, actAlpha, actBeta);
      task += 4;
      continue;
    }
    fill(out, P, bias ? bias[k] : 0.0f);
    for (int64_t c = 0; c < C; ++c) {
      const float wv = w[k * C + c];
      const float *__restrict src = img + c * P;
      for (int64_t p = 0; p < P; ++p) out[p] += wv * src[p];
    }
    activateRange(out, P, activation, actAlpha, actBeta);
    ++task;
  }
}
