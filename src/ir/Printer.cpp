#include "leip/ir/Printer.h"

#include <sstream>

namespace leip::ir {

void print(const Graph &graph, std::ostream &os) {
  os << "graph " << (graph.name.empty() ? "main" : graph.name) << " (opset " << graph.opsetVersion << ")\n";
  for (Value *input : graph.inputs()) os << "  input %" << input->name() << " : " << input->type().toString() << "\n";
  for (Value *constant : graph.constants())
    os << "  const %" << constant->name() << " : " << constant->type().toString() << "\n";
  for (Node *node : graph.topologicalOrder()) {
    os << "  ";
    for (size_t i = 0; i < node->numOutputs(); ++i) os << (i ? ", " : "") << "%" << node->output(i)->name();
    os << " = " << (node->domain().empty() ? "" : node->domain() + ".") << node->opType() << "(";
    for (size_t i = 0; i < node->numInputs(); ++i) {
      Value *in = node->input(i);
      os << (i ? ", " : "") << (in ? "%" + in->name() : "<none>");
    }
    os << ")";
    if (!node->attrs().all().empty()) {
      os << " {";
      bool first = true;
      for (const auto &[name, attr] : node->attrs().all()) {
        os << (first ? "" : ", ") << name << "=" << attributeToString(attr);
        first = false;
      }
      os << "}";
    }
    os << " : ";
    for (size_t i = 0; i < node->numOutputs(); ++i) os << (i ? ", " : "") << node->output(i)->type().toString();
    os << "   # " << node->name() << "\n";
  }
  os << "  return";
  for (size_t i = 0; i < graph.outputs().size(); ++i) os << (i ? ", " : " ") << "%" << graph.outputs()[i]->name();
  os << "\n";
}

std::string toString(const Graph &graph) {
  std::ostringstream os;
  print(graph, os);
  return os.str();
}

} // namespace leip::ir
