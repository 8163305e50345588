// The compile-time pass pipeline and graph cloning. See leip/passes/Pipeline.h.
#include "leip/passes/Pipeline.h"

#include "GraphRewrite.h"

#include "leip/passes/FoldBatchNorm.h"
#include "leip/passes/FuseActivations.h"
#include "leip/support/Error.h"

#include <spdlog/spdlog.h>

#include <unordered_map>

namespace leip::passes {

std::unique_ptr<ir::Graph> cloneGraph(const ir::Graph &graph) {
  auto copy = std::make_unique<ir::Graph>();
  copy->name = graph.name;
  copy->opsetVersion = graph.opsetVersion;
  std::unordered_map<const ir::Value *, ir::Value *> map;
  for (const ir::Value *in : graph.inputs()) map[in] = copy->addInput(in->name(), in->type());
  for (const ir::Value *c : graph.constants()) {
    ir::Value *v = copy->addConstant(c->name(), *c->constant()); // shares the data
    v->setType(c->type());                                       // keeps quantization parameters
    map[c] = v;
  }
  for (const ir::Node *node : graph.topologicalOrder()) {
    std::vector<ir::Value *> inputs;
    for (const ir::Value *in : node->inputs()) {
      if (!in) {
        inputs.push_back(nullptr);
        continue;
      }
      auto it = map.find(in);
      if (it == map.end()) throw InternalError("cloneGraph: '" + in->name() + "' has no definition");
      inputs.push_back(it->second);
    }
    std::vector<std::string> names;
    for (const ir::Value *out : node->outputs()) names.push_back(out->name());
    ir::Node *n = copy->addNode(node->opType(), node->name(), inputs, names, node->domain());
    n->attrs() = node->attrs();
    for (size_t i = 0; i < node->numOutputs(); ++i) {
      n->output(i)->setType(node->output(i)->type());
      map[node->output(i)] = n->output(i);
    }
  }
  for (const ir::Value *out : graph.outputs()) {
    auto it = map.find(out);
    if (it == map.end()) throw InternalError("cloneGraph: output '" + out->name() + "' has no definition");
    copy->addOutput(it->second);
  }
  return copy;
}

size_t removeIdentities(ir::Graph &graph) {
  size_t removed = 0;
  for (ir::Node *node : graph.topologicalOrder()) {
    const std::string &op = node->opType();
    if (!node->domain().empty() || (op != "Identity" && op != "Dropout") || node->numInputs() < 1 || !node->input(0))
      continue;
    if (op == "Dropout") {
      // Identity in inference mode; the mask output must be unused.
      const ir::Value *training = node->numInputs() > 2 ? node->input(2) : nullptr;
      if (training && (!training->isConstant() || training->constant()->getAsInt64(0) != 0)) continue;
      bool maskUsed = false;
      for (size_t i = 1; i < node->numOutputs(); ++i)
        maskUsed |= !node->output(i)->users().empty() || detail::isGraphOutput(graph, node->output(i));
      if (maskUsed) continue;
    }
    // A graph output keeps its name, so the copy stays where it defines one.
    if (detail::isGraphOutput(graph, node->output(0))) continue;
    graph.replaceAllUsesWith(node->output(0), node->input(0));
    graph.eraseNode(node);
    ++removed;
  }
  return removed;
}

void optimizeForCompile(ir::Graph &graph) {
  size_t identities = removeIdentities(graph);
  size_t bns = foldBatchNorm(graph);
  size_t biases = fuseBiasAdds(graph);
  size_t activations = fuseActivations(graph);
  size_t dead = graph.removeDeadCode();
  spdlog::debug("graph passes: {} identities removed, {} batch norms folded, {} bias adds and {} activations "
                "fused, {} dead nodes removed",
                identities, bns, biases, activations, dead);
}

} // namespace leip::passes
