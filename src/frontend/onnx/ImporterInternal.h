// Private pieces of the ONNX importer shared by its source files.
#pragma once

#include "leip/frontend/OnnxImporter.h"
#include "leip/ir/Graph.h"

#include <optional>
#include <string>
#include <vector>

namespace leip::frontend::detail {

/// A node about to be added to the graph: what the ONNX NodeProto says, with inputs
/// resolved to values (nullptr = omitted optional input) and attributes converted.
struct NodeSpec {
  std::string opType;
  std::string domain; // "" for the default ONNX domain
  std::string name;   // unique among nodes
  std::vector<ir::Value *> inputs;
  std::vector<std::string> outputs; // unique value names, none empty
  ir::AttributeMap attrs;

  /// "node 'x' (Op)": how errors name the node before it exists in the graph.
  std::string describe() const { return "node '" + name + "' (" + opType + ")"; }
};

/// What legacy-form rewriting needs from the importer.
class ImportContext {
public:
  virtual ~ImportContext() = default;
  /// Opset of the default ONNX domain the model imports.
  virtual int64_t opset() const = 0;
  /// Adds a constant under a fresh name derived from `base`.
  virtual ir::Value *addConstant(const std::string &base, ir::Tensor data) = 0;
  /// A value name used nowhere in the model or graph yet.
  virtual std::string freshValueName(const std::string &base) = 0;
  /// A node name used nowhere in the model or graph yet.
  virtual std::string freshNodeName(const std::string &base) = 0;
  /// Adds the node to the graph (its output values are created).
  virtual ir::Node *emit(const NodeSpec &spec) = 0;
  /// Rank / element type of a value when the model declares it (graph inputs, constants,
  /// value_info); nullopt when unknown before shape inference.
  virtual std::optional<int64_t> knownRank(const ir::Value *value) const = 0;
  virtual std::optional<ir::DType> knownDType(const ir::Value *value) const = 0;
};

/// The op type a node has in leip's opset-17 form (Upsample -> Resize, Scatter ->
/// ScatterElements); the op type itself for every other op.
std::string canonicalOpType(const std::string &opType);

/// Rewrites a node's legacy (pre-opset-17) form into the opset-17 form and emits it
/// (possibly as several nodes, e.g. opset<13 Softmax). Throws BadInputError naming the
/// node when the legacy form cannot be expressed.
void emitCanonical(NodeSpec spec, ImportContext &ctx);

/// Binds user shapes and default batch sizes to the graph inputs (see loadModel).
/// Throws BadInputError without the file prefix.
void bindInputShapes(ir::Graph &graph, const InputShapes &shapes);

} // namespace leip::frontend::detail
