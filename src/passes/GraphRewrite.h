// Small graph-editing helpers shared by the fusion passes (internal to leip_passes).
#pragma once

#include "leip/ir/FusedActivation.h"
#include "leip/ir/Graph.h"
#include "leip/passes/FuseActivations.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace leip::passes::detail {

inline bool isGraphOutput(const ir::Graph &graph, const ir::Value *value) {
  const auto &outs = graph.outputs();
  return std::find(outs.begin(), outs.end(), value) != outs.end();
}

/// The only node reading `value`, when exactly one node reads it once and it is not a
/// graph output (so a pass may fold the two); null otherwise.
inline ir::Node *soleUser(const ir::Graph &graph, const ir::Value *value) {
  if (!value || value->users().size() != 1 || isGraphOutput(graph, value)) return nullptr;
  return value->users()[0];
}

/// The activation node a fusion may absorb after `value`: its only reader, one that
/// activationOf recognises, reading `value` as its first input. Sets `act` and returns the
/// node; null (and `act` untouched) otherwise.
inline ir::Node *fusableActivationAfter(const ir::Graph &graph, const ir::Value *value, ir::FusedActivation &act) {
  ir::Node *user = soleUser(graph, value);
  if (!user || user->input(0) != value) return nullptr;
  std::optional<ir::FusedActivation> found = activationOf(*user);
  if (!found) return nullptr;
  act = *found;
  return user;
}

/// The constant float32 data of `value`, or null.
inline const ir::Tensor *f32Constant(const ir::Value *value) {
  if (!value || !value->isConstant() || value->constant()->dtype() != ir::DType::F32) return nullptr;
  return value->constant();
}

/// Where a value is read: (node, input slot) pairs and graph-output positions.
struct Uses {
  std::vector<std::pair<ir::Node *, size_t>> inputs;
  std::vector<size_t> outputs;
};

/// Disconnects every reader of `value` (they read null until attachUses), so that its
/// producer can be erased and a new value with the same name take its place.
inline Uses detachUses(ir::Graph &graph, ir::Value *value) {
  Uses uses;
  std::vector<ir::Node *> users = value->users();
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  for (ir::Node *user : users)
    for (size_t i = 0; i < user->numInputs(); ++i)
      if (user->input(i) == value) {
        uses.inputs.emplace_back(user, i);
        user->setInput(i, nullptr);
      }
  for (size_t i = 0; i < graph.outputs().size(); ++i)
    if (graph.outputs()[i] == value) {
      uses.outputs.push_back(i);
      graph.setOutput(i, nullptr);
    }
  return uses;
}

inline void attachUses(ir::Graph &graph, const Uses &uses, ir::Value *value) {
  for (const auto &[node, slot] : uses.inputs) node->setInput(slot, value);
  for (size_t i : uses.outputs) graph.setOutput(i, value);
}

/// Replaces the chain `first` -> ... -> `last` (nodes `chain`, `last`'s output 0 being the
/// chain's result and nothing else of the chain read from outside) by one new node of
/// `first`'s op type and domain, named like `first`, with `inputs` and `attrs`, whose
/// single output takes over the name, type and readers of `last`'s output 0.
inline ir::Node *replaceChain(ir::Graph &graph, const std::vector<ir::Node *> &chain, const ir::Node &first,
                              std::vector<ir::Value *> inputs, ir::AttributeMap attrs) {
  std::string op = first.opType(), domain = first.domain(), name = first.name();
  ir::Value *result = chain.back()->output(0);
  std::string resultName = result->name();
  ir::TensorType type = result->type();
  Uses uses = detachUses(graph, result);
  // Last to first: each node's outputs are unread once the nodes after it are gone.
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) graph.eraseNode(*it);
  ir::Node *node = graph.addNode(op, name, inputs, {resultName}, domain);
  node->attrs() = std::move(attrs);
  node->output(0)->setType(type);
  attachUses(graph, uses, node->output(0));
  return node;
}

} // namespace leip::passes::detail
