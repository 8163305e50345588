// The constant table that describes a 3-D window op (convolution, transposed convolution,
// pooling) to its kernel; 1-D and 2-D ops are 3-D ones with leading dims of 1. Built by
// src/codegen/lower/NNCommon.h.
#pragma once

#include <stdint.h>

namespace leip::kernels {

/// Layout (3 values each, depth, height, width): input dims, output dims, kernel, strides,
/// dilations, leading pads, then (pooling with an Indices output only) the strides of the
/// flat index, then (MaxPool only) its output layout.
struct WindowGeometry {
  const int64_t *g;
  int64_t in(int d) const { return g[d]; }
  int64_t out(int d) const { return g[3 + d]; }
  int64_t kernel(int d) const { return g[6 + d]; }
  int64_t stride(int d) const { return g[9 + d]; }
  int64_t dilation(int d) const { return g[12 + d]; }
  int64_t pad(int d) const { return g[15 + d]; }
  int64_t indexStride(int d) const { return g[18 + d]; }
  /// MaxPool only (entries 21-24): the stored height and width of its output planes and where
  /// the output lies in them (top, left): the interior of a zero-padded tensor, the input of
  /// the direct convolutions after it.
  int64_t storedHeight() const { return g[21]; }
  int64_t storedWidth() const { return g[22]; }
  int64_t storedTop() const { return g[23]; }
  int64_t storedLeft() const { return g[24]; }
};

/// Elements of a padded input row of the row-at-a-time MaxPool kernel (with room for the
/// stride-2 halves).
constexpr int64_t kPoolRow = 2048;

/// Whether the row-at-a-time MaxPool kernel handles the geometry: a 2-D window (depth 1), no
/// dilation, column stride 1 or 2, rows that fit its buffer. Only that kernel writes a
/// padded output; the compiler asks this before it pads one.
inline bool maxPoolRowsFit(const WindowGeometry &g) {
  return g.in(0) == 1 && g.kernel(0) == 1 && g.dilation(1) == 1 && g.dilation(2) == 1 &&
         (g.stride(2) == 1 || g.stride(2) == 2) && g.out(2) * g.stride(2) + g.kernel(2) + 4 <= kPoolRow &&
         g.pad(2) + g.in(2) + 4 <= kPoolRow;
}

} // namespace leip::kernels
