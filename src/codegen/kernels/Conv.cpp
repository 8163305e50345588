// Direct 2-D convolution (NCHW, weights KCRS), grouped and dilated, with bias and a fused
// activation. Tasks are (n, k) output planes. Simple and correct; vectorized variants
// (im2col/GEMM, depthwise, 1x1) come later.
#include "Kernels.h"

using namespace leip::kernels;

extern "C" void leip_k_conv2d_f32(const float *x, const float *w, const float *bias, float *y, int64_t N,
                                  int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t OH,
                                  int64_t OW, int64_t strideH, int64_t strideW, int64_t padT, int64_t padL,
                                  int64_t dilH, int64_t dilW, int64_t group, int32_t activation, int64_t begin,
                                  int64_t end) {
  const int64_t cPerGroup = C / group;
  const int64_t kPerGroup = K / group;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t n = task / K, k = task % K;
    const int64_t c0 = (k / kPerGroup) * cPerGroup;
    const float b = bias ? bias[k] : 0.0f;
    float *out = y + (n * K + k) * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        float acc = b;
        for (int64_t c = 0; c < cPerGroup; ++c) {
          const float *plane = x + (n * C + c0 + c) * H * W;
          const float *filter = w + (k * cPerGroup + c) * R * S;
          for (int64_t r = 0; r < R; ++r) {
            const int64_t ih = oh * strideH - padT + r * dilH;
            if (ih < 0 || ih >= H) continue;
            for (int64_t s = 0; s < S; ++s) {
              const int64_t iw = ow * strideW - padL + s * dilW;
              if (iw < 0 || iw >= W) continue;
              acc += plane[ih * W + iw] * filter[r * S + s];
            }
          }
        }
        out[oh * OW + ow] = activate(acc, activation);
      }
    }
  }
}
