// Graph passes (src/passes): BatchNormalization folding, bias and activation fusion, the
// compile pipeline. Each case runs the interpreter on the graph before and after the
// passes and requires the same function (max relative error <= 1e-5) and the expected
// structure.
#include "leip/frontend/OnnxImporter.h"
#include "leip/interp/Interpreter.h"
#include "leip/ir/FusedActivation.h"
#include "leip/passes/FoldBatchNorm.h"
#include "leip/passes/FuseActivations.h"
#include "leip/passes/Pipeline.h"
#include "leip/passes/ShapeInference.h"
#include "leip/support/Error.h"

#include "TestGraphs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace leip;
using namespace leip::ir;

namespace {

using test::randomInputs;
using test::relativeError;

/// Runs `graph` before and after optimizeForCompile (on a clone) on the same random
/// inputs; expects the same outputs (names included). Returns the optimized graph.
std::unique_ptr<Graph> checkSameFunction(const Graph &graph, double tolerance = 1e-5) {
  std::unique_ptr<Graph> optimized = passes::cloneGraph(graph);
  passes::optimizeForCompile(*optimized);
  std::vector<Tensor> inputs = randomInputs(graph, 7);
  std::vector<Tensor> want = interp::Interpreter(graph).run(inputs);
  std::vector<Tensor> got = interp::Interpreter(*optimized).run(inputs);
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    EXPECT_EQ(optimized->outputs()[i]->name(), graph.outputs()[i]->name());
    EXPECT_LE(relativeError(got[i], want[i]), tolerance) << "output " << i;
  }
  return optimized;
}

std::map<std::string, int> opCounts(const Graph &graph) {
  std::map<std::string, int> counts;
  for (const Node *node : graph.nodes()) ++counts[node->opType()];
  return counts;
}

/// GraphBuilder with BatchNormalization.
class Builder : public test::GraphBuilder {
public:
  /// BatchNormalization over `channels` with random statistics (variance in [0.5, 2]).
  Node *batchNorm(Value *x, int64_t channels) {
    return node("BatchNormalization", {x, random({channels}, 0.5f, 1.5f), random({channels}),
                                       random({channels}), random({channels}, 0.5f, 2.0f)},
                {{"epsilon", 1e-3f}});
  }
};

std::filesystem::path modelsDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "models";
}

} // namespace

TEST(Passes, ConvBatchNormReluBecomesOneFusedConv) {
  Builder b;
  Value *x = b.input("x", {2, 3, 9, 9});
  Node *conv = b.node("Conv", {x, b.random({4, 3, 3, 3}), b.random({4})}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  Node *bn = b.batchNorm(conv->output(0), 4);
  Node *relu = b.node("Relu", {bn->output(0)});
  Graph &g = b.finish({relu->output(0)});
  auto opt = checkSameFunction(g);
  EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Conv", 1}}));
  const Node *fused = opt->nodes()[0];
  EXPECT_EQ(fused->attrs().getString("activation", ""), "Relu");
  EXPECT_EQ(fused->output(0)->name(), relu->output(0)->name());
}

TEST(Passes, GroupedConvTransposeBatchNormFolds) {
  Builder b;
  Value *x = b.input("x", {1, 4, 5, 5});
  Node *deconv = b.node("ConvTranspose", {x, b.random({4, 3, 3, 3})},
                        {{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}}});
  Node *bn = b.batchNorm(deconv->output(0), 6);
  Graph &g = b.finish({bn->output(0)});
  auto opt = checkSameFunction(g);
  EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"ConvTranspose", 1}}));
}

TEST(Passes, GemmBatchNormClipFoldsIntoGemm) {
  Builder b;
  Value *x = b.input("x", {3, 8});
  Node *gemm = b.node("Gemm", {x, b.random({5, 8}), b.random({5})}, {{"transB", int64_t{1}}, {"beta", 0.5f}});
  Node *bn = b.batchNorm(gemm->output(0), 5);
  Node *clip = b.node("Clip", {bn->output(0), b.scalar(0.0f), b.scalar(0.3f)});
  Graph &g = b.finish({clip->output(0)});
  auto opt = checkSameFunction(g);
  EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Gemm", 1}}));
  FusedActivation act = fusedActivation(*opt->nodes()[0]);
  EXPECT_EQ(act.kind, ActivationKind::Clip);
  EXPECT_EQ(act.beta, 0.3f);
}

TEST(Passes, BatchNormWithoutFoldableProducerBecomesMulAdd) {
  Builder b;
  Value *x = b.input("x", {2, 3, 4, 4});
  Node *bn = b.batchNorm(x, 3);
  Graph &g = b.finish({bn->output(0)});
  auto opt = checkSameFunction(g);
  EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Add", 1}, {"Mul", 1}}));
}

TEST(Passes, ConvWithTwoUsersKeepsItsBatchNorm) {
  Builder b;
  Value *x = b.input("x", {1, 2, 6, 6});
  Node *conv = b.node("Conv", {x, b.random({3, 2, 1, 1})});
  Node *bn = b.batchNorm(conv->output(0), 3);
  Node *add = b.node("Add", {bn->output(0), conv->output(0)});
  Graph &g = b.finish({add->output(0)});
  auto opt = checkSameFunction(g);
  EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Add", 2}, {"Conv", 1}, {"Mul", 1}}));
}

TEST(Passes, BiasAddAndActivationsFuse) {
  struct Case {
    std::string op;
    std::vector<std::pair<std::string, Attribute>> attrs;
    ActivationKind kind;
  };
  std::vector<Case> cases = {{"Sigmoid", {}, ActivationKind::Sigmoid},
                             {"Tanh", {}, ActivationKind::Tanh},
                             {"HardSwish", {}, ActivationKind::HardSwish},
                             {"LeakyRelu", {{"alpha", 0.2f}}, ActivationKind::LeakyRelu},
                             {"HardSigmoid", {{"alpha", 0.3f}, {"beta", 0.4f}}, ActivationKind::HardSigmoid}};
  for (const Case &c : cases) {
    Builder b;
    Value *x = b.input("x", {2, 3, 5, 5});
    Node *conv = b.node("Conv", {x, b.random({4, 3, 3, 3})}, {{"strides", std::vector<int64_t>{2, 2}}});
    Node *add = b.node("Add", {b.random({4, 1, 1}), conv->output(0)});
    Node *act = b.node(c.op, {add->output(0)}, c.attrs);
    Graph &g = b.finish({act->output(0)});
    auto opt = checkSameFunction(g);
    EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Conv", 1}})) << c.op;
    EXPECT_EQ(fusedActivation(*opt->nodes()[0]).kind, c.kind) << c.op;
    EXPECT_EQ(opt->nodes()[0]->numInputs(), 3u) << c.op;
  }
}

TEST(Passes, SiluAndHardSwishPatternsFuse) {
  for (bool silu : {true, false}) {
    Builder b;
    Value *x = b.input("x", {1, 3, 6, 6});
    Node *conv = b.node("Conv", {x, b.random({5, 3, 1, 1}), b.random({5})});
    Node *gate = silu ? b.node("Sigmoid", {conv->output(0)})
                      : b.node("HardSigmoid", {conv->output(0)}, {{"alpha", 1.0f / 6.0f}, {"beta", 0.5f}});
    Node *mul = b.node("Mul", {gate->output(0), conv->output(0)});
    Graph &g = b.finish({mul->output(0)});
    auto opt = checkSameFunction(g);
    EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Conv", 1}}));
    EXPECT_EQ(fusedActivation(*opt->nodes()[0]).kind, silu ? ActivationKind::Silu : ActivationKind::HardSwish);
  }
}

TEST(Passes, GemmBiasAddFoldsAndGraphOutputsStay) {
  Builder b;
  Value *x = b.input("x", {4, 6});
  Node *gemm = b.node("Gemm", {x, b.random({6, 3})}, {{"alpha", 2.0f}});
  Node *add = b.node("Add", {gemm->output(0), b.random({1, 3})});
  Node *relu = b.node("Relu", {add->output(0)});
  // A Conv whose output is a graph output keeps its activation node.
  Value *img = b.input("img", {1, 2, 4, 4});
  Node *conv = b.node("Conv", {img, b.random({2, 2, 1, 1})});
  Node *relu2 = b.node("Relu", {conv->output(0)});
  Graph &g = b.finish({relu->output(0), conv->output(0), relu2->output(0)});
  auto opt = checkSameFunction(g);
  EXPECT_EQ(opCounts(*opt), (std::map<std::string, int>{{"Conv", 1}, {"Gemm", 1}, {"Relu", 1}}));
}

TEST(Passes, InterpreterRejectsUnknownFusedActivation) {
  Builder b;
  Value *x = b.input("x", {1, 1, 2, 2});
  Node *conv = b.node("Conv", {x, b.random({1, 1, 1, 1})});
  Graph &g = b.finish({conv->output(0)});
  conv->attrs().set("activation", std::string("Swishy"));
  std::vector<Tensor> inputs = randomInputs(g, 1);
  EXPECT_THROW(interp::Interpreter(g).run(inputs), BadInputError);
  conv->attrs().set("activation", std::string("Clip"));
  EXPECT_THROW(interp::Interpreter(g).run(inputs), BadInputError); // Clip needs 2 params
}

TEST(Passes, CloneGraphIsIndependent) {
  Builder b;
  Value *x = b.input("x", {1, 2, 3, 3});
  Node *conv = b.node("Conv", {x, b.random({2, 2, 1, 1})});
  Node *relu = b.node("Relu", {conv->output(0)});
  Graph &g = b.finish({relu->output(0)});
  auto copy = passes::cloneGraph(g);
  passes::optimizeForCompile(*copy);
  EXPECT_EQ(g.numNodes(), 2u);
  EXPECT_EQ(copy->numNodes(), 1u);
  EXPECT_EQ(copy->outputs()[0]->type(), g.outputs()[0]->type());
}

class ExampleModelPasses : public ::testing::TestWithParam<std::string> {};

TEST_P(ExampleModelPasses, SameFunctionNoBatchNormLeft) {
  frontend::ImportOptions options;
  options.inputShapes = frontend::parseInputShapes("2,1,28,28");
  auto graph = frontend::loadModel((modelsDir() / (GetParam() + ".onnx")).string(), options);
  auto opt = checkSameFunction(*graph);
  auto counts = opCounts(*opt);
  EXPECT_EQ(counts.count("BatchNormalization"), 0u);
  EXPECT_EQ(counts.count("Clip"), 0u);
  EXPECT_EQ(counts.count("Identity"), 0u);
  EXPECT_LT(opt->numNodes(), graph->numNodes());
}

INSTANTIATE_TEST_SUITE_P(Models, ExampleModelPasses, ::testing::Values("fmnist_mobilenetv2", "fmnist_resnet"));
