// Einsum over up to three operands: every output element is the sum, over the summed
// labels, of the product of the operands' elements. The compiler merges labels into at most
// 4 output dims and 4 summed dims and passes each operand's element strides along them
// (a label's stride sums the strides of the operand dims carrying it: a diagonal when
// repeated; 0 where the operand lacks it or broadcasts it):
//   meta[0..4) output dims, meta[4..8) summed dims,
//   meta[8 + 8k ..) operand k: strides along the output dims (4), then the summed dims (4).
// Tasks are output rows (all merged output dims but the last). When the output row has more
// than one element the innermost loop runs along it (an axpy per summed index); otherwise
// along the last summed dim (a dot product).
#include "Kernels.h"

namespace {

template <typename T>
void einsum(const T *__restrict a, const T *__restrict b, const T *__restrict c, T *__restrict y,
            const int64_t *__restrict m, int64_t operands, int64_t begin, int64_t end) {
  const int64_t *od = m, *sd = m + 4, *sa = m + 8, *sb = m + 16, *sc = m + 24;
  const int64_t L = od[3], S = sd[3];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t i0 = row / (od[1] * od[2]), i1 = row / od[2] % od[1], i2 = row % od[2];
    const int64_t offA = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
    const int64_t offB = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
    const int64_t offC = i0 * sc[0] + i1 * sc[1] + i2 * sc[2];
    T *__restrict dst = y + row * L;
    for (int64_t j = 0; j < L; ++j) dst[j] = T(0);
    for (int64_t s0 = 0; s0 < sd[0]; ++s0)
      for (int64_t s1 = 0; s1 < sd[1]; ++s1)
        for (int64_t s2 = 0; s2 < sd[2]; ++s2) {
          const T *__restrict pa = a + offA + s0 * sa[4] + s1 * sa[5] + s2 * sa[6];
          const T *__restrict pb = operands > 1 ? b + offB + s0 * sb[4] + s1 * sb[5] + s2 * sb[6] : nullptr;
          const T *__restrict pc = operands > 2 ? c + offC + s0 * sc[4] + s1 * sc[5] + s2 * sc[6] : nullptr;
          if (L > 1) {
            for (int64_t s3 = 0; s3 < S; ++s3)
              for (int64_t j = 0; j < L; ++j) {
                T v = pa[s3 * sa[7] + j * sa[3]];
                if (operands > 1) v *= pb[s3 * sb[7] + j * sb[3]];
                if (operands > 2) v *= pc[s3 * sc[7] + j * sc[3]];
                dst[j] += v;
              }
          } else {
            T acc = T(0);
            for (int64_t s3 = 0; s3 < S; ++s3) {
              T v = pa[s3 * sa[7]];
              if (operands > 1) v *= pb[s3 * sb[7]];
              if (operands > 2) v *= pc[s3 * sc[7]];
              acc += v;
            }
            dst[0] += acc;
          }
        }
  }
}

} // namespace

#define LEIP_EINSUM(NAME, T)                                                                                       \
  extern "C" void NAME(const T *a, const T *b, const T *c, T *y, const int64_t *meta, int64_t operands,           \
                       int64_t begin, int64_t end) {                                                               \
    einsum<T>(a, b, c, y, meta, operands, begin, end);                                                             \
  }
LEIP_EINSUM(leip_k_einsum_f32, float)
LEIP_EINSUM(leip_k_einsum_i32, int32_t)
LEIP_EINSUM(leip_k_einsum_i64, int64_t)
#undef LEIP_EINSUM
