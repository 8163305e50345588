// See CompilerSupport.h.
#include "CompilerSupport.h"

#include "Lowering.h"

#include "leip/codegen/SchemaChecksum.h"
#include "leip/passes/FuseActivations.h"
#include "leip/passes/Pipeline.h"
#include "leip/support/Error.h"

#include "../runtime/CpuFeatures.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetOptions.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

namespace leip::codegen {

namespace fs = std::filesystem;

PreparedGraph prepareGraph(const ir::Graph &source, const CompileOptions &options, bool integerKernels) {
  PreparedGraph prepared;
  prepared.graph = passes::cloneGraph(source);
  passes::optimizeForCompile(*prepared.graph);
  passes::QdqLoweringStats &quantization = prepared.quantization;
  if (integerKernels) quantization = passes::lowerQdqToInteger(*prepared.graph);
  for (const auto &kept : options.keptFloat) {
    auto it = std::find_if(quantization.floatConvs.begin(), quantization.floatConvs.end(),
                           [&](const auto &conv) { return conv.node == kept.node; });
    if (it != quantization.floatConvs.end()) it->reason = kept.reason;
    else quantization.floatConvs.push_back(kept);
  }
  prepared.dataType = quantization.convsLowered == 0   ? "float32"
                      : quantization.floatConvs.empty() ? "int8"
                                                        : "mixed";
  return prepared;
}

int64_t MemoryPlanner::allocate(int64_t bytes) {
  bytes = std::max<int64_t>(alignment_, (bytes + alignment_ - 1) / alignment_ * alignment_);
  int64_t offset = 0;
  auto it = live_.begin();
  for (; it != live_.end(); ++it) {
    if (it->first - offset >= bytes) break;
    offset = std::max(offset, it->first + it->second);
  }
  live_.insert(it, {offset, bytes});
  peak_ = std::max(peak_, offset + bytes);
  return offset;
}

void MemoryPlanner::release(int64_t offset) {
  auto it = std::find_if(live_.begin(), live_.end(), [&](const auto &b) { return b.first == offset; });
  if (it != live_.end()) live_.erase(it);
}

std::vector<Step> planSteps(const ir::Graph &graph, const std::vector<ir::Node *> &order) {
  std::vector<Step> steps;
  std::set<const ir::Node *> absorbed;
  const auto &outs = graph.outputs();
  for (const ir::Node *node : order) {
    if (absorbed.count(node)) continue;
    Step step{node, nullptr, ir::fusedActivation(*node), passes::convResidual(*node)};
    const ir::Value *y = node->numOutputs() == 1 ? node->output(0) : nullptr;
    if (isBinaryElementwise(node->opType()) && y && y->users().size() == 1 &&
        std::find(outs.begin(), outs.end(), y) == outs.end()) {
      const ir::Node *user = y->users()[0];
      if (user->domain().empty() && user->numInputs() >= 1 && user->input(0) == y)
        if (std::optional<ir::FusedActivation> act = passes::activationOf(*user)) {
          step.absorbed = user;
          step.act = *act;
          absorbed.insert(user);
        }
    }
    steps.push_back(step);
  }
  return steps;
}

std::vector<std::vector<const ir::Value *>> lastUses(const std::vector<Step> &steps) {
  std::unordered_map<const ir::Value *, size_t> last;
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const ir::Value *in : steps[i].node->inputs())
      if (in) last[in] = i;
    if (steps[i].residual) last[steps[i].residual] = i;
  }
  for (size_t i = 0; i < steps.size(); ++i)
    for (const ir::Value *out : steps[i].outputs())
      if (out && !last.count(out)) last[out] = i; // dead output: free right after the step
  std::vector<std::vector<const ir::Value *>> released(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    std::set<const ir::Value *> done;
    for (const ir::Value *v : steps[i].node->inputs())
      if (v && last[v] == i) done.insert(v);
    if (steps[i].residual && last[steps[i].residual] == i) done.insert(steps[i].residual);
    for (const ir::Value *v : steps[i].outputs())
      if (v && last[v] == i) done.insert(v);
    released[i].assign(done.begin(), done.end());
  }
  return released;
}

void checkStaticOutputs(const ir::Graph &graph) {
  for (const ir::Value *out : graph.outputs())
    if (!out->type().isStatic()) throw BadInputError("output '" + out->name() + "' has a dynamic shape");
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const std::string &triple, const std::string &cpu,
                                                         const std::string &features, const std::string &describe) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    llvm::InitializeAllAsmParsers(); // inline assembly in the kernels (aarch64 sdot)
  });
  std::string error;
  const llvm::Target *t = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!t) throw InternalError("LLVM has no target " + triple + ": " + error);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(t->createTargetMachine(triple, cpu, features, options, llvm::Reloc::PIC_,
                                                                  std::nullopt, llvm::CodeGenOpt::Aggressive));
  if (!tm) throw InternalError("LLVM cannot create a target machine for " + describe);
  return tm;
}

void optimizeModule(llvm::Module &mod, llvm::TargetMachine &tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(mod, mam);
}

void verifyModuleOrThrow(const llvm::Module &mod) {
  std::string problems;
  llvm::raw_string_ostream problemStream(problems);
  if (llvm::verifyModule(mod, &problemStream))
    throw InternalError("codegen produced an invalid LLVM module: " + problemStream.str());
}

void emitModule(llvm::Module &mod, llvm::TargetMachine &tm, const fs::path &path, bool assembly) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path.string(), ec);
  if (ec) throw BadInputError(path.string() + ": cannot write: " + ec.message());
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, out, nullptr, assembly ? llvm::CGFT_AssemblyFile : llvm::CGFT_ObjectFile))
    throw InternalError("LLVM cannot emit " + std::string(assembly ? "assembly" : "an object file") + " for " +
                        tm.getTargetTriple().str());
  pm.run(mod);
  out.flush();
}

/// Only the C ABI of runtime.h stays visible; kernels, node functions, weights and runtime
/// internals become internal so that O3 inlines and specializes them and drops the rest.
/// Every function gets the target's CPU and features.
void internalizeForTarget(llvm::Module &mod, const std::string &cpu, const std::string &features) {
  auto isAbi = [](llvm::StringRef name) {
    return name.startswith("leip_") && !name.startswith("leip_k_") && !name.startswith("leip_node_") &&
           !name.startswith("leip_rt_");
  };
  for (llvm::Function &fn : mod) {
    if (fn.isDeclaration()) continue;
    if (!isAbi(fn.getName())) fn.setLinkage(llvm::GlobalValue::InternalLinkage);
    else fn.setVisibility(llvm::GlobalValue::DefaultVisibility);
    // -ffreestanding marks the bitcode "no-builtins"; at compile time libc is known to be
    // there, and matching attributes let the inliner work across kernels and node functions.
    std::vector<std::string> drop;
    for (const llvm::Attribute &attr : fn.getAttributes().getFnAttrs())
      if (attr.isStringAttribute() && attr.getKindAsString().startswith("no-builtin"))
        drop.push_back(attr.getKindAsString().str());
    for (const std::string &name : drop) fn.removeFnAttr(name);
    fn.removeFnAttr("tune-cpu");
    // The exported functions keep the bitcode's generic CPU, so that loading the artifact
    // on a CPU without the target's features reaches leip_model_check_cpu and its message
    // instead of an illegal instruction (the kernels and node functions get the features).
    if (isAbi(fn.getName())) {
      // ...but no outlined atomics (aarch64 clang's default: calls to libgcc's
      // __aarch64_cas4_acq and friends, which artifacts do not link).
      std::string own = fn.getFnAttribute("target-features").getValueAsString().str();
      for (size_t at; (at = own.find("+outline-atomics")) != std::string::npos;) own[at] = '-';
      if (!own.empty()) fn.addFnAttr("target-features", own);
      continue;
    }
    fn.addFnAttr("target-cpu", cpu);
    fn.addFnAttr("target-features", features);
  }
  for (llvm::GlobalVariable &gv : mod.globals())
    if (!gv.isDeclaration() && !gv.hasLocalLinkage()) gv.setLinkage(llvm::GlobalValue::InternalLinkage);
}

namespace {

std::string runtimeDTypeName(ir::DType t) {
  switch (t) {
  case ir::DType::F32: return "float32";
  case ir::DType::F16: return "float16";
  case ir::DType::I8: return "int8";
  case ir::DType::U8: return "uint8";
  case ir::DType::I32: return "int32";
  case ir::DType::I64: return "int64";
  case ir::DType::Bool: return "bool";
  }
  return "unknown";
}

std::string sha256OfFile(const std::string &path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return ""; // e.g. a graph built in memory
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256Hex(bytes);
}

nlohmann::json tensorsJson(const std::vector<ir::Value *> &values) {
  nlohmann::json list = nlohmann::json::array();
  for (const ir::Value *v : values)
    list.push_back({{"name", v->name()}, {"dtype", runtimeDTypeName(v->type().dtype)}, {"shape", v->type().shape}});
  return list;
}

/// model_schema.json's "quantization": what ran on integers and which quantized
/// convolutions stayed float, with the reason.
nlohmann::json quantizationJson(const passes::QdqLoweringStats &stats) {
  nlohmann::json floatConvs = nlohmann::json::array();
  for (const auto &conv : stats.floatConvs) floatConvs.push_back({{"node", conv.node}, {"reason", conv.reason}});
  return {{"integer_convs", stats.convsLowered},
          {"residual_adds_fused", stats.residualAddsFolded},
          {"quantized_outputs", stats.quantizedOutputs},
          {"integer_maxpools", stats.maxPoolsLowered},
          {"float_convs", floatConvs}};
}

} // namespace

nlohmann::json schemaJson(const ir::Graph &graph, const CompileOptions &options, const std::string &dataType,
                          const passes::QdqLoweringStats &quantization, int64_t peakActivationBytes) {
  return {{"leip_version", LEIP_VERSION},
          {"runtime_abi_version", 1},
          {"library", "modelLibrary.so"},
          {"target",
           {{"arch", options.target.arch},
            {"triple", options.target.triple},
            {"cpu", options.target.cpu},
            {"features", options.target.features}}},
          {"data_type", dataType},
          {"quantization", quantizationJson(quantization)},
          {"source", {{"path", options.sourcePath}, {"sha256", sha256OfFile(options.sourcePath)}}},
          {"inputs", tensorsJson(graph.inputs())},
          {"outputs", tensorsJson(graph.outputs())},
          {"peak_activation_bytes", peakActivationBytes}};
}

std::vector<std::string> requiredCpuFeatures(const llvm::TargetMachine &tm) {
  const llvm::MCSubtargetInfo *sti = tm.getMCSubtargetInfo();
  std::vector<std::string> names;
  if (tm.getTargetTriple().isX86()) {
    for (const leip_cpu::X86Feature &f : leip_cpu::kX86Features)
      if (sti->checkFeatures(std::string("+") + f.name)) names.push_back(f.name);
  } else if (tm.getTargetTriple().isAArch64()) {
    for (const leip_cpu::Arm64Feature &f : leip_cpu::kArm64Features)
      if (sti->checkFeatures(std::string("+") + f.name)) names.push_back(f.name);
  }
  return names;
}

namespace {

/// Defines the constant string `name` that the runtime declares weak (Runtime.cpp).
void defineRuntimeString(llvm::Module &mod, const std::string &name, const std::string &value) {
  llvm::Constant *init = llvm::ConstantDataArray::getString(mod.getContext(), value);
  auto *gv = new llvm::GlobalVariable(mod, init->getType(), /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
                                      init, name + ".def");
  if (llvm::GlobalVariable *decl = mod.getGlobalVariable(name)) {
    decl->replaceAllUsesWith(gv);
    decl->eraseFromParent();
  }
  gv->setName(name);
}

} // namespace

void sealArtifact(llvm::Module &mod, const llvm::TargetMachine &tm, nlohmann::json &schema) {
  const std::vector<std::string> features = requiredCpuFeatures(tm);
  std::string joined;
  for (const std::string &f : features) joined += (joined.empty() ? "" : ",") + f;
  schema["target"]["required_features"] = features;
  defineRuntimeString(mod, "leip_compiled_cpu_features", joined);
  defineRuntimeString(mod, "leip_compiled_schema_sha256", schemaChecksum(schema));
}

void writeSchema(const fs::path &path, const nlohmann::json &schemaIn) {
  nlohmann::json schema = schemaIn;
  schema["checksum"] = schemaChecksum(schema);
  std::ofstream out(path);
  out << schema.dump(2) << "\n";
  if (!out) throw BadInputError(path.string() + ": cannot write");
}

} // namespace leip::codegen
