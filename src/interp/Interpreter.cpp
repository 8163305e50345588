#include "leip/interp/Interpreter.h"

#include "leip/interp/Kernels.h"
#include "leip/support/Error.h"

#include <unordered_map>

namespace leip::interp {

Interpreter::Interpreter(const ir::Graph &graph) : graph_(graph), order_(graph.topologicalOrder()) {
  std::string missing;
  for (const ir::Node *node : order_)
    if (!findKernel(node->domain(), node->opType()) && missing.find(node->opType()) == std::string::npos)
      missing += (missing.empty() ? "" : ", ") + node->opType();
  if (!missing.empty()) throw BadInputError("the interpreter has no kernel for op(s): " + missing);
}

std::vector<ir::Tensor> Interpreter::run(const std::vector<ir::Tensor> &inputs, const NodeObserver &observer) const {
  const auto &graphInputs = graph_.inputs();
  if (inputs.size() != graphInputs.size())
    throw BadInputError("the model has " + std::to_string(graphInputs.size()) + " input(s), " +
                        std::to_string(inputs.size()) + " given");

  // Live tensors by value; each is dropped once its last reader has run so that peak
  // memory stays near the largest layer rather than the whole network.
  std::unordered_map<const ir::Value *, ir::Tensor> live;
  std::unordered_map<const ir::Value *, size_t> readsLeft;
  for (const ir::Node *node : order_)
    for (const ir::Value *in : node->inputs())
      if (in) ++readsLeft[in];
  for (const ir::Value *out : graph_.outputs()) ++readsLeft[out]; // never drop outputs

  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Value *declared = graphInputs[i];
    const ir::TensorType &want = declared->type();
    const ir::TensorType &got = inputs[i].type();
    if (got.dtype != want.dtype)
      throw BadInputError("input '" + declared->name() + "': expected dtype " + std::string(ir::dtypeName(want.dtype)) +
                          ", got " + std::string(ir::dtypeName(got.dtype)));
    if (got.shape != want.shape)
      throw BadInputError("input '" + declared->name() + "': expected shape " + ir::shapeToString(want.shape) +
                          ", got " + ir::shapeToString(got.shape));
    live[declared] = inputs[i];
  }

  auto lookup = [&](const ir::Value *value) -> const ir::Tensor * {
    if (value->isConstant()) return value->constant();
    auto it = live.find(value);
    if (it == live.end()) throw InternalError("tensor '" + value->name() + "' is read before it is computed");
    return &it->second;
  };

  for (const ir::Node *node : order_) {
    std::vector<const ir::Tensor *> args;
    args.reserve(node->numInputs());
    for (const ir::Value *in : node->inputs()) args.push_back(in ? lookup(in) : nullptr);
    std::vector<ir::Tensor> results = evaluateNode(*node, args);
    if (observer) observer(*node, results);
    for (size_t i = 0; i < results.size(); ++i) live[node->output(i)] = std::move(results[i]);
    for (const ir::Value *in : node->inputs())
      if (in && !in->isConstant() && --readsLeft[in] == 0) live.erase(in);
  }

  std::vector<ir::Tensor> outputs;
  for (const ir::Value *out : graph_.outputs()) outputs.push_back(*lookup(out));
  return outputs;
}

} // namespace leip::interp
