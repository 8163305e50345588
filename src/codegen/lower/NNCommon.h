// Helpers shared by the NN lowering rules (Conv, QConv, Pool, ConvTranspose, IntegerNN,
// Normalization, Resize, GridSample).
#pragma once

#include "../Lowering.h"

#include "leip/ir/NNGeometry.h"

#include <cstdint>
#include <vector>

namespace leip::codegen {

/// a / b rounded up, for a >= 0 and b > 0: blocks of b that cover a.
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// The geometry table of the window kernels (kernels/Pool.cpp, ConvTranspose.cpp,
/// IntegerNN.cpp): [input dims, output dims, kernel, strides, dilations, leading pads], 3 values each
/// (depth, height, width): fewer spatial dims are padded in front with dims of size 1
/// (kernel 1, stride 1, no padding), which the kernels' loops then skip at no cost.
inline std::vector<int64_t> windowTable3d(const ir::WindowGeometry &g) {
  std::vector<int64_t> t(18, 1);
  size_t lead = 3 - g.rank();
  for (size_t d = 0; d < 3; ++d) t[15 + d] = 0;
  for (size_t d = 0; d < g.rank(); ++d) {
    size_t at = lead + d;
    t[at] = g.input[d];
    t[3 + at] = g.output[d];
    t[6 + at] = g.kernel[d];
    t[9 + at] = g.strides[d];
    t[12 + at] = g.dilations[d];
    t[15 + at] = g.padBegin[d];
  }
  return t;
}

/// For a node with nothing to compute (an empty tensor): takes its outputs' addresses, so
/// they count as written, and returns the task count 0.
inline int64_t emptyNode(NodeLowering &L) {
  for (const ir::Value *out : L.outputs()) L.address(out);
  return 0;
}

} // namespace leip::codegen
