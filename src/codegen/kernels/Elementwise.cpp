// Elementwise kernels. Tasks are output elements. Unary ops map x to y; binary ones
// broadcast over an output of at most 4 dims (the compiler collapses dims first), with
// per-operand element strides (0 along broadcast dims); the walk goes row by row so the
// inner loop is contiguous in the output.
#include "Kernels.h"

using namespace leip::kernels;

namespace {

/// Unary op codes: 0..8 are the activations (Kernels.h), the rest follow.
enum UnaryOp : int32_t {
  kExp = 20,
  kLog = 21,
  kSqrt = 22,
  kNeg = 23,
  kAbs = 24,
  kReciprocal = 25,
  kFloor = 26,
  kCeil = 27,
  kErf = 28,
  kSoftplus = 29,
  kElu = 30,
  kSoftsign = 31,
  kSin = 32,
  kCos = 33,
  kRound = 34,
  kGelu = 35,
  kSign = 36,
};
enum BinaryOp : int32_t { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kPow = 4, kMax = 5, kMin = 6 };

inline float unary(float v, int32_t op, float alpha, float beta) {
  switch (op) {
  case kExp: return expf(v);
  case kLog: return logf(v);
  case kSqrt: return sqrtf(v);
  case kNeg: return -v;
  case kAbs: return fabsf(v);
  case kReciprocal: return 1.0f / v;
  case kFloor: return floorf(v);
  case kCeil: return ceilf(v);
  case kErf: return erff(v);
  case kSoftplus: return v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v));
  case kElu: return v < 0.0f ? alpha * expm1f(v) : v;
  case kSoftsign: return v / (1.0f + fabsf(v));
  case kSin: return sinf(v);
  case kCos: return cosf(v);
  case kRound: return nearbyintf(v);
  case kGelu: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  case kSign: return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v);
  default: return activate(v, op, alpha, beta);
  }
}

inline float binary(int32_t op, float a, float b) {
  switch (op) {
  case kAdd: return a + b;
  case kSub: return a - b;
  case kMul: return a * b;
  case kDiv: return a / b;
  case kPow: return powf(a, b);
  case kMax: return a != a || b != b ? a + b : maxf(a, b);
  default: return a != a || b != b ? a + b : minf(a, b);
  }
}

} // namespace

extern "C" void leip_k_unary_f32(const float *__restrict x, float *__restrict y, int32_t op, float alpha, float beta,
                                 int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) y[i] = unary(x[i], op, alpha, beta);
}

/// Output dims d0..d3 (row-major); aS*/bS* are the operands' element strides per dim.
extern "C" void leip_k_binary_f32(const float *__restrict a, const float *__restrict b, float *__restrict y,
                                  int32_t op, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t aS0, int64_t aS1,
                                  int64_t aS2, int64_t aS3, int64_t bS0, int64_t bS1, int64_t bS2, int64_t bS3,
                                  int32_t activation, float actAlpha, float actBeta, int64_t begin, int64_t end) {
  int64_t i = begin;
  while (i < end) {
    // Coordinates of element i; then the rest of its row in one contiguous run.
    const int64_t row = i / d3, col = i % d3;
    const int64_t i2 = row % d2, i1 = (row / d2) % d1, i0 = row / (d2 * d1);
    const int64_t run = (end - i) < (d3 - col) ? (end - i) : (d3 - col);
    const float *__restrict pa = a + i0 * aS0 + i1 * aS1 + i2 * aS2 + col * aS3;
    const float *__restrict pb = b + i0 * bS0 + i1 * bS1 + i2 * bS2 + col * bS3;
    float *__restrict py = y + i;
    if (aS3 == 1 && bS3 == 1) {
      for (int64_t j = 0; j < run; ++j) py[j] = activate(binary(op, pa[j], pb[j]), activation, actAlpha, actBeta);
    } else if (aS3 == 1 && bS3 == 0) {
      const float bv = pb[0];
      for (int64_t j = 0; j < run; ++j) py[j] = activate(binary(op, pa[j], bv), activation, actAlpha, actBeta);
    } else if (aS3 == 0 && bS3 == 1) {
      const float av = pa[0];
      for (int64_t j = 0; j < run; ++j) py[j] = activate(binary(op, av, pb[j]), activation, actAlpha, actBeta);
    } else {
      for (int64_t j = 0; j < run; ++j)
        py[j] = activate(binary(op, pa[j * aS3], pb[j * bS3]), activation, actAlpha, actBeta);
    }
    i += run;
  }
}

/// Byte copy (Reshape/Flatten/Identity that cannot alias). Tasks are bytes.
extern "C" void leip_k_copy(const char *x, char *y, int64_t begin, int64_t end) {
  memcpy(y + begin, x + begin, static_cast<size_t>(end - begin));
}
