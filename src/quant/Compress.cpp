// Post-training quantization: placement, calibration, parameters, bias correction and the
// SQNR comparison. See leip/quant/Compress.h and docs/quantization.md.
#include "leip/quant/Compress.h"

#include "leip/ir/Statistics.h"

#include "leip/interp/Interpreter.h"
#include "leip/interp/Kernels.h"
#include "leip/passes/FoldBatchNorm.h"
#include "leip/passes/Pipeline.h"
#include "leip/quant/Equalize.h"
#include "leip/support/Error.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace leip::quant {

namespace {

bool isF32(const ir::Value *value) { return value && value->type().dtype == ir::DType::F32; }

bool isF32Constant(const ir::Value *value) { return isF32(value) && value->isConstant(); }

/// The per-channel mean of `data` along `axis` (channel c averages every element whose
/// index on `axis` is c), accumulated over samples in double.
class ChannelMeans {
public:
  void add(const ir::Tensor &t, int64_t axis) {
    const ir::Shape &shape = t.shape();
    int64_t channels = shape[static_cast<size_t>(axis)], inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    if (sums_.empty()) sums_.assign(static_cast<size_t>(channels), 0.0);
    const float *v = t.data<float>();
    int64_t outer = t.numElements() / (channels * inner);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < channels; ++c) {
        double s = 0;
        const float *p = v + (o * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i) s += p[i];
        sums_[static_cast<size_t>(c)] += s;
      }
    count_ += outer * inner;
  }
  double mean(int64_t c) const { return count_ ? sums_[static_cast<size_t>(c)] / static_cast<double>(count_) : 0.0; }
  bool empty() const { return count_ == 0; }

private:
  std::vector<double> sums_;
  int64_t count_ = 0;
};

/// A node whose inputs compress quantizes: Conv, ConvTranspose, Gemm, MatMul.
struct WeightedNode {
  ir::Node *node = nullptr;
  std::vector<ir::Value *> activations; // float inputs computed at run time
  ir::Value *weight = nullptr;          // constant weight, if any
  int64_t weightAxis = -1;              // its output-channel axis; -1: per-tensor only
  ir::Value *bias = nullptr;            // constant 1-D bias that can be int32, if any
  int64_t dataChannelAxis = -1;         // axis of activations[0] holding the input channels
};

/// What compress quantizes in `node`, or nothing for other ops and non-float nodes.
std::optional<WeightedNode> weightedNode(ir::Node *node) {
  const std::string &op = node->opType();
  if (!node->domain().empty()) return std::nullopt;
  WeightedNode w;
  w.node = node;
  if (op == "Conv" || op == "ConvTranspose") {
    if (!isF32(node->input(0)) || node->input(0)->isConstant() || !isF32Constant(node->input(1)))
      return std::nullopt;
    w.activations = {node->input(0)};
    w.weight = node->input(1);
    // Conv weights are [K, C/g, ...]; ConvTranspose weights [C, K/g, ...] have one output
    // channel per axis-1 slice only without groups.
    bool transposed = op == "ConvTranspose";
    int64_t group = node->attrs().getInt("group", 1);
    w.weightAxis = transposed ? (group == 1 ? 1 : -1) : 0;
    w.dataChannelAxis = 1;
    ir::Value *b = node->input(2);
    int64_t outChannels = node->output(0)->type().shape.size() > 1 ? node->output(0)->type().shape[1] : -1;
    if (isF32Constant(b) && b->type().rank() == 1 && b->type().shape[0] == outChannels) w.bias = b;
    return w;
  }
  if (op == "Gemm") {
    if (!isF32(node->input(0)) || node->input(0)->isConstant() || !isF32Constant(node->input(1)))
      return std::nullopt;
    w.activations = {node->input(0)};
    w.weight = node->input(1);
    w.weightAxis = node->attrs().getInt("transB", 0) ? 0 : 1;
    w.dataChannelAxis = node->attrs().getInt("transA", 0) ? 0 : 1;
    ir::Value *c = node->input(2);
    int64_t n = node->output(0)->type().shape[1];
    // An int32 bias needs y = A B + C exactly: alpha = beta = 1 and C a vector of N.
    if (isF32Constant(c) && c->type().rank() == 1 && c->type().shape[0] == n &&
        node->attrs().getFloat("alpha", 1.0f) == 1.0f && node->attrs().getFloat("beta", 1.0f) == 1.0f)
      w.bias = c;
    return w;
  }
  if (op == "MatMul") {
    for (size_t i = 0; i < 2; ++i) {
      ir::Value *in = node->input(i);
      if (!isF32(in)) return std::nullopt;
      if (!in->isConstant()) w.activations.push_back(in);
    }
    if (w.activations.empty()) return std::nullopt;
    if (node->input(1)->isConstant()) {
      w.weight = node->input(1);
      w.weightAxis = w.weight->type().rank() == 2 ? 1 : -1;
      w.dataChannelAxis = node->input(0)->type().rank() - 1;
    } else if (node->input(0)->isConstant()) {
      w.weight = node->input(0);
      w.weightAxis = -1;
    }
    return w;
  }
  return std::nullopt;
}

/// A fake-quantized copy of f32 `t` (QuantizeLinear -> DequantizeLinear with `params`,
/// saturating to `bits`).
ir::Tensor fakeQuantized(const ir::Tensor &t, const ir::QuantParams &params, int bits = 8) {
  ir::Tensor copy = t.clone();
  fakeQuantize(copy.values<float>(), copy.shape(), params, bits);
  return copy;
}

std::vector<WeightedNode> findWeightedNodes(const ir::Graph &graph) {
  std::vector<WeightedNode> found;
  for (ir::Node *node : graph.topologicalOrder())
    if (auto w = weightedNode(node)) found.push_back(*w);
  return found;
}

/// The weight scheme for one weight: per channel when the scheme and the op allow it.
QuantScheme schemeFor(const WeightedNode &w, const QuantScheme &scheme) {
  return scheme.perChannel() && w.weightAxis < 0 ? scheme.perTensor() : scheme;
}

std::string rangeText(float lo, float hi) {
  std::ostringstream s;
  s << "[" << lo << ", " << hi << "]";
  return s.str();
}

/// Empirical bias correction (Nagel et al., 2019, section 4.2): weight quantization shifts
/// the mean of output channel k by E[(W - Wq) x]_k; with the calibration data's per-channel
/// input means m, that is sum over input channels c of (sum of W - Wq over c's taps) * m_c
/// (spatial borders, where padding reads zeros, are neglected). Adding it to the bias
/// restores the float mean. Conv and Gemm only (the ops with a bias to absorb it).
std::optional<OptimizationRecord> correctBias(ir::Graph &graph, WeightedNode &w, const QuantScheme &scheme,
                                              const ChannelMeans &means) {
  const std::string &op = w.node->opType();
  if ((op != "Conv" && op != "Gemm") || means.empty()) return std::nullopt;
  const ir::Tensor &weight = *w.weight->constant();
  QuantScheme ws = schemeFor(w, scheme);
  ir::Tensor quantized = fakeQuantized(
      weight, weightParams(weight.values<float>(), weight.shape(), ws, std::max<int64_t>(w.weightAxis, 0)), ws.bits);
  const float *wf = weight.data<float>(), *wq = quantized.data<float>();
  const ir::Shape &s = weight.shape();
  std::vector<double> shift;
  if (op == "Conv") {
    int64_t k = s[0], cPerGroup = s[1], taps = weight.numElements() / (k * cPerGroup);
    int64_t group = w.node->attrs().getInt("group", 1), kPerGroup = k / group;
    shift.assign(static_cast<size_t>(k), 0.0);
    for (int64_t o = 0; o < k; ++o)
      for (int64_t c = 0; c < cPerGroup; ++c) {
        double err = 0;
        for (int64_t t = 0; t < taps; ++t) {
          int64_t i = (o * cPerGroup + c) * taps + t;
          err += static_cast<double>(wf[i]) - wq[i];
        }
        shift[static_cast<size_t>(o)] += err * means.mean((o / kPerGroup) * cPerGroup + c);
      }
  } else { // Gemm: B is [K, N], or [N, K] with transB
    bool transB = w.node->attrs().getInt("transB", 0) != 0;
    int64_t inner = transB ? s[1] : s[0], n = transB ? s[0] : s[1];
    double alpha = w.node->attrs().getFloat("alpha", 1.0f);
    shift.assign(static_cast<size_t>(n), 0.0);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t idx = transB ? j * inner + i : i * n + j;
        shift[static_cast<size_t>(j)] += alpha * (static_cast<double>(wf[idx]) - wq[idx]) * means.mean(i);
      }
  }
  // The corrected bias: a new constant (constants may be shared with other graphs).
  ir::Value *bias = w.node->input(2);
  int64_t channels = static_cast<int64_t>(shift.size());
  if (bias && !(isF32Constant(bias) && bias->type().numElements() == channels && bias->type().rank() == 1))
    return std::nullopt;
  if (op == "Gemm" && (w.node->attrs().getFloat("beta", 1.0f) != 1.0f && bias)) return std::nullopt;
  std::vector<float> values(static_cast<size_t>(channels), 0.0f);
  if (bias) values = bias->constant()->toFloatVector();
  double largest = 0;
  for (int64_t c = 0; c < channels; ++c) {
    values[static_cast<size_t>(c)] = static_cast<float>(values[static_cast<size_t>(c)] + shift[static_cast<size_t>(c)]);
    largest = std::max(largest, std::abs(shift[static_cast<size_t>(c)]));
  }
  ir::Value *corrected = graph.addConstant(graph.uniqueName(w.node->name() + "_bias_corrected"),
                                           ir::Tensor::fromVector<float>(ir::DType::F32, {channels}, values));
  if (bias)
    w.node->setInput(2, corrected);
  else
    w.node->addInput(corrected); // Conv [X, W] and Gemm [A, B] take the bias third
  w.bias = corrected;
  if (op == "Gemm" && w.node->attrs().getFloat("alpha", 1.0f) != 1.0f) w.bias = nullptr; // stays float
  std::ostringstream details;
  details << "added E[(W - Wq) x] to " << channels << " biases (largest shift " << largest << ")";
  return OptimizationRecord{"bias_correction", w.node->name(), details.str()};
}

} // namespace

std::vector<std::string> splitOptimizations(const std::string &list) {
  std::vector<std::string> names;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    if (item != "bias_correction" && item != "cross_layer_equalization" && item != "tensor_splitting")
      throw BadInputError("--optimization: unknown optimization '" + item +
                          "'; expected bias_correction, cross_layer_equalization or tensor_splitting");
    if (std::find(names.begin(), names.end(), item) == names.end()) names.push_back(item);
  }
  return names;
}

void parseOptimizations(const std::string &list, CompressOptions &options) {
  for (const std::string &name : splitOptimizations(list)) {
    options.biasCorrection |= name == "bias_correction";
    options.crossLayerEqualization |= name == "cross_layer_equalization";
    options.tensorSplitting |= name == "tensor_splitting";
  }
}

QuantScheme activationScheme(const QuantScheme &weights) {
  QuantScheme s = weights.perTensor();
  s.bits = 8;
  return s;
}

std::string_view roleName(TensorRole role) {
  switch (role) {
  case TensorRole::Activation: return "activation";
  case TensorRole::Weight: return "weight";
  case TensorRole::Bias: return "bias";
  }
  return "activation";
}

CompressResult compress(const ir::Graph &model, const data::Dataset &data, const CompressOptions &options,
                        const ProgressCallback &progress) {
  options.weights.validate();
  options.observer.validate();
  if (model.inputs().size() != 1)
    throw BadInputError("compress needs a model with one input; this one has " +
                        std::to_string(model.inputs().size()));
  CompressResult result;
  result.graph = passes::cloneGraph(model);
  ir::Graph &graph = *result.graph;
  passes::removeIdentities(graph);
  size_t folded = passes::foldBatchNorm(graph);
  graph.removeDeadCode();
  spdlog::debug("compress: {} batch norms folded", folded);

  if (options.crossLayerEqualization)
    for (OptimizationRecord &r : equalizeCrossLayer(graph)) result.optimizations.push_back(std::move(r));
  if (options.tensorSplitting)
    for (OptimizationRecord &r : splitOutlierChannels(graph, options.weights, options.splitBudget))
      result.optimizations.push_back(std::move(r));

  std::vector<WeightedNode> weighted = findWeightedNodes(graph);
  if (weighted.empty())
    throw BadInputError("the model has no Conv, ConvTranspose, Gemm or MatMul with float inputs to quantize");

  // Activations: every run-time float input of a weighted node, calibrated once each.
  const QuantScheme actScheme = activationScheme(options.weights);
  std::vector<ir::Value *> activations;
  std::unordered_map<const ir::Value *, size_t> activationIndex;
  std::unordered_map<const ir::Value *, std::string> firstConsumer;
  for (const WeightedNode &w : weighted)
    for (ir::Value *a : w.activations)
      if (activationIndex.emplace(a, activations.size()).second) {
        activations.push_back(a);
        firstConsumer[a] = w.node->name();
      }
  std::vector<std::unique_ptr<Observer>> observers;
  for (size_t i = 0; i < activations.size(); ++i)
    observers.push_back(makeObserver(options.calibration, options.observer));
  // Per-channel input means for bias correction, keyed by the activation they describe.
  std::unordered_map<const ir::Value *, std::pair<ChannelMeans, int64_t>> means;
  if (options.biasCorrection)
    for (const WeightedNode &w : weighted)
      if (w.weight && w.dataChannelAxis >= 0) means[w.activations[0]].second = w.dataChannelAxis;

  auto observe = [&](const ir::Value *value, const ir::Tensor &tensor, size_t sample) {
    auto it = activationIndex.find(value);
    if (it != activationIndex.end()) {
      try {
        observers[it->second]->observe(tensor.values<float>());
      } catch (const BadInputError &e) {
        throw BadInputError("calibration sample " + data.describe(sample) + ": tensor '" + value->name() +
                            "': " + e.what());
      }
    }
    auto m = means.find(value);
    if (m != means.end()) m->second.first.add(tensor, m->second.second);
  };

  interp::Interpreter interpreter(graph);
  const ir::Value *input = graph.inputs()[0];
  result.calibrationSamples = data.size();
  for (size_t i = 0; i < data.size(); ++i) {
    std::vector<ir::Tensor> inputs{data.sample(i)};
    observe(input, inputs[0], i);
    interpreter.run(inputs, [&](const ir::Node &node, const std::vector<ir::Tensor> &outputs) {
      for (size_t o = 0; o < outputs.size(); ++o) observe(node.output(o), outputs[o], i);
    });
    if (progress) progress(i + 1, data.size());
  }

  for (size_t i = 0; i < activations.size(); ++i) {
    ir::Value *a = activations[i];
    auto [lo, hi] = observers[i]->range(actScheme);
    ir::QuantParams params = paramsFromRange(lo, hi, actScheme);
    ir::TensorType type = a->type();
    type.quant = params;
    a->setType(type);
    result.tensors.push_back({a->name(), TensorRole::Activation, firstConsumer[a], params, 8, {lo, hi}});
    spdlog::debug("compress: activation '{}' range {} scale {}", a->name(), rangeText(lo, hi), params.scales[0]);
  }

  for (WeightedNode &w : weighted) {
    if (!w.weight) continue;
    if (options.biasCorrection && w.dataChannelAxis >= 0) {
      auto m = means.find(w.activations[0]);
      if (m != means.end())
        if (auto record = correctBias(graph, w, options.weights, m->second.first))
          result.optimizations.push_back(std::move(*record));
    }
    if (w.weight->type().quant) continue; // a weight shared by several nodes
    QuantScheme ws = schemeFor(w, options.weights);
    const ir::Tensor &wt = *w.weight->constant();
    ir::QuantParams params = weightParams(wt.values<float>(), wt.shape(), ws, std::max<int64_t>(w.weightAxis, 0));
    ir::TensorType type = w.weight->type();
    type.quant = params;
    w.weight->setType(type);
    auto values = wt.values<float>();
    auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    result.tensors.push_back({w.weight->name(), TensorRole::Weight, w.node->name(), params, ws.bits, {*mn, *mx}});
  }

  // Biases in int32 with scale = input scale x weight scale, once the weights and the
  // input's scale are known (a bias read by several nodes stays float).
  for (WeightedNode &w : weighted) {
    if (!w.bias || !w.weight || w.bias->users().size() != 1 || w.bias->type().quant) continue;
    const ir::Value *in = w.activations[0];
    if (!in->type().quant || !w.weight->type().quant) continue;
    ir::QuantParams params = biasParams(in->type().quant->scales[0], *w.weight->type().quant);
    ir::TensorType type = w.bias->type();
    type.quant = params;
    w.bias->setType(type);
    auto values = w.bias->constant()->values<float>();
    auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    result.tensors.push_back({w.bias->name(), TensorRole::Bias, w.node->name(), params, 32, {*mn, *mx}});
  }
  graph.removeDeadCode();
  return result;
}

SqnrReport measureSqnr(const ir::Graph &reference, const ir::Graph &quantized, const data::Dataset &data,
                       size_t maxSamples, const ProgressCallback &progress) {
  SqnrReport report;
  // Layers: the weighted nodes' float outputs present in both graphs, by name.
  std::unordered_map<std::string, size_t> layerIndex;
  for (ir::Node *node : reference.topologicalOrder()) {
    const ir::Value *out = node->output(0);
    if (weightedNode(node) && isF32(out) && quantized.findValue(out->name()) && !layerIndex.count(out->name())) {
      layerIndex[out->name()] = report.layers.size();
      report.layers.push_back({out->name(), node->name(), node->opType(), 0.0, 0.0, std::nullopt});
    }
  }
  // Outputs: matched by position (their names are kept by the export).
  size_t outputs = std::min(reference.outputs().size(), quantized.outputs().size());
  for (size_t o = 0; o < outputs; ++o) {
    const ir::Value *out = reference.outputs()[o];
    const ir::Node *producer = out->producer();
    report.outputs.push_back(
        {out->name(), producer ? producer->name() : "", producer ? producer->opType() : "", 0.0, 0.0, std::nullopt});
  }
  std::vector<SqnrAccumulator> layerSqnr(report.layers.size()), localSqnr(report.layers.size()), outputSqnr(outputs);

  // Local SQNR: each layer evaluated alone on the float inputs of the sample, with its
  // quantized tensors fake-quantized as the QDQ model does (constants once).
  std::vector<ir::Node *> layerNodes(report.layers.size());
  std::unordered_map<const ir::Value *, ir::Tensor> layerInputs; // float run-time inputs, per sample
  std::unordered_map<const ir::Value *, ir::Tensor> quantizedConstants;
  for (ir::Node *node : reference.topologicalOrder()) {
    auto it = layerIndex.find(node->output(0)->name());
    if (it == layerIndex.end() || layerNodes[it->second]) continue;
    layerNodes[it->second] = node;
    for (ir::Value *in : node->inputs()) {
      if (!in) continue;
      if (!in->isConstant())
        layerInputs[in];
      else if (in->type().quant && isF32(in) && !quantizedConstants.count(in))
        quantizedConstants[in] = fakeQuantized(*in->constant(), *in->type().quant);
    }
  }
  auto localOutput = [&](const ir::Node &node) {
    std::vector<ir::Tensor> owned; // fake-quantized activations, alive for the call
    owned.reserve(node.numInputs());
    std::vector<const ir::Tensor *> inputs;
    for (const ir::Value *in : node.inputs()) {
      if (!in) {
        inputs.push_back(nullptr);
      } else if (in->isConstant()) {
        auto q = quantizedConstants.find(in);
        inputs.push_back(q != quantizedConstants.end() ? &q->second : in->constant());
      } else {
        const ir::Tensor &value = layerInputs.at(in);
        owned.push_back(in->type().quant ? fakeQuantized(value, *in->type().quant) : value);
        inputs.push_back(&owned.back());
      }
    }
    return interp::evaluateNode(node, inputs)[0];
  };

  interp::Interpreter fp32(reference), simulated(quantized);
  size_t count = std::min(maxSamples, data.size());
  std::vector<ir::Tensor> expected(report.layers.size());
  auto comparable = [](const ir::Tensor &a, const ir::Tensor &b) {
    return a.dtype() == ir::DType::F32 && b.dtype() == ir::DType::F32 && a.numElements() == b.numElements();
  };
  for (size_t i = 0; i < count; ++i) {
    std::vector<ir::Tensor> inputs{data.sample(i)};
    auto keep = [&](const ir::Value *value, const ir::Tensor &tensor) {
      auto it = layerInputs.find(value);
      if (it != layerInputs.end()) it->second = tensor;
    };
    keep(reference.inputs()[0], inputs[0]);
    std::vector<ir::Tensor> refOutputs =
        fp32.run(inputs, [&](const ir::Node &node, const std::vector<ir::Tensor> &outs) {
          for (size_t o = 0; o < outs.size(); ++o) keep(node.output(o), outs[o]);
          auto it = layerIndex.find(node.output(0)->name());
          if (it == layerIndex.end()) return;
          expected[it->second] = outs[0];
          if (layerNodes[it->second] == &node) {
            ir::Tensor local = localOutput(node);
            if (comparable(outs[0], local)) localSqnr[it->second].add(outs[0].values<float>(), local.values<float>());
          }
        });
    std::vector<ir::Tensor> simOutputs =
        simulated.run(inputs, [&](const ir::Node &node, const std::vector<ir::Tensor> &outs) {
          for (size_t o = 0; o < outs.size(); ++o) {
            auto it = layerIndex.find(node.output(o)->name());
            if (it != layerIndex.end() && comparable(expected[it->second], outs[o]))
              layerSqnr[it->second].add(expected[it->second].values<float>(), outs[o].values<float>());
          }
        });
    for (size_t o = 0; o < outputs; ++o)
      if (comparable(refOutputs[o], simOutputs[o]))
        outputSqnr[o].add(refOutputs[o].values<float>(), simOutputs[o].values<float>());
    if (progress) progress(i + 1, count);
  }
  for (size_t l = 0; l < report.layers.size(); ++l) {
    report.layers[l].sqnrDb = layerSqnr[l].db();
    report.layers[l].localSqnrDb = localSqnr[l].db();
    if (auto w = weightedNode(layerNodes[l]); w && w->weight && w->weight->type().quant)
      report.layers[l].weightSqnrDb =
          sqnrDb(w->weight->constant()->values<float>(), quantizedConstants.at(w->weight).values<float>());
  }
  for (size_t o = 0; o < outputs; ++o) report.outputs[o].sqnrDb = outputSqnr[o].db();
  report.samples = count;
  return report;
}

std::vector<FloatLayer> chooseFloatLayers(const ir::Graph &graph, const SqnrReport &report, double budget) {
  std::unordered_map<std::string, const ir::Node *> byName;
  for (const ir::Node *node : graph.nodes()) byName[node->name()] = node;
  const double total = static_cast<double>(ir::graphFlops(graph));
  std::vector<const TensorSqnr *> layers;
  for (const TensorSqnr &layer : report.layers)
    if (byName.count(layer.node)) layers.push_back(&layer);
  std::stable_sort(layers.begin(), layers.end(),
                   [](const TensorSqnr *a, const TensorSqnr *b) { return a->localSqnrDb < b->localSqnrDb; });
  std::vector<FloatLayer> chosen;
  double used = 0;
  for (const TensorSqnr *layer : layers) {
    const double share = total > 0 ? static_cast<double>(ir::nodeFlops(*byName[layer->node])) / total : 0.0;
    if (used + share > budget + 1e-9) continue; // the tolerance: shares that add up to 1 exactly
    used += share;
    chosen.push_back({layer->node, layer->localSqnrDb, share});
  }
  return chosen;
}

void keepFloat(ir::Graph &graph, const std::vector<std::string> &nodes) {
  std::unordered_set<std::string> names(nodes.begin(), nodes.end());
  auto unquantize = [](ir::Value *value) {
    ir::TensorType type = value->type();
    type.quant.reset();
    value->setType(type);
  };
  std::unordered_set<std::string> found;
  for (ir::Node *node : graph.nodes()) {
    if (!names.count(node->name())) continue;
    found.insert(node->name());
    for (size_t i = 0; i < node->numInputs(); ++i) {
      ir::Value *in = node->input(i);
      if (!in || !in->type().quant) continue;
      if (in->isConstant()) {
        unquantize(in); // weights and bias: this layer's own
        continue;
      }
      bool onlyFloatReaders = true;
      for (const ir::Node *user : in->users()) onlyFloatReaders &= names.count(user->name()) > 0;
      if (onlyFloatReaders) unquantize(in);
    }
  }
  for (const std::string &name : nodes)
    if (!found.count(name)) throw InternalError("keepFloat: no node '" + name + "'");
}

} // namespace leip::quant
