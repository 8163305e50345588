// Tests of the ONNX importer on models built in C++ with ONNX's protobuf classes.
#include "leip/frontend/OnnxImporter.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

namespace leip::frontend {
namespace {

// ---- Helpers building ONNX protos ---------------------------------------------------

/// Dims for value infos: -1 becomes a symbolic dim ("N").
void setTensorType(onnx::ValueInfoProto *info, int elemType, const std::vector<int64_t> &dims) {
  auto *tensorType = info->mutable_type()->mutable_tensor_type();
  tensorType->set_elem_type(elemType);
  auto *shape = tensorType->mutable_shape();
  for (int64_t d : dims) {
    auto *dim = shape->add_dim();
    if (d < 0)
      dim->set_dim_param("N");
    else
      dim->set_dim_value(d);
  }
}

struct ModelBuilder {
  onnx::ModelProto model;
  onnx::GraphProto *graph;

  explicit ModelBuilder(int64_t opset = 13) {
    model.set_ir_version(onnx::IR_VERSION);
    model.set_producer_name("leip-test");
    auto *import = model.add_opset_import();
    import->set_domain("");
    import->set_version(opset);
    graph = model.mutable_graph();
    graph->set_name("test");
  }

  void input(const std::string &name, const std::vector<int64_t> &dims, int elemType = onnx::TensorProto::FLOAT) {
    auto *info = graph->add_input();
    info->set_name(name);
    setTensorType(info, elemType, dims);
  }
  void output(const std::string &name, const std::vector<int64_t> &dims, int elemType = onnx::TensorProto::FLOAT) {
    auto *info = graph->add_output();
    info->set_name(name);
    setTensorType(info, elemType, dims);
  }
  onnx::NodeProto *node(const std::string &op, std::initializer_list<std::string> inputs,
                        std::initializer_list<std::string> outputs, const std::string &name = "") {
    auto *node = graph->add_node();
    node->set_op_type(op);
    node->set_name(name);
    for (const auto &in : inputs)
      node->add_input(in);
    for (const auto &out : outputs)
      node->add_output(out);
    return node;
  }
  onnx::TensorProto *initializerF32(const std::string &name, const std::vector<int64_t> &dims,
                                    const std::vector<float> &values) {
    auto *tensor = graph->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      tensor->add_dims(d);
    for (float v : values)
      tensor->add_float_data(v);
    return tensor;
  }
  std::string bytes() const { return model.SerializeAsString(); }
};

void setInts(onnx::NodeProto *node, const std::string &name, const std::vector<int64_t> &values) {
  auto *attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values)
    attr->add_ints(v);
}
void setInt(onnx::NodeProto *node, const std::string &name, int64_t value) {
  auto *attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}
void setFloat(onnx::NodeProto *node, const std::string &name, float value) {
  auto *attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::FLOAT);
  attr->set_f(value);
}
void setFloats(onnx::NodeProto *node, const std::string &name, const std::vector<float> &values) {
  auto *attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::FLOATS);
  for (float v : values)
    attr->add_floats(v);
}
void setString(onnx::NodeProto *node, const std::string &name, const std::string &value) {
  auto *attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::STRING);
  attr->set_s(value);
}

ImportOptions withoutChecker() {
  ImportOptions options;
  options.runChecker = false;
  return options;
}
ImportOptions allowingUnsupportedOps() {
  ImportOptions options;
  options.allowUnsupportedOps = true;
  return options;
}
ImportOptions withShapes(const std::string &text) {
  ImportOptions options;
  options.inputShapes = parseInputShapes(text);
  return options;
}

std::unique_ptr<ir::Graph> import(const ModelBuilder &builder, ImportOptions options = {}) {
  return importOnnxFromBytes(builder.bytes(), "model.onnx", options);
}

/// The BadInputError message importing `bytes` produces ("" when it imports).
std::string importError(const std::string &bytes, ImportOptions options = {}) {
  try {
    importOnnxFromBytes(bytes, "model.onnx", options);
  } catch (const BadInputError &e) {
    return e.what();
  }
  return "";
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

const ir::Node *onlyNode(const ir::Graph &graph, const std::string &opType) {
  const ir::Node *found = nullptr;
  for (const ir::Node *node : graph.nodes())
    if (node->opType() == opType) {
      EXPECT_EQ(found, nullptr) << "several " << opType << " nodes";
      found = node;
    }
  EXPECT_NE(found, nullptr) << "no " << opType << " node";
  return found;
}

std::vector<int64_t> constantInts(const ir::Value *value) {
  EXPECT_NE(value, nullptr);
  if (!value)
    return {};
  EXPECT_TRUE(value->isConstant()) << value->name();
  if (!value->isConstant())
    return {};
  return value->constant()->toInt64Vector();
}

/// A temporary .onnx file removed at the end of the test.
struct TempModel {
  std::string path;
  explicit TempModel(const std::string &bytes) {
    path = (std::filesystem::temp_directory_path() /
            ("leip_importer_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".onnx"))
               .string();
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempModel() { std::filesystem::remove(path); }
};

// ---- Basic conversion -------------------------------------------------------------

TEST(OnnxImporter, ImportsInputsConstantsNodesAndOutputs) {
  ModelBuilder b(13);
  b.input("x", {-1, 3});
  b.output("y", {-1, 3});
  b.initializerF32("w", {3}, {1, 2, 3});
  b.node("Add", {"x", "w"}, {"s"}, "add");
  b.node("Relu", {"s"}, {"y"}, "relu");
  auto graph = import(b);

  EXPECT_EQ(graph->opsetVersion, 13);
  ASSERT_EQ(graph->inputs().size(), 1u);
  EXPECT_EQ(graph->inputs()[0]->name(), "x");
  EXPECT_EQ(graph->inputs()[0]->type().dtype, ir::DType::F32);
  EXPECT_EQ(graph->inputs()[0]->type().shape, (ir::Shape{ir::kDynamicDim, 3}));
  const ir::Value *w = graph->findValue("w");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->isConstant());
  EXPECT_EQ(w->constant()->toFloatVector(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(graph->numNodes(), 2u);
  const ir::Node *add = graph->findNode("add");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->input(0), graph->inputs()[0]);
  EXPECT_EQ(add->input(1), w);
  ASSERT_EQ(graph->outputs().size(), 1u);
  EXPECT_EQ(graph->outputs()[0]->name(), "y");
}

TEST(OnnxImporter, InitializerListedAsInputIsAConstant) {
  ModelBuilder b(9);
  b.input("x", {1, 3});
  b.input("w", {3}); // old exporters list initializers among the inputs
  b.output("y", {1, 3});
  b.initializerF32("w", {3}, {1, 2, 3});
  b.node("Mul", {"x", "w"}, {"y"});
  auto graph = import(b);
  ASSERT_EQ(graph->inputs().size(), 1u);
  EXPECT_EQ(graph->inputs()[0]->name(), "x");
  EXPECT_TRUE(graph->findValue("w")->isConstant());
}

TEST(OnnxImporter, TensorLayouts) {
  ModelBuilder b(13);
  b.input("x", {4});
  b.output("y", {4});
  // raw_data f32
  auto *raw = b.graph->add_initializer();
  raw->set_name("raw");
  raw->set_data_type(onnx::TensorProto::FLOAT);
  raw->add_dims(2);
  float values[2] = {1.5f, -2.0f};
  raw->set_raw_data(std::string(reinterpret_cast<const char *>(values), sizeof values));
  // int8 in int32_data
  auto *i8 = b.graph->add_initializer();
  i8->set_name("i8");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(3);
  for (int v : {-128, 0, 127})
    i8->add_int32_data(v);
  // f16 bits in int32_data
  auto *f16 = b.graph->add_initializer();
  f16->set_name("f16");
  f16->set_data_type(onnx::TensorProto::FLOAT16);
  f16->add_int32_data(0x3C00); // 1.0, a scalar
  // int64
  auto *i64 = b.graph->add_initializer();
  i64->set_name("i64");
  i64->set_data_type(onnx::TensorProto::INT64);
  i64->add_dims(2);
  i64->add_int64_data(-5);
  i64->add_int64_data(1LL << 40);
  b.node("Relu", {"x"}, {"y"});
  auto graph = import(b);

  EXPECT_EQ(graph->findValue("raw")->constant()->toFloatVector(), (std::vector<float>{1.5f, -2.0f}));
  const ir::Tensor *t8 = graph->findValue("i8")->constant();
  EXPECT_EQ(t8->dtype(), ir::DType::I8);
  EXPECT_EQ(t8->toInt64Vector(), (std::vector<int64_t>{-128, 0, 127}));
  const ir::Tensor *t16 = graph->findValue("f16")->constant();
  EXPECT_EQ(t16->dtype(), ir::DType::F16);
  EXPECT_EQ(t16->rank(), 0);
  EXPECT_EQ(t16->getAsDouble(0), 1.0);
  EXPECT_EQ(graph->findValue("i64")->constant()->toInt64Vector(), (std::vector<int64_t>{-5, 1LL << 40}));
}

TEST(OnnxImporter, RawDataSizeMismatchNamesTensor) {
  ModelBuilder b(13);
  b.input("x", {4});
  b.output("y", {4});
  auto *w = b.graph->add_initializer();
  w->set_name("weights");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(1000000); // claims 4 MB, carries 8 bytes
  w->set_raw_data(std::string(8, '\0'));
  b.node("Relu", {"x"}, {"y"});
  std::string error = importError(b.bytes(), withoutChecker());
  EXPECT_CONTAINS(error, "model.onnx: tensor 'weights' has 8 bytes");
}

TEST(OnnxImporter, DoubleTensorRejected) {
  ModelBuilder b(13);
  b.input("x", {2});
  b.output("y", {2});
  auto *w = b.graph->add_initializer();
  w->set_name("dw");
  w->set_data_type(onnx::TensorProto::DOUBLE);
  w->add_dims(1);
  w->add_double_data(1.0);
  b.node("Relu", {"x"}, {"y"});
  std::string error = importError(b.bytes());
  EXPECT_CONTAINS(error, "tensor 'dw' has element type DOUBLE");
}

TEST(OnnxImporter, ExternalDataRejected) {
  ModelBuilder b(13);
  b.input("x", {3});
  b.output("y", {3});
  auto *w = b.graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(3);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto *entry = w->add_external_data();
  entry->set_key("location");
  entry->set_value("weights.bin");
  b.node("Add", {"x", "w"}, {"y"});
  EXPECT_EQ(importError(b.bytes()), "model.onnx: tensor 'w' uses external data (not supported: re-save the model "
                                    "with all tensors inside the file)");
}

TEST(OnnxImporter, ConstantNodes) {
  ModelBuilder b(13);
  b.input("x", {2});
  b.output("y", {2});
  setInts(b.node("Constant", {}, {"ints"}), "value_ints", {4, 5});
  setFloat(b.node("Constant", {}, {"f"}), "value_float", 0.5f);
  auto *tensorNode = b.node("Constant", {}, {"t"});
  auto *attr = tensorNode->add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  attr->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  attr->mutable_t()->add_dims(2);
  attr->mutable_t()->add_float_data(3);
  attr->mutable_t()->add_float_data(4);
  b.node("Add", {"x", "t"}, {"y"});
  auto graph = import(b);
  EXPECT_EQ(graph->numNodes(), 1u); // Constant nodes become constants
  EXPECT_EQ(constantInts(graph->findValue("ints")), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(graph->findValue("ints")->constant()->dtype(), ir::DType::I64);
  EXPECT_EQ(graph->findValue("f")->constant()->rank(), 0);
  EXPECT_EQ(graph->findValue("f")->constant()->toFloatVector(), (std::vector<float>{0.5f}));
  EXPECT_EQ(graph->findValue("t")->constant()->toFloatVector(), (std::vector<float>{3, 4}));
}

TEST(OnnxImporter, OptionalInputsOutputsAndNodeNames) {
  ModelBuilder b(13);
  b.input("x", {1, 4});
  b.output("y", {1, 4});
  b.node("Relu", {"x"}, {"a"});
  b.node("Relu", {"a"}, {"b"});     // unnamed twice: generated names
  b.node("Relu", {"b"}, {"c"}, "r"); // duplicate explicit name
  b.node("Relu", {"c"}, {"d"}, "r");
  b.node("Dropout", {"d", "", ""}, {"y", ""}); // omitted inputs, trailing omitted output
  auto graph = import(b);
  std::set<std::string> names;
  for (const ir::Node *node : graph->nodes())
    EXPECT_TRUE(names.insert(node->name()).second) << node->name();
  EXPECT_NE(graph->findNode("r"), nullptr);
  const ir::Node *dropout = onlyNode(*graph, "Dropout");
  EXPECT_EQ(dropout->numInputs(), 1u);
  EXPECT_EQ(dropout->numOutputs(), 1u);
}

// ---- Bad input --------------------------------------------------------------------

TEST(OnnxImporter, CorruptBytes) {
  ModelBuilder b(13);
  b.input("x", {1, 4});
  b.output("y", {1, 4});
  b.initializerF32("w", {4}, {1, 2, 3, 4});
  b.node("Add", {"x", "w"}, {"y"});
  std::string good = b.bytes();

  EXPECT_CONTAINS(importError(""), "model.onnx: the model is empty");
  for (size_t cut : {good.size() / 2, good.size() - 1, size_t{1}, size_t{7}}) {
    std::string error = importError(good.substr(0, cut));
    EXPECT_EQ(error.rfind("model.onnx: ", 0), 0u) << "cut " << cut << ": " << error;
  }
  std::string random;
  uint32_t state = 12345;
  for (int i = 0; i < 4096; ++i) {
    state = state * 1664525u + 1013904223u;
    random.push_back(static_cast<char>(state >> 24));
  }
  EXPECT_EQ(importError(random).rfind("model.onnx: ", 0), 0u);

  onnx::ModelProto noGraph;
  noGraph.set_ir_version(onnx::IR_VERSION);
  EXPECT_CONTAINS(importError(noGraph.SerializeAsString()), "model.onnx: the model has no graph");
}

TEST(OnnxImporter, MissingAndEmptyFiles) {
  try {
    importOnnx("/nonexistent/dir/model.onnx");
    FAIL() << "no error";
  } catch (const BadInputError &e) {
    EXPECT_STREQ(e.what(), "/nonexistent/dir/model.onnx: file not found");
  }
  TempModel empty("");
  try {
    importOnnx(empty.path);
    FAIL() << "no error";
  } catch (const BadInputError &e) {
    EXPECT_EQ(std::string(e.what()), empty.path + ": the file is empty");
  }
}

TEST(OnnxImporter, OpsetOutOfRange) {
  ModelBuilder b(18);
  b.input("x", {1});
  b.output("y", {1});
  b.node("Relu", {"x"}, {"y"});
  EXPECT_EQ(importError(b.bytes()), "model.onnx: opset 18 is newer than leip supports (7-17)");
  // Relu's opset-6 definition is still opset 7's, so an opset-6 Relu model is accepted.
  b.model.mutable_opset_import(0)->set_version(6);
  EXPECT_EQ(import(b)->numNodes(), 1u);
}

TEST(OnnxImporter, OldOpsetWithAChangedOpIsRejectedNamingTheNode) {
  ModelBuilder b(6);
  b.input("x", {1, 2, 2, 2});
  for (const char *param : {"s", "b", "m", "v"}) b.input(param, {2});
  b.output("y", {1, 2, 2, 2});
  b.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, "bn"); // changed in opset 7
  std::string error = importError(b.bytes(), withoutChecker());
  EXPECT_CONTAINS(error, "opset 6 is older than leip supports (7-17)");
  EXPECT_CONTAINS(error, "node 'bn' (BatchNormalization)");
}

TEST(OnnxImporter, UnsupportedOpsAreListedTogether) {
  ModelBuilder b(13);
  b.model.add_opset_import()->set_domain("com.microsoft");
  b.model.mutable_opset_import(1)->set_version(1);
  b.input("x", {2, 2});
  b.output("y", {2, 2});
  b.node("NonZero", {"x"}, {"nz"}, "nz1");
  b.node("Det", {"x"}, {"det"}, "det1");
  b.node("Relu", {"x"}, {"r"});
  b.node("FusedThing", {"r"}, {"y"}, "fused")->set_domain("com.microsoft");
  std::string error = importError(b.bytes());
  EXPECT_CONTAINS(error, "model.onnx: 3 nodes use ops that leip does not support");
  EXPECT_CONTAINS(error, "NonZero ('nz1')");
  EXPECT_CONTAINS(error, "Det ('det1')");
  EXPECT_CONTAINS(error, "com.microsoft:FusedThing ('fused')");

  // `leip inspect` keeps them.
  auto graph = import(b, allowingUnsupportedOps());
  EXPECT_NE(graph->findNode("nz1"), nullptr);
  EXPECT_EQ(graph->findNode("fused")->domain(), "com.microsoft");
}

TEST(OnnxImporter, LeipsInternalOpsAreNotReadFromFiles) {
  // leip.QConv exists only inside the compiler (passes::lowerQdqToInteger makes it).
  ModelBuilder b(13);
  b.model.add_opset_import()->set_domain("leip");
  b.model.mutable_opset_import(1)->set_version(1);
  b.input("x", {1, 1, 2, 2});
  b.output("y", {1, 1, 2, 2});
  b.node("QConv", {"x"}, {"y"}, "qc")->set_domain("leip");
  EXPECT_CONTAINS(importError(b.bytes(), withoutChecker()), "domain 'leip' is not supported by leip (op QConv)");
}

TEST(OnnxImporter, SingleUnsupportedOpMessage) {
  ModelBuilder b(13);
  b.input("x", {2, 2});
  b.output("y", {2, 2});
  b.node("NonZero", {"x"}, {"y"}, "x_nz");
  EXPECT_EQ(importError(b.bytes()), "model.onnx: node 'x_nz' (NonZero): op NonZero is not supported by leip (opset 13)");
}

TEST(OnnxImporter, UndefinedInputNamesNode) {
  ModelBuilder b(13);
  b.input("x", {2});
  b.output("y", {2});
  b.node("Add", {"x", "nowhere"}, {"y"}, "adder");
  EXPECT_CONTAINS(importError(b.bytes()), "model.onnx: node 'adder' (Add): input 'nowhere' is not defined");
}

TEST(OnnxImporter, SubgraphsRejected) {
  ModelBuilder b(13);
  b.input("x", {2});
  b.output("y", {2});
  auto *node = b.node("Relu", {"x"}, {"y"}, "r");
  auto *attr = node->add_attribute();
  attr->set_name("body");
  attr->set_type(onnx::AttributeProto::GRAPH);
  attr->mutable_g()->set_name("sub");
  EXPECT_CONTAINS(importError(b.bytes(), withoutChecker()), "node 'r' (Relu): subgraphs are not supported");
}

TEST(OnnxImporter, CheckerErrorsAreOneLine) {
  ModelBuilder b(13);
  b.input("x", {2});
  b.output("y", {2});
  setString(b.node("Relu", {"x"}, {"y"}, "r"), "bogus", "z"); // Relu has no such attribute
  std::string error = importError(b.bytes());
  EXPECT_CONTAINS(error, "model.onnx: ONNX checker: ");
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_NE(importError(b.bytes(), withoutChecker()), error);
}

// ---- Legacy forms -----------------------------------------------------------------

TEST(OnnxImporter, LegacySplitAttributeBecomesInput) {
  ModelBuilder b(11);
  b.input("x", {5});
  b.output("a", {2});
  b.output("c", {3});
  auto *split = b.node("Split", {"x"}, {"a", "c"}, "split");
  setInt(split, "axis", 0);
  setInts(split, "split", {2, 3});
  auto graph = import(b);
  const ir::Node *node = graph->findNode("split");
  ASSERT_NE(node, nullptr);
  ASSERT_EQ(node->numInputs(), 2u);
  EXPECT_EQ(constantInts(node->input(1)), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(node->input(1)->constant()->dtype(), ir::DType::I64);
  EXPECT_FALSE(node->attrs().has("split"));
  EXPECT_TRUE(node->attrs().has("axis"));
}

TEST(OnnxImporter, LegacySqueezeSliceClipPadTopK) {
  ModelBuilder b(9);
  b.input("x", {1, 4});
  b.output("y", {2});
  b.output("k", {1, 3});
  b.output("ki", {1, 3}, onnx::TensorProto::INT64);
  setInts(b.node("Unsqueeze", {"x"}, {"u"}, "unsq"), "axes", {0});
  setInts(b.node("Squeeze", {"u"}, {"s"}, "sq"), "axes", {0, 1});
  auto *slice = b.node("Slice", {"s"}, {"sl"}, "slice");
  setInts(slice, "starts", {1});
  setInts(slice, "ends", {3});
  auto *clip = b.node("Clip", {"sl"}, {"cl"}, "clip");
  setFloat(clip, "min", -1.0f);
  setFloat(clip, "max", 6.0f);
  auto *pad = b.node("Pad", {"cl"}, {"y"}, "pad");
  setInts(pad, "pads", {0, 0});
  setFloat(pad, "value", 2.5f);
  setInt(b.node("TopK", {"x"}, {"k", "ki"}, "topk"), "k", 3);
  auto graph = import(b, ImportOptions{});

  EXPECT_EQ(constantInts(graph->findNode("unsq")->input(1)), (std::vector<int64_t>{0}));
  EXPECT_EQ(constantInts(graph->findNode("sq")->input(1)), (std::vector<int64_t>{0, 1}));
  const ir::Node *sliceNode = graph->findNode("slice");
  ASSERT_EQ(sliceNode->numInputs(), 3u); // no axes attribute -> no axes input
  EXPECT_EQ(constantInts(sliceNode->input(1)), (std::vector<int64_t>{1}));
  EXPECT_EQ(constantInts(sliceNode->input(2)), (std::vector<int64_t>{3}));
  const ir::Node *clipNode = graph->findNode("clip");
  ASSERT_EQ(clipNode->numInputs(), 3u);
  EXPECT_EQ(clipNode->input(1)->constant()->toFloatVector(), (std::vector<float>{-1.0f}));
  EXPECT_EQ(clipNode->input(2)->constant()->toFloatVector(), (std::vector<float>{6.0f}));
  EXPECT_TRUE(clipNode->attrs().all().empty());
  const ir::Node *padNode = graph->findNode("pad");
  ASSERT_EQ(padNode->numInputs(), 3u);
  EXPECT_EQ(constantInts(padNode->input(1)), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(padNode->input(2)->constant()->toFloatVector(), (std::vector<float>{2.5f}));
  EXPECT_FALSE(padNode->attrs().has("pads"));
  const ir::Node *topk = graph->findNode("topk");
  ASSERT_EQ(topk->numInputs(), 2u);
  EXPECT_EQ(constantInts(topk->input(1)), (std::vector<int64_t>{3}));
}

TEST(OnnxImporter, UpsampleBecomesResize) {
  ModelBuilder b(7);
  b.input("x", {1, 1, 2, 2});
  b.output("y", {1, 1, 4, 4});
  auto *up = b.node("Upsample", {"x"}, {"y"}, "up");
  setFloats(up, "scales", {1, 1, 2, 2});
  setString(up, "mode", "nearest");
  auto graph = import(b);
  const ir::Node *resize = onlyNode(*graph, "Resize");
  ASSERT_NE(resize, nullptr);
  EXPECT_EQ(resize->name(), "up");
  ASSERT_EQ(resize->numInputs(), 3u);
  EXPECT_EQ(resize->input(1), nullptr); // roi omitted
  EXPECT_EQ(resize->input(2)->constant()->toFloatVector(), (std::vector<float>{1, 1, 2, 2}));
  EXPECT_EQ(resize->attrs().getString("coordinate_transformation_mode", ""), "asymmetric");
  EXPECT_EQ(resize->attrs().getString("nearest_mode", ""), "floor");
  EXPECT_EQ(resize->attrs().getString("mode", ""), "nearest");
}

TEST(OnnxImporter, LegacySoftmax) {
  // Axis on the last dimension: the opset-13 op as is.
  {
    ModelBuilder b(11);
    b.input("x", {2, 5});
    b.output("y", {2, 5});
    b.node("Softmax", {"x"}, {"y"}, "sm"); // default axis 1 == rank-1
    auto graph = import(b);
    EXPECT_EQ(graph->numNodes(), 1u);
    EXPECT_EQ(graph->findNode("sm")->attrs().getInt("axis", 0), -1);
  }
  // Axis 1 of a rank-4 tensor: normalize over the flattened trailing block.
  {
    ModelBuilder b(11);
    b.input("x", {2, 3, 4, 5});
    b.output("y", {2, 3, 4, 5});
    b.node("LogSoftmax", {"x"}, {"y"}, "lsm");
    auto graph = import(b);
    const ir::Node *flatten = onlyNode(*graph, "Flatten");
    const ir::Node *op = onlyNode(*graph, "LogSoftmax");
    const ir::Node *reshape = onlyNode(*graph, "Reshape");
    ASSERT_TRUE(flatten && op && reshape);
    EXPECT_EQ(flatten->attrs().getInt("axis", 0), 1);
    EXPECT_EQ(op->input(0), flatten->output(0));
    EXPECT_EQ(op->attrs().getInt("axis", 0), -1);
    EXPECT_EQ(reshape->input(0), op->output(0));
    EXPECT_EQ(reshape->input(1)->producer()->opType(), "Shape");
    EXPECT_EQ(reshape->output(0)->name(), "y");
    EXPECT_EQ(graph->outputs()[0], reshape->output(0));
  }
}

TEST(OnnxImporter, ScatterAndDropoutAndBatchNorm) {
  ModelBuilder b(9);
  b.input("x", {1, 2, 2, 2});
  b.output("y", {1, 2, 2, 2});
  b.initializerF32("s", {2}, {1, 1});
  b.initializerF32("bb", {2}, {0, 0});
  b.initializerF32("m", {2}, {0, 0});
  b.initializerF32("v", {2}, {1, 1});
  setFloat(b.node("Dropout", {"x"}, {"d"}, "drop"), "ratio", 0.3f);
  b.node("BatchNormalization", {"d", "s", "bb", "m", "v"}, {"y"}, "bn");
  auto graph = import(b);
  EXPECT_FALSE(graph->findNode("drop")->attrs().has("ratio"));
  EXPECT_EQ(graph->findNode("bn")->numInputs(), 5u);
}

// ---- Input shapes -----------------------------------------------------------------

TEST(InputShapes, Parse) {
  InputShapes one = parseInputShapes("1,3,224,224");
  ASSERT_EQ(one.byName.size(), 1u);
  EXPECT_EQ(one.byName.at(""), (ir::Shape{1, 3, 224, 224}));

  InputShapes two = parseInputShapes("x:1,3,48,320;y:1,10");
  EXPECT_EQ(two.byName.at("x"), (ir::Shape{1, 3, 48, 320}));
  EXPECT_EQ(two.byName.at("y"), (ir::Shape{1, 10}));

  InputShapes tf = parseInputShapes(" input:0 : 2, 5 ;");
  EXPECT_EQ(tf.byName.at("input:0"), (ir::Shape{2, 5}));

  EXPECT_TRUE(parseInputShapes("").empty());
  for (const char *bad : {"1,a,3", "x:1,,2", ":1,2", "1,2;3,4", "x:1;x:2", "x:-1,3", "1,0", "99999999999999999999"}) {
    try {
      parseInputShapes(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const UsageError &e) {
      EXPECT_CONTAINS(e.what(), "--input_shapes");
    }
  }
}

std::string loadError(const ModelBuilder &b, const std::string &shapes) {
  TempModel file(b.bytes());
  try {
    loadModel(file.path, withShapes(shapes));
  } catch (const BadInputError &e) {
    std::string message = e.what();
    EXPECT_EQ(message.rfind(file.path + ": ", 0), 0u) << message;
    return message.substr(file.path.size() + 2);
  }
  return "";
}

ModelBuilder reluModel(const std::vector<int64_t> &dims) {
  ModelBuilder b(13);
  b.input("input", dims);
  b.output("y", dims);
  b.node("Relu", {"input"}, {"y"});
  return b;
}

TEST(InputShapes, DynamicBatchDefaultsToOne) {
  ModelBuilder b = reluModel({-1, 3});
  TempModel file(b.bytes());
  auto graph = loadModel(file.path);
  EXPECT_EQ(graph->inputs()[0]->type().shape, (ir::Shape{1, 3}));
  EXPECT_EQ(graph->outputs()[0]->type().shape, (ir::Shape{1, 3}));

  auto bound = loadModel(file.path, withShapes("input:8,3"));
  EXPECT_EQ(bound->outputs()[0]->type().shape, (ir::Shape{8, 3}));
}

TEST(InputShapes, Mismatches) {
  ModelBuilder b = reluModel({-1, 3, 224, 224});
  EXPECT_EQ(loadError(b, "1,3,224"),
            "input 'input': --input_shapes gives [1,3,224] but the model declares rank 4 [?,3,224,224]");
  EXPECT_CONTAINS(loadError(b, "1,3,224,225"), "dim 3 is fixed at 224");
  EXPECT_CONTAINS(loadError(b, "image:1,3,224,224"),
                  "--input_shapes names input 'image', but the model's inputs are: 'input'");
  EXPECT_EQ(loadError(b, "1,3,224,224"), "");

  ModelBuilder dynamic = reluModel({-1, 3, -1, -1});
  EXPECT_CONTAINS(loadError(dynamic, ""), "input 'input' has a dynamic dimension 2");
  EXPECT_CONTAINS(loadError(dynamic, ""), "--input_shapes input:1,3,<d2>,<d3>");
  EXPECT_EQ(loadError(dynamic, "2,3,32,32"), "");
}

// ---- TensorProto files --------------------------------------------------------------

TEST(OnnxImporter, TensorFromProtoBytes) {
  onnx::TensorProto proto;
  proto.set_name("input_0");
  proto.set_data_type(onnx::TensorProto::INT32);
  proto.add_dims(2);
  proto.add_dims(2);
  for (int v : {1, -2, 3, -4})
    proto.add_int32_data(v);
  ir::Tensor tensor = tensorFromProtoBytes(proto.SerializeAsString(), "input_0.pb");
  EXPECT_EQ(tensor.dtype(), ir::DType::I32);
  EXPECT_EQ(tensor.shape(), (ir::Shape{2, 2}));
  EXPECT_EQ(tensor.toInt64Vector(), (std::vector<int64_t>{1, -2, 3, -4}));

  proto.add_int32_data(5); // one value too many
  try {
    tensorFromProtoBytes(proto.SerializeAsString(), "input_0.pb");
    FAIL() << "no error";
  } catch (const BadInputError &e) {
    EXPECT_CONTAINS(e.what(), "input_0.pb: tensor 'input_0' has 5 values");
  }
  EXPECT_THROW(tensorFromProtoBytes("\xff\xff\xff", "bad.pb"), BadInputError);
}

} // namespace
} // namespace leip::frontend
