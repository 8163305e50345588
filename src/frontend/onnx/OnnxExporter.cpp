// leip graph IR -> ONNX ModelProto (opset 17), quantized tensors in QDQ form.
//
// The IR already holds every op in its opset-17 form (LegacyForms.cpp rewrites older
// ones on import), so nodes map one to one onto ONNX nodes; the exporter only checks that
// ONNX can express them and adds QuantizeLinear/DequantizeLinear around quantized values.
#include "leip/frontend/OnnxExporter.h"

#include "leip/quant/Quantizer.h"

#include "leip/ir/Verifier.h"
#include "leip/support/Error.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <variant>

namespace leip::frontend {
namespace {

[[noreturn]] void fail(const std::string &message) { throw BadInputError(message); }

std::string quoted(const std::string &name) { return "'" + name + "'"; }

int onnxElemType(ir::DType dtype) {
  switch (dtype) {
  case ir::DType::F32: return onnx::TensorProto::FLOAT;
  case ir::DType::F16: return onnx::TensorProto::FLOAT16;
  case ir::DType::I8: return onnx::TensorProto::INT8;
  case ir::DType::U8: return onnx::TensorProto::UINT8;
  case ir::DType::I32: return onnx::TensorProto::INT32;
  case ir::DType::I64: return onnx::TensorProto::INT64;
  case ir::DType::Bool: return onnx::TensorProto::BOOL;
  }
  throw InternalError("unknown dtype");
}

/// `batchDim`, when not empty, names the first dim instead of its value.
void setValueInfo(onnx::ValueInfoProto &info, const std::string &name, const ir::TensorType &type,
                  const std::string &batchDim = "") {
  info.set_name(name);
  auto *tensorType = info.mutable_type()->mutable_tensor_type();
  tensorType->set_elem_type(onnxElemType(type.dtype));
  auto *shape = tensorType->mutable_shape();
  for (size_t i = 0; i < type.shape.size(); ++i) {
    auto *d = shape->add_dim();
    if (i == 0 && !batchDim.empty())
      d->set_dim_param(batchDim);
    else if (type.shape[i] != ir::kDynamicDim) // a dynamic dim stays unknown
      d->set_dim_value(type.shape[i]);
  }
}

/// Tensors are stored as raw_data: leip tensors are row-major and little-endian, which is
/// raw_data's layout (f16 as IEEE half bits, bool as one byte).
void setTensor(onnx::TensorProto &proto, const std::string &name, const ir::Tensor &tensor) {
  proto.set_name(name);
  proto.set_data_type(onnxElemType(tensor.dtype()));
  for (int64_t dim : tensor.shape())
    proto.add_dims(dim);
  proto.set_raw_data(tensor.rawData(), tensor.byteSize());
}

/// The ONNX attribute kind a leip attribute maps to.
onnx::AttributeProto::AttributeType attributeKind(const ir::Attribute &attr) {
  using A = onnx::AttributeProto;
  static constexpr A::AttributeType kinds[] = {A::INT, A::FLOAT, A::STRING, A::INTS, A::FLOATS, A::STRINGS, A::TENSOR};
  static_assert(std::variant_size_v<ir::Attribute> == std::size(kinds));
  return kinds[attr.index()];
}

void setAttribute(onnx::AttributeProto &proto, const std::string &name, const ir::Attribute &attr) {
  proto.set_name(name);
  proto.set_type(attributeKind(attr));
  if (const auto *i = std::get_if<int64_t>(&attr))
    proto.set_i(*i);
  else if (const auto *f = std::get_if<float>(&attr))
    proto.set_f(*f);
  else if (const auto *s = std::get_if<std::string>(&attr))
    proto.set_s(*s);
  else if (const auto *ints = std::get_if<std::vector<int64_t>>(&attr))
    proto.mutable_ints()->Add(ints->begin(), ints->end());
  else if (const auto *floats = std::get_if<std::vector<float>>(&attr))
    proto.mutable_floats()->Add(floats->begin(), floats->end());
  else if (const auto *strings = std::get_if<std::vector<std::string>>(&attr))
    for (const std::string &item : *strings)
      proto.add_strings(item);
  else
    setTensor(*proto.mutable_t(), "", std::get<ir::Tensor>(attr));
}

/// Collapses a multi-line message (ONNX checker messages span lines) into one line.
std::string oneLine(std::string text) {
  for (char &c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  return text;
}

class Exporter {
public:
  Exporter(const ir::Graph &graph, const ExportOptions &options) : graph_(graph), options_(options) {}

  onnx::ModelProto run() {
    ir::verify(graph_);
    for (ir::Value *value : graph_.values())
      taken_.insert(value->name());
    for (ir::Node *node : graph_.nodes())
      taken_.insert(node->name());
    planNames();

    model_.set_ir_version(onnx::IR_VERSION);
    model_.set_producer_name(options_.producerName);
    auto *opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(kExportOpset);
    onnx::GraphProto &g = *model_.mutable_graph();
    g.set_name(graph_.name.empty() ? "leip" : graph_.name);

    for (ir::Value *input : graph_.inputs()) {
      setValueInfo(*g.add_input(), input->name(), input->type(), options_.batchDim);
      if (input->type().quant)
        emitQdq(*input, input->name());
    }
    for (ir::Value *value : graph_.constants())
      if (!value->users().empty() || isGraphOutput(value))
        emitConstant(*value);
    for (ir::Node *node : graph_.topologicalOrder())
      emitNode(*node);
    for (ir::Value *output : graph_.outputs())
      setValueInfo(*g.add_output(), readName(output), plainType(output->type()), options_.batchDim);

    if (options_.runChecker)
      check();
    return std::move(model_);
  }

private:
  /// Quantized values get their names here: readers (and graph outputs) use readName_,
  /// the producer writes writeName_ (node outputs) or the initializer is stored under it.
  void planNames() {
    std::unordered_set<const ir::Value *> outputs(graph_.outputs().begin(), graph_.outputs().end());
    for (ir::Value *value : graph_.values()) {
      if (!value->type().quant)
        continue;
      checkQuantizable(*value);
      const std::string &name = value->name();
      if (value->isConstant())
        writeName_[value] = fresh(name + "_quantized");
      else if (value->isGraphInput()) {
        if (outputs.count(value))
          fail("graph input " + quoted(name) +
               " is also a graph output and quantized: its dequantized output cannot keep the name");
        readName_[value] = fresh(name + "_dequantized");
      } else
        writeName_[value] = fresh(name + "_float");
    }
  }

  void checkQuantizable(const ir::Value &value) {
    const ir::QuantParams &q = *value.type().quant;
    const std::string what = "tensor " + quoted(value.name());
    if (value.type().dtype != ir::DType::F32)
      fail(what + " is " + value.type().toString() +
           " with quantization parameters; only f32 tensors can be exported in QDQ form");
    if (q.storage != ir::DType::I8 && q.storage != ir::DType::U8 && q.storage != ir::DType::I32)
      fail(what + " is quantized to " + std::string(ir::dtypeName(q.storage)) +
           "; ONNX's QDQ form stores i8, u8 or (constants only) i32");
    if (q.storage == ir::DType::I32) {
      if (!value.isConstant())
        fail(what + (value.producer() ? " (output of " + value.producer()->describe() + ")" : std::string()) +
             " is quantized to i32, which QuantizeLinear cannot produce (only constants such as biases can be i32)");
      for (int64_t zp : q.zeroPoints)
        if (zp != 0)
          fail(what + " is quantized to i32 with zero point " + std::to_string(zp) +
               "; DequantizeLinear needs 0 for i32");
    }
  }

  std::string fresh(const std::string &base) {
    std::string name = base;
    for (int n = 1; taken_.count(name); ++n)
      name = base + "_" + std::to_string(n);
    taken_.insert(name);
    return name;
  }

  static ir::TensorType plainType(ir::TensorType type) {
    type.quant.reset();
    return type;
  }

  bool isGraphOutput(const ir::Value *value) const {
    for (const ir::Value *output : graph_.outputs())
      if (output == value)
        return true;
    return false;
  }

  std::string readName(const ir::Value *value) const {
    auto it = readName_.find(value);
    return it == readName_.end() ? value->name() : it->second;
  }
  std::string writeName(const ir::Value *value) const {
    auto it = writeName_.find(value);
    return it == writeName_.end() ? value->name() : it->second;
  }

  void addValueInfo(const std::string &name, const ir::TensorType &type) {
    if (options_.batchDim.empty() && !outputNames().count(name))
      setValueInfo(*model_.mutable_graph()->add_value_info(), name, type);
  }

  const std::unordered_set<std::string> &outputNames() {
    if (outputNames_.empty())
      for (const ir::Value *output : graph_.outputs())
        outputNames_.insert(readName(output));
    return outputNames_;
  }

  onnx::NodeProto &addNode(const std::string &opType, const std::string &name) {
    onnx::NodeProto &node = *model_.mutable_graph()->add_node();
    node.set_op_type(opType);
    node.set_name(name);
    return node;
  }

  /// Scale and zero-point initializers for a quantized value; returns their names (the
  /// zero point is "" for i32, where DequantizeLinear takes none).
  std::pair<std::string, std::string> emitQuantParams(const ir::Value &value) {
    const ir::QuantParams &q = *value.type().quant;
    ir::Shape shape;
    if (q.axis)
      shape = {static_cast<int64_t>(q.scales.size())};
    onnx::GraphProto &g = *model_.mutable_graph();
    std::string scaleName = fresh(value.name() + "_scale");
    setTensor(*g.add_initializer(), scaleName, ir::Tensor::fromVector(ir::DType::F32, shape, q.scales));
    if (q.storage == ir::DType::I32)
      return {scaleName, ""};
    std::string zeroPointName = fresh(value.name() + "_zero_point");
    ir::Tensor zeroPoint(q.storage, shape);
    for (size_t i = 0; i < q.zeroPoints.size(); ++i) {
      // The quantizer picks zero points inside the storage range; one outside it is a bug.
      auto zp = static_cast<double>(q.zeroPoints[i]);
      if (q.storage == ir::DType::I8 ? (zp < -128 || zp > 127) : (zp < 0 || zp > 255))
        throw InternalError("tensor " + quoted(value.name()) + ": zero point " + std::to_string(q.zeroPoints[i]) +
                            " is outside " + std::string(ir::dtypeName(q.storage)));
      zeroPoint.setFromDouble(static_cast<int64_t>(i), zp);
    }
    setTensor(*g.add_initializer(), zeroPointName, zeroPoint);
    return {scaleName, zeroPointName};
  }

  void setAxis(onnx::NodeProto &node, const ir::QuantParams &q) {
    if (q.axis)
      setAttribute(*node.add_attribute(), "axis", ir::Attribute(*q.axis));
  }

  /// DequantizeLinear(integers) -> readName(value).
  void emitDequantize(const ir::Value &value, const std::string &integers, const std::string &scale,
                      const std::string &zeroPoint) {
    onnx::NodeProto &dq = addNode("DequantizeLinear", fresh(value.name() + "_DequantizeLinear"));
    dq.add_input(integers);
    dq.add_input(scale);
    if (!zeroPoint.empty())
      dq.add_input(zeroPoint);
    dq.add_output(readName(&value));
    setAxis(dq, *value.type().quant);
    addValueInfo(readName(&value), plainType(value.type()));
  }

  /// QuantizeLinear(source) -> DequantizeLinear -> readName(value), for activations.
  void emitQdq(const ir::Value &value, const std::string &source) {
    const ir::QuantParams &q = *value.type().quant;
    auto [scale, zeroPoint] = emitQuantParams(value);
    std::string integers = fresh(value.name() + "_quantized");
    onnx::NodeProto &qn = addNode("QuantizeLinear", fresh(value.name() + "_QuantizeLinear"));
    qn.add_input(source);
    qn.add_input(scale);
    qn.add_input(zeroPoint);
    qn.add_output(integers);
    setAxis(qn, q);
    addValueInfo(integers, ir::TensorType{q.storage, value.type().shape, {}});
    emitDequantize(value, integers, scale, zeroPoint);
  }

  void emitConstant(const ir::Value &value) {
    onnx::GraphProto &g = *model_.mutable_graph();
    if (!value.type().quant) {
      setTensor(*g.add_initializer(), value.name(), *value.constant());
      return;
    }
    std::string integers = writeName(&value);
    setTensor(*g.add_initializer(), integers, quant::quantize(*value.constant(), *value.type().quant));
    auto [scale, zeroPoint] = emitQuantParams(value);
    emitDequantize(value, integers, scale, zeroPoint);
  }

  /// The op's opset-17 schema; fails naming the node when ONNX has none.
  const onnx::OpSchema &schemaOf(const ir::Node &node) {
    if (!node.domain().empty())
      fail(node.describe() + ": domain " + quoted(node.domain()) + " cannot be exported to ONNX");
    const onnx::OpSchema *schema =
        onnx::OpSchemaRegistry::Schema(node.opType(), static_cast<int>(kExportOpset), "");
    if (!schema || schema->Deprecated())
      fail(node.describe() + ": op " + node.opType() + " has no ONNX opset-" + std::to_string(kExportOpset) +
           " definition");
    return *schema;
  }

  void emitNode(const ir::Node &node) {
    const onnx::OpSchema &schema = schemaOf(node);
    onnx::NodeProto &proto = addNode(node.opType(), node.name());
    for (const ir::Value *input : node.inputs())
      proto.add_input(input ? readName(input) : std::string()); // "" = omitted optional input
    for (const ir::Value *output : node.outputs())
      proto.add_output(writeName(output));
    for (const auto &[name, attr] : node.attrs().all()) {
      auto it = schema.attributes().find(name);
      if (it == schema.attributes().end()) {
        bool fused = name == "activation" || name == "activation_params";
        fail(node.describe() + ": attribute " + quoted(name) + " is not part of ONNX " + node.opType() +
             (fused ? " (a leip fused activation: export the graph before optimizeForCompile)" : ""));
      }
      if (it->second.type != attributeKind(attr))
        fail(node.describe() + ": attribute " + quoted(name) + " is " + ir::attributeToString(attr) + ", ONNX expects " +
             onnx::AttributeProto_AttributeType_Name(it->second.type));
      setAttribute(*proto.add_attribute(), name, attr);
    }
    for (const ir::Value *output : node.outputs()) {
      addValueInfo(writeName(output), plainType(output->type()));
      if (output->type().quant)
        emitQdq(*output, writeName(output));
    }
  }

  /// onnx.checker.check_model(full_check=True): structure, then shape inference that
  /// fails on errors and on types that disagree with the declared ones.
  void check() {
    try {
      onnx::checker::check_model(model_);
      onnx::ModelProto copy = model_; // inference adds value_info; keep the export as written
      onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                         onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
    } catch (const std::exception &e) {
      throw InternalError("the exported ONNX model fails ONNX's checker: " + oneLine(e.what()));
    }
  }

  const ir::Graph &graph_;
  const ExportOptions &options_;
  onnx::ModelProto model_;
  std::unordered_set<std::string> taken_;
  std::unordered_map<const ir::Value *, std::string> readName_;
  std::unordered_map<const ir::Value *, std::string> writeName_;
  std::unordered_set<std::string> outputNames_;
};

} // namespace

onnx::ModelProto exportOnnx(const ir::Graph &graph, const ExportOptions &options) {
  return Exporter(graph, options).run();
}

void writeOnnx(const ir::Graph &graph, const std::string &path, const ExportOptions &options) {
  onnx::ModelProto model = exportOnnx(graph, options);
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    fail(path + ": the model cannot be serialized (ONNX files must be smaller than 2 GB)");
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out)
      fail(path + ": cannot write the model (" + std::strerror(errno) + ")");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
      fail(path + ": writing the model failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    fail(path + ": cannot rename " + partial + " into place (" + ec.message() + ")");
  }
}

} // namespace leip::frontend
