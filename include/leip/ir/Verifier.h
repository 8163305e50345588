#pragma once

#include "leip/ir/Graph.h"

namespace leip::ir {

/// Checks the graph's invariants: unique names, every node input defined by a graph
/// input, a constant or another node, no cycles, known ops with accepted input counts,
/// static shapes everywhere when `requireStaticShapes`, quantization parameters consistent
/// with their tensors. Throws InternalError (or BadInputError for model-caused faults)
/// naming the first problem.
void verify(const Graph &graph, bool requireStaticShapes = true);

} // namespace leip::ir
