// Folding of inference-mode BatchNormalization.
#pragma once

#include "leip/ir/Graph.h"

#include <cstddef>

namespace leip::passes {

/// Folds every BatchNormalization whose scale, B, mean and var are constants (and whose
/// optional training outputs are unused) into a per-channel multiply-add:
/// y = x * s + t with s = scale / sqrt(var + epsilon), t = B - mean * s (computed in double).
/// When x comes from a Conv, ConvTranspose or Gemm (with constant weights, bias/C) that
/// has no other user, s and t go into that node's weights and bias; otherwise the BN
/// becomes Mul and Add nodes with constants of shape [C, 1, ...]. The replacement keeps the
/// BN output's name (graph outputs keep their names). Returns the number of BNs folded.
size_t foldBatchNorm(ir::Graph &graph);

} // namespace leip::passes
