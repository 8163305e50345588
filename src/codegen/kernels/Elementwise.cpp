// Elementwise kernels. Unary ones take element ranges as tasks; binary ones broadcast with
// per-operand strides (0 along broadcast dims) over an output of rank <= kMaxRank.
#include "Kernels.h"

using namespace leip::kernels;

namespace {

enum UnaryOp : int32_t { kUnaryRelu = 0 };
enum BinaryOp : int32_t { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };

inline float binary(int32_t op, float a, float b) {
  switch (op) {
  case kAdd: return a + b;
  case kSub: return a - b;
  case kMul: return a * b;
  default: return a / b;
  }
}

} // namespace

extern "C" void leip_k_unary_f32(const float *x, float *y, int32_t op, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const float v = x[i];
    y[i] = op == kUnaryRelu ? (v > 0.0f ? v : 0.0f) : v;
  }
}

/// Tasks are output elements. `dims` are the output dims; `aStrides`/`bStrides` the
/// operands' element strides per output dim (0 where they broadcast), all of length `rank`.
extern "C" void leip_k_binary_f32(const float *a, const float *b, float *y, int32_t op, int64_t rank,
                                  const int64_t *dims, const int64_t *aStrides, const int64_t *bStrides,
                                  int32_t activation, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    int64_t rest = i, aOff = 0, bOff = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t idx = rest % dims[d];
      rest /= dims[d];
      aOff += idx * aStrides[d];
      bOff += idx * bStrides[d];
    }
    y[i] = activate(binary(op, a[aOff], b[bOff]), activation);
  }
}

/// Byte copy (Reshape/Flatten/Identity that cannot alias). Tasks are bytes.
extern "C" void leip_k_copy(const char *x, char *y, int64_t begin, int64_t end) {
  memcpy(y + begin, x + begin, static_cast<size_t>(end - begin));
}
