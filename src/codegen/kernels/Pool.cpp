// 2-D max and average pooling (NCHW). Tasks are (n, c) planes. Windows that hang over the
// padding skip the missing elements (average: divides by the count of present elements
// unless count_include_pad, then by the full window that lies within the padded input).
#include "Kernels.h"

namespace {

template <bool IsMax>
void pool2d(const float *x, float *y, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kH, int64_t kW,
            int64_t strideH, int64_t strideW, int64_t padT, int64_t padL, int64_t padB, int64_t padR,
            int64_t dilH, int64_t dilW, int32_t countIncludePad, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const float *plane = x + task * H * W;
    float *out = y + task * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        float acc = IsMax ? -__builtin_inff() : 0.0f;
        int64_t count = 0, padded = 0;
        for (int64_t r = 0; r < kH; ++r) {
          const int64_t ih = oh * strideH - padT + r * dilH;
          for (int64_t s = 0; s < kW; ++s) {
            const int64_t iw = ow * strideW - padL + s * dilW;
            if (ih >= -padT && ih < H + padB && iw >= -padL && iw < W + padR) ++padded;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const float v = plane[ih * W + iw];
            if (IsMax) acc = v > acc ? v : acc;
            else acc += v;
            ++count;
          }
        }
        if (!IsMax) acc = acc / static_cast<float>(countIncludePad ? padded : (count ? count : 1));
        out[oh * OW + ow] = acc;
      }
    }
  }
}

} // namespace

extern "C" void leip_k_maxpool2d_f32(const float *x, float *y, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                     int64_t kH, int64_t kW, int64_t strideH, int64_t strideW, int64_t padT,
                                     int64_t padL, int64_t dilH, int64_t dilW, int64_t begin, int64_t end) {
  pool2d<true>(x, y, H, W, OH, OW, kH, kW, strideH, strideW, padT, padL, 0, 0, dilH, dilW, 0, begin, end);
}

extern "C" void leip_k_avgpool2d_f32(const float *x, float *y, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                     int64_t kH, int64_t kW, int64_t strideH, int64_t strideW, int64_t padT,
                                     int64_t padL, int64_t padB, int64_t padR, int32_t countIncludePad,
                                     int64_t begin, int64_t end) {
  pool2d<false>(x, y, H, W, OH, OW, kH, kW, strideH, strideW, padT, padL, padB, padR, 1, 1, countIncludePad,
                begin, end);
}

/// GlobalAveragePool (isMax 0) and GlobalMaxPool (isMax 1): one value per (n, c) plane of
/// `size` elements.
extern "C" void leip_k_global_pool_f32(const float *__restrict x, float *__restrict y, int64_t size, int32_t isMax,
                                       int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const float *__restrict plane = x + task * size;
    if (isMax) {
      float acc = -__builtin_inff();
      for (int64_t i = 0; i < size; ++i) acc = plane[i] > acc ? plane[i] : acc;
      y[task] = acc;
    } else {
      float acc = 0.0f;
      for (int64_t i = 0; i < size; ++i) acc += plane[i];
      y[task] = acc / static_cast<float>(size);
    }
  }
}
