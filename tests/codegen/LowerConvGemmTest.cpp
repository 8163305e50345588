// Compiled convolutions and Gemm (src/codegen/lower/{Conv,Gemm}.cpp) against the reference
// interpreter on the shapes that pick each kernel path and its edges: the direct
// channel-lane kernel (channel counts that are not a multiple of the lane block, rows that
// leave a remainder tile, stride 2, dilation, asymmetric and SAME padding, 7x7 stems, 1x1
// layers with wide reductions), the implicit GEMM (1-D, run-time weights, small
// reductions), the depthwise kernels (flat small planes, blocked large ones, activations
// applied on registers and after), and the packed Gemm. Each model runs at 1 and 3 threads
// and for three vector widths: AVX-512 tiles (16 lanes), AVX2 tiles (8) and SSE tiles (4),
// all of which this x86_64 host executes.
#include "leip/codegen/Compiler.h"
#include "leip/interp/Interpreter.h"
#include "leip/passes/ShapeInference.h"
#include "leip/runtime.hpp"

#include "CompiledCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace leip;

namespace {

ir::Tensor randomFloats(ir::Shape shape, std::mt19937 &rng, float scale = 1.0f) {
  ir::Tensor t(ir::DType::F32, std::move(shape));
  std::uniform_real_distribution<float> u(-scale, scale);
  for (float &v : t.values<float>()) v = u(rng);
  return t;
}

/// One node (plus an optional activation after it) on a random input.
struct OneNodeModel {
  ir::Graph graph;
  std::vector<ir::Tensor> inputs;
  std::mt19937 rng{7};

  ir::Value *input(const std::string &name, ir::Shape shape) {
    inputs.push_back(randomFloats(shape, rng));
    return graph.addInput(name, ir::TensorType{ir::DType::F32, std::move(shape), {}});
  }
  ir::Value *weights(ir::Shape shape, float scale = 0.3f) {
    return graph.addConstant(graph.uniqueName("w"), randomFloats(std::move(shape), rng, scale));
  }
  ir::Value *node(const std::string &op, std::vector<ir::Value *> in,
                  std::vector<std::pair<std::string, ir::Attribute>> attrs = {}) {
    ir::Node *n = graph.addNode(op, graph.uniqueName(op), in, {graph.uniqueName(op + "_y")});
    for (auto &[k, v] : attrs) n->attrs().set(k, v);
    return n->output(0);
  }
};

using Ints = std::vector<int64_t>;

/// Compiles the model for each vector width, runs it at 1 and 3 threads and expects the
/// interpreter's output within 1e-4 of its largest magnitude.
void expectMatchesInterpreter(OneNodeModel &m, ir::Value *output, const std::string &name) {
  m.graph.addOutput(output);
  passes::inferShapes(m.graph);
  const ir::Tensor want = interp::Interpreter(m.graph).run(m.inputs)[0];
  const std::pair<const char *, const char *> targets[] = {
      {"x86_64", "host"}, {"x86_64 -mcpu=haswell", "avx2"}, {"x86_64 -mcpu=x86-64", "sse"}};
  for (const auto &[target, tag] : targets) {
    SCOPED_TRACE(name + " for " + target);
    fs::path dir = test::compileForTest(m.graph, name + "_" + tag, target);
    for (int threads : {1, 3}) {
      std::vector<std::vector<char>> got = test::runCompiled(dir, m.inputs, threads);
      ASSERT_EQ(got.size(), 1u);
      test::expectCloseToInterpreter(got[0], want, std::to_string(threads) + " thread(s)");
    }
    fs::remove_all(dir);
  }
}

TEST(CodegenConvGemm, DirectConvWithRemainderTilesAndPartialChannelBlock) {
  // 40 output channels: one full 32-lane block and a partial one (and 5 of 8 at AVX2);
  // 13 columns: no tile width divides them. Two images.
  OneNodeModel m;
  ir::Value *y = m.node("Conv", {m.input("x", {2, 20, 13, 13}), m.weights({40, 20, 3, 3}), m.weights({40})},
                        {{"pads", Ints{1, 1, 1, 1}}});
  expectMatchesInterpreter(m, m.node("Relu", {y}), "direct_remainders");
}

TEST(CodegenConvGemm, DirectConvStride2AsymmetricPadsAndClip) {
  OneNodeModel m;
  ir::Value *y = m.node("Conv", {m.input("x", {1, 8, 15, 17}), m.weights({16, 8, 3, 3})},
                        {{"pads", Ints{0, 1, 1, 0}}, {"strides", Ints{2, 2}}});
  expectMatchesInterpreter(m, m.node("Clip", {y, m.graph.addConstant("lo", ir::Tensor::scalar(0.0f)),
                                              m.graph.addConstant("hi", ir::Tensor::scalar(0.5f))}),
                           "direct_stride2");
}

TEST(CodegenConvGemm, DirectConvDilatedWithSamePadding) {
  OneNodeModel m;
  expectMatchesInterpreter(m,
                           m.node("Conv", {m.input("x", {1, 6, 20, 20}), m.weights({33, 6, 3, 3}), m.weights({33})},
                                  {{"dilations", Ints{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}),
                           "direct_dilated");
}

TEST(CodegenConvGemm, DirectConvStem7x7Stride2) {
  OneNodeModel m;
  expectMatchesInterpreter(m,
                           m.node("Conv", {m.input("x", {1, 3, 40, 40}), m.weights({64, 3, 7, 7}), m.weights({64})},
                                  {{"pads", Ints{3, 3, 3, 3}}, {"strides", Ints{2, 2}}}),
                           "direct_stem");
}

/// What the compiler reports when it compiles `graph` for the host.
codegen::CompileResult compileForHost(const ir::Graph &graph, const std::string &name) {
  codegen::CompileOptions options;
  options.target = codegen::hostTarget();
  options.sourcePath = name;
  options.outputDir = (test::workRoot() / name).string();
  codegen::CompileResult result = codegen::compileGraph(graph, options);
  fs::remove_all(options.outputDir);
  return result;
}

int64_t residualAddsFused(const ir::Graph &graph, const std::string &name) {
  return compileForHost(graph, name).residualAddsFused;
}

TEST(CodegenConvGemm, WinogradOddSizesPartialBlocksAndTwoImages) {
  // 17 x 15 outputs (9 x 8 tiles, the last row and column of tiles half outside), 40 output
  // channels (partial lane blocks at every width), 20 input channels, two images; then
  // valid padding on an even plane and asymmetric pads, each with an activation; and a
  // 13 x 13 plane (49 tiles, as resnet18's 14x14 layers; kWinogradMinTiles is 32).
  struct Case {
    Ints xShape, pads;
    int64_t k;
    std::string name;
  };
  const Case cases[] = {{{2, 20, 17, 15}, {1, 1, 1, 1}, 40, "winograd_odd"},
                        {{1, 16, 18, 18}, {0, 0, 0, 0}, 16, "winograd_valid"},
                        {{1, 24, 20, 17}, {0, 1, 1, 0}, 33, "winograd_asymmetric"},
                        {{1, 16, 13, 13}, {1, 1, 1, 1}, 24, "winograd_49_tiles"}};
  for (const Case &c : cases) {
    OneNodeModel m;
    ir::Value *y = m.node("Conv", {m.input("x", c.xShape), m.weights({c.k, c.xShape[1], 3, 3}), m.weights({c.k})},
                          {{"pads", c.pads}});
    expectMatchesInterpreter(m, m.node("Relu", {y}), c.name);
    EXPECT_EQ(compileForHost(m.graph, c.name).winogradConvs, 1) << c.name;
  }
}

TEST(CodegenConvGemm, WinogradResnetBlockWithPaddedOutputsAndResidual) {
  // x -> conv -> Relu (h) -> conv -> Relu (g) -> conv + h -> Relu, plus two more readers of
  // g: a Winograd convolution and a dilated one (the direct kernel, border 2). h and g are
  // written inside the borders their readers need (g inside the wider one, so the two
  // Winograd readers of g start one cell in); the third convolution adds the residual h,
  // and one of g's two side readers adds the other's output.
  OneNodeModel m;
  auto conv3x3 = [&](ir::Value *in, Ints pads, Ints dilations) {
    return m.node("Conv", {in, m.weights({24, 24, 3, 3}), m.weights({24})}, {{"pads", pads}, {"dilations", dilations}});
  };
  const Ints one{1, 1, 1, 1}, unit{1, 1};
  ir::Value *h = m.node("Relu", {conv3x3(m.input("x", {1, 24, 16, 19}), one, unit)});
  ir::Value *g = m.node("Relu", {conv3x3(h, one, unit)});
  ir::Value *out = m.node("Relu", {m.node("Add", {conv3x3(g, one, unit), h})});
  ir::Value *side = m.node("Add", {conv3x3(g, one, unit), conv3x3(g, Ints{2, 2, 2, 2}, Ints{2, 2})});
  expectMatchesInterpreter(m, m.node("Add", {out, side}), "winograd_block");
  const codegen::CompileResult result = compileForHost(m.graph, "winograd_block");
  EXPECT_EQ(result.winogradConvs, 4);
  EXPECT_EQ(result.residualAddsFused, 2);
  EXPECT_EQ(result.paddedOutputs, 2);
}

TEST(CodegenConvGemm, SmallPlanesAndFewChannelsKeepTheDirectKernel) {
  // Under 32 tiles (9 x 9 outputs: 25 tiles), or under 16 input channels: the direct kernel.
  OneNodeModel m;
  const Ints one{1, 1, 1, 1};
  ir::Value *small = m.node("Conv", {m.input("x", {1, 32, 9, 9}), m.weights({32, 32, 3, 3})}, {{"pads", one}});
  ir::Value *few = m.node("Conv", {m.input("z", {1, 8, 20, 20}), m.weights({32, 8, 3, 3})}, {{"pads", one}});
  m.graph.addOutput(small);
  m.graph.addOutput(few);
  passes::inferShapes(m.graph);
  EXPECT_EQ(compileForHost(m.graph, "winograd_not_used").winogradConvs, 0);
}

TEST(CodegenConvGemm, DirectConvWritesTheNextConvolutionsPaddedInput) {
  // conv -> Relu -> conv: the first convolution stores its rows inside the zero border the
  // second reads (no Pad node), for a stride-1 and a stride-2 second layer (whose trimmed
  // bottom/right padding makes the border asymmetric), with rows that leave remainder
  // tiles and a partial channel block; every task zeroes its part of the border.
  for (int64_t stride : {1, 2}) {
    OneNodeModel m;
    ir::Value *h = m.node("Relu", {m.node("Conv", {m.input("x", {2, 24, 11, 13}), m.weights({40, 24, 3, 3}),
                                                   m.weights({40})},
                                          {{"pads", Ints{1, 1, 1, 1}}})});
    ir::Value *y = m.node("Conv", {h, m.weights({20, 40, 3, 3}), m.weights({20})},
                          {{"pads", Ints{1, 2, 1, 1}}, {"strides", Ints{stride, stride}}});
    const std::string name = "padded_output_stride" + std::to_string(stride);
    expectMatchesInterpreter(m, y, name);
    EXPECT_EQ(compileForHost(m.graph, name).paddedOutputs, 1);
  }
}

TEST(CodegenConvGemm, ConvOutputReadByTwoConvsIsPaddedOnce) {
  // Two readers needing borders of 1 and 2: the output is stored inside the wider one and
  // the first reader starts one cell in. A third reader that is not a direct convolution
  // (a Relu) keeps the Pad nodes.
  for (bool reluReader : {false, true}) {
    OneNodeModel m;
    ir::Value *h = m.node("Conv", {m.input("x", {1, 16, 9, 11}), m.weights({16, 16, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}});
    ir::Value *a = m.node("Conv", {h, m.weights({16, 16, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}});
    ir::Value *b = m.node("Conv", {h, m.weights({16, 16, 3, 3})}, {{"pads", Ints{2, 2, 2, 2}}, {"dilations", Ints{2, 2}}});
    ir::Value *sum = m.node("Add", {a, b});
    if (reluReader) sum = m.node("Add", {sum, m.node("Relu", {h})});
    const std::string name = reluReader ? "padded_output_relu_reader" : "padded_output_two_readers";
    expectMatchesInterpreter(m, sum, name);
    EXPECT_EQ(compileForHost(m.graph, name).paddedOutputs, reluReader ? 0 : 1);
  }
}

TEST(CodegenConvGemm, ResnetBlockInputsArePaddedOnce) {
  // A MaxPool, then three resnet blocks: p -> [conv, conv + p] -> h1 -> [conv, conv + h1] ->
  // h2 -> [conv stride 2, conv + 1x1 stride-2 downsample(h2)]. Each block input (the
  // MaxPool's output included) is written once inside the border its 3x3 reader needs; the
  // residual reads (p, h1) and the downsample (h2) read its interior. 40 channels leave a
  // partial channel block.
  OneNodeModel m;
  auto conv = [&](ir::Value *in, int64_t k, int64_t size, int64_t stride) {
    const int64_t pad = size / 2;
    return m.node("Conv", {in, m.weights({k, 40, size, size}), m.weights({k})},
                  {{"pads", Ints{pad, pad, pad, pad}}, {"strides", Ints{stride, stride}}});
  };
  auto block = [&](ir::Value *in, int64_t stride) {
    ir::Value *h = m.node("Relu", {conv(in, 40, 3, stride)});
    ir::Value *shortcut = stride == 1 ? in : conv(in, 40, 1, stride);
    return m.node("Relu", {m.node("Add", {conv(h, 40, 3, 1), shortcut})});
  };
  ir::Value *pooled = m.node("MaxPool", {m.input("x", {1, 40, 26, 21})},
                             {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  ir::Value *out = block(block(block(pooled, 1), 1), 2);
  expectMatchesInterpreter(m, out, "padded_block_inputs");
  const codegen::CompileResult result = compileForHost(m.graph, "padded_block_inputs");
  EXPECT_EQ(result.residualAddsFused, 3);
  // p; inside each block the first conv's output; h1; h2.
  EXPECT_EQ(result.paddedOutputs, 6);
  // h1 over p and h2 over h1 (h2's border is h1's, wider than its stride-2 reader needs);
  // the last block's residual is its downsample.
  EXPECT_EQ(result.outputsOverResiduals, 2);
}

TEST(CodegenConvGemm, DirectConvFoldsTheResidualAdd) {
  // A resnet block, x -> conv -> Relu -> conv -> Add(x) -> Relu, with x as either operand
  // of the Add: the second convolution adds x to its rows and applies the Relu.
  for (bool residualFirst : {false, true}) {
    OneNodeModel m;
    ir::Value *x = m.input("x", {1, 40, 9, 13});
    ir::Value *h = m.node("Relu", {m.node("Conv", {x, m.weights({40, 40, 3, 3}), m.weights({40})},
                                          {{"pads", Ints{1, 1, 1, 1}}})});
    ir::Value *y = m.node("Conv", {h, m.weights({40, 40, 3, 3}), m.weights({40})}, {{"pads", Ints{1, 1, 1, 1}}});
    ir::Value *sum = residualFirst ? m.node("Add", {x, y}) : m.node("Add", {y, x});
    const std::string name = residualFirst ? "residual_first" : "residual_second";
    expectMatchesInterpreter(m, m.node("Relu", {sum}), name);
    EXPECT_EQ(residualAddsFused(m.graph, name), 1);
  }
}

TEST(CodegenConvGemm, DirectConvStoresItsOutputOverTheResidual) {
  // h -> [conv, conv + h]: h's last reader stores its output over h (each task reads its
  // residual cells before it stores them). When the residual is also the convolution's own
  // input, conv(h) + h, the output cannot go over h: other tasks still read it.
  for (bool residualIsInput : {false, true}) {
    OneNodeModel m;
    ir::Value *h = m.node("Relu", {m.node("Conv", {m.input("x", {1, 24, 11, 13}), m.weights({40, 24, 3, 3})},
                                          {{"pads", Ints{1, 1, 1, 1}}})});
    ir::Value *g = residualIsInput ? h
                                   : m.node("Relu", {m.node("Conv", {h, m.weights({40, 40, 3, 3}), m.weights({40})},
                                                            {{"pads", Ints{1, 1, 1, 1}}})});
    ir::Value *y = m.node("Conv", {g, m.weights({40, 40, 3, 3}), m.weights({40})}, {{"pads", Ints{1, 1, 1, 1}}});
    ir::Value *out = m.node("Relu", {m.node("Add", {y, h})});
    const std::string name = residualIsInput ? "residual_is_input" : "output_over_residual";
    expectMatchesInterpreter(m, m.node("Conv", {out, m.weights({8, 40, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}}), name);
    const codegen::CompileResult result = compileForHost(m.graph, name);
    EXPECT_EQ(result.residualAddsFused, 1) << name;
    EXPECT_EQ(result.outputsOverResiduals, residualIsInput ? 0 : 1) << name;
  }
}

TEST(CodegenConvGemm, ResidualAddStaysANodeWhenTheConvOutputIsReadElsewhere) {
  // One convolution's output has a second reader (a Relu), the other's Add broadcasts a
  // [1, C, 1, 1] tensor computed at run time: no Add can be folded.
  OneNodeModel m;
  ir::Value *x = m.input("x", {1, 24, 8, 8});
  ir::Value *y = m.node("Conv", {x, m.weights({24, 24, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}});
  ir::Value *z = m.node("Conv", {x, m.weights({24, 24, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}});
  ir::Value *sum = m.node("Add", {m.node("Add", {y, x}), m.node("Relu", {y})});
  ir::Value *broadcast = m.node("Add", {z, m.node("GlobalAveragePool", {x})});
  expectMatchesInterpreter(m, m.node("Add", {sum, broadcast}), "residual_unfused");
  EXPECT_EQ(residualAddsFused(m.graph, "residual_unfused"), 0);
}

int64_t maxPoolsFused(const ir::Graph &graph, const std::string &name) {
  return compileForHost(graph, name).maxPoolsFused;
}

TEST(CodegenConvGemm, DirectConvFoldsTheMaxPoolAfterIt) {
  // The pool runs on the convolution's rows in the kernel: windows overlapping by one row
  // (a resnet stem, 3x3/2 with padding), not overlapping and dropping the last odd row and
  // column (2x2/2), ceil_mode windows that end past the input, a 3x3/1 window (three pooled
  // rows in progress at once), and a 3x1 window with strides (2, 1). The activations are
  // applied before the pool; a LeakyRelu with a negative slope is not monotonic, so
  // pooling first would give other values.
  struct Case {
    std::string name;
    ir::Shape x, w;
    Ints convPads, convStrides, kernel, strides, pads;
    int64_t ceilMode;
    std::string activation;
  };
  const Case cases[] = {
      {"pool_stem", {1, 3, 40, 38}, {64, 3, 7, 7}, {3, 3, 3, 3}, {2, 2}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, "Relu"},
      {"pool_2x2", {2, 20, 13, 15}, {40, 20, 3, 3}, {1, 1, 1, 1}, {1, 1}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, "Relu"},
      {"pool_ceil", {1, 16, 17, 14}, {24, 16, 3, 3}, {0, 0, 0, 0}, {1, 1}, {3, 3}, {2, 2}, {0, 1, 0, 0}, 1, "LeakyRelu"},
      {"pool_3x3_stride1", {1, 8, 12, 11}, {33, 8, 3, 3}, {1, 1, 1, 1}, {1, 1}, {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, ""},
      {"pool_3x1_stride21", {1, 8, 12, 11}, {16, 8, 5, 5}, {2, 2, 2, 2}, {1, 1}, {3, 1}, {2, 1}, {1, 0, 1, 0}, 0,
       "Sigmoid"},
  };
  for (const Case &c : cases) {
    OneNodeModel m;
    ir::Value *y = m.node("Conv", {m.input("x", c.x), m.weights(c.w), m.weights({c.w[0]})},
                          {{"pads", c.convPads}, {"strides", c.convStrides}});
    if (c.activation == "LeakyRelu") y = m.node("LeakyRelu", {y}, {{"alpha", -0.5f}});
    else if (!c.activation.empty()) y = m.node(c.activation, {y});
    ir::Value *pooled = m.node("MaxPool", {y}, {{"kernel_shape", c.kernel}, {"strides", c.strides}, {"pads", c.pads},
                                               {"ceil_mode", c.ceilMode}});
    expectMatchesInterpreter(m, pooled, c.name);
    EXPECT_EQ(maxPoolsFused(m.graph, c.name), 1) << c.name;
  }
}

TEST(CodegenConvGemm, FusedMaxPoolWritesTheNextConvolutionsPaddedInput) {
  // conv -> Relu -> MaxPool -> conv: the fused node stores the pooled rows inside the zero
  // border the second convolution reads.
  OneNodeModel m;
  ir::Value *h = m.node("Relu", {m.node("Conv", {m.input("x", {1, 3, 30, 27}), m.weights({40, 3, 7, 7}),
                                                 m.weights({40})},
                                        {{"pads", Ints{3, 3, 3, 3}}, {"strides", Ints{2, 2}}})});
  ir::Value *pooled = m.node("MaxPool", {h}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}},
                                              {"pads", Ints{1, 1, 1, 1}}});
  ir::Value *y = m.node("Conv", {pooled, m.weights({16, 40, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}});
  expectMatchesInterpreter(m, y, "pool_padded_output");
  const codegen::CompileResult result = compileForHost(m.graph, "pool_padded_output");
  EXPECT_EQ(result.maxPoolsFused, 1);
  EXPECT_EQ(result.paddedOutputs, 1);
}

TEST(CodegenConvGemm, MaxPoolStaysANodeWhenItCannotBeFolded) {
  // The convolution's output has a second reader; a MaxPool with an Indices output; a
  // dilated pool window; a convolution that is not a direct one (depthwise).
  OneNodeModel m;
  ir::Value *x = m.input("x", {1, 16, 12, 12});
  const std::vector<std::pair<std::string, ir::Attribute>> pool{{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}};
  ir::Value *shared = m.node("Conv", {x, m.weights({16, 16, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}});
  ir::Value *sum = m.node("Add", {m.node("MaxPool", {shared}, pool), m.node("MaxPool", {m.node("Relu", {shared})}, pool)});
  ir::Node *withIndices = m.graph.addNode("MaxPool", "with_indices",
                                          {m.node("Conv", {x, m.weights({16, 16, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}})},
                                          {"pooled_values", "pooled_indices"});
  for (auto &[k, v] : pool) withIndices->attrs().set(k, v);
  sum = m.node("Add", {sum, withIndices->output(0)});
  ir::Value *dilated = m.node("MaxPool", {m.node("Conv", {x, m.weights({16, 16, 3, 3})}, {{"pads", Ints{1, 1, 1, 1}}})},
                              {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"dilations", Ints{2, 2}},
                               {"pads", Ints{0, 0, 1, 1}}});
  sum = m.node("Add", {sum, dilated});
  ir::Value *depthwise = m.node("MaxPool", {m.node("Conv", {x, m.weights({16, 1, 3, 3})},
                                                   {{"group", int64_t{16}}, {"pads", Ints{1, 1, 1, 1}}})},
                                pool);
  expectMatchesInterpreter(m, m.node("Add", {sum, depthwise}), "pool_unfused");
  EXPECT_EQ(maxPoolsFused(m.graph, "pool_unfused"), 0);
}

TEST(CodegenConvGemm, PointwiseConvWithWideAndNarrowReductions) {
  OneNodeModel wide; // 200 input channels, 64 output channels (whole lane blocks): the direct kernel
  expectMatchesInterpreter(wide, wide.node("Conv", {wide.input("x", {1, 200, 9, 9}), wide.weights({64, 200, 1, 1})}),
                           "pointwise_wide");
  OneNodeModel fewOutputs; // 24 output channels would leave a third of a lane block empty: the implicit GEMM
  expectMatchesInterpreter(fewOutputs,
                           fewOutputs.node("Conv", {fewOutputs.input("x", {1, 144, 12, 12}),
                                                    fewOutputs.weights({24, 144, 1, 1})}),
                           "pointwise_few_outputs");
  // 300 input channels on 7x7 planes: the direct kernel in 64-channel chunks (4 full and
  // one of 44), the small-plane chunk size at every vector width; the 7 rows of a task run
  // as one row of 49 positions (the input has no border). The wide case above takes
  // 128-channel chunks (128 + 72).
  OneNodeModel chunked;
  ir::Value *c = chunked.node("Conv", {chunked.input("x", {1, 300, 7, 7}), chunked.weights({40, 300, 1, 1}),
                                       chunked.weights({40})});
  expectMatchesInterpreter(chunked, chunked.node("Relu", {c}), "pointwise_chunked");
  OneNodeModel narrow; // 16: the implicit GEMM reading the input unpacked, Relu in registers
  ir::Value *y = narrow.node("Conv", {narrow.input("x", {1, 16, 30, 30}), narrow.weights({24, 16, 1, 1}),
                                      narrow.weights({24})});
  expectMatchesInterpreter(narrow, narrow.node("Relu", {y}), "pointwise_narrow");
  // 460 positions: spans of full tiles (16 or 32 positions) and a partial last tile; 22
  // output channels (not a multiple of the 6-row micro-kernel); LeakyRelu applied after
  // each span.
  OneNodeModel leaky;
  ir::Value *z = leaky.node("Conv", {leaky.input("x", {1, 16, 20, 23}), leaky.weights({22, 16, 1, 1}),
                                     leaky.weights({22})});
  expectMatchesInterpreter(leaky, leaky.node("LeakyRelu", {z}, {{"alpha", 0.1f}}), "pointwise_narrow_leaky");
}

TEST(CodegenConvGemm, ImplicitGemmPaths) {
  OneNodeModel oneD; // 1-D: a 2-D convolution of height 1
  expectMatchesInterpreter(oneD,
                           oneD.node("Conv", {oneD.input("x", {1, 16, 50}), oneD.weights({12, 16, 5})},
                                     {{"pads", Ints{2, 2}}, {"strides", Ints{2}}}),
                           "conv1d");
  OneNodeModel runtimeWeights; // weights known only at run time cannot be packed
  expectMatchesInterpreter(
      runtimeWeights,
      runtimeWeights.node("Conv", {runtimeWeights.input("x", {1, 4, 11, 11}), runtimeWeights.input("w", {6, 4, 3, 3})},
                          {{"pads", Ints{1, 1, 1, 1}}}),
      "runtime_weights");
  OneNodeModel grouped;
  expectMatchesInterpreter(grouped,
                           grouped.node("Conv", {grouped.input("x", {1, 12, 10, 10}), grouped.weights({18, 4, 3, 3})},
                                        {{"group", int64_t{3}}, {"pads", Ints{1, 1, 1, 1}}}),
                           "grouped");
}

TEST(CodegenConvGemm, DepthwiseSmallAndLargePlanes) {
  OneNodeModel small; // flat kernel; HardSwish is applied after the plane
  ir::Value *y = small.node("Conv", {small.input("x", {1, 8, 14, 9}), small.weights({8, 1, 3, 3}), small.weights({8})},
                            {{"group", int64_t{8}}, {"pads", Ints{1, 1, 1, 1}}});
  expectMatchesInterpreter(small, small.node("HardSwish", {y}), "depthwise_flat");
  OneNodeModel large; // blocked kernel, stride 2, Relu on registers
  ir::Value *z = large.node("Conv", {large.input("x", {1, 4, 70, 75}), large.weights({4, 1, 3, 3})},
                            {{"group", int64_t{4}}, {"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
  expectMatchesInterpreter(large, large.node("Relu", {z}), "depthwise_blocked");
  // Blocked kernel, stride 2, 8 output columns: one vector per row at 8 lanes (120 rows: too
  // many for the flat stride-2 kernel's buffers).
  OneNodeModel narrow;
  ir::Value *v = narrow.node("Conv", {narrow.input("x", {1, 5, 240, 15}), narrow.weights({5, 1, 3, 3})},
                             {{"group", int64_t{5}}, {"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}});
  expectMatchesInterpreter(narrow, narrow.node("Relu", {v}), "depthwise_blocked_narrow");
  // Blocked kernel, stride 2, whose rows are split into even and odd columns: no left pad
  // (even columns start at column 0) and an even width, then a left pad of 1 and an odd one
  // (121 rows: blocked, not flat). Each parity of width + left pad: a row's last columns are
  // split from a window that ends at its last column, or one before it (that column stored
  // alone).
  for (const auto &[w, pads] : {std::pair<int64_t, Ints>{34, {0, 0, 1, 1}}, {33, {1, 1, 1, 1}},
                                {34, {1, 1, 1, 1}}, {33, {0, 0, 1, 1}}}) {
    OneNodeModel split;
    ir::Value *u = split.node("Conv", {split.input("x", {1, 3, 121, w}), split.weights({3, 1, 3, 3}), split.weights({3})},
                              {{"group", int64_t{3}}, {"pads", pads}, {"strides", Ints{2, 2}}});
    expectMatchesInterpreter(split, u, "depthwise_blocked_s2_w" + std::to_string(w) + "_l" + std::to_string(pads[1]));
  }
  OneNodeModel clipped; // blocked kernel, stride 1, 39 rows (a partial block of 4), Clip per block
  ir::Value *c = clipped.node("Conv", {clipped.input("x", {1, 3, 39, 40}), clipped.weights({3, 1, 3, 3}),
                                       clipped.weights({3})},
                              {{"group", int64_t{3}}, {"pads", Ints{1, 1, 1, 1}}});
  expectMatchesInterpreter(clipped,
                           clipped.node("Clip", {c, clipped.graph.addConstant("lo", ir::Tensor::scalar(-0.5f)),
                                                 clipped.graph.addConstant("hi", ir::Tensor::scalar(0.5f))}),
                           "depthwise_blocked_clip");
}

// The flat stride-2 kernel (outputs up to 21 x 21): the padded plane split into four phases.
// Pads on every side or none, odd and even widths, an input row and column that no output
// reads, the largest plane the kernel's buffers take (42 x 42 in, 21 x 21 out), and each way
// of applying the activation (Relu and Clip on registers, HardSwish after the plane).
TEST(CodegenConvGemm, DepthwiseStride2SmallPlanes) {
  struct Case {
    Ints shape, pads;
    std::string activation;
  };
  const Case cases[] = {{{1, 6, 14, 14}, {1, 1, 1, 1}, "Clip"},
                        {{1, 3, 15, 16}, {0, 0, 1, 1}, "Relu"},
                        {{1, 3, 28, 27}, {1, 2, 1, 0}, "HardSwish"},
                        {{1, 2, 10, 12}, {0, 0, 0, 0}, "Relu"},
                        {{1, 2, 42, 42}, {1, 1, 1, 1}, "Clip"}};
  for (const Case &c : cases) {
    OneNodeModel m;
    const int64_t channels = c.shape[1];
    ir::Value *y = m.node("Conv", {m.input("x", c.shape), m.weights({channels, 1, 3, 3}), m.weights({channels})},
                          {{"group", channels}, {"pads", c.pads}, {"strides", Ints{2, 2}}});
    if (c.activation == "Clip")
      y = m.node("Clip", {y, m.graph.addConstant("lo", ir::Tensor::scalar(0.0f)),
                          m.graph.addConstant("hi", ir::Tensor::scalar(0.4f))});
    else
      y = m.node(c.activation, {y});
    expectMatchesInterpreter(m, y,
                             "depthwise_flat_s2_" + std::to_string(c.shape[2]) + "x" + std::to_string(c.shape[3]));
  }
}

TEST(CodegenConvGemm, PackedGemm) {
  OneNodeModel vector; // one row, B [K, N], alpha and beta folded into the packing
  expectMatchesInterpreter(vector,
                           vector.node("Gemm", {vector.input("a", {1, 300}), vector.weights({300, 70}),
                                                vector.weights({70})},
                                       {{"alpha", 0.5f}, {"beta", 2.0f}}),
                           "gemm_vector");
  OneNodeModel matrix; // 20 rows, B given transposed, then Relu
  ir::Value *y = matrix.node("Gemm", {matrix.input("a", {20, 64}), matrix.weights({50, 64})},
                             {{"transB", int64_t{1}}});
  expectMatchesInterpreter(matrix, matrix.node("Relu", {y}), "gemm_matrix");
}

} // namespace
