// `leip inspect`: what a model is made of, before you optimize it.
#include "Commands.h"
#include "ModelInfo.h"

#include "leip/ir/OpRegistry.h"
#include "leip/ir/Statistics.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <set>

namespace leip::cli {

namespace {

struct InspectOptions {
  std::string inputPath;
  std::string inputShapes;
  bool json = false;
};

nlohmann::json valueJson(const ir::Value &value, const ir::Value *declared) {
  nlohmann::json j{{"name", value.name()}, {"dtype", ir::dtypeName(value.type().dtype)}, {"shape", value.type().shape}};
  if (declared) { // dynamic dims as null
    nlohmann::json dims = nlohmann::json::array();
    for (int64_t dim : declared->type().shape) dims.push_back(dim == ir::kDynamicDim ? nlohmann::json() : nlohmann::json(dim));
    j["declared_shape"] = dims;
  }
  return j;
}

void runInspect(const InspectOptions &options) {
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  importOptions.allowUnsupportedOps = true;
  // The model as written: declared shapes, every node, unsupported ops included.
  std::unique_ptr<ir::Graph> declared = frontend::importOnnx(options.inputPath, importOptions);

  std::set<std::string> unsupported;
  for (const ir::Node *node : declared->nodes())
    if (!ir::findOp(node->domain(), node->opType()))
      unsupported.insert((node->domain().empty() ? "" : node->domain() + ".") + node->opType());

  // The model as leip runs it: static shapes, folded shape arithmetic.
  std::unique_ptr<ir::Graph> graph;
  if (unsupported.empty()) {
    importOptions.allowUnsupportedOps = false;
    graph = frontend::loadModel(options.inputPath, importOptions);
  }
  const ir::Graph &shown = graph ? *graph : *declared;
  auto histogram = ir::opHistogram(*declared);
  int64_t parameters = declared->parameterCount();
  int64_t flops = graph ? ir::graphFlops(*graph) : -1;

  if (options.json) {
    nlohmann::json j;
    j["model"] = options.inputPath;
    j["opset"] = declared->opsetVersion;
    j["inputs"] = nlohmann::json::array();
    for (size_t i = 0; i < shown.inputs().size(); ++i)
      j["inputs"].push_back(valueJson(*shown.inputs()[i], declared->inputs()[i]));
    j["outputs"] = nlohmann::json::array();
    for (const ir::Value *out : shown.outputs()) j["outputs"].push_back(valueJson(*out, nullptr));
    j["parameters"] = parameters;
    j["nodes"] = declared->numNodes();
    j["ops"] = histogram;
    j["flops"] = flops >= 0 ? nlohmann::json(flops) : nlohmann::json(nullptr);
    j["unsupported_ops"] = unsupported;
    std::cout << j.dump(2) << "\n";
    return;
  }

  std::printf("model:       %s (opset %lld)\n", options.inputPath.c_str(),
              static_cast<long long>(declared->opsetVersion));
  std::printf("inputs:\n");
  for (size_t i = 0; i < shown.inputs().size(); ++i) {
    const ir::Value *in = shown.inputs()[i];
    std::printf("  %-24s %-20s declared %s\n", in->name().c_str(), in->type().toString().c_str(),
                ir::shapeToString(declared->inputs()[i]->type().shape).c_str());
  }
  std::printf("outputs:\n");
  for (const ir::Value *out : shown.outputs())
    std::printf("  %-24s %s\n", out->name().c_str(), graph ? out->type().toString().c_str() : "(not inferred)");
  std::printf("parameters:  %s (%s as fp32)\n", groupDigits(parameters).c_str(),
              humanBytes(static_cast<double>(parameters) * 4).c_str());
  if (flops >= 0)
    std::printf("FLOPs:       %s per inference at these input shapes\n", humanCount(static_cast<double>(flops)).c_str());
  std::printf("ops:         %zu nodes\n", declared->numNodes());
  for (const auto &[op, count] : histogram) std::printf("  %-24s %lld\n", op.c_str(), static_cast<long long>(count));
  if (unsupported.empty()) {
    std::printf("unsupported: none\n");
  } else {
    std::string list;
    for (const std::string &op : unsupported) list += (list.empty() ? "" : ", ") + op;
    std::printf("unsupported: %s\n", list.c_str());
  }
}

} // namespace

void addInspectCommand(CLI::App &app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App *command = app.add_subcommand(
      "inspect", "Show a model's inputs, outputs, op histogram, parameter count, FLOPs and unsupported ops");
  command->add_option("--input_path", options->inputPath, "ONNX model (.onnx)")->required();
  addInputShapesOption(*command, options->inputShapes);
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  command->callback([options] { runInspect(*options); });
}

void addInputShapesOption(CLI::App &command, std::string &text) {
  command.add_option("--input_shapes", text,
                     "Static input shapes for dynamic dims: 1,3,224,224 (first input) or "
                     "\"x:1,3,48,320;y:1,10\" (by name). A dynamic batch dim defaults to 1");
}

} // namespace leip::cli
