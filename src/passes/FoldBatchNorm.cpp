// BatchNormalization folding: into the preceding Conv/ConvTranspose/Gemm's weights and
// bias, or into a standalone Mul + Add. See leip/passes/FoldBatchNorm.h.
#include "leip/passes/FoldBatchNorm.h"

#include "GraphRewrite.h"

#include "leip/ir/FusedActivation.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <vector>

namespace leip::passes {

namespace {

using detail::f32Constant;

/// y = x * scale[c] + shift[c] per channel c.
struct ChannelAffine {
  std::vector<double> scale, shift;
};

/// The BN's affine form, or nothing when it cannot be folded (non-constant parameters,
/// training mode, used extra outputs, channel count mismatch).
std::optional<ChannelAffine> affineOf(const ir::Graph &graph, const ir::Node &bn) {
  if (bn.numInputs() != 5 || bn.attrs().getInt("training_mode", 0) != 0) return std::nullopt;
  for (size_t i = 1; i < bn.numOutputs(); ++i)
    if (bn.output(i) && (!bn.output(i)->users().empty() || detail::isGraphOutput(graph, bn.output(i))))
      return std::nullopt;
  const ir::Value *x = bn.input(0);
  if (!x || x->type().dtype != ir::DType::F32 || x->type().rank() < 2) return std::nullopt;
  int64_t channels = x->type().shape[1];
  const ir::Tensor *params[4];
  for (size_t i = 0; i < 4; ++i) {
    params[i] = f32Constant(bn.input(i + 1));
    if (!params[i] || params[i]->numElements() != channels) return std::nullopt;
  }
  double eps = bn.attrs().getFloat("epsilon", 1e-5f);
  ChannelAffine affine;
  for (int64_t c = 0; c < channels; ++c) {
    double s = params[0]->data<float>()[c] / std::sqrt(static_cast<double>(params[3]->data<float>()[c]) + eps);
    affine.scale.push_back(s);
    affine.shift.push_back(params[1]->data<float>()[c] - params[2]->data<float>()[c] * s);
  }
  return affine;
}

ir::Value *newConstant(ir::Graph &graph, const std::string &base, const ir::Shape &shape,
                       const std::vector<float> &values) {
  return graph.addConstant(graph.uniqueName(base), ir::Tensor::fromVector<float>(ir::DType::F32, shape, values));
}

/// Conv / ConvTranspose: scales the weights of output channel k by s[k] and sets
/// bias[k] = bias[k] * s[k] + t[k].
bool foldIntoConv(ir::Graph &graph, ir::Node &conv, ir::Node &bn, const ChannelAffine &a) {
  const ir::Tensor *w = f32Constant(conv.input(1));
  const ir::Tensor *b = conv.numInputs() > 2 && conv.input(2) ? f32Constant(conv.input(2)) : nullptr;
  if (!w || w->rank() < 3 || (conv.numInputs() > 2 && conv.input(2) && !b)) return false;
  if (ir::fusedActivation(conv).kind != ir::ActivationKind::None) return false;
  auto outC = static_cast<int64_t>(a.scale.size());
  bool transposed = conv.opType() == "ConvTranspose";
  int64_t group = conv.attrs().getInt("group", 1);
  const ir::Shape &ws = w->shape();
  int64_t spatial = 1;
  for (size_t d = 2; d < ws.size(); ++d) spatial *= ws[d];
  // Output channel of weight slice (i, j): Conv weights are [K, C/g, ...]; ConvTranspose
  // weights are [C, K/g, ...] with output channel (i / (C/g)) * (K/g) + j.
  if (group < 1 || (!transposed && ws[0] != outC) || (transposed && (ws[0] % group != 0 || ws[1] * group != outC)))
    return false;
  std::vector<float> weights(w->values<float>().begin(), w->values<float>().end());
  for (int64_t i = 0; i < ws[0]; ++i)
    for (int64_t j = 0; j < ws[1]; ++j) {
      int64_t k = transposed ? (i / (ws[0] / group)) * ws[1] + j : i;
      float *p = weights.data() + (i * ws[1] + j) * spatial;
      for (int64_t e = 0; e < spatial; ++e) p[e] = static_cast<float>(p[e] * a.scale[static_cast<size_t>(k)]);
    }
  std::vector<float> bias(static_cast<size_t>(outC));
  for (int64_t k = 0; k < outC; ++k)
    bias[k] = static_cast<float>((b ? b->data<float>()[k] : 0.0) * a.scale[k] + a.shift[k]);
  std::vector<ir::Value *> inputs{conv.input(0), newConstant(graph, conv.input(1)->name() + "_bnfold", ws, weights),
                                  newConstant(graph, conv.name() + "_bias_bnfold", {outC}, bias)};
  detail::replaceChain(graph, {&conv, &bn}, conv, inputs, conv.attrs());
  return true;
}

/// Gemm: Y = alpha * A op(B) + beta * C; column n of op(B) is scaled by s[n] and C becomes
/// (beta * C) * s + t (beta 1).
bool foldIntoGemm(ir::Graph &graph, ir::Node &gemm, ir::Node &bn, const ChannelAffine &a) {
  const ir::Tensor *bt = f32Constant(gemm.input(1));
  bool hasC = gemm.numInputs() > 2 && gemm.input(2);
  const ir::Tensor *ct = hasC ? f32Constant(gemm.input(2)) : nullptr;
  if (!bt || bt->rank() != 2 || (hasC && !ct) || ir::fusedActivation(gemm).kind != ir::ActivationKind::None)
    return false;
  const ir::Shape &ys = gemm.output(0)->type().shape;
  int64_t M = ys[0], N = ys[1];
  if (static_cast<int64_t>(a.scale.size()) != N) return false;
  bool transB = gemm.attrs().getInt("transB", 0) != 0;
  std::vector<float> b(bt->values<float>().begin(), bt->values<float>().end());
  for (int64_t r = 0; r < bt->shape()[0]; ++r)
    for (int64_t c = 0; c < bt->shape()[1]; ++c) {
      int64_t n = transB ? r : c;
      b[r * bt->shape()[1] + c] = static_cast<float>(b[r * bt->shape()[1] + c] * a.scale[n]);
    }
  // C broadcasts to [M, N] (rank <= 2, right-aligned); keep its row count (1 or M).
  float beta = gemm.attrs().getFloat("beta", 1.0f);
  int64_t cm = 1, cn = 1;
  if (ct) {
    const ir::Shape &cs = ct->shape();
    if (cs.size() > 2) return false;
    cm = cs.size() == 2 ? cs[0] : 1;
    cn = cs.empty() ? 1 : cs.back();
  }
  std::vector<float> c(static_cast<size_t>(cm * N));
  for (int64_t i = 0; i < cm; ++i)
    for (int64_t n = 0; n < N; ++n) {
      double v = ct ? static_cast<double>(beta) * ct->data<float>()[i * cn + (cn == 1 ? 0 : n)] : 0.0;
      c[i * N + n] = static_cast<float>(v * a.scale[n] + a.shift[n]);
    }
  (void)M;
  ir::AttributeMap attrs = gemm.attrs();
  attrs.set("beta", 1.0f);
  std::vector<ir::Value *> inputs{gemm.input(0), newConstant(graph, gemm.input(1)->name() + "_bnfold", bt->shape(), b),
                                  newConstant(graph, gemm.name() + "_c_bnfold", {cm, N}, c)};
  detail::replaceChain(graph, {&gemm, &bn}, gemm, inputs, attrs);
  return true;
}

/// y = x * s + t as Mul and Add with constants of shape [C, 1, ...] (broadcasting over
/// the batch and spatial dims).
void lowerToMulAdd(ir::Graph &graph, ir::Node &bn, const ChannelAffine &a) {
  ir::Value *x = bn.input(0);
  ir::Shape shape(static_cast<size_t>(x->type().rank() - 1), 1);
  shape[0] = static_cast<int64_t>(a.scale.size());
  std::vector<float> s(a.scale.begin(), a.scale.end()), t(a.shift.begin(), a.shift.end());
  ir::Value *sv = newConstant(graph, bn.name() + "_scale", shape, s);
  ir::Value *tv = newConstant(graph, bn.name() + "_shift", shape, t);
  std::string name = bn.name();
  ir::Value *result = bn.output(0);
  std::string resultName = result->name();
  ir::TensorType type = result->type();
  detail::Uses uses = detail::detachUses(graph, result);
  graph.eraseNode(&bn);
  ir::Node *mul = graph.addNode("Mul", graph.uniqueName(name + "_mul"), {x, sv}, {graph.uniqueName(name + "_scaled")});
  mul->output(0)->setType(type);
  ir::Node *add = graph.addNode("Add", graph.uniqueName(name), {mul->output(0), tv}, {resultName});
  add->output(0)->setType(type);
  detail::attachUses(graph, uses, add->output(0));
}

} // namespace

size_t foldBatchNorm(ir::Graph &graph) {
  size_t intoNode = 0, standalone = 0;
  for (ir::Node *bn : graph.topologicalOrder()) {
    if (bn->opType() != "BatchNormalization" || !bn->domain().empty()) continue;
    std::optional<ChannelAffine> affine = affineOf(graph, *bn);
    if (!affine) continue;
    ir::Node *producer = bn->input(0)->producer();
    if (producer && producer->domain().empty() && detail::soleUser(graph, producer->output(0)) == bn &&
        producer->numOutputs() == 1) {
      const std::string &op = producer->opType();
      bool done = false;
      if (op == "Conv" || op == "ConvTranspose") done = foldIntoConv(graph, *producer, *bn, *affine);
      else if (op == "Gemm") done = foldIntoGemm(graph, *producer, *bn, *affine);
      if (done) {
        ++intoNode;
        continue;
      }
    }
    lowerToMulAdd(graph, *bn, *affine);
    ++standalone;
  }
  spdlog::debug("fold batch norm: {} into Conv/Gemm, {} into Mul+Add", intoNode, standalone);
  return intoNode + standalone;
}

} // namespace leip::passes
