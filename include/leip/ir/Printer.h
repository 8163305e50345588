#pragma once

#include "leip/ir/Graph.h"

#include <ostream>
#include <string>

namespace leip::ir {

/// Readable text form, one node per line in topological order:
///   %y = Conv(%x, %w, %b) {group=1, pads=[1,1,1,1]} : f32[1,16,28,28]
void print(const Graph &graph, std::ostream &os);
std::string toString(const Graph &graph);

} // namespace leip::ir
