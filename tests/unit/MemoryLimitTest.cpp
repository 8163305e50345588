// --max_memory (support/MemoryLimit.h): the size syntax, and that shape inference refuses a
// model whose tensors need more, naming the tensor, before anything is allocated.
#include "leip/frontend/OnnxImporter.h"
#include "leip/support/Error.h"
#include "leip/support/MemoryLimit.h"

#include <gtest/gtest.h>

#include <onnx/defs/tensor_proto_util.h>
#include <onnx/onnx_pb.h>

using namespace leip;

namespace {
/// Restores the default cap when a test ends.
struct ScopedMaxMemory {
  explicit ScopedMaxMemory(uint64_t bytes) { setMaxMemory(bytes); }
  ~ScopedMaxMemory() { setMaxMemory(0); }
};

/// y = ConstantOfShape(shape) + x, with shape an int64 initializer.
std::string constantOfShapeModel(const std::vector<int64_t> &shape) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto *graph = model.mutable_graph();
  graph->set_name("g");
  onnx::TensorProto *init = graph->add_initializer();
  init->set_name("shape");
  init->set_data_type(onnx::TensorProto::INT64);
  init->add_dims(static_cast<int64_t>(shape.size()));
  for (int64_t d : shape) init->add_int64_data(d);
  onnx::NodeProto *fill = graph->add_node();
  fill->set_op_type("ConstantOfShape");
  fill->set_name("fill");
  fill->add_input("shape");
  fill->add_output("filled");
  onnx::NodeProto *add = graph->add_node();
  add->set_op_type("Add");
  add->add_input("x");
  add->add_input("filled");
  add->add_output("y");
  for (auto [info, name] : {std::pair{graph->add_input(), "x"}, std::pair{graph->add_output(), "y"}}) {
    info->set_name(name);
    auto *type = info->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) type->mutable_shape()->add_dim()->set_dim_value(d);
  }
  return model.SerializeAsString();
}
} // namespace

TEST(MemoryLimit, ParsesSizes) {
  EXPECT_EQ(parseByteSize("4096"), 4096u);
  EXPECT_EQ(parseByteSize("512K"), 512u << 10);
  EXPECT_EQ(parseByteSize("64M"), 64u << 20);
  EXPECT_EQ(parseByteSize("8G"), uint64_t{8} << 30);
  EXPECT_EQ(parseByteSize("8GiB"), uint64_t{8} << 30);
  EXPECT_EQ(parseByteSize("1.5g"), uint64_t{3} << 29);
  EXPECT_EQ(parseByteSize("2T"), uint64_t{2} << 40);
  for (const char *bad : {"", "G", "12Q", "0", "-1", "1..2G", "99999999999T"})
    EXPECT_THROW(parseByteSize(bad), UsageError) << bad;
}

TEST(MemoryLimit, FormatsAndChecks) {
  EXPECT_EQ(formatBytes(300), "300 bytes");
  EXPECT_EQ(formatBytes(uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(checkedBytes(int64_t{1} << 61, 4), std::nullopt);
  EXPECT_EQ(checkedBytes(10, 4), 40u);
  EXPECT_GT(defaultMaxMemory(), 0u);
  ScopedMaxMemory cap(1000);
  EXPECT_EQ(maxMemory(), 1000u);
  EXPECT_NO_THROW(checkMemory(1000, "t"));
  try {
    checkMemory(1001, "tensor 'w'");
    FAIL() << "no error";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w' needs 1001 bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--max_memory"), std::string::npos) << e.what();
  }
}

TEST(MemoryLimit, ShapeInferenceRefusesBeforeFolding) {
  ScopedMaxMemory cap(uint64_t{1} << 20); // 1 MiB
  // 256x256 floats (256 KiB per tensor): fine.
  EXPECT_NO_THROW(frontend::loadModelFromBytes(constantOfShapeModel({256, 256}), "small.onnx"));
  // 1024x1024 floats (4 MiB): refused, naming the folded tensor and its node.
  try {
    frontend::loadModelFromBytes(constantOfShapeModel({1024, 1024}), "big.onnx");
    FAIL() << "no error";
  } catch (const BadInputError &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("big.onnx"), std::string::npos) << what;
    EXPECT_NE(what.find("4194304 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("--max_memory"), std::string::npos) << what;
  }
}
