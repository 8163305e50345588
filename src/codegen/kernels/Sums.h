// Sums in double over contiguous floats, for the kernels whose reference computes
// statistics in double (normalizations, average pooling). Eight double lanes keep the loop
// vectorizable without reassociating a single accumulator; the lane order is fixed, so a
// result never depends on how tasks are split across threads.
#pragma once

#include "Kernels.h"

namespace leip::kernels {

typedef float v8f_u __attribute__((ext_vector_type(8), aligned(4)));
typedef double v8d __attribute__((ext_vector_type(8)));

inline double laneSum(const v8d &acc) {
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// sum of x[0, n).
inline double sumF64(const float *__restrict x, int64_t n) {
  v8d acc = 0.0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc += __builtin_convertvector(*(const v8f_u *)(x + i), v8d);
  double s = laneSum(acc);
  for (; i < n; ++i) s += x[i];
  return s;
}

/// sum of (x[i] - mean)^2 over x[0, n).
inline double squaredDeviationF64(const float *__restrict x, int64_t n, double mean) {
  v8d acc = 0.0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8d d = __builtin_convertvector(*(const v8f_u *)(x + i), v8d) - mean;
    acc += d * d;
  }
  double s = laneSum(acc);
  for (; i < n; ++i) {
    const double d = x[i] - mean;
    s += d * d;
  }
  return s;
}

} // namespace leip::kernels
