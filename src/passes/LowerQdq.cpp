// Lowering of QDQ convolutions to leip.QConv. See leip/passes/LowerQdq.h; the op's
// semantics are in src/ir/ops/Internal.cpp.
#include "leip/passes/LowerQdq.h"

#include "GraphRewrite.h"

#include "leip/interp/Kernels.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/OpRegistry.h"
#include "leip/passes/FuseActivations.h"
#include "leip/support/Error.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace leip::passes {

namespace {

using ir::DType;

bool isOnnxOp(const ir::Node *node, const char *op) {
  return node && node->domain().empty() && node->opType() == op;
}

bool isQConv(const ir::Node *node) { return node && node->domain() == ir::kLeipDomain && node->opType() == "QConv"; }

bool isQuantizedType(DType type) { return type == DType::U8 || type == DType::I8; }

/// The DequantizeLinear computing `value`, or null.
ir::Node *dequantizeProducer(const ir::Value *value) {
  ir::Node *producer = value ? value->producer() : nullptr;
  return isOnnxOp(producer, "DequantizeLinear") ? producer : nullptr;
}

/// A QuantizeLinear/DequantizeLinear node's scale and zero point (null when absent), when
/// both are constants.
struct QuantOperands {
  const ir::Tensor *scale = nullptr;
  const ir::Tensor *zeroPoint = nullptr;
};

/// Fills `q` and returns ""; or returns why not ("<what> scale is not a constant").
std::string constantOperands(const ir::Node &node, const std::string &what, QuantOperands &q) {
  const ir::Value *scale = node.input(1);
  if (!scale || !scale->isConstant()) return what + " scale is not a constant";
  q.scale = scale->constant();
  q.zeroPoint = nullptr;
  if (const ir::Value *zp = node.input(2)) {
    if (!zp->isConstant()) return what + " zero point is not a constant";
    q.zeroPoint = zp->constant();
  }
  return "";
}

/// A per-tensor scale usable as a quantization step: positive and normal, so that
/// 1 / scale is finite and q -> real -> q round-trips exactly.
bool usableScale(const ir::Tensor &scale) {
  if (scale.dtype() != DType::F32 || scale.numElements() != 1) return false;
  float s = scale.data<float>()[0];
  return s > 0.0f && std::isnormal(s);
}

int64_t zeroPointOf(const QuantOperands &q) { return q.zeroPoint ? q.zeroPoint->getAsInt64(0) : 0; }

/// Adds node `op` of `domain` with one output `outputName`, typed by its shape rule; when
/// `expected` is given, the rule must agree with its dtype and shape, and the output takes
/// that type (quantization annotations included).
ir::Node *addTypedNode(ir::Graph &graph, const std::string &op, const std::string &domain, const std::string &name,
                       const std::vector<ir::Value *> &inputs, ir::AttributeMap attrs, const std::string &outputName,
                       const ir::TensorType *expected = nullptr) {
  ir::Node *node = graph.addNode(op, name, inputs, {outputName}, domain);
  node->attrs() = std::move(attrs);
  std::vector<const ir::TensorType *> types;
  std::vector<const ir::Tensor *> values;
  for (const ir::Value *in : inputs) {
    types.push_back(in ? &in->type() : nullptr);
    values.push_back(in ? in->constant() : nullptr);
  }
  ir::TensorType inferred = ir::inferNodeTypes(*node, types, values).at(0);
  if (expected && (inferred.dtype != expected->dtype || inferred.shape != expected->shape))
    throw InternalError("lowerQdqToInteger: " + node->describe() + " computes " + inferred.toString() +
                        " in place of '" + outputName + "' " + expected->toString());
  node->output(0)->setType(expected ? *expected : inferred);
  return node;
}

/// Erases `chain` (first to last; only the last node's output 0 is read from outside it)
/// and returns the readers of that output, its name and type, for a replacement to take.
struct Detached {
  detail::Uses uses;
  std::string name;
  ir::TensorType type;
};
Detached eraseChain(ir::Graph &graph, const std::vector<ir::Node *> &chain) {
  ir::Value *result = chain.back()->output(0);
  Detached d{detail::detachUses(graph, result), result->name(), result->type()};
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) graph.eraseNode(*it);
  return d;
}

/// Replaces `chain` by one node `op` of `domain` named `name`, whose single output takes
/// over the name, type and readers of the chain's result.
ir::Node *replaceByNode(ir::Graph &graph, const std::vector<ir::Node *> &chain, const std::string &op,
                        const std::string &domain, std::string name, std::vector<ir::Value *> inputs,
                        ir::AttributeMap attrs) {
  // name, inputs and attrs are copies: they often come from a node of the chain.
  Detached result = eraseChain(graph, chain);
  ir::Node *node = addTypedNode(graph, op, domain, name, inputs, std::move(attrs), result.name, &result.type);
  detail::attachUses(graph, result.uses, node->output(0));
  return node;
}

// ---- a. Conv -> QConv --------------------------------------------------------------

struct ConvPlan {
  ir::Value *xq = nullptr;
  ir::Value *wq = nullptr;
  /// u8 weights with zero point 128, as the i8 values (w - 128) that replace them.
  std::optional<ir::Tensor> signedWeights;
  int64_t xZeroPoint = 0;
  std::vector<float> scales, biases;
};

/// The real bias of channel k (0 without bias), or a reason.
std::string planBias(const ir::Node &conv, int64_t channels, ConvPlan &plan) {
  plan.biases.assign(static_cast<size_t>(channels), 0.0f);
  const ir::Value *b = conv.input(2);
  if (!b) return "";
  ir::Tensor real;
  if (ir::Node *dq = dequantizeProducer(b)) {
    const ir::Value *bq = dq->input(0);
    if (!bq->isConstant()) return "quantized bias is not a constant";
    if (bq->type().dtype != DType::I32)
      return "bias is dequantized from " + std::string(ir::dtypeName(bq->type().dtype)) + ", not i32";
    QuantOperands q;
    if (std::string why = constantOperands(*dq, "bias", q); !why.empty()) return why;
    // The DequantizeLinear kernel itself, so the bias is the float path's to the bit.
    std::vector<const ir::Tensor *> args{bq->constant(), q.scale};
    if (q.zeroPoint) args.push_back(q.zeroPoint);
    real = interp::evaluateNode(*dq, args).at(0);
  } else if (const ir::Tensor *f = detail::f32Constant(b)) {
    real = *f;
  } else {
    return "bias is not a constant";
  }
  if (real.numElements() != channels) return "bias does not have one value per output channel";
  auto values = real.values<float>();
  plan.biases.assign(values.begin(), values.end());
  return "";
}

/// The plan's quantized input and zero point, and its per-channel scales x_scale * w_scale.
void setInputAndScales(ConvPlan &plan, const ir::Node &dqx, const QuantOperands &xq, const QuantOperands &wq,
                       int64_t channels, bool perChannel) {
  plan.xq = dqx.input(0);
  plan.xZeroPoint = zeroPointOf(xq);
  const float xScale = xq.scale->data<float>()[0];
  const float *wScale = wq.scale->data<float>();
  plan.scales.resize(static_cast<size_t>(channels));
  for (int64_t k = 0; k < channels; ++k) plan.scales[k] = xScale * wScale[perChannel ? k : 0];
}

/// The quantized input of a Conv/Gemm, DQ(xq): per-tensor constant scale and zero point
/// and u8/i8 integers. Fills `xq` and returns "", or why not (`what` names the input).
std::string checkQuantizedInput(const ir::Node &dqx, const std::string &what, QuantOperands &xq) {
  if (std::string why = constantOperands(dqx, what, xq); !why.empty()) return why;
  if (xq.scale->numElements() != 1) return what + " is quantized per channel";
  DType xType = dqx.input(0)->type().dtype;
  if (!isQuantizedType(xType)) return what + " is quantized to " + std::string(ir::dtypeName(xType)) + ", not u8/i8";
  return "";
}

/// The integer kernels take symmetric weights: i8 with zero point 0, or u8 with zero point
/// 128 (as leip compress --data_type uint8 makes them), taken as the i8 values w - 128.
std::string checkWeightZeroPoints(DType wType, const QuantOperands &w) {
  if (wType != DType::I8 && wType != DType::U8)
    return "weights are " + std::string(ir::dtypeName(wType)) + ", not i8 or u8";
  const int64_t want = wType == DType::U8 ? 128 : 0;
  const int64_t count = w.zeroPoint ? w.zeroPoint->numElements() : 1;
  for (int64_t i = 0; i < count; ++i)
    if ((w.zeroPoint ? w.zeroPoint->getAsInt64(i) : 0) != want)
      return wType == DType::U8 ? "weights are u8 with zero points other than 128" : "weights have nonzero zero points";
  return "";
}

/// Weight i of an i8 tensor, or of a u8 one (zero point 128) as the i8 value w - 128.
int8_t signedWeight(const ir::Tensor &w, int64_t i) {
  return w.dtype() == DType::U8 ? static_cast<int8_t>(w.data<uint8_t>()[i] - 128) : w.data<int8_t>()[i];
}

/// Fills `plan` and returns "" when pattern a applies; otherwise the reason it does not.
std::string planConv(const ir::Node &conv, ConvPlan &plan) {
  const ir::Value *x = conv.input(0);
  if (conv.numOutputs() != 1 || conv.output(0)->type().dtype != DType::F32) return "output is not f32";
  if (x->type().rank() != 4) return "input is not 4-D (QConv is 2-D only)";
  ir::Node *dqx = dequantizeProducer(x);
  if (!dqx) return "input x is not dequantized";
  ir::Node *dqw = dequantizeProducer(conv.input(1));
  if (!dqw) return "weights are not dequantized";

  QuantOperands xq;
  if (std::string why = checkQuantizedInput(*dqx, "x", xq); !why.empty()) return why;

  ir::Value *wq = dqw->input(0);
  if (!wq->isConstant()) return "quantized weights are not a constant";
  QuantOperands wqp;
  if (std::string why = constantOperands(*dqw, "weight", wqp); !why.empty()) return why;
  const ir::Shape &ws = wq->type().shape;
  int64_t channels = ws.at(0);
  bool perChannel = wqp.scale->numElements() != 1;
  if (perChannel) {
    int64_t axis = dqw->attrs().getInt("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(ws.size());
    if (axis != 0) return "weights are quantized per channel along axis " + std::to_string(axis) + ", not 0";
  }
  if (std::string why = checkWeightZeroPoints(wq->type().dtype, wqp); !why.empty()) return why;
  if (wq->type().dtype == DType::U8) {
    const ir::Tensor &u = *wq->constant();
    ir::Tensor converted(ir::TensorType{DType::I8, u.shape(), {}});
    for (int64_t i = 0; i < u.numElements(); ++i) static_cast<int8_t *>(converted.rawData())[i] = signedWeight(u, i);
    plan.signedWeights = std::move(converted);
  }
  int64_t taps = ws[1] * ws[2] * ws[3];
  if (taps > ir::kQConvMaxTaps)
    return "a window of " + std::to_string(taps) + " taps could overflow the int32 sum";

  if (std::string why = planBias(conv, channels, plan); !why.empty()) return why;
  plan.wq = wq;
  setInputAndScales(plan, *dqx, xq, wqp, channels, perChannel);
  return "";
}

void lowerConvs(ir::Graph &graph, QdqLoweringStats &stats) {
  for (ir::Node *conv : graph.topologicalOrder()) {
    if (!isOnnxOp(conv, "Conv")) continue;
    bool quantizedInput = false;
    for (const ir::Value *in : conv->inputs()) quantizedInput |= dequantizeProducer(in) != nullptr;
    if (!quantizedInput) continue;
    ConvPlan plan;
    if (std::string why = planConv(*conv, plan); !why.empty()) {
      stats.floatConvs.push_back({conv->name(), why});
      continue;
    }
    ir::AttributeMap attrs = conv->attrs(); // geometry and fused activation
    attrs.set("x_zero_point", plan.xZeroPoint);
    attrs.set("scales", plan.scales);
    attrs.set("biases", plan.biases);
    attrs.set("output_type", std::string("float32"));
    ir::Value *weights = plan.signedWeights
                             ? graph.addConstant(graph.uniqueName(plan.wq->name() + "_i8"), std::move(*plan.signedWeights))
                             : plan.wq;
    replaceByNode(graph, {conv}, "QConv", ir::kLeipDomain, conv->name(), {plan.xq, weights}, std::move(attrs));
    ++stats.convsLowered;
  }
}

// ---- a'. Gemm / MatMul -> Reshape, 1x1 QConv, Reshape ---------------------------------
// A fully connected layer Gemm(DQ(xq) [N, K], DQ(wq)) is a 1x1 convolution of N images of
// 1x1 pixels with K channels; the compiler runs such a QConv as an integer matrix product.
// MatMul(DQ(xq) [..., K], DQ(wq) [K, M]) (ONNX Runtime's quantizer makes it for linear
// layers exported as MatMul, e.g. in transformers) is the same with every leading
// dimension of A taken as an image.

/// The Gemm's or MatMul's weights as [M, K, 1, 1] (transposed when transB is 0, as MatMul's
/// always are) and the plan, or a reason it stays float.
std::string planGemm(const ir::Node &gemm, ConvPlan &plan, ir::Tensor &weights) {
  const bool matMul = gemm.opType() == "MatMul";
  const ir::AttributeMap &a = gemm.attrs();
  if (!matMul) {
    if (a.getInt("transA", 0) != 0) return "A is transposed";
    if (a.getFloat("alpha", 1.0f) != 1.0f) return "alpha is not 1";
    if (gemm.input(2) && a.getFloat("beta", 1.0f) != 1.0f) return "beta is not 1";
  }
  const ir::Value *x = gemm.input(0);
  if (gemm.output(0)->type().dtype != DType::F32) return "output is not f32";
  if (!matMul && x->type().rank() != 2) return "A is not 2-D";
  if (matMul && x->type().rank() < 2) return "A is 1-D";
  ir::Node *dqx = dequantizeProducer(x);
  if (!dqx) return "input A is not dequantized";
  ir::Node *dqw = dequantizeProducer(gemm.input(1));
  if (!dqw) return "weights are not dequantized";
  QuantOperands xq, wqp;
  if (std::string why = checkQuantizedInput(*dqx, "A", xq); !why.empty()) return why;
  ir::Value *wq = dqw->input(0);
  if (!wq->isConstant() || wq->type().rank() != 2) return "weights are not a 2-D constant";
  if (std::string why = constantOperands(*dqw, "weight", wqp); !why.empty()) return why;
  if (std::string why = checkWeightZeroPoints(wq->type().dtype, wqp); !why.empty()) return why;
  const bool transB = !matMul && a.getInt("transB", 0) != 0;
  const int64_t K = x->type().shape.back(), M = wq->type().shape[transB ? 0 : 1];
  const bool perChannel = wqp.scale->numElements() != 1;
  if (perChannel) {
    int64_t axis = dqw->attrs().getInt("axis", 1);
    if (axis < 0) axis += 2;
    if (axis != (transB ? 0 : 1)) return "weights are quantized per input feature, not per output";
  }
  if (K > ir::kQConvMaxTaps) return "a row of " + std::to_string(K) + " features could overflow the int32 sum";
  if (std::string why = planBias(gemm, M, plan); !why.empty()) return why;
  weights = ir::Tensor(ir::TensorType{DType::I8, {M, K, 1, 1}, {}});
  const ir::Tensor &w = *wq->constant();
  auto *out = static_cast<int8_t *>(weights.rawData());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) out[m * K + k] = signedWeight(w, transB ? m * K + k : k * M + m);
  setInputAndScales(plan, *dqx, xq, wqp, M, perChannel);
  return "";
}

ir::Value *shapeConstant(ir::Graph &graph, const std::string &base, const ir::Shape &shape) {
  return graph.addConstant(graph.uniqueName(base),
                           ir::Tensor::fromVector(DType::I64, {static_cast<int64_t>(shape.size())}, shape));
}

void lowerGemms(ir::Graph &graph, QdqLoweringStats &stats) {
  for (ir::Node *gemm : graph.topologicalOrder()) {
    if (!(isOnnxOp(gemm, "Gemm") || isOnnxOp(gemm, "MatMul")) || !dequantizeProducer(gemm->input(0))) continue;
    ConvPlan plan;
    ir::Tensor weights;
    if (std::string why = planGemm(*gemm, plan, weights); !why.empty()) {
      stats.floatConvs.push_back({gemm->name(), why});
      continue;
    }
    const std::string name = gemm->name();
    const ir::Shape &xs = plan.xq->type().shape;
    const int64_t M = weights.shape()[0], K = xs.back(), rows = ir::numElements(xs) / std::max<int64_t>(K, 1);
    ir::Shape ys(xs.begin(), xs.end() - 1);
    ys.push_back(M);
    ir::AttributeMap attrs;
    ir::FusedActivation act = ir::fusedActivation(*gemm);
    attrs.set("kernel_shape", std::vector<int64_t>{1, 1});
    attrs.set("x_zero_point", plan.xZeroPoint);
    attrs.set("scales", plan.scales);
    attrs.set("biases", plan.biases);
    attrs.set("output_type", std::string("float32"));
    Detached result = eraseChain(graph, {gemm});
    ir::Value *w = graph.addConstant(graph.uniqueName(name + "_weights_1x1"), std::move(weights));
    ir::Node *in = addTypedNode(graph, "Reshape", "", graph.uniqueName(name + "_to_1x1"),
                                {plan.xq, shapeConstant(graph, name + "_shape_1x1", {rows, K, 1, 1})}, {},
                                graph.uniqueName(plan.xq->name() + "_1x1"));
    ir::Node *conv = addTypedNode(graph, "QConv", ir::kLeipDomain, name, {in->output(0), w}, std::move(attrs),
                                  graph.uniqueName(result.name + "_1x1"));
    if (act.kind != ir::ActivationKind::None) ir::setFusedActivation(*conv, act);
    ir::Node *out = addTypedNode(graph, "Reshape", "", graph.uniqueName(name + "_from_1x1"),
                                 {conv->output(0), shapeConstant(graph, name + "_shape", ys)}, {},
                                 result.name, &result.type);
    detail::attachUses(graph, result.uses, out->output(0));
    ++stats.convsLowered;
  }
}

// ---- b. QConv + Add [+ activation] -> QConv with a residual -------------------------

bool isFloatQConv(const ir::Node *node) {
  return isQConv(node) && node->attrs().getString("output_type", "") == "float32";
}

void foldResidualAdds(ir::Graph &graph, QdqLoweringStats &stats) {
  std::unordered_set<const ir::Node *> erased;
  for (ir::Node *node : graph.topologicalOrder()) {
    if (erased.count(node) || !isFloatQConv(node) || node->input(2) || node->attrs().has("activation")) continue;
    ir::Value *y = node->output(0);
    ir::Node *add = detail::soleUser(graph, y);
    if (!isOnnxOp(add, "Add") || add->numInputs() != 2) continue;
    ir::Value *residual = add->input(0) == y ? add->input(1) : add->input(0);
    ir::Value *sum = add->output(0);
    if (!residual || residual->type().dtype != DType::F32 || residual->type().shape != y->type().shape ||
        sum->type().shape != y->type().shape || detail::isGraphOutput(graph, sum))
      continue;
    std::vector<ir::Node *> chain{node, add};
    ir::FusedActivation act;
    if (ir::Node *next = detail::fusableActivationAfter(graph, sum, act)) chain.push_back(next);
    for (ir::Node *n : chain) erased.insert(n);
    ir::Node *fused = replaceByNode(graph, chain, "QConv", ir::kLeipDomain, node->name(),
                                    {node->input(0), node->input(1), residual}, node->attrs());
    ir::setFusedActivation(*fused, act);
    ++stats.residualAddsFolded;
  }
}

// ---- c. QConv + QuantizeLinear -> QConv with a quantized output ---------------------

/// The QuantizeLinear reading `value` alone, with a usable per-tensor scale and a constant
/// zero point: the attributes a QConv writing its result needs; null otherwise.
ir::Node *outputQuantizer(const ir::Graph &graph, const ir::Value *value, ir::AttributeMap &attrs) {
  ir::Node *q = detail::soleUser(graph, value);
  if (!isOnnxOp(q, "QuantizeLinear") || q->input(0) != value) return nullptr;
  QuantOperands params;
  if (!constantOperands(*q, "y", params).empty() || !usableScale(*params.scale)) return nullptr;
  DType outType = q->output(0)->type().dtype;
  if (!isQuantizedType(outType)) return nullptr;
  attrs.set("output_type", std::string(outType == DType::U8 ? "uint8" : "int8"));
  attrs.set("y_inverse_scale", 1.0f / params.scale->data<float>()[0]);
  attrs.set("y_zero_point", zeroPointOf(params));
  return q;
}

/// Switches a QConv writing integers (attrs as outputQuantizer left them) to direct
/// requantization when it has no residual and its activation is none, Relu or Clip: the
/// per-channel multiplier and offset go to the integer domain, the activation to bounds
/// (quantization is monotone, so clamping after it equals activating before).
void useDirectRequantization(ir::AttributeMap &attrs, const ir::Node &qconv) {
  if (qconv.input(2)) return; // a residual is added in float first
  const ir::FusedActivation act = ir::fusedActivation(qconv);
  if (act.kind != ir::ActivationKind::None && act.kind != ir::ActivationKind::Relu &&
      act.kind != ir::ActivationKind::Clip)
    return;
  const float inverse = attrs.getFloat("y_inverse_scale", 1.0f);
  const auto zero = static_cast<float>(attrs.getInt("y_zero_point", 0));
  const bool u8 = attrs.getString("output_type", "") == "uint8";
  double lo = u8 ? 0 : -128, hi = u8 ? 255 : 127;
  // The bound an activation limit gives, computed as the quantization of that value.
  auto quantized = [&](float limit) { return static_cast<double>(std::nearbyintf(limit * inverse)) + zero; };
  if (act.kind == ir::ActivationKind::Relu) lo = std::max(lo, quantized(0.0f));
  if (act.kind == ir::ActivationKind::Clip) {
    lo = std::max(lo, quantized(act.alpha));
    hi = std::min(hi, quantized(act.beta));
  }
  if (lo > hi) return; // a Clip outside the representable range: keep the general form
  std::vector<float> scales = attrs.getFloats("scales"), biases = attrs.getFloats("biases");
  std::vector<float> multipliers(scales.size()), offsets(biases.size());
  for (size_t k = 0; k < scales.size(); ++k) {
    multipliers[k] = scales[k] * inverse;
    offsets[k] = biases[k] * inverse + zero;
  }
  attrs.set("requant_scales", multipliers);
  attrs.set("requant_offsets", offsets);
  attrs.set("y_min", static_cast<int64_t>(lo));
  attrs.set("y_max", static_cast<int64_t>(hi));
  attrs.erase("activation");
  attrs.erase("activation_params");
}

void quantizeOutputs(ir::Graph &graph, QdqLoweringStats &stats) {
  std::unordered_set<const ir::Node *> erased;
  for (ir::Node *node : graph.topologicalOrder()) {
    if (erased.count(node) || !isFloatQConv(node)) continue;
    ir::AttributeMap attrs = node->attrs();
    if (ir::Node *q = outputQuantizer(graph, node->output(0), attrs)) {
      useDirectRequantization(attrs, *node);
      erased.insert(q);
      replaceByNode(graph, {node, q}, "QConv", ir::kLeipDomain, node->name(), node->inputs(), std::move(attrs));
      ++stats.quantizedOutputs;
      continue;
    }
    // QConv -> MaxPool -> Q: quantizing is monotone, so it commutes with the max and the
    // pool can run on the QConv's quantized output.
    ir::Node *pool = detail::soleUser(graph, node->output(0));
    if (!isOnnxOp(pool, "MaxPool") || pool->numOutputs() != 1 || pool->input(0) != node->output(0)) continue;
    ir::Node *q = outputQuantizer(graph, pool->output(0), attrs);
    if (!q) continue;
    useDirectRequantization(attrs, *node);
    erased.insert(pool);
    erased.insert(q);
    std::string convName = node->name(), poolName = pool->name(), convOutput = node->output(0)->name();
    std::vector<ir::Value *> inputs = node->inputs();
    ir::AttributeMap poolAttrs = pool->attrs();
    Detached result = eraseChain(graph, {node, pool, q});
    ir::Node *qconv = addTypedNode(graph, "QConv", ir::kLeipDomain, convName, inputs, std::move(attrs),
                                   graph.uniqueName(convOutput + "_quantized"));
    ir::Node *intPool = addTypedNode(graph, "MaxPool", "", poolName, {qconv->output(0)}, std::move(poolAttrs),
                                     result.name, &result.type);
    detail::attachUses(graph, result.uses, intPool->output(0));
    ++stats.quantizedOutputs;
    ++stats.maxPoolsLowered;
  }
}

// ---- d. DQ -> MaxPool -> Q -> MaxPool on the integers ------------------------------

bool sameParams(const QuantOperands &a, const QuantOperands &b) {
  return usableScale(*a.scale) && usableScale(*b.scale) &&
         std::memcmp(a.scale->rawData(), b.scale->rawData(), sizeof(float)) == 0 &&
         (!a.zeroPoint || a.zeroPoint->numElements() == 1) && (!b.zeroPoint || b.zeroPoint->numElements() == 1) &&
         zeroPointOf(a) == zeroPointOf(b);
}

void lowerMaxPools(ir::Graph &graph, QdqLoweringStats &stats) {
  std::unordered_set<const ir::Node *> erased;
  for (ir::Node *pool : graph.topologicalOrder()) {
    if (erased.count(pool) || !isOnnxOp(pool, "MaxPool") || pool->numOutputs() != 1) continue;
    ir::Node *dq = dequantizeProducer(pool->input(0));
    ir::Node *q = detail::soleUser(graph, pool->output(0));
    if (!dq || !isOnnxOp(q, "QuantizeLinear") || q->input(0) != pool->output(0)) continue;
    ir::Value *source = dq->input(0);
    QuantOperands in, out;
    if (!constantOperands(*dq, "x", in).empty() || !constantOperands(*q, "y", out).empty()) continue;
    // max commutes with the increasing map q -> (q - zp) * scale, and Q undoes it exactly.
    if (!isQuantizedType(source->type().dtype) || q->output(0)->type().dtype != source->type().dtype ||
        !sameParams(in, out))
      continue;
    erased.insert(q);
    replaceByNode(graph, {pool, q}, "MaxPool", "", pool->name(), {source}, pool->attrs());
    ++stats.maxPoolsLowered;
  }
}

} // namespace

QdqLoweringStats lowerQdqToInteger(ir::Graph &graph) {
  QdqLoweringStats stats;
  lowerConvs(graph, stats);
  lowerGemms(graph, stats);
  foldResidualAdds(graph, stats);
  quantizeOutputs(graph, stats);
  lowerMaxPools(graph, stats);
  size_t dead = graph.removeDeadCode();
  spdlog::debug("lower QDQ: {} convs to QConv, {} residual adds folded, {} quantized outputs, {} max pools, {} "
                "convs left in float, {} dead nodes removed",
                stats.convsLowered, stats.residualAddsFolded, stats.quantizedOutputs, stats.maxPoolsLowered,
                stats.floatConvs.size(), dead);
  return stats;
}

} // namespace leip::passes
