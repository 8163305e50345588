// Bias and activation fusion into Conv, ConvTranspose and Gemm. See
// leip/passes/FuseActivations.h and leip/ir/FusedActivation.h.
#include "leip/passes/FuseActivations.h"

#include "GraphRewrite.h"

#include "leip/ir/FusedActivation.h"
#include "leip/ir/NNGeometry.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>
#include <optional>
#include <unordered_set>
#include <vector>

namespace leip::passes {

namespace {

using detail::f32Constant;
using ir::ActivationKind;
using ir::FusedActivation;

bool isFusionTarget(const ir::Node &node) {
  const std::string &op = node.opType();
  return node.domain().empty() && node.numOutputs() == 1 && (op == "Conv" || op == "ConvTranspose" || op == "Gemm") &&
         node.output(0)->type().dtype == ir::DType::F32;
}

/// `shape` right-aligned against rank `rank`, missing leading dims as 1.
ir::Shape alignRank(const ir::Shape &shape, size_t rank) {
  ir::Shape out(rank, 1);
  for (size_t i = 0; i < shape.size(); ++i) out[rank - shape.size() + i] = shape[i];
  return out;
}

/// Conv/ConvTranspose + Add(constant along channels): new bias = bias + constant.
bool fuseConvBias(ir::Graph &graph, ir::Node &conv, ir::Node &add, const ir::Tensor &d) {
  const ir::Shape &ys = conv.output(0)->type().shape;
  if (d.rank() > static_cast<int64_t>(ys.size())) return false;
  ir::Shape ds = alignRank(d.shape(), ys.size());
  int64_t channels = ys[1];
  for (size_t i = 0; i < ds.size(); ++i)
    if (ds[i] != 1 && !(i == 1 && ds[i] == channels)) return false;
  bool hasBias = conv.numInputs() > 2 && conv.input(2);
  const ir::Tensor *b = hasBias ? f32Constant(conv.input(2)) : nullptr;
  if (hasBias && !b) return false;
  std::vector<float> bias(static_cast<size_t>(channels));
  for (int64_t k = 0; k < channels; ++k)
    bias[k] = (b ? b->data<float>()[k] : 0.0f) + d.data<float>()[ds[1] == 1 ? 0 : k];
  ir::Value *bv = graph.addConstant(graph.uniqueName(conv.name() + "_bias_fused"),
                                    ir::Tensor::fromVector<float>(ir::DType::F32, {channels}, bias));
  detail::replaceChain(graph, {&conv, &add}, conv, {conv.input(0), conv.input(1), bv}, conv.attrs());
  return true;
}

/// Gemm + Add(constant broadcasting to [M, N]): C = beta * C + constant, beta = 1.
bool fuseGemmBias(ir::Graph &graph, ir::Node &gemm, ir::Node &add, const ir::Tensor &d) {
  const ir::Shape &ys = gemm.output(0)->type().shape;
  if (d.rank() > 2) return false;
  bool hasC = gemm.numInputs() > 2 && gemm.input(2);
  const ir::Tensor *c = hasC ? f32Constant(gemm.input(2)) : nullptr;
  if (hasC && (!c || c->rank() > 2)) return false;
  ir::Shape ds = alignRank(d.shape(), 2), cs = c ? alignRank(c->shape(), 2) : ir::Shape{1, 1};
  for (size_t i = 0; i < 2; ++i)
    if ((ds[i] != 1 && ds[i] != ys[i]) || (cs[i] != 1 && cs[i] != ys[i])) return false;
  int64_t rows = std::max(ds[0], cs[0]), cols = std::max(ds[1], cs[1]);
  float beta = gemm.attrs().getFloat("beta", 1.0f);
  std::vector<float> sum(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      float cv = c ? beta * c->data<float>()[(cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)] : 0.0f;
      sum[i * cols + j] = cv + d.data<float>()[(ds[0] == 1 ? 0 : i) * ds[1] + (ds[1] == 1 ? 0 : j)];
    }
  ir::Value *cv = graph.addConstant(graph.uniqueName(gemm.name() + "_c_fused"),
                                    ir::Tensor::fromVector<float>(ir::DType::F32, {rows, cols}, sum));
  ir::AttributeMap attrs = gemm.attrs();
  attrs.set("beta", 1.0f);
  detail::replaceChain(graph, {&gemm, &add}, gemm, {gemm.input(0), gemm.input(1), cv}, attrs);
  return true;
}

/// Scalar float constant of input i (absent -> fallback); nullopt when not a constant.
std::optional<float> scalarInput(const ir::Node &node, size_t i, float fallback) {
  if (i >= node.numInputs() || !node.input(i)) return fallback;
  const ir::Tensor *t = f32Constant(node.input(i));
  if (!t || t->numElements() != 1) return std::nullopt;
  return t->data<float>()[0];
}

} // namespace

std::optional<FusedActivation> activationOf(const ir::Node &node) {
  if (!node.domain().empty() || node.numOutputs() != 1) return std::nullopt;
  const std::string &op = node.opType();
  FusedActivation act;
  if (op == "Relu") act.kind = ActivationKind::Relu;
  else if (op == "Sigmoid") act.kind = ActivationKind::Sigmoid;
  else if (op == "HardSwish") act.kind = ActivationKind::HardSwish;
  else if (op == "Tanh") act.kind = ActivationKind::Tanh;
  else if (op == "LeakyRelu") {
    act.kind = ActivationKind::LeakyRelu;
    act.alpha = node.attrs().getFloat("alpha", 0.01f);
  } else if (op == "HardSigmoid") {
    act.kind = ActivationKind::HardSigmoid;
    act.alpha = node.attrs().getFloat("alpha", 0.2f);
    act.beta = node.attrs().getFloat("beta", 0.5f);
  } else if (op == "Clip") {
    auto lo = scalarInput(node, 1, -std::numeric_limits<float>::infinity());
    auto hi = scalarInput(node, 2, std::numeric_limits<float>::infinity());
    if (!lo || !hi) return std::nullopt;
    act.kind = ActivationKind::Clip;
    act.alpha = *lo;
    act.beta = *hi;
  } else {
    return std::nullopt;
  }
  return act;
}

namespace {

/// x * Sigmoid(x) or x * HardSigmoid(x) (alpha 1/6, beta 1/2) around the value `x`
/// produced by a fusion target: returns the Mul, the gate node and the activation.
struct GatedPattern {
  ir::Node *gate = nullptr;
  ir::Node *mul = nullptr;
  FusedActivation act;
};

std::optional<GatedPattern> gatedPattern(const ir::Graph &graph, const ir::Value *x) {
  if (x->users().size() != 2 || detail::isGraphOutput(graph, x)) return std::nullopt;
  for (int g = 0; g < 2; ++g) {
    ir::Node *gate = x->users()[g], *mul = x->users()[1 - g];
    if (gate == mul || mul->opType() != "Mul" || !mul->domain().empty() || mul->numInputs() != 2) continue;
    if (gate->numInputs() < 1 || gate->input(0) != x) continue;
    std::optional<FusedActivation> inner = activationOf(*gate);
    if (!inner || detail::soleUser(graph, gate->output(0)) != mul) continue;
    bool operands = (mul->input(0) == x && mul->input(1) == gate->output(0)) ||
                    (mul->input(1) == x && mul->input(0) == gate->output(0));
    if (!operands) continue;
    GatedPattern p{gate, mul, {}};
    if (inner->kind == ActivationKind::Sigmoid) {
      p.act.kind = ActivationKind::Silu;
    } else if (inner->kind == ActivationKind::HardSigmoid && std::fabs(inner->alpha - 1.0f / 6.0f) < 1e-6f &&
               inner->beta == 0.5f) {
      p.act.kind = ActivationKind::HardSwish;
    } else {
      continue;
    }
    return p;
  }
  return std::nullopt;
}

} // namespace

size_t fuseBiasAdds(ir::Graph &graph) {
  size_t fused = 0;
  for (ir::Node *node : graph.topologicalOrder()) {
    if (node->opType() != "Add" || !node->domain().empty() || node->numInputs() != 2) continue;
    for (size_t side = 0; side < 2; ++side) {
      ir::Node *producer = node->input(side) ? node->input(side)->producer() : nullptr;
      const ir::Tensor *d = f32Constant(node->input(1 - side));
      if (!producer || !d || !isFusionTarget(*producer) || detail::soleUser(graph, producer->output(0)) != node ||
          ir::fusedActivation(*producer).kind != ActivationKind::None ||
          node->output(0)->type().shape != producer->output(0)->type().shape)
        continue;
      bool done = producer->opType() == "Gemm" ? fuseGemmBias(graph, *producer, *node, *d)
                                               : fuseConvBias(graph, *producer, *node, *d);
      if (done) {
        ++fused;
        break;
      }
    }
  }
  spdlog::debug("fuse bias adds: {}", fused);
  return fused;
}

size_t fuseActivations(ir::Graph &graph) {
  size_t fused = 0;
  // The activation nodes come later in the order than their producers: remember what
  // was erased so that the walk skips it.
  std::unordered_set<const ir::Node *> erased;
  for (ir::Node *node : graph.topologicalOrder()) {
    if (erased.count(node)) continue;
    if (!isFusionTarget(*node) || ir::fusedActivation(*node).kind != ActivationKind::None) continue;
    ir::Value *y = node->output(0);
    ir::AttributeMap attrs = node->attrs();
    FusedActivation act;
    if (ir::Node *user = detail::fusableActivationAfter(graph, y, act)) {
      erased.insert(user);
      ir::Node *fusedNode = detail::replaceChain(graph, {node, user}, *node, node->inputs(), attrs);
      ir::setFusedActivation(*fusedNode, act);
      ++fused;
    } else if (detail::soleUser(graph, y)) {
      continue;
    } else if (std::optional<GatedPattern> p = gatedPattern(graph, y)) {
      erased.insert(p->gate);
      erased.insert(p->mul);
      ir::Node *fusedNode = detail::replaceChain(graph, {node, p->gate, p->mul}, *node, node->inputs(), attrs);
      ir::setFusedActivation(*fusedNode, p->act);
      ++fused;
    }
  }
  spdlog::debug("fuse activations: {}", fused);
  return fused;
}

size_t fuseResidualAdds(ir::Graph &graph, const std::function<bool(const ir::Node &)> &takesResidual) {
  size_t fused = 0;
  std::unordered_set<const ir::Node *> erased;
  for (ir::Node *conv : graph.topologicalOrder()) {
    if (erased.count(conv) || conv->opType() != "Conv" || !conv->domain().empty() || conv->numOutputs() != 1 ||
        conv->numInputs() > 3 || ir::fusedActivation(*conv).kind != ActivationKind::None || !takesResidual(*conv))
      continue;
    ir::Value *y = conv->output(0);
    ir::Node *add = detail::soleUser(graph, y);
    if (!add || add->opType() != "Add" || !add->domain().empty() || add->numInputs() != 2) continue;
    ir::Value *residual = add->input(0) == y ? add->input(1) : add->input(0);
    // r cannot depend on y (the Add is y's only reader), so the Conv may wait for it.
    if (!residual || residual == y || residual->type() != y->type() ||
        add->output(0)->type() != y->type())
      continue;
    std::vector<ir::Node *> chain{conv, add};
    FusedActivation act;
    if (ir::Node *user = detail::fusableActivationAfter(graph, add->output(0), act)) chain.push_back(user);
    std::vector<ir::Value *> inputs{conv->input(0), conv->input(1), conv->input(2), residual};
    ir::AttributeMap attrs = conv->attrs();
    for (ir::Node *node : chain) erased.insert(node);
    ir::Node *fusedNode = detail::replaceChain(graph, chain, *conv, inputs, attrs);
    ir::setFusedActivation(*fusedNode, act);
    ++fused;
  }
  spdlog::debug("fuse residual adds: {}", fused);
  return fused;
}

namespace {

/// Attribute of a Conv that fuseMaxPools folded a MaxPool into: kernel, strides, leading pads
/// and the Conv's own output size, each (height, width).
constexpr const char *kFusedMaxPoolAttr = "leip_max_pool";

} // namespace

size_t fuseMaxPools(ir::Graph &graph,
                    const std::function<bool(const ir::Node &conv, const ir::Node &pool)> &takesPool) {
  size_t fused = 0;
  // Only Conv nodes are visited and only MaxPools are erased, so the order stays valid.
  for (ir::Node *conv : graph.topologicalOrder()) {
    if (conv->opType() != "Conv" || !conv->domain().empty() || conv->numOutputs() != 1 ||
        conv->numInputs() > 3 || conv->attrs().has(kFusedMaxPoolAttr))
      continue;
    ir::Value *y = conv->output(0);
    ir::Node *pool = detail::soleUser(graph, y);
    const ir::Shape &ys = y->type().shape;
    if (!pool || pool->opType() != "MaxPool" || !pool->domain().empty() || pool->numOutputs() != 1 ||
        pool->input(0) != y || ys.size() != 4 || y->type().dtype != ir::DType::F32)
      continue;
    const ir::WindowGeometry g = ir::poolGeometry(*pool, ys);
    bool representable = g.rank() == 2;
    for (size_t d = 0; representable && d < 2; ++d)
      // The first and the last window overlap the Conv's output.
      representable = g.dilations[d] == 1 && g.padBegin[d] < g.kernel[d] &&
                      (g.output[d] - 1) * g.strides[d] - g.padBegin[d] < g.input[d];
    if (!representable || !takesPool(*conv, *pool)) continue;
    ir::AttributeMap attrs = conv->attrs();
    attrs.set(kFusedMaxPoolAttr, ir::Attribute(std::vector<int64_t>{g.kernel[0], g.kernel[1], g.strides[0],
                                                                    g.strides[1], g.padBegin[0], g.padBegin[1],
                                                                    ys[2], ys[3]}));
    detail::replaceChain(graph, {conv, pool}, *conv, conv->inputs(), attrs);
    ++fused;
  }
  spdlog::debug("fuse max pools: {}", fused);
  return fused;
}

std::optional<FusedMaxPool> fusedMaxPool(const ir::Node &conv) {
  if (conv.opType() != "Conv" || !conv.domain().empty() || !conv.attrs().has(kFusedMaxPoolAttr)) return std::nullopt;
  const std::vector<int64_t> v = conv.attrs().getInts(kFusedMaxPoolAttr);
  return FusedMaxPool{{v.at(0), v.at(1)}, {v.at(2), v.at(3)}, {v.at(4), v.at(5)}, {v.at(6), v.at(7)}};
}

} // namespace leip::passes
