// The integer lowering of QDQ convolutions (passes::lowerQdqToInteger) and the op it
// produces, leip.QConv. Pattern cases build small QDQ graphs with random int8 weights, run
// the interpreter on the float QDQ simulation and on the lowered graph (after
// optimizeForCompile, as `leip compile` runs it), and require the same quantized result
// within one quantization step everywhere and exactly on at least 95 % of the elements (the
// order of the float roundings differs, so values at .5 may round the other way). QConv's
// own values are checked against numbers worked out by hand from its formula.
#include "leip/interp/Interpreter.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/OpRegistry.h"
#include "leip/ir/Verifier.h"
#include "leip/passes/LowerQdq.h"
#include "leip/passes/Pipeline.h"
#include "leip/passes/ShapeInference.h"
#include "leip/support/Error.h"

#include "TestGraphs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace leip;
using namespace leip::ir;

namespace {

using Ints = std::vector<int64_t>;

std::map<std::string, int> opCounts(const Graph &graph) {
  std::map<std::string, int> counts;
  for (const Node *node : graph.nodes()) ++counts[node->opType()];
  return counts;
}

std::vector<Node *> nodesOf(const Graph &graph, const std::string &op) {
  std::vector<Node *> out;
  for (Node *node : graph.nodes())
    if (node->opType() == op) out.push_back(node);
  return out;
}

/// GraphBuilder with QuantizeLinear/DequantizeLinear and quantized weights.
class QdqBuilder : public test::GraphBuilder {
public:
  explicit QdqBuilder(unsigned seed = 11) : GraphBuilder(seed) {}

  Value *zeroPoint(int64_t zp, DType type) {
    Tensor t(type, {});
    t.setFromDouble(0, static_cast<double>(zp));
    return constant(t);
  }
  Value *quantize(Value *x, float scale, int64_t zp, DType type) {
    return node("QuantizeLinear", {x, scalar(scale), zeroPoint(zp, type)})->output(0);
  }
  Value *dequantize(Value *q, float scale, int64_t zp, DType type) {
    return node("DequantizeLinear", {q, scalar(scale), zeroPoint(zp, type)})->output(0);
  }
  /// Q then DQ with the same parameters: the fake quantization of an activation.
  Value *fakeQuant(Value *x, float scale, int64_t zp, DType type) {
    return dequantize(quantize(x, scale, zp, type), scale, zp, type);
  }

  /// DequantizeLinear of random i8 weights in [-127, 127]: scales per output channel
  /// (along `axis`: 0 for Conv, 1 for MatMul's [K, M]) or one per tensor, sized so that a
  /// window's sum of products of inputs in [-1, 1] stays around [-1, 1]. `zeroPoints` (per
  /// channel) default to 0.
  Value *weights(const Shape &shape, bool perChannel, std::vector<int64_t> zeroPoints = {}, int64_t axis = 0) {
    int64_t k = shape[axis], taps = numElements(shape) / k;
    Tensor wq(DType::I8, shape);
    std::uniform_int_distribution<int> level(-127, 127);
    for (int8_t &v : wq.values<int8_t>()) v = static_cast<int8_t>(level(rng_));
    std::uniform_real_distribution<float> spread(0.5f, 1.5f);
    int64_t count = perChannel ? k : 1;
    Tensor scales(DType::F32, perChannel ? Shape{k} : Shape{});
    for (float &s : scales.values<float>()) s = spread(rng_) / (127.0f * std::sqrt(static_cast<float>(taps)));
    if (zeroPoints.empty()) zeroPoints.assign(static_cast<size_t>(count), 0);
    Tensor zps(DType::I8, scales.shape());
    for (int64_t i = 0; i < count; ++i) zps.setFromDouble(i, static_cast<double>(zeroPoints[i]));
    lastWeightScales = scales.toFloatVector();
    Node *dq = node("DequantizeLinear", {constant(wq), constant(scales), constant(zps)});
    if (perChannel) dq->attrs().set("axis", axis);
    return dq->output(0);
  }

  /// DequantizeLinear of a random i32 bias (|b| <= 3000) with one scale or K scales.
  Value *bias(int64_t k, std::vector<float> scales) {
    Tensor bq(DType::I32, {k});
    std::uniform_int_distribution<int> level(-3000, 3000);
    for (int32_t &v : bq.values<int32_t>()) v = level(rng_);
    bool perChannel = scales.size() > 1;
    Tensor s = perChannel ? Tensor::fromVector<float>(DType::F32, {k}, scales) : Tensor::scalar(scales[0]);
    Node *dq = node("DequantizeLinear", {constant(bq), constant(s)});
    if (perChannel) dq->attrs().set("axis", int64_t{0});
    return dq->output(0);
  }

  std::vector<float> lastWeightScales;
};

/// Element i of an output as a number of quantization steps: the integer itself for u8/i8
/// outputs, value / step for f32 ones.
double inSteps(const Tensor &t, int64_t i, double step) {
  return t.dtype() == DType::F32 ? t.getAsDouble(i) / step : t.getAsDouble(i);
}

struct Lowered {
  std::unique_ptr<Graph> graph;
  passes::QdqLoweringStats stats;
};

/// Lowers a clone of `graph` (optimizeForCompile first) and compares both on random inputs
/// in [-1, 1]: outputs keep their names and dtypes and agree within one step (`steps`: the
/// step of each f32 output; ignored for integer outputs) on every element, exactly on at
/// least 95 %. The results must not be degenerate (more than 8 distinct values).
Lowered lowerAndCompare(const Graph &graph, const std::vector<double> &steps = {}, unsigned seed = 5) {
  Lowered out{passes::cloneGraph(graph), {}};
  passes::optimizeForCompile(*out.graph);
  out.stats = passes::lowerQdqToInteger(*out.graph);
  EXPECT_NO_THROW(verify(*out.graph));
  std::vector<Tensor> inputs = test::randomInputs(graph, seed);
  std::vector<Tensor> want = interp::Interpreter(graph).run(inputs);
  std::vector<Tensor> got = interp::Interpreter(*out.graph).run(inputs);
  EXPECT_EQ(got.size(), want.size());
  for (size_t o = 0; o < std::min(got.size(), want.size()); ++o) {
    EXPECT_EQ(out.graph->outputs()[o]->name(), graph.outputs()[o]->name());
    EXPECT_EQ(got[o].type(), want[o].type()) << "output " << o;
    if (got[o].type() != want[o].type()) continue;
    double step = o < steps.size() ? steps[o] : 1.0;
    int64_t exact = 0, n = want[o].numElements();
    double worst = 0;
    std::set<double> distinct;
    for (int64_t i = 0; i < n; ++i) {
      double diff = std::fabs(inSteps(got[o], i, step) - inSteps(want[o], i, step));
      worst = std::max(worst, diff);
      exact += diff < 1e-3;
      distinct.insert(want[o].getAsDouble(i));
    }
    EXPECT_LE(worst, 1.0 + 1e-3) << "output " << o << ": more than one step apart";
    EXPECT_GE(static_cast<double>(exact), 0.95 * static_cast<double>(n)) << "output " << o << ": " << exact << " of "
                                                                           << n << " exact";
    EXPECT_GT(distinct.size(), 8u) << "output " << o << " is degenerate";
  }
  return out;
}

/// Lowers a clone of `graph`, whose one Conv, Gemm or MatMul must stay float for `reason`;
/// returns the clone.
std::unique_ptr<Graph> lowerExpectingFloat(const Graph &graph, const std::string &reason) {
  std::unique_ptr<Graph> lowered = passes::cloneGraph(graph);
  passes::QdqLoweringStats stats = passes::lowerQdqToInteger(*lowered);
  EXPECT_EQ(stats.convsLowered, 0u);
  EXPECT_EQ(stats.floatConvs.size(), 1u);
  if (!stats.floatConvs.empty()) EXPECT_EQ(stats.floatConvs[0].reason, reason);
  return lowered;
}

/// The graph's outputs on random inputs (for graphs the pass must leave alone).
std::vector<Tensor> run(const Graph &graph, const std::vector<Tensor> &inputs) {
  return interp::Interpreter(graph).run(inputs);
}

} // namespace

// ---- pattern a and c: Conv -> QConv with a quantized output ----------------------------

TEST(LowerQdq, PerTensorU8ConvReluBecomesOneQConvWithU8Output) {
  QdqBuilder b;
  const float xScale = 2.0f / 255.0f;
  Value *x = b.fakeQuant(b.input("x", {2, 3, 10, 10}), xScale, 128, DType::U8);
  Value *w = b.weights({8, 3, 3, 3}, false);
  float wScale = b.lastWeightScales[0];
  Node *conv = b.node("Conv", {x, w, b.bias(8, {xScale * wScale})}, {{"pads", Ints{1, 1, 1, 1}}});
  Node *relu = b.node("Relu", {conv->output(0)});
  Value *y = b.quantize(relu->output(0), 1.0f / 64, 0, DType::U8);
  Graph &g = b.finish({y});

  Lowered l = lowerAndCompare(g);
  EXPECT_EQ(l.stats.convsLowered, 1u);
  EXPECT_EQ(l.stats.quantizedOutputs, 1u);
  EXPECT_EQ(l.stats.residualAddsFolded, 0u);
  EXPECT_TRUE(l.stats.floatConvs.empty());
  EXPECT_EQ(opCounts(*l.graph), (std::map<std::string, int>{{"QConv", 1}, {"QuantizeLinear", 1}}));
  Node *q = nodesOf(*l.graph, "QConv").at(0);
  EXPECT_EQ(q->domain(), kLeipDomain);
  EXPECT_EQ(q->name(), conv->name());
  EXPECT_EQ(q->output(0)->name(), y->name());
  EXPECT_EQ(q->input(0)->type().dtype, DType::U8);
  EXPECT_TRUE(q->input(1)->isConstant());
  EXPECT_EQ(q->input(1)->type().dtype, DType::I8);
  EXPECT_EQ(q->attrs().getInt("x_zero_point", -1), 128);
  EXPECT_EQ(q->attrs().getString("output_type", ""), "uint8");
  EXPECT_EQ(q->attrs().getFloat("y_inverse_scale", 0), 64.0f);
  EXPECT_EQ(q->attrs().getInt("y_zero_point", -1), 0);
  std::vector<float> scales = q->attrs().getFloats("scales");
  ASSERT_EQ(scales.size(), 8u);
  for (float s : scales) EXPECT_EQ(s, xScale * wScale);
  // Direct requantization: the Relu is the lower bound Q(0) = the zero point 0.
  EXPECT_FALSE(q->attrs().has("activation"));
  EXPECT_EQ(q->attrs().getInt("y_min", -1), 0);
  EXPECT_EQ(q->attrs().getInt("y_max", -1), 255);
  std::vector<float> multipliers = q->attrs().getFloats("requant_scales");
  ASSERT_EQ(multipliers.size(), 8u);
  for (float m : multipliers) EXPECT_EQ(m, xScale * wScale * 64.0f);
}

TEST(LowerQdq, PerChannelI8StridedPaddedDilatedConv) {
  QdqBuilder b(21);
  const float xScale = 1.0f / 127.0f;
  Value *x = b.fakeQuant(b.input("x", {2, 4, 13, 11}), xScale, -3, DType::I8);
  Value *w = b.weights({6, 4, 3, 3}, true);
  std::vector<float> biasScales;
  for (float s : b.lastWeightScales) biasScales.push_back(xScale * s);
  Node *conv = b.node("Conv", {x, w, b.bias(6, biasScales)},
                      {{"strides", Ints{2, 2}}, {"pads", Ints{1, 2, 0, 1}}, {"dilations", Ints{2, 1}}});
  const float yScale = 1.0f / 100;
  Value *y = b.fakeQuant(conv->output(0), yScale, 5, DType::I8);
  Graph &g = b.finish({y});

  Lowered l = lowerAndCompare(g, {yScale});
  EXPECT_EQ(l.stats.convsLowered, 1u);
  EXPECT_EQ(l.stats.quantizedOutputs, 1u);
  // The output's DequantizeLinear stays: the graph output is f32.
  EXPECT_EQ(opCounts(*l.graph),
            (std::map<std::string, int>{{"DequantizeLinear", 1}, {"QConv", 1}, {"QuantizeLinear", 1}}));
  Node *q = nodesOf(*l.graph, "QConv").at(0);
  EXPECT_EQ(q->attrs().getString("output_type", ""), "int8");
  EXPECT_EQ(q->attrs().getInt("x_zero_point", 0), -3);
  EXPECT_EQ(q->output(0)->type().shape, (Shape{2, 6, 5, 6}));
  std::vector<float> scales = q->attrs().getFloats("scales");
  ASSERT_EQ(scales.size(), 6u);
  for (size_t k = 0; k < 6; ++k) EXPECT_EQ(scales[k], xScale * b.lastWeightScales[k]) << k;
}

TEST(LowerQdq, GroupedConvWithFloatBiasAndClip) {
  QdqBuilder b(31);
  Value *x = b.fakeQuant(b.input("x", {1, 4, 8, 8}), 2.0f / 255.0f, 127, DType::U8);
  Node *conv = b.node("Conv", {x, b.weights({6, 2, 3, 3}, true), b.random({6}, -0.2f, 0.2f)},
                      {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}});
  Node *clip = b.node("Clip", {conv->output(0), b.scalar(0.0f), b.scalar(0.5f)});
  Value *y = b.quantize(clip->output(0), 0.5f / 255, 0, DType::U8);
  Graph &g = b.finish({y});

  Lowered l = lowerAndCompare(g);
  EXPECT_EQ(l.stats.convsLowered, 1u);
  EXPECT_EQ(l.stats.quantizedOutputs, 1u);
  EXPECT_EQ(opCounts(*l.graph), (std::map<std::string, int>{{"QConv", 1}, {"QuantizeLinear", 1}}));
  Node *q = nodesOf(*l.graph, "QConv").at(0);
  EXPECT_EQ(q->attrs().getInt("group", 1), 2);
  // Direct requantization: Clip(0, 0.5) becomes the bounds [Q(0), Q(0.5)] = [0, 255].
  EXPECT_EQ(fusedActivation(*q).kind, ActivationKind::None);
  EXPECT_EQ(q->attrs().getInt("y_min", -1), 0);
  EXPECT_EQ(q->attrs().getInt("y_max", -1), 255);
}

TEST(LowerQdq, FloatQConvOutputWhenNoQuantizeFollows) {
  // Conv -> graph output: the QConv computes the float result itself.
  QdqBuilder b(41);
  Value *x = b.fakeQuant(b.input("x", {1, 3, 7, 7}), 1.0f / 127, 0, DType::I8);
  Node *conv = b.node("Conv", {x, b.weights({5, 3, 3, 3}, true)});
  Graph &g = b.finish({conv->output(0)});

  std::unique_ptr<Graph> lowered = passes::cloneGraph(g);
  passes::QdqLoweringStats stats = passes::lowerQdqToInteger(*lowered);
  EXPECT_EQ(stats.convsLowered, 1u);
  EXPECT_EQ(stats.quantizedOutputs, 0u);
  EXPECT_EQ(lowered->outputs()[0]->name(), conv->output(0)->name());
  EXPECT_EQ(lowered->outputs()[0]->type().dtype, DType::F32);
  std::vector<Tensor> inputs = test::randomInputs(g, 3);
  EXPECT_LE(test::relativeError(run(*lowered, inputs)[0], run(g, inputs)[0]), 1e-5);
}

// ---- pattern b: the residual block -----------------------------------------------------

TEST(LowerQdq, ResidualBlockAddReluQuantizeFoldsIntoTwoQConvs) {
  for (DType type : {DType::U8, DType::I8}) {
    SCOPED_TRACE(std::string(dtypeName(type)));
    QdqBuilder b(51);
    const int64_t zp = type == DType::U8 ? 128 : 0;
    const float scale = type == DType::U8 ? 2.0f / 255 : 1.0f / 127;
    Value *a = b.fakeQuant(b.input("x", {1, 4, 9, 9}), scale, zp, type);
    Node *conv1 = b.node("Conv", {a, b.weights({4, 4, 3, 3}, true)}, {{"pads", Ints{1, 1, 1, 1}}});
    Node *relu1 = b.node("Relu", {conv1->output(0)});
    Value *h = b.fakeQuant(relu1->output(0), 1.0f / 128, type == DType::U8 ? 0 : -128, type);
    Node *conv2 = b.node("Conv", {h, b.weights({4, 4, 3, 3}, false)}, {{"pads", Ints{1, 1, 1, 1}}});
    Node *add = b.node("Add", {conv2->output(0), a});
    Node *relu2 = b.node("Relu", {add->output(0)});
    Value *y = b.quantize(relu2->output(0), 1.0f / 64, type == DType::U8 ? 0 : -128, type);
    Graph &g = b.finish({y});

    Lowered l = lowerAndCompare(g);
    EXPECT_EQ(l.stats.convsLowered, 2u);
    EXPECT_EQ(l.stats.residualAddsFolded, 1u);
    EXPECT_EQ(l.stats.quantizedOutputs, 2u);
    // The input's DequantizeLinear stays: it is the residual.
    EXPECT_EQ(opCounts(*l.graph),
              (std::map<std::string, int>{{"DequantizeLinear", 1}, {"QConv", 2}, {"QuantizeLinear", 1}}));
    Node *last = l.graph->outputs()[0]->producer();
    ASSERT_EQ(last->opType(), "QConv");
    EXPECT_EQ(last->name(), conv2->name());
    ASSERT_EQ(last->numInputs(), 3u);
    EXPECT_EQ(last->input(2)->name(), a->name());
    EXPECT_EQ(last->attrs().getString("activation", ""), "Relu");
    EXPECT_EQ(last->attrs().getString("output_type", ""), std::string(type == DType::U8 ? "uint8" : "int8"));
  }
}

TEST(LowerQdq, ResidualAddWithoutActivationThenQuantize) {
  // MobileNetV2's shape: conv -> Add(., skip) -> Q, the Add read by nothing else.
  QdqBuilder b(61);
  Value *a = b.fakeQuant(b.input("x", {1, 6, 5, 5}), 1.0f / 127, 0, DType::I8);
  Node *conv = b.node("Conv", {a, b.weights({6, 6, 1, 1}, true)});
  Node *add = b.node("Add", {a, conv->output(0)});
  Value *y = b.quantize(add->output(0), 1.0f / 64, 0, DType::I8);
  Graph &g = b.finish({y});
  Lowered l = lowerAndCompare(g);
  EXPECT_EQ(l.stats.residualAddsFolded, 1u);
  EXPECT_EQ(l.stats.quantizedOutputs, 1u);
  EXPECT_FALSE(nodesOf(*l.graph, "QConv").at(0)->attrs().has("activation"));
}

TEST(LowerQdq, AddThatIsAGraphOutputIsNotFolded) {
  QdqBuilder b(71);
  Value *a = b.fakeQuant(b.input("x", {1, 3, 5, 5}), 1.0f / 127, 0, DType::I8);
  Node *conv = b.node("Conv", {a, b.weights({3, 3, 1, 1}, false)});
  Node *add = b.node("Add", {conv->output(0), a});
  Graph &g = b.finish({add->output(0)});
  std::unique_ptr<Graph> lowered = passes::cloneGraph(g);
  passes::QdqLoweringStats stats = passes::lowerQdqToInteger(*lowered);
  EXPECT_EQ(stats.convsLowered, 1u);
  EXPECT_EQ(stats.residualAddsFolded, 0u);
  EXPECT_EQ(lowered->outputs()[0]->producer()->opType(), "Add");
  std::vector<Tensor> inputs = test::randomInputs(g, 3);
  EXPECT_LE(test::relativeError(run(*lowered, inputs)[0], run(g, inputs)[0]), 1e-5);
}

// ---- pattern d: MaxPool between Q/DQ ---------------------------------------------------

TEST(LowerQdq, MaxPoolBetweenMatchingQdqPoolsTheIntegers) {
  QdqBuilder b(81);
  Value *x = b.fakeQuant(b.input("x", {1, 3, 12, 12}), 1.0f / 127, 0, DType::I8);
  Node *conv = b.node("Conv", {x, b.weights({4, 3, 3, 3}, true)});
  Node *relu = b.node("Relu", {conv->output(0)});
  const float yScale = 1.0f / 120;
  Value *h = b.fakeQuant(relu->output(0), yScale, -128, DType::I8);
  Node *pool = b.node("MaxPool", {h},
                      {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  Value *pooled = b.quantize(pool->output(0), yScale, -128, DType::I8);
  Value *y = b.dequantize(pooled, yScale, -128, DType::I8);
  Graph &g = b.finish({y});

  Lowered l = lowerAndCompare(g, {yScale});
  EXPECT_EQ(l.stats.maxPoolsLowered, 1u);
  std::vector<Node *> pools = nodesOf(*l.graph, "MaxPool");
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0]->input(0)->type().dtype, DType::I8);
  EXPECT_EQ(pools[0]->input(0)->producer()->opType(), "QConv");
  EXPECT_EQ(pools[0]->output(0)->name(), pooled->name());
  EXPECT_EQ(opCounts(*l.graph), (std::map<std::string, int>{
                                    {"DequantizeLinear", 1}, {"MaxPool", 1}, {"QConv", 1}, {"QuantizeLinear", 1}}));
}

TEST(LowerQdq, ConvReluMaxPoolQuantizePoolsTheQConvIntegers) {
  // The Fashion-MNIST CNN's shape: Conv -> Relu -> MaxPool -> Q, no Q between conv and pool.
  QdqBuilder b(85);
  Value *x = b.fakeQuant(b.input("x", {2, 2, 10, 10}), 2.0f / 255, 128, DType::U8);
  Node *conv = b.node("Conv", {x, b.weights({5, 2, 3, 3}, true)}, {{"pads", Ints{1, 1, 1, 1}}});
  Node *relu = b.node("Relu", {conv->output(0)});
  Node *pool = b.node("MaxPool", {relu->output(0)}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  Value *y = b.quantize(pool->output(0), 1.0f / 128, 0, DType::U8);
  Graph &g = b.finish({y});

  Lowered l = lowerAndCompare(g);
  EXPECT_EQ(l.stats.quantizedOutputs, 1u);
  EXPECT_EQ(l.stats.maxPoolsLowered, 1u);
  EXPECT_EQ(opCounts(*l.graph), (std::map<std::string, int>{{"MaxPool", 1}, {"QConv", 1}, {"QuantizeLinear", 1}}));
  Node *intPool = l.graph->outputs()[0]->producer();
  ASSERT_EQ(intPool->opType(), "MaxPool");
  EXPECT_EQ(intPool->name(), pool->name());
  EXPECT_EQ(intPool->input(0)->type().dtype, DType::U8);
  EXPECT_EQ(intPool->input(0)->producer()->attrs().getString("output_type", ""), "uint8");
}

TEST(LowerQdq, MaxPoolWithDifferentQuantizationStaysFloat) {
  QdqBuilder b(91);
  Value *h = b.fakeQuant(b.input("x", {1, 2, 6, 6}), 1.0f / 127, 0, DType::I8);
  Node *pool = b.node("MaxPool", {h}, {{"kernel_shape", Ints{2, 2}}});
  Value *y = b.quantize(pool->output(0), 1.0f / 100, 0, DType::I8);
  Graph &g = b.finish({y});
  std::unique_ptr<Graph> lowered = passes::cloneGraph(g);
  EXPECT_EQ(passes::lowerQdqToInteger(*lowered).maxPoolsLowered, 0u);
  EXPECT_EQ(nodesOf(*lowered, "MaxPool").at(0)->input(0)->type().dtype, DType::F32);
}

TEST(LowerQdq, SymmetricU8WeightsBecomeSigned) {
  // leip compress --data_type uint8: weights u8 with zero point 128 are the i8 values w - 128.
  QdqBuilder b(92);
  Value *x = b.fakeQuant(b.input("x", {1, 3, 6, 6}), 1.0f / 127, 128, DType::U8);
  Tensor w(DType::U8, {4, 3, 3, 3});
  std::mt19937 rng(5);
  for (uint8_t &v : w.values<uint8_t>()) v = static_cast<uint8_t>(rng() % 256);
  Node *dq = b.node("DequantizeLinear", {b.constant(w), b.scalar(0.01f), b.zeroPoint(128, DType::U8)});
  Node *conv = b.node("Conv", {x, dq->output(0)}, {{"pads", Ints{1, 1, 1, 1}}});
  Value *y = b.quantize(conv->output(0), 1.0f / 16, 128, DType::U8);
  Graph &g = b.finish({y});
  Lowered l = lowerAndCompare(g);
  EXPECT_EQ(l.stats.convsLowered, 1u);
  EXPECT_TRUE(l.stats.floatConvs.empty());
  const Node *q = nodesOf(*l.graph, "QConv").at(0);
  ASSERT_EQ(q->input(1)->type().dtype, DType::I8);
  const Tensor &signedWeights = *q->input(1)->constant();
  for (int64_t i = 0; i < w.numElements(); ++i)
    ASSERT_EQ(signedWeights.data<int8_t>()[i], static_cast<int>(w.data<uint8_t>()[i]) - 128) << i;
}

// ---- pattern a': Gemm / MatMul -> 1x1 QConv between Reshapes ----------------------------

TEST(LowerQdq, MatMulWithConstantWeightsOverEveryLeadingDimension) {
  QdqBuilder b(41);
  Value *x = b.fakeQuant(b.input("x", {2, 3, 40}), 2.0f / 255.0f, 128, DType::U8);
  Node *matMul = b.node("MatMul", {x, b.weights({40, 24}, true, {}, 1)});
  const float yScale = 1.0f / 100;
  Value *y = b.fakeQuant(matMul->output(0), yScale, 0, DType::I8);
  Graph &g = b.finish({y});

  Lowered l = lowerAndCompare(g, {yScale});
  EXPECT_EQ(l.stats.convsLowered, 1u);
  EXPECT_TRUE(l.stats.floatConvs.empty());
  EXPECT_EQ(opCounts(*l.graph).count("MatMul"), 0u);
  const Node *q = nodesOf(*l.graph, "QConv").at(0);
  EXPECT_EQ(q->name(), matMul->name());
  // The 6 rows of A as 6 images of 40 channels, the weights as 24 kernels of 1x1.
  EXPECT_EQ(q->input(0)->type().shape, (Shape{6, 40, 1, 1}));
  EXPECT_EQ(q->input(1)->type().shape, (Shape{24, 40, 1, 1}));
}

TEST(LowerQdq, MatMulOfTwoActivationsStaysFloat) {
  QdqBuilder b(43);
  Value *a = b.fakeQuant(b.input("lhs", {4, 8}), 1.0f / 127, 0, DType::I8);
  Value *c = b.fakeQuant(b.input("rhs", {8, 5}), 1.0f / 127, 0, DType::I8);
  Node *matMul = b.node("MatMul", {a, c});
  Graph &g = b.finish({matMul->output(0)});
  std::unique_ptr<Graph> lowered = lowerExpectingFloat(g, "weights are not a 2-D constant");
  EXPECT_EQ(opCounts(*lowered), opCounts(g));
}

// ---- convs that must stay float --------------------------------------------------------

TEST(LowerQdq, ConvsThatDoNotMatchStayFloatWithAReason) {
  struct Case {
    std::string name;
    std::function<Value *(QdqBuilder &)> weights;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"nonzero weight zero point", [](QdqBuilder &b) { return b.weights({4, 3, 3, 3}, true, {0, 0, 3, 0}); },
       "weights have nonzero zero points"},
      {"u8 weights, zero point not 128",
       [](QdqBuilder &b) {
         Node *dq = b.node("DequantizeLinear", {b.constant(Tensor(DType::U8, {4, 3, 3, 3})), b.scalar(0.01f),
                                                b.zeroPoint(100, DType::U8)});
         return dq->output(0);
       },
       "weights are u8 with zero points other than 128"},
      {"per input channel",
       [](QdqBuilder &b) {
         Value *w = b.weights({4, 3, 3, 3}, false);
         Node *dq = w->producer();
         dq->setInput(1, b.constant(Tensor::fromVector<float>(DType::F32, {3}, {0.01f, 0.02f, 0.03f})));
         dq->setInput(2, b.constant(Tensor(DType::I8, {3})));
         dq->attrs().set("axis", int64_t{1});
         return w;
       },
       "weights are quantized per channel along axis 1, not 0"},
      {"float weights", [](QdqBuilder &b) { return b.random({4, 3, 3, 3}); }, "weights are not dequantized"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    QdqBuilder b;
    Value *x = b.fakeQuant(b.input("x", {1, 3, 6, 6}), 1.0f / 127, 0, DType::I8);
    Node *conv = b.node("Conv", {x, c.weights(b)});
    Value *y = b.quantize(conv->output(0), 1.0f / 64, 0, DType::I8);
    Graph &g = b.finish({y});
    std::unique_ptr<Graph> lowered = passes::cloneGraph(g);
    passes::QdqLoweringStats stats = passes::lowerQdqToInteger(*lowered);
    EXPECT_EQ(stats.convsLowered, 0u);
    ASSERT_EQ(stats.floatConvs.size(), 1u);
    EXPECT_EQ(stats.floatConvs[0].node, conv->name());
    EXPECT_EQ(stats.floatConvs[0].reason, c.reason);
    EXPECT_EQ(opCounts(*lowered), opCounts(g));
    std::vector<Tensor> inputs = test::randomInputs(g, 3);
    Tensor got = run(*lowered, inputs)[0], want = run(g, inputs)[0];
    ASSERT_EQ(got.byteSize(), want.byteSize());
    EXPECT_EQ(std::memcmp(got.rawData(), want.rawData(), got.byteSize()), 0);
  }
}

TEST(LowerQdq, NonConstantActivationScaleStaysFloat) {
  QdqBuilder b;
  Value *x = b.input("x", {1, 3, 6, 6});
  Value *s = b.input("s", {});
  Value *zp = b.zeroPoint(0, DType::I8);
  Value *xq = b.node("QuantizeLinear", {x, s, zp})->output(0);
  Value *xd = b.node("DequantizeLinear", {xq, s, zp})->output(0);
  Node *conv = b.node("Conv", {xd, b.weights({4, 3, 3, 3}, false)});
  Graph &g = b.finish({conv->output(0)});
  std::unique_ptr<Graph> lowered = lowerExpectingFloat(g, "x scale is not a constant");
  std::vector<Tensor> inputs = test::randomInputs(g, 3);
  inputs[1] = Tensor::scalar(0.01f);
  Tensor got = run(*lowered, inputs)[0], want = run(g, inputs)[0];
  EXPECT_EQ(std::memcmp(got.rawData(), want.rawData(), got.byteSize()), 0);
}

// ---- leip.QConv itself -----------------------------------------------------------------

namespace {

/// x u8 [1, 1, 2, 2] (a graph input) convolved with two 2x2 kernels, pads [0, 0, 1, 1]
/// (end padding), so the 2x2 output has windows partly in the padding.
struct TinyQConv {
  Graph graph;
  Node *node;
  TinyQConv(bool withResidual) {
    Value *x = graph.addInput("x", TensorType{DType::U8, {1, 1, 2, 2}, {}});
    Value *w = graph.addConstant("w", Tensor::fromVector<int8_t>(DType::I8, {2, 1, 2, 2}, {1, 2, -1, 3, -2, 0, 1, 1}));
    std::vector<Value *> inputs{x, w};
    if (withResidual) inputs.push_back(graph.addInput("r", TensorType{DType::F32, {1, 2, 2, 2}, {}}));
    node = graph.addNode("QConv", "qc", inputs, {"y"}, kLeipDomain);
    node->attrs().set("pads", Ints{0, 0, 1, 1});
    node->attrs().set("x_zero_point", int64_t{10});
    node->attrs().set("scales", std::vector<float>{0.5f, 0.25f});
    node->attrs().set("biases", std::vector<float>{1.0f, -2.0f});
    node->attrs().set("output_type", std::string("float32"));
  }
  std::vector<float> run(const std::vector<Tensor> &extra = {}) {
    graph.addOutput(node->output(0));
    passes::inferShapes(graph);
    std::vector<Tensor> inputs{Tensor::fromVector<uint8_t>(DType::U8, {1, 1, 2, 2}, {10, 20, 30, 40})};
    inputs.insert(inputs.end(), extra.begin(), extra.end());
    return interp::Interpreter(graph).run(inputs)[0].toFloatVector();
  }
};

} // namespace

// x - 10 = [[0, 10], [20, 30]]. Sums (by hand):
//   kernel 0 [[1, 2], [-1, 3]]:  (0,0) 0+20-20+90 = 90   (0,1) 10*1+30*-1 = -20
//                                (1,0) 20*1+30*2 = 80    (1,1) 30*1 = 30
//   kernel 1 [[-2, 0], [1, 1]]:  (0,0) 0+0+20+30 = 50    (0,1) 10*-2+30*1 = 10
//                                (1,0) 20*-2+30*0 = -40  (1,1) 30*-2 = -60
// then acc * scale + bias: kernel 0 (0.5, 1): 46, -9, 41, 16; kernel 1 (0.25, -2): 10.5, 0.5, -12, -17.
TEST(QConv, HandComputedFloatOutput) {
  TinyQConv t(false);
  EXPECT_EQ(t.run(), (std::vector<float>{46, -9, 41, 16, 10.5f, 0.5f, -12, -17}));
}

TEST(QConv, HandComputedReluOutput) {
  TinyQConv t(false);
  t.node->attrs().set("activation", std::string("Relu"));
  EXPECT_EQ(t.run(), (std::vector<float>{46, 0, 41, 16, 10.5f, 0.5f, 0, 0}));
}

// With u8 output, scale 2 (inverse 0.5) and zero point 3, rounding half to even:
//   46->23+3=26, -9->-4.5->-4+3=-1->0 (saturated), 41->20.5->20+3=23, 16->8+3=11,
//   10.5->5.25->5+3=8, 0.5->0.25->0+3=3, -12->-6+3=-3->0, -17->-8.5->-8+3=-5->0.
TEST(QConv, HandComputedU8Output) {
  TinyQConv t(false);
  t.node->attrs().set("output_type", std::string("uint8"));
  t.node->attrs().set("y_inverse_scale", 0.5f);
  t.node->attrs().set("y_zero_point", int64_t{3});
  EXPECT_EQ(t.run(), (std::vector<float>{26, 0, 23, 11, 8, 3, 0, 0}));
}

// Residual 1 everywhere, then i8 output (inverse scale 0.5, zero point 3):
//   47->23.5->24+3=27, -8->-4+3=-1, 42->21+3=24, 17->8.5->8+3=11,
//   11.5->5.75->6+3=9, 1.5->0.75->1+3=4, -11->-5.5->-6+3=-3, -16->-8+3=-5.
TEST(QConv, HandComputedResidualAndI8Output) {
  TinyQConv t(true);
  t.node->attrs().set("output_type", std::string("int8"));
  t.node->attrs().set("y_inverse_scale", 0.5f);
  t.node->attrs().set("y_zero_point", int64_t{3});
  Tensor r(DType::F32, {1, 2, 2, 2});
  for (float &v : r.values<float>()) v = 1.0f;
  EXPECT_EQ(t.run({r}), (std::vector<float>{27, -1, 24, 11, 9, 4, -3, -5}));
}

TEST(QConv, ShapeRuleErrorsNameTheNodeAndField) {
  struct Case {
    std::function<void(TinyQConv &)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](TinyQConv &t) { t.node->attrs().set("scales", std::vector<float>{1.0f}); }, "'scales'"},
      {[](TinyQConv &t) { t.node->attrs().erase("biases"); }, "'biases'"},
      {[](TinyQConv &t) { t.node->attrs().set("x_zero_point", int64_t{300}); }, "'x_zero_point'"},
      {[](TinyQConv &t) { t.node->attrs().erase("x_zero_point"); }, "'x_zero_point'"},
      {[](TinyQConv &t) { t.node->attrs().set("output_type", std::string("int16")); }, "'output_type'"},
      {[](TinyQConv &t) { t.node->attrs().set("output_type", std::string("int8")); }, "'y_inverse_scale'"},
      {[](TinyQConv &t) {
         t.node->attrs().set("output_type", std::string("int8"));
         t.node->attrs().set("y_inverse_scale", 0.5f);
         t.node->attrs().set("y_zero_point", int64_t{200});
       },
       "'y_zero_point'"},
      {[](TinyQConv &t) { t.node->attrs().set("y_zero_point", int64_t{0}); }, "'y_zero_point'"},
      {[](TinyQConv &t) { t.node->attrs().set("group", int64_t{2}); }, "group"},
      {[](TinyQConv &t) { t.node->attrs().set("kernel_shape", Ints{3, 3}); }, "'kernel_shape'"},
      {[](TinyQConv &t) { t.node->attrs().set("activation", std::string("Swish")); }, "Swish"},
      {[](TinyQConv &t) {
         t.node->addInput(t.graph.addInput("r", TensorType{DType::F32, {1, 2, 3, 3}, {}}));
       },
       "residual"},
      {[](TinyQConv &t) {
         Value *w = t.graph.addConstant("w_u8", Tensor(DType::U8, {2, 1, 2, 2}));
         t.node->setInput(1, w);
       },
       "input 1 (w)"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + " (" + cases[i].field + ")");
    TinyQConv t(false);
    cases[i].edit(t);
    t.graph.addOutput(t.node->output(0));
    try {
      passes::inferShapes(t.graph);
      ADD_FAILURE() << "no error";
    } catch (const BadInputError &e) {
      std::string message = e.what();
      EXPECT_NE(message.find("node 'qc' (QConv)"), std::string::npos) << message;
      EXPECT_NE(message.find(cases[i].field), std::string::npos) << message;
    }
  }
}

TEST(QConv, OnlyTheLeipDomainKnowsQConv) {
  EXPECT_NE(findOp(kLeipDomain, "QConv"), nullptr);
  EXPECT_EQ(findOp("", "QConv"), nullptr);
  EXPECT_EQ(findOp(kLeipDomain, "Conv"), nullptr);
  EXPECT_EQ(findOp("com.microsoft", "QConv"), nullptr);
}
