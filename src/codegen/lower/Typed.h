// Helpers of the lowering rules whose kernels are instantiated per element type
// (lower/Elementwise.cpp, lower/Reduce.cpp, lower/Quantize.cpp).
#pragma once

#include "../Lowering.h"

#include <string>
#include <vector>

namespace leip::codegen {

/// The suffix of the kernel instantiation for `v`'s elements: f32, i8, u8, i32, i64 (bool
/// tensors use the u8 kernels). Fails for float16, whose arithmetic is not compiled.
std::string kernelSuffix(NodeLowering &L, const ir::Value *v);

/// The constant `shape` array of the broadcasting kernels: the output's dims collapsed to
/// exactly 4, then 4 element strides per operand (0 along broadcast dims). Fails when more
/// than 4 dims remain after merging.
llvm::Constant *broadcastGeometry(NodeLowering &L, const std::vector<const ir::Value *> &operands, const ir::Value *y);

} // namespace leip::codegen
