// Lowering of one IR node to calls of the kernel library (src/codegen/kernels). The rules
// live in src/codegen/lower/<family>.cpp, one file per op family; each rule gets a
// NodeLowering (the node, the activation fused into it, and the services of the module
// being built) and emits kernel calls into the node's function. See docs/codegen-design.md.
#pragma once

#include "leip/ir/FusedActivation.h"
#include "leip/ir/Graph.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace leip::codegen {

/// Alignment of the arena, its blocks and every constant (cache line, widest vector).
constexpr int64_t kAlignment = 64;

/// Where a tensor lives at run time.
struct Storage {
  enum Kind { Arena, Io, Constant } kind = Arena;
  int64_t offset = 0; // Arena: byte offset
  int ioIndex = 0;    // Io: slot in the io array (inputs, then outputs)
};

/// How the integer kernels compute 4-way u8 x s8 dot products on the target (the DotKind
/// numbers of kernels/QConv.cpp).
enum class Int8Dot : int32_t {
  Generic = 0, // plain integer arithmetic: any target
  Vnni = 1,    // vpdpbusd: AVX-512 VNNI (16 lanes) or AVX-VNNI (8 lanes)
  Avx2 = 2,    // vpmaddwd on 16-bit halves
  Sdot = 3,    // aarch64 sdot (+dotprod), on signed input bytes
  // vpmaddubsw, on input bytes known to lie in 0..127 (chosen per node, where the module's
  // kind is Avx2: lower/QConv.cpp, dotForInput).
  Avx2Bytes = 4,
  // vpsignb + vpmaddubsw, on signed input (unsigned input flipped) where no weight is -128
  // (chosen per node like Avx2Bytes).
  Avx2Signs = 5,
};

/// What all node functions of one module share: tensor storage and emitted constants.
struct ModuleState {
  ModuleState(llvm::Module &module, int lanes, Int8Dot dot) : mod(module), vectorLanes(lanes), int8Dot(dot) {}
  llvm::Module &mod;
  /// float lanes of the target's widest vector registers (16 AVX-512, 8 AVX2, 4 NEON/SSE).
  int vectorLanes;
  Int8Dot int8Dot;
  std::unordered_map<const ir::Value *, Storage> storage;
  std::unordered_map<const ir::Value *, llvm::GlobalVariable *> weights;
  int derivedConstants = 0;
  /// Integer convolutions lowered with Int8Dot::Avx2Bytes (CompileResult::byteDotConvs).
  int64_t byteDotConvs = 0;
  /// Integer convolutions lowered with Int8Dot::Avx2Signs (CompileResult::signDotConvs).
  int64_t signDotConvs = 0;
  /// Float convolutions lowered as Winograd F(2x2, 3x3) (CompileResult::winogradConvs).
  int64_t winogradConvs = 0;
};

/// One node function being built: `void leip_node_N(arena, io, begin, end)`.
class NodeLowering {
public:
  NodeLowering(ModuleState &state, llvm::Function *fn, const ir::Node &node, const ir::Node *absorbed,
               const ir::FusedActivation &activation, const ir::Value *residual = nullptr);

  const ir::Node &node() const { return node_; }
  /// The activation the kernel applies before storing (fused by the passes or absorbed).
  const ir::FusedActivation &activation() const { return activation_; }
  /// The tensor added to the result before the activation (a residual Add folded into the
  /// Conv by passes::fuseResidualAdds), else null. Only rules that directConvTakesResidual accepts get one.
  const ir::Value *residual() const { return residual_; }
  /// The outputs the function writes: the absorbed activation node's, when there is one.
  const std::vector<ir::Value *> &outputs() const { return absorbed_ ? absorbed_->outputs() : node_.outputs(); }
  llvm::IRBuilder<> &builder() { return b_; }
  int vectorLanes() const { return state_.vectorLanes; }
  Int8Dot int8Dot() const { return state_.int8Dot; }
  /// Counts this node among the integer convolutions on Int8Dot::Avx2Bytes.
  void countByteDotConv() { ++state_.byteDotConvs; }
  /// Counts this node among the integer convolutions on Int8Dot::Avx2Signs.
  void countSignDotConv() { ++state_.signDotConvs; }
  /// Counts this node among the Winograd convolutions.
  void countWinogradConv() { ++state_.winogradConvs; }

  /// Throws the BadInputError for a node the compiler cannot lower, with the reason.
  [[noreturn]] void fail(const std::string &why = "") const;
  /// fail() unless the first `dataInputs` inputs (default: all) and every output in use are
  /// float32; later inputs are parameters such as Pad's pads or Slice's starts.
  void requireFloat32(size_t dataInputs = SIZE_MAX) const;

  llvm::Constant *i64(int64_t v);
  llvm::Constant *i32(int64_t v);
  llvm::Constant *f32(float v);
  llvm::Constant *null();
  /// A private constant array (dims, offsets, tables a kernel reads).
  llvm::Constant *i64Array(const std::vector<int64_t> &values);
  /// A private constant derived at compile time (pre-packed weights), kAlignment aligned.
  llvm::Constant *derivedConstant(const void *data, size_t bytes);
  llvm::Constant *derivedConstant(const std::vector<float> &values) {
    return derivedConstant(values.data(), values.size() * sizeof(float));
  }

  /// The address of `value` (a weight, an arena block or an io slot); null for nullptr.
  llvm::Value *address(const ir::Value *value);
  /// Whether the rule asked for the address of `value` (an output it did not is unwritten).
  bool wasAddressed(const ir::Value *value) const { return addressed_.count(value) > 0; }
  /// Calls kernel `name` with `args` followed by the node's task range.
  void callKernel(const std::string &name, std::vector<llvm::Value *> args);
  /// Appends the (int32 kind, float alpha, float beta) activation arguments.
  void pushActivation(std::vector<llvm::Value *> &args);
  /// Constant int64 data of input i (Slice starts, Pad pads, ...); fails when not constant.
  std::vector<int64_t> constantInts(size_t i, const char *what) const;
  /// y[i...] = x[base + sum_d i_d * strides[d]] over y's dims, for any dtype (Transpose,
  /// Slice, Expand, Tile, DepthToSpace). Returns the task count (y's rows).
  int64_t emitGather(const ir::Value *x, const ir::Value *y, int64_t base, std::vector<int64_t> strides);
  /// The same over a finer row-major view `dims` of y (Tile: [r0, d0, r1, d1, ...]).
  int64_t emitGather(const ir::Value *x, const ir::Value *y, int64_t base, std::vector<int64_t> dims,
                     std::vector<int64_t> strides);

private:
  ModuleState &state_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  llvm::PointerType *ptrTy_;
  llvm::Value *arena_, *io_, *begin_, *end_;
  const ir::Node &node_;
  const ir::Node *absorbed_;
  ir::FusedActivation activation_;
  const ir::Value *residual_;
  std::set<const ir::Value *> addressed_;
};

/// "<base>_b<bytes per element>": the variant of an element-size-generic kernel
/// (kernels/Movement.cpp, kernels/Indexing.cpp) for tensors of `dtype`.
std::string sizedKernelName(const std::string &base, ir::DType dtype);

/// leip_dtype of include/leip/runtime.h (also the dtype codes kernels take).
int32_t runtimeDTypeCode(ir::DType type);

/// Product of dims [from, to) of `shape`.
int64_t dimProduct(const ir::Shape &shape, size_t from, size_t to);

/// Bytes per element of `value`.
int64_t elementSize(const ir::Value *value);

/// `axis` normalized for a tensor of `rank` dims; fails (naming the node) when out of range.
int64_t normalizedAxis(NodeLowering &L, int64_t axis, int64_t rank);

/// Row-major strides of `shape` as seen from an output of rank `rank` under ONNX
/// (numpy) broadcasting: right-aligned, 0 along dims of size 1 or missing.
std::vector<int64_t> broadcastStrides(const ir::Shape &shape, size_t rank);

/// Drops dims of size 1 and merges neighbours that are contiguous for every stride set, so
/// kernels see the fewest dims. Returns false when more than `maxRank` dims remain;
/// otherwise pads with leading 1s (stride 0) to exactly maxRank.
bool collapseDims(std::vector<int64_t> &dims, std::vector<std::vector<int64_t>> &strides, size_t maxRank);

/// Positions per register tile of kernels/MicroKernel.h (a value the kernels instantiate:
/// leip_k_conv2d_direct_f32, leip_k_gemm_packed_f32) for `count` positions: the widest that
/// the target's registers hold (preferring one that divides `count` at 16 and 4 lanes).
int64_t laneTileRows(int lanes, int64_t count);

/// Graph rewrites the convolution kernels rely on, run on the compiler's copy of the graph
/// before memory planning: convolutions lowered to the direct kernel read a zero-padded
/// input, written by a Pad node inserted here or, when the input is a direct convolution's
/// output read by nothing else, by that convolution itself (its output value takes the
/// padded shape). Returns how many convolutions write padded outputs.
int64_t insertConvPadding(ir::Graph &graph, int vectorLanes);
/// The zero border (top, left, bottom, right) insertConvPadding gave a node's output in
/// place of a Pad node before the convolutions that read it; zeros when it has none.
std::array<int64_t, 4> outputPads(const ir::Node &node);
/// The node's own output 0 shape, without the border of outputPads.
ir::Shape unpaddedOutputShape(const ir::Node &node);
/// A Conv's output shape before the MaxPool fused into it (passes::fuseMaxPools), if any.
ir::Shape convOutputShape(const ir::Node &conv);
/// Whether a direct convolution may store its output over its `residual` (when nothing
/// reads the residual after it): the kernel reads each residual cell before it stores that
/// cell, the two are laid out alike, and the residual is not also the convolution's input.
bool directConvMayWriteOverResidual(const ir::Node &conv, const ir::Value &residual, int vectorLanes);
/// Whether the direct convolution kernel can fold `pool`, read from `conv`'s output, into
/// its stores (passes::fuseMaxPools): `conv` uses it and the pool's rows fit its buffers.
bool directConvTakesMaxPool(const ir::Node &conv, const ir::Node &pool, int vectorLanes);
/// Whether a MaxPool's kernel can write its output inside a zero border (a float 2-D pool
/// without Indices that fits the row-at-a-time kernel).
bool maxPoolWritesPaddedOutputs(const ir::Node &pool);
/// Whether the direct convolution kernel splits `conv`'s work across threads by output rows
/// (false: by channel blocks, or `conv` does not run on that kernel). Its Pad node splits
/// the same way, so each thread reads the rows it padded.
bool directConvSplitsRows(const ir::Node &conv, int vectorLanes);
/// A leip.QConv whose residual is a per-tensor DequantizeLinear's output reads the 8-bit
/// tensor instead, dequantizing each element in its epilogue with the same formula; the
/// DequantizeLinear goes when nothing else reads it (mobilenet_v2 int8: 10 nodes, whose
/// float outputs were read back from memory, half of them from the other core at 2
/// threads). Returns the number of residuals folded.
int64_t foldResidualDequantizes(ir::Graph &graph);
/// Whether `conv` runs on the direct convolution kernel, which can add a residual tensor
/// before its activation (passes::fuseResidualAdds).
bool directConvTakesResidual(const ir::Node &conv, int vectorLanes);

/// Emits the kernel calls of one node; returns its task count (how many pieces the
/// runtime's threads may split it into; the kernel computes tasks [begin, end)).
using LowerFn = int64_t (*)(NodeLowering &);
using LoweringRules = std::map<std::string, LowerFn>;

/// The rule for `node`'s op (ONNX ops by name, leip's internal ops as "leip.<name>"), or
/// nullptr when the compiler cannot lower it.
LowerFn findLowering(const ir::Node &node);

/// Elementwise binary ops, whose kernel can absorb a following activation node.
bool isBinaryElementwise(const std::string &opType);

// One registration function per op family, each in src/codegen/lower/<family>.cpp.
void addConvLowerings(LoweringRules &rules);
void addConvTransposeLowerings(LoweringRules &rules);
void addPoolLowerings(LoweringRules &rules);
void addGemmLowerings(LoweringRules &rules);
void addElementwiseLowerings(LoweringRules &rules);
void addReduceLowerings(LoweringRules &rules);
void addQuantizeLowerings(LoweringRules &rules);
void addNormalizationLowerings(LoweringRules &rules);
void addMovementLowerings(LoweringRules &rules);
void addIndexingLowerings(LoweringRules &rules);
void addResizeLowerings(LoweringRules &rules);
void addGridSampleLowerings(LoweringRules &rules);
void addEinsumLowerings(LoweringRules &rules);
void addIntegerNNLowerings(LoweringRules &rules);
void addQConvLowerings(LoweringRules &rules);

} // namespace leip::codegen
