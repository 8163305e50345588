#include "leip/ir/Graph.h"

#include "leip/support/Error.h"

#include <algorithm>
#include <deque>
#include <unordered_set>

namespace leip::ir {

void Value::setConstant(Tensor data) {
  type_ = data.type();
  constant_ = std::make_shared<const Tensor>(std::move(data));
}

void Node::setInput(size_t i, Value *value) {
  Value *old = inputs_.at(i);
  if (old) {
    auto it = std::find(old->users_.begin(), old->users_.end(), this);
    if (it != old->users_.end()) old->users_.erase(it);
  }
  inputs_[i] = value;
  if (value) value->users_.push_back(this);
}

void Node::addInput(Value *value) {
  inputs_.push_back(value);
  if (value) value->users_.push_back(this);
}

std::string Node::describe() const { return "node '" + name_ + "' (" + opType_ + ")"; }

Value *Graph::newValue(const std::string &name) {
  if (valueByName_.count(name))
    throw BadInputError("tensor name '" + name + "' is defined more than once");
  auto value = std::make_unique<Value>();
  value->name_ = name;
  Value *raw = value.get();
  values_.push_back(std::move(value));
  valueByName_[name] = raw;
  return raw;
}

Value *Graph::addInput(const std::string &name, TensorType type) {
  Value *value = newValue(name);
  value->type_ = std::move(type);
  value->isGraphInput_ = true;
  inputs_.push_back(value);
  return value;
}

Value *Graph::addConstant(const std::string &name, Tensor data) {
  Value *value = newValue(name);
  value->setConstant(std::move(data));
  return value;
}

Node *Graph::addNode(const std::string &opType, const std::string &name, const std::vector<Value *> &inputs,
                     const std::vector<std::string> &outputNames, const std::string &domain) {
  if (nodeByName_.count(name)) throw BadInputError("node name '" + name + "' is used more than once");
  auto node = std::make_unique<Node>();
  node->name_ = name;
  node->opType_ = opType;
  node->domain_ = domain;
  for (Value *input : inputs) node->addInput(input);
  for (const std::string &outputName : outputNames) {
    Value *out = newValue(outputName);
    out->producer_ = node.get();
    node->outputs_.push_back(out);
  }
  Node *raw = node.get();
  nodes_.push_back(std::move(node));
  nodeByName_[name] = raw;
  return raw;
}

void Graph::addOutput(Value *value) { outputs_.push_back(value); }

std::vector<Node *> Graph::nodes() const {
  std::vector<Node *> out;
  out.reserve(nodes_.size());
  for (const auto &n : nodes_) out.push_back(n.get());
  return out;
}

std::vector<Value *> Graph::values() const {
  std::vector<Value *> out;
  out.reserve(values_.size());
  for (const auto &v : values_) out.push_back(v.get());
  return out;
}

std::vector<Value *> Graph::constants() const {
  std::vector<Value *> out;
  for (const auto &v : values_)
    if (v->isConstant()) out.push_back(v.get());
  return out;
}

Value *Graph::findValue(const std::string &name) const {
  auto it = valueByName_.find(name);
  return it == valueByName_.end() ? nullptr : it->second;
}

Node *Graph::findNode(const std::string &name) const {
  auto it = nodeByName_.find(name);
  return it == nodeByName_.end() ? nullptr : it->second;
}

std::string Graph::uniqueName(const std::string &base) const {
  if (!valueByName_.count(base) && !nodeByName_.count(base)) return base;
  for (size_t i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!valueByName_.count(candidate) && !nodeByName_.count(candidate)) return candidate;
  }
}

std::vector<Node *> Graph::topologicalOrder() const {
  std::unordered_map<const Node *, size_t> pending;
  std::deque<Node *> ready;
  for (const auto &node : nodes_) {
    size_t count = 0;
    for (Value *input : node->inputs_)
      if (input && input->producer_) ++count;
    pending[node.get()] = count;
    if (count == 0) ready.push_back(node.get());
  }
  std::vector<Node *> order;
  order.reserve(nodes_.size());
  while (!ready.empty()) {
    Node *node = ready.front();
    ready.pop_front();
    order.push_back(node);
    for (Value *out : node->outputs_) {
      for (Node *user : out->users_)
        if (--pending[user] == 0) ready.push_back(user);
    }
  }
  if (order.size() != nodes_.size()) {
    for (const auto &node : nodes_)
      if (pending[node.get()] != 0)
        throw BadInputError("the graph has a cycle through " + node->describe());
  }
  return order;
}

void Graph::replaceAllUsesWith(Value *from, Value *to) {
  std::vector<Node *> users = from->users_; // copy: setInput edits the list
  for (Node *user : users)
    for (size_t i = 0; i < user->inputs_.size(); ++i)
      if (user->inputs_[i] == from) user->setInput(i, to);
  for (Value *&out : outputs_)
    if (out == from) out = to;
}

void Graph::eraseNode(Node *node) {
  for (Value *out : node->outputs_) {
    if (!out->users_.empty() || std::find(outputs_.begin(), outputs_.end(), out) != outputs_.end())
      throw InternalError("cannot erase " + node->describe() + ": output '" + out->name_ + "' is still used");
  }
  for (size_t i = 0; i < node->inputs_.size(); ++i) node->setInput(i, nullptr);
  std::unordered_set<const Value *> dead(node->outputs_.begin(), node->outputs_.end());
  for (Value *out : node->outputs_) valueByName_.erase(out->name_);
  std::erase_if(values_, [&](const std::unique_ptr<Value> &v) { return dead.count(v.get()) != 0; });
  nodeByName_.erase(node->name_);
  std::erase_if(nodes_, [&](const std::unique_ptr<Node> &n) { return n.get() == node; });
}

void Graph::replaceNodeWithConstants(Node *node, std::vector<Tensor> results) {
  if (results.size() != node->outputs_.size())
    throw InternalError(node->describe() + ": folding produced the wrong number of results");
  for (size_t i = 0; i < results.size(); ++i) {
    node->outputs_[i]->setConstant(std::move(results[i]));
    node->outputs_[i]->producer_ = nullptr;
  }
  node->outputs_.clear(); // the values now live on without a producer
  for (size_t i = 0; i < node->inputs_.size(); ++i) node->setInput(i, nullptr);
  nodeByName_.erase(node->name_);
  std::erase_if(nodes_, [&](const std::unique_ptr<Node> &n) { return n.get() == node; });
}

size_t Graph::removeDeadCode() {
  // Mark everything the graph outputs depend on, walking producers backwards.
  std::unordered_set<const Node *> liveNodes;
  std::unordered_set<const Value *> liveValues(inputs_.begin(), inputs_.end());
  std::vector<Value *> work(outputs_.begin(), outputs_.end());
  while (!work.empty()) {
    Value *value = work.back();
    work.pop_back();
    if (!value || !liveValues.insert(value).second) continue;
    Node *producer = value->producer_;
    if (producer && liveNodes.insert(producer).second) {
      // All outputs of a live node stay (a node is kept or removed whole).
      for (Value *out : producer->outputs_) liveValues.insert(out);
      for (Value *in : producer->inputs_)
        if (in) work.push_back(in);
    }
  }
  std::vector<Node *> deadNodes;
  for (const auto &node : nodes_)
    if (!liveNodes.count(node.get())) deadNodes.push_back(node.get());
  for (Node *node : deadNodes)
    for (size_t i = 0; i < node->inputs_.size(); ++i) node->setInput(i, nullptr);
  std::unordered_set<const Node *> deadSet(deadNodes.begin(), deadNodes.end());
  std::erase_if(values_, [&](const std::unique_ptr<Value> &v) {
    bool dead = !liveValues.count(v.get());
    if (dead) valueByName_.erase(v->name_);
    return dead;
  });
  for (Node *node : deadNodes) nodeByName_.erase(node->name_);
  std::erase_if(nodes_, [&](const std::unique_ptr<Node> &n) { return deadSet.count(n.get()) != 0; });
  return deadNodes.size();
}

int64_t Graph::parameterCount() const {
  int64_t total = 0;
  for (const auto &v : values_)
    if (v->isConstant()) total += v->constant()->numElements();
  return total;
}

} // namespace leip::ir
