// ONNX ModelProto -> leip graph IR.
//
// The import runs in stages so that each kind of problem gets a clear message before a
// later stage could trip over it: parse, opset, tensors stored outside the file, node
// names and topological order (undefined inputs), unsupported ops (all listed at once),
// ONNX's own checker, and finally the conversion itself with legacy forms rewritten
// (LegacyForms.cpp).
#include "leip/frontend/OnnxImporter.h"

#include "ImporterInternal.h"
#include "leip/ir/OpRegistry.h"
#include "leip/ir/Verifier.h"
#include "leip/passes/ShapeInference.h"
#include "leip/support/Error.h"
#include "leip/support/MemoryLimit.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace leip::frontend {
namespace {

using detail::NodeSpec;

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 17;
/// Protobuf cannot parse messages of 2 GB or more.
constexpr size_t kMaxProtoBytes = static_cast<size_t>(INT_MAX);
constexpr int kMaxProtoNesting = 100;

[[noreturn]] void fail(const std::string &message) { throw BadInputError(message); }

std::string quoteName(const std::string &name) { return "'" + name + "'"; }

/// Collapses a multi-line message (ONNX checker messages span lines) into one line.
std::string oneLine(const std::string &text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += c;
  }
  constexpr size_t kMaxLength = 400;
  if (out.size() > kMaxLength)
    out = out.substr(0, kMaxLength) + "...";
  return out;
}

/// Parses a protobuf message from bytes with the size limit raised to protobuf's maximum.
bool parseProto(google::protobuf::MessageLite &message, const std::string &bytes) {
  google::protobuf::io::ArrayInputStream array(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&array);
  coded.SetTotalBytesLimit(INT_MAX);
  // Protobuf's parser recurses once per nested message; its limit (the default, stated here
  // because hostile models rely on it) keeps subgraphs nested thousands deep from
  // overflowing the stack. Real models nest a few levels per subgraph.
  coded.SetRecursionLimit(kMaxProtoNesting);
  return message.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}

// ------------------------------------------------------------------------------------
// Element types and tensors

std::string onnxTypeName(int elemType) {
  if (onnx::TensorProto_DataType_IsValid(elemType))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elemType));
  return "type #" + std::to_string(elemType);
}

std::optional<ir::DType> toDType(int elemType) {
  switch (elemType) {
  case onnx::TensorProto::FLOAT: return ir::DType::F32;
  case onnx::TensorProto::FLOAT16: return ir::DType::F16;
  case onnx::TensorProto::INT8: return ir::DType::I8;
  case onnx::TensorProto::UINT8: return ir::DType::U8;
  case onnx::TensorProto::INT32: return ir::DType::I32;
  case onnx::TensorProto::INT64: return ir::DType::I64;
  case onnx::TensorProto::BOOL: return ir::DType::Bool;
  default: return std::nullopt;
  }
}

constexpr const char *kSupportedTypes = "float, float16, int8, uint8, int32, int64, bool";

ir::DType requireDType(int elemType, const std::string &what) {
  if (auto type = toDType(elemType))
    return *type;
  fail(what + " has element type " + onnxTypeName(elemType) + ", which leip does not support (supported: " +
       kSupportedTypes + ")");
}

/// Dims -> shape, checking that dims are non-negative and the element count fits.
ir::Shape tensorShape(const onnx::TensorProto &proto, const std::string &what, int64_t &count) {
  ir::Shape shape;
  count = 1;
  for (int64_t dim : proto.dims()) {
    if (dim < 0)
      fail(what + " has a negative dimension " + std::to_string(dim));
    if (dim != 0 && count > INT64_MAX / dim)
      fail(what + " has too many elements");
    count *= dim;
    shape.push_back(dim);
  }
  return shape;
}

void checkTensorStorage(const onnx::TensorProto &proto, const std::string &what) {
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    fail(what + " uses external data (not supported: re-save the model with all tensors inside the file)");
  if (proto.has_segment())
    fail(what + " is stored in segments (not supported)");
}

/// Copies a typed repeated field into the tensor, converting each element.
template <typename Dst, typename Field, typename Convert>
void copyField(ir::Tensor &tensor, const Field &field, Convert convert) {
  Dst *out = tensor.data<Dst>();
  for (int i = 0; i < field.size(); ++i)
    out[i] = convert(field.Get(i));
}

/// Converts a TensorProto (any supported layout) into a leip tensor. `what` names it in
/// errors ("tensor 'w'"). Sizes are checked against the data present before anything
/// is allocated, so a corrupt shape cannot make us allocate gigabytes.
ir::Tensor convertTensor(const onnx::TensorProto &proto, const std::string &what) {
  checkTensorStorage(proto, what);
  ir::DType dtype = requireDType(proto.data_type(), what);
  int64_t count = 0;
  ir::Shape shape = tensorShape(proto, what, count);
  const size_t elemSize = ir::dtypeSize(dtype);
  std::optional<uint64_t> bytes = checkedBytes(count, elemSize);
  if (!bytes)
    fail(what + " is too large");

  auto sizeError = [&](int64_t given, const char *unit) {
    fail(what + " has " + std::to_string(given) + " " + unit + " of data but its type " +
         std::string(ir::dtypeName(dtype)) + ir::shapeToString(shape) + " needs " +
         std::to_string(std::strcmp(unit, "bytes") == 0 ? count * static_cast<int64_t>(elemSize) : count));
  };

  // Only after the data was found to be all there: the file is under 2 GB, so this bites
  // with a small --max_memory.
  auto checkBudget = [&] { checkMemory(*bytes, what + " " + std::string(ir::dtypeName(dtype)) + ir::shapeToString(shape)); };
  if (proto.has_raw_data()) {
    const std::string &raw = proto.raw_data();
    if (raw.size() != static_cast<size_t>(count) * elemSize)
      sizeError(static_cast<int64_t>(raw.size()), "bytes");
    checkBudget();
    ir::Tensor tensor(dtype, shape);
    if (!raw.empty())
      std::memcpy(tensor.rawData(), raw.data(), raw.size());
    if (dtype == ir::DType::Bool) // any non-zero byte is true; store canonical 0/1
      for (auto &b : tensor.values<uint8_t>())
        b = b != 0;
    return tensor;
  }

  // Typed fields: which one holds the data depends on the element type.
  int64_t given = 0;
  switch (dtype) {
  case ir::DType::F32: given = proto.float_data_size(); break;
  case ir::DType::I64: given = proto.int64_data_size(); break;
  default: given = proto.int32_data_size(); break;
  }
  if (given != count)
    sizeError(given, "values");
  checkBudget();
  ir::Tensor tensor(dtype, shape);
  if (count == 0)
    return tensor;
  switch (dtype) {
  case ir::DType::F32: copyField<float>(tensor, proto.float_data(), [](float v) { return v; }); break;
  case ir::DType::I64: copyField<int64_t>(tensor, proto.int64_data(), [](int64_t v) { return v; }); break;
  case ir::DType::I32: copyField<int32_t>(tensor, proto.int32_data(), [](int32_t v) { return v; }); break;
  case ir::DType::I8:
    copyField<int8_t>(tensor, proto.int32_data(), [](int32_t v) { return static_cast<int8_t>(v); });
    break;
  case ir::DType::U8:
    copyField<uint8_t>(tensor, proto.int32_data(), [](int32_t v) { return static_cast<uint8_t>(v); });
    break;
  case ir::DType::Bool:
    copyField<uint8_t>(tensor, proto.int32_data(), [](int32_t v) { return static_cast<uint8_t>(v != 0); });
    break;
  case ir::DType::F16: // int32_data holds the IEEE half bit patterns
    copyField<uint16_t>(tensor, proto.int32_data(), [](int32_t v) { return static_cast<uint16_t>(v); });
    break;
  }
  return tensor;
}

// ------------------------------------------------------------------------------------
// Attributes

using AttrType = onnx::AttributeProto::AttributeType;

/// Old models may leave the attribute type unset; infer it from the field present.
AttrType attributeType(const onnx::AttributeProto &attr) {
  if (attr.type() != onnx::AttributeProto::UNDEFINED)
    return attr.type();
  if (attr.floats_size() > 0) return onnx::AttributeProto::FLOATS;
  if (attr.ints_size() > 0) return onnx::AttributeProto::INTS;
  if (attr.strings_size() > 0) return onnx::AttributeProto::STRINGS;
  if (attr.tensors_size() > 0) return onnx::AttributeProto::TENSORS;
  if (attr.graphs_size() > 0) return onnx::AttributeProto::GRAPHS;
  if (attr.has_t()) return onnx::AttributeProto::TENSOR;
  if (attr.has_g()) return onnx::AttributeProto::GRAPH;
  if (attr.has_sparse_tensor()) return onnx::AttributeProto::SPARSE_TENSOR;
  if (attr.has_s()) return onnx::AttributeProto::STRING;
  if (attr.has_i()) return onnx::AttributeProto::INT;
  if (attr.has_f()) return onnx::AttributeProto::FLOAT;
  return onnx::AttributeProto::UNDEFINED;
}

/// Converts one attribute. Returns nullopt for kinds leip cannot represent when
/// `lenient` (nodes kept only for inspection); throws naming the node otherwise.
std::optional<ir::Attribute> convertAttribute(const onnx::AttributeProto &attr, const std::string &owner,
                                              bool lenient) {
  const std::string what = owner + ": attribute '" + attr.name() + "'";
  switch (attributeType(attr)) {
  case onnx::AttributeProto::INT: return ir::Attribute(static_cast<int64_t>(attr.i()));
  case onnx::AttributeProto::FLOAT: return ir::Attribute(attr.f());
  case onnx::AttributeProto::STRING: return ir::Attribute(attr.s());
  case onnx::AttributeProto::INTS: return ir::Attribute(std::vector<int64_t>(attr.ints().begin(), attr.ints().end()));
  case onnx::AttributeProto::FLOATS: return ir::Attribute(std::vector<float>(attr.floats().begin(), attr.floats().end()));
  case onnx::AttributeProto::STRINGS:
    return ir::Attribute(std::vector<std::string>(attr.strings().begin(), attr.strings().end()));
  case onnx::AttributeProto::TENSOR:
    if (lenient) {
      try {
        return ir::Attribute(convertTensor(attr.t(), what));
      } catch (const BadInputError &) {
        return std::nullopt;
      }
    }
    return ir::Attribute(convertTensor(attr.t(), what));
  case onnx::AttributeProto::GRAPH:
  case onnx::AttributeProto::GRAPHS:
    if (lenient)
      return std::nullopt;
    fail(owner + ": subgraphs are not supported (attribute '" + attr.name() + "')");
  default:
    if (lenient)
      return std::nullopt;
    fail(what + " has kind " + onnx::AttributeProto_AttributeType_Name(attributeType(attr)) +
         ", which leip does not support");
  }
}

/// The tensor a Constant node defines (from whichever value attribute it carries).
ir::Tensor constantNodeValue(const onnx::NodeProto &node, const std::string &owner) {
  if (node.attribute_size() != 1)
    fail(owner + ": a Constant node needs exactly one value attribute, it has " +
         std::to_string(node.attribute_size()));
  const onnx::AttributeProto &attr = node.attribute(0);
  const std::string &name = attr.name();
  AttrType type = attributeType(attr);
  auto expect = [&](AttrType wanted) {
    if (type != wanted)
      fail(owner + ": attribute '" + name + "' has kind " + onnx::AttributeProto_AttributeType_Name(type) +
           ", expected " + onnx::AttributeProto_AttributeType_Name(wanted));
  };
  if (name == "value") {
    expect(onnx::AttributeProto::TENSOR);
    return convertTensor(attr.t(), owner + ": tensor '" + node.output(0) + "'");
  }
  if (name == "value_float") {
    expect(onnx::AttributeProto::FLOAT);
    return ir::Tensor::scalar(attr.f());
  }
  if (name == "value_floats") {
    expect(onnx::AttributeProto::FLOATS);
    std::vector<float> values(attr.floats().begin(), attr.floats().end());
    return ir::Tensor::fromVector(ir::DType::F32, {static_cast<int64_t>(values.size())}, values);
  }
  if (name == "value_int") {
    expect(onnx::AttributeProto::INT);
    return ir::Tensor::scalarI64(attr.i());
  }
  if (name == "value_ints") {
    expect(onnx::AttributeProto::INTS);
    std::vector<int64_t> values(attr.ints().begin(), attr.ints().end());
    return ir::Tensor::fromVector(ir::DType::I64, {static_cast<int64_t>(values.size())}, values);
  }
  if (name == "sparse_value")
    fail(owner + ": sparse constants (sparse_value) are not supported");
  if (name == "value_string" || name == "value_strings")
    fail(owner + ": string constants are not supported");
  fail(owner + ": unknown Constant attribute '" + name + "'");
}

// ------------------------------------------------------------------------------------
// The importer

class Importer final : public detail::ImportContext {
public:
  Importer(onnx::ModelProto &model, const ImportOptions &options) : model_(model), options_(options) {}

  std::unique_ptr<ir::Graph> run() {
    if (!model_.has_graph())
      fail("the model has no graph (is this an ONNX model?)");
    readOpset();
    prescanStorage();
    planNodes();
    checkOldOpset();
    checkSupport();
    if (options_.runChecker)
      runChecker();

    graph_ = std::make_unique<ir::Graph>();
    graph_->name = model_.graph().name();
    graph_->opsetVersion = opset_;
    for (const auto &info : model_.graph().value_info())
      declared_.emplace(info.name(), &info.type());
    for (const auto &info : model_.graph().output())
      declared_.emplace(info.name(), &info.type());
    addInitializers();
    addInputs();
    for (size_t index : order_)
      addNode(nodes_[index]);
    addOutputs();
    return std::move(graph_);
  }

  // ImportContext
  int64_t opset() const override { return opset_; }

  std::string freshValueName(const std::string &base) override { return freshName(base); }
  std::string freshNodeName(const std::string &base) override { return freshName(base); }

  ir::Value *addConstant(const std::string &base, ir::Tensor data) override {
    return graph_->addConstant(freshName(base), std::move(data));
  }

  ir::Node *emit(const NodeSpec &spec) override {
    ir::Node *node = graph_->addNode(spec.opType, spec.name, spec.inputs, spec.outputs, spec.domain);
    node->attrs() = spec.attrs;
    return node;
  }

  std::optional<int64_t> knownRank(const ir::Value *value) const override {
    if (value->isConstant() || value->isGraphInput())
      return value->type().rank();
    const onnx::TypeProto *type = declaredType(value->name());
    if (type && type->tensor_type().has_shape())
      return type->tensor_type().shape().dim_size();
    return std::nullopt;
  }

  std::optional<ir::DType> knownDType(const ir::Value *value) const override {
    if (value->isConstant() || value->isGraphInput())
      return value->type().dtype;
    const onnx::TypeProto *type = declaredType(value->name());
    if (type && type->tensor_type().has_elem_type())
      return toDType(type->tensor_type().elem_type());
    return std::nullopt;
  }

private:
  /// One NodeProto with what planning found out about it.
  struct Planned {
    const onnx::NodeProto *proto = nullptr;
    std::string name;   // unique
    std::string domain; // normalized ("ai.onnx" -> "")
    std::string opType; // canonical
    bool supported = true;
    /// Errors name the op as the model spells it.
    std::string describe() const { return "node '" + name + "' (" + proto->op_type() + ")"; }
  };

  const onnx::TypeProto *declaredType(const std::string &name) const {
    auto it = declared_.find(name);
    if (it == declared_.end() || it->second->value_case() != onnx::TypeProto::kTensorType)
      return nullptr;
    return it->second;
  }

  std::string freshName(const std::string &base) {
    std::string name = base;
    for (int n = 1; reserved_.count(name) != 0; ++n)
      name = base + "_" + std::to_string(n);
    reserved_.insert(name);
    return name;
  }

  void readOpset() {
    bool found = false;
    for (const auto &import : model_.opset_import()) {
      if (import.domain().empty() || import.domain() == "ai.onnx") {
        opset_ = import.version();
        found = true;
      }
    }
    if (!found)
      fail("the model imports no opset of the default ONNX domain");
    if (opset_ > kMaxOpset)
      fail("opset " + std::to_string(opset_) + " is newer than leip supports (" + std::to_string(kMinOpset) + "-" +
           std::to_string(kMaxOpset) + ")");
  }

  /// Models older than opset 7 are accepted when each of their ops still has the
  /// definition it had in opset 7 (ONNX bumps an op's version only when it changes; an
  /// opset-6 Elu is the Elu of opset 7). Anything else names the node that differs.
  void checkOldOpset() {
    if (opset_ >= kMinOpset)
      return;
    auto *registry = onnx::OpSchemaRegistry::Instance();
    for (const Planned &planned : nodes_) {
      if (!planned.domain.empty())
        continue; // other domains are reported by checkSupport()
      const std::string &op = planned.proto->op_type();
      const onnx::OpSchema *old = registry->GetSchema(op, static_cast<int>(opset_));
      const onnx::OpSchema *current = registry->GetSchema(op, static_cast<int>(kMinOpset));
      if (!old || !current || old->SinceVersion() != current->SinceVersion())
        fail("opset " + std::to_string(opset_) + " is older than leip supports (" + std::to_string(kMinOpset) +
             "-" + std::to_string(kMaxOpset) + "): node '" + planned.name + "' (" + op +
             ") uses a definition that changed in opset " + std::to_string(current ? current->SinceVersion() : 0) +
             "; convert the model with onnx.version_converter");
    }
  }

  /// Tensors must live inside the file; checked before ONNX's checker, which would
  /// otherwise complain about a missing data file.
  void prescanStorage() {
    const onnx::GraphProto &graph = model_.graph();
    if (graph.sparse_initializer_size() > 0)
      fail("sparse initializer '" + graph.sparse_initializer(0).values().name() + "' is not supported");
    for (const auto &init : graph.initializer())
      checkTensorStorage(init, "tensor " + quoteName(init.name()));
    for (const auto &node : graph.node())
      for (const auto &attr : node.attribute()) {
        if (!attr.has_t())
          continue;
        // A Constant's tensor is known by the node's output name.
        std::string name = attr.t().name().empty() ? attr.name() : attr.t().name();
        if (node.op_type() == "Constant" && node.output_size() > 0)
          name = node.output(0);
        checkTensorStorage(attr.t(), "tensor " + quoteName(name));
      }
  }

  /// Assigns unique node names, normalizes domains and op types, and finds a
  /// topological order; reports undefined and doubly defined values.
  void planNodes() {
    const onnx::GraphProto &graph = model_.graph();
    // Every name in the model is reserved so that generated names never collide.
    for (const auto &init : graph.initializer())
      reserved_.insert(init.name());
    for (const auto &input : graph.input())
      reserved_.insert(input.name());
    for (const auto &info : graph.value_info())
      reserved_.insert(info.name());
    for (const auto &node : graph.node()) {
      if (!node.name().empty())
        reserved_.insert(node.name());
      for (const auto &out : node.output())
        reserved_.insert(out);
    }

    std::unordered_set<std::string> takenNodeNames;
    nodes_.resize(static_cast<size_t>(graph.node_size()));
    for (int i = 0; i < graph.node_size(); ++i) {
      const onnx::NodeProto &proto = graph.node(i);
      Planned &planned = nodes_[static_cast<size_t>(i)];
      planned.proto = &proto;
      planned.domain = proto.domain() == "ai.onnx" ? "" : proto.domain();
      planned.opType = planned.domain.empty() ? detail::canonicalOpType(proto.op_type()) : proto.op_type();
      if (!proto.name().empty() && takenNodeNames.insert(proto.name()).second)
        planned.name = proto.name();
      else {
        planned.name = freshNameFrom(proto.op_type().empty() ? "node" : proto.op_type(), nodeCounter_);
        takenNodeNames.insert(planned.name);
      }
    }

    // Values defined before any node runs.
    std::unordered_map<std::string, int64_t> producer; // value name -> node index, -1 = graph input/initializer
    for (const auto &init : graph.initializer()) {
      if (init.name().empty())
        fail("an initializer has no name");
      if (!producer.emplace(init.name(), -1).second)
        fail("initializer '" + init.name() + "' is defined twice");
    }
    for (const auto &input : graph.input()) {
      if (input.name().empty())
        fail("a graph input has no name");
      if (!initializerNames().count(input.name()) && !producer.emplace(input.name(), -1).second)
        fail("graph input '" + input.name() + "' is defined twice");
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      for (const auto &out : nodes_[i].proto->output()) {
        if (out.empty())
          continue;
        auto [it, inserted] = producer.emplace(out, static_cast<int64_t>(i));
        if (!inserted)
          fail(nodes_[i].describe() + ": output '" + out + "' is already defined" +
               (it->second < 0 ? " as a graph input or initializer"
                               : " by " + nodes_[static_cast<size_t>(it->second)].describe()));
      }
    }

    // Dependencies; models are topologically sorted by the ONNX spec, so keep that
    // order when it holds and sort (stably, by index) only when it does not.
    std::vector<std::vector<size_t>> users(nodes_.size());
    std::vector<size_t> pending(nodes_.size(), 0);
    bool sorted = true;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      for (const auto &in : nodes_[i].proto->input()) {
        if (in.empty())
          continue;
        auto it = producer.find(in);
        if (it == producer.end())
          fail(nodes_[i].describe() + ": input '" + in + "' is not defined by any graph input, initializer or node");
        if (it->second < 0)
          continue;
        auto from = static_cast<size_t>(it->second);
        users[from].push_back(i);
        ++pending[i];
        if (from >= i)
          sorted = false;
      }
    }
    order_.clear();
    if (sorted) {
      for (size_t i = 0; i < nodes_.size(); ++i)
        order_.push_back(i);
      return;
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (pending[i] == 0)
        ready.push(i);
    while (!ready.empty()) {
      size_t i = ready.top();
      ready.pop();
      order_.push_back(i);
      for (size_t user : users[i])
        if (--pending[user] == 0)
          ready.push(user);
    }
    if (order_.size() != nodes_.size()) {
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (pending[i] != 0)
          fail(nodes_[i].describe() + " is part of a cycle");
    }
  }

  const std::unordered_set<std::string> &initializerNames() {
    if (initializerNames_.empty())
      for (const auto &init : model_.graph().initializer())
        initializerNames_.insert(init.name());
    return initializerNames_;
  }

  std::string freshNameFrom(const std::string &base, int64_t &counter) {
    std::string name;
    do
      name = base + "_" + std::to_string(counter++);
    while (reserved_.count(name) != 0);
    reserved_.insert(name);
    return name;
  }

  /// Lists every node whose op leip does not support, in one message.
  void checkSupport() {
    std::map<std::string, std::vector<std::string>> unsupported; // op label -> node names
    size_t count = 0;
    for (Planned &planned : nodes_) {
      if (planned.domain.empty() && planned.opType == "Constant")
        continue; // converted to a constant by the importer itself
      // leip's own ops (domain "leip") exist only inside the compiler, never in model files.
      if (planned.domain != ir::kLeipDomain && ir::findOp(planned.domain, planned.opType) != nullptr)
        continue;
      planned.supported = false;
      const std::string &op = planned.proto->op_type();
      std::string label = planned.domain.empty() ? op : planned.domain + ":" + op;
      unsupported[label].push_back(planned.name);
      ++count;
    }
    if (count == 0 || options_.allowUnsupportedOps)
      return;
    if (count == 1) {
      const Planned &bad = *std::find_if(nodes_.begin(), nodes_.end(), [](const Planned &p) { return !p.supported; });
      if (!bad.domain.empty())
        fail(bad.describe() + ": domain '" + bad.domain + "' is not supported by leip (op " + bad.proto->op_type() +
             ")");
      fail(bad.describe() + ": op " + bad.proto->op_type() + " is not supported by leip (opset " +
           std::to_string(opset_) + ")");
    }
    std::string message = std::to_string(count) + " nodes use ops that leip does not support (opset " +
                           std::to_string(opset_) + "): ";
    bool firstOp = true;
    for (const auto &[label, names] : unsupported) {
      message += (firstOp ? "" : ", ") + label + " (";
      firstOp = false;
      constexpr size_t kShown = 3;
      for (size_t i = 0; i < names.size() && i < kShown; ++i)
        message += (i ? ", " : "") + quoteName(names[i]);
      if (names.size() > kShown)
        message += " and " + std::to_string(names.size() - kShown) + " more";
      message += ")";
    }
    fail(message);
  }

  /// ONNX's checker validates what the conversion does not look at (attribute kinds per
  /// op schema, value_info, ...). Models saved by newer ONNX versions carry a newer IR
  /// version that this checker refuses outright; checking them as the newest IR version
  /// it knows still validates everything the opset-7..17 ops use.
  void runChecker() {
    const int64_t irVersion = model_.ir_version();
    if (irVersion > onnx::IR_VERSION)
      model_.set_ir_version(onnx::IR_VERSION);
    try {
      onnx::checker::check_model(model_);
    } catch (const std::exception &e) {
      model_.set_ir_version(irVersion);
      fail("ONNX checker: " + oneLine(e.what()));
    }
    model_.set_ir_version(irVersion);
  }

  void addInitializers() {
    for (const auto &init : model_.graph().initializer())
      graph_->addConstant(init.name(), convertTensor(init, "tensor " + quoteName(init.name())));
  }

  /// Graph inputs that are also initializers (older exporters list them) are constants.
  void addInputs() {
    bool first = true;
    for (const auto &input : model_.graph().input()) {
      if (initializerNames().count(input.name()))
        continue;
      const std::string what = "graph input " + quoteName(input.name());
      if (input.type().value_case() != onnx::TypeProto::kTensorType)
        fail(what + " is not a tensor (sequence, map and optional inputs are not supported)");
      const onnx::TypeProto::Tensor &tensorType = input.type().tensor_type();
      ir::TensorType type;
      type.dtype = requireDType(tensorType.elem_type(), what);
      if (tensorType.has_shape()) {
        for (const auto &dim : tensorType.shape().dim())
          type.shape.push_back(dim.has_dim_value() && dim.dim_value() >= 0 ? dim.dim_value() : ir::kDynamicDim);
        // Static dims whose product overflows: refused here, before anything multiplies them.
        int64_t count = 1;
        for (int64_t dim : type.shape)
          if (dim > 0) {
            if (count > INT64_MAX / dim)
              fail(what + " declares shape " + ir::shapeToString(type.shape) +
                   ", which has more elements than fit in 64 bits");
            count *= dim;
          }
      } else {
        // Unknown rank: only a user-given shape can say what it is.
        const auto &byName = options_.inputShapes.byName;
        auto it = byName.find(input.name());
        if (it == byName.end() && first)
          it = byName.find("");
        if (it == byName.end())
          fail(what + " declares no shape: give it with --input_shapes " + input.name() + ":d0,d1,...");
        type.shape = it->second;
      }
      graph_->addInput(input.name(), std::move(type));
      first = false;
    }
  }

  void addNode(const Planned &planned) {
    const onnx::NodeProto &proto = *planned.proto;
    const std::string owner = planned.describe();

    // Trailing empty outputs are optional outputs the model does not use.
    int numOutputs = proto.output_size();
    while (numOutputs > 0 && proto.output(numOutputs - 1).empty())
      --numOutputs;

    if (planned.domain.empty() && planned.opType == "Constant") {
      if (numOutputs != 1)
        fail(owner + ": a Constant node must have one output");
      graph_->addConstant(proto.output(0), constantNodeValue(proto, owner));
      return;
    }

    NodeSpec spec;
    spec.opType = proto.op_type(); // emitCanonical renames legacy ops (canonicalOpType)
    spec.domain = planned.domain;
    spec.name = planned.name;
    for (const auto &in : proto.input()) {
      if (in.empty()) {
        spec.inputs.push_back(nullptr); // omitted optional input
        continue;
      }
      ir::Value *value = graph_->findValue(in);
      if (!value) // planning checked every name, so this is a bug
        throw InternalError(owner + ": input '" + in + "' was not created");
      spec.inputs.push_back(value);
    }
    while (!spec.inputs.empty() && spec.inputs.back() == nullptr)
      spec.inputs.pop_back();
    for (int i = 0; i < numOutputs; ++i) {
      const std::string &out = proto.output(i);
      spec.outputs.push_back(out.empty() ? freshName(planned.name + "_unused" + std::to_string(i)) : out);
    }
    for (const auto &attr : proto.attribute()) {
      if (attr.name().empty())
        fail(owner + ": an attribute has no name");
      if (auto value = convertAttribute(attr, owner, !planned.supported))
        spec.attrs.set(attr.name(), std::move(*value));
    }
    if (planned.supported && spec.domain.empty())
      detail::emitCanonical(std::move(spec), *this);
    else
      emit(spec);
  }

  void addOutputs() {
    if (model_.graph().output_size() == 0)
      fail("the graph has no outputs");
    for (const auto &output : model_.graph().output()) {
      ir::Value *value = graph_->findValue(output.name());
      if (!value)
        fail("graph output '" + output.name() + "' is not produced by any node, input or initializer");
      graph_->addOutput(value);
    }
  }

  onnx::ModelProto &model_;
  const ImportOptions &options_;
  int64_t opset_ = 0;
  std::vector<Planned> nodes_;
  std::vector<size_t> order_;
  std::unordered_set<std::string> reserved_;
  std::unordered_set<std::string> initializerNames_;
  std::unordered_map<std::string, const onnx::TypeProto *> declared_;
  int64_t nodeCounter_ = 0;
  std::unique_ptr<ir::Graph> graph_;
};

/// Reads a whole file, with the checks that give clear messages for the usual mistakes.
std::string readModelFile(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    fail(path + ": file not found");
  if (fs::is_directory(status))
    fail(path + ": is a directory, not an ONNX file (nor one holding model.onnx from leip compress)");
  uintmax_t size = fs::file_size(path, ec);
  if (ec)
    fail(path + ": cannot read the file (" + ec.message() + ")");
  if (size == 0)
    fail(path + ": the file is empty");
  if (size >= kMaxProtoBytes)
    fail(path + ": the file is " + std::to_string(size) +
         " bytes; ONNX files must be smaller than 2 GB (larger models need external data, which leip does not support)");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path + ": cannot open the file (" + std::strerror(errno) + ")");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size))
    fail(path + ": could not read the whole file");
  return bytes;
}

/// Runs `body`, prefixing BadInputError messages with the source name.
template <typename Body> auto withSource(const std::string &source, Body body) {
  try {
    return body();
  } catch (const BadInputError &e) {
    throw BadInputError(source + ": " + e.what());
  }
}

} // namespace

std::unique_ptr<ir::Graph> importOnnxFromBytes(const std::string &bytes, const std::string &sourceName,
                                               const ImportOptions &options) {
  return withSource(sourceName, [&] {
    if (bytes.empty())
      fail("the model is empty");
    if (bytes.size() >= kMaxProtoBytes)
      fail("the model is larger than protobuf's 2 GB limit");
    onnx::ModelProto model;
    if (!parseProto(model, bytes))
      fail("not a valid ONNX model (protobuf parsing failed: the file is truncated or corrupt, or nests messages "
           "more than " + std::to_string(kMaxProtoNesting) + " levels deep)");
    return Importer(model, options).run();
  });
}

std::string modelFilePath(const std::string &path) {
  std::error_code ec;
  const std::filesystem::path inside = std::filesystem::path(path) / "model.onnx";
  if (std::filesystem::is_directory(path, ec) && std::filesystem::is_regular_file(inside, ec)) return inside.string();
  return path;
}

std::unique_ptr<ir::Graph> importOnnx(const std::string &path, const ImportOptions &options) {
  const std::string file = modelFilePath(path);
  return importOnnxFromBytes(readModelFile(file), file, options);
}

namespace {

/// What loadModel does after the import: input shapes, shape inference, verification.
void prepareImported(ir::Graph &graph, const std::string &sourceName, const ImportOptions &options) {
  withSource(sourceName, [&] {
    detail::bindInputShapes(graph, options.inputShapes);
    passes::inferShapes(graph);
    ir::verify(graph);
  });
}

} // namespace

std::unique_ptr<ir::Graph> loadModel(const std::string &path, const ImportOptions &options) {
  std::unique_ptr<ir::Graph> graph = importOnnx(path, options);
  prepareImported(*graph, path, options);
  return graph;
}

std::unique_ptr<ir::Graph> loadModelFromBytes(const std::string &bytes, const std::string &sourceName,
                                              const ImportOptions &options) {
  std::unique_ptr<ir::Graph> graph = importOnnxFromBytes(bytes, sourceName, options);
  prepareImported(*graph, sourceName, options);
  return graph;
}

ir::Tensor tensorFromProtoBytes(const std::string &bytes, const std::string &sourceName) {
  return withSource(sourceName, [&] {
    if (bytes.size() >= kMaxProtoBytes)
      fail("the tensor file is larger than protobuf's 2 GB limit");
    onnx::TensorProto proto;
    if (!parseProto(proto, bytes))
      fail("not a valid ONNX TensorProto (protobuf parsing failed: the file is truncated or corrupt)");
    return convertTensor(proto, proto.name().empty() ? std::string("the tensor") : "tensor " + quoteName(proto.name()));
  });
}

} // namespace leip::frontend
