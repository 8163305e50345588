// NodeLowering's services and the table of lowering rules (see Lowering.h).
#include "Lowering.h"

#include "leip/support/Error.h"

#include <algorithm>

namespace leip::codegen {

NodeLowering::NodeLowering(ModuleState &state, llvm::Function *fn, const ir::Node &node, const ir::Node *absorbed,
                           const ir::FusedActivation &activation, const ir::Value *residual)
    : state_(state), ctx_(fn->getContext()), b_(ctx_), ptrTy_(llvm::PointerType::get(ctx_, 0)),
      arena_(fn->getArg(0)), io_(fn->getArg(1)), begin_(fn->getArg(2)), end_(fn->getArg(3)), node_(node),
      absorbed_(absorbed), activation_(activation), residual_(residual) {
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
}

void NodeLowering::fail(const std::string &why) const {
  throw BadInputError(node_.describe() + ": op " + node_.opType() + " cannot be compiled yet" +
                      (why.empty() ? "" : " (" + why + ")"));
}

void NodeLowering::requireFloat32(size_t dataInputs) const {
  auto check = [&](const ir::Value *v, const char *role) {
    if (v && v->type().dtype != ir::DType::F32)
      fail(std::string("only float32 tensors so far, ") + role + " '" + v->name() + "' is " +
           std::string(ir::dtypeName(v->type().dtype)));
  };
  for (size_t i = 0; i < node_.numInputs() && i < dataInputs; ++i) check(node_.input(i), "input");
  for (const ir::Value *out : outputs())
    if (out && !out->users().empty()) check(out, "output");
}

llvm::Constant *NodeLowering::i64(int64_t v) { return llvm::ConstantInt::get(b_.getInt64Ty(), v); }
llvm::Constant *NodeLowering::i32(int64_t v) { return llvm::ConstantInt::get(b_.getInt32Ty(), v); }
llvm::Constant *NodeLowering::f32(float v) { return llvm::ConstantFP::get(b_.getFloatTy(), v); }
llvm::Constant *NodeLowering::null() { return llvm::ConstantPointerNull::get(ptrTy_); }

namespace {

llvm::GlobalVariable *privateBytes(llvm::Module &mod, const std::string &name, llvm::StringRef bytes) {
  std::string data = bytes.empty() ? std::string(1, '\0') : bytes.str();
  auto *init = llvm::ConstantDataArray::getRaw(data, data.size(), llvm::Type::getInt8Ty(mod.getContext()));
  auto *gv = new llvm::GlobalVariable(mod, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init, name);
  gv->setAlignment(llvm::Align(kAlignment));
  gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return gv;
}

} // namespace

llvm::Constant *NodeLowering::i64Array(const std::vector<int64_t> &values) {
  return privateBytes(state_.mod, "leip_dims",
                      llvm::StringRef(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(int64_t)));
}

llvm::Constant *NodeLowering::derivedConstant(const void *data, size_t bytes) {
  return privateBytes(state_.mod, "leip_packed_" + std::to_string(state_.derivedConstants++),
                      llvm::StringRef(static_cast<const char *>(data), bytes));
}

llvm::Value *NodeLowering::address(const ir::Value *value) {
  if (!value) return null();
  addressed_.insert(value);
  if (value->isConstant()) {
    auto it = state_.weights.find(value);
    if (it != state_.weights.end()) return it->second;
    const ir::Tensor &t = *value->constant();
    auto *gv = privateBytes(state_.mod, "leip_w_" + std::to_string(state_.weights.size()),
                            llvm::StringRef(static_cast<const char *>(t.rawData()), t.byteSize()));
    state_.weights[value] = gv;
    return gv;
  }
  auto it = state_.storage.find(value);
  if (it == state_.storage.end()) throw InternalError("codegen: no storage planned for '" + value->name() + "'");
  if (it->second.kind == Storage::Arena)
    return b_.CreateGEP(b_.getInt8Ty(), arena_, i64(it->second.offset), value->name());
  llvm::Value *slot = b_.CreateGEP(ptrTy_, io_, i64(it->second.ioIndex));
  return b_.CreateLoad(ptrTy_, slot, value->name());
}

void NodeLowering::callKernel(const std::string &name, std::vector<llvm::Value *> args) {
  llvm::Function *kernel = state_.mod.getFunction(name);
  if (!kernel) throw InternalError("codegen: kernel " + name + " is missing from the embedded bitcode");
  args.push_back(begin_);
  args.push_back(end_);
  if (kernel->arg_size() != args.size())
    throw InternalError("codegen: kernel " + name + " takes " + std::to_string(kernel->arg_size()) +
                        " arguments, the compiler passes " + std::to_string(args.size()));
  // Inlined into the node function so that the node's constant shapes specialize the
  // kernel's loops (trip counts, strides, divisions by constants).
  llvm::CallInst *call = b_.CreateCall(kernel, args);
  call->addFnAttr(llvm::Attribute::AlwaysInline);
}

void NodeLowering::pushActivation(std::vector<llvm::Value *> &args) {
  args.push_back(i32(static_cast<int32_t>(activation_.kind)));
  args.push_back(f32(activation_.alpha));
  args.push_back(f32(activation_.beta));
}

std::vector<int64_t> NodeLowering::constantInts(size_t i, const char *what) const {
  const ir::Value *v = i < node_.numInputs() ? node_.input(i) : nullptr;
  if (!v || !v->isConstant()) fail(std::string(what) + " must be a constant");
  return v->constant()->toInt64Vector();
}

int64_t NodeLowering::emitGather(const ir::Value *x, const ir::Value *y, int64_t base,
                                 std::vector<int64_t> strides) {
  return emitGather(x, y, base, y->type().shape, std::move(strides));
}

int64_t NodeLowering::emitGather(const ir::Value *x, const ir::Value *y, int64_t base, std::vector<int64_t> dims,
                                 std::vector<int64_t> strides) {
  if (y->type().numElements() == 0) return 0;
  std::vector<std::vector<int64_t>> s{std::move(strides)};
  collapseDims(dims, s, std::max<size_t>(dims.size(), 1));
  // collapseDims pads with leading 1s; the kernel takes any rank, so drop them.
  size_t lead = 0;
  while (lead + 1 < dims.size() && dims[lead] == 1) ++lead;
  dims.erase(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(lead));
  s[0].erase(s[0].begin(), s[0].begin() + static_cast<std::ptrdiff_t>(lead));
  if (dims.size() > 16) fail("more than 16 dims after merging contiguous ones");
  callKernel(sizedKernelName("leip_k_gather", y->type().dtype),
             {address(x), address(y), i64(base), i64(static_cast<int64_t>(dims.size())), i64Array(dims),
              i64Array(s[0])});
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < dims.size(); ++d) rows *= dims[d];
  return rows;
}

std::string sizedKernelName(const std::string &base, ir::DType dtype) {
  return base + "_b" + std::to_string(ir::dtypeSize(dtype));
}

int32_t runtimeDTypeCode(ir::DType type) {
  switch (type) {
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

int64_t dimProduct(const ir::Shape &shape, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t d = from; d < to && d < shape.size(); ++d) n *= shape[d];
  return n;
}

int64_t elementSize(const ir::Value *value) { return static_cast<int64_t>(ir::dtypeSize(value->type().dtype)); }

int64_t normalizedAxis(NodeLowering &L, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    L.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> broadcastStrides(const ir::Shape &shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  std::vector<int64_t> own = ir::stridesOf(shape);
  for (size_t i = 0; i < shape.size(); ++i) {
    size_t d = rank - shape.size() + i;
    strides[d] = shape[i] == 1 ? 0 : own[i];
  }
  return strides;
}

bool collapseDims(std::vector<int64_t> &dims, std::vector<std::vector<int64_t>> &strides, size_t maxRank) {
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

int64_t laneTileRows(int lanes, int64_t count) {
  // At 8 lanes always 6 (12 accumulators): a 4-position tile's 8 accumulators only just
  // cover two FMA pipes of latency 4, and the kernels run a rest under half a tile as two
  // even tiles. resnet18's 56- and 28-wide 3x3 layers ran 4-10 % faster with 6 than with 4,
  // which divides their rows (AVX2 Zen 3, docs/performance-notes.md).
  const std::vector<int64_t> choices = lanes == 16 ? std::vector<int64_t>{14, 12, 8, 7, 4}
                                       : lanes == 8 ? std::vector<int64_t>{6}
                                                    : std::vector<int64_t>{12, 6};
  for (int64_t mr : choices)
    if (count % mr == 0) return mr;
  return choices[0];
}

LowerFn findLowering(const ir::Node &node) {
  static const LoweringRules rules = [] {
    LoweringRules all;
    for (auto add : {addConvLowerings, addConvTransposeLowerings, addPoolLowerings, addGemmLowerings,
                     addElementwiseLowerings, addReduceLowerings, addQuantizeLowerings, addNormalizationLowerings,
                     addMovementLowerings, addIndexingLowerings, addResizeLowerings, addGridSampleLowerings,
                     addEinsumLowerings, addIntegerNNLowerings, addQConvLowerings})
      add(all);
    return all;
  }();
  const std::string &domain = node.domain();
  if (!domain.empty() && domain != "ai.onnx" && domain != "leip") return nullptr;
  auto it = rules.find(domain == "leip" ? "leip." + node.opType() : node.opType());
  return it == rules.end() ? nullptr : it->second;
}

} // namespace leip::codegen
