// Pieces that every target's compiler shares (the CPU module builder in Compiler.cpp and the
// NVIDIA one in cuda/CudaCompiler.cpp): grouping nodes into steps, the activation memory
// plan, LLVM set-up, object emission and model_schema.json.
#pragma once

#include "leip/codegen/Compiler.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/Graph.h"
#include "leip/passes/LowerQdq.h"

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace leip::codegen {

/// The compiler's copy of the graph after the graph passes and, with `integerKernels`, the
/// lowering of quantized (QDQ) convolutions to integer ones; the caller's graph stays what
/// the interpreter runs.
struct PreparedGraph {
  std::unique_ptr<ir::Graph> graph;
  passes::QdqLoweringStats quantization; // with options.keptFloat's reasons merged in
  /// "int8" when every quantized convolution runs on integers, "mixed" when some stay float,
  /// "float32" when none runs on integers.
  std::string dataType;
};
PreparedGraph prepareGraph(const ir::Graph &source, const CompileOptions &options, bool integerKernels);

/// Greedy first-fit offsets over value lifetimes in topological order: a value lives from
/// its producer to its last reader, after which its block is reused.
class MemoryPlanner {
public:
  explicit MemoryPlanner(int64_t alignment) : alignment_(alignment) {}
  int64_t allocate(int64_t bytes);
  void release(int64_t offset);
  int64_t peak() const { return peak_; }

private:
  int64_t alignment_;
  std::vector<std::pair<int64_t, int64_t>> live_; // (offset, size), sorted by offset
  int64_t peak_ = 0;
};

/// One compiled step: a node, possibly with the activation node after it absorbed (an
/// elementwise op followed by Relu/Clip/...: the kernel applies the activation and writes
/// the activation's output directly).
struct Step {
  const ir::Node *node = nullptr;
  /// The last node folded into this step, whose outputs the step writes.
  const ir::Node *absorbed = nullptr;
  ir::FusedActivation act;
  /// A tensor added to the node's result before the activation: the residual input of a Conv
  /// (passes::fuseResidualAdds), else null.
  const ir::Value *residual = nullptr;
  const std::vector<ir::Value *> &outputs() const { return absorbed ? absorbed->outputs() : node->outputs(); }
};

/// The steps of `order`, each binary elementwise node absorbing the activation node that is
/// its output's only reader (when that output is not a graph output).
std::vector<Step> planSteps(const ir::Graph &graph, const std::vector<ir::Node *> &order);

/// For each step, the values whose last reader it is (inputs and dead outputs), so a memory
/// plan can release their blocks after the step.
std::vector<std::vector<const ir::Value *>> lastUses(const std::vector<Step> &steps);

/// Fails (BadInputError) on a graph output with a dynamic shape.
void checkStaticOutputs(const ir::Graph &graph);

/// The O3-ready LLVM target machine for `triple`, LLVM's targets initialized once.
std::unique_ptr<llvm::TargetMachine> createTargetMachine(const std::string &triple, const std::string &cpu,
                                                         const std::string &features, const std::string &describe);

/// Only the C ABI of include/leip/runtime.h (leip_* but not leip_k_/leip_node_/leip_rt_)
/// stays visible; kernels, node functions, weights and runtime internals become internal, so
/// that O3 inlines and specializes them and drops the rest. Every function gets `cpu` and
/// `features`.
void internalizeForTarget(llvm::Module &mod, const std::string &cpu, const std::string &features);

/// LLVM's default O3 pipeline over `mod`.
void optimizeModule(llvm::Module &mod, llvm::TargetMachine &tm);

/// Throws InternalError naming the problem when `mod` is not valid IR.
void verifyModuleOrThrow(const llvm::Module &mod);

/// Writes `mod` as an object file (or as assembly text, e.g. PTX, when `assembly`).
void emitModule(llvm::Module &mod, llvm::TargetMachine &tm, const std::filesystem::path &path, bool assembly);

/// The fields of model_schema.json that every target writes; the caller adds its own
/// ("target", "gpu", ...).
nlohmann::json schemaJson(const ir::Graph &graph, const CompileOptions &options, const std::string &dataType,
                          const passes::QdqLoweringStats &quantization, int64_t peakActivationBytes);

/// Writes `schema` to `path` (2-space indent) with its "checksum" (leip/codegen/SchemaChecksum.h); throws
/// BadInputError when it cannot.
void writeSchema(const std::filesystem::path &path, const nlohmann::json &schema);

/// The features of src/runtime/CpuFeatures.h that `tm` enables: what the artifact's code may use.
std::vector<std::string> requiredCpuFeatures(const llvm::TargetMachine &tm);

/// Records in `schema` ("target"/"required_features") and in the module (for the runtime's
/// load-time checks, docs/reliability.md) the CPU features the code needs and the schema's
/// checksum. Call before internalizeForTarget, once `schema` is final.
void sealArtifact(llvm::Module &mod, const llvm::TargetMachine &tm, nlohmann::json &schema);

} // namespace leip::codegen
