// The compiler: graph -> LLVM module (embedded kernel/runtime bitcode + generated node
// functions, weights and model descriptor) -> O3 -> object -> lld -> modelLibrary.so.
// See docs/codegen-design.md.
#include "leip/codegen/Compiler.h"

#include "CompilerSupport.h"
#include "Linker.h"
#include "Lowering.h"
#include "cuda/CudaCompiler.h"

#include "leip/ir/FusedActivation.h"
#include "leip/passes/FuseActivations.h"
#include "leip/passes/Pipeline.h"
#include "leip/support/Error.h"
#include "leip/support/StagedDirectory.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <optional>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

// The bitcode blobs embedded by src/codegen/CMakeLists.txt (EmbeddedBitcode.S).
extern "C" const char leip_bitcode_x86_64_start[], leip_bitcode_x86_64_end[];
extern "C" const char leip_bitcode_aarch64_start[], leip_bitcode_aarch64_end[];

namespace leip::codegen {

namespace {

namespace fs = std::filesystem;

/// Fails early, before any LLVM work, on the first node the compiler has no rule for
/// (rules may still refuse a node's attributes or types while lowering).
void checkCompilable(const ir::Graph &graph, const std::vector<ir::Node *> &order) {
  for (const ir::Node *node : order)
    if (!findLowering(*node))
      throw BadInputError(node->describe() + ": op " + node->opType() + " cannot be compiled yet");
  // Graph inputs and outputs may have any IR dtype (runtime.h has a code for each); the
  // rules refuse the dtypes their kernels lack, naming the node. Outputs that are constants
  // or graph inputs are copied into place (ModuleBuilder::emitOutputCopies).
  checkStaticOutputs(graph);
}

/// Builds the module: one function per node, weights, and the model descriptor.
class ModuleBuilder {
public:
  ModuleBuilder(llvm::Module &module, const ir::Graph &graph, int vectorLanes, Int8Dot int8Dot)
      : mod_(module), ctx_(module.getContext()), graph_(graph), state_(module, vectorLanes, int8Dot) {
    ptrTy_ = llvm::PointerType::get(ctx_, 0);
    i32Ty_ = llvm::Type::getInt32Ty(ctx_);
    i64Ty_ = llvm::Type::getInt64Ty(ctx_);
  }

  int64_t build(const std::vector<ir::Node *> &order) {
    planSteps(order);
    planMemory();
    for (size_t i = 0; i < steps_.size(); ++i) lowerStep(steps_[i], i);
    emitOutputCopies();
    emitDescriptor();
    return planner_.peak();
  }

  int64_t outputsOverResiduals() const { return outputsOverResiduals_; }
  int64_t byteDotConvs() const { return state_.byteDotConvs; }
  int64_t signDotConvs() const { return state_.signDotConvs; }
  int64_t winogradConvs() const { return state_.winogradConvs; }

  int64_t residualAddsFused() const {
    return std::count_if(steps_.begin(), steps_.end(), [](const Step &step) { return step.residual != nullptr; });
  }

private:
  void planSteps(const std::vector<ir::Node *> &order) {
    steps_ = codegen::planSteps(graph_, order);
  }

  void planMemory() {
    const auto &ins = graph_.inputs();
    const auto &outs = graph_.outputs();
    for (size_t i = 0; i < ins.size(); ++i) state_.storage[ins[i]] = {Storage::Io, 0, static_cast<int>(i)};
    for (size_t i = 0; i < outs.size(); ++i)
      if (!state_.storage.count(outs[i])) state_.storage[outs[i]] = {Storage::Io, 0, static_cast<int>(ins.size() + i)};

    std::vector<std::vector<const ir::Value *>> released = lastUses(steps_);
    for (size_t i = 0; i < steps_.size(); ++i) {
      writeOverResidual(steps_[i], released[i]);
      // Outputs first, then release inputs read for the last time: a kernel never writes
      // over a buffer it is still reading.
      for (const ir::Value *out : steps_[i].outputs()) {
        if (!out || state_.storage.count(out)) continue;
        state_.storage[out] = {Storage::Arena, planner_.allocate(static_cast<int64_t>(out->type().byteSize())), 0};
        spdlog::debug("arena: '{}' at byte {} ({} bytes)", out->name(), state_.storage[out].offset,
                      out->type().byteSize());
      }
      for (const ir::Value *v : released[i]) {
        auto it = state_.storage.find(v);
        if (it != state_.storage.end() && it->second.kind == Storage::Arena) planner_.release(it->second.offset);
      }
    }
  }

  /// A direct convolution whose residual nothing reads after it stores its output over the
  /// residual (directConvMayWriteOverResidual): that block was just written and read, so it
  /// is still in cache where a new one would first be fetched from memory, and the plan
  /// holds one tensor less. The step then takes over the block (`released`, the values the
  /// step reads last, loses the residual).
  void writeOverResidual(const Step &step, std::vector<const ir::Value *> &released) {
    if (!step.residual || step.outputs().size() != 1 || !step.outputs()[0]) return;
    const ir::Value *out = step.outputs()[0];
    auto residual = state_.storage.find(step.residual);
    auto last = std::find(released.begin(), released.end(), step.residual);
    if (state_.storage.count(out) || residual == state_.storage.end() || residual->second.kind != Storage::Arena ||
        last == released.end() || !directConvMayWriteOverResidual(*step.node, *step.residual, state_.vectorLanes))
      return;
    state_.storage[out] = residual->second;
    released.erase(last);
    ++outputsOverResiduals_;
    spdlog::debug("arena: '{}' over its residual '{}' at byte {}", out->name(), step.residual->name(),
                  residual->second.offset);
  }

  llvm::Constant *i64(int64_t v) { return llvm::ConstantInt::get(i64Ty_, v); }
  llvm::Constant *i32(int64_t v) { return llvm::ConstantInt::get(i32Ty_, v); }
  llvm::Constant *null() { return llvm::ConstantPointerNull::get(ptrTy_); }

  llvm::GlobalVariable *constantBytes(const std::string &name, llvm::StringRef bytes) {
    std::string data = bytes.empty() ? std::string(1, '\0') : bytes.str();
    auto *init = llvm::ConstantDataArray::getRaw(data, data.size(), llvm::Type::getInt8Ty(ctx_));
    auto *gv = new llvm::GlobalVariable(mod_, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init, name);
    gv->setAlignment(llvm::Align(kAlignment));
    gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return gv;
  }

  llvm::Constant *i64Array(const std::vector<int64_t> &values) {
    std::string bytes(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(int64_t));
    return constantBytes("leip_dims", bytes);
  }

  // A rough cost model, only to decide how many threads a node is worth: a handoff between
  // threads costs about a microsecond, so pieces under kMinChunkNanoseconds of work run
  // better on one thread. And a node split across cores leaves its output spread over their
  // caches, where the next node, split differently or not at all, reads much of it from the
  // other core at a latency-bound few GB/s: below kMinSplitNanoseconds of work that costs
  // more than the split saves (a 28x28 model's nodes take a few microseconds each;
  // fmnist_mobilenetv2 at 2 threads: 0.181 -> 0.136 ms with 20 us; 40 us gave 0.106 but cost mobilenet_v2 3 %).
  static constexpr double kBytesPerNanosecond = 16.0, kMacsPerNanosecond = 50.0, kMinChunkNanoseconds = 4000.0,
                          kMinSplitNanoseconds = 20000.0;
  /// Cost charged per channel plane of an integer depthwise convolution. Its kernel puts
  /// channels in the vector lanes, so a plane's own cost is small (on the 2-core EPYC
  /// mobilenet_v2's 7x7 and 14x14 layers fit 2 ns per plane plus 0.16 ns per output); 15 ns
  /// keeps its 7x7 layers (0.4 M multiply-adds, about 10 us) above kMinSplitNanoseconds:
  /// split, its three 960-channel layers took 26-27 us at 2 threads, 32-34 us unsplit (0 ns).
  /// 100 ns, set for the earlier one-plane-per-task kernel, splits the same layers.
  static constexpr double kPlaneNanoseconds = 15.0;

  static int64_t chunksFor(double nanoseconds) {
    if (nanoseconds < kMinSplitNanoseconds) return 1;
    return std::max<int64_t>(1, static_cast<int64_t>(nanoseconds / kMinChunkNanoseconds));
  }

  /// The step's work estimate (bytes of activations read and written, and multiply-adds of
  /// the convolution and matrix ops) as a number of worthwhile chunks.
  int64_t worthwhileChunks(const Step &step) {
    double bytes = 0.0, macs = 0.0, planes = 0.0;
    for (const ir::Value *in : step.node->inputs())
      if (in && !in->isConstant()) bytes += static_cast<double>(in->type().byteSize());
    for (const ir::Value *out : step.outputs())
      if (out) bytes += static_cast<double>(out->type().byteSize());
    const ir::Node &node = *step.node;
    const std::string &op = node.opType();
    if ((op == "Conv" || op == "ConvTranspose" || op == "ConvInteger" || op == "QLinearConv" || op == "QConv") &&
        node.numInputs() > 1) {
      // Multiply-adds per output (per input for ConvTranspose): weight elements / K.
      const ir::Shape &ws = node.input(op == "QLinearConv" ? 3 : 1)->type().shape;
      const double perElement = ws.size() > 1 && ws[0] > 0 ? static_cast<double>(ir::numElements(ws) / ws[0]) : 1.0;
      const ir::Value *counted = op == "ConvTranspose" ? node.input(0) : node.output(0);
      macs = static_cast<double>(counted->type().numElements()) * perElement;
      // 8-bit dot products do four multiply-adds per 32-bit lane, except in depthwise
      // convolutions, whose transposes (channels into the lanes and back) and few taps per
      // output keep them at about the float rate, plus a cost per channel plane.
      const ir::Shape &xs = node.input(0)->type().shape;
      const bool depthwise = node.attrs().getInt("group", 1) == xs[1] && ws[0] == xs[1];
      if (op == "QConv" && !depthwise) macs /= 4.0;
      else if (op == "QConv") planes = static_cast<double>(xs[0] * xs[1]);
    } else if (op == "Gemm" || op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
      const ir::Shape &as = node.input(0)->type().shape;
      macs = static_cast<double>(node.output(0)->type().numElements()) * static_cast<double>(as.empty() ? 1 : as.back());
    }
    return chunksFor(bytes / kBytesPerNanosecond + macs / kMacsPerNanosecond + planes * kPlaneNanoseconds);
  }

  /// `void leip_node_<index>(arena, io, begin, end)`: the step's kernel calls, emitted by the
  /// op's lowering rule (src/codegen/lower/).
  void lowerStep(const Step &step, size_t index) {
    auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), {ptrTy_, ptrTy_, i64Ty_, i64Ty_}, false);
    auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::InternalLinkage, "leip_node_" + std::to_string(index),
                                      mod_);
    NodeLowering lowering(state_, fn, *step.node, step.absorbed, step.act, step.residual);
    for (const ir::Value *v : step.node->inputs())
      if (v && !v->type().isStatic()) lowering.fail("dynamic shapes");
    for (const ir::Value *v : step.outputs())
      if (v && !v->type().isStatic()) lowering.fail("dynamic shapes");
    LowerFn rule = findLowering(*step.node);
    if (!rule) lowering.fail();
    int64_t tasks = rule(lowering);
    // A rule that leaves a needed output unwritten would hand back garbage: refuse instead.
    const auto &graphOutputs = graph_.outputs();
    for (const ir::Value *out : step.outputs())
      if (out && out->type().numElements() > 0 && !lowering.wasAddressed(out) &&
          (!out->users().empty() || std::find(graphOutputs.begin(), graphOutputs.end(), out) != graphOutputs.end()))
        lowering.fail("its output '" + out->name() + "' is not computed");
    lowering.builder().CreateRetVoid();
    const int64_t chunks = worthwhileChunks(step);
    spdlog::debug("leip_node_{}: {} -> {}, {} tasks, at most {} chunks", index, step.node->describe(),
                  step.outputs()[0]->type().toString(), tasks, chunks);
    nodes_.push_back({fn, tasks, chunks});
  }

  /// Graph outputs no step writes into their own io slot (a constant, a graph input, a value
  /// listed twice): a final node function copies them there.
  void emitOutputCopies() {
    const auto &ins = graph_.inputs();
    const auto &outs = graph_.outputs();
    llvm::Function *copy = mod_.getFunction("leip_k_copy");
    if (!copy) throw InternalError("codegen: kernel leip_k_copy is missing from the embedded bitcode");
    for (size_t i = 0; i < outs.size(); ++i) {
      const ir::Value *v = outs[i];
      const int slot = static_cast<int>(ins.size() + i);
      auto it = state_.storage.find(v);
      if (!v->isConstant() && it != state_.storage.end() && it->second.kind == Storage::Io && it->second.ioIndex == slot)
        continue;
      auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), {ptrTy_, ptrTy_, i64Ty_, i64Ty_}, false);
      auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::InternalLinkage,
                                        "leip_node_" + std::to_string(nodes_.size()), mod_);
      llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", fn));
      auto ioSlot = [&](int index) {
        return b.CreateLoad(ptrTy_, b.CreateGEP(ptrTy_, fn->getArg(1), i64(index)));
      };
      llvm::Value *src = nullptr;
      if (v->isConstant()) {
        const ir::Tensor &t = *v->constant();
        src = constantBytes("leip_output_" + std::to_string(i),
                            llvm::StringRef(static_cast<const char *>(t.rawData()), t.byteSize()));
      } else if (it != state_.storage.end() && it->second.kind == Storage::Io) {
        src = ioSlot(it->second.ioIndex);
      } else {
        throw InternalError("codegen: output '" + v->name() + "' has no storage to copy from");
      }
      b.CreateCall(copy, {src, ioSlot(slot), fn->getArg(2), fn->getArg(3)});
      b.CreateRetVoid();
      const int64_t bytes = static_cast<int64_t>(v->type().byteSize());
      nodes_.push_back({fn, bytes, chunksFor(2.0 * bytes / kBytesPerNanosecond)});
    }
  }

  /// The constant leip_compiled_model (layout of src/runtime/ModelDesc.h) replacing the
  /// runtime's external declaration.
  void emitDescriptor() {
    auto *tensorTy = llvm::StructType::get(ctx_, {ptrTy_, i32Ty_, i32Ty_, ptrTy_, i64Ty_});
    auto *nodeTy = llvm::StructType::get(ctx_, {ptrTy_, i64Ty_, i64Ty_});
    auto *modelTy = llvm::StructType::get(ctx_, {i32Ty_, i32Ty_, i32Ty_, i32Ty_, ptrTy_, ptrTy_, ptrTy_, i64Ty_});

    auto tensorTable = [&](const std::vector<ir::Value *> &values, const std::string &name) -> llvm::Constant * {
      std::vector<llvm::Constant *> entries;
      for (const ir::Value *v : values) {
        const ir::TensorType &t = v->type();
        std::string nameBytes = v->name() + std::string(1, '\0');
        entries.push_back(llvm::ConstantStruct::get(
            tensorTy, {constantBytes("leip_name", nameBytes), i32(runtimeDTypeCode(t.dtype)), i32(t.rank()),
                       i64Array(t.shape), i64(static_cast<int64_t>(t.byteSize()))}));
      }
      if (entries.empty()) return null();
      auto *arrTy = llvm::ArrayType::get(tensorTy, entries.size());
      return new llvm::GlobalVariable(mod_, arrTy, true, llvm::GlobalValue::PrivateLinkage,
                                      llvm::ConstantArray::get(arrTy, entries), name);
    };
    std::vector<llvm::Constant *> nodeEntries;
    for (const NodeEntry &node : nodes_)
      nodeEntries.push_back(llvm::ConstantStruct::get(nodeTy, {node.fn, i64(node.tasks), i64(node.maxChunks)}));
    llvm::Constant *nodeTable = null();
    if (!nodeEntries.empty()) {
      auto *arrTy = llvm::ArrayType::get(nodeTy, nodeEntries.size());
      nodeTable = new llvm::GlobalVariable(mod_, arrTy, true, llvm::GlobalValue::PrivateLinkage,
                                           llvm::ConstantArray::get(arrTy, nodeEntries), "leip_nodes");
    }
    auto *init = llvm::ConstantStruct::get(
        modelTy, {i32(1), i32(static_cast<int64_t>(graph_.inputs().size())),
                  i32(static_cast<int64_t>(graph_.outputs().size())), i32(static_cast<int64_t>(nodes_.size())),
                  tensorTable(graph_.inputs(), "leip_inputs"), tensorTable(graph_.outputs(), "leip_outputs"),
                  nodeTable, i64(planner_.peak())});
    auto *desc = new llvm::GlobalVariable(mod_, modelTy, true, llvm::GlobalValue::InternalLinkage, init,
                                          "leip_compiled_model.def");
    if (llvm::GlobalVariable *decl = mod_.getGlobalVariable("leip_compiled_model")) {
      decl->replaceAllUsesWith(desc);
      decl->eraseFromParent();
    }
    desc->setName("leip_compiled_model");
  }

  llvm::Module &mod_;
  llvm::LLVMContext &ctx_;
  const ir::Graph &graph_;
  ModuleState state_;
  llvm::PointerType *ptrTy_;
  llvm::Type *i32Ty_, *i64Ty_;
  MemoryPlanner planner_{kAlignment};
  struct NodeEntry {
    llvm::Function *fn;
    int64_t tasks, maxChunks;
  };
  std::vector<NodeEntry> nodes_;
  int64_t outputsOverResiduals_ = 0;
  std::vector<Step> steps_;
};

llvm::StringRef embeddedBitcode(const Target &target) {
  if (target.arch == "x86_64")
    return {leip_bitcode_x86_64_start, static_cast<size_t>(leip_bitcode_x86_64_end - leip_bitcode_x86_64_start)};
  if (target.arch == "aarch64")
    return {leip_bitcode_aarch64_start, static_cast<size_t>(leip_bitcode_aarch64_end - leip_bitcode_aarch64_start)};
  throw UsageError("no kernel library for target " + target.arch);
}

/// Float lanes of the target's widest vector registers, which sizes the kernels' register
/// tiles (an AVX-512 tile would spill on AVX2's sixteen 256-bit registers).
int vectorLanes(const llvm::TargetMachine &tm) {
  const llvm::MCSubtargetInfo *sti = tm.getMCSubtargetInfo();
  if (tm.getTargetTriple().isX86()) {
    if (sti->checkFeatures("+avx512f")) return 16;
    if (sti->checkFeatures("+avx2")) return 8;
  }
  return 4; // NEON, SSE
}

/// The integer kernels' dot product: VNNI's vpdpbusd where the target has it (at the
/// vector width the float kernels use: AVX-512 VNNI at 16 lanes, AVX-VNNI at 8), else
/// AVX2's vpmaddwd; aarch64's sdot with +dotprod; else plain arithmetic.
Int8Dot int8Dot(const llvm::TargetMachine &tm, int lanes) {
  const llvm::MCSubtargetInfo *sti = tm.getMCSubtargetInfo();
  if (tm.getTargetTriple().isAArch64()) return sti->checkFeatures("+dotprod") ? Int8Dot::Sdot : Int8Dot::Generic;
  if (!tm.getTargetTriple().isX86()) return Int8Dot::Generic;
  if (lanes == 16 && sti->checkFeatures("+avx512vnni")) return Int8Dot::Vnni;
  // The kernels' epilogues use FMA with every x86 kind (avx512f implies it).
  if (lanes == 8 && sti->checkFeatures("+avxvnni,+fma")) return Int8Dot::Vnni;
  if (sti->checkFeatures("+avx2,+fma")) return Int8Dot::Avx2;
  return Int8Dot::Generic;
}

} // namespace

CompileResult compileGraph(const ir::Graph &sourceGraph, const CompileOptions &options) {
  if (options.target.isCuda()) return compileGraphForCuda(sourceGraph, options);
  const Target &target = options.target;
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(target.triple, target.cpu, target.features, target.describe());
  const int lanes = vectorLanes(*tm);
  PreparedGraph prepared = prepareGraph(sourceGraph, options, options.integerKernels);
  std::unique_ptr<ir::Graph> &optimized = prepared.graph;
  const passes::QdqLoweringStats &quantization = prepared.quantization;
  const std::string &dataType = prepared.dataType;
  checkCompilable(*optimized, optimized->topologicalOrder());
  // A MaxPool after a direct convolution pools its rows while they are in L1: the
  // convolution's output (3.2 MB for resnet18's stem) is never written and read back.
  const int64_t maxPoolsFused = static_cast<int64_t>(
      passes::fuseMaxPools(*optimized, [lanes](const ir::Node &conv, const ir::Node &pool) {
        return directConvTakesMaxPool(conv, pool, lanes);
      }));
  // A residual Add read by the direct convolution's store costs one pass over tensors that
  // are still in cache instead of a node that reads two from memory.
  passes::fuseResidualAdds(*optimized, [lanes](const ir::Node &node) { return directConvTakesResidual(node, lanes); });
  const int64_t residualDequantizesFolded = foldResidualDequantizes(*optimized);
  const int64_t paddedOutputs = insertConvPadding(*optimized, lanes);
  const ir::Graph &graph = *optimized;
  std::vector<ir::Node *> order = graph.topologicalOrder();

  llvm::LLVMContext context;
  auto buffer = llvm::MemoryBuffer::getMemBuffer(embeddedBitcode(options.target), "leip_kernels", false);
  llvm::Expected<std::unique_ptr<llvm::Module>> parsed = llvm::parseBitcodeFile(buffer->getMemBufferRef(), context);
  if (!parsed) throw InternalError("embedded kernel bitcode is unreadable: " + llvm::toString(parsed.takeError()));
  std::unique_ptr<llvm::Module> mod = std::move(*parsed);
  mod->setModuleIdentifier(graph.name.empty() ? "model" : graph.name);

  ModuleBuilder builder(*mod, graph, lanes, int8Dot(*tm, lanes));
  int64_t peak = builder.build(order);

  // The runtime checks the CPU features and the schema's checksum recorded here at load.
  nlohmann::json schema = schemaJson(graph, options, dataType, quantization, peak);
  sealArtifact(*mod, *tm, schema);

  mod->setTargetTriple(options.target.triple);
  mod->setDataLayout(tm->createDataLayout());
  internalizeForTarget(*mod, target.cpu, target.features);
  verifyModuleOrThrow(*mod);
  optimizeModule(*mod, *tm);

  // Everything goes to a temporary sibling directory that is renamed into place at the
  // end, so a failed compile never leaves a partial artifact.
  StagedDirectory staged(options.outputDir);
  const fs::path &tempDir = staged.path();
  fs::path object = tempDir / "model.o";
  emitModule(*mod, *tm, object, /*assembly=*/false);
  linkSharedLibrary(options.target, object.string(), (tempDir / "modelLibrary.so").string());
  std::error_code ec;
  fs::remove(object, ec);

  writeSchema(tempDir / "model_schema.json", schema);
  staged.commit();
  const fs::path finalDir = fs::absolute(options.outputDir).lexically_normal();
  spdlog::debug("compiled {} nodes for {}, peak activations {} bytes", order.size(), options.target.describe(), peak);
  return {(finalDir / "modelLibrary.so").string(), (finalDir / "model_schema.json").string(), peak, quantization,
          dataType, builder.residualAddsFused(), paddedOutputs, residualDequantizesFolded, maxPoolsFused,
          builder.outputsOverResiduals(), builder.byteDotConvs(), builder.winogradConvs(),
          builder.signDotConvs()};
}

} // namespace leip::codegen
