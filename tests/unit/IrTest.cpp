// Core IR: tensors, graphs, verifier, printer.
#include "leip/ir/Graph.h"
#include "leip/ir/Printer.h"
#include "leip/ir/Verifier.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace leip;
using namespace leip::ir;

TEST(Tensor, ElementCountOverflowIsBadInput) {
  Shape huge = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_THROW(numElements(huge), BadInputError);
  EXPECT_THROW(Tensor(DType::F32, {int64_t{1} << 62, 8}), BadInputError);
  EXPECT_THROW(numElements({2, kDynamicDim}), BadInputError);
  EXPECT_EQ(numElements({}), 1);
  EXPECT_EQ(numElements({3, 0, 5}), 0);
}

TEST(Tensor, StridesAreRowMajor) {
  EXPECT_EQ(stridesOf({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(shapeToString({kDynamicDim, 3}), "[?,3]");
}

TEST(Tensor, CastFollowsOnnxSemantics) {
  Tensor t = Tensor::fromVector<float>(DType::F32, {5}, {-2.7f, -0.5f, 0.0f, 1.9f, 300.0f});
  Tensor asInt = t.castTo(DType::I32);
  EXPECT_EQ(asInt.toInt64Vector(), (std::vector<int64_t>{-2, 0, 0, 1, 300})); // truncation toward zero
  Tensor asBool = t.castTo(DType::Bool);
  EXPECT_EQ(asBool.toInt64Vector(), (std::vector<int64_t>{1, 1, 0, 1, 1}));
  Tensor big = Tensor::fromVector<int64_t>(DType::I64, {1}, {(int64_t{1} << 53) + 1});
  EXPECT_EQ(big.castTo(DType::I64).toInt64Vector()[0], (int64_t{1} << 53) + 1); // no trip through double
  Tensor nan = Tensor::fromVector<float>(DType::F32, {1}, {std::nanf("")});
  EXPECT_EQ(nan.castTo(DType::I64).toInt64Vector()[0], 0); // defined, not UB
}

TEST(Tensor, HalfRoundTripsAndRoundsToEven) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f})
    EXPECT_EQ(halfToFloat(floatToHalf(v)), v) << v;
  EXPECT_TRUE(std::isinf(halfToFloat(floatToHalf(1e6f))));
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(std::nanf("")))));
  // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to even (1).
  EXPECT_EQ(halfToFloat(floatToHalf(1.0f + 1.0f / 2048)), 1.0f);
  EXPECT_EQ(halfToFloat(floatToHalf(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);
}

TEST(Tensor, CopiesShareDataClonesDoNot) {
  Tensor a = Tensor::fromVector<float>(DType::F32, {2}, {1, 2});
  Tensor shared = a;
  Tensor deep = a.clone();
  a.data<float>()[0] = 7;
  EXPECT_EQ(shared.data<float>()[0], 7);
  EXPECT_EQ(deep.data<float>()[0], 1);
  EXPECT_THROW(Tensor::fromVector<float>(DType::F32, {3}, {1, 2}), InternalError);
}

namespace {
// x -> Relu -> a -> Neg -> b (output); plus a dead branch x -> Exp -> dead.
struct SmallGraph {
  Graph graph;
  Value *x, *a, *b, *dead;
  SmallGraph() {
    x = graph.addInput("x", {DType::F32, {2, 3}, {}});
    a = graph.addNode("Relu", "relu", {x}, {"a"})->output(0);
    b = graph.addNode("Neg", "neg", {a}, {"b"})->output(0);
    dead = graph.addNode("Exp", "exp", {x}, {"dead"})->output(0);
    graph.addOutput(b);
  }
};
} // namespace

TEST(Graph, TopologicalOrderPutsProducersFirst) {
  SmallGraph g;
  auto order = g.graph.topologicalOrder();
  ASSERT_EQ(order.size(), 3u);
  auto pos = [&](const std::string &name) {
    return std::find(order.begin(), order.end(), g.graph.findNode(name)) - order.begin();
  };
  EXPECT_LT(pos("relu"), pos("neg"));
}

TEST(Graph, CycleIsReportedWithANode) {
  Graph graph;
  Value *x = graph.addInput("x", {DType::F32, {1}, {}});
  Node *first = graph.addNode("Add", "first", {x, x}, {"p"});
  Node *second = graph.addNode("Relu", "second", {first->output(0)}, {"q"});
  first->setInput(1, second->output(0)); // p = Add(x, q), q = Relu(p)
  graph.addOutput(second->output(0));
  try {
    graph.topologicalOrder();
    FAIL() << "a cycle was not detected";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos);
  }
}

TEST(Graph, DeadCodeRemovalKeepsWhatOutputsNeed) {
  SmallGraph g;
  Value *unused = g.graph.addConstant("unused", Tensor::scalar(1));
  (void)unused;
  EXPECT_EQ(g.graph.removeDeadCode(), 1u);
  EXPECT_EQ(g.graph.numNodes(), 2u);
  EXPECT_EQ(g.graph.findValue("dead"), nullptr);
  EXPECT_EQ(g.graph.findValue("unused"), nullptr);
  EXPECT_NE(g.graph.findValue("x"), nullptr);
  EXPECT_EQ(g.x->users().size(), 1u); // the Exp user is gone
}

TEST(Graph, ReplaceAllUsesWithRewiresUsersAndOutputs) {
  SmallGraph g;
  g.graph.replaceAllUsesWith(g.a, g.x);
  EXPECT_EQ(g.graph.findNode("neg")->input(0), g.x);
  EXPECT_TRUE(g.a->users().empty());
  g.graph.replaceAllUsesWith(g.b, g.a);
  EXPECT_EQ(g.graph.outputs()[0], g.a);
}

TEST(Graph, FoldingKeepsNamesAndDropsTheNode) {
  SmallGraph g;
  std::vector<Tensor> results;
  results.push_back(Tensor::fromVector<float>(DType::F32, {1}, {4}));
  g.graph.replaceNodeWithConstants(g.graph.findNode("neg"), std::move(results));
  EXPECT_EQ(g.graph.findNode("neg"), nullptr);
  EXPECT_EQ(g.graph.outputs()[0], g.b);
  ASSERT_TRUE(g.b->isConstant());
  EXPECT_EQ(g.b->producer(), nullptr);
  EXPECT_EQ(g.b->constant()->data<float>()[0], 4);
}

TEST(Graph, DuplicateNamesAreRejected) {
  SmallGraph g;
  EXPECT_THROW(g.graph.addInput("a", {DType::F32, {1}, {}}), BadInputError);
  EXPECT_THROW(g.graph.addNode("Relu", "relu", {g.x}, {"fresh"}), BadInputError);
  EXPECT_EQ(g.graph.uniqueName("a"), "a_1");
  EXPECT_EQ(g.graph.uniqueName("fresh"), "fresh");
}

TEST(Graph, ParameterCountSumsConstants) {
  Graph graph;
  graph.addConstant("w", Tensor(DType::F32, {4, 3}));
  graph.addConstant("b", Tensor(DType::F32, {4}));
  EXPECT_EQ(graph.parameterCount(), 16);
}

TEST(Verifier, AcceptsAWellFormedGraph) {
  SmallGraph g;
  EXPECT_NO_THROW(verify(g.graph, /*requireStaticShapes=*/false));
}

TEST(Verifier, RejectsInconsistentQuantization) {
  Graph graph;
  TensorType type{DType::I8, {4, 2}, QuantParams{{0.1f, 0.2f}, {0, 0}, 0, DType::I8}};
  graph.addInput("q", type); // axis 0 has 4 channels but only 2 scales
  EXPECT_THROW(verify(graph, false), InternalError);
  Graph ok;
  type.quant->axis = 1;
  ok.addInput("q", type);
  EXPECT_NO_THROW(verify(ok, false));
}

TEST(Verifier, RejectsUnknownOps) {
  Graph graph;
  Value *x = graph.addInput("x", {DType::F32, {1}, {}});
  graph.addOutput(graph.addNode("NoSuchOp", "mystery", {x}, {"y"})->output(0));
  EXPECT_THROW(verify(graph, false), BadInputError);
}

TEST(Printer, ShowsNodesAttributesAndTypes) {
  SmallGraph g;
  g.graph.findNode("relu")->attrs().set("alpha", 0.5f);
  std::string text = toString(g.graph);
  EXPECT_NE(text.find("input %x : f32[2,3]"), std::string::npos) << text;
  EXPECT_NE(text.find("%a = Relu(%x) {alpha=0.5}"), std::string::npos) << text;
  EXPECT_NE(text.find("return %b"), std::string::npos) << text;
}

TEST(Attributes, TypedGettersNameTheOwnerOnError) {
  AttributeMap attrs;
  attrs.set("group", int64_t{2});
  attrs.set("mode", std::string("linear"));
  EXPECT_EQ(attrs.getInt("group", "node 'c' (Conv)"), 2);
  EXPECT_EQ(attrs.getInt("missing", int64_t{7}), 7);
  EXPECT_EQ(attrs.getString("mode", "nearest"), "linear");
  try {
    attrs.getInt("mode", "node 'c' (Conv)");
    FAIL();
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("node 'c' (Conv): attribute 'mode'"), std::string::npos);
  }
}
