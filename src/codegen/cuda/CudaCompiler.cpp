// The cuda target (docs/cuda.md):
//   1. device module: the embedded NVPTX kernel bitcode (kernels_cuda/*.cu) + one generated
//      __global__ entry per launch (CudaLowering.cpp) -> O3 -> PTX for the requested arch;
//   2. host module: the embedded host runtime bitcode (src/runtime/cuda) + the descriptor
//      leip_cuda_compiled_model (launch table, arena offsets, the PTX text and the weights)
//      -> O3 -> object -> lld -> modelLibrary.so, which needs only libc and, at run time,
//      the NVIDIA driver (dlopen of libcuda.so.1).
#include "CudaCompiler.h"

#include "CudaLowering.h"

#include "../CompilerSupport.h"
#include "../Linker.h"
#include "../Lowering.h"

#include "leip/passes/FuseActivations.h"
#include "leip/support/Error.h"
#include "leip/support/StagedDirectory.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

// The bitcode blobs embedded by src/codegen/CMakeLists.txt (EmbeddedBitcode.S).
extern "C" const char leip_bitcode_cuda_device_start[], leip_bitcode_cuda_device_end[];
extern "C" const char leip_bitcode_cuda_host_x86_64_start[], leip_bitcode_cuda_host_x86_64_end[];
extern "C" const char leip_bitcode_cuda_host_aarch64_start[], leip_bitcode_cuda_host_aarch64_end[];

namespace leip::codegen {

namespace {

namespace fs = std::filesystem;
using cuda::DeviceAddress;
using cuda::kDeviceAlignment;

/// The PTX ISA version each arch needs in LLVM 16's NVPTX backend (the oldest that has it,
/// so that older drivers can still JIT the PTX), and its compute capability.
struct ArchInfo {
  const char *arch;
  const char *ptxFeature;
  int computeCapability;
};
constexpr ArchInfo kArchs[] = {{"sm_75", "+ptx63", 75}, {"sm_80", "+ptx70", 80}, {"sm_86", "+ptx71", 86},
                               {"sm_87", "+ptx74", 87}, {"sm_89", "+ptx78", 89}, {"sm_90", "+ptx78", 90}};

const ArchInfo &archInfo(const std::string &arch) {
  for (const ArchInfo &info : kArchs)
    if (arch == info.arch) return info;
  throw UsageError("cuda arch " + arch + " is not supported");
}

std::unique_ptr<llvm::Module> parseEmbedded(const char *start, const char *end, const char *what,
                                            llvm::LLVMContext &context) {
  if (end <= start) throw InternalError(std::string("this leip was built without the ") + what + " bitcode");
  auto buffer = llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(start, static_cast<size_t>(end - start)), what, false);
  llvm::Expected<std::unique_ptr<llvm::Module>> parsed = llvm::parseBitcodeFile(buffer->getMemBufferRef(), context);
  if (!parsed)
    throw InternalError(std::string("embedded ") + what + " bitcode is unreadable: " + llvm::toString(parsed.takeError()));
  return std::move(*parsed);
}

void checkCompilableForCuda(const std::vector<ir::Node *> &order) {
  for (const ir::Node *node : order)
    if (!cuda::findGpuLowering(*node))
      throw BadInputError(node->describe() + ": op " + (node->domain().empty() ? "" : node->domain() + ".") +
                          node->opType() + " cannot be compiled for cuda yet");
}

/// The device module: storage plan, one entry per launch, PTX.
class DeviceModuleBuilder {
public:
  DeviceModuleBuilder(llvm::Module &module, const ir::Graph &graph) : state_(module), graph_(graph) {}

  void build(const std::vector<ir::Node *> &order) {
    steps_ = planSteps(graph_, order);
    planMemory();
    for (const Step &step : steps_) {
      cuda::GpuLowering lowering(state_, step);
      cuda::findGpuLowering(*step.node)(lowering);
    }
    placeOutputs();
  }

  cuda::DeviceModuleState &state() { return state_; }
  int64_t arenaBytes() const { return planner_.peak(); }
  const std::vector<int64_t> &inputOffsets() const { return inputOffsets_; }
  const std::vector<int64_t> &outputOffsets() const { return outputOffsets_; }

private:
  /// Graph inputs first, kept for the whole run (the host runtime copies them in before the
  /// first launch); graph outputs are never released (copied out after the last one).
  void planMemory() {
    for (const ir::Value *in : graph_.inputs()) {
      const int64_t offset = planner_.allocate(static_cast<int64_t>(in->type().byteSize()));
      state_.storage[in] = {DeviceAddress::Arena, offset};
      inputOffsets_.push_back(offset);
    }
    const auto &outs = graph_.outputs();
    auto pinned = [&](const ir::Value *v) {
      return std::find(outs.begin(), outs.end(), v) != outs.end() ||
             std::find(graph_.inputs().begin(), graph_.inputs().end(), v) != graph_.inputs().end();
    };
    const std::vector<std::vector<const ir::Value *>> released = lastUses(steps_);
    for (size_t i = 0; i < steps_.size(); ++i) {
      for (const ir::Value *out : steps_[i].outputs())
        if (out && !state_.storage.count(out))
          state_.storage[out] = {DeviceAddress::Arena,
                                 planner_.allocate(static_cast<int64_t>(out->type().byteSize()))};
      for (const ir::Value *v : released[i]) {
        auto it = state_.storage.find(v);
        if (it != state_.storage.end() && !pinned(v)) planner_.release(it->second.offset);
      }
    }
  }

  /// Each output's arena offset; a constant output gets a block of its own and a copy from
  /// the weights.
  void placeOutputs() {
    for (const ir::Value *out : graph_.outputs()) {
      auto it = state_.storage.find(out);
      if (it != state_.storage.end()) {
        outputOffsets_.push_back(it->second.offset);
        continue;
      }
      if (!out->isConstant()) throw InternalError("cuda codegen: output '" + out->name() + "' is never computed");
      const int64_t offset = planner_.allocate(static_cast<int64_t>(out->type().byteSize()));
      outputOffsets_.push_back(offset);
      const ir::Tensor &t = *out->constant();
      gpu::CopyParams p{};
      p.elementBytes = 1;
      p.rank = gpu::kMaxRank;
      p.count = static_cast<int64_t>(t.byteSize());
      for (int d = 0; d < gpu::kMaxRank; ++d) p.dims[d] = 1, p.srcStrides[d] = 1, p.dstStrides[d] = 1;
      p.dims[gpu::kMaxRank - 1] = p.count;
      if (p.count == 0) continue;
      const DeviceAddress src{DeviceAddress::Weights, state_.addWeights(t.rawData(), t.byteSize())};
      cuda::emitLaunch(state_, gpu::planCopy(p), &p, sizeof(p), {src, {DeviceAddress::Arena, offset}},
                       "constant output copy");
    }
  }

  cuda::DeviceModuleState state_;
  const ir::Graph &graph_;
  std::vector<Step> steps_;
  MemoryPlanner planner_{kDeviceAlignment};
  std::vector<int64_t> inputOffsets_, outputOffsets_;
};

/// Device functions from the bitcode become internal (O3 inlines them into the entries and
/// drops the rest); every function is retargeted to the requested arch and PTX version.
void prepareDeviceModule(llvm::Module &mod, const ArchInfo &arch, llvm::TargetMachine &tm) {
  for (llvm::Function &fn : mod) {
    if (fn.isDeclaration()) continue;
    if (!fn.getName().startswith("leip_gpu_")) fn.setLinkage(llvm::GlobalValue::InternalLinkage);
    fn.addFnAttr("target-cpu", arch.arch);
    fn.addFnAttr("target-features", arch.ptxFeature);
  }
  for (llvm::GlobalVariable &gv : mod.globals())
    if (!gv.isDeclaration() && !gv.hasLocalLinkage()) gv.setLinkage(llvm::GlobalValue::InternalLinkage);
  mod.setTargetTriple("nvptx64-nvidia-cuda");
  mod.setDataLayout(tm.createDataLayout());
}

/// Emits the descriptor of CudaModelDesc.h into the host module, replacing the runtime's
/// external declaration of leip_cuda_compiled_model.
class HostDescriptorBuilder {
public:
  explicit HostDescriptorBuilder(llvm::Module &module)
      : mod_(module), ctx_(module.getContext()), ptrTy_(llvm::PointerType::get(ctx_, 0)),
        i32Ty_(llvm::Type::getInt32Ty(ctx_)), i64Ty_(llvm::Type::getInt64Ty(ctx_)) {}

  void emit(const ir::Graph &graph, DeviceModuleBuilder &device, const std::string &ptx, int computeCapability) {
    const cuda::DeviceModuleState &state = device.state();
    auto *tensorTy = llvm::StructType::get(ctx_, {ptrTy_, i32Ty_, i32Ty_, ptrTy_, i64Ty_});
    auto *dim3Ty = llvm::ArrayType::get(i32Ty_, 3);
    auto *launchTy = llvm::StructType::get(ctx_, {ptrTy_, dim3Ty, dim3Ty});
    auto *modelTy = llvm::StructType::get(ctx_, {i32Ty_, i32Ty_, i32Ty_, i32Ty_, ptrTy_, ptrTy_, ptrTy_, ptrTy_, ptrTy_,
                                                 ptrTy_, ptrTy_, i64Ty_, i64Ty_, i32Ty_});
    std::vector<llvm::Constant *> launches;
    for (const cuda::LaunchRecord &l : state.launches) {
      auto dim3 = [&](const uint32_t *d) {
        return llvm::ConstantArray::get(dim3Ty, {i32(d[0]), i32(d[1]), i32(d[2])});
      };
      launches.push_back(
          llvm::ConstantStruct::get(launchTy, {cString(l.entry), dim3(l.launch.grid), dim3(l.launch.block)}));
    }
    auto *init = llvm::ConstantStruct::get(
        modelTy,
        {i32(1), i32(static_cast<int64_t>(graph.inputs().size())), i32(static_cast<int64_t>(graph.outputs().size())),
         i32(static_cast<int64_t>(launches.size())), tensorTable(graph.inputs(), tensorTy),
         tensorTable(graph.outputs(), tensorTy), bytes("leip_input_offsets", int64Bytes(device.inputOffsets()), 8),
         bytes("leip_output_offsets", int64Bytes(device.outputOffsets()), 8), array(launchTy, launches, "leip_launches"),
         cString(ptx), bytes("leip_weights", state.weights, kDeviceAlignment),
         i64(static_cast<int64_t>(state.weights.size())), i64(device.arenaBytes()), i32(computeCapability)});
    auto *desc = new llvm::GlobalVariable(mod_, modelTy, true, llvm::GlobalValue::InternalLinkage, init,
                                          "leip_cuda_compiled_model.def");
    if (llvm::GlobalVariable *decl = mod_.getGlobalVariable("leip_cuda_compiled_model")) {
      decl->replaceAllUsesWith(desc);
      decl->eraseFromParent();
    }
    desc->setName("leip_cuda_compiled_model");
  }

private:
  llvm::Constant *i32(int64_t v) { return llvm::ConstantInt::get(i32Ty_, static_cast<uint64_t>(v)); }
  llvm::Constant *i64(int64_t v) { return llvm::ConstantInt::get(i64Ty_, static_cast<uint64_t>(v)); }

  static std::string int64Bytes(const std::vector<int64_t> &values) {
    return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(int64_t));
  }

  llvm::Constant *bytes(const std::string &name, const std::string &data, int64_t alignment) {
    std::string padded = data.empty() ? std::string(1, '\0') : data;
    auto *init = llvm::ConstantDataArray::getRaw(padded, padded.size(), llvm::Type::getInt8Ty(ctx_));
    auto *gv = new llvm::GlobalVariable(mod_, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init, name);
    gv->setAlignment(llvm::Align(static_cast<uint64_t>(alignment)));
    return gv;
  }

  llvm::Constant *cString(const std::string &text) { return bytes("leip_text", text + std::string(1, '\0'), 1); }

  llvm::Constant *array(llvm::StructType *type, const std::vector<llvm::Constant *> &entries, const std::string &name) {
    if (entries.empty()) return llvm::ConstantPointerNull::get(ptrTy_);
    auto *arrTy = llvm::ArrayType::get(type, entries.size());
    return new llvm::GlobalVariable(mod_, arrTy, true, llvm::GlobalValue::PrivateLinkage,
                                    llvm::ConstantArray::get(arrTy, entries), name);
  }

  llvm::Constant *tensorTable(const std::vector<ir::Value *> &values, llvm::StructType *tensorTy) {
    std::vector<llvm::Constant *> entries;
    for (const ir::Value *v : values) {
      const ir::TensorType &t = v->type();
      entries.push_back(llvm::ConstantStruct::get(
          tensorTy, {cString(v->name()), i32(runtimeDTypeCode(t.dtype)), i32(static_cast<int64_t>(t.rank())),
                     bytes("leip_dims", int64Bytes(t.shape), 8), i64(static_cast<int64_t>(t.byteSize()))}));
    }
    return array(tensorTy, entries, "leip_tensors");
  }

  llvm::Module &mod_;
  llvm::LLVMContext &ctx_;
  llvm::PointerType *ptrTy_;
  llvm::Type *i32Ty_, *i64Ty_;
};

std::string readFile(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

CompileResult compileGraphForCuda(const ir::Graph &sourceGraph, const CompileOptions &options) {
  const Target &target = options.target;
  const ArchInfo &arch = archInfo(target.gpuArch);
  PreparedGraph prepared = prepareGraph(sourceGraph, options, options.integerKernels);
  const ir::Graph &graph = *prepared.graph;
  checkStaticOutputs(graph);
  checkCompilableForCuda(graph.topologicalOrder());
  // Every convolution kernel adds a residual in its epilogue.
  passes::fuseResidualAdds(*prepared.graph, [](const ir::Node &node) { return node.opType() == "Conv"; });
  std::vector<ir::Node *> order = graph.topologicalOrder();

  // 1. Device module -> PTX.
  llvm::LLVMContext context;
  std::unique_ptr<llvm::TargetMachine> deviceTm =
      createTargetMachine("nvptx64-nvidia-cuda", arch.arch, arch.ptxFeature, target.describe());
  std::unique_ptr<llvm::Module> device =
      parseEmbedded(leip_bitcode_cuda_device_start, leip_bitcode_cuda_device_end, "cuda kernel", context);
  device->setModuleIdentifier(graph.name.empty() ? "model" : graph.name);
  DeviceModuleBuilder builder(*device, graph);
  builder.build(order);
  prepareDeviceModule(*device, arch, *deviceTm);
  verifyModuleOrThrow(*device);
  optimizeModule(*device, *deviceTm);

  StagedDirectory staged(options.outputDir);
  const fs::path &tempDir = staged.path();
  const fs::path ptxPath = tempDir / "kernels.ptx";
  emitModule(*device, *deviceTm, ptxPath, /*assembly=*/true);
  const std::string ptx = readFile(ptxPath);

  // 2. Host module -> modelLibrary.so.
  const bool aarch64Host = target.hostArch() == "aarch64";
  std::unique_ptr<llvm::Module> host =
      aarch64Host ? parseEmbedded(leip_bitcode_cuda_host_aarch64_start, leip_bitcode_cuda_host_aarch64_end,
                                  "cuda host runtime (aarch64)", context)
                  : parseEmbedded(leip_bitcode_cuda_host_x86_64_start, leip_bitcode_cuda_host_x86_64_end,
                                  "cuda host runtime (x86_64)", context);
  std::unique_ptr<llvm::TargetMachine> hostTm =
      createTargetMachine(target.triple, target.cpu, target.features, target.describe());
  HostDescriptorBuilder(*host).emit(graph, builder, ptx, arch.computeCapability);
  host->setTargetTriple(target.triple);
  host->setDataLayout(hostTm->createDataLayout());
  internalizeForTarget(*host, target.cpu, target.features);
  verifyModuleOrThrow(*host);
  optimizeModule(*host, *hostTm);
  const fs::path object = tempDir / "model.o";
  emitModule(*host, *hostTm, object, /*assembly=*/false);
  linkSharedLibrary(target, object.string(), (tempDir / "modelLibrary.so").string());
  std::error_code ec;
  fs::remove(object, ec);

  const int64_t arenaBytes = builder.arenaBytes();
  nlohmann::json schema = schemaJson(graph, options, prepared.dataType, prepared.quantization, arenaBytes);
  schema["target"]["gpu_arch"] = target.gpuArch;
  schema["gpu"] = {{"arch", target.gpuArch},
                   {"kernel_launches", builder.state().launches.size()},
                   {"weights_bytes", builder.state().weights.size()},
                   {"ptx", "kernels.ptx"}};
  writeSchema(tempDir / "model_schema.json", schema);
  staged.commit();
  const fs::path finalDir = fs::absolute(options.outputDir).lexically_normal();
  spdlog::debug("compiled {} nodes for {}: {} launches, arena {} bytes, weights {} bytes", order.size(),
                target.describe(), builder.state().launches.size(), arenaBytes, builder.state().weights.size());
  return {(finalDir / "modelLibrary.so").string(), (finalDir / "model_schema.json").string(), arenaBytes,
          prepared.quantization, prepared.dataType};
}

} // namespace leip::codegen
