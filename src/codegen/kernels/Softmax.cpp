// Softmax and LogSoftmax along one axis of a tensor viewed as [outer, len, inner]. Tasks
// are outer * inner positions; for inner == 1 (the usual last axis) each task is one
// contiguous row.
#include "Kernels.h"

using namespace leip::kernels;

extern "C" void leip_k_softmax_f32(const float *__restrict x, float *__restrict y, int64_t len, int64_t inner,
                                   int32_t logSoftmax, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t o = task / inner, i = task % inner;
    const float *__restrict src = x + o * len * inner + i;
    float *__restrict dst = y + o * len * inner + i;
    float maxValue = src[0];
    for (int64_t j = 1; j < len; ++j) maxValue = maxf(maxValue, src[j * inner]);
    float sum = 0.0f;
    for (int64_t j = 0; j < len; ++j) {
      const float e = expf(src[j * inner] - maxValue);
      if (!logSoftmax) dst[j * inner] = e;
      sum += e;
    }
    if (logSoftmax) {
      const float logSum = logf(sum);
      for (int64_t j = 0; j < len; ++j) dst[j * inner] = src[j * inner] - maxValue - logSum;
    } else {
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < len; ++j) dst[j * inner] *= inv;
    }
  }
}
