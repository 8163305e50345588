// Window and resize geometry of the neural-network ops (Conv, ConvTranspose, pooling,
// Resize and its per-axis taps), numpy.matmul batching, and Einsum's parsed equation. The
// shape rules, the reference kernels and code generation all resolve padding, auto_pad,
// output sizes, taps, batch offsets and labels through these functions, so they cannot
// disagree.
// Defined in src/ir/ops/NN.cpp.
#pragma once

#include "leip/ir/Graph.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace leip::ir {

/// Resolved sliding-window geometry over the spatial dims (all vectors have the spatial
/// rank). For Conv and pools an output position o reads input positions
/// o * strides - padBegin + k * dilations (k over the kernel); for ConvTranspose the same
/// relation holds with the roles of input and output exchanged (see convTransposeGeometry).
struct WindowGeometry {
  Shape input;  // spatial dims of X
  Shape output; // spatial dims of Y
  std::vector<int64_t> kernel, strides, dilations, padBegin, padEnd;
  size_t rank() const { return kernel.size(); }
};

/// Conv: X [N, C, D...], W [M, C/group, k...]. Validates ranks, channels vs group, the
/// kernel_shape/strides/dilations/pads/auto_pad attributes and that every output dim is
/// positive. Throws BadInputError "<node>: <what was expected>".
WindowGeometry convGeometry(const Node &node, const Shape &x, const Shape &w);

/// ConvTranspose: X [N, C, D...], W [C, M/group, k...]. `input` holds X's spatial dims and
/// `output` Y's; Y position i * strides - padBegin + k * dilations receives X position i
/// (positions outside [0, output) are dropped). output_shape, output_padding and auto_pad
/// are folded into `output` and `padBegin`/`padEnd`.
WindowGeometry convTransposeGeometry(const Node &node, const Shape &x, const Shape &w);

/// MaxPool / AveragePool / LpPool: X [N, C, D...], kernel_shape required; honours ceil_mode
/// (a last window that would start in the end padding is dropped, as PyTorch does).
WindowGeometry poolGeometry(const Node &node, const Shape &x);

/// numpy.matmul of A [.., M, K] and B [.., K, N] (a 1-D operand promoted as numpy does):
/// per output matrix, in row-major order of the broadcast batch dims, the element offsets
/// of its A and B matrices (a broadcast batch dim repeats them). Shapes must be compatible
/// (the MatMul shape rule checks them).
struct MatMulGeometry {
  int64_t M = 0, N = 0, K = 0;
  std::vector<int64_t> aOffsets, bOffsets;
};
MatMulGeometry matMulGeometry(const Shape &a, const Shape &b);

/// Resize (opset 11-17) with its roi/scales/sizes inputs (null or empty when omitted).
struct ResizeGeometry {
  Shape output;
  /// Per axis: the scale the coordinate transform divides by (the scales input, or
  /// output/input when sizes are given).
  std::vector<double> scales;
  /// Per axis: roi start and end (tf_crop_and_resize only; 0 and 1 otherwise).
  std::vector<double> roiStart, roiEnd;
};
ResizeGeometry resizeGeometry(const Node &node, const Shape &x, const Tensor *roi, const Tensor *scales,
                              const Tensor *sizes);

/// Resize's attributes (mode, coordinate_transformation_mode, nearest_mode, cubic_coeff_a,
/// exclude_outside, extrapolation_value) with their defaults.
struct ResizeParams {
  std::string mode, coord, nearest;
  float cubicA = -0.75f;
  bool excludeOutside = false;
  float extrapolation = 0.f;
};
ResizeParams resizeParams(const Node &node);

/// Resize is separable: along one axis, each output coordinate reads `perOutput` taps
/// (input index, weight) of the input axis, computed as ONNX's reference does (indices
/// beyond the edges take the edge value); tf_crop_and_resize marks the coordinates that
/// fall outside the input (they take the extrapolation value).
struct ResizeTap {
  int64_t index;
  float weight;
};
struct ResizeAxisTaps {
  int64_t perOutput = 1;          // taps per output coordinate
  std::vector<ResizeTap> taps;    // [output coordinate][perOutput]
  std::vector<bool> outside;      // per output coordinate
  /// Every output coordinate takes its own input coordinate with weight 1 (and
  /// inLen == outLen, no crop): the reference skips this axis's interpolation pass.
  bool identity = false;
};
ResizeAxisTaps resizeAxisTaps(const ResizeParams &p, int64_t inLen, int64_t outLen, double scale, double roiStart,
                              double roiEnd);

/// The 4 cubic convolution weights (Keys, coefficient `a`) of the taps at -1, 0, 1, 2 for a
/// fractional position `ratio` (Resize's cubic mode, GridSample's bicubic).
std::vector<double> cubicCoefficients(double ratio, double a);

/// Einsum's equation resolved against its operands' shapes. Letters label dims (a label is
/// the letter's character code); the dims an ellipsis stands for get the labels
/// kEinsumEllipsisLabel + i, i counting the broadcast ellipsis dims from the left (an
/// operand with fewer ellipsis dims aligns them to the right, as numpy does).
inline constexpr int kEinsumEllipsisLabel = 256;
struct EinsumSpec {
  /// One label per dim of each operand; a label repeated within an operand takes its
  /// diagonal.
  std::vector<std::vector<int>> inputLabels;
  /// One distinct label per output dim (explicit "->" form, or numpy's implicit order:
  /// the ellipsis dims, then the letters used exactly once, sorted).
  std::vector<int> outputLabels;
  /// Extent of every label; an operand's dim of size 1 broadcasts to it.
  std::map<int, int64_t> sizes;
  Shape output;
};
/// Parses the node's 'equation' (spaces ignored) against the operands' shapes; throws
/// BadInputError "<node>: <what was expected>" for anything malformed or mismatched.
EinsumSpec einsumSpec(const Node &node, const std::vector<Shape> &inputs);

} // namespace leip::ir
