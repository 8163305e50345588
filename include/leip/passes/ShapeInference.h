// Static shape inference with constant folding.
#pragma once

#include "leip/ir/Graph.h"

namespace leip::passes {

/// Gives every value a static type. Walks the nodes in topological order: a node whose
/// inputs are all constants is evaluated with the reference kernels and replaced by its
/// results (this folds the Shape/Gather/Unsqueeze/Concat/Reshape chains exporters emit);
/// Shape and Size of statically shaped tensors become constants; every other node gets its
/// output types from its op's shape rule. Graph inputs must already have static shapes.
/// Ends with dead-code removal. Throws BadInputError naming the node that cannot be typed.
void inferShapes(ir::Graph &graph);

} // namespace leip::passes
