// Strided copies of 1, 2, 4 or 8-byte elements (CopyParams in Params.h): Reshape and
// friends (plain copies), Transpose, Slice, Concat. Grid-stride loop over the destination
// view's elements in row-major order.
#include "Device.cuh"

namespace leip::gpu {
namespace {

template <typename T, typename Index>
LEIP_DEVICE LEIP_INLINE inline void copy(const CopyParams &p, const T *__restrict__ src, T *__restrict__ dst) {
  bool contiguous = true; // both views row-major over dims
  for (int d = 0; d < kMaxRank; ++d) {
    int64_t stride = 1;
    for (int e = d + 1; e < kMaxRank; ++e) stride *= p.dims[e];
    if (p.dims[d] != 1 && (p.srcStrides[d] != stride || p.dstStrides[d] != stride)) contiguous = false;
  }
  src += p.srcBase;
  dst += p.dstBase;
  const Index count = static_cast<Index>(p.count);
  const Index step = static_cast<Index>(gridDimX()) * blockDimX();
  for (Index i = static_cast<Index>(blockX()) * blockDimX() + threadX(); i < count; i += step) {
    Index is = i, id = i;
    if (!contiguous) {
      is = 0;
      id = 0;
      Index rest = i;
      LEIP_UNROLL
      for (int d = kMaxRank - 1; d >= 0; --d) {
        const Index dim = static_cast<Index>(p.dims[d]);
        const Index q = rest / dim, at = rest - q * dim;
        rest = q;
        is += at * static_cast<Index>(p.srcStrides[d]);
        id += at * static_cast<Index>(p.dstStrides[d]);
      }
    }
    dst[id] = src[is];
  }
}

template <typename T> LEIP_DEVICE LEIP_INLINE inline void copyTyped(const CopyParams &p, const void *src, void *dst) {
  // int32 offsets when every one fits (cheaper divisions by the constant dims).
  int64_t reach = p.count + (p.srcBase > p.dstBase ? p.srcBase : p.dstBase);
  for (int d = 0; d < kMaxRank; ++d) {
    const int64_t s = p.srcStrides[d] > p.dstStrides[d] ? p.srcStrides[d] : p.dstStrides[d];
    reach += (p.dims[d] - 1) * s;
  }
  if (reach <= 0x7fffffff) copy<T, int32_t>(p, static_cast<const T *>(src), static_cast<T *>(dst));
  else copy<T, int64_t>(p, static_cast<const T *>(src), static_cast<T *>(dst));
}

} // namespace
} // namespace leip::gpu

extern "C" LEIP_DEVICE void leip_g_copy(const leip::gpu::CopyParams *pp, const void *src, void *dst) {
  using namespace leip::gpu;
  switch (pp->elementBytes) {
  case 1: return copyTyped<uint8_t>(*pp, src, dst);
  case 2: return copyTyped<uint16_t>(*pp, src, dst);
  case 8: return copyTyped<uint64_t>(*pp, src, dst);
  default: return copyTyped<uint32_t>(*pp, src, dst);
  }
}
