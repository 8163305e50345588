// The cuda target's lowering rules (see CudaLowering.h) and GpuLowering's services.
#include "CudaLowering.h"

#include "../Lowering.h"

#include "leip/ir/NNGeometry.h"
#include "leip/passes/FuseActivations.h"
#include "leip/support/Error.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Metadata.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

namespace leip::codegen::cuda {

int64_t DeviceModuleState::addWeights(const void *data, size_t bytes) {
  const auto offset = static_cast<int64_t>((weights.size() + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment);
  weights.resize(static_cast<size_t>(offset));
  weights.append(static_cast<const char *>(data), bytes);
  return offset;
}

gpu::Activation GpuLowering::activation() const {
  return {static_cast<int32_t>(step_.act.kind), step_.act.alpha, step_.act.beta};
}

void GpuLowering::fail(const std::string &why) const {
  throw BadInputError(node().describe() + ": op " + node().opType() + " cannot be compiled for cuda yet" +
                      (why.empty() ? "" : " (" + why + ")"));
}

void GpuLowering::requireFloat32(size_t dataInputs) const {
  auto check = [&](const ir::Value *v, const char *role) {
    if (v && v->type().dtype != ir::DType::F32)
      fail(std::string("only float32 tensors so far, ") + role + " '" + v->name() + "' is " +
           std::string(ir::dtypeName(v->type().dtype)));
  };
  for (size_t i = 0; i < node().numInputs() && i < dataInputs; ++i) check(node().input(i), "input");
  for (const ir::Value *out : outputs())
    if (out && !out->users().empty()) check(out, "output");
}

DeviceAddress GpuLowering::tensor(const ir::Value *value) {
  if (!value) return none();
  if (value->isConstant()) {
    auto it = state_.constantOffsets.find(value);
    if (it == state_.constantOffsets.end()) {
      const ir::Tensor &t = *value->constant();
      it = state_.constantOffsets.emplace(value, state_.addWeights(t.rawData(), t.byteSize())).first;
    }
    return {DeviceAddress::Weights, it->second};
  }
  auto it = state_.storage.find(value);
  if (it == state_.storage.end()) throw InternalError("cuda codegen: '" + value->name() + "' has no device storage");
  return it->second;
}

DeviceAddress GpuLowering::derived(const std::vector<float> &values) {
  return {DeviceAddress::Weights, state_.addWeights(values.data(), values.size() * sizeof(float))};
}

void emitLaunch(DeviceModuleState &state, const gpu::Launch &plan, const void *params, size_t bytes,
                const std::vector<DeviceAddress> &tensors, const std::string &what) {
  for (uint32_t d : plan.grid)
    if (d == 0) return; // nothing to compute (an empty tensor)
  llvm::Module &mod = state.mod;
  llvm::LLVMContext &ctx = mod.getContext();
  llvm::Function *kernel = mod.getFunction(plan.kernel);
  if (!kernel || kernel->isDeclaration())
    throw InternalError(std::string("cuda codegen: kernel ") + plan.kernel + " is missing from the embedded device bitcode");
  if (kernel->arg_size() != tensors.size() + 1)
    throw InternalError(std::string("cuda codegen: kernel ") + plan.kernel + " takes " +
                        std::to_string(kernel->arg_size()) + " arguments, the lowering of " + what +
                        " passes " + std::to_string(tensors.size() + 1));

  auto *ptrTy = llvm::PointerType::get(ctx, 0);
  const std::string name = "leip_gpu_" + std::to_string(state.launches.size());
  auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrTy, ptrTy}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::ExternalLinkage, name, mod);
  fn->getArg(0)->setName("arena");
  fn->getArg(1)->setName("weights");
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));

  auto *init = llvm::ConstantDataArray::getRaw(llvm::StringRef(static_cast<const char *>(params), bytes), bytes,
                                               llvm::Type::getInt8Ty(ctx));
  auto *paramsVar = new llvm::GlobalVariable(mod, init->getType(), true, llvm::GlobalValue::InternalLinkage, init,
                                             name + "_params");
  paramsVar->setAlignment(llvm::Align(8));
  std::vector<llvm::Value *> args{paramsVar};
  for (const DeviceAddress &t : tensors) {
    if (t.kind == DeviceAddress::None) args.push_back(llvm::ConstantPointerNull::get(ptrTy));
    else args.push_back(b.CreateInBoundsGEP(b.getInt8Ty(), fn->getArg(t.kind == DeviceAddress::Arena ? 0 : 1),
                                            b.getInt64(t.offset)));
  }
  // Inlined whatever its size: the params become constants only inside the entry.
  llvm::CallInst *call = b.CreateCall(kernel, args);
  call->addFnAttr(llvm::Attribute::AlwaysInline);
  kernel->removeFnAttr(llvm::Attribute::NoInline);
  b.CreateRetVoid();

  // NVPTX marks kernels through nvvm.annotations; maxntid bounds the registers per thread.
  llvm::NamedMDNode *annotations = mod.getOrInsertNamedMetadata("nvvm.annotations");
  auto annotate = [&](const char *key, uint32_t value) {
    llvm::Metadata *ops[] = {llvm::ValueAsMetadata::get(fn), llvm::MDString::get(ctx, key),
                             llvm::ConstantAsMetadata::get(b.getInt32(value))};
    annotations->addOperand(llvm::MDNode::get(ctx, ops));
  };
  annotate("kernel", 1);
  annotate("maxntidx", plan.block[0]);
  annotate("maxntidy", plan.block[1]);
  annotate("maxntidz", plan.block[2]);
  state.launches.push_back({name, plan});
}

namespace {

/// numElements as the int32 the kernels index with; fails beyond it.
int32_t dim32(GpuLowering &L, int64_t v) {
  if (v < 0 || v > std::numeric_limits<int32_t>::max()) L.fail("a dimension of " + std::to_string(v) + " elements");
  return static_cast<int32_t>(v);
}

void checkElementCount(GpuLowering &L, const ir::Value *v) {
  if (v && v->type().numElements() > std::numeric_limits<int32_t>::max())
    L.fail("tensor '" + v->name() + "' has more than 2^31 elements");
}

/// Row-major element strides of `shape`.
std::vector<int64_t> contiguousStrides(const ir::Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

/// The window fields that ConvParams, PoolParams and QConvParams share, from `g` (a 1-D
/// window as a 2-D one of height 1).
template <class Params> void setWindow(GpuLowering &L, const ir::WindowGeometry &g, Params &p) {
  const bool twoD = g.rank() == 2;
  const size_t last = twoD ? 1 : 0;
  p.h = twoD ? dim32(L, g.input[0]) : 1;
  p.w = dim32(L, g.input[last]);
  p.oh = twoD ? dim32(L, g.output[0]) : 1;
  p.ow = dim32(L, g.output[last]);
  p.kh = twoD ? dim32(L, g.kernel[0]) : 1;
  p.kw = dim32(L, g.kernel[last]);
  p.strideH = twoD ? dim32(L, g.strides[0]) : 1;
  p.strideW = dim32(L, g.strides[last]);
  p.padTop = twoD ? dim32(L, g.padBegin[0]) : 0;
  p.padLeft = dim32(L, g.padBegin[last]);
  p.dilationH = twoD ? dim32(L, g.dilations[0]) : 1;
  p.dilationW = dim32(L, g.dilations[last]);
}

// ---- convolution and matrix products ----------------------------------------------------

void lowerConv(GpuLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *w = node.input(1);
  const ir::Value *bias = node.numInputs() > 2 ? node.input(2) : nullptr;
  const ir::Value *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ws = w->type().shape;
  if (xs.size() != 3 && xs.size() != 4) L.fail("only 1-D and 2-D convolutions");
  for (const ir::Value *v : {x, w, y}) checkElementCount(L, v);
  gpu::ConvParams p{};
  p.n = dim32(L, xs[0]);
  p.c = dim32(L, xs[1]);
  p.k = dim32(L, ws[0]);
  setWindow(L, ir::convGeometry(node, xs, ws), p);
  p.groups = dim32(L, node.attrs().getInt("group", 1));
  p.act = L.activation();
  L.launch(gpu::planConv2d(p), p, {L.tensor(x), L.tensor(w), L.tensor(bias), L.tensor(L.residual()), L.tensor(y)});
}

/// y[M,N] = act(x[M,K] . W[N,K]^T + bias[N] + residual[M,N]) as a 1x1 convolution over
/// [M,K,1,1].
void launchMatrixProduct(GpuLowering &L, const ir::Value *x, int64_t M, int64_t K, int64_t N,
                         DeviceAddress weightsNK, DeviceAddress bias, DeviceAddress residual, const ir::Value *y) {
  gpu::ConvParams p{};
  p.n = dim32(L, M);
  p.c = dim32(L, K);
  p.h = p.w = p.oh = p.ow = 1;
  p.k = dim32(L, N);
  p.kh = p.kw = p.strideH = p.strideW = p.dilationH = p.dilationW = p.groups = 1;
  p.act = L.activation();
  L.launch(gpu::planConv2d(p), p, {L.tensor(x), weightsNK, bias, residual, L.tensor(y)});
}

void lowerGemm(GpuLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *a = node.input(0), *bValue = node.input(1);
  const ir::Value *c = node.numInputs() > 2 ? node.input(2) : nullptr;
  const ir::Value *y = L.outputs()[0];
  if (node.attrs().getInt("transA", 0) != 0) L.fail("transA=1");
  if (!bValue->isConstant()) L.fail("a non-constant B");
  const ir::Shape &as = a->type().shape, &bs = bValue->type().shape;
  if (as.size() != 2 || bs.size() != 2) L.fail("Gemm operands of rank other than 2");
  const bool transB = node.attrs().getInt("transB", 0) != 0;
  const int64_t M = as[0], K = as[1], N = transB ? bs[0] : bs[1];
  const float alpha = node.attrs().getFloat("alpha", 1.0f), beta = node.attrs().getFloat("beta", 1.0f);
  const float *B = bValue->constant()->data<float>();
  std::vector<float> w(static_cast<size_t>(N * K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w[n * K + k] = alpha * (transB ? B[n * K + k] : B[k * N + n]);

  DeviceAddress bias, residual;
  if (c && beta != 0.0f) {
    const ir::Shape &cs = c->type().shape;
    const int64_t count = c->type().numElements();
    if (c->isConstant()) {
      // Any broadcastable C becomes a bias [N] when it is constant along M, else a residual [M,N].
      const float *C = c->constant()->data<float>();
      std::vector<int64_t> strides = broadcastStrides(cs, 2);
      std::vector<float> full(static_cast<size_t>(M * N));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) full[m * N + n] = beta * C[m * strides[0] + n * strides[1]];
      if (strides[0] == 0) bias = L.derived(std::vector<float>(full.begin(), full.begin() + N));
      else residual = L.derived(full);
    } else if (count == M * N && beta == 1.0f) {
      residual = L.tensor(c);
    } else {
      L.fail("a non-constant C that is not [M,N] with beta 1");
    }
  }
  launchMatrixProduct(L, a, M, K, N, L.derived(w), bias, residual, y);
}

void lowerMatMul(GpuLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *a = node.input(0), *bValue = node.input(1), *y = L.outputs()[0];
  const ir::Shape &as = a->type().shape, &bs = bValue->type().shape;
  if (!bValue->isConstant() || bs.size() != 2) L.fail("only a constant 2-D right-hand side");
  if (as.size() < 2) L.fail("a 1-D left-hand side");
  const int64_t K = bs[0], N = bs[1], M = a->type().numElements() / K;
  const float *B = bValue->constant()->data<float>();
  std::vector<float> w(static_cast<size_t>(N * K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w[n * K + k] = B[k * N + n];
  launchMatrixProduct(L, a, M, K, N, L.derived(w), GpuLowering::none(), GpuLowering::none(), y);
}

// ---- pooling ----------------------------------------------------------------------------

gpu::PoolParams planeParams(GpuLowering &L, const ir::Shape &xs) {
  if (xs.size() != 4) L.fail("only 2-D pooling");
  gpu::PoolParams p{};
  p.n = dim32(L, xs[0]);
  p.c = dim32(L, xs[1]);
  p.h = dim32(L, xs[2]);
  p.w = dim32(L, xs[3]);
  p.strideH = p.strideW = p.dilationH = p.dilationW = 1;
  return p;
}

void lowerPool(GpuLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::DType dtype = x->type().dtype;
  const bool integer = node.opType() == "MaxPool" && (dtype == ir::DType::U8 || dtype == ir::DType::I8);
  if (!integer) L.requireFloat32();
  if (node.numOutputs() > 1 && node.output(1) && !node.output(1)->users().empty()) L.fail("MaxPool's Indices output");
  gpu::PoolParams p = planeParams(L, x->type().shape);
  ir::WindowGeometry g = ir::poolGeometry(node, x->type().shape);
  setWindow(L, g, p);
  p.kind = node.opType() == "MaxPool" ? 0 : 1;
  p.countIncludePad = node.attrs().getInt("count_include_pad", 0) != 0;
  // The kernel counts padded taps up to the end padding's edge only when they exist: a
  // ceil_mode window reaching past it would need the end pads too.
  if (p.kind == 1 && p.countIncludePad)
    for (size_t d = 0; d < 2; ++d)
      if ((g.output[d] - 1) * g.strides[d] - g.padBegin[d] + (g.kernel[d] - 1) * g.dilations[d] >=
          g.input[d] + g.padEnd[d])
        L.fail("count_include_pad with a window past the end padding (ceil_mode)");
  const gpu::Launch plan =
      integer ? gpu::planIntegerMaxPool(p, dtype == ir::DType::U8 ? gpu::kUint8 : gpu::kInt8) : gpu::planPool2d(p);
  L.launch(plan, p, {L.tensor(x), L.tensor(y)});
}

void lowerGlobalPool(GpuLowering &L) {
  L.requireFloat32();
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  gpu::PoolParams p = planeParams(L, x->type().shape);
  p.oh = p.ow = 1;
  p.kh = p.h;
  p.kw = p.w;
  p.kind = L.node().opType() == "GlobalMaxPool" ? 0 : 1;
  L.launch(gpu::planPool2d(p), p, {L.tensor(x), L.tensor(y)});
}

// ---- elementwise ------------------------------------------------------------------------

void lowerBinary(GpuLowering &L) {
  static const std::map<std::string, int32_t> ops = {{"Add", 0}, {"Sub", 1}, {"Mul", 2}, {"Div", 3},
                                                      {"Max", 4}, {"Min", 5}, {"Pow", 6}};
  L.requireFloat32();
  const ir::Node &node = L.node();
  if (node.numInputs() != 2) L.fail("only two inputs");
  const ir::Value *a = node.input(0), *b = node.input(1), *y = L.outputs()[0];
  std::vector<int64_t> dims = y->type().shape;
  std::vector<std::vector<int64_t>> strides = {broadcastStrides(a->type().shape, dims.size()),
                                               broadcastStrides(b->type().shape, dims.size())};
  if (!collapseDims(dims, strides, gpu::kMaxRank))
    L.fail("more than " + std::to_string(gpu::kMaxRank) + " dims after merging contiguous ones");
  gpu::BinaryParams p{};
  p.op = ops.at(node.opType());
  p.rank = gpu::kMaxRank;
  p.count = y->type().numElements();
  for (int d = 0; d < gpu::kMaxRank; ++d) {
    p.dims[d] = dims[d];
    p.strideA[d] = strides[0][d];
    p.strideB[d] = strides[1][d];
  }
  p.act = L.activation();
  L.launch(gpu::planBinary(p), p, {L.tensor(a), L.tensor(b), L.tensor(y)});
}

void lowerUnary(GpuLowering &L) {
  static const std::map<std::string, int32_t> ops = {{"Exp", 1},        {"Log", 2},   {"Sqrt", 3},
                                                      {"Neg", 4},        {"Abs", 5},   {"Reciprocal", 6},
                                                      {"Floor", 7},      {"Ceil", 8},  {"Erf", 9},
                                                      {"Softplus", 10}};
  L.requireFloat32(1);
  const ir::Node &node = L.node();
  gpu::UnaryParams p{};
  p.count = L.outputs()[0]->type().numElements();
  auto it = ops.find(node.opType());
  if (it != ops.end()) {
    p.op = it->second;
    p.act = L.activation();
  } else {
    // A standalone activation (Relu, Clip with constant bounds, Sigmoid, ...).
    std::optional<ir::FusedActivation> act = passes::activationOf(node);
    if (!act) L.fail("its parameters are not constant");
    p.op = 0;
    p.act = {static_cast<int32_t>(act->kind), act->alpha, act->beta};
  }
  L.launch(gpu::planUnary(p), p, {L.tensor(node.input(0)), L.tensor(L.outputs()[0])});
}

void lowerSoftmax(GpuLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Shape &xs = node.input(0)->type().shape;
  int64_t axis = node.attrs().getInt("axis", -1);
  const auto rank = static_cast<int64_t>(xs.size());
  if (axis < -rank || axis >= rank) L.fail("axis " + std::to_string(axis) + " out of range");
  if (axis < 0) axis += rank;
  gpu::SoftmaxParams p{};
  p.outer = dimProduct(xs, 0, static_cast<size_t>(axis));
  p.axis = xs[static_cast<size_t>(axis)];
  p.inner = dimProduct(xs, static_cast<size_t>(axis) + 1, xs.size());
  p.logSoftmax = node.opType() == "LogSoftmax";
  if (p.outer * p.axis * p.inner == 0) return;
  L.launch(gpu::planSoftmax(p), p, {L.tensor(node.input(0)), L.tensor(L.outputs()[0])});
}

// ---- data movement ----------------------------------------------------------------------

/// Copies x (viewed with `srcStrides` over `dims`, from element `srcBase`) into y's view
/// `dstStrides` from element `dstBase`.
void launchCopy(GpuLowering &L, const ir::Value *x, const ir::Value *y, std::vector<int64_t> dims,
                std::vector<int64_t> srcStrides, std::vector<int64_t> dstStrides, int64_t srcBase, int64_t dstBase) {
  std::vector<std::vector<int64_t>> strides = {std::move(srcStrides), std::move(dstStrides)};
  if (!collapseDims(dims, strides, gpu::kMaxRank))
    L.fail("more than " + std::to_string(gpu::kMaxRank) + " dims after merging contiguous ones");
  gpu::CopyParams p{};
  p.elementBytes = static_cast<int32_t>(elementSize(x));
  if (p.elementBytes != 1 && p.elementBytes != 2 && p.elementBytes != 4 && p.elementBytes != 8)
    L.fail("elements of " + std::to_string(p.elementBytes) + " bytes");
  p.rank = gpu::kMaxRank;
  p.count = 1;
  for (int d = 0; d < gpu::kMaxRank; ++d) {
    p.dims[d] = dims[d];
    p.count *= dims[d];
    p.srcStrides[d] = strides[0][d];
    p.dstStrides[d] = strides[1][d];
  }
  p.srcBase = srcBase;
  p.dstBase = dstBase;
  if (p.count == 0) return;
  L.launch(gpu::planCopy(p), p, {L.tensor(x), L.tensor(y)});
}

/// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: the same bytes.
void lowerReshape(GpuLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  const int64_t count = x->type().numElements();
  launchCopy(L, x, y, {count}, {1}, {1}, 0, 0);
}

void lowerTranspose(GpuLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  std::vector<int64_t> perm = node.attrs().getInts("perm", {});
  if (perm.empty())
    for (size_t d = xs.size(); d-- > 0;) perm.push_back(static_cast<int64_t>(d));
  std::vector<int64_t> xStrides = contiguousStrides(xs), src;
  for (int64_t axis : perm) src.push_back(xStrides[static_cast<size_t>(axis)]);
  launchCopy(L, x, y, y->type().shape, src, contiguousStrides(y->type().shape), 0, 0);
}

void lowerConcat(GpuLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *y = L.outputs()[0];
  const ir::Shape &ys = y->type().shape;
  int64_t axis = node.attrs().getInt("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(ys.size());
  const std::vector<int64_t> yStrides = contiguousStrides(ys);
  int64_t at = 0;
  for (const ir::Value *x : node.inputs()) {
    const ir::Shape &xs = x->type().shape;
    launchCopy(L, x, y, xs, contiguousStrides(xs), yStrides, 0, at * yStrides[static_cast<size_t>(axis)]);
    at += xs[static_cast<size_t>(axis)];
  }
}

// ---- integer (quantized) ops: kernels_cuda/Quantized.cu --------------------------------

gpu::QuantizedType quantizedType(GpuLowering &L, const ir::Value *v) {
  switch (v->type().dtype) {
  case ir::DType::U8: return gpu::kUint8;
  case ir::DType::I8: return gpu::kInt8;
  case ir::DType::F32: return gpu::kFloat32;
  default: L.fail("'" + v->name() + "' is " + std::string(ir::dtypeName(v->type().dtype)));
  }
}

/// leip.QConv (src/ir/ops/Internal.cpp), produced by passes::lowerQdqToInteger.
void lowerQConv(GpuLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *w = node.input(1);
  const ir::Value *residual = node.numInputs() > 2 ? node.input(2) : nullptr;
  const ir::Value *y = L.outputs()[0];
  for (const ir::Value *v : {x, w, y}) checkElementCount(L, v);
  const ir::Shape &xs = x->type().shape, &ws = w->type().shape;
  gpu::QConvParams p{};
  p.n = dim32(L, xs[0]);
  p.c = dim32(L, xs[1]);
  p.k = dim32(L, ws[0]);
  setWindow(L, ir::convGeometry(node, xs, ws), p);
  p.groups = dim32(L, node.attrs().getInt("group", 1));
  p.inputType = quantizedType(L, x);
  p.xZeroPoint = static_cast<int32_t>(node.attrs().getInt("x_zero_point", 0));
  p.outputType = quantizedType(L, y);
  p.directRequant = node.attrs().has("requant_scales");
  p.yMin = static_cast<int32_t>(node.attrs().getInt("y_min", 0));
  p.yMax = static_cast<int32_t>(node.attrs().getInt("y_max", 0));
  p.yInverseScale = node.attrs().getFloat("y_inverse_scale", 1.0f);
  p.yZeroPoint = static_cast<int32_t>(node.attrs().getInt("y_zero_point", 0));
  p.act = L.activation();
  const char *scales = p.directRequant ? "requant_scales" : "scales";
  const char *offsets = p.directRequant ? "requant_offsets" : "biases";
  L.launch(gpu::planQConv(p), p,
           {L.tensor(x), L.tensor(w), L.derived(node.attrs().getFloats(scales)), L.derived(node.attrs().getFloats(offsets)),
            L.tensor(residual), L.tensor(y)});
}

/// QuantizeLinear / DequantizeLinear with a per-tensor or per-axis scale.
void lowerQuantizeLinear(GpuLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *scale = node.input(1), *y = L.outputs()[0];
  const ir::Value *zeroPoint = node.numInputs() > 2 ? node.input(2) : nullptr;
  if (scale->type().dtype != ir::DType::F32) L.fail("a scale that is not float32");
  const ir::TensorType &xt = x->type();
  int64_t axisSize = 1, inner = xt.numElements();
  if (scale->type().numElements() != 1) {
    int64_t axis = node.attrs().getInt("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(xt.rank());
    axisSize = xt.shape[static_cast<size_t>(axis)];
    inner = dimProduct(xt.shape, static_cast<size_t>(axis) + 1, xt.shape.size());
  }
  if (node.opType() == "QuantizeLinear") {
    if (x->type().dtype != ir::DType::F32) L.fail("an input that is not float32");
    gpu::QuantizeParams p{xt.numElements(), axisSize, inner, quantizedType(L, y)};
    if (p.outputType == gpu::kFloat32) L.fail("a float output");
    L.launch(gpu::planQuantize(p), p, {L.tensor(x), L.tensor(scale), L.tensor(zeroPoint), L.tensor(y)});
  } else {
    gpu::DequantizeParams p{xt.numElements(), axisSize, inner, quantizedType(L, x)};
    if (p.inputType == gpu::kFloat32) L.fail("a float input");
    L.launch(gpu::planDequantize(p), p, {L.tensor(x), L.tensor(scale), L.tensor(zeroPoint), L.tensor(y)});
  }
}

const std::map<std::string, GpuLowerFn> &rules() {
  static const std::map<std::string, GpuLowerFn> table = [] {
    std::map<std::string, GpuLowerFn> r;
    r["Conv"] = lowerConv;
    r["Gemm"] = lowerGemm;
    r["MatMul"] = lowerMatMul;
    for (const char *op : {"MaxPool", "AveragePool"}) r[op] = lowerPool;
    for (const char *op : {"GlobalAveragePool", "GlobalMaxPool"}) r[op] = lowerGlobalPool;
    for (const char *op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"}) r[op] = lowerBinary;
    for (const char *op : {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log",
                           "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Erf", "Softplus"})
      r[op] = lowerUnary;
    for (const char *op : {"Softmax", "LogSoftmax"}) r[op] = lowerSoftmax;
    for (const char *op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}) r[op] = lowerReshape;
    r["Transpose"] = lowerTranspose;
    r["Concat"] = lowerConcat;
    r["leip.QConv"] = lowerQConv;
    for (const char *op : {"QuantizeLinear", "DequantizeLinear"}) r[op] = lowerQuantizeLinear;
    return r;
  }();
  return table;
}

} // namespace

GpuLowerFn findGpuLowering(const ir::Node &node) {
  std::string key = node.opType();
  if (node.domain() == "leip") key = "leip." + key;
  else if (!node.domain().empty() && node.domain() != "ai.onnx") return nullptr;
  auto it = rules().find(key);
  return it == rules().end() ? nullptr : it->second;
}

} // namespace leip::codegen::cuda
