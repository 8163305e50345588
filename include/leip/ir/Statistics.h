// Cost figures reported by `leip inspect` (and later by compile reports).
#pragma once

#include "leip/ir/Graph.h"

#include <cstdint>
#include <map>
#include <string>

namespace leip::ir {

/// Floating-point operations of one node with static shapes, counting a multiply-add as
/// two: 2*MACs for Conv/ConvTranspose/Gemm/MatMul, one per output element for elementwise
/// ops, one per input element for pooling and reductions, zero for pure data movement.
int64_t nodeFlops(const Node &node);
int64_t graphFlops(const Graph &graph);
/// Node count per op type, sorted by name.
std::map<std::string, int64_t> opHistogram(const Graph &graph);

} // namespace leip::ir
