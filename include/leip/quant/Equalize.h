// Float-preserving weight transformations that make a model easier to quantize: cross-layer
// equalization and outlier channel splitting (`leip compress --optimization
// cross_layer_equalization,tensor_splitting`). Both run on a graph whose BatchNorms are
// folded, before calibration, and leave its float function unchanged up to rounding.
// docs/quantization.md describes them.
#pragma once

#include "leip/ir/Graph.h"
#include "leip/quant/Quantizer.h"

#include <string>
#include <vector>

namespace leip::quant {

/// What one optimization changed, for the compress report.
struct OptimizationRecord {
  std::string name;    // bias_correction, cross_layer_equalization, tensor_splitting
  std::string target;  // the node (or "a -> b" pair) it changed
  std::string details; // what it did, in words with numbers
};

/// Cross-layer equalization (Nagel et al., 2019, "Data-Free Quantization", section 4.1).
/// For every chain A -> [activation] -> B where A and B are Conv (any group for A; B with
/// groups, depthwise included) or Gemm (transA = 0) with constant f32 weights, every value on
/// the way is read only by the next node and is no graph output, and the activation is
/// positively homogeneous (Relu, LeakyRelu, Clip with min 0, Min with a constant, MaxPool;
/// at most three nodes): output channel i of A is divided by s_i = sqrt(r1_i / r2_i) and input channel
/// i of B multiplied by it, r1_i / r2_i being the max |w| of those channels, so both end up
/// sqrt(r1_i r2_i). Sweeps over all pairs repeat until every scale is within 1e-3 of 1 (at
/// most 100 sweeps), so chains of three (MobileNetV2's expand -> depthwise -> project)
/// converge. A Clip(0, M) whose channels get different scales becomes Relu -> Min(x, C) with
/// C[i] = M / s_i of shape [1, C, 1, ...] (the Min keeps the Clip's output name). New
/// constants replace the changed ones (never written in place); the replaced ones are removed
/// with Graph::removeDeadCode. Returns one record per equalized pair.
std::vector<OptimizationRecord> equalizeCrossLayer(ir::Graph &graph);

/// Outlier channel splitting (Zhao et al., 2019) for the weight scheme `weights`, adding at
/// most `budget` x the model's parameter count (graph.parameterCount() on entry). A layer L
/// (Conv with group 1, or Gemm) that feeds exactly one Conv (group 1) or Gemm N through an
/// optional positively homogeneous activation (as for equalizeCrossLayer) may have output
/// channel k split into two with half of L's weights and bias each (and half a Clip/Min
/// bound); N gets a copy of its input channel k, so N's output is unchanged. Steps split the
/// channels holding the largest |w| while that raises L's weight SQNR (copies summed, see
/// docs/quantization.md) by at least 0.1 dB per added channel; the steps with the best gain
/// per added parameter over all layers go first. Per-channel schemes gain nothing (a split
/// channel's scale halves with it) and split nothing. The shapes of the values between L and
/// N are updated. Returns one record per split layer. Throws BadInputError for a negative or
/// non-finite budget or an invalid scheme.
std::vector<OptimizationRecord> splitOutlierChannels(ir::Graph &graph, const QuantScheme &weights, double budget);

} // namespace leip::quant
