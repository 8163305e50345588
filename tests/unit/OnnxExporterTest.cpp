// Tests of the ONNX exporter: round trips through the importer (same ops, shapes,
// constants and results), the QDQ form of quantized tensors checked against fake
// quantization computed here, and ONNX Runtime (tools/ort_run.js) on exported models.
#include "leip/data/Npy.h"
#include "leip/frontend/OnnxExporter.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/interp/Interpreter.h"
#include "leip/ir/OpRegistry.h"
#include "leip/passes/ShapeInference.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace leip::frontend {
namespace {

namespace fs = std::filesystem;
using ir::DType;
using ir::Tensor;
using Ints = std::vector<int64_t>;

// ---- Locations and helpers ------------------------------------------------------------

/// The source tree, from this file's path (CMake compiles it by absolute path).
fs::path sourceDir() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }
/// The build tree: this binary is <build>/tests/leip_unit_tests.
fs::path buildDir() { return fs::read_symlink("/proc/self/exe").parent_path().parent_path(); }

/// A fresh scratch folder, removed at the end of the test unless the test failed (then it
/// is kept for a look at the files).
class ScratchDir {
public:
  explicit ScratchDir(const std::string &name)
      : path_(fs::path(testing::TempDir()) / ("leip_export_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (!testing::Test::HasFailure())
      fs::remove_all(path_, ignored);
  }
  fs::path operator/(const fs::path &child) const { return path_ / child; }

private:
  fs::path path_;
};

Tensor randomTensor(const ir::Shape &shape, unsigned seed) {
  Tensor t(DType::F32, shape);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float &v : t.values<float>())
    v = dist(gen);
  return t;
}

/// max |a - b| / max |b| (0 when both are all zeros).
double relativeError(const Tensor &a, const Tensor &b) {
  std::vector<float> x = a.toFloatVector(), y = b.toFloatVector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(y[i])));
  }
  return scale == 0 ? diff : diff / scale;
}

double maxAbsDiff(const Tensor &a, const Tensor &b) {
  std::vector<float> x = a.toFloatVector(), y = b.toFloatVector();
  double diff = 0;
  for (size_t i = 0; i < x.size(); ++i)
    diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
  return diff;
}

bool sameBytes(const Tensor &a, const Tensor &b) {
  return a.type() == b.type() && std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0;
}

std::vector<std::string> names(const std::vector<ir::Value *> &values) {
  std::vector<std::string> out;
  for (const ir::Value *v : values)
    out.push_back(v ? v->name() : "");
  return out;
}

/// Same inputs, outputs, nodes (by name: op, inputs, outputs, output types, attributes) and
/// constants (bytes) in both graphs.
void expectSameGraph(const ir::Graph &want, const ir::Graph &got) {
  EXPECT_EQ(names(want.inputs()), names(got.inputs()));
  EXPECT_EQ(names(want.outputs()), names(got.outputs()));
  for (size_t i = 0; i < want.inputs().size() && i < got.inputs().size(); ++i)
    EXPECT_EQ(want.inputs()[i]->type(), got.inputs()[i]->type()) << want.inputs()[i]->name();
  for (size_t i = 0; i < want.outputs().size() && i < got.outputs().size(); ++i)
    EXPECT_EQ(want.outputs()[i]->type(), got.outputs()[i]->type()) << want.outputs()[i]->name();

  ASSERT_EQ(want.numNodes(), got.numNodes());
  for (const ir::Node *node : want.nodes()) {
    const ir::Node *other = got.findNode(node->name());
    ASSERT_NE(other, nullptr) << node->describe() << " is missing";
    EXPECT_EQ(node->opType(), other->opType());
    EXPECT_EQ(names(node->inputs()), names(other->inputs())) << node->describe();
    EXPECT_EQ(names(node->outputs()), names(other->outputs())) << node->describe();
    for (size_t i = 0; i < node->numOutputs() && i < other->numOutputs(); ++i)
      EXPECT_EQ(node->output(i)->type(), other->output(i)->type()) << node->output(i)->name();
    std::map<std::string, std::string> a, b;
    for (const auto &[name, attr] : node->attrs().all())
      a[name] = ir::attributeToString(attr);
    for (const auto &[name, attr] : other->attrs().all())
      b[name] = ir::attributeToString(attr);
    EXPECT_EQ(a, b) << node->describe();
  }
  ASSERT_EQ(want.constants().size(), got.constants().size());
  for (const ir::Value *constant : want.constants()) {
    const ir::Value *other = got.findValue(constant->name());
    ASSERT_TRUE(other && other->isConstant()) << "constant '" << constant->name() << "' is missing";
    EXPECT_TRUE(sameBytes(*constant->constant(), *other->constant())) << "constant '" << constant->name() << "'";
  }
}

/// writeOnnx, then loadModel of the file (the path leip's own commands take).
std::unique_ptr<ir::Graph> roundTrip(const ir::Graph &graph, const fs::path &path) {
  writeOnnx(graph, path.string());
  EXPECT_FALSE(fs::exists(path.string() + ".partial"));
  return loadModel(path.string());
}

const onnx::TensorProto *findInitializer(const onnx::GraphProto &graph, const std::string &name) {
  for (const auto &init : graph.initializer())
    if (init.name() == name)
      return &init;
  return nullptr;
}

std::vector<const onnx::NodeProto *> nodesOfType(const onnx::GraphProto &graph, const std::string &op) {
  std::vector<const onnx::NodeProto *> out;
  for (const auto &node : graph.node())
    if (node.op_type() == op)
      out.push_back(&node);
  return out;
}

/// The node whose output (or, with `byInput`, first input) is `name`.
const onnx::NodeProto *nodeAt(const onnx::GraphProto &graph, const std::string &op, const std::string &name,
                              bool byInput) {
  for (const onnx::NodeProto *node : nodesOfType(graph, op))
    if (byInput ? node->input(0) == name : node->output(0) == name)
      return node;
  return nullptr;
}

const onnx::AttributeProto *findAttr(const onnx::NodeProto &node, const std::string &name) {
  for (const auto &attr : node.attribute())
    if (attr.name() == name)
      return &attr;
  return nullptr;
}

template <typename T> std::vector<T> rawValues(const onnx::TensorProto &tensor) {
  std::vector<T> out(tensor.raw_data().size() / sizeof(T));
  std::memcpy(out.data(), tensor.raw_data().data(), out.size() * sizeof(T));
  return out;
}

// ---- Independent fake quantization --------------------------------------------------

/// Round half to even, written out (not std::rint / nearbyint, which the exporter uses).
double roundHalfEven(double v) {
  double f = std::floor(v);
  double d = v - f;
  if (d > 0.5)
    return f + 1;
  if (d < 0.5)
    return f;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

int64_t quantize(double v, double scale, int64_t zeroPoint, int64_t lo, int64_t hi) {
  return std::clamp(static_cast<int64_t>(roundHalfEven(v / scale)) + zeroPoint, lo, hi);
}

double fakeQuant(double v, double scale, int64_t zeroPoint, int64_t lo, int64_t hi) {
  return static_cast<double>(quantize(v, scale, zeroPoint, lo, hi) - zeroPoint) * scale;
}

ir::QuantParams perTensor(float scale, int64_t zeroPoint, DType storage) {
  return ir::QuantParams{{scale}, {zeroPoint}, std::nullopt, storage};
}

void setQuant(ir::Value *value, ir::QuantParams q) {
  ir::TensorType type = value->type();
  type.quant = std::move(q);
  value->setType(std::move(type));
}

// ---- Round trips ------------------------------------------------------------------------

TEST(OnnxExporter, EveryIrOpHasAnOpset17Schema) {
  // The exporter writes IR ops as opset-17 nodes; an op the IR gains without an ONNX
  // definition at that opset would make exports fail.
  for (const auto &[op, info] : ir::opTable()) {
    const onnx::OpSchema *schema = onnx::OpSchemaRegistry::Schema(op, static_cast<int>(kExportOpset), "");
    EXPECT_TRUE(schema && !schema->Deprecated()) << op;
  }
}

class ExampleModelRoundTrip : public testing::TestWithParam<const char *> {};

TEST_P(ExampleModelRoundTrip, SameGraphAndBitwiseSameResults) {
  fs::path model = sourceDir() / "models" / (std::string(GetParam()) + ".onnx");
  ASSERT_TRUE(fs::exists(model)) << model << " is missing (tools/train_examples.py)";
  ImportOptions options;
  options.inputShapes.byName[""] = {2, 1, 28, 28};
  std::unique_ptr<ir::Graph> graph = loadModel(model.string(), options);

  onnx::ModelProto exported = exportOnnx(*graph);
  EXPECT_NO_THROW(onnx::checker::check_model(exported));
  ASSERT_EQ(exported.opset_import_size(), 1);
  EXPECT_EQ(exported.opset_import(0).version(), 17);
  for (const auto &init : exported.graph().initializer())
    EXPECT_TRUE(init.has_raw_data()) << init.name();

  ScratchDir dir(std::string("roundtrip_") + GetParam());
  std::unique_ptr<ir::Graph> back = roundTrip(*graph, dir / "model.onnx");
  expectSameGraph(*graph, *back);

  Tensor x = randomTensor({2, 1, 28, 28}, 7);
  std::vector<Tensor> want = interp::Interpreter(*graph).run({x});
  std::vector<Tensor> got = interp::Interpreter(*back).run({x});
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(sameBytes(want[i], got[i])) << "output " << i;
}

INSTANTIATE_TEST_SUITE_P(Models, ExampleModelRoundTrip,
                         testing::Values("fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet"));

/// Attribute kinds, omitted optional inputs, f16/bool/i64 tensors and an i64 output.
std::unique_ptr<ir::Graph> handBuiltGraph() {
  auto g = std::make_unique<ir::Graph>();
  g->name = "handbuilt";
  ir::Value *x = g->addInput("x", ir::TensorType{DType::F32, {1, 3, 8, 8}, {}});
  ir::Value *w = g->addConstant("w", randomTensor({4, 3, 3, 3}, 1));
  ir::Node *conv = g->addNode("Conv", "conv", {x, w}, {"c"}); // [1,4,4,4]
  conv->attrs().set("pads", Ints{1, 1, 1, 1});
  conv->attrs().set("strides", Ints{2, 2});
  conv->attrs().set("group", int64_t{1});
  ir::Value *scales = g->addConstant("scales", Tensor::fromVector(DType::F32, {4}, std::vector<float>{1, 1, 2, 2}));
  ir::Node *resize = g->addNode("Resize", "resize", {conv->output(0), nullptr, scales}, {"r"}); // [1,4,8,8]
  resize->attrs().set("mode", std::string("linear"));
  resize->attrs().set("coordinate_transformation_mode", std::string("half_pixel"));
  ir::Node *clip = g->addNode("Clip", "clip", {resize->output(0), nullptr, g->addConstant("hi", Tensor::scalar(0.5f))},
                              {"cl"});
  ir::Node *leaky = g->addNode("LeakyRelu", "leaky", {clip->output(0)}, {"lr"});
  leaky->attrs().set("alpha", 0.2f);
  ir::Node *toHalf = g->addNode("Cast", "to_half", {leaky->output(0)}, {"h"});
  toHalf->attrs().set("to", int64_t{onnx::TensorProto::FLOAT16});
  Tensor bias = Tensor(DType::F32, {1, 4, 1, 1});
  for (int64_t i = 0; i < 4; ++i)
    bias.setFromDouble(i, 0.25 * static_cast<double>(i) - 0.5);
  ir::Node *addHalf = g->addNode("Add", "add_half", {toHalf->output(0), g->addConstant("hb", bias.castTo(DType::F16))},
                                 {"h2"});
  ir::Node *toFloat = g->addNode("Cast", "to_float", {addHalf->output(0)}, {"f"});
  toFloat->attrs().set("to", int64_t{onnx::TensorProto::FLOAT});
  Tensor cond(DType::Bool, {1, 1, 8, 8});
  for (int64_t i = 0; i < 64; ++i)
    cond.data<uint8_t>()[i] = static_cast<uint8_t>(i % 3 == 0);
  ir::Node *where = g->addNode("Where", "where", {g->addConstant("cond", cond), toFloat->output(0), leaky->output(0)},
                               {"wh"});
  ir::Node *reshape = g->addNode("Reshape", "reshape",
                                 {where->output(0), g->addConstant("shape", Tensor::fromVector(DType::I64, {2}, Ints{1, -1}))},
                                 {"flat"});
  ir::Node *argmax = g->addNode("ArgMax", "argmax", {reshape->output(0)}, {"am"});
  argmax->attrs().set("axis", int64_t{1});
  argmax->attrs().set("keepdims", int64_t{0});
  g->addOutput(reshape->output(0));
  g->addOutput(argmax->output(0));
  passes::inferShapes(*g);
  return g;
}

TEST(OnnxExporter, HandBuiltGraphRoundTrips) {
  std::unique_ptr<ir::Graph> graph = handBuiltGraph();
  ASSERT_EQ(graph->findValue("am")->type(), (ir::TensorType{DType::I64, {1}, {}}));

  onnx::ModelProto model = exportOnnx(*graph);
  const onnx::GraphProto &g = model.graph();
  const onnx::NodeProto *resize = nodeAt(g, "Resize", "r", false);
  ASSERT_NE(resize, nullptr);
  ASSERT_EQ(resize->input_size(), 3);
  EXPECT_EQ(resize->input(1), ""); // omitted roi stays omitted
  const onnx::NodeProto *clip = nodeAt(g, "Clip", "cl", false);
  ASSERT_NE(clip, nullptr);
  EXPECT_EQ(clip->input(1), "");
  const onnx::AttributeProto *alpha = findAttr(*nodeAt(g, "LeakyRelu", "lr", false), "alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->type(), onnx::AttributeProto::FLOAT);
  EXPECT_EQ(alpha->f(), 0.2f);
  const onnx::TensorProto *hb = findInitializer(g, "hb");
  ASSERT_NE(hb, nullptr);
  EXPECT_EQ(hb->data_type(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(hb->raw_data().size(), 8u);
  ASSERT_EQ(g.output_size(), 2);
  EXPECT_EQ(g.output(1).type().tensor_type().elem_type(), onnx::TensorProto::INT64);
  ASSERT_EQ(g.input_size(), 1);
  ASSERT_EQ(g.input(0).type().tensor_type().shape().dim_size(), 4);
  EXPECT_EQ(g.input(0).type().tensor_type().shape().dim(3).dim_value(), 8);

  ScratchDir dir("handbuilt");
  std::unique_ptr<ir::Graph> back = roundTrip(*graph, dir / "model.onnx");
  expectSameGraph(*graph, *back);
  Tensor x = randomTensor({1, 3, 8, 8}, 3);
  std::vector<Tensor> want = interp::Interpreter(*graph).run({x});
  std::vector<Tensor> got = interp::Interpreter(*back).run({x});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(sameBytes(want[0], got[0]));
  EXPECT_TRUE(sameBytes(want[1], got[1]));
}

TEST(OnnxExporter, RejectsWhatOnnxCannotExpress) {
  auto expectBadInput = [](const ir::Graph &graph, const std::string &fragment) {
    try {
      exportOnnx(graph);
      ADD_FAILURE() << "expected BadInputError mentioning " << fragment;
    } catch (const BadInputError &e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  {
    // A fused activation (what optimizeForCompile leaves) is leip's own form.
    std::unique_ptr<ir::Graph> graph = handBuiltGraph();
    graph->findNode("conv")->attrs().set("activation", std::string("Relu"));
    expectBadInput(*graph, "node 'conv' (Conv): attribute 'activation'");
  }
  {
    std::unique_ptr<ir::Graph> graph = handBuiltGraph();
    graph->findNode("leaky")->attrs().set("alpha", int64_t{1}); // ONNX wants a float
    expectBadInput(*graph, "node 'leaky' (LeakyRelu): attribute 'alpha'");
  }
  {
    // QuantizeLinear has no i32 output, so only constants can be i32-quantized.
    std::unique_ptr<ir::Graph> graph = handBuiltGraph();
    setQuant(graph->findValue("c"), perTensor(0.5f, 0, DType::I32));
    expectBadInput(*graph, "tensor 'c' (output of node 'conv' (Conv)) is quantized to i32");
  }
  {
    std::unique_ptr<ir::Graph> graph = handBuiltGraph();
    setQuant(graph->findValue("w"), perTensor(0.5f, 3, DType::I32));
    expectBadInput(*graph, "tensor 'w' is quantized to i32 with zero point 3");
  }
  {
    std::unique_ptr<ir::Graph> graph = handBuiltGraph();
    setQuant(graph->findValue("am"), perTensor(0.5f, 0, DType::I8));
    expectBadInput(*graph, "tensor 'am' is i64[1] with quantization parameters");
  }
  {
    // The dequantized copy of a graph input cannot also carry the input's name.
    ir::Graph graph;
    ir::Value *x = graph.addInput("x", ir::TensorType{DType::F32, {2}, {}});
    graph.addOutput(graph.addNode("Relu", "relu", {x}, {"y"})->output(0));
    graph.addOutput(x);
    passes::inferShapes(graph);
    setQuant(x, perTensor(0.5f, 0, DType::I8));
    expectBadInput(graph, "graph input 'x' is also a graph output");
  }
}

TEST(OnnxExporter, WriteFailsCleanlyOnBadPath) {
  std::unique_ptr<ir::Graph> graph = handBuiltGraph();
  ScratchDir dir("badpath");
  fs::path path = dir / "missing_folder" / "model.onnx";
  EXPECT_THROW(writeOnnx(*graph, path.string()), BadInputError);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".partial"));
  // A directory in the way of the final name: the rename fails, nothing is left behind.
  fs::create_directories(dir / "model.onnx" / "occupied");
  EXPECT_THROW(writeOnnx(*graph, (dir / "model.onnx").string()), BadInputError);
  EXPECT_FALSE(fs::exists(dir / "model.onnx.partial"));
}

// ---- QDQ ----------------------------------------------------------------------------------

/// x [1,2,5,5] (u8, per tensor) -> Conv(w: i8 per channel, b: i32 per channel, pads 1) ->
/// y (i8, per tensor; a graph output) -> Relu -> z. Scales are powers of two and the values
/// multiples of small powers of two, so every product and sum is exact in f32 and any
/// summation order gives the same bits: the expected result is exact.
struct TinyQdqConv {
  static constexpr float kSx = 1.0f / 16, kSy = 0.25f;
  static constexpr int64_t kZpx = 128, kZpy = -5;
  static constexpr float kSw[3] = {1.0f / 8, 1.0f / 4, 1.0f / 16};
  static constexpr int64_t kZpw[3] = {0, 3, -2};

  std::unique_ptr<ir::Graph> graph = std::make_unique<ir::Graph>();
  Tensor w{DType::F32, {3, 2, 3, 3}};
  Tensor b = Tensor::fromVector(DType::F32, {3}, std::vector<float>{0.3f, -1.7f, 2.2f});
  Tensor x{DType::F32, {1, 2, 5, 5}};

  TinyQdqConv() {
    std::mt19937 gen(11);
    std::uniform_int_distribution<int> wk(-40, 40), xk(-300, 300);
    for (float &v : w.values<float>())
      v = static_cast<float>(wk(gen)) / 16; // w / sw: ties at .5 for channel 0
    w.data<float>()[0] = 0.3125f;          // 2.5 steps: rounds to 2
    w.data<float>()[1] = 0.4375f;          // 3.5 steps: rounds to 4
    w.data<float>()[2] = -0.3125f;         // -2.5 steps: rounds to -2
    w.data<float>()[3] = 100.0f;           // saturates at 127
    w.data<float>()[20] = -100.0f;         // channel 1: saturates at -128
    for (float &v : x.values<float>())
      v = static_cast<float>(xk(gen)) / 32; // odd k: ties; |k| > 254: saturation

    ir::Value *xv = graph->addInput("x", ir::TensorType{DType::F32, {1, 2, 5, 5}, {}});
    ir::Value *wv = graph->addConstant("w", w);
    ir::Value *bv = graph->addConstant("b", b);
    ir::Node *conv = graph->addNode("Conv", "conv", {xv, wv, bv}, {"y"});
    conv->attrs().set("pads", Ints{1, 1, 1, 1});
    ir::Node *relu = graph->addNode("Relu", "relu", {conv->output(0)}, {"z"});
    graph->addOutput(conv->output(0));
    graph->addOutput(relu->output(0));
    passes::inferShapes(*graph);

    setQuant(xv, perTensor(kSx, kZpx, DType::U8));
    setQuant(wv, ir::QuantParams{{kSw[0], kSw[1], kSw[2]}, {kZpw[0], kZpw[1], kZpw[2]}, 0, DType::I8});
    setQuant(bv, ir::QuantParams{{kSx * kSw[0], kSx * kSw[1], kSx * kSw[2]}, {0, 0, 0}, 0, DType::I32});
    setQuant(graph->findValue("y"), perTensor(kSy, kZpy, DType::I8));
  }

  int64_t wq(int64_t i) const { return quantize(w.data<float>()[i], kSw[i / 18], kZpw[i / 18], -128, 127); }

  /// y and z computed here from the definitions (fake quantization of x, w, b and y).
  std::pair<std::vector<float>, std::vector<float>> expected() const {
    std::vector<double> xq(50), wf(54);
    for (int64_t i = 0; i < 50; ++i)
      xq[i] = fakeQuant(x.data<float>()[i], kSx, kZpx, 0, 255);
    for (int64_t i = 0; i < 54; ++i)
      wf[i] = static_cast<double>(wq(i) - kZpw[i / 18]) * kSw[i / 18];
    std::vector<float> y(75), z(75);
    for (int64_t o = 0; o < 3; ++o) {
      const double sb = static_cast<double>(kSx) * kSw[o];
      double bias = fakeQuant(b.data<float>()[o], sb, 0, INT32_MIN, INT32_MAX);
      for (int64_t r = 0; r < 5; ++r)
        for (int64_t c = 0; c < 5; ++c) {
          double acc = bias;
          for (int64_t ci = 0; ci < 2; ++ci)
            for (int64_t kr = 0; kr < 3; ++kr)
              for (int64_t kc = 0; kc < 3; ++kc) {
                int64_t rr = r + kr - 1, cc = c + kc - 1;
                if (rr >= 0 && rr < 5 && cc >= 0 && cc < 5)
                  acc += xq[(ci * 5 + rr) * 5 + cc] * wf[((o * 2 + ci) * 3 + kr) * 3 + kc];
              }
          auto i = static_cast<size_t>((o * 5 + r) * 5 + c);
          y[i] = static_cast<float>(fakeQuant(acc, kSy, kZpy, -128, 127));
          z[i] = std::max(y[i], 0.0f);
        }
    }
    return {y, z};
  }
};

TEST(OnnxExporterQdq, TinyConvHasTheExpectedQdqNodes) {
  TinyQdqConv tiny;
  onnx::ModelProto model = exportOnnx(*tiny.graph);
  EXPECT_NO_THROW(onnx::checker::check_model(model));
  const onnx::GraphProto &g = model.graph();
  EXPECT_EQ(nodesOfType(g, "QuantizeLinear").size(), 2u); // x, y
  EXPECT_EQ(nodesOfType(g, "DequantizeLinear").size(), 4u); // x, y, w, b

  // Graph input x: Q(x) -> DQ -> read by the Conv; u8 zero point 128.
  const onnx::NodeProto *qx = nodeAt(g, "QuantizeLinear", "x", true);
  ASSERT_NE(qx, nullptr);
  ASSERT_EQ(qx->input_size(), 3);
  EXPECT_EQ(findAttr(*qx, "axis"), nullptr);
  const onnx::TensorProto *zpx = findInitializer(g, qx->input(2));
  ASSERT_NE(zpx, nullptr);
  EXPECT_EQ(zpx->data_type(), onnx::TensorProto::UINT8);
  EXPECT_EQ(zpx->dims_size(), 0);
  EXPECT_EQ(rawValues<uint8_t>(*zpx), std::vector<uint8_t>{128});
  EXPECT_EQ(rawValues<float>(*findInitializer(g, qx->input(1))), std::vector<float>{TinyQdqConv::kSx});
  const onnx::NodeProto *dqx = nodeAt(g, "DequantizeLinear", qx->output(0), true);
  ASSERT_NE(dqx, nullptr);

  // Weights: i8 initializer with the quantized values, DQ per channel along axis 0.
  const onnx::NodeProto *dqw = nodeAt(g, "DequantizeLinear", "w", false);
  ASSERT_NE(dqw, nullptr);
  const onnx::AttributeProto *axis = findAttr(*dqw, "axis");
  ASSERT_NE(axis, nullptr);
  EXPECT_EQ(axis->i(), 0);
  const onnx::TensorProto *wInit = findInitializer(g, dqw->input(0));
  ASSERT_NE(wInit, nullptr);
  EXPECT_EQ(wInit->name(), "w_quantized");
  EXPECT_EQ(wInit->data_type(), onnx::TensorProto::INT8);
  EXPECT_EQ(std::vector<int64_t>(wInit->dims().begin(), wInit->dims().end()), (Ints{3, 2, 3, 3}));
  std::vector<int8_t> wantW;
  for (int64_t i = 0; i < 54; ++i)
    wantW.push_back(static_cast<int8_t>(tiny.wq(i)));
  EXPECT_EQ(rawValues<int8_t>(*wInit), wantW);
  EXPECT_EQ(wantW[0], 2);    // ties to even
  EXPECT_EQ(wantW[1], 4);
  EXPECT_EQ(wantW[2], -2);
  EXPECT_EQ(wantW[3], 127);  // saturated
  EXPECT_EQ(wantW[20], -128);
  EXPECT_EQ(rawValues<int8_t>(*findInitializer(g, dqw->input(2))), (std::vector<int8_t>{0, 3, -2}));
  EXPECT_EQ(rawValues<float>(*findInitializer(g, dqw->input(1))),
            (std::vector<float>{1.0f / 8, 1.0f / 4, 1.0f / 16}));
  EXPECT_EQ(g.initializer_size(), 9); // w, b quantized; scales of x, w, b, y; zero points of x, w, y

  // Bias: i32 initializer, DQ without zero point, per channel.
  const onnx::NodeProto *dqb = nodeAt(g, "DequantizeLinear", "b", false);
  ASSERT_NE(dqb, nullptr);
  EXPECT_EQ(dqb->input_size(), 2);
  ASSERT_NE(findAttr(*dqb, "axis"), nullptr);
  const onnx::TensorProto *bInit = findInitializer(g, dqb->input(0));
  ASSERT_NE(bInit, nullptr);
  EXPECT_EQ(bInit->data_type(), onnx::TensorProto::INT32);
  // 0.3 / 2^-7 = 38.4, -1.7 / 2^-6 = -108.8, 2.2 / 2^-8 = 563.2
  EXPECT_EQ(rawValues<int32_t>(*bInit), (std::vector<int32_t>{38, -109, 563}));

  // The Conv reads the dequantized tensors and writes y_float; y's QDQ ends in "y", which
  // the Relu reads and the graph outputs.
  const onnx::NodeProto *conv = nodeAt(g, "Conv", "y_float", false);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->input(0), dqx->output(0));
  EXPECT_EQ(conv->input(1), "w");
  EXPECT_EQ(conv->input(2), "b");
  const onnx::NodeProto *qy = nodeAt(g, "QuantizeLinear", "y_float", true);
  ASSERT_NE(qy, nullptr);
  EXPECT_EQ(rawValues<int8_t>(*findInitializer(g, qy->input(2))), std::vector<int8_t>{-5});
  const onnx::NodeProto *dqy = nodeAt(g, "DequantizeLinear", qy->output(0), true);
  ASSERT_NE(dqy, nullptr);
  EXPECT_EQ(dqy->output(0), "y");
  const onnx::NodeProto *relu = nodeAt(g, "Relu", "y", true);
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->output(0), "z");
  ASSERT_EQ(g.output_size(), 2);
  EXPECT_EQ(g.output(0).name(), "y");
  EXPECT_EQ(g.output(1).name(), "z");
}

TEST(OnnxExporterQdq, TinyConvRunsAsFakeQuantizationInTheInterpreter) {
  TinyQdqConv tiny;
  ScratchDir dir("tiny_qdq");
  std::unique_ptr<ir::Graph> back = roundTrip(*tiny.graph, dir / "model.onnx");
  std::vector<Tensor> got = interp::Interpreter(*back).run({tiny.x});
  auto [y, z] = tiny.expected();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].toFloatVector(), y);
  EXPECT_EQ(got[1].toFloatVector(), z);
  // The fake quantization is not a no-op here: the fp32 graph (the interpreter ignores
  // TensorType::quant) gives other values.
  EXPECT_NE(interp::Interpreter(*tiny.graph).run({tiny.x})[0].toFloatVector(), y);
}

// ---- ONNX Runtime -------------------------------------------------------------------------

/// Why ONNX Runtime cannot run here, or "" when it can.
std::string ortUnavailable() {
  if (std::system("node --version > /dev/null 2>&1") != 0)
    return "node (Node.js) is not on PATH (bash tools/install-deps.sh)";
  if (!fs::exists(sourceDir() / "third_party/onnxruntime-node/node_modules/onnxruntime-node"))
    return "onnxruntime-node is not installed under third_party/ (bash tools/install-deps.sh)";
  return "";
}

/// Appends " 'path'" to a shell command (paths here hold no quotes).
void appendQuoted(std::string &command, const fs::path &path) {
  command += " '";
  command += path.string();
  command += '\'';
}

/// Runs tools/ort_run.js on `model` and returns {output name: tensor}; a failure of ORT
/// itself is a test failure (with its log). `optLevel` "disabled" runs the graph as written;
/// "all" lets ORT fuse QDQ groups into its integer kernels (QLinearConv, QGemm).
std::map<std::string, Tensor> runOrt(const fs::path &model, const fs::path &outDir, const std::vector<fs::path> &inputs,
                                     const std::string &optLevel = "disabled") {
  fs::create_directories(outDir);
  fs::path log = outDir.string() + ".log";
  std::string command = "node";
  appendQuoted(command, sourceDir() / "tools/ort_run.js");
  command += " --opt_level=" + optLevel;
  appendQuoted(command, model);
  appendQuoted(command, outDir);
  for (const fs::path &input : inputs)
    appendQuoted(command, input);
  command += " >";
  appendQuoted(command, log);
  command += " 2>&1";
  if (std::system(command.c_str()) != 0) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    ADD_FAILURE() << "ONNX Runtime failed on " << model << ":\n" << text.str();
    return {};
  }
  std::map<std::string, Tensor> outputs;
  for (const auto &entry : fs::directory_iterator(outDir))
    if (entry.path().extension() == ".npy")
      outputs[entry.path().stem().string()] = data::readNpy(entry.path().string());
  return outputs;
}

/// ORT on the exported model gives ORT's outputs on the original (within 1e-5 relative).
void expectOrtAgrees(const fs::path &original, const ImportOptions &options, const std::string &name) {
  std::unique_ptr<ir::Graph> graph = loadModel(original.string(), options);
  ScratchDir dir("ort_" + name);
  writeOnnx(*graph, (dir / "model.onnx").string());
  ASSERT_EQ(graph->inputs().size(), 1u);
  fs::path input = dir / "input.npy";
  data::writeNpy(randomTensor(graph->inputs()[0]->type().shape, 5), input.string());
  std::map<std::string, Tensor> want = runOrt(original, dir / "original", {input});
  std::map<std::string, Tensor> got = runOrt(dir / "model.onnx", dir / "exported", {input});
  ASSERT_FALSE(want.empty());
  ASSERT_EQ(want.size(), got.size());
  for (const auto &[output, tensor] : want) {
    ASSERT_TRUE(got.count(output)) << output;
    ASSERT_EQ(got.at(output).shape(), tensor.shape());
    double error = relativeError(got.at(output), tensor);
    std::printf("[ measured ] %s: ORT(exported) vs ORT(original) '%s' max relative difference %.3g\n", name.c_str(),
                output.c_str(), error);
    EXPECT_LE(error, 1e-5) << name << " output " << output;
  }
}

TEST(OnnxExporterOrt, ExampleModelsMatchTheOriginalsInOrt) {
  if (std::string why = ortUnavailable(); !why.empty())
    GTEST_SKIP() << why;
  ImportOptions options;
  options.inputShapes.byName[""] = {4, 1, 28, 28};
  for (const char *name : {"fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet"})
    expectOrtAgrees(sourceDir() / "models" / (std::string(name) + ".onnx"), options, name);
}

TEST(OnnxExporterOrt, TorchvisionModelsMatchTheOriginalsInOrt) {
  if (std::string why = ortUnavailable(); !why.empty())
    GTEST_SKIP() << why;
  fs::path models = buildDir() / "models";
  std::vector<std::string> found;
  for (const char *name : {"resnet18", "mobilenet_v2"})
    if (fs::exists(models / (std::string(name) + ".onnx")))
      found.push_back(name);
  if (found.empty())
    GTEST_SKIP() << "no torchvision exports in " << models
                 << " (the ctest fixture e2e_export_torchvision writes them: tools/export_torchvision.py)";
  for (const std::string &name : found)
    expectOrtAgrees(models / (name + ".onnx"), {}, name);
}

TEST(OnnxExporterOrt, TinyQdqConvGivesTheExactFakeQuantizedResultInOrt) {
  if (std::string why = ortUnavailable(); !why.empty())
    GTEST_SKIP() << why;
  TinyQdqConv tiny;
  ScratchDir dir("ort_tiny_qdq");
  writeOnnx(*tiny.graph, (dir / "model.onnx").string());
  data::writeNpy(tiny.x, (dir / "x.npy").string());
  std::map<std::string, Tensor> got = runOrt(dir / "model.onnx", dir / "out", {dir / "x.npy"});
  auto [y, z] = tiny.expected();
  ASSERT_TRUE(got.count("y") && got.count("z"));
  EXPECT_EQ(got.at("y").toFloatVector(), y);
  EXPECT_EQ(got.at("z").toFloatVector(), z);
}

/// Quantizes a model with parameters chosen here: u8 asymmetric per-tensor activations
/// from the fp32 ranges on the test batch, i8 symmetric per-channel Conv/Gemm weights, i32
/// biases with scale input scale * weight scale. Returns the scale of each activation and
/// counts the quantized constants in `constants`.
std::map<std::string, float> quantizeModel(ir::Graph &graph, const Tensor &x, size_t &constants) {
  constants = 0;
  std::map<std::string, std::pair<float, float>> ranges;
  auto observe = [&](const std::string &name, const Tensor &t) {
    std::vector<float> v = t.toFloatVector();
    ranges[name] = {std::min(0.0f, *std::min_element(v.begin(), v.end())),
                    std::max(0.0f, *std::max_element(v.begin(), v.end()))};
  };
  observe(graph.inputs()[0]->name(), x);
  interp::Interpreter(graph).run({x}, [&](const ir::Node &node, const std::vector<Tensor> &outputs) {
    for (size_t i = 0; i < outputs.size(); ++i)
      observe(node.output(i)->name(), outputs[i]);
  });
  std::map<std::string, float> scales;
  for (const auto &[name, range] : ranges) {
    float scale = (range.second - range.first) / 255.0f;
    if (scale == 0)
      scale = 1;
    auto zeroPoint = static_cast<int64_t>(std::clamp(std::nearbyint(-range.first / scale), 0.0f, 255.0f));
    setQuant(graph.findValue(name), perTensor(scale, zeroPoint, DType::U8));
    scales[name] = scale;
  }
  for (ir::Node *node : graph.nodes()) {
    if (node->opType() != "Conv" && node->opType() != "Gemm")
      continue;
    ir::Value *w = node->input(1);
    const Tensor &wt = *w->constant();
    // Output channels: axis 0 of Conv weights and of Gemm's B when transposed ([N, K]).
    int64_t axis = node->opType() == "Gemm" && node->attrs().getInt("transB", 0) == 0 ? 1 : 0;
    const int64_t channels = wt.shape()[static_cast<size_t>(axis)];
    std::vector<float> maxAbs(static_cast<size_t>(channels), 0.0f);
    const int64_t inner = wt.numElements() / channels / (axis == 0 ? 1 : wt.shape()[0]);
    for (int64_t i = 0; i < wt.numElements(); ++i) {
      int64_t c = axis == 0 ? i / inner : i % channels;
      maxAbs[static_cast<size_t>(c)] = std::max(maxAbs[static_cast<size_t>(c)], std::fabs(wt.data<float>()[i]));
    }
    ir::QuantParams wq{{}, std::vector<int64_t>(static_cast<size_t>(channels), 0), axis, DType::I8};
    for (float m : maxAbs)
      wq.scales.push_back(m > 0 ? m / 127 : 1.0f);
    setQuant(w, wq);
    ++constants;
    if (ir::Value *bias = node->input(2)) {
      ++constants;
      ir::QuantParams bq{{}, std::vector<int64_t>(static_cast<size_t>(channels), 0), 0, DType::I32};
      for (float s : wq.scales)
        bq.scales.push_back(scales.at(node->input(0)->name()) * s);
      setQuant(bias, bq);
    }
  }
  return scales;
}

/// Whether ONNX Runtime's optimized 8-bit kernels are exact on this host. On x86-64 without
/// VNNI (AVX2, or AVX-512 without it) its u8 x s8 kernels add byte-pair products into 16
/// bits (vpmaddubsw), which saturates: the "saturation issue" of OpenVINO's documentation,
/// and the reason for ORT's reduce_range option. leip's own AVX2 kernels widen to 16 bits
/// first (vpmaddwd) and stay exact.
bool ortInt8IsExact() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni");
#else
  return true;
#endif
}

/// Quantizes example model `name` (QDQ), exports it, and expects ONNX Runtime at graph
/// optimization level `optLevel` to agree with leip's interpreter within one quantization
/// step of the output.
void expectOrtAgreesWithinOneStep(const std::string &name, const char *optLevel) {
  ImportOptions options;
  options.inputShapes.byName[""] = {16, 1, 28, 28};
  std::unique_ptr<ir::Graph> graph = loadModel((sourceDir() / "models" / (name + ".onnx")).string(), options);
  Tensor x = randomTensor({16, 1, 28, 28}, 9);
  Tensor fp32 = interp::Interpreter(*graph).run({x})[0];
  size_t constants = 0;
  std::map<std::string, float> scales = quantizeModel(*graph, x, constants);
  const std::string output = graph->outputs()[0]->name();

  ScratchDir dir("ort_qdq_" + name);
  fs::path path = dir / "model.onnx";
  writeOnnx(*graph, path.string());
  onnx::ModelProto model;
  {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in));
  }
  // One Q/DQ pair per activation (graph input and every node output), one DQ per weight
  // and bias.
  size_t activations = scales.size();
  EXPECT_EQ(nodesOfType(model.graph(), "QuantizeLinear").size(), activations);
  EXPECT_EQ(nodesOfType(model.graph(), "DequantizeLinear").size(), activations + constants);
  EXPECT_EQ(model.graph().output(0).name(), output);

  std::unique_ptr<ir::Graph> back = loadModel(path.string());
  Tensor leip = interp::Interpreter(*back).run({x})[0];
  data::writeNpy(x, (dir / "x.npy").string());
  const float step = scales.at(output);
  {
    std::map<std::string, Tensor> ort = runOrt(path, dir / optLevel, {dir / "x.npy"}, optLevel);
    ASSERT_TRUE(ort.count(output));
    double diff = maxAbsDiff(ort.at(output), leip);
    std::vector<float> a = ort.at(output).toFloatVector(), b = leip.toFloatVector();
    size_t differing = 0;
    for (size_t i = 0; i < a.size(); ++i)
      differing += a[i] != b[i];
    std::printf("[ measured ] QDQ %s: ORT (opt_level %s) vs leip interpreter max |diff| %.6g = %.3g steps "
                "(%zu of %zu logits differ)\n",
                name.c_str(), optLevel, diff, diff / step, differing, a.size());
    EXPECT_LE(diff, step * 1.001) << "opt_level " << optLevel << ": more than one quantization step (" << step
                                  << ") apart";
  }
  std::printf("[ measured ] QDQ %s: leip interpreter vs fp32 max relative difference %.3g\n", name.c_str(),
              relativeError(leip, fp32));
  // Quantization did happen, and it kept the model's function.
  EXPECT_GT(relativeError(leip, fp32), 0.0);
  EXPECT_LT(relativeError(leip, fp32), 0.25);
}

class QdqExampleModel : public testing::TestWithParam<const char *> {};

// ORT's reference kernels (no graph optimization: QuantizeLinear, float Conv, ...).
TEST_P(QdqExampleModel, OrtReferenceKernelsAgreeWithTheInterpreterWithinOneStep) {
  if (std::string why = ortUnavailable(); !why.empty())
    GTEST_SKIP() << why;
  expectOrtAgreesWithinOneStep(GetParam(), "disabled");
}

// ORT's fused integer kernels (QLinearConv, QGemm): exact only with VNNI.
TEST_P(QdqExampleModel, OrtIntegerKernelsAgreeWithTheInterpreterWithinOneStep) {
  if (std::string why = ortUnavailable(); !why.empty())
    GTEST_SKIP() << why;
  if (!ortInt8IsExact())
    GTEST_SKIP() << "this host has no VNNI: ONNX Runtime's u8 x s8 kernels saturate here (measured on an AVX2 Zen 3: "
                    "4, 38 and 5 steps for the three example models), so they are no oracle";
  expectOrtAgreesWithinOneStep(GetParam(), "all");
}

INSTANTIATE_TEST_SUITE_P(Models, QdqExampleModel, testing::Values("fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet"));

} // namespace
} // namespace leip::frontend
