// --input_shapes parsing and binding of input shapes to a freshly imported graph.
#include "ImporterInternal.h"
#include "leip/support/Error.h"

#include <charconv>

namespace leip::frontend {
namespace {

std::string trim(const std::string &text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos)
    return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> split(const std::string &text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(separator, start);
    parts.push_back(text.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos)
      return parts;
    start = pos + 1;
  }
}

[[noreturn]] void usage(const std::string &entry, const std::string &what) {
  throw UsageError("--input_shapes: '" + entry + "': " + what +
                   " (expected e.g. 1,3,224,224 or x:1,3,48,320;y:1,10)");
}

/// "1,3,224,224" (optionally in brackets) -> shape. Dims must be positive integers.
ir::Shape parseDims(const std::string &entry, std::string dims) {
  dims = trim(dims);
  if (dims.size() >= 2 && dims.front() == '[' && dims.back() == ']')
    dims = trim(dims.substr(1, dims.size() - 2));
  ir::Shape shape;
  if (dims.empty())
    return shape; // a scalar input
  for (const std::string &part : split(dims, ',')) {
    std::string dim = trim(part);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(dim.data(), dim.data() + dim.size(), value);
    if (dim.empty() || ec != std::errc() || end != dim.data() + dim.size() || value < 1)
      usage(entry, "dimension '" + dim + "' is not a positive integer");
    shape.push_back(value);
  }
  return shape;
}

} // namespace

InputShapes parseInputShapes(const std::string &text) {
  InputShapes shapes;
  for (const std::string &rawEntry : split(text, ';')) {
    std::string entry = trim(rawEntry);
    if (entry.empty())
      continue; // tolerate "a:1,2;" and surrounding blanks
    // The name ends at the last ':' (ONNX names from TensorFlow look like "input:0").
    std::string name;
    std::string dims = entry;
    if (size_t colon = entry.rfind(':'); colon != std::string::npos) {
      name = trim(entry.substr(0, colon));
      dims = entry.substr(colon + 1);
      if (name.empty())
        usage(entry, "the input name before ':' is empty");
    }
    ir::Shape shape = parseDims(entry, dims);
    if (!shapes.byName.emplace(name, std::move(shape)).second)
      usage(entry, name.empty() ? "more than one shape without an input name" : "input '" + name + "' is given twice");
  }
  return shapes;
}

namespace detail {

namespace {

std::string inputList(const ir::Graph &graph) {
  std::string list;
  for (const ir::Value *input : graph.inputs())
    list += (list.empty() ? "'" : ", '") + input->name() + "'";
  return list.empty() ? "none" : list;
}

/// "x:1,3,<d2>,<d3>": the --input_shapes text a user would complete.
std::string shapeTemplate(const ir::Value &input) {
  std::string text = input.name() + ":";
  const ir::Shape &shape = input.type().shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d)
      text += ",";
    if (shape[d] != ir::kDynamicDim)
      text += std::to_string(shape[d]);
    else
      text += d == 0 ? "1" : "<d" + std::to_string(d) + ">";
  }
  return text;
}

} // namespace

void bindInputShapes(ir::Graph &graph, const InputShapes &shapes) {
  const auto &byName = shapes.byName;
  for (const auto &[name, shape] : byName) {
    if (name.empty())
      continue;
    bool found = false;
    for (const ir::Value *input : graph.inputs())
      found = found || input->name() == name;
    if (!found)
      throw BadInputError("--input_shapes names input '" + name + "', but the model's inputs are: " +
                          inputList(graph));
  }
  if (byName.count("")) {
    if (graph.inputs().empty())
      throw BadInputError("--input_shapes gives a shape, but the model has no inputs");
    if (byName.count(graph.inputs()[0]->name()))
      throw BadInputError("--input_shapes gives two shapes for input '" + graph.inputs()[0]->name() +
                          "' (one without a name applies to the first input)");
  }

  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    ir::Value *input = graph.inputs()[i];
    const std::string what = "input '" + input->name() + "'";
    ir::TensorType type = input->type();
    const ir::Shape &declared = type.shape;

    auto it = byName.find(input->name());
    if (it == byName.end() && i == 0)
      it = byName.find("");
    if (it != byName.end()) {
      const ir::Shape &user = it->second;
      if (user.size() != declared.size())
        throw BadInputError(what + ": --input_shapes gives " + ir::shapeToString(user) + " but the model declares rank " +
                            std::to_string(declared.size()) + " " + ir::shapeToString(declared));
      for (size_t d = 0; d < user.size(); ++d)
        if (declared[d] != ir::kDynamicDim && declared[d] != user[d])
          throw BadInputError(what + ": --input_shapes gives " + ir::shapeToString(user) + " but the model declares " +
                              ir::shapeToString(declared) + " (dim " + std::to_string(d) + " is fixed at " +
                              std::to_string(declared[d]) + ")");
      type.shape = user;
    } else {
      // A dynamic batch dimension defaults to 1; any other must come from the user.
      if (!type.shape.empty() && type.shape[0] == ir::kDynamicDim)
        type.shape[0] = 1;
      for (size_t d = 0; d < type.shape.size(); ++d)
        if (type.shape[d] == ir::kDynamicDim)
          throw BadInputError(what + " has a dynamic dimension " + std::to_string(d) + " in " +
                              ir::shapeToString(declared) + ": give its shape with --input_shapes " +
                              shapeTemplate(*input));
    }
    input->setType(std::move(type));
  }
}

} // namespace detail
} // namespace leip::frontend
