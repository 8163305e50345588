// The compiler: graph -> LLVM module (embedded kernel/runtime bitcode + generated node
// functions, weights and model descriptor) -> O3 -> object -> lld -> modelLibrary.so.
// See docs/codegen-design.md.
#include "leip/codegen/Compiler.h"

#include "Linker.h"

#include "leip/ir/FusedActivation.h"
#include "leip/passes/FuseActivations.h"
#include "leip/passes/Pipeline.h"
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
#include <array>
#include <numeric>
#include <optional>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <map>
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

/// Task count of the implicit-GEMM convolution kernel (src/codegen/kernels/Conv.cpp), whose
/// tasks are (image, group, channel block, tile of 32 output positions). Channels are split
/// into blocks (multiples of the micro-kernel's 6 rows) only when the tiles alone give fewer
/// than 8 tasks, so late small layers still spread over the threads. Sets `kBlockSize`.
int64_t convGemmTaskCount(int64_t N, int64_t group, int64_t kPerGroup, int64_t positions, int64_t &kBlockSize) {
  constexpr int64_t kTile = 32, kMinTasks = 8, kRows = 6;
  const int64_t tiles = N * group * ((positions + kTile - 1) / kTile);
  kBlockSize = kRows;
  if (tiles == 0) return 0; // an empty output: nothing to compute
  int64_t blocks = std::clamp((kMinTasks + tiles - 1) / tiles, int64_t{1}, (kPerGroup + kRows - 1) / kRows);
  kBlockSize = ((kPerGroup + blocks - 1) / blocks + kRows - 1) / kRows * kRows;
  blocks = (kPerGroup + kBlockSize - 1) / kBlockSize;
  return tiles * blocks;
}

/// Unary ops of leip_k_unary_f32 (src/codegen/kernels/Elementwise.cpp) and their codes;
/// codes 1..8 are the fused activations (leip::ir::ActivationKind).
const std::map<std::string, int32_t> &unaryOps() {
  static const std::map<std::string, int32_t> ops = {
      {"Relu", 1},  {"Clip", 2},     {"LeakyRelu", 3}, {"Sigmoid", 4}, {"HardSigmoid", 5}, {"HardSwish", 6},
      {"Tanh", 7},  {"Exp", 20},     {"Log", 21},      {"Sqrt", 22},   {"Neg", 23},         {"Abs", 24},
      {"Reciprocal", 25}, {"Floor", 26}, {"Ceil", 27}, {"Erf", 28},    {"Softplus", 29},    {"Elu", 30},
      {"Softsign", 31}, {"Sin", 32},  {"Cos", 33},      {"Round", 34},  {"Sign", 36}};
  return ops;
}

/// Binary ops of leip_k_binary_f32 and their codes.
const std::map<std::string, int32_t> &binaryOps() {
  static const std::map<std::string, int32_t> ops = {{"Add", 0}, {"Sub", 1}, {"Mul", 2}, {"Div", 3},
                                                    {"Pow", 4}, {"Max", 5}, {"Min", 6}};
  return ops;
}

/// Ops the compiler can lower today; anything else is a BadInputError naming the node.
bool isCompilable(const ir::Node &node) {
  static const std::set<std::string> ops = {
      "Conv",      "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Gemm",      "MatMul",
      "Flatten",   "Reshape", "Identity",    "Squeeze",           "Unsqueeze",     "Dropout",   "Softmax",
      "LogSoftmax", "Concat", "Transpose",   "Slice",             "Expand",        "Pad"};
  const std::string &op = node.opType();
  return ops.count(op) || unaryOps().count(op) || (binaryOps().count(op) && node.numInputs() == 2);
}

[[noreturn]] void cannotCompile(const ir::Node &node, const std::string &why = "") {
  throw BadInputError(node.describe() + ": op " + node.opType() + " cannot be compiled yet" +
                      (why.empty() ? "" : " (" + why + ")"));
}

/// Fails early, before any LLVM work, on the first node the compiler cannot lower.
void checkCompilable(const ir::Graph &graph, const std::vector<ir::Node *> &order) {
  for (const ir::Node *node : order) {
    if (!node->domain().empty() || !isCompilable(*node)) cannotCompile(*node);
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
    planSteps(order);
    planMemory();
    for (size_t i = 0; i < steps_.size(); ++i) lowerStep(steps_[i], i);
    emitDescriptor();
    return planner_.peak();
  }

private:
  /// One node function: a node, possibly with the activation node after it absorbed (an
  /// elementwise op followed by Relu/Clip/...: the kernel applies the activation and
  /// writes the activation's output directly).
  struct Step {
    const ir::Node *node = nullptr;
    const ir::Node *absorbed = nullptr;
    ir::FusedActivation act;
    const std::vector<ir::Value *> &outputs() const { return absorbed ? absorbed->outputs() : node->outputs(); }
  };

  void planSteps(const std::vector<ir::Node *> &order) {
    std::set<const ir::Node *> absorbed;
    for (const ir::Node *node : order) {
      if (absorbed.count(node)) continue;
      Step step{node, nullptr, ir::fusedActivation(*node)};
      const ir::Value *y = node->numOutputs() == 1 ? node->output(0) : nullptr;
      const auto &outs = graph_.outputs();
      if (binaryOps().count(node->opType()) && y && y->users().size() == 1 &&
          std::find(outs.begin(), outs.end(), y) == outs.end()) {
        const ir::Node *user = y->users()[0];
        if (user->domain().empty() && user->numInputs() >= 1 && user->input(0) == y)
          if (std::optional<ir::FusedActivation> act = passes::activationOf(*user)) {
            step.absorbed = user;
            step.act = *act;
            absorbed.insert(user);
          }
      }
      steps_.push_back(step);
    }
  }

  void planMemory() {
    const auto &ins = graph_.inputs();
    const auto &outs = graph_.outputs();
    for (size_t i = 0; i < ins.size(); ++i) storage_[ins[i]] = {Storage::Io, 0, static_cast<int>(i)};
    for (size_t i = 0; i < outs.size(); ++i)
      if (!storage_.count(outs[i])) storage_[outs[i]] = {Storage::Io, 0, static_cast<int>(ins.size() + i)};

    std::unordered_map<const ir::Value *, size_t> lastUse;
    for (size_t i = 0; i < steps_.size(); ++i)
      for (const ir::Value *in : steps_[i].node->inputs())
        if (in) lastUse[in] = i;
    for (size_t i = 0; i < steps_.size(); ++i) {
      // Outputs first, then release inputs read for the last time: a kernel never writes
      // over a buffer it is still reading.
      for (const ir::Value *out : steps_[i].outputs()) {
        if (!out || storage_.count(out)) continue;
        storage_[out] = {Storage::Arena, planner_.allocate(static_cast<int64_t>(out->type().byteSize())), 0};
        if (!lastUse.count(out)) lastUse[out] = i; // dead output: free right after the node
      }
      std::set<const ir::Value *> done;
      for (const ir::Value *v : steps_[i].node->inputs())
        if (v && lastUse[v] == i) done.insert(v);
      for (const ir::Value *v : steps_[i].outputs())
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

  void lowerStep(const Step &step, size_t index) {
    auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), {ptrTy_, ptrTy_, i64Ty_, i64Ty_}, false);
    auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::InternalLinkage, "leip_node_" + std::to_string(index),
                                      mod_);
    arena_ = fn->getArg(0);
    io_ = fn->getArg(1);
    begin_ = fn->getArg(2);
    end_ = fn->getArg(3);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
    int64_t tasks = lowerOp(step);
    b_.CreateRetVoid();
    nodes_.push_back({fn, tasks});
  }

  /// The three trailing activation arguments of the kernels that fuse one.
  void pushActivation(std::vector<llvm::Value *> &args, const ir::FusedActivation &act) {
    args.push_back(i32(static_cast<int32_t>(act.kind)));
    args.push_back(f32(act.alpha));
    args.push_back(f32(act.beta));
  }

  /// A constant the compiler derived (pre-packed weights) as a private global.
  llvm::Constant *packedConstant(const std::vector<float> &values) {
    return constantBytes("leip_packed_" + std::to_string(packed_++),
                         llvm::StringRef(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(float)));
  }

  /// Drops dims of size 1 and merges neighbours that are contiguous for every stride set,
  /// so kernels see the fewest dims. Returns false when more than `maxRank` dims remain;
  /// otherwise pads with leading 1s (stride 0) to exactly maxRank.
  static bool collapseDims(std::vector<int64_t> &dims, std::vector<std::vector<int64_t>> &strides, size_t maxRank) {
    std::vector<int64_t> d;
    std::vector<std::vector<int64_t>> s(strides.size());
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 1) continue;
      bool merge = !d.empty();
      for (size_t k = 0; k < strides.size() && merge; ++k) merge = s[k].back() == strides[k][i] * dims[i];
      if (merge) {
        d.back() *= dims[i];
        for (size_t k = 0; k < strides.size(); ++k) s[k].back() = strides[k][i];
      } else {
        d.push_back(dims[i]);
        for (size_t k = 0; k < strides.size(); ++k) s[k].push_back(strides[k][i]);
      }
    }
    if (d.size() > maxRank) return false;
    while (d.size() < maxRank) {
      d.insert(d.begin(), 1);
      for (auto &sk : s) sk.insert(sk.begin(), 0);
    }
    dims = d;
    strides = s;
    return true;
  }

  /// y[i...] = x[base + sum i_d * strides[d]] over y's dims: Transpose, Slice, Expand.
  int64_t emitGather(const ir::Node &node, const ir::Value *x, const ir::Value *y, int64_t base,
                     std::vector<int64_t> strides) {
    std::vector<int64_t> dims = y->type().shape;
    std::vector<std::vector<int64_t>> s{std::move(strides)};
    if (!collapseDims(dims, s, 6)) cannotCompile(node, "more than 6 dims after merging contiguous ones");
    std::vector<llvm::Value *> args{address(x), address(y), i64(base)};
    for (int64_t d : dims) args.push_back(i64(d));
    for (int64_t st : s[0]) args.push_back(i64(st));
    callKernel("leip_k_gather_f32", args);
    return dims[0] * dims[1] * dims[2] * dims[3] * dims[4];
  }

  /// Constant int64 data of input i (Slice starts, Pad pads, ...).
  std::vector<int64_t> constantInts(const ir::Node &node, size_t i, const char *what) {
    const ir::Value *v = node.input(i);
    if (!v || !v->isConstant()) cannotCompile(node, std::string(what) + " must be a constant");
    return v->constant()->toInt64Vector();
  }

  /// Emits the kernel call(s) of one step; returns its task count.
  int64_t lowerOp(const Step &step) {
    const ir::Node &node = *step.node;
    const std::string &op = node.opType();
    const ir::Value *x = node.input(0);
    const ir::Value *y = step.outputs()[0];
    const ir::Shape &xs = x->type().shape;
    const ir::Shape &ys = y->type().shape;
    if (!x->type().isStatic() || !y->type().isStatic()) cannotCompile(node, "dynamic shapes");

    if (op == "Conv") {
      if (xs.size() != 4) cannotCompile(node, "only 2-D convolution (4-D input) so far");
      if (!node.input(1)->isConstant()) cannotCompile(node, "weights must be constants");
      const ir::Shape &ws = node.input(1)->type().shape;
      std::vector<int64_t> kernel{ws[2], ws[3]};
      auto strides = node.attrs().getInts("strides", {1, 1});
      auto dilations = node.attrs().getInts("dilations", {1, 1});
      int64_t group = node.attrs().getInt("group", 1);
      if (strides.size() != 2 || dilations.size() != 2 || group < 1) cannotCompile(node, "bad strides/dilations");
      auto pads = pads2d(node, xs, ys, kernel, strides, dilations);
      const ir::Value *bias = node.numInputs() > 2 ? node.input(2) : nullptr;
      std::vector<llvm::Value *> args{address(x), address(node.input(1)), address(bias), address(y)};
      bool pointwise = ws[2] == 1 && ws[3] == 1 && strides == std::vector<int64_t>{1, 1} && group == 1 &&
                       pads == std::array<int64_t, 4>{0, 0, 0, 0} && ys[2] == xs[2] && ys[3] == xs[3];
      bool depthwise = xs[1] / group == 1;
      int64_t kBlockSize = 0;
      int64_t tasks = depthwise ? ys[0] * ys[1] : convGemmTaskCount(ys[0], group, ys[1] / group, ys[2] * ys[3], kBlockSize);
      if (pointwise) {
        for (int64_t v : {xs[1], ys[1], xs[2] * xs[3], kBlockSize}) args.push_back(i64(v));
        pushActivation(args, step.act);
        callKernel("leip_k_conv1x1_f32", args);
      } else {
        for (int64_t v : {xs[0], xs[1], xs[2], xs[3], ys[1], ws[2], ws[3], ys[2], ys[3], strides[0], strides[1],
                          pads[0], pads[1], dilations[0], dilations[1], group, depthwise ? int64_t{1} : kBlockSize})
          args.push_back(i64(v));
        pushActivation(args, step.act);
        callKernel("leip_k_conv2d_f32", args);
      }
      return tasks;
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
    if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
      if (xs.size() < 3) cannotCompile(node, "input of rank < 3");
      int64_t planes = xs[0] * xs[1];
      callKernel("leip_k_global_pool_f32",
                 {address(x), address(y), i64(x->type().numElements() / planes), i32(op == "GlobalMaxPool")});
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
      llvm::Value *bAddr = address(bv);
      if (transB && bv->isConstant() && bv->type().dtype == ir::DType::F32) {
        // Pre-pack: B [N, K] becomes row-major [K, N], so the kernel's inner loop is
        // contiguous.
        const float *b = bv->constant()->data<float>();
        std::vector<float> packed(static_cast<size_t>(K * N));
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < K; ++k) packed[k * N + n] = b[n * K + k];
        bAddr = packedConstant(packed);
        transB = 0;
      }
      std::vector<llvm::Value *> args{address(x),   bAddr,        address(cv),   address(y),
                                      i64(M),       i64(N),       i64(K),        i32(transA),
                                      i32(transB),  f32(node.attrs().getFloat("alpha", 1.0f)),
                                      f32(node.attrs().getFloat("beta", 1.0f)), i64(cStrideM), i64(cStrideN)};
      pushActivation(args, step.act);
      callKernel("leip_k_gemm_f32", args);
      return M;
    }
    if (op == "MatMul") {
      ir::Shape as = xs, bs = node.input(1)->type().shape;
      if (as.empty() || bs.empty()) cannotCompile(node, "scalar operands");
      if (as.size() == 1) as.insert(as.begin(), 1);
      if (bs.size() == 1) bs.push_back(1);
      int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
      // Batch dims broadcast like numpy; each output batch gets its operands' offsets.
      size_t batchRank = std::max(as.size(), bs.size()) - 2;
      ir::Shape batch(batchRank, 1);
      std::vector<int64_t> aStr(batchRank, 0), bStr(batchRank, 0);
      auto fill = [&](const ir::Shape &s, std::vector<int64_t> &str, int64_t matrix) {
        size_t lead = batchRank - (s.size() - 2);
        int64_t stride = matrix;
        for (size_t d = s.size() - 2; d-- > 0;) {
          batch[lead + d] = std::max(batch[lead + d], s[d]);
          str[lead + d] = s[d] == 1 ? 0 : stride;
          stride *= s[d];
        }
      };
      fill(as, aStr, M * K);
      fill(bs, bStr, K * N);
      int64_t batches = ir::numElements(batch);
      std::vector<int64_t> aOff, bOff;
      for (int64_t i = 0; i < batches; ++i) {
        int64_t rest = i, ao = 0, bo = 0;
        for (size_t d = batchRank; d-- > 0;) {
          int64_t idx = rest % batch[d];
          rest /= batch[d];
          ao += idx * aStr[d];
          bo += idx * bStr[d];
        }
        aOff.push_back(ao);
        bOff.push_back(bo);
      }
      callKernel("leip_k_matmul_f32", {address(x), address(node.input(1)), address(y), i64(M), i64(N), i64(K),
                                       i64Array(aOff), i64Array(bOff)});
      return batches * M;
    }
    if (unaryOps().count(op)) {
      ir::FusedActivation act;
      int32_t code = unaryOps().at(op);
      if (code <= 8) {
        std::optional<ir::FusedActivation> a = passes::activationOf(node);
        if (!a) cannotCompile(node, "Clip bounds must be constants");
        act = *a;
      } else if (op == "Elu") {
        act.alpha = node.attrs().getFloat("alpha", 1.0f);
      }
      callKernel("leip_k_unary_f32", {address(x), address(y), i32(code), f32(act.alpha), f32(act.beta)});
      return y->type().numElements();
    }
    if (binaryOps().count(op)) {
      const ir::Value *bv = node.input(1);
      if (x->type().dtype != ir::DType::F32 || bv->type().dtype != ir::DType::F32)
        cannotCompile(node, "only float32 operands so far");
      std::vector<int64_t> dims = ys;
      std::vector<std::vector<int64_t>> strides{broadcastStrides(xs, ys.size()),
                                                broadcastStrides(bv->type().shape, ys.size())};
      if (!collapseDims(dims, strides, 4)) cannotCompile(node, "more than 4 dims after merging contiguous ones");
      std::vector<llvm::Value *> args{address(x), address(bv), address(y), i32(binaryOps().at(op))};
      for (int64_t d : dims) args.push_back(i64(d));
      for (const auto &st : strides)
        for (int64_t v : st) args.push_back(i64(v));
      pushActivation(args, step.act);
      callKernel("leip_k_binary_f32", args);
      return y->type().numElements();
    }
    if (op == "Softmax" || op == "LogSoftmax") {
      int64_t rank = static_cast<int64_t>(xs.size());
      int64_t axis = node.attrs().getInt("axis", -1);
      if (axis < 0) axis += rank;
      if (axis < 0 || axis >= rank) cannotCompile(node, "axis out of range");
      int64_t len = xs[axis], inner = 1;
      for (int64_t d = axis + 1; d < rank; ++d) inner *= xs[d];
      callKernel("leip_k_softmax_f32",
                 {address(x), address(y), i64(len), i64(inner), i32(op == "LogSoftmax")});
      return len == 0 ? 0 : x->type().numElements() / len;
    }
    if (op == "Concat") {
      int64_t rank = static_cast<int64_t>(ys.size());
      int64_t axis = node.attrs().getInt("axis", 0);
      if (axis < 0) axis += rank;
      if (axis < 0 || axis >= rank) cannotCompile(node, "axis out of range");
      int64_t outer = 1, outRow = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= ys[d];
      for (int64_t d = axis; d < rank; ++d) outRow *= ys[d];
      int64_t offset = 0;
      for (const ir::Value *in : node.inputs()) {
        if (!in) continue;
        int64_t inRow = outer == 0 ? 0 : in->type().numElements() / std::max<int64_t>(outer, 1);
        if (inRow > 0)
          callKernel("leip_k_concat_f32", {address(in), address(y), i64(inRow), i64(outRow), i64(offset)});
        offset += inRow;
      }
      return outer;
    }
    if (op == "Transpose") {
      size_t rank = xs.size();
      std::vector<int64_t> perm = node.attrs().getInts("perm");
      if (perm.empty())
        for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
      if (perm.size() != rank) cannotCompile(node, "perm has the wrong length");
      std::vector<int64_t> inStrides = ir::stridesOf(xs), strides;
      for (int64_t p : perm) strides.push_back(inStrides.at(static_cast<size_t>(p)));
      return emitGather(node, x, y, 0, strides);
    }
    if (op == "Expand") {
      return emitGather(node, x, y, 0, broadcastStrides(xs, ys.size()));
    }
    if (op == "Slice") {
      size_t rank = xs.size();
      std::vector<int64_t> starts = constantInts(node, 1, "starts"), ends = constantInts(node, 2, "ends");
      std::vector<int64_t> axes, steps;
      if (node.numInputs() > 3 && node.input(3)) axes = constantInts(node, 3, "axes");
      else
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
      if (node.numInputs() > 4 && node.input(4)) steps = constantInts(node, 4, "steps");
      else steps.assign(starts.size(), 1);
      std::vector<int64_t> first(rank, 0), step(rank, 1);
      for (size_t i = 0; i < axes.size() && i < starts.size(); ++i) {
        int64_t axis = axes[i] < 0 ? axes[i] + static_cast<int64_t>(rank) : axes[i];
        if (axis < 0 || axis >= static_cast<int64_t>(rank) || steps.at(i) == 0) cannotCompile(node, "bad axes/steps");
        int64_t dim = xs[axis], start = starts[i];
        if (start < 0) start += dim;
        start = steps[i] > 0 ? std::clamp<int64_t>(start, 0, dim) : std::clamp<int64_t>(start, 0, dim - 1);
        first[axis] = start;
        step[axis] = steps[i];
      }
      std::vector<int64_t> inStrides = ir::stridesOf(xs), strides(rank);
      int64_t base = 0;
      for (size_t d = 0; d < rank; ++d) {
        base += first[d] * inStrides[d];
        strides[d] = step[d] * inStrides[d];
      }
      if (y->type().numElements() == 0) return 0;
      return emitGather(node, x, y, base, strides);
    }
    if (op == "Pad") {
      size_t rank = xs.size();
      if (rank > 6) cannotCompile(node, "more than 6 dims");
      if (node.numInputs() > 3 && node.input(3)) cannotCompile(node, "the axes input");
      std::vector<int64_t> pads = constantInts(node, 1, "pads");
      if (pads.size() != 2 * rank) cannotCompile(node, "pads must have 2 * rank values");
      float value = 0.0f;
      if (node.numInputs() > 2 && node.input(2)) {
        const ir::Value *cv = node.input(2);
        if (!cv->isConstant() || cv->constant()->numElements() != 1) cannotCompile(node, "constant_value must be a constant");
        value = static_cast<float>(cv->constant()->getAsDouble(0));
      }
      std::string mode = node.attrs().getString("mode", "constant");
      int32_t modeCode = mode == "constant" ? 0 : mode == "edge" ? 1 : mode == "reflect" ? 2 : -1;
      if (modeCode < 0) cannotCompile(node, "mode " + mode);
      std::vector<int64_t> dims(18, 1);
      size_t lead = 6 - rank;
      for (size_t d = 0; d < 6; ++d) dims[12 + d] = 0;
      for (size_t d = 0; d < rank; ++d) {
        dims[lead + d] = ys[d];
        dims[6 + lead + d] = xs[d];
        dims[12 + lead + d] = pads[d];
      }
      int64_t rows = 1;
      for (size_t d = 0; d < 5; ++d) rows *= dims[d];
      if (y->type().numElements() == 0) return 0;
      if (x->type().numElements() == 0 && modeCode != 0) cannotCompile(node, "edge/reflect padding of an empty tensor");
      callKernel("leip_k_pad_f32", {address(x), address(y), i64Array(dims), i32(modeCode), f32(value)});
      return rows;
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
  std::vector<Step> steps_;
  int packed_ = 0;
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

CompileResult compileGraph(const ir::Graph &sourceGraph, const CompileOptions &options) {
  // The passes work on a copy: the caller's graph stays what the interpreter runs.
  std::unique_ptr<ir::Graph> optimized = passes::cloneGraph(sourceGraph);
  passes::optimizeForCompile(*optimized);
  const ir::Graph &graph = *optimized;
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
