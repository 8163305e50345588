// The constant table that describes a 3-D window op (convolution, transposed convolution,
// pooling) to its kernel; 1-D and 2-D ops are 3-D ones with leading dims of 1. Built by
// src/codegen/lower/NNCommon.h.
#pragma once

#include <stdint.h>

namespace leip::kernels {

/// Layout (3 values each, depth, height, width): input dims, output dims, kernel, strides,
/// dilations, leading pads, then (pooling with an Indices output only) the strides of the
/// flat index.
struct WindowGeometry {
  const int64_t *g;
  int64_t in(int d) const { return g[d]; }
  int64_t out(int d) const { return g[3 + d]; }
  int64_t kernel(int d) const { return g[6 + d]; }
  int64_t stride(int d) const { return g[9 + d]; }
  int64_t dilation(int d) const { return g[12 + d]; }
  int64_t pad(int d) const { return g[15 + d]; }
  int64_t indexStride(int d) const { return g[18 + d]; }
};

} // namespace leip::kernels
