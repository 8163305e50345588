// Elementwise kernels, fp32: binary ops with ONNX broadcasting and unary functions, each
// followed by a fused activation (BinaryParams, UnaryParams in Params.h). Grid-stride
// loops: one element per thread per step, consecutive threads on consecutive elements.
#include "Device.cuh"

namespace leip::gpu {
namespace {

/// Max/Min propagate NaN like the interpreter's (numpy's).
LEIP_DEVICE inline float binaryOp(int op, float a, float b) {
  switch (op) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  case 3: return a / b;
  case 4: return b > a || b != b ? b : a;
  case 5: return b < a || b != b ? b : a;
  case 6: return powF(a, b);
  default: return a;
  }
}

LEIP_DEVICE inline float unaryOp(int op, float x) {
  switch (op) {
  case 1: return expF(x);
  case 2: return logF(x);
  case 3: return sqrtF(x);
  case 4: return -x;
  case 5: return absF(x);
  case 6: return rcpF(x);
  case 7: return floorF(x);
  case 8: return ceilF(x);
  case 9: return erfF(x);
  case 10: return softplusF(x);
  default: return x;
  }
}

/// Index is int32_t when every offset fits (divisions by constants are cheaper), else int64_t.
template <typename Index>
LEIP_DEVICE LEIP_INLINE inline void binary(const BinaryParams &p, const float *__restrict__ a, const float *__restrict__ b,
                               float *__restrict__ y) {
  // a and b both laid out like y: no index arithmetic.
  bool same = true;
  for (int d = 0; d < kMaxRank; ++d) {
    Index stride = 1;
    for (int e = d + 1; e < kMaxRank; ++e) stride *= static_cast<Index>(p.dims[e]);
    if (p.dims[d] != 1 && (p.strideA[d] != stride || p.strideB[d] != stride)) same = false;
  }
  const Index count = static_cast<Index>(p.count);
  const Index step = static_cast<Index>(gridDimX()) * blockDimX();
  for (Index i = static_cast<Index>(blockX()) * blockDimX() + threadX(); i < count; i += step) {
    Index ia = i, ib = i;
    if (!same) {
      ia = 0;
      ib = 0;
      Index rest = i;
      LEIP_UNROLL
      for (int d = kMaxRank - 1; d >= 0; --d) {
        const Index dim = static_cast<Index>(p.dims[d]);
        const Index q = rest / dim, id = rest - q * dim;
        rest = q;
        ia += id * static_cast<Index>(p.strideA[d]);
        ib += id * static_cast<Index>(p.strideB[d]);
      }
    }
    y[i] = activate(binaryOp(p.op, a[ia], b[ib]), p.act);
  }
}

} // namespace
} // namespace leip::gpu

extern "C" LEIP_DEVICE void leip_g_binary_f32(const leip::gpu::BinaryParams *pp, const float *__restrict__ a,
                                              const float *__restrict__ b, float *__restrict__ y) {
  using namespace leip::gpu;
  if (pp->count <= 0x7fffffff) binary<int32_t>(*pp, a, b, y);
  else binary<int64_t>(*pp, a, b, y);
}

extern "C" LEIP_DEVICE void leip_g_unary_f32(const leip::gpu::UnaryParams *pp, const float *__restrict__ x,
                                             float *__restrict__ y) {
  using namespace leip::gpu;
  const UnaryParams &p = *pp;
  const int64_t step = int64_t{gridDimX()} * blockDimX();
  for (int64_t i = int64_t{blockX()} * blockDimX() + threadX(); i < p.count; i += step)
    y[i] = activate(unaryOp(p.op, x[i]), p.act);
}
