// Compiled data-movement and indexing ops (src/codegen/lower/{Movement,Indexing}.cpp)
// against the reference interpreter, bit for bit, on what the ONNX conformance cases leave
// out: every dtype, ranks above 6, Pad's axes input with crops and periodic reflection,
// scatters with duplicate indices split across threads, TopK with NaNs and ties over a long
// axis, and index values a kernel cannot report.
#include "leip/codegen/Compiler.h"
#include "leip/interp/Interpreter.h"
#include "leip/passes/ShapeInference.h"
#include "leip/runtime.hpp"
#include "leip/support/Error.h"

#include "TestWorkDir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace leip;

namespace {

/// A graph under construction with the helpers these tests need.
struct GraphBuilder {
  ir::Graph graph;

  ir::Value *input(const std::string &name, ir::DType dtype, ir::Shape shape) {
    return graph.addInput(name, ir::TensorType{dtype, std::move(shape), {}});
  }
  ir::Value *ints(std::vector<int64_t> v) {
    return graph.addConstant(graph.uniqueName("i"),
                             ir::Tensor::fromVector<int64_t>(ir::DType::I64, {static_cast<int64_t>(v.size())}, v));
  }
  std::vector<ir::Value *> node(const std::string &op, std::vector<ir::Value *> in,
                                std::vector<std::pair<std::string, ir::Attribute>> attrs = {}, size_t outputs = 1) {
    std::vector<std::string> names;
    for (size_t i = 0; i < outputs; ++i) names.push_back(graph.uniqueName(op + "_y" + std::to_string(i)));
    ir::Node *n = graph.addNode(op, graph.uniqueName(op), in, names);
    for (auto &[k, v] : attrs) n->attrs().set(k, v);
    return n->outputs();
  }
  ir::Value *one(const std::string &op, std::vector<ir::Value *> in,
                 std::vector<std::pair<std::string, ir::Attribute>> attrs = {}) {
    return node(op, std::move(in), std::move(attrs))[0];
  }
};

/// Random values of any dtype: bools 0/1, floats in [-4, 4), other types random bytes.
ir::Tensor randomTensor(ir::DType dtype, ir::Shape shape, std::mt19937 &rng) {
  ir::Tensor t(dtype, std::move(shape));
  if (dtype == ir::DType::F32) {
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    for (float &v : t.values<float>()) v = u(rng);
  } else {
    auto *bytes = static_cast<unsigned char *>(t.rawData());
    for (size_t i = 0; i < t.byteSize(); ++i) bytes[i] = static_cast<unsigned char>(rng());
    if (dtype == ir::DType::Bool)
      for (size_t i = 0; i < t.byteSize(); ++i) bytes[i] &= 1;
  }
  return t;
}

/// Compiles `graph`, runs it at 1 and 3 threads and expects every output to be bitwise the
/// interpreter's (these ops only move or select elements).
void expectSameAsInterpreter(ir::Graph &graph, const std::vector<ir::Tensor> &inputs, const std::string &name) {
  passes::inferShapes(graph);
  std::vector<ir::Tensor> want = interp::Interpreter(graph).run(inputs);
  fs::path dir = test::workRoot() / name;
  codegen::CompileOptions options;
  options.target = codegen::hostTarget();
  options.sourcePath = name;
  options.outputDir = dir.string();
  codegen::compileGraph(graph, options);
  runtime::Model model(dir.string());
  std::vector<const void *> in;
  for (const ir::Tensor &t : inputs) in.push_back(t.rawData());
  for (int threads : {1, 3}) {
    model.setThreads(threads);
    std::vector<std::vector<char>> got;
    model.inferRaw(in, got);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].size(), want[i].byteSize()) << name << " output " << i;
      EXPECT_EQ(std::memcmp(got[i].data(), want[i].rawData(), got[i].size()), 0)
          << name << " output " << i << " differs from the interpreter at " << threads << " threads";
    }
  }
}

class CodegenMovementOnEveryDtype : public ::testing::TestWithParam<ir::DType> {};

// Transpose, Slice (negative steps), Pad (axes input with a crop and periodic reflection;
// edge; zeros around the planes of NCHW), Tile (8 dims that do not merge), Concat (inner axis; outer axis, where long rows
// are cut in pieces), Split, Expand, DepthToSpace, Gather with run-time int32 indices.
TEST_P(CodegenMovementOnEveryDtype, MatchesInterpreter) {
  ir::DType dtype = GetParam();
  std::mt19937 rng(7);
  GraphBuilder g;
  ir::Value *x = g.input("x", dtype, {2, 3, 4, 5});
  ir::Value *idx = g.input("idx", ir::DType::I32, {2, 2});
  ir::Value *wide = g.input("wide", dtype, {3, 20000});
  ir::Value *t = g.one("Transpose", {x}, {{"perm", std::vector<int64_t>{3, 1, 0, 2}}});         // [5,3,2,4]
  g.graph.addOutput(g.one("Slice", {t, g.ints({4, 3}), g.ints({0, 0}), g.ints({0, 3}), g.ints({-2, -1})}));
  g.graph.addOutput(g.one("Pad", {x, g.ints({5, -1, 4, 3}), nullptr, g.ints({1, -1})},
                          {{"mode", std::string("reflect")}})); // [2,12,4,7]
  g.graph.addOutput(g.one("Pad", {x, g.ints({0, 2, 0, 0, 0, 1, 3, 0})}, {{"mode", std::string("edge")}}));
  g.graph.addOutput(g.one("Pad", {x, g.ints({0, 0, 2, 0, 0, 0, 1, 3})})); // zeros around planes: leip_k_pad_planes
  g.graph.addOutput(g.one("Tile", {x, g.ints({2, 3, 2, 3})}));
  g.graph.addOutput(g.one("Concat", {x, x}, {{"axis", int64_t{3}}}));
  g.graph.addOutput(g.one("Concat", {wide, wide}, {{"axis", int64_t{0}}}));
  for (ir::Value *part : g.node("Split", {x, g.ints({1, 4})}, {{"axis", int64_t{3}}}, 2)) g.graph.addOutput(part);
  g.graph.addOutput(g.one("Expand", {g.one("Slice", {x, g.ints({1}), g.ints({2}), g.ints({1})}), g.ints({3, 2, 3, 4, 5})}));
  g.graph.addOutput(g.one("DepthToSpace", {g.one("Reshape", {x, g.ints({1, 8, 3, 5})})},
                          {{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}}));
  g.graph.addOutput(g.one("Gather", {x, idx}, {{"axis", int64_t{2}}}));
  ir::Tensor indices = ir::Tensor::fromVector<int32_t>(ir::DType::I32, {2, 2}, {3, -1, 0, -4});
  expectSameAsInterpreter(g.graph, {randomTensor(dtype, {2, 3, 4, 5}, rng), indices, randomTensor(dtype, {3, 20000}, rng)},
                          "movement_" + std::string(ir::dtypeName(dtype)));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CodegenMovementOnEveryDtype,
                         ::testing::Values(ir::DType::F32, ir::DType::F16, ir::DType::I8, ir::DType::U8,
                                           ir::DType::I32, ir::DType::I64, ir::DType::Bool),
                         [](const auto &info) { return std::string(ir::dtypeName(info.param)); });

// Duplicate indices with reductions: each task owns output rows and applies the updates in
// index order, so any thread count gives the sequential (interpreter's) result.
TEST(CodegenTensorOps, ScattersWithDuplicatesMatchAcrossThreads) {
  std::mt19937 rng(3);
  GraphBuilder g;
  ir::Value *data = g.input("data", ir::DType::F32, {6, 8});
  ir::Value *idx = g.input("idx", ir::DType::I64, {5, 8});
  ir::Value *upd = g.input("upd", ir::DType::F32, {5, 8});
  ir::Value *nd = g.input("nd", ir::DType::I32, {4, 6, 5});
  ir::Value *ndIdx = g.input("nd_idx", ir::DType::I64, {7, 2});
  ir::Value *ndUpd = g.input("nd_upd", ir::DType::I32, {7, 5});
  g.graph.addOutput(g.one("ScatterElements", {data, idx, upd}, {{"axis", int64_t{0}}, {"reduction", std::string("add")}}));
  g.graph.addOutput(g.one("ScatterElements", {data, idx, upd}, {{"axis", int64_t{1}}, {"reduction", std::string("max")}}));
  g.graph.addOutput(g.one("ScatterElements", {data, idx, upd}, {{"axis", int64_t{-2}}}));
  g.graph.addOutput(g.one("ScatterND", {nd, ndIdx, ndUpd}, {{"reduction", std::string("mul")}}));
  g.graph.addOutput(g.one("ScatterND", {nd, ndIdx, ndUpd}));
  std::vector<int64_t> indices(5 * 8);
  for (int64_t &v : indices) v = static_cast<int64_t>(rng() % 12) - 6; // negatives and duplicates
  // (row, col) pairs with repeats, some negative.
  std::vector<int64_t> tuples{0, 1, 3, -1, 0, 1, -4, 5, 3, 5, 0, 1, 2, 2};
  expectSameAsInterpreter(g.graph,
                          {randomTensor(ir::DType::F32, {6, 8}, rng),
                           ir::Tensor::fromVector<int64_t>(ir::DType::I64, {5, 8}, indices),
                           randomTensor(ir::DType::F32, {5, 8}, rng), randomTensor(ir::DType::I32, {4, 6, 5}, rng),
                           ir::Tensor::fromVector<int64_t>(ir::DType::I64, {7, 2}, tuples),
                           randomTensor(ir::DType::I32, {7, 5}, rng)},
                          "scatter");
}

// TopK over a long axis (the kernel's heap path) with ties and NaNs, largest and smallest,
// small k (insertion) and large k (merge sort), int64 keys beyond float precision; GatherElements, GatherND with batch dims, OneHot with float
// indices, Trilu with a run-time k, ReverseSequence.
TEST(CodegenTensorOps, IndexingOpsMatchInterpreter) {
  std::mt19937 rng(11);
  GraphBuilder g;
  ir::Value *x = g.input("x", ir::DType::F32, {3, 700});
  ir::Value *big = g.input("big", ir::DType::I64, {4, 6});
  ir::Value *ge = g.input("ge", ir::DType::I64, {4, 3});
  ir::Value *nd = g.input("nd", ir::DType::U8, {2, 3, 4});
  ir::Value *ndIdx = g.input("nd_idx", ir::DType::I32, {2, 5, 2});
  ir::Value *hot = g.input("hot", ir::DType::F32, {2, 3});
  ir::Value *k = g.input("k", ir::DType::I64, {});
  ir::Value *lens = g.input("lens", ir::DType::I64, {6});
  auto topk = [&](ir::Value *in, int64_t kk, int64_t axis, int64_t largest) {
    for (ir::Value *out : g.node("TopK", {in, g.ints({kk})}, {{"axis", axis}, {"largest", largest}}, 2))
      g.graph.addOutput(out);
  };
  topk(x, 40, 1, 1);
  topk(x, 700, -1, 0);
  topk(x, 9, 1, 1);
  topk(x, 12, 1, 0);
  topk(big, 3, 0, 1);
  g.graph.addOutput(g.one("GatherElements", {big, ge}, {{"axis", int64_t{1}}}));
  g.graph.addOutput(g.one("GatherND", {nd, ndIdx}, {{"batch_dims", int64_t{1}}}));
  g.graph.addOutput(g.one("OneHot", {hot, g.ints({5}), g.ints({-7, 9})}, {{"axis", int64_t{1}}}));
  g.graph.addOutput(g.one("Trilu", {big, k}, {{"upper", int64_t{0}}}));
  g.graph.addOutput(g.one("ReverseSequence", {big, lens}, {{"batch_axis", int64_t{1}}, {"time_axis", int64_t{0}}}));

  ir::Tensor xs = randomTensor(ir::DType::F32, {3, 700}, rng);
  float *xv = xs.data<float>();
  for (int i = 0; i < 2100; i += 7) xv[i] = std::round(xv[i]); // ties
  for (int i = 3; i < 2100; i += 97) xv[i] = NAN;
  std::vector<int64_t> bigValues(24);
  for (size_t i = 0; i < bigValues.size(); ++i) bigValues[i] = (int64_t{1} << 60) + static_cast<int64_t>(i % 5);
  expectSameAsInterpreter(
      g.graph,
      {xs, ir::Tensor::fromVector<int64_t>(ir::DType::I64, {4, 6}, bigValues),
       ir::Tensor::fromVector<int64_t>(ir::DType::I64, {4, 3}, {0, 5, -1, 2, 2, -6, 3, 4, 1, 0, 0, 0}),
       randomTensor(ir::DType::U8, {2, 3, 4}, rng),
       ir::Tensor::fromVector<int32_t>(ir::DType::I32, {2, 5, 2}, {0, 0, 2, 3, -1, -1, 1, 2, 0, 3, 1, 1, 2, 0, 0, 0,
                                                                   -3, -4, 2, 2}),
       ir::Tensor::fromVector<float>(ir::DType::F32, {2, 3}, {0.0f, 4.9f, -1.5f, 7.0f, -5.0f, 2.0f}),
       ir::Tensor::fromVector<int64_t>(ir::DType::I64, {}, {-1}),
       ir::Tensor::fromVector<int64_t>(ir::DType::I64, {6}, {4, 0, 1, 3, 2, 4})},
      "indexing");
}

// The interpreter fails on an index value out of range; a compiled kernel cannot report it,
// so it writes zeros rather than read outside the data. A constant bad index is caught at
// compile time.
TEST(CodegenTensorOps, IndexOutOfRangeGivesZerosOrBadInputError) {
  GraphBuilder g;
  ir::Value *x = g.input("x", ir::DType::F32, {4, 3});
  ir::Value *idx = g.input("idx", ir::DType::I64, {3});
  g.graph.addOutput(g.one("Gather", {x, idx}));
  passes::inferShapes(g.graph);
  fs::path dir = test::workRoot() / "gather_range";
  codegen::CompileOptions options;
  options.target = codegen::hostTarget();
  options.outputDir = dir.string();
  codegen::compileGraph(g.graph, options);
  runtime::Model model(dir.string());
  std::vector<float> data(12);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i + 1);
  std::vector<int64_t> indices{1, 4, -5};
  std::vector<std::vector<char>> out;
  model.inferRaw({data.data(), indices.data()}, out);
  ASSERT_EQ(out.size(), 1u);
  std::vector<float> got(9);
  std::memcpy(got.data(), out[0].data(), sizeof(float) * 9);
  EXPECT_EQ(got, (std::vector<float>{4, 5, 6, 0, 0, 0, 0, 0, 0}));

  GraphBuilder bad;
  ir::Value *y = bad.input("x", ir::DType::F32, {4, 3});
  bad.graph.addOutput(bad.one("Gather", {y, bad.ints({2, 4})}));
  passes::inferShapes(bad.graph);
  options.outputDir = (test::workRoot() / "gather_bad").string();
  try {
    codegen::compileGraph(bad.graph, options);
    FAIL() << "a constant index out of range must not compile";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("index value 4 is out of range [-4, 3]"), std::string::npos) << e.what();
  }
}

} // namespace
