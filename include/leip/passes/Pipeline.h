// The graph pass pipeline that `leip compile` runs before lowering, and graph cloning
// (the compiler optimizes a copy, so the caller's graph stays the interpreter's oracle).
#pragma once

#include "leip/ir/Graph.h"

#include <memory>

namespace leip::passes {

/// A deep copy of a typed graph: same names, types, attributes and node order; constants
/// share their (immutable) data.
std::unique_ptr<ir::Graph> cloneGraph(const ir::Graph &graph);

/// Removes Identity and inference Dropout nodes (unless they connect a graph input
/// straight to a graph output), so users read the original tensor. Returns nodes removed.
size_t removeIdentities(ir::Graph &graph);

/// What `leip compile` runs on a shape-inferred graph: removeIdentities, foldBatchNorm,
/// fuseBiasAdds, fuseActivations, then dead-code removal. The fp32 function is unchanged
/// (up to rounding). The interpreter runs the result too (it understands fused
/// activations).
void optimizeForCompile(ir::Graph &graph);

} // namespace leip::passes
