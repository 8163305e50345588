// Cross-layer equalization and outlier channel splitting: float-preserving rewrites of the
// weights of Conv/Gemm pairs. See leip/quant/Equalize.h and docs/quantization.md ("Cross-layer
// equalization and tensor splitting").
#include "leip/quant/Equalize.h"

#include "../passes/GraphRewrite.h"

#include "leip/support/Error.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace leip::quant {

namespace {

using passes::detail::f32Constant;

// CLE: per-sweep scales are clamped to this range; sweeps stop when every scale of a sweep
// is within kConvergence of 1 (AIMET iterates the same way), or after kMaxSweeps.
constexpr double kMinScale = 1e-4, kMaxScale = 1e4;
constexpr double kConvergence = 1e-3;
constexpr int kMaxSweeps = 100;
// Splitting: a step must gain this many dB of weight SQNR per channel it adds, and splits at
// most this many channels at once (the ones whose range exceeds half the largest).
constexpr double kMinGainDbPerSplit = 0.1;
constexpr size_t kMaxSplitsPerStep = 16;
// Activation nodes between two layers: Relu -> Min (a rewritten ReLU6) -> MaxPool at most.
constexpr size_t kMaxActivations = 3;

/// A Conv or Gemm with constant f32 weights and which output and input channel each weight
/// element belongs to. Gemm only with transA = 0, so its input channels lie on axis 1 of A.
struct Dense {
  ir::Node *node = nullptr;
  const ir::Tensor *weights = nullptr;
  bool gemm = false, transB = false;
  int64_t group = 1, outChannels = 0, inChannels = 0;
  int64_t inPerGroup = 1, spatial = 1; // Conv [M, C/g, spatial...]

  /// (output channel, input channel) of weight element i.
  std::pair<int64_t, int64_t> channelsOf(int64_t i) const {
    if (gemm) return transB ? std::pair{i / inChannels, i % inChannels} : std::pair{i % outChannels, i / outChannels};
    int64_t o = i / (inPerGroup * spatial);
    return {o, (o / (outChannels / group)) * inPerGroup + (i / spatial) % inPerGroup};
  }
  /// The weight axes of the output and input channels (the input axis only means that for
  /// Gemm and group-1 Conv). The output axis is the per-channel quantization axis.
  int64_t outAxis() const { return gemm && !transB ? 1 : 0; }
  int64_t inAxis() const { return gemm ? (transB ? 1 : 0) : 1; }
};

std::optional<Dense> denseLayer(ir::Node *node) {
  if (!node->domain().empty() || node->numOutputs() != 1 || node->attrs().has("activation")) return std::nullopt;
  const ir::Tensor *w = f32Constant(node->input(1));
  const ir::Value *x = node->input(0), *y = node->output(0);
  if (!w || !x || x->isConstant() || x->type().dtype != ir::DType::F32 || x->type().rank() < 2 ||
      y->type().rank() < 2 || w->numElements() == 0)
    return std::nullopt;
  // Non-finite weights have no range to balance or quantize; such layers are left alone.
  auto values = w->values<float>();
  if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) return std::nullopt;
  const ir::Shape &ws = w->shape();
  Dense d;
  d.node = node;
  d.weights = w;
  if (node->opType() == "Conv") {
    d.group = node->attrs().getInt("group", 1);
    if (ws.size() < 3 || d.group < 1 || ws[0] % d.group != 0) return std::nullopt;
    d.outChannels = ws[0];
    d.inPerGroup = ws[1];
    d.inChannels = ws[1] * d.group;
    d.spatial = w->numElements() / (ws[0] * ws[1]);
  } else if (node->opType() == "Gemm") {
    if (ws.size() != 2 || node->attrs().getInt("transA", 0) != 0) return std::nullopt;
    d.gemm = true;
    d.transB = node->attrs().getInt("transB", 0) != 0;
    d.outChannels = d.transB ? ws[0] : ws[1];
    d.inChannels = d.transB ? ws[1] : ws[0];
  } else {
    return std::nullopt;
  }
  if (x->type().shape[1] != d.inChannels || y->type().shape[1] != d.outChannels) return std::nullopt;
  return d;
}

/// A layer's bias (Conv B, Gemm C) with one slice per output channel along `axis`; a
/// one-element Gemm C is expanded to [N]. No tensor when the layer has no bias.
struct ChannelBias {
  std::optional<ir::Tensor> values;
  int64_t axis = 0;
};

/// Null when the bias is not a constant of a supported shape.
std::optional<ChannelBias> channelBias(const Dense &d) {
  const ir::Value *b = d.node->input(2);
  if (!b) return ChannelBias{};
  const ir::Tensor *t = f32Constant(b);
  if (!t) return std::nullopt;
  const ir::Shape &s = t->shape();
  int64_t n = d.outChannels;
  if (s.size() == 1 && s[0] == n) return ChannelBias{*t, 0};
  if (!d.gemm) return std::nullopt;
  if (s.size() == 2 && s[1] == n) return ChannelBias{*t, 1};
  if (t->numElements() == 1 && s.size() <= 2) {
    std::vector<float> values(static_cast<size_t>(n), t->data<float>()[0]);
    return ChannelBias{ir::Tensor::fromVector<float>(ir::DType::F32, {n}, values), 0};
  }
  return std::nullopt;
}

/// Row-major [outer, dim, inner] view of a shape around `axis`.
struct AxisView {
  int64_t outer = 1, dim = 1, inner = 1;
  AxisView(const ir::Shape &shape, int64_t axis) {
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
      (d < axis ? outer : d == axis ? dim : inner) *= shape[d];
  }
};

/// Activations between two layers that are positively homogeneous, f(s x) = s f(x) for all
/// s > 0 (Relu, LeakyRelu, Clip with min 0, Min with a constant, MaxPool), so a positive scale of an
/// input channel passes through them; an upper bound (Clip's max, Min's constant) must be
/// scaled along, per channel.
struct Activation {
  std::vector<ir::Node *> nodes; // from the first layer's output to the second layer
  ir::Node *bounded = nullptr;   // the Clip(0, M) or Min(x, C) among them
  size_t boundSlot = 0;          // Min: the input holding C
  std::vector<double> bound;     // one upper bound per channel, when bounded
};

/// A constant Min(x, C) may bound channels (axis 1 of x) when C is one value or one per channel.
bool isChannelConstant(const ir::Shape &c, int64_t rank, int64_t channels) {
  int64_t n = ir::numElements(c);
  if (n == 1) return static_cast<int64_t>(c.size()) <= rank;
  size_t axis;
  if (static_cast<int64_t>(c.size()) == rank) axis = 1;
  else if (static_cast<int64_t>(c.size()) == rank - 1) axis = 0;
  else return false;
  return c[axis] == channels && n == channels;
}

/// Appends `node`, which reads `x`, to `act` when it is a positively homogeneous activation
/// (at most one of them bounded, at most kMaxActivations in all).
bool addActivation(ir::Node *node, const ir::Value *x, int64_t channels, Activation &act) {
  const std::string &op = node->opType();
  if (!node->domain().empty() || node->numOutputs() != 1) return false;
  const ir::TensorType &y = node->output(0)->type();
  // MaxPool works on each channel alone and commutes with positive scales as well.
  if (op == "MaxPool" && node->input(0) == x && y.dtype == x->type().dtype && y.rank() == x->type().rank() &&
      y.shape[1] == channels) {
    act.nodes.push_back(node);
    return true;
  }
  if (y != x->type()) return false;
  if ((op == "Relu" || op == "LeakyRelu") && node->input(0) == x) {
    act.nodes.push_back(node);
    return true;
  }
  if (act.bounded) return false;
  if (op == "Clip" && node->input(0) == x) {
    const ir::Tensor *lo = f32Constant(node->input(1)), *hi = f32Constant(node->input(2));
    if (!lo || lo->numElements() != 1 || lo->data<float>()[0] != 0.0f) return false;
    if (node->input(2) && (!hi || hi->numElements() != 1)) return false;
    act.nodes.push_back(node);
    if (hi) {
      act.bounded = node;
      act.bound.assign(static_cast<size_t>(channels), hi->data<float>()[0]);
    }
    return true;
  }
  if (op == "Min" && node->numInputs() == 2) {
    size_t slot = node->input(0) == x ? 1 : 0;
    const ir::Tensor *c = f32Constant(node->input(slot));
    if (node->input(1 - slot) != x || !c || !isChannelConstant(c->shape(), x->type().rank(), channels)) return false;
    act.nodes.push_back(node);
    act.bounded = node;
    act.boundSlot = slot;
    for (int64_t i = 0; i < channels; ++i) act.bound.push_back(c->data<float>()[c->numElements() == 1 ? 0 : i]);
    return true;
  }
  return false;
}

/// first -> [activations] -> second, where every value on the way is read only by the next
/// node (and is no graph output), and second reads it as its data input.
struct Link {
  Dense first, second;
  Activation act;
  int64_t channels = 0;
};

std::optional<Link> linkAfter(const ir::Graph &graph, const Dense &first) {
  ir::Value *v = first.node->output(0);
  if (v->type().dtype != ir::DType::F32) return std::nullopt;
  Link link;
  link.first = first;
  link.channels = first.outChannels;
  for (;;) {
    ir::Node *user = passes::detail::soleUser(graph, v);
    if (!user) return std::nullopt;
    if (user->input(0) == v)
      if (std::optional<Dense> second = denseLayer(user)) {
        link.second = *second;
        return link;
      }
    if (link.act.nodes.size() == kMaxActivations || !addActivation(user, v, link.channels, link.act))
      return std::nullopt;
    v = user->output(0);
  }
}

std::vector<Link> findLinks(const ir::Graph &graph) {
  std::vector<Link> links;
  for (ir::Node *node : graph.topologicalOrder())
    if (std::optional<Dense> first = denseLayer(node))
      if (std::optional<Link> link = linkAfter(graph, *first)) links.push_back(std::move(*link));
  return links;
}

ir::Value *addF32Constant(ir::Graph &graph, const std::string &base, const ir::Shape &shape,
                          const std::vector<float> &values) {
  return graph.addConstant(graph.uniqueName(base), ir::Tensor::fromVector<float>(ir::DType::F32, shape, values));
}

/// Gives the activation's bound one value per channel (a constant [1, C, 1, ...] of the
/// value's rank). A Clip(0, M) becomes Relu -> Min(x, bound), the Min taking over the Clip's
/// output value (name, readers, graph outputs): ONNX's Clip takes scalar bounds only. An
/// existing Min gets the new constant, so repeated rewrites never stack Mins.
void setBound(ir::Graph &graph, Activation &act, const std::vector<double> &bound) {
  ir::Node *node = act.bounded;
  ir::Value *y = node->output(0);
  ir::Shape shape(static_cast<size_t>(y->type().rank()), 1);
  shape[1] = static_cast<int64_t>(bound.size());
  std::vector<float> values(bound.begin(), bound.end());
  ir::Value *c = addF32Constant(graph, node->name() + "_max", shape, values);
  if (node->opType() == "Min") {
    node->setInput(act.boundSlot, c);
    return;
  }
  ir::Value *x = node->input(0);
  std::string name = node->name(), yName = y->name();
  ir::TensorType type = y->type();
  passes::detail::Uses uses = passes::detail::detachUses(graph, y);
  graph.eraseNode(node);
  ir::Node *relu = graph.addNode("Relu", name, {x}, {graph.uniqueName(yName + "_relu")});
  relu->output(0)->setType(type);
  ir::Node *min = graph.addNode("Min", graph.uniqueName(name + "_min"), {relu->output(0), c}, {yName});
  min->output(0)->setType(type);
  passes::detail::attachUses(graph, uses, min->output(0));
  auto it = std::find(act.nodes.begin(), act.nodes.end(), node);
  *it = min;
  act.nodes.insert(it, relu);
  act.bounded = min;
  act.boundSlot = 1;
}

std::vector<double> absMax(const std::vector<std::pair<float, float>> &ranges) {
  std::vector<double> r;
  for (const auto &[lo, hi] : ranges) r.push_back(std::max(-static_cast<double>(lo), static_cast<double>(hi)));
  return r;
}

/// Largest over smallest non-zero entry: how unequal the channel ranges are.
double spread(const std::vector<double> &ranges) {
  double lo = INFINITY, hi = 0;
  for (double r : ranges)
    if (r > 0) {
      lo = std::min(lo, r);
      hi = std::max(hi, r);
    }
  return hi > 0 ? hi / lo : 0;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

// ---------------------------------------------------------------------------------------
// Cross-layer equalization

/// A layer's weights as its original constant times cumulative per-channel factors, so the
/// final weights are rounded to float once, however many sweeps ran.
struct EqLayer {
  Dense dense;
  ChannelBias bias;
  std::vector<double> outScale, inScale;

  /// max |w| per output channel and per input channel.
  void ranges(std::vector<double> &out, std::vector<double> &in) const {
    out.assign(static_cast<size_t>(dense.outChannels), 0.0);
    in.assign(static_cast<size_t>(dense.inChannels), 0.0);
    const float *w = dense.weights->data<float>();
    for (int64_t i = 0; i < dense.weights->numElements(); ++i) {
      auto [o, c] = dense.channelsOf(i);
      double v = std::fabs(w[i] * outScale[o] * inScale[c]);
      out[o] = std::max(out[o], v);
      in[c] = std::max(in[c], v);
    }
  }
  std::vector<double> outRanges() const {
    std::vector<double> out, in;
    ranges(out, in);
    return out;
  }
  std::vector<double> inRanges() const {
    std::vector<double> out, in;
    ranges(out, in);
    return in;
  }
  bool changed() const {
    auto one = [](double s) { return s == 1.0; };
    return !std::all_of(outScale.begin(), outScale.end(), one) || !std::all_of(inScale.begin(), inScale.end(), one);
  }

  /// Points the node at new constants holding the scaled weights and bias.
  void write(ir::Graph &graph) const {
    const ir::Tensor &w = *dense.weights;
    std::vector<float> values(static_cast<size_t>(w.numElements()));
    for (int64_t i = 0; i < w.numElements(); ++i) {
      auto [o, c] = dense.channelsOf(i);
      values[i] = static_cast<float>(w.data<float>()[i] * outScale[o] * inScale[c]);
    }
    ir::Node *node = dense.node;
    node->setInput(1, addF32Constant(graph, node->input(1)->name() + "_cle", w.shape(), values));
    auto one = [](double s) { return s == 1.0; };
    if (!bias.values || std::all_of(outScale.begin(), outScale.end(), one)) return;
    const ir::Tensor &b = *bias.values;
    AxisView view(b.shape(), bias.axis);
    std::vector<float> scaled(static_cast<size_t>(b.numElements()));
    for (int64_t i = 0; i < b.numElements(); ++i)
      scaled[i] = static_cast<float>(b.data<float>()[i] * outScale[(i / view.inner) % view.dim]);
    node->setInput(2, addF32Constant(graph, node->name() + "_bias_cle", b.shape(), scaled));
  }
};

struct EqPair {
  size_t first, second;
  Activation act;
  std::vector<double> firstBefore, secondBefore; // channel ranges before equalization
  bool scaled = false;
};

} // namespace

std::vector<OptimizationRecord> equalizeCrossLayer(ir::Graph &graph) {
  std::vector<EqLayer> layers;
  std::unordered_map<const ir::Node *, size_t> layerIndex;
  auto layerOf = [&](const Dense &d) -> std::optional<size_t> {
    auto it = layerIndex.find(d.node);
    if (it != layerIndex.end()) return it->second;
    std::optional<ChannelBias> bias = channelBias(d);
    if (!bias) return std::nullopt;
    layers.push_back({d, *bias, std::vector<double>(static_cast<size_t>(d.outChannels), 1.0),
                      std::vector<double>(static_cast<size_t>(d.inChannels), 1.0)});
    layerIndex.emplace(d.node, layers.size() - 1);
    return layers.size() - 1;
  };
  std::vector<EqPair> pairs;
  for (Link &link : findLinks(graph)) {
    // The second layer's weights only scale per input channel (its bias stays), but it gets
    // an EqLayer entry too: it may be the first layer of the next pair.
    std::optional<size_t> first = layerOf(link.first), second = layerOf(link.second);
    if (!first || !second) continue;
    pairs.push_back({*first, *second, std::move(link.act), layers[*first].outRanges(), layers[*second].inRanges()});
  }
  if (pairs.empty()) return {};

  int sweeps = 0;
  for (double worst = INFINITY; worst >= kConvergence && sweeps < kMaxSweeps; ++sweeps) {
    worst = 0;
    for (EqPair &p : pairs) {
      EqLayer &a = layers[p.first], &b = layers[p.second];
      std::vector<double> r1 = a.outRanges(), r2 = b.inRanges();
      for (size_t i = 0; i < r1.size(); ++i) {
        if (r1[i] <= 0 || r2[i] <= 0) continue; // a dead channel: nothing to balance
        double s = std::clamp(std::sqrt(r1[i] / r2[i]), kMinScale, kMaxScale);
        a.outScale[i] /= s;
        b.inScale[i] *= s;
        p.scaled = p.scaled || s != 1.0;
        worst = std::max(worst, std::fabs(s - 1.0));
      }
    }
  }

  std::vector<OptimizationRecord> records;
  for (const EqLayer &l : layers)
    if (l.changed()) l.write(graph);
  for (EqPair &p : pairs) {
    const EqLayer &a = layers[p.first], &b = layers[p.second];
    if (!p.scaled) continue;
    if (p.act.bounded) {
      std::vector<double> bound = p.act.bound;
      for (size_t i = 0; i < bound.size(); ++i) bound[i] *= a.outScale[i];
      setBound(graph, p.act, bound);
    }
    std::vector<double> r1 = a.outRanges(), r2 = b.inRanges();
    std::ostringstream details;
    details << r1.size() << " channels, weight ranges max/min " << fixed(spread(p.firstBefore), 1) << " -> "
            << fixed(spread(r1), 1) << " (output channels of '" << a.dense.node->name() << "'), "
            << fixed(spread(p.secondBefore), 1) << " -> " << fixed(spread(r2), 1) << " (input channels of '"
            << b.dense.node->name() << "')";
    records.push_back({"cross_layer_equalization", a.dense.node->name() + " -> " + b.dense.node->name(),
                       details.str()});
  }
  if (!records.empty()) graph.removeDeadCode(); // the replaced weights
  spdlog::debug("cross-layer equalization: {} pairs, {} sweeps", records.size(), sweeps);
  return records;
}

// ---------------------------------------------------------------------------------------
// Outlier channel splitting

namespace {

/// `t` with each slice in `slices` (indices along `axis`) appended again at the end of that
/// axis, in order; with `halve`, the slice and its copy both hold half the values.
ir::Tensor splitAlong(const ir::Tensor &t, int64_t axis, const std::vector<int64_t> &slices, bool halve) {
  AxisView view(t.shape(), axis);
  ir::Shape shape = t.shape();
  shape[static_cast<size_t>(axis)] += static_cast<int64_t>(slices.size());
  std::vector<float> factor(static_cast<size_t>(view.dim), 1.0f);
  if (halve)
    for (int64_t s : slices) factor[static_cast<size_t>(s)] = 0.5f;
  ir::Tensor out(ir::DType::F32, shape);
  const float *src = t.data<float>();
  float *dst = out.data<float>();
  int64_t dims = shape[static_cast<size_t>(axis)];
  for (int64_t o = 0; o < view.outer; ++o)
    for (int64_t d = 0; d < dims; ++d) {
      int64_t from = d < view.dim ? d : slices[static_cast<size_t>(d - view.dim)];
      const float *p = src + (o * view.dim + from) * view.inner;
      float f = factor[static_cast<size_t>(from)];
      for (int64_t e = 0; e < view.inner; ++e) *dst++ = p[e] * f;
    }
  return out;
}

/// The SQNR of a layer's quantized weights for the function it computes: copies made by
/// splitting read the same input and feed the same weights of the next layer, so their
/// quantization errors add up. The copies of each original channel (origin[c]) are summed,
/// before and after fake quantization, and compared.
double functionalSqnr(const ir::Tensor &w, int64_t axis, const std::vector<int64_t> &origin, int64_t origins,
                      const QuantScheme &scheme) {
  ir::QuantParams params = weightParams(w.values<float>(), w.shape(), scheme, axis);
  std::vector<float> quantized(w.values<float>().begin(), w.values<float>().end());
  fakeQuantize(quantized, w.shape(), params, scheme.bits);
  AxisView view(w.shape(), axis);
  std::vector<float> reference(static_cast<size_t>(view.outer * origins * view.inner), 0.0f);
  std::vector<float> approximation(reference.size(), 0.0f);
  const float *src = w.data<float>();
  for (int64_t o = 0; o < view.outer; ++o)
    for (int64_t d = 0; d < view.dim; ++d)
      for (int64_t e = 0; e < view.inner; ++e) {
        int64_t from = (o * view.dim + d) * view.inner + e;
        int64_t to = (o * origins + origin[static_cast<size_t>(d)]) * view.inner + e;
        reference[to] += src[from];
        approximation[to] += quantized[from];
      }
  return sqnrDb(reference, approximation);
}

struct SplitStep {
  std::vector<int64_t> channels;
  double sqnr = 0;
  int64_t cost = 0;
};

/// A layer L whose output channels may be split, with the next layer N it feeds. The
/// current weights of both live in one map shared by all layers (N may be another L).
struct SplitLayer {
  Link link;
  ChannelBias bias;
  std::vector<int64_t> origin;
  int64_t originalChannels = 0;
  bool boundIsPerChannel = false;
  double initialSqnr = 0, sqnr = 0;
  std::optional<SplitStep> next; // the best step within budget, if any
};

} // namespace

std::vector<OptimizationRecord> splitOutlierChannels(ir::Graph &graph, const QuantScheme &weights, double budget) {
  weights.validate();
  if (!std::isfinite(budget) || budget < 0)
    throw BadInputError("tensor splitting budget must be a fraction >= 0 of the parameters, got " +
                        std::to_string(budget));
  auto budgetLeft = static_cast<int64_t>(std::floor(budget * static_cast<double>(graph.parameterCount())));

  std::unordered_map<const ir::Node *, ir::Tensor> current; // weights as split so far
  std::vector<SplitLayer> layers;
  for (Link &link : findLinks(graph)) {
    if ((!link.first.gemm && link.first.group != 1) || (!link.second.gemm && link.second.group != 1)) continue;
    std::optional<ChannelBias> bias = channelBias(link.first);
    if (!bias) continue;
    SplitLayer l;
    l.bias = std::move(*bias);
    l.originalChannels = link.channels;
    l.origin.resize(static_cast<size_t>(link.channels));
    std::iota(l.origin.begin(), l.origin.end(), 0);
    l.boundIsPerChannel = link.act.bounded && link.act.bounded->opType() == "Min" &&
                          link.act.bounded->input(link.act.boundSlot)->type().numElements() > 1;
    current.emplace(link.first.node, *link.first.weights);
    current.emplace(link.second.node, *link.second.weights);
    l.link = std::move(link);
    l.initialSqnr = l.sqnr = functionalSqnr(*l.link.first.weights, l.link.first.outAxis(), l.origin,
                                            l.originalChannels, weights);
    layers.push_back(std::move(l));
  }

  // The best step of a layer: split the j channels with the largest ranges, for the j (up to
  // those above half the largest range) with the best SQNR gain per added parameter.
  auto plan = [&](SplitLayer &l) {
    l.next.reset();
    const ir::Tensor &w = current.at(l.link.first.node);
    const ir::Tensor &n = current.at(l.link.second.node);
    int64_t axis = l.link.first.outAxis();
    auto channels = static_cast<int64_t>(l.origin.size());
    std::vector<double> ranges = absMax(channelRanges(w.values<float>(), w.shape(), axis));
    std::vector<int64_t> order(ranges.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ranges[a] > ranges[b]; });
    double largest = ranges[order[0]];
    int64_t perChannel = w.numElements() / channels + n.numElements() / channels +
                         (l.bias.values ? l.bias.values->numElements() / channels : 0) + (l.link.act.bounded ? 1 : 0);
    int64_t boundSetup = l.link.act.bounded && !l.boundIsPerChannel ? channels : 0;
    ir::QuantParams grid = weightParams(w.values<float>(), w.shape(), weights, axis);
    for (size_t j = 1; j <= std::min(order.size(), kMaxSplitsPerStep) && ranges[order[j - 1]] > largest / 2; ++j) {
      SplitStep step;
      step.channels.assign(order.begin(), order.begin() + static_cast<int64_t>(j));
      step.cost = static_cast<int64_t>(j) * perChannel + boundSetup;
      if (step.cost > budgetLeft) break;
      ir::Tensor split = splitAlong(w, axis, step.channels, true);
      // A split that leaves a per-tensor grid as it was only reshuffles rounding errors.
      if (!grid.perChannel() && weightParams(split.values<float>(), split.shape(), weights, axis) == grid) continue;
      std::vector<int64_t> origin = l.origin;
      for (int64_t c : step.channels) origin.push_back(l.origin[static_cast<size_t>(c)]);
      step.sqnr = functionalSqnr(split, axis, origin, l.originalChannels, weights);
      double gain = step.sqnr - l.sqnr;
      if (gain < kMinGainDbPerSplit * static_cast<double>(j)) continue;
      if (!l.next || gain / static_cast<double>(step.cost) >
                         (l.next->sqnr - l.sqnr) / static_cast<double>(l.next->cost))
        l.next = std::move(step);
    }
  };
  for (SplitLayer &l : layers) plan(l);

  // Greedy over all layers: the step with the best gain per parameter, until none fits.
  for (;;) {
    SplitLayer *best = nullptr;
    for (SplitLayer &l : layers) {
      if (l.next && l.next->cost > budgetLeft) plan(l);
      if (l.next && (!best || (l.next->sqnr - l.sqnr) / static_cast<double>(l.next->cost) >
                                  (best->next->sqnr - best->sqnr) / static_cast<double>(best->next->cost)))
        best = &l;
    }
    if (!best) break;
    SplitLayer &l = *best;
    SplitStep step = std::move(*l.next);
    ir::Tensor &w = current.at(l.link.first.node);
    ir::Tensor &n = current.at(l.link.second.node);
    w = splitAlong(w, l.link.first.outAxis(), step.channels, true);
    n = splitAlong(n, l.link.second.inAxis(), step.channels, false);
    if (l.bias.values) l.bias.values = splitAlong(*l.bias.values, l.bias.axis, step.channels, true);
    for (int64_t c : step.channels) {
      l.origin.push_back(l.origin[static_cast<size_t>(c)]);
      if (l.link.act.bounded) {
        l.link.act.bound[static_cast<size_t>(c)] /= 2;
        l.link.act.bound.push_back(l.link.act.bound[static_cast<size_t>(c)]);
      }
    }
    l.boundIsPerChannel = true;
    l.sqnr = step.sqnr;
    budgetLeft -= step.cost;
    plan(l);
    // N's weights changed: re-measure N where it is itself a layer to split.
    for (SplitLayer &m : layers)
      if (m.link.first.node == l.link.second.node) {
        m.sqnr = functionalSqnr(n, m.link.first.outAxis(), m.origin, m.originalChannels, weights);
        plan(m);
      }
  }

  std::vector<OptimizationRecord> records;
  std::unordered_map<const ir::Node *, bool> rewritten;
  for (SplitLayer &l : layers) {
    auto channels = static_cast<int64_t>(l.origin.size());
    if (channels == l.originalChannels) continue;
    for (ir::Node *node : {l.link.first.node, l.link.second.node})
      if (!rewritten[node]) {
        rewritten[node] = true;
        // Tensors made by splitAlong, owned by nothing else.
        node->setInput(1, graph.addConstant(graph.uniqueName(node->input(1)->name() + "_split"), current.at(node)));
      }
    ir::Node *node = l.link.first.node;
    if (l.bias.values)
      node->setInput(2, graph.addConstant(graph.uniqueName(node->name() + "_bias_split"), *l.bias.values));
    if (l.link.act.bounded) setBound(graph, l.link.act, l.link.act.bound);
    // The values between L and N now carry more channels.
    std::vector<ir::Value *> chain{node->output(0)};
    for (ir::Node *a : l.link.act.nodes) chain.push_back(a->output(0));
    for (ir::Value *v : chain) {
      ir::TensorType type = v->type();
      type.shape[1] = channels;
      v->setType(type);
    }
    std::ostringstream details;
    details << "split " << channels - l.originalChannels << " channels (" << l.originalChannels << " -> " << channels
            << "), weight SQNR " << fixed(l.initialSqnr, 1) << " -> " << fixed(l.sqnr, 1) << " dB";
    records.push_back({"tensor_splitting", node->name(), details.str()});
  }
  if (!records.empty()) graph.removeDeadCode(); // the replaced weights
  spdlog::debug("tensor splitting: {} layers split, {} of the parameter budget left", records.size(), budgetLeft);
  return records;
}

} // namespace leip::quant
