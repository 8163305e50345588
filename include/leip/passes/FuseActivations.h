// Fusion of bias additions and activations into Conv, ConvTranspose and Gemm.
#pragma once

#include "leip/ir/FusedActivation.h"
#include "leip/ir/Graph.h"

#include <cstddef>
#include <functional>
#include <optional>

namespace leip::passes {

/// Folds `Add(node, constant)` into the node's bias when the node is a Conv/ConvTranspose
/// (constant broadcasting along the channel dim only) or a Gemm (constant broadcasting to
/// [M, N]; C becomes beta*C + constant and beta 1), and the node has no other user.
/// Returns the number of Adds folded.
size_t fuseBiasAdds(ir::Graph &graph);

/// Records an activation that follows a Conv, ConvTranspose or Gemm (which has no other
/// user) on that node as the attributes of leip/ir/FusedActivation.h and removes the
/// activation node: Relu, Clip with constant (or absent) min/max (ReLU6 included),
/// LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, and the patterns x * Sigmoid(x)
/// (SiLU) and x * HardSigmoid(x) with alpha 1/6, beta 1/2 (HardSwish). The fused node
/// takes over the activation's output name. Returns the number of activations fused.
size_t fuseActivations(ir::Graph &graph);

/// Compiler-internal form, for the compiler's own copy of a graph: folds `Add(conv(x), r)`
/// (and an activation after the Add, as fuseActivations would) into the Conv as a fourth
/// input `r` (the residual, added before the activation), when `takesResidual(conv)`, the
/// Conv has no activation and no other reader, and r has its output's type. The Conv takes
/// over the output of the Add (or of its activation); its bias slot stays null when it had
/// no bias. The interpreter does not run this form. Returns the number of Adds folded.
size_t fuseResidualAdds(ir::Graph &graph, const std::function<bool(const ir::Node &)> &takesResidual);

/// The residual a Conv reads after fuseResidualAdds (its fourth input), else null.
inline const ir::Value *convResidual(const ir::Node &node) {
  return node.opType() == "Conv" && node.domain().empty() ? node.input(3) : nullptr;
}

/// A 2-D MaxPool folded into the Conv before it (fuseMaxPools), its geometry resolved:
/// pooled position o reads the Conv's output positions o * strides - padBegin + [0, kernel)
/// that lie in [0, convOutput).
struct FusedMaxPool {
  int64_t kernel[2], strides[2], padBegin[2], convOutput[2];
};

/// Compiler-internal form: folds a 2-D MaxPool (one output, no dilation, every window
/// overlapping its input) into the Conv whose output it alone reads, when
/// `takesPool(conv, pool)`. The Conv takes over the MaxPool's output and records the pool
/// (fusedMaxPool); its activation, if any, applies before the pool. The interpreter does
/// not run this form. Returns the number of MaxPools folded.
size_t fuseMaxPools(ir::Graph &graph, const std::function<bool(const ir::Node &conv, const ir::Node &pool)> &takesPool);

/// The MaxPool fuseMaxPools folded into a Conv, else nullopt.
std::optional<FusedMaxPool> fusedMaxPool(const ir::Node &conv);

/// The activation a node computes when it is one of the fusable ones above (Clip only with
/// constant or absent bounds); nullopt otherwise. The compiler also uses it to fuse an
/// activation into the elementwise op before it.
std::optional<ir::FusedActivation> activationOf(const ir::Node &node);

} // namespace leip::passes
