#include "leip/ir/Verifier.h"

#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <unordered_set>

namespace leip::ir {

namespace {
void verifyQuant(const Value &value) {
  const auto &quant = value.type().quant;
  if (!quant) return;
  auto where = "tensor '" + value.name() + "': ";
  if (quant->scales.empty() || quant->scales.size() != quant->zeroPoints.size())
    throw InternalError(where + "quantization needs as many zero points as scales (and at least one)");
  if (quant->axis) {
    if (*quant->axis < 0 || *quant->axis >= value.type().rank())
      throw InternalError(where + "quantization axis out of range");
    if (value.type().isStatic() && static_cast<int64_t>(quant->scales.size()) != value.type().shape[*quant->axis])
      throw InternalError(where + "per-channel quantization needs one scale per channel");
  } else if (quant->scales.size() != 1) {
    throw InternalError(where + "per-tensor quantization needs exactly one scale");
  }
  for (float scale : quant->scales)
    if (!(scale > 0)) throw InternalError(where + "quantization scales must be positive");
}
} // namespace

void verify(const Graph &graph, bool requireStaticShapes) {
  std::unordered_set<const Value *> known;
  std::unordered_set<std::string> names;
  for (Value *value : graph.values()) {
    if (!names.insert(value->name()).second)
      throw InternalError("tensor name '" + value->name() + "' is used twice");
    known.insert(value);
    verifyQuant(*value);
  }
  std::unordered_set<std::string> nodeNames;
  for (Node *node : graph.topologicalOrder()) { // throws on cycles
    if (!nodeNames.insert(node->name()).second) throw InternalError("node name '" + node->name() + "' is used twice");
    const OpInfo *info = findOp(node->domain(), node->opType());
    if (!info) throw BadInputError(node->describe() + ": op " + node->opType() + " is not supported by leip");
    auto count = static_cast<int>(node->numInputs());
    if (count < info->minInputs || count > info->maxInputs)
      throw BadInputError(node->describe() + ": has " + std::to_string(count) + " inputs");
    for (Value *input : node->inputs())
      if (input && !known.count(input))
        throw InternalError(node->describe() + ": reads a tensor that is not part of the graph");
    for (Value *output : node->outputs()) {
      if (output->producer() != node) throw InternalError(node->describe() + ": output producer link is broken");
      if (requireStaticShapes && !output->type().isStatic())
        throw InternalError(node->describe() + ": output '" + output->name() + "' has no static shape");
    }
  }
  for (Value *input : graph.inputs())
    if (requireStaticShapes && !input->type().isStatic())
      throw BadInputError("input '" + input->name() + "' has dynamic shape " + input->type().toString());
  for (Value *output : graph.outputs()) {
    if (!output || !known.count(output)) throw InternalError("a graph output is not part of the graph");
  }
}

} // namespace leip::ir
