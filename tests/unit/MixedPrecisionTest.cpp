// Mixed precision (leip/quant/Compress.h): which layers stay float32 within a budget of
// multiply-adds, and undoing the quantization of those layers.
#include "TestGraphs.h"

#include "leip/ir/Statistics.h"
#include "leip/quant/Compress.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

namespace leip {
namespace {

using ir::DType;
using ir::QuantParams;

/// x -> conv a (3x3, 8 -> 8) -> conv b (1x1, 8 -> 8) -> conv c (3x3, 8 -> 16), on 10x10
/// images: multiply-adds in the ratio 9 : 1 : 18.
struct Chain {
  test::GraphBuilder b{11};
  ir::Node *a, *bb, *c;
  Chain() {
    ir::Value *x = b.input("x", {1, 8, 10, 10});
    const ir::Attribute pads = std::vector<int64_t>{1, 1, 1, 1};
    a = b.node("Conv", {x, b.random({8, 8, 3, 3}), b.random({8})}, {{"pads", pads}});
    bb = b.node("Conv", {a->output(0), b.random({8, 8, 1, 1})});
    c = b.node("Conv", {bb->output(0), b.random({16, 8, 3, 3}), b.random({16})}, {{"pads", pads}});
    b.finish({c->output(0)});
  }
  double share(const ir::Node *n) const {
    return static_cast<double>(ir::nodeFlops(*n)) / static_cast<double>(ir::graphFlops(b.graph));
  }
};

quant::SqnrReport report(std::vector<std::pair<std::string, double>> layers) {
  quant::SqnrReport r;
  for (auto &[node, db] : layers) {
    quant::TensorSqnr t;
    t.node = node;
    t.localSqnrDb = db;
    r.layers.push_back(t);
  }
  return r;
}

TEST(MixedPrecision, LowestSqnrFirstWithinTheBudget) {
  Chain m;
  // Shares: a = 9/28 ~ 0.32, b = 1/28 ~ 0.04, c = 18/28 ~ 0.64 of the multiply-adds.
  ASSERT_NEAR(m.share(m.a), 9.0 / 28.0, 1e-6);
  ASSERT_NEAR(m.share(m.c), 18.0 / 28.0, 1e-6);
  quant::SqnrReport r = report({{m.a->name(), 30.0}, {m.bb->name(), 40.0}, {m.c->name(), 20.0}});

  // c is worst but costs 0.64: over a 0.4 budget, so a (next worst) and then b are taken.
  std::vector<quant::FloatLayer> chosen = quant::chooseFloatLayers(m.b.graph, r, 0.4);
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(chosen[0].node, m.a->name());
  EXPECT_EQ(chosen[0].localSqnrDb, 30.0);
  EXPECT_NEAR(chosen[0].macsFraction, 9.0 / 28.0, 1e-6);
  EXPECT_EQ(chosen[1].node, m.bb->name());

  // 0.3 leaves out a as well (0.32); a budget for everything takes all three, worst first;
  // none takes nothing.
  chosen = quant::chooseFloatLayers(m.b.graph, r, 0.3);
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0].node, m.bb->name());
  chosen = quant::chooseFloatLayers(m.b.graph, r, 1.0);
  ASSERT_EQ(chosen.size(), 3u);
  EXPECT_EQ(chosen[0].node, m.c->name());
  EXPECT_TRUE(quant::chooseFloatLayers(m.b.graph, r, 0.0).empty());
  // Layers the graph does not have are ignored.
  EXPECT_TRUE(quant::chooseFloatLayers(m.b.graph, report({{"nope", 1.0}}), 1.0).empty());
}

TEST(MixedPrecision, KeepFloatUnquantizesWeightsAndInputsOnlyFloatLayersRead) {
  Chain m;
  const QuantParams q{{0.1f}, {0}, std::nullopt, DType::I8};
  auto quantize = [&](ir::Value *v) {
    ir::TensorType t = v->type();
    t.quant = q;
    v->setType(t);
  };
  for (ir::Node *n : {m.a, m.bb, m.c})
    for (ir::Value *in : n->inputs()) quantize(in);
  // a's output is read by b only, b's output by c only.
  quant::keepFloat(m.b.graph, {m.bb->name()});
  EXPECT_FALSE(m.bb->input(1)->type().quant) << "b's weights";
  EXPECT_FALSE(m.bb->input(0)->type().quant) << "b's input, read by b alone";
  EXPECT_TRUE(m.a->input(1)->type().quant) << "a's weights stay";
  EXPECT_TRUE(m.c->input(0)->type().quant) << "c's input stays";
  EXPECT_TRUE(m.a->input(0)->type().quant) << "the graph input, read by quantized a, stays";
  EXPECT_THROW(quant::keepFloat(m.b.graph, {"nope"}), InternalError);
}

TEST(MixedPrecision, AnInputAlsoReadByAQuantizedLayerStaysQuantized) {
  test::GraphBuilder b{12};
  ir::Value *x = b.input("x", {1, 4, 6, 6});
  ir::Node *stem = b.node("Relu", {x});
  ir::Node *left = b.node("Conv", {stem->output(0), b.random({4, 4, 1, 1})});
  ir::Node *right = b.node("Conv", {stem->output(0), b.random({4, 4, 1, 1})});
  ir::Node *sum = b.node("Add", {left->output(0), right->output(0)});
  b.finish({sum->output(0)});
  ir::TensorType t = stem->output(0)->type();
  t.quant = QuantParams{{0.05f}, {0}, std::nullopt, DType::I8};
  stem->output(0)->setType(t);
  quant::keepFloat(b.graph, {left->name()});
  EXPECT_TRUE(stem->output(0)->type().quant) << "right still reads it quantized";
  quant::keepFloat(b.graph, {left->name(), right->name()});
  EXPECT_FALSE(stem->output(0)->type().quant) << "only float layers read it now";
}

} // namespace
} // namespace leip
