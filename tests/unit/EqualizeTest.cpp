// Cross-layer equalization and outlier channel splitting (src/quant/Equalize.cpp). Every case
// runs the interpreter before and after on the same random inputs and requires the same
// function (max difference <= 1e-5 of the output's largest magnitude); the channel ranges,
// SQNRs and shapes the tests check are computed here from the graph's constants.
#include "leip/frontend/OnnxExporter.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/interp/Interpreter.h"
#include "leip/passes/FoldBatchNorm.h"
#include "leip/passes/Pipeline.h"
#include "leip/passes/ShapeInference.h"
#include "leip/quant/Equalize.h"
#include "leip/quant/Quantizer.h"
#include "leip/support/Error.h"

#include "TestGraphs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace leip;
using namespace leip::ir;
namespace fs = std::filesystem;

namespace {

using test::randomTensor;
using test::relativeError;


/// Runs both graphs on the same random inputs (uniform in [lo, hi]) and expects the same
/// outputs under the same names.
void expectSameFunction(const Graph &before, const Graph &after, float lo = -1.0f, float hi = 1.0f,
                        double tolerance = 1e-5) {
  std::mt19937 rng(11);
  std::vector<Tensor> inputs;
  for (const Value *in : before.inputs()) inputs.push_back(randomTensor(in->type().shape, rng, lo, hi));
  std::vector<Tensor> want = interp::Interpreter(before).run(inputs);
  std::vector<Tensor> got = interp::Interpreter(after).run(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(after.outputs()[i]->name(), before.outputs()[i]->name());
    EXPECT_LE(relativeError(got[i], want[i]), tolerance) << "output " << i;
  }
}

std::map<std::string, int> opCounts(const Graph &graph) {
  std::map<std::string, int> counts;
  for (const Node *node : graph.nodes()) ++counts[node->opType()];
  return counts;
}

const Tensor &weightsOf(const Graph &graph, const std::string &node) {
  const Node *n = graph.findNode(node);
  EXPECT_NE(n, nullptr) << node;
  return *n->input(1)->constant();
}

/// max |w| over the weights of output channel o (Conv axis 0; Gemm per transB).
std::vector<double> outputRanges(const Node &node) {
  const Tensor &w = *node.input(1)->constant();
  bool gemmColumns = node.opType() == "Gemm" && node.attrs().getInt("transB", 0) == 0;
  int64_t channels = gemmColumns ? w.shape()[1] : w.shape()[0];
  std::vector<double> r(static_cast<size_t>(channels), 0.0);
  int64_t per = w.numElements() / channels;
  for (int64_t i = 0; i < w.numElements(); ++i) {
    int64_t o = gemmColumns ? i % channels : i / per;
    r[o] = std::max(r[o], std::fabs(static_cast<double>(w.data<float>()[i])));
  }
  return r;
}

/// max |w| over the weights that read input channel c: W[:, c] for Conv with group 1,
/// W[c * m .. c * m + m - 1] for a depthwise Conv with multiplier m, the rows/columns of Gemm.
std::vector<double> inputRanges(const Node &node) {
  const Tensor &w = *node.input(1)->constant();
  const Shape &s = w.shape();
  std::vector<double> r;
  auto at = [&](int64_t i) { return std::fabs(static_cast<double>(w.data<float>()[i])); };
  if (node.opType() == "Gemm") {
    bool transB = node.attrs().getInt("transB", 0) != 0;
    int64_t k = transB ? s[1] : s[0], n = transB ? s[0] : s[1];
    r.assign(static_cast<size_t>(k), 0.0);
    for (int64_t c = 0; c < k; ++c)
      for (int64_t j = 0; j < n; ++j) r[c] = std::max(r[c], at(transB ? j * k + c : c * n + j));
    return r;
  }
  int64_t group = node.attrs().getInt("group", 1), taps = w.numElements() / (s[0] * s[1]);
  if (group == 1) {
    r.assign(static_cast<size_t>(s[1]), 0.0);
    for (int64_t o = 0; o < s[0]; ++o)
      for (int64_t c = 0; c < s[1]; ++c)
        for (int64_t t = 0; t < taps; ++t) r[c] = std::max(r[c], at((o * s[1] + c) * taps + t));
    return r;
  }
  EXPECT_EQ(s[1], 1) << "depthwise expected";
  int64_t multiplier = s[0] / group;
  r.assign(static_cast<size_t>(group), 0.0);
  for (int64_t o = 0; o < s[0]; ++o)
    for (int64_t t = 0; t < taps; ++t) r[o / multiplier] = std::max(r[o / multiplier], at(o * taps + t));
  return r;
}

/// The nodes of an equalized pair from a record's target "a -> b".
std::pair<const Node *, const Node *> pairOf(const Graph &graph, const quant::OptimizationRecord &record) {
  size_t arrow = record.target.find(" -> ");
  EXPECT_NE(arrow, std::string::npos) << record.target;
  return {graph.findNode(record.target.substr(0, arrow)), graph.findNode(record.target.substr(arrow + 4))};
}

/// After equalization the output channel ranges of the first layer equal the input channel
/// ranges of the second (up to the convergence of the sweeps).
void expectBalanced(const Graph &graph, const quant::OptimizationRecord &record, double tolerance) {
  auto [a, b] = pairOf(graph, record);
  ASSERT_TRUE(a && b) << record.target;
  std::vector<double> r1 = outputRanges(*a), r2 = inputRanges(*b);
  ASSERT_EQ(r1.size(), r2.size()) << record.target;
  for (size_t i = 0; i < r1.size(); ++i) {
    if (r1[i] == 0 || r2[i] == 0) continue;
    EXPECT_NEAR(r1[i] / r2[i], 1.0, tolerance) << record.target << " channel " << i;
  }
}

quant::QuantScheme scheme(quant::QuantizerKind kind) { return {kind, 8, DType::I8}; }

/// Weight SQNR of a tensor against its own fake quantization under `s` (axis 0, or `axis`).
double weightSqnr(const Tensor &w, const quant::QuantScheme &s, int64_t axis = 0) {
  std::vector<float> q(w.values<float>().begin(), w.values<float>().end());
  quant::fakeQuantize(q, w.shape(), quant::weightParams(w.values<float>(), w.shape(), s, axis), s.bits);
  return quant::sqnrDb(w.values<float>(), q);
}

void expectExports(const Graph &graph) {
  EXPECT_NO_THROW(frontend::exportOnnx(graph)) << "ONNX's checker rejects the rewritten graph";
}

/// GraphBuilder with the weights equalization should even out.
class Builder : public test::GraphBuilder {
public:
  using GraphBuilder::GraphBuilder;
  Value *input(const Shape &shape) { return GraphBuilder::input("x", shape); }
  /// Random weights whose output channel o (axis 0) is multiplied by 4^(o mod 5 - 2): ranges
  /// spread over a factor of 256, which equalization should even out.
  Value *unevenWeights(const Shape &shape) {
    Tensor t = test::randomTensor(shape, rng_);
    int64_t per = t.numElements() / shape[0];
    for (int64_t i = 0; i < t.numElements(); ++i)
      t.data<float>()[i] *= static_cast<float>(std::pow(4.0, static_cast<double>((i / per) % 5) - 2.0));
    return constant(t);
  }
};

const std::vector<std::pair<std::string, Attribute>> kPad1 = {{"pads", std::vector<int64_t>{1, 1, 1, 1}}};

fs::path sourceDir() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }
/// The build tree: this binary is <build>/tests/leip_unit_tests.
fs::path buildDir() { return fs::read_symlink("/proc/self/exe").parent_path().parent_path(); }

std::unique_ptr<Graph> loadFolded(const fs::path &path, const std::string &shapes) {
  frontend::ImportOptions options;
  if (!shapes.empty()) options.inputShapes = frontend::parseInputShapes(shapes);
  std::unique_ptr<Graph> graph = frontend::loadModel(path.string(), options);
  passes::foldBatchNorm(*graph);
  graph->removeDeadCode();
  return graph;
}

} // namespace

// ---------------------------------------------------------------------------------------
// Cross-layer equalization

TEST(CrossLayerEqualization, ConvReluConvBalancesRangesAndKeepsTheFunction) {
  for (bool maxPool : {false, true}) {
    Builder b;
    Node *c1 = b.node("Conv", {b.input({2, 3, 8, 8}), b.unevenWeights({8, 3, 3, 3}), b.random({8})}, kPad1);
    Node *act = b.node("Relu", {c1->output(0)});
    if (maxPool)
      act = b.node("MaxPool", {act->output(0)},
                   {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}}});
    Node *c2 = b.node("Conv", {act->output(0), b.random({5, 8, 3, 3}), b.random({5})});
    Graph &g = b.finish({c2->output(0)});
    auto original = passes::cloneGraph(g);
    const Value *oldWeights = c1->input(1);
    std::vector<double> before = outputRanges(*c1);

    auto records = quant::equalizeCrossLayer(g);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].name, "cross_layer_equalization");
    EXPECT_EQ(records[0].target, c1->name() + " -> " + c2->name());
    expectSameFunction(*original, g);
    expectBalanced(g, records[0], 1e-5);
    // A new constant; the original one (shared with the clone) is untouched.
    EXPECT_NE(c1->input(1), oldWeights);
    EXPECT_EQ(outputRanges(*original->findNode(c1->name())), before);
    EXPECT_EQ(g.numNodes(), maxPool ? 4u : 3u);
    std::vector<double> after = outputRanges(*c1);
    auto spread = [](const std::vector<double> &r) {
      return *std::max_element(r.begin(), r.end()) / *std::min_element(r.begin(), r.end());
    };
    EXPECT_GT(spread(before), 100.0);
    EXPECT_LT(spread(after), spread(before) / 4);
    expectExports(g);
  }
}

TEST(CrossLayerEqualization, Relu6DepthwiseChainBecomesReluMinAndConverges) {
  // MobileNetV2 block: 1x1 expand -> ReLU6 -> 3x3 depthwise -> ReLU6 -> 1x1 project.
  Builder b(5);
  Node *expand = b.node("Conv", {b.input({2, 4, 6, 6}), b.unevenWeights({12, 4, 1, 1}), b.random({12})});
  Node *clip1 = b.node("Clip", {expand->output(0), b.scalar(0.0f), b.scalar(6.0f)});
  Node *dw = b.node("Conv", {clip1->output(0), b.unevenWeights({12, 1, 3, 3}), b.random({12})},
                    {{"group", int64_t{12}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  Node *clip2 = b.node("Clip", {dw->output(0), b.scalar(0.0f), b.scalar(6.0f)});
  Node *project = b.node("Conv", {clip2->output(0), b.random({6, 12, 1, 1})});
  std::string clipOut1 = clip1->output(0)->name(), clipOut2 = clip2->output(0)->name();
  Graph &g = b.finish({project->output(0)});
  auto original = passes::cloneGraph(g);

  // The inputs must reach the bound, or a wrong bound would go unnoticed.
  std::mt19937 rng(11);
  std::vector<Tensor> inputs{randomTensor({2, 4, 6, 6}, rng, -4.0f, 4.0f)};
  size_t clipped = 0;
  interp::Interpreter(*original).run(inputs, [&](const Node &node, const std::vector<Tensor> &outs) {
    if (node.opType() == "Clip")
      for (float v : outs[0].values<float>()) clipped += v == 6.0f;
  });
  EXPECT_GT(clipped, 10u);

  auto records = quant::equalizeCrossLayer(g);
  ASSERT_EQ(records.size(), 2u);
  expectSameFunction(*original, g, -4.0f, 4.0f);
  for (const auto &r : records) expectBalanced(g, r, 1e-2);
  EXPECT_EQ(opCounts(g), (std::map<std::string, int>{{"Conv", 3}, {"Min", 2}, {"Relu", 2}}));
  // The Min takes over the Clip's output value; its bound is per channel.
  for (const std::string &name : {clipOut1, clipOut2}) {
    const Value *v = g.findValue(name);
    ASSERT_NE(v, nullptr);
    ASSERT_EQ(v->producer()->opType(), "Min");
    EXPECT_EQ(v->producer()->input(1)->type().shape, (Shape{1, 12, 1, 1}));
  }
  expectExports(g);

  // A second run updates the Min bounds instead of stacking more Mins.
  quant::equalizeCrossLayer(g);
  EXPECT_EQ(opCounts(g), (std::map<std::string, int>{{"Conv", 3}, {"Min", 2}, {"Relu", 2}}));
  expectSameFunction(*original, g, -4.0f, 4.0f);
}

TEST(CrossLayerEqualization, GemmReluGemm) {
  for (bool transB1 : {false, true}) {
    Builder b(7);
    // C of the first Gemm is one value (broadcast): equalization needs it per channel.
    Value *w1 = transB1 ? b.unevenWeights({10, 6}) : b.random({6, 10});
    Node *g1 = b.node("Gemm", {b.input({3, 6}), w1, b.random({1})},
                      {{"transB", int64_t{transB1}}, {"alpha", 0.5f}, {"beta", 2.0f}});
    Node *relu = b.node("LeakyRelu", {g1->output(0)}, {{"alpha", 0.1f}});
    Node *g2 = b.node("Gemm", {relu->output(0), b.unevenWeights({4, 10}), b.random({1, 4})}, {{"transB", int64_t{1}}});
    Graph &g = b.finish({g2->output(0)});
    auto original = passes::cloneGraph(g);
    auto records = quant::equalizeCrossLayer(g);
    ASSERT_EQ(records.size(), 1u) << transB1;
    expectSameFunction(*original, g);
    expectBalanced(g, records[0], 1e-5);
    expectExports(g);
  }
}

TEST(CrossLayerEqualization, ValueReadElsewhereIsNotEqualized) {
  for (bool asOutput : {false, true}) {
    Builder b;
    Node *c1 = b.node("Conv", {b.input({1, 3, 6, 6}), b.unevenWeights({4, 3, 3, 3})});
    Node *relu = b.node("Relu", {c1->output(0)});
    Node *c2 = b.node("Conv", {relu->output(0), b.random({2, 4, 1, 1})});
    std::vector<Value *> outputs{c2->output(0)};
    if (asOutput)
      outputs.push_back(relu->output(0));
    else
      outputs.push_back(b.node("Sigmoid", {relu->output(0)})->output(0));
    Graph &g = b.finish(outputs);
    const Value *w1 = c1->input(1), *w2 = c2->input(1);
    EXPECT_TRUE(quant::equalizeCrossLayer(g).empty());
    EXPECT_EQ(c1->input(1), w1);
    EXPECT_EQ(c2->input(1), w2);
  }
}

TEST(CrossLayerEqualization, ClipWithNegativeMinIsNotTouched) {
  Builder b;
  Node *c1 = b.node("Conv", {b.input({1, 3, 6, 6}), b.unevenWeights({4, 3, 3, 3})});
  Node *clip = b.node("Clip", {c1->output(0), b.scalar(-1.0f), b.scalar(6.0f)});
  Node *c2 = b.node("Conv", {clip->output(0), b.random({2, 4, 1, 1})});
  Graph &g = b.finish({c2->output(0)});
  const Value *w1 = c1->input(1);
  EXPECT_TRUE(quant::equalizeCrossLayer(g).empty());
  EXPECT_EQ(c1->input(1), w1);
  EXPECT_EQ(opCounts(g), (std::map<std::string, int>{{"Clip", 1}, {"Conv", 2}}));
}

TEST(CrossLayerEqualization, NonFiniteWeightsAreLeftAlone) {
  Builder b;
  std::mt19937 rng(1);
  Tensor w = randomTensor({4, 3, 3, 3}, rng);
  w.data<float>()[5] = NAN;
  Node *c1 = b.node("Conv", {b.input({1, 3, 6, 6}), b.constant(w)});
  Node *relu = b.node("Relu", {c1->output(0)});
  Node *c2 = b.node("Conv", {relu->output(0), b.random({2, 4, 1, 1})});
  Graph &g = b.finish({c2->output(0)});
  EXPECT_TRUE(quant::equalizeCrossLayer(g).empty());
  EXPECT_TRUE(quant::splitOutlierChannels(g, scheme(quant::QuantizerKind::Symmetric), 1.0).empty());
  EXPECT_EQ(c1->input(1)->constant()->shape()[0], 4);
}

/// Mean per-tensor symmetric int8 weight SQNR over the Conv and Gemm layers of `graph`.
double meanWeightSqnr(const Graph &graph) {
  double sum = 0;
  int layers = 0;
  for (const Node *node : graph.nodes())
    if ((node->opType() == "Conv" || node->opType() == "Gemm") && node->input(1)->isConstant()) {
      sum += weightSqnr(*node->input(1)->constant(), scheme(quant::QuantizerKind::Symmetric));
      ++layers;
    }
  return layers ? sum / layers : 0;
}

struct ExampleModel {
  std::string name;
  size_t pairs; // counted by hand from the architecture
};

void PrintTo(const ExampleModel &m, std::ostream *os) { *os << m.name; }

class EqualizeExampleModel : public ::testing::TestWithParam<ExampleModel> {};

TEST_P(EqualizeExampleModel, KeepsTheFunctionBalancesPairsAndExports) {
  fs::path path = sourceDir() / "models" / (GetParam().name + ".onnx");
  ASSERT_TRUE(fs::exists(path)) << path;
  auto g = loadFolded(path, "2,1,28,28");
  auto original = passes::cloneGraph(*g);
  auto records = quant::equalizeCrossLayer(*g);
  EXPECT_EQ(records.size(), GetParam().pairs);
  expectSameFunction(*original, *g);
  for (const auto &r : records) expectBalanced(*g, r, 1e-2);
  expectExports(*g);
  std::cout << GetParam().name << ": " << records.size() << " equalized pairs; mean per-tensor int8 weight SQNR "
            << meanWeightSqnr(*original) << " -> " << meanWeightSqnr(*g) << " dB\n";
  for (const auto &r : records) std::cout << "  " << r.target << ": " << r.details << "\n";
}

// fmnist_cnn: conv1 -> Relu -> MaxPool -> conv2, fc1 -> Relu -> fc2 (conv2 -> Flatten -> fc1
// is not a pair). fmnist_mobilenetv2: stem -> expand, 6 x (expand -> dw, dw -> project), the
// two projects read by nothing else -> next expand / last conv. fmnist_resnet: conv1 ->
// conv2 in each of 4 blocks (the other outputs feed residual Adds).
INSTANTIATE_TEST_SUITE_P(Models, EqualizeExampleModel,
                         ::testing::Values(ExampleModel{"fmnist_cnn", 2}, ExampleModel{"fmnist_mobilenetv2", 15},
                                           ExampleModel{"fmnist_resnet", 4}),
                         [](const auto &info) { return info.param.name; });

TEST(CrossLayerEqualization, RaisesDepthwiseWeightSqnrOfMobileNetV2) {
  auto g = loadFolded(sourceDir() / "models" / "fmnist_mobilenetv2.onnx", "1,1,28,28");
  auto original = passes::cloneGraph(*g);
  quant::equalizeCrossLayer(*g);
  quant::QuantScheme perTensor = scheme(quant::QuantizerKind::Symmetric);
  double sumBefore = 0, sumAfter = 0;
  int depthwise = 0;
  for (const Node *node : original->nodes()) {
    if (node->opType() != "Conv" || node->attrs().getInt("group", 1) == 1) continue;
    double before = weightSqnr(*node->input(1)->constant(), perTensor);
    double after = weightSqnr(weightsOf(*g, node->name()), perTensor);
    std::cout << node->name() << ": per-tensor int8 weight SQNR " << before << " -> " << after << " dB\n";
    EXPECT_GT(after, before + 1.0) << node->name();
    sumBefore += before;
    sumAfter += after;
    ++depthwise;
  }
  ASSERT_GT(depthwise, 0);
  std::cout << "mean over " << depthwise << " depthwise layers: " << sumBefore / depthwise << " -> "
            << sumAfter / depthwise << " dB\n";
}

// ---------------------------------------------------------------------------------------
// Outlier channel splitting

namespace {

/// Conv(8 <- 4, 3x3) with one planted outlier weight (|w| = 20 among weights in [-1, 1]) ->
/// activation -> Conv(6 <- 8, 1x1).
struct OutlierGraph {
  std::mt19937 rng{1};
  Builder b{9};
  Node *layer = nullptr, *next = nullptr;
  std::vector<Node *> activation;

  explicit OutlierGraph(const std::string &act = "Relu") {
    Tensor w = randomTensor({8, 4, 3, 3}, rng);
    w.data<float>()[3 * 36 + 5] = -20.0f;
    layer = b.node("Conv", {b.input({2, 4, 7, 7}), b.constant(w), b.random({8})}, kPad1);
    Value *v = layer->output(0);
    if (act == "Relu6") {
      activation.push_back(b.node("Clip", {v, b.scalar(0.0f), b.scalar(6.0f)}));
      v = activation.back()->output(0);
    } else if (!act.empty()) {
      activation.push_back(b.node(act, {v}));
      v = activation.back()->output(0);
    }
    next = b.node("Conv", {v, b.random({6, 8, 1, 1}), b.random({6})});
    b.finish({next->output(0)});
  }
};

/// SQNR of the graph's output when `layer`'s weights are fake-quantized (the rest stays
/// float): the effect of the layer's weight quantization on the function.
double outputSqnr(const Graph &graph, const std::string &layer, const quant::QuantScheme &s) {
  auto quantized = passes::cloneGraph(graph);
  Node *node = quantized->findNode(layer);
  Tensor w = node->input(1)->constant()->clone();
  quant::fakeQuantize(w.values<float>(), w.shape(), quant::weightParams(w.values<float>(), w.shape(), s, 0), s.bits);
  node->setInput(1, quantized->addConstant(quantized->uniqueName("wq"), w));
  std::mt19937 rng(5);
  std::vector<Tensor> inputs;
  for (const Value *in : graph.inputs()) inputs.push_back(randomTensor(in->type().shape, rng));
  Tensor want = interp::Interpreter(graph).run(inputs)[0];
  Tensor got = interp::Interpreter(*quantized).run(inputs)[0];
  return quant::sqnrDb(want.values<float>(), got.values<float>());
}

/// Shape inference from scratch on a clone gives the same types as the split graph holds.
void expectConsistentShapes(const Graph &graph) {
  auto copy = passes::cloneGraph(graph);
  for (Value *v : copy->values())
    if (v->producer()) v->setType(TensorType{v->type().dtype, Shape(v->type().shape.size(), kDynamicDim), {}});
  passes::inferShapes(*copy);
  for (const Value *v : graph.values())
    if (v->producer()) {
      EXPECT_EQ(copy->findValue(v->name())->type().shape, v->type().shape) << v->name();
    }
}

} // namespace

TEST(TensorSplitting, PlantedOutlierIsSplitAndRaisesSqnr) {
  for (const std::string act : {"Relu", "", "Relu6", "LeakyRelu"}) {
    OutlierGraph o(act);
    Graph &g = o.b.graph;
    auto original = passes::cloneGraph(g);
    quant::QuantScheme s = scheme(quant::QuantizerKind::Symmetric);
    int64_t params = g.parameterCount();
    auto records = quant::splitOutlierChannels(g, s, 0.5);
    ASSERT_EQ(records.size(), 1u) << act;
    EXPECT_EQ(records[0].name, "tensor_splitting");
    EXPECT_EQ(records[0].target, o.layer->name());
    std::cout << act << ": " << records[0].details << "\n";
    expectSameFunction(*original, g);
    EXPECT_LE(g.parameterCount() - params, params / 2) << act;

    const Tensor &w = *o.layer->input(1)->constant();
    int64_t channels = w.shape()[0];
    EXPECT_GT(channels, 8) << act;
    EXPECT_EQ(o.next->input(1)->constant()->shape()[1], channels);
    EXPECT_EQ(o.layer->output(0)->type().shape, (Shape{2, channels, 7, 7}));
    EXPECT_EQ(o.layer->input(2)->constant()->shape(), (Shape{channels}));
    expectConsistentShapes(g);
    // The outlier is at most half its size now; the weight and output SQNRs rise.
    double largest = 0;
    for (float v : w.values<float>()) largest = std::max(largest, std::fabs(static_cast<double>(v)));
    EXPECT_LE(largest, 10.0);
    double before = weightSqnr(*original->findNode(o.layer->name())->input(1)->constant(), s);
    double after = weightSqnr(w, s);
    std::cout << "  weight SQNR " << before << " -> " << after << " dB, output SQNR "
              << outputSqnr(*original, o.layer->name(), s) << " -> " << outputSqnr(g, o.layer->name(), s) << " dB\n";
    EXPECT_GT(after, before + 3.0) << act;
    EXPECT_GT(outputSqnr(g, o.layer->name(), s), outputSqnr(*original, o.layer->name(), s) + 3.0) << act;
    if (act == "Relu6") {
      EXPECT_EQ(opCounts(g), (std::map<std::string, int>{{"Conv", 2}, {"Min", 1}, {"Relu", 1}}));
      expectSameFunction(*original, g, -3.0f, 3.0f);
    }
    expectExports(g);
  }
}

TEST(TensorSplitting, PerChannelSchemesSplitNothing) {
  for (auto kind : {quant::QuantizerKind::SymmetricPerChannel, quant::QuantizerKind::AsymmetricPerChannel}) {
    OutlierGraph o;
    const Value *w = o.layer->input(1);
    EXPECT_TRUE(quant::splitOutlierChannels(o.b.graph, scheme(kind), 0.5).empty());
    EXPECT_EQ(o.layer->input(1), w);
  }
  // The per-tensor schemes do split it.
  for (auto kind : {quant::QuantizerKind::Asymmetric, quant::QuantizerKind::PowerOfTwo}) {
    OutlierGraph o;
    EXPECT_EQ(quant::splitOutlierChannels(o.b.graph, scheme(kind), 0.5).size(), 1u);
  }
}

TEST(TensorSplitting, BudgetIsRespected) {
  // One split channel adds 4*3*3 weights + 1 bias + 6 weights of the next layer = 43
  // parameters. The first step splits the outlier's channel (43); the second must split both
  // halves (86) to lower the largest |w| again.
  struct Case {
    int64_t allowed, added;
  };
  for (Case c : {Case{0, 0}, Case{42, 0}, Case{43, 43}, Case{128, 43}, Case{129, 129}, Case{1000, -1}}) {
    OutlierGraph o;
    Graph &g = o.b.graph;
    auto original = passes::cloneGraph(g);
    int64_t params = g.parameterCount();
    double budget = static_cast<double>(c.allowed) / static_cast<double>(params);
    auto records = quant::splitOutlierChannels(g, scheme(quant::QuantizerKind::Symmetric), budget);
    int64_t added = g.parameterCount() - params;
    EXPECT_LE(added, c.allowed);
    if (c.added >= 0) {
      EXPECT_EQ(added, c.added) << "budget " << c.allowed;
    } else {
      EXPECT_GT(added, 129);
    }
    EXPECT_EQ(added % 43, 0);
    EXPECT_EQ(o.layer->input(1)->constant()->shape()[0], 8 + added / 43);
    EXPECT_EQ(records.size(), added > 0 ? 1u : 0u);
    expectSameFunction(*original, g);
  }
  OutlierGraph o;
  EXPECT_THROW(quant::splitOutlierChannels(o.b.graph, scheme(quant::QuantizerKind::Symmetric), -0.1), BadInputError);
  EXPECT_THROW(quant::splitOutlierChannels(o.b.graph, scheme(quant::QuantizerKind::Symmetric), NAN), BadInputError);
}

TEST(TensorSplitting, GemmLayers) {
  for (bool transB : {false, true}) {
    Builder b(4);
    std::mt19937 rng(2);
    Tensor w = randomTensor(transB ? Shape{12, 16} : Shape{16, 12}, rng);
    w.data<float>()[7] = 15.0f;
    Node *g1 = b.node("Gemm", {b.input({3, 16}), b.constant(w), b.random({1, 12})}, {{"transB", int64_t{transB}}});
    Node *relu = b.node("Relu", {g1->output(0)});
    Node *g2 = b.node("Gemm", {relu->output(0), b.random(transB ? Shape{5, 12} : Shape{12, 5})},
                      {{"transB", int64_t{transB}}});
    Graph &g = b.finish({g2->output(0)});
    auto original = passes::cloneGraph(g);
    auto records = quant::splitOutlierChannels(g, scheme(quant::QuantizerKind::Symmetric), 0.5);
    ASSERT_EQ(records.size(), 1u) << transB;
    expectSameFunction(*original, g);
    int64_t n = g1->output(0)->type().shape[1];
    EXPECT_GT(n, 12);
    EXPECT_EQ(relu->output(0)->type().shape, (Shape{3, n}));
    expectConsistentShapes(g);
    expectExports(g);
  }
}

class SplitExampleModel : public ::testing::TestWithParam<std::string> {};

TEST_P(SplitExampleModel, KeepsTheFunctionWithinBudgetAndExports) {
  auto g = loadFolded(sourceDir() / "models" / (GetParam() + ".onnx"), "2,1,28,28");
  auto original = passes::cloneGraph(*g);
  int64_t params = g->parameterCount();
  auto records = quant::splitOutlierChannels(*g, scheme(quant::QuantizerKind::Symmetric), 0.05);
  expectSameFunction(*original, *g);
  EXPECT_LE(g->parameterCount() - params, params / 20);
  expectConsistentShapes(*g);
  expectExports(*g);
  std::cout << GetParam() << ": " << records.size() << " layers split\n";
  for (const auto &r : records) std::cout << "  " << r.target << ": " << r.details << "\n";
}

INSTANTIATE_TEST_SUITE_P(Models, SplitExampleModel,
                         ::testing::Values("fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet"));

// ---------------------------------------------------------------------------------------
// Both

class TorchvisionModel : public ::testing::TestWithParam<std::string> {};

// Both optimizations in the order compress runs them, on torchvision's random-weight exports.
TEST_P(TorchvisionModel, EqualizeThenSplitKeepTheFunction) {
  fs::path path = buildDir() / "models" / (GetParam() + ".onnx");
  if (!fs::exists(path))
    GTEST_SKIP() << "no " << path
                 << " (the ctest fixture e2e_export_torchvision writes it: tools/export_torchvision.py)";
  auto g = loadFolded(path, "");
  auto original = passes::cloneGraph(*g);
  auto records = quant::equalizeCrossLayer(*g);
  for (const auto &r : records) expectBalanced(*g, r, 1e-2);
  std::cout << GetParam() << ": " << records.size() << " equalized pairs; mean per-tensor int8 weight SQNR "
            << meanWeightSqnr(*original) << " -> " << meanWeightSqnr(*g) << " dB\n";
  int64_t params = g->parameterCount();
  auto splits = quant::splitOutlierChannels(*g, scheme(quant::QuantizerKind::Symmetric), 0.05);
  EXPECT_LE(g->parameterCount() - params, params / 20);
  std::cout << "  then " << splits.size() << " layers split\n";
  for (const auto &r : splits) std::cout << "  " << r.target << ": " << r.details << "\n";
  expectSameFunction(*original, *g);
  expectConsistentShapes(*g);
  expectExports(*g);
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionModel, ::testing::Values("mobilenet_v2"));
