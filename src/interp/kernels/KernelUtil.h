// Helpers shared by the reference kernel families (private to src/interp/kernels).
#pragma once

#include "leip/ir/Tensor.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace leip::interp::detail {

/// Marks an output coordinate that takes the fill value instead of an input element.
inline constexpr int64_t kFill = std::numeric_limits<int64_t>::min();

/// For each output axis (possibly a finer view of the output than its declared shape), the
/// input element offset contributed by each coordinate along that axis, or kFill.
using AxisOffsets = std::vector<std::vector<int64_t>>;

/// Fills `out` (in row-major order of the view that `axes` describes) from `in`: output
/// element (i0, i1, ...) is input element axes[0][i0] + axes[1][i1] + ... (or *fill when
/// any coordinate is kFill). `in` and `out` must have the same dtype. Transposes, slices,
/// broadcasts (offset 0) and diagonals (summed strides) are all such gathers.
/// Defined in TensorOps.cpp.
void gatherAxes(const ir::Tensor &in, ir::Tensor &out, const AxisOffsets &axes, const std::byte *fill = nullptr);

/// ONNX's quantization step for a value already divided by its scale: round half to even,
/// add the zero point, saturate to Q's range (NaN gives Q's lowest value).
template <typename Q> Q quantizeScaled(float scaled, float zeroPoint) {
  auto lo = static_cast<float>(std::numeric_limits<Q>::lowest());
  auto hi = static_cast<float>(std::numeric_limits<Q>::max());
  float v = std::rint(scaled) + zeroPoint;
  return static_cast<Q>(std::fmin(std::fmax(v, lo), hi)); // fmax maps NaN to lo
}

} // namespace leip::interp::detail
