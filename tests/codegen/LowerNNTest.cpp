// Compiled NN ops (src/codegen/lower/{Pool,ConvTranspose,Normalization,Resize,GridSample,
// Einsum,IntegerNN}.cpp) against the reference interpreter, on shapes that the ONNX
// conformance cases do not reach: tiles and their edges (ConvTranspose's 16/32-column
// register tiles and the overlapping last tile, Resize's row loops), 1-D and 3-D windows,
// activations fused into ConvTranspose, int8 paths, Einsum (whose conformance cases are
// float64), LpPool. Every model runs at 1 and 3 threads: outputs must match the interpreter
// (f32 within 1e-4 of the largest magnitude, integers exactly) and be bitwise identical for
// both thread counts.
#include "leip/codegen/Compiler.h"
#include "leip/interp/Interpreter.h"
#include "leip/passes/ShapeInference.h"
#include "leip/runtime.hpp"
#include "leip/support/Error.h"

#include "CompiledCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace leip;

namespace {

/// Builds a small graph node by node with random data.
class GraphBuilder {
public:
  ir::Graph graph;

  ir::Value *input(const std::string &name, ir::DType dtype, ir::Shape shape) {
    ir::Tensor t(dtype, shape);
    fillRandom(t);
    inputs_.push_back(t);
    return graph.addInput(name, ir::TensorType{dtype, std::move(shape), {}});
  }
  ir::Value *constant(ir::DType dtype, ir::Shape shape, float scale = 1.0f) {
    ir::Tensor t(dtype, std::move(shape));
    fillRandom(t, scale);
    return graph.addConstant(graph.uniqueName("c"), t);
  }
  ir::Value *constant(ir::Tensor t) { return graph.addConstant(graph.uniqueName("c"), std::move(t)); }
  /// The node's outputs (`outputs` of them); every one becomes a graph output when `output`.
  std::vector<ir::Value *> node(const std::string &op, std::vector<ir::Value *> in,
                                std::vector<std::pair<std::string, ir::Attribute>> attrs = {}, size_t outputs = 1,
                                bool output = true) {
    std::vector<std::string> names;
    for (size_t i = 0; i < outputs; ++i) names.push_back(graph.uniqueName(op + "_y" + std::to_string(i)));
    ir::Node *n = graph.addNode(op, graph.uniqueName(op), in, names);
    for (auto &[k, v] : attrs) n->attrs().set(k, v);
    if (output)
      for (ir::Value *v : n->outputs()) graph.addOutput(v);
    return n->outputs();
  }
  const std::vector<ir::Tensor> &inputs() const { return inputs_; }

private:
  void fillRandom(ir::Tensor &t, float scale = 1.0f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::uniform_int_distribution<int> bytes(-128, 255);
    for (int64_t i = 0; i < t.numElements(); ++i) {
      switch (t.dtype()) {
      case ir::DType::F32: t.data<float>()[i] = u(rng_); break;
      case ir::DType::I8: t.data<int8_t>()[i] = static_cast<int8_t>(bytes(rng_) % 128); break;
      case ir::DType::U8: t.data<uint8_t>()[i] = static_cast<uint8_t>(bytes(rng_) & 255); break;
      default: t.setFromDouble(i, std::floor(u(rng_) * 10)); break;
      }
    }
  }
  std::mt19937 rng_{7};
  std::vector<ir::Tensor> inputs_;
};

/// Compiles the builder's graph, runs it at 1 and 3 threads and compares with the interpreter.
void checkCompiled(GraphBuilder &b, const std::string &name) {
  passes::inferShapes(b.graph);
  std::vector<ir::Tensor> want = interp::Interpreter(b.graph).run(b.inputs());
  fs::path dir = test::compileForTest(b.graph, name);
  std::vector<std::vector<char>> one = test::runCompiled(dir, b.inputs(), 1);
  std::vector<std::vector<char>> three = test::runCompiled(dir, b.inputs(), 3);
  ASSERT_EQ(one.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    test::expectCloseToInterpreter(one[i], want[i], name + " output " + std::to_string(i), 1e-6);
    EXPECT_EQ(one[i], three[i]) << name << " output " << i << " differs between 1 and 3 threads";
  }
}

using Ints = std::vector<int64_t>;

} // namespace

// Width 37 at stride 3 gives phases of 13..12 columns (scalar), width 113 at stride 1 whole
// 16/32-column tiles plus an overlapping last one; groups, dilations, output_padding, bias and a
// Relu that the compile passes fuse into the ConvTranspose.
TEST(CodegenNN, ConvTranspose) {
  GraphBuilder b;
  ir::Value *x = b.input("x", ir::DType::F32, {2, 8, 5, 37});
  ir::Value *t = b.node("ConvTranspose", {x, b.constant(ir::DType::F32, {8, 3, 3, 4}), b.constant(ir::DType::F32, {6})},
                        {{"group", int64_t{2}},
                         {"strides", Ints{2, 3}},
                         {"dilations", Ints{2, 1}},
                         {"pads", Ints{1, 0, 2, 1}},
                         {"output_padding", Ints{1, 2}}},
                        1, false)[0];
  b.node("Relu", {t});
  ir::Value *wide = b.input("wide", ir::DType::F32, {1, 5, 3, 113});
  b.node("ConvTranspose", {wide, b.constant(ir::DType::F32, {5, 7, 3, 3}), b.constant(ir::DType::F32, {7})},
         {{"pads", Ints{1, 1, 1, 1}}});
  ir::Value *line = b.input("line", ir::DType::F32, {1, 3, 70});
  b.node("ConvTranspose", {line, b.constant(ir::DType::F32, {3, 2, 4})},
         {{"strides", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}});
  ir::Value *vol = b.input("vol", ir::DType::F32, {1, 4, 3, 5, 20});
  b.node("ConvTranspose", {vol, b.constant(ir::DType::F32, {4, 3, 2, 3, 3})},
         {{"strides", Ints{1, 2, 2}}, {"pads", Ints{0, 1, 1, 0, 0, 0}}});
  checkCompiled(b, "conv_transpose");
}

TEST(CodegenNN, PoolingOfAnyRank) {
  GraphBuilder b;
  ir::Value *vol = b.input("vol", ir::DType::F32, {2, 3, 7, 9, 10});
  b.node("MaxPool", {vol},
         {{"kernel_shape", Ints{2, 3, 3}}, {"strides", Ints{2, 2, 2}}, {"pads", Ints{0, 1, 1, 1, 1, 1}},
          {"ceil_mode", int64_t{1}}},
         2);
  b.node("AveragePool", {vol},
         {{"kernel_shape", Ints{3, 3, 3}}, {"strides", Ints{2, 1, 2}}, {"pads", Ints{1, 1, 1, 1, 1, 1}},
          {"count_include_pad", int64_t{1}}});
  ir::Value *img = b.input("img", ir::DType::F32, {1, 2, 11, 12});
  b.node("MaxPool", {img},
         {{"kernel_shape", Ints{3, 2}}, {"dilations", Ints{2, 2}}, {"strides", Ints{1, 2}},
          {"storage_order", int64_t{1}}},
         2);
  // 2-D f32 MaxPools without Indices or dilation take the row kernel: stride 2 (split columns),
  // stride 1 with uneven pads, and ceil mode, whose last windows hang over the padding.
  ir::Value *stem = b.input("stem", ir::DType::F32, {1, 3, 13, 17});
  b.node("MaxPool", {stem}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  b.node("MaxPool", {stem}, {{"kernel_shape", Ints{2, 4}}, {"pads", Ints{0, 2, 1, 1}}});
  b.node("MaxPool", {stem},
         {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{3, 2}}, {"ceil_mode", int64_t{1}}, {"pads", Ints{0, 0, 1, 1}}});
  b.node("LpPool", {img}, {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}, {"p", int64_t{3}}});
  b.node("GlobalLpPool", {img}, {{"p", int64_t{2}}});
  ir::Value *line = b.input("line", ir::DType::F32, {2, 3, 20});
  b.node("AveragePool", {line},
         {{"kernel_shape", Ints{4}}, {"strides", Ints{3}}, {"auto_pad", std::string("SAME_LOWER")}});
  ir::Value *bytes = b.input("bytes", ir::DType::I8, {2, 3, 19});
  b.node("MaxPool", {bytes}, {{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"pads", Ints{1, 1}}});
  checkCompiled(b, "pooling");
}

// BatchNormalization whose parameters are graph inputs is not folded by the passes.
TEST(CodegenNN, Normalizations) {
  GraphBuilder b;
  ir::Value *x = b.input("x", ir::DType::F32, {2, 5, 7, 3});
  ir::Value *var = b.node("Abs", {b.input("var", ir::DType::F32, {5})}, {}, 1, false)[0];
  b.node("BatchNormalization",
         {x, b.input("scale", ir::DType::F32, {5}), b.input("bias", ir::DType::F32, {5}),
          b.input("mean", ir::DType::F32, {5}), var},
         {{"epsilon", 1e-3f}});
  b.node("InstanceNormalization", {x, b.constant(ir::DType::F32, {5}), b.constant(ir::DType::F32, {5})});
  b.node("LayerNormalization", {x, b.constant(ir::DType::F32, {1, 3}), b.constant(ir::DType::F32, {3})},
         {{"axis", int64_t{2}}}, 3);
  b.node("MeanVarianceNormalization", {x}, {{"axes", Ints{1, 3}}});
  b.node("LRN", {x}, {{"size", int64_t{4}}, {"alpha", 1e-2f}, {"beta", 0.6f}, {"bias", 2.0f}});
  ir::Value *rows = b.input("rows", ir::DType::F32, {37, 300});
  b.node("LayerNormalization", {rows, b.constant(ir::DType::F32, {300}), b.constant(ir::DType::F32, {300})});
  checkCompiled(b, "normalizations");
}

TEST(CodegenNN, Resize) {
  GraphBuilder b;
  ir::Value *noRoi = b.constant(ir::Tensor(ir::DType::F32, {0}));
  auto scales = [&](std::vector<float> v) {
    return b.constant(ir::Tensor::fromVector(ir::DType::F32, {static_cast<int64_t>(v.size())}, v));
  };
  ir::Value *x = b.input("x", ir::DType::F32, {1, 4, 33, 47});
  b.node("Resize", {x, noRoi, scales({1, 1, 2, 2})}, {{"mode", std::string("linear")}});
  b.node("Resize", {x, noRoi, scales({1, 1, 0.6f, 1.7f})}, {{"mode", std::string("cubic")}});
  b.node("Resize", {x, noRoi, scales({1, 2, 1.5f, 0.5f})},
         {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}});
  std::vector<float> box{0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.4f}; // partly outside the input
  ir::Value *roi = b.constant(ir::Tensor::fromVector(ir::DType::F32, {8}, box));
  ir::Value *sizes = b.constant(ir::Tensor::fromVector(ir::DType::I64, {4}, Ints{1, 4, 20, 30}));
  b.node("Resize", {x, roi, b.constant(ir::Tensor(ir::DType::F32, {0})), sizes},
         {{"mode", std::string("linear")},
          {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
          {"extrapolation_value", 7.5f}});
  // Rows wider than the kernel's stack row (4096) take the per-input-row path.
  ir::Value *wide = b.input("wide", ir::DType::F32, {1, 1, 3, 5000});
  b.node("Resize", {wide, noRoi, scales({1, 1, 2, 0.5f})}, {{"mode", std::string("linear")}});
  ir::Value *bytes = b.input("bytes", ir::DType::I8, {2, 3, 10, 12});
  b.node("Resize", {bytes, noRoi, scales({1, 1, 1.6f, 2.5f})}, {{"nearest_mode", std::string("floor")}});
  checkCompiled(b, "resize");
}

TEST(CodegenNN, GridSample) {
  GraphBuilder b;
  ir::Value *x = b.input("x", ir::DType::F32, {2, 3, 8, 9});
  ir::Value *grid = b.node("Mul", {b.input("grid", ir::DType::F32, {2, 5, 6, 2}), b.constant(ir::Tensor::scalar(1.3f))},
                           {}, 1, false)[0];
  for (const char *mode : {"bilinear", "nearest", "bicubic"})
    b.node("GridSample", {x, grid}, {{"mode", std::string(mode)}, {"padding_mode", std::string("reflection")}});
  b.node("GridSample", {x, grid}, {{"padding_mode", std::string("border")}, {"align_corners", int64_t{1}}});
  checkCompiled(b, "grid_sample");
}

TEST(CodegenNN, Einsum) {
  GraphBuilder b;
  ir::Value *a = b.input("a", ir::DType::F32, {3, 5, 7}), *c = b.input("c", ir::DType::F32, {3, 7, 9});
  b.node("Einsum", {a, c}, {{"equation", std::string("bij,bjk->bik")}});
  b.node("Einsum", {a}, {{"equation", std::string("bij->")}});
  b.node("Einsum", {a, c, b.constant(ir::DType::F32, {9, 4})}, {{"equation", std::string("bij,bjk,kl->bil")}});
  ir::Value *sq = b.input("sq", ir::DType::I64, {2, 4, 4});
  b.node("Einsum", {sq}, {{"equation", std::string("...ii->...i")}});
  ir::Value *v = b.input("v", ir::DType::I32, {6});
  b.node("Einsum", {v, v}, {{"equation", std::string("i,j->ij")}});
  checkCompiled(b, "einsum");
}

TEST(CodegenNN, IntegerOps) {
  GraphBuilder b;
  auto scalar = [&](ir::DType dtype, double value) {
    ir::Tensor t(dtype, {});
    t.setFromDouble(0, value);
    return b.constant(t);
  };
  ir::Value *x = b.input("x", ir::DType::U8, {2, 4, 9, 10});
  ir::Value *wScale = b.node("Abs", {b.constant(ir::DType::F32, {6}, 0.01f)}, {}, 1, false)[0];
  b.node("QLinearConv",
         {x, scalar(ir::DType::F32, 0.02), scalar(ir::DType::U8, 3), b.constant(ir::DType::I8, {6, 2, 3, 3}), wScale,
          b.constant(ir::DType::I8, {6}), scalar(ir::DType::F32, 0.05), scalar(ir::DType::I8, -7),
          b.constant(ir::Tensor::fromVector(ir::DType::I32, {6}, std::vector<int32_t>{100, -200, 0, 5, 9, -50}))},
         {{"group", int64_t{2}}, {"strides", Ints{2, 1}}, {"pads", Ints{1, 0, 1, 2}}, {"dilations", Ints{1, 2}}});
  b.node("ConvInteger", {x, b.constant(ir::DType::U8, {5, 4, 2, 3}), scalar(ir::DType::U8, 100)});
  ir::Value *a = b.input("a", ir::DType::I8, {3, 1, 5, 7});
  ir::Value *m = b.input("m", ir::DType::U8, {2, 7, 300});
  ir::Value *aScale = b.node("Abs", {b.constant(ir::DType::F32, {5}, 0.02f)}, {}, 1, false)[0];
  ir::Value *mScale = b.node("Abs", {b.constant(ir::DType::F32, {300}, 0.01f)}, {}, 1, false)[0];
  b.node("QLinearMatMul", {a, aScale, b.constant(ir::DType::I8, {5}), m, mScale, b.constant(ir::DType::U8, {300}),
                           scalar(ir::DType::F32, 0.5), scalar(ir::DType::U8, 2)});
  b.node("MatMulInteger", {a, m, b.constant(ir::DType::I8, {5}), scalar(ir::DType::U8, 9)});
  checkCompiled(b, "integer_ops");
}

TEST(CodegenNN, UnsupportedEinsumIsABadInputErrorNamingTheOp) {
  GraphBuilder b;
  std::vector<ir::Value *> in;
  for (int i = 0; i < 4; ++i) in.push_back(b.input("x" + std::to_string(i), ir::DType::F32, {3}));
  b.node("Einsum", in, {{"equation", std::string("i,i,i,i->i")}});
  passes::inferShapes(b.graph);
  try {
    test::compileForTest(b.graph, "einsum4");
    FAIL() << "compiled a 4-operand Einsum";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("Einsum"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("more than 3 operands"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(test::workRoot() / "einsum4"));
}
