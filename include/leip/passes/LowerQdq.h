// Lowering of QDQ-quantized convolutions (DequantizeLinear -> Conv -> QuantizeLinear) to
// integer arithmetic: the compiler-internal op leip.QConv (semantics in
// src/ir/ops/Internal.cpp).
#pragma once

#include "leip/ir/Graph.h"

#include <cstddef>
#include <string>
#include <vector>

namespace leip::passes {

struct QdqLoweringStats {
  /// Conv nodes replaced by leip.QConv, fully connected Gemms (as 1x1 QConvs) included.
  size_t convsLowered = 0;
  /// Adds folded into a QConv as its residual input (with the activation after them).
  size_t residualAddsFolded = 0;
  /// QConvs that write the quantized tensor themselves (their QuantizeLinear removed).
  size_t quantizedOutputs = 0;
  /// MaxPools now pooling the integers (DQ -> MaxPool -> Q, and QConv -> MaxPool -> Q).
  size_t maxPoolsLowered = 0;
  /// A Conv that reads a DequantizeLinear output but stays float, and why.
  struct FloatConv {
    std::string node;
    std::string reason; // one line, e.g. "weights have nonzero zero points"
  };
  std::vector<FloatConv> floatConvs;
};

/// Rewrites a shape-inferred graph that passes::optimizeForCompile has run on (BNs folded,
/// activations fused into Convs); only constant scales and zero points qualify:
///  a. Conv(DQ(xq), DQ(wq), [bias]) with xq u8/i8 quantized per tensor, wq an i8 constant
///     with zero points 0 (or u8 with zero points 128, taken as the i8 values wq - 128),
///     per tensor or per channel along axis 0, the bias absent, DQ of an i32 constant, or an
///     f32 constant -> QConv(xq, wq) with a float32 output, scales x_scale * w_scale[k], the
///     real bias, and the Conv's attributes (activation included). Gemm(DQ(xq) [N, K],
///     DQ(wq), [bias]) with alpha = beta = 1 and no transposed A likewise becomes
///     Reshape -> 1x1 QConv on [N, K, 1, 1] -> Reshape (a fully connected layer).
///  b. A float QConv without activation whose only reader is Add(y, r), r f32 of the same
///     shape, -> QConv(xq, wq, r), also taking in a fusable activation (Relu, Clip with
///     constant bounds, ...) that is the Add's only reader.
///  c. A float QConv whose only reader is a QuantizeLinear (per tensor) -> the QConv
///     writes the uint8/int8 tensor itself. Also QConv -> MaxPool -> Q (each the only
///     reader of the one before) -> QConv writing the integers -> MaxPool on them
///     (quantizing is monotone, so it commutes with the max); counted in both
///     quantizedOutputs and maxPoolsLowered.
///  d. DQ(q) -> MaxPool -> Q with the same (per-tensor) scale and zero point -> MaxPool(q).
/// Then removes dead nodes (DQs left without readers). Anything else stays as it was and
/// still computes the float QDQ simulation. Graph outputs keep their names and dtypes, and
/// every value the rewrite keeps keeps its name. The integer graph matches the float one
/// within one quantization step (the order of float roundings differs).
QdqLoweringStats lowerQdqToInteger(ir::Graph &graph);

} // namespace leip::passes
