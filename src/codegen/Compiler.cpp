// The compiler: graph -> LLVM module (embedded kernel/runtime bitcode + generated node
// functions, weights and model descriptor) -> O3 -> object -> lld -> modelLibrary.so.
// See docs/codegen-design.md.
#include "leip/codegen/Compiler.h"

#include "Linker.h"

#include "leip/support/Error.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unistd.h>
#include <unordered_map>

// The bitcode blobs embedded by src/codegen/CMakeLists.txt (EmbeddedBitcode.S).
extern "C" const char leip_bitcode_x86_64_start[], leip_bitcode_x86_64_end[];
extern "C" const char leip_bitcode_aarch64_start[], leip_bitcode_aarch64_end[];

namespace leip::codegen {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kAlignment = 64;

/// Ops the compiler can lower today; anything else is a BadInputError naming the node.
const std::set<std::string> &compilableOps() {
  static const std::set<std::string> ops = {"Conv",      "Relu",    "MaxPool",  "AveragePool", "GlobalAveragePool",
                                            "Gemm",      "Add",     "Sub",      "Mul",         "Div",
                                            "Flatten",   "Reshape", "Identity", "Squeeze",     "Unsqueeze",
                                            "Dropout"};
  return ops;
}

[[noreturn]] void cannotCompile(const ir::Node &node, const std::string &why = "") {
  throw BadInputError(node.describe() + ": op " + node.opType() + " cannot be compiled yet" +
                      (why.empty() ? "" : " (" + why + ")"));
}

/// Fails early, before any LLVM work, on the first node the compiler cannot lower.
void checkCompilable(const ir::Graph &graph, const std::vector<ir::Node *> &order) {
  for (const ir::Node *node : order) {
    if (!node->domain().empty() || !compilableOps().count(node->opType())) cannotCompile(*node);
    for (const ir::Value *out : node->outputs())
      if (out && !out->users().empty() && out->type().dtype != ir::DType::F32)
        cannotCompile(*node, "only float32 tensors so far, output '" + out->name() + "' is " +
                                 std::string(ir::dtypeName(out->type().dtype)));
  }
  for (const ir::Value *in : graph.inputs())
    if (in->type().dtype != ir::DType::F32)
      throw BadInputError("input '" + in->name() + "' is " + std::string(ir::dtypeName(in->type().dtype)) +
                          ": only float32 inputs can be compiled yet");
  for (const ir::Value *out : graph.outputs())
    if (!out->producer())
      throw BadInputError("output '" + out->name() +
                          "' is a constant or a graph input, not computed by a node: such models cannot be "
                          "compiled yet");
}

/// Where a tensor lives at run time.
struct Storage {
  enum Kind { Arena, Io, Constant } kind = Arena;
  int64_t offset = 0; // Arena: byte offset
  int ioIndex = 0;    // Io: slot in the io array (inputs, then outputs)
};

/// Greedy first-fit offsets over value lifetimes in topological order: a value lives from
/// its producer to its last reader, after which its block is reused.
class MemoryPlanner {
public:
  int64_t allocate(int64_t bytes) {
    bytes = std::max<int64_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
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
  void release(int64_t offset) {
    auto it = std::find_if(live_.begin(), live_.end(), [&](const auto &b) { return b.first == offset; });
    if (it != live_.end()) live_.erase(it);
  }
  int64_t peak() const { return peak_; }

private:
  std::vector<std::pair<int64_t, int64_t>> live_; // (offset, size), sorted by offset
  int64_t peak_ = 0;
};

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

/// leip_dtype of include/leip/runtime.h.
int32_t runtimeDTypeCode(ir::DType t) {
  switch (t) {
  case ir::DType::F32: return 0;
  case ir::DType::F16: return 1;
  case ir::DType::I8: return 2;
  case ir::DType::U8: return 3;
  case ir::DType::I32: return 4;
  case ir::DType::I64: return 5;
  case ir::DType::Bool: return 6;
  }
  return -1;
}

/// Row-major strides of `shape` as seen from an output of rank `rank` under ONNX
/// (numpy) broadcasting: right-aligned, 0 along dims of size 1 or missing.
std::vector<int64_t> broadcastStrides(const ir::Shape &shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  std::vector<int64_t> own = ir::stridesOf(shape);
  for (size_t i = 0; i < shape.size(); ++i) {
    size_t d = rank - shape.size() + i;
    strides[d] = shape[i] == 1 ? 0 : own[i];
  }
  return strides;
}

/// Builds the module: one function per node, weights, and the model descriptor.
class ModuleBuilder {
public:
  ModuleBuilder(llvm::Module &module, const ir::Graph &graph)
      : mod_(module), ctx_(module.getContext()), graph_(graph), b_(ctx_) {
    ptrTy_ = llvm::PointerType::get(ctx_, 0);
    i32Ty_ = llvm::Type::getInt32Ty(ctx_);
    i64Ty_ = llvm::Type::getInt64Ty(ctx_);
  }

  int64_t build(const std::vector<ir::Node *> &order) {
    planMemory(order);
    for (size_t i = 0; i < order.size(); ++i) lowerNode(*order[i], i);
    emitDescriptor();
    return planner_.peak();
  }

private:
  void planMemory(const std::vector<ir::Node *> &order) {
    const auto &ins = graph_.inputs();
    const auto &outs = graph_.outputs();
    for (size_t i = 0; i < ins.size(); ++i) storage_[ins[i]] = {Storage::Io, 0, static_cast<int>(i)};
    for (size_t i = 0; i < outs.size(); ++i)
      if (!storage_.count(outs[i])) storage_[outs[i]] = {Storage::Io, 0, static_cast<int>(ins.size() + i)};

    std::unordered_map<const ir::Value *, size_t> lastUse;
    for (size_t i = 0; i < order.size(); ++i)
      for (const ir::Value *in : order[i]->inputs())
        if (in) lastUse[in] = i;
    for (size_t i = 0; i < order.size(); ++i) {
      // Outputs first, then release inputs read for the last time: a kernel never writes
      // over a buffer it is still reading.
      for (const ir::Value *out : order[i]->outputs()) {
        if (!out || storage_.count(out)) continue;
        storage_[out] = {Storage::Arena, planner_.allocate(static_cast<int64_t>(out->type().byteSize())), 0};
        if (!lastUse.count(out)) lastUse[out] = i; // dead output: free right after the node
      }
      std::set<const ir::Value *> done;
      for (const ir::Value *v : order[i]->inputs())
        if (v && lastUse[v] == i) done.insert(v);
      for (const ir::Value *v : order[i]->outputs())
        if (v && lastUse[v] == i) done.insert(v);
      for (const ir::Value *v : done) {
        auto it = storage_.find(v);
        if (it != storage_.end() && it->second.kind == Storage::Arena) planner_.release(it->second.offset);
      }
    }
  }

  llvm::Constant *i64(int64_t v) { return llvm::ConstantInt::get(i64Ty_, v); }
  llvm::Constant *i32(int64_t v) { return llvm::ConstantInt::get(i32Ty_, v); }
  llvm::Constant *f32(float v) { return llvm::ConstantFP::get(llvm::Type::getFloatTy(ctx_), v); }
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

  /// The address of `value` inside the current node function.
  llvm::Value *address(const ir::Value *value) {
    if (!value) return null();
    if (value->isConstant()) {
      auto it = weights_.find(value);
      if (it != weights_.end()) return it->second;
      const ir::Tensor &t = *value->constant();
      auto *gv = constantBytes("leip_w_" + std::to_string(weights_.size()),
                               llvm::StringRef(static_cast<const char *>(t.rawData()), t.byteSize()));
      weights_[value] = gv;
      return gv;
    }
    auto it = storage_.find(value);
    if (it == storage_.end()) throw InternalError("codegen: no storage planned for '" + value->name() + "'");
    if (it->second.kind == Storage::Arena)
      return b_.CreateGEP(b_.getInt8Ty(), arena_, i64(it->second.offset), value->name());
    llvm::Value *slot = b_.CreateGEP(ptrTy_, io_, i64(it->second.ioIndex));
    return b_.CreateLoad(ptrTy_, slot, value->name());
  }

  /// Calls kernel `name` with `args` followed by the node's task range.
  void callKernel(const std::string &name, std::vector<llvm::Value *> args) {
    llvm::Function *kernel = mod_.getFunction(name);
    if (!kernel) throw InternalError("codegen: kernel " + name + " is missing from the embedded bitcode");
    args.push_back(begin_);
    args.push_back(end_);
    if (kernel->arg_size() != args.size())
      throw InternalError("codegen: kernel " + name + " takes " + std::to_string(kernel->arg_size()) +
                          " arguments, the compiler passes " + std::to_string(args.size()));
    b_.CreateCall(kernel, args);
  }

  /// Pads (top, left, bottom, right) of a 2-D window op, resolving auto_pad.
  std::array<int64_t, 4> pads2d(const ir::Node &node, const ir::Shape &in, const ir::Shape &out,
                                const std::vector<int64_t> &kernel, const std::vector<int64_t> &strides,
                                const std::vector<int64_t> &dilations) {
    std::string autoPad = node.attrs().getString("auto_pad", "NOTSET");
    if (autoPad == "NOTSET") {
      std::vector<int64_t> pads = node.attrs().getInts("pads", {0, 0, 0, 0});
      if (pads.size() != 4) cannotCompile(node, "pads must have 4 values");
      return {pads[0], pads[1], pads[2], pads[3]};
    }
    if (autoPad == "VALID") return {0, 0, 0, 0};
    std::array<int64_t, 4> pads{};
    for (int d = 0; d < 2; ++d) {
      int64_t total = std::max<int64_t>(0, (out[2 + d] - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 -
                                               in[2 + d]);
      int64_t small = total / 2;
      pads[d] = autoPad == "SAME_LOWER" ? total - small : small;
      pads[d + 2] = total - pads[d];
    }
    return pads;
  }

  void lowerNode(const ir::Node &node, size_t index) {
    auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), {ptrTy_, ptrTy_, i64Ty_, i64Ty_}, false);
    auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::InternalLinkage, "leip_node_" + std::to_string(index),
                                      mod_);
    arena_ = fn->getArg(0);
    io_ = fn->getArg(1);
    begin_ = fn->getArg(2);
    end_ = fn->getArg(3);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
    int64_t tasks = lowerOp(node);
    b_.CreateRetVoid();
    nodes_.push_back({fn, tasks});
  }

  /// Emits the kernel call of one node; returns its task count.
  int64_t lowerOp(const ir::Node &node) {
    const std::string &op = node.opType();
    const ir::Value *x = node.input(0);
    const ir::Value *y = node.output(0);
    const ir::Shape &xs = x->type().shape;
    const ir::Shape &ys = y->type().shape;

    if (op == "Conv") {
      if (xs.size() != 4) cannotCompile(node, "only 2-D convolution (4-D input) so far");
      const ir::Shape &ws = node.input(1)->type().shape;
      std::vector<int64_t> kernel{ws[2], ws[3]};
      auto strides = node.attrs().getInts("strides", {1, 1});
      auto dilations = node.attrs().getInts("dilations", {1, 1});
      int64_t group = node.attrs().getInt("group", 1);
      if (strides.size() != 2 || dilations.size() != 2 || group < 1) cannotCompile(node, "bad strides/dilations");
      auto pads = pads2d(node, xs, ys, kernel, strides, dilations);
      callKernel("leip_k_conv2d_f32",
                 {address(x), address(node.input(1)), address(node.input(2)), address(y), i64(xs[0]), i64(xs[1]),
                  i64(xs[2]), i64(xs[3]), i64(ys[1]), i64(ws[2]), i64(ws[3]), i64(ys[2]), i64(ys[3]),
                  i64(strides[0]), i64(strides[1]), i64(pads[0]), i64(pads[1]), i64(dilations[0]),
                  i64(dilations[1]), i64(group), i32(0)});
      return ys[0] * ys[1];
    }
    if (op == "MaxPool" || op == "AveragePool") {
      if (xs.size() != 4) cannotCompile(node, "only 2-D pooling (4-D input) so far");
      if (node.numOutputs() > 1 && node.output(1) && !node.output(1)->users().empty())
        cannotCompile(node, "the Indices output");
      auto kernel = node.attrs().getInts("kernel_shape");
      auto strides = node.attrs().getInts("strides", {1, 1});
      auto dilations = node.attrs().getInts("dilations", {1, 1});
      if (kernel.size() != 2 || strides.size() != 2 || dilations.size() != 2)
        cannotCompile(node, "kernel_shape, strides and dilations must have 2 values");
      auto pads = pads2d(node, xs, ys, kernel, strides, dilations);
      if (op == "MaxPool") {
        callKernel("leip_k_maxpool2d_f32",
                   {address(x), address(y), i64(xs[2]), i64(xs[3]), i64(ys[2]), i64(ys[3]), i64(kernel[0]),
                    i64(kernel[1]), i64(strides[0]), i64(strides[1]), i64(pads[0]), i64(pads[1]),
                    i64(dilations[0]), i64(dilations[1])});
      } else {
        if (dilations != std::vector<int64_t>{1, 1}) cannotCompile(node, "dilated AveragePool");
        callKernel("leip_k_avgpool2d_f32",
                   {address(x), address(y), i64(xs[2]), i64(xs[3]), i64(ys[2]), i64(ys[3]), i64(kernel[0]),
                    i64(kernel[1]), i64(strides[0]), i64(strides[1]), i64(pads[0]), i64(pads[1]), i64(pads[2]),
                    i64(pads[3]), i32(node.attrs().getInt("count_include_pad", 0))});
      }
      return ys[0] * ys[1];
    }
    if (op == "GlobalAveragePool") {
      if (xs.size() < 3) cannotCompile(node, "input of rank < 3");
      int64_t planes = xs[0] * xs[1];
      callKernel("leip_k_global_avgpool_f32", {address(x), address(y), i64(x->type().numElements() / planes)});
      return planes;
    }
    if (op == "Gemm") {
      const ir::Value *bv = node.input(1);
      const ir::Value *cv = node.numInputs() > 2 ? node.input(2) : nullptr;
      int64_t transA = node.attrs().getInt("transA", 0), transB = node.attrs().getInt("transB", 0);
      int64_t M = ys[0], N = ys[1], K = transA ? xs[0] : xs[1];
      int64_t cStrideM = 0, cStrideN = 0;
      if (cv) {
        ir::Shape cs = cv->type().shape;
        while (cs.size() < 2) cs.insert(cs.begin(), 1);
        cStrideM = cs[0] == 1 ? 0 : cs[1];
        cStrideN = cs[1] == 1 ? 0 : 1;
      }
      callKernel("leip_k_gemm_f32", {address(x), address(bv), address(cv), address(y), i64(M), i64(N), i64(K),
                                     i32(transA), i32(transB), f32(node.attrs().getFloat("alpha", 1.0f)),
                                     f32(node.attrs().getFloat("beta", 1.0f)), i64(cStrideM), i64(cStrideN), i32(0)});
      return M;
    }
    if (op == "Relu") {
      callKernel("leip_k_unary_f32", {address(x), address(y), i32(0)});
      return y->type().numElements();
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      const ir::Value *bv = node.input(1);
      int32_t code = op == "Add" ? 0 : op == "Sub" ? 1 : op == "Mul" ? 2 : 3;
      if (x->type().dtype != ir::DType::F32 || bv->type().dtype != ir::DType::F32)
        cannotCompile(node, "only float32 operands so far");
      callKernel("leip_k_binary_f32",
                 {address(x), address(bv), address(y), i32(code), i64(static_cast<int64_t>(ys.size())), i64Array(ys),
                  i64Array(broadcastStrides(xs, ys.size())), i64Array(broadcastStrides(bv->type().shape, ys.size())),
                  i32(0)});
      return y->type().numElements();
    }
    // Reshape-like ops and inference-time Dropout: the same bytes under a new shape.
    int64_t bytes = static_cast<int64_t>(y->type().byteSize());
    callKernel("leip_k_copy", {address(x), address(y)});
    return bytes;
  }

  /// The constant leip_compiled_model (layout of src/runtime/ModelDesc.h) replacing the
  /// runtime's external declaration.
  void emitDescriptor() {
    auto *tensorTy = llvm::StructType::get(ctx_, {ptrTy_, i32Ty_, i32Ty_, ptrTy_, i64Ty_});
    auto *nodeTy = llvm::StructType::get(ctx_, {ptrTy_, i64Ty_});
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
    for (const auto &[fn, tasks] : nodes_) nodeEntries.push_back(llvm::ConstantStruct::get(nodeTy, {fn, i64(tasks)}));
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
  llvm::IRBuilder<> b_;
  llvm::PointerType *ptrTy_;
  llvm::Type *i32Ty_, *i64Ty_;
  llvm::Value *arena_ = nullptr, *io_ = nullptr, *begin_ = nullptr, *end_ = nullptr;
  MemoryPlanner planner_;
  std::unordered_map<const ir::Value *, Storage> storage_;
  std::unordered_map<const ir::Value *, llvm::GlobalVariable *> weights_;
  std::vector<std::pair<llvm::Function *, int64_t>> nodes_;
};

llvm::StringRef embeddedBitcode(const Target &target) {
  if (target.arch == "x86_64")
    return {leip_bitcode_x86_64_start, static_cast<size_t>(leip_bitcode_x86_64_end - leip_bitcode_x86_64_start)};
  if (target.arch == "aarch64")
    return {leip_bitcode_aarch64_start, static_cast<size_t>(leip_bitcode_aarch64_end - leip_bitcode_aarch64_start)};
  throw UsageError("no kernel library for target " + target.arch);
}

/// Only the C ABI of runtime.h stays visible; kernels, node functions, weights and runtime
/// internals become internal so that O3 inlines and specializes them and drops the rest.
/// Every function gets the target's CPU and features.
void prepareForTarget(llvm::Module &mod, const Target &target) {
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
    fn.addFnAttr("target-cpu", target.cpu);
    fn.addFnAttr("target-features", target.features);
  }
  for (llvm::GlobalVariable &gv : mod.globals())
    if (!gv.isDeclaration() && !gv.hasLocalLinkage()) gv.setLinkage(llvm::GlobalValue::InternalLinkage);
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const Target &target) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
  std::string error;
  const llvm::Target *t = llvm::TargetRegistry::lookupTarget(target.triple, error);
  if (!t) throw InternalError("LLVM has no target " + target.triple + ": " + error);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(t->createTargetMachine(target.triple, target.cpu, target.features, options,
                                                                  llvm::Reloc::PIC_, std::nullopt,
                                                                  llvm::CodeGenOpt::Aggressive));
  if (!tm) throw InternalError("LLVM cannot create a target machine for " + target.describe());
  return tm;
}

void optimize(llvm::Module &mod, llvm::TargetMachine &tm) {
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

void emitObject(llvm::Module &mod, llvm::TargetMachine &tm, const fs::path &path) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path.string(), ec);
  if (ec) throw BadInputError(path.string() + ": cannot write: " + ec.message());
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, out, nullptr, llvm::CGFT_ObjectFile))
    throw InternalError("LLVM cannot emit an object file for " + tm.getTargetTriple().str());
  pm.run(mod);
  out.flush();
}

std::string sha256OfFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  llvm::SHA256 hasher;
  hasher.update(llvm::StringRef(bytes));
  std::string hex;
  static const char digits[] = "0123456789abcdef";
  for (auto byte : hasher.final()) {
    auto v = static_cast<uint8_t>(byte);
    hex += digits[v >> 4];
    hex += digits[v & 15];
  }
  return hex;
}

nlohmann::json tensorsJson(const std::vector<ir::Value *> &values) {
  nlohmann::json list = nlohmann::json::array();
  for (const ir::Value *v : values)
    list.push_back({{"name", v->name()}, {"dtype", runtimeDTypeName(v->type().dtype)}, {"shape", v->type().shape}});
  return list;
}

/// Moves the finished temporary directory to `finalDir`, replacing an old artifact.
void publish(const fs::path &tempDir, const fs::path &finalDir) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(finalDir)) {
    old = finalDir.string() + ".old-" + std::to_string(::getpid());
    fs::rename(finalDir, old, ec);
    if (ec) throw BadInputError(finalDir.string() + ": cannot replace: " + ec.message());
  }
  fs::rename(tempDir, finalDir, ec);
  if (ec) throw BadInputError(finalDir.string() + ": cannot write: " + ec.message());
  if (!old.empty()) fs::remove_all(old, ec);
}

} // namespace

CompileResult compileGraph(const ir::Graph &graph, const CompileOptions &options) {
  std::vector<ir::Node *> order = graph.topologicalOrder();
  checkCompilable(graph, order);

  llvm::LLVMContext context;
  auto buffer = llvm::MemoryBuffer::getMemBuffer(embeddedBitcode(options.target), "leip_kernels", false);
  llvm::Expected<std::unique_ptr<llvm::Module>> parsed = llvm::parseBitcodeFile(buffer->getMemBufferRef(), context);
  if (!parsed) throw InternalError("embedded kernel bitcode is unreadable: " + llvm::toString(parsed.takeError()));
  std::unique_ptr<llvm::Module> mod = std::move(*parsed);
  mod->setModuleIdentifier(graph.name.empty() ? "model" : graph.name);

  ModuleBuilder builder(*mod, graph);
  int64_t peak = builder.build(order);

  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(options.target);
  mod->setTargetTriple(options.target.triple);
  mod->setDataLayout(tm->createDataLayout());
  prepareForTarget(*mod, options.target);
  std::string problems;
  llvm::raw_string_ostream problemStream(problems);
  if (llvm::verifyModule(*mod, &problemStream))
    throw InternalError("codegen produced an invalid LLVM module: " + problemStream.str());
  optimize(*mod, *tm);

  // Everything goes to a temporary sibling directory that is renamed into place at the
  // end, so a failed compile never leaves a partial artifact.
  fs::path finalDir = fs::absolute(options.outputDir).lexically_normal();
  if (finalDir.has_filename() == false) finalDir = finalDir.parent_path();
  fs::path tempDir = finalDir.string() + ".partial-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tempDir, ec);
  fs::create_directories(tempDir, ec);
  if (ec) throw BadInputError(options.outputDir + ": cannot create output directory: " + ec.message());
  try {
    fs::path object = tempDir / "model.o";
    emitObject(*mod, *tm, object);
    linkSharedLibrary(options.target, object.string(), (tempDir / "modelLibrary.so").string());
    fs::remove(object, ec);

    nlohmann::json schema{{"leip_version", LEIP_VERSION},
                          {"runtime_abi_version", 1},
                          {"library", "modelLibrary.so"},
                          {"target",
                           {{"arch", options.target.arch},
                            {"triple", options.target.triple},
                            {"cpu", options.target.cpu},
                            {"features", options.target.features}}},
                          {"data_type", "float32"},
                          {"source", {{"path", options.sourcePath}, {"sha256", sha256OfFile(options.sourcePath)}}},
                          {"inputs", tensorsJson(graph.inputs())},
                          {"outputs", tensorsJson(graph.outputs())},
                          {"peak_activation_bytes", peak}};
    std::ofstream out(tempDir / "model_schema.json");
    out << schema.dump(2) << "\n";
    if (!out) throw BadInputError((tempDir / "model_schema.json").string() + ": cannot write");
    out.close();
    publish(tempDir, finalDir);
  } catch (...) {
    fs::remove_all(tempDir, ec);
    throw;
  }
  spdlog::debug("compiled {} nodes for {}, peak activations {} bytes", order.size(), options.target.describe(), peak);
  return {(finalDir / "modelLibrary.so").string(), (finalDir / "model_schema.json").string(), peak};
}

} // namespace leip::codegen
