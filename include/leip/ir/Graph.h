// The leip graph IR: a DAG of Nodes connected by Values (named tensors).
//
// Ops are named by their ONNX op type ("Conv", "Relu", ...) with the semantics of the
// newest ONNX version leip supports (opset 17). The importer rewrites older forms (e.g.
// Slice's pre-opset-10 attributes) into that one form, so passes, the interpreter and the
// compiler each handle a single definition per op. Ops that leip adds itself live in the
// "leip" domain.
#pragma once

#include "leip/ir/Attribute.h"
#include "leip/ir/Tensor.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace leip::ir {

class Node;

/// A tensor flowing along an edge: a graph input, a constant (initializer) or a node output.
class Value {
public:
  const std::string &name() const { return name_; }
  const TensorType &type() const { return type_; }
  void setType(TensorType type) { type_ = std::move(type); }

  /// The node computing this value; null for graph inputs and constants.
  Node *producer() const { return producer_; }
  bool isConstant() const { return constant_ != nullptr; }
  /// The constant's data; null unless isConstant().
  const Tensor *constant() const { return constant_.get(); }
  /// Makes this value a constant (its type becomes the tensor's type).
  void setConstant(Tensor data);
  bool isGraphInput() const { return isGraphInput_; }

  /// Nodes that read this value (a node appears once per input slot that reads it).
  const std::vector<Node *> &users() const { return users_; }

private:
  friend class Graph;
  friend class Node;
  std::string name_;
  TensorType type_;
  Node *producer_ = nullptr;
  std::shared_ptr<const Tensor> constant_;
  bool isGraphInput_ = false;
  std::vector<Node *> users_;
};

class Node {
public:
  const std::string &name() const { return name_; }
  const std::string &opType() const { return opType_; }
  /// "" for the default ONNX domain.
  const std::string &domain() const { return domain_; }

  /// Inputs in ONNX order; an omitted optional input is nullptr.
  const std::vector<Value *> &inputs() const { return inputs_; }
  Value *input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t numInputs() const { return inputs_.size(); }
  const std::vector<Value *> &outputs() const { return outputs_; }
  Value *output(size_t i) const { return outputs_.at(i); }
  size_t numOutputs() const { return outputs_.size(); }

  AttributeMap &attrs() { return attrs_; }
  const AttributeMap &attrs() const { return attrs_; }

  void setInput(size_t i, Value *value);
  void addInput(Value *value);
  /// "node 'conv1' (Conv)": how errors name this node.
  std::string describe() const;

private:
  friend class Graph;
  std::string name_;
  std::string opType_;
  std::string domain_;
  std::vector<Value *> inputs_;
  std::vector<Value *> outputs_;
  AttributeMap attrs_;
};

class Graph {
public:
  Graph() = default;
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  std::string name;
  /// Opset of the default ONNX domain the model was written for (kept for reporting).
  int64_t opsetVersion = 17;

  /// Creates a graph input of the given type.
  Value *addInput(const std::string &name, TensorType type);
  /// Creates a constant value.
  Value *addConstant(const std::string &name, Tensor data);
  /// Creates a node with fresh output values named `outputNames`.
  Node *addNode(const std::string &opType, const std::string &name, const std::vector<Value *> &inputs,
                const std::vector<std::string> &outputNames, const std::string &domain = "");
  /// Marks a value as a graph output (order matters).
  void addOutput(Value *value);

  const std::vector<Value *> &inputs() const { return inputs_; }
  const std::vector<Value *> &outputs() const { return outputs_; }
  void setOutput(size_t i, Value *value) { outputs_.at(i) = value; }

  /// Nodes in insertion order (not necessarily topological; see topologicalOrder()).
  std::vector<Node *> nodes() const;
  size_t numNodes() const { return nodes_.size(); }
  /// All values, including constants and dead ones.
  std::vector<Value *> values() const;
  std::vector<Value *> constants() const;

  Value *findValue(const std::string &name) const;
  Node *findNode(const std::string &name) const;
  /// A name not used by any value or node yet, built from `base`.
  std::string uniqueName(const std::string &base) const;

  /// Kahn's algorithm; throws BadInputError naming a node on a cycle.
  std::vector<Node *> topologicalOrder() const;

  /// Points every user of `from` (and graph outputs) at `to`.
  void replaceAllUsesWith(Value *from, Value *to);
  /// Removes a node; its outputs must have no users and not be graph outputs.
  void eraseNode(Node *node);
  /// Turns each output of `node` into a constant holding the matching tensor (names are
  /// kept, so graph outputs and users stay valid), then removes the node.
  void replaceNodeWithConstants(Node *node, std::vector<Tensor> results);
  /// Removes nodes and constants that no graph output depends on. Returns nodes removed.
  size_t removeDeadCode();

  /// Total element count of all constants (the model's parameter count).
  int64_t parameterCount() const;

private:
  Value *newValue(const std::string &name);
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value *> valueByName_;
  std::unordered_map<std::string, Node *> nodeByName_;
  std::vector<Value *> inputs_;
  std::vector<Value *> outputs_;
};

} // namespace leip::ir
