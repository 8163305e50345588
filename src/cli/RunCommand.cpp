// `leip run`: run a model (ONNX on the reference interpreter, or a compiled artifact
// directory through its C ABI) on .npy inputs and write each output as .npy.
#include "Artifact.h"
#include "Commands.h"

#include "leip/data/Npy.h"
#include "leip/interp/Interpreter.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

namespace leip::cli {

namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string inputPath;
  std::vector<std::string> inputs;
  std::string outputPath = ".";
  std::string inputShapes;
  int threads = 1;
  bool json = false;
};

/// What a run produced, whichever engine ran it.
struct RunResult {
  std::vector<std::string> outputNames;
  std::vector<ir::Tensor> outputs;
  double ms = 0;
  std::string engine; // "interpreter" or "compiled"
};

/// Output names may hold characters that are not safe in file names ("/", ":").
std::string fileNameFor(const std::string &tensorName) {
  std::string out = tensorName;
  for (char &c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (out.empty() || out[0] == '.') out = "_" + out;
  return out;
}

/// Index of the largest value along the last axis, for each row: the predicted class per
/// batch item of a classifier's [N, classes] output.
std::vector<int64_t> argmaxPerRow(const ir::Tensor &t) {
  int64_t width = t.rank() ? t.shape().back() : 1;
  std::vector<int64_t> result;
  for (int64_t row = 0; width > 0 && row < t.numElements() / width; ++row) {
    int64_t best = 0;
    for (int64_t k = 1; k < width; ++k)
      if (t.getAsDouble(row * width + k) > t.getAsDouble(row * width + best)) best = k;
    result.push_back(best);
  }
  return result;
}

/// The .npy must fit the model's declared input: same rank, same size on every static dim
/// (dynamic dims take the file's size).
void checkAgainstDeclared(const ir::Tensor &tensor, const ir::Value &input, const std::string &path) {
  const ir::Shape &want = input.type().shape;
  const ir::Shape &got = tensor.shape();
  bool fits = got.size() == want.size();
  for (size_t i = 0; fits && i < want.size(); ++i) fits = want[i] == ir::kDynamicDim || want[i] == got[i];
  if (!fits)
    throw BadInputError(path + ": input '" + input.name() + "' has shape " + ir::shapeToString(got) +
                        ", the model expects " + ir::shapeToString(want) + " ('?' takes any size)");
}

/// Runs an ONNX model on the reference interpreter.
RunResult runInterpreter(const RunOptions &options) {
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);

  // Input names come from the model; the .npy shapes then fix any dynamic dims, unless
  // the user gave --input_shapes.
  std::vector<std::string> names;
  std::unique_ptr<ir::Graph> declared = frontend::importOnnx(options.inputPath, importOptions);
  for (const ir::Value *in : declared->inputs())
    names.push_back(in->name());
  std::map<std::string, std::string> files = assignInputs(options.inputs, names);
  std::map<std::string, ir::Tensor> tensors;
  for (const ir::Value *in : declared->inputs()) {
    const std::string &path = files.at(in->name());
    ir::Tensor tensor = data::readNpy(path);
    checkAgainstDeclared(tensor, *in, path);
    if (options.inputShapes.empty()) importOptions.inputShapes.byName[in->name()] = tensor.shape();
    tensors[in->name()] = std::move(tensor);
  }

  std::unique_ptr<ir::Graph> graph = frontend::loadModel(options.inputPath, importOptions);
  std::vector<ir::Tensor> inputs;
  for (const ir::Value *in : graph->inputs()) {
    ir::Tensor &given = tensors.at(in->name());
    if (given.dtype() != in->type().dtype)
      throw BadInputError(files.at(in->name()) + ": input '" + in->name() + "' expects dtype " +
                          std::string(ir::dtypeName(in->type().dtype)) + ", the file holds " +
                          std::string(ir::dtypeName(given.dtype())));
    inputs.push_back(given);
  }

  interp::Interpreter interpreter(*graph);
  RunResult result;
  result.engine = "interpreter";
  auto start = std::chrono::steady_clock::now();
  result.outputs = interpreter.run(inputs);
  result.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  for (const ir::Value *out : graph->outputs()) result.outputNames.push_back(out->name());
  return result;
}

/// Runs a compiled artifact directory (DIR/modelLibrary.so) through its C ABI. Its shapes
/// were fixed at compile time; the runtime's own input check names any mismatch.
RunResult runCompiled(const RunOptions &options) {
  if (!options.inputShapes.empty())
    throw UsageError("--input_shapes does not apply to a compiled artifact (its shapes are fixed by leip compile)");
  std::unique_ptr<runtime::Model> model = loadArtifact(options.inputPath);
  std::vector<std::string> names;
  for (const auto &info : model->inputs()) names.push_back(info.name);
  std::map<std::string, std::string> files = assignInputs(options.inputs, names);
  std::vector<ir::Tensor> inputs;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string &path = files.at(names[i]);
    inputs.push_back(data::readNpy(path));
    checkArtifactInput(*model, i, inputs.back(), path);
  }
  try {
    model->setThreads(options.threads);
  } catch (const std::runtime_error &e) {
    throw UsageError(std::string("--threads: ") + e.what());
  }
  RunResult result;
  result.engine = "compiled";
  auto start = std::chrono::steady_clock::now();
  result.outputs = runArtifact(*model, inputs);
  result.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  for (const auto &info : model->outputs()) result.outputNames.push_back(info.name);
  return result;
}

void runRun(const RunOptions &options) {
  if (options.threads < 1) throw UsageError("--threads must be >= 1");
  RunResult result = isArtifactDirectory(options.inputPath) ? runCompiled(options) : runInterpreter(options);
  const std::vector<ir::Tensor> &outputs = result.outputs;

  // Write every output under a temporary name first, then rename: a failure part-way
  // never leaves a mix of old and new outputs.
  fs::path dir(options.outputPath);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw BadInputError(options.outputPath + ": cannot create output directory: " + ec.message());
  std::vector<std::pair<fs::path, fs::path>> renames;
  for (size_t i = 0; i < outputs.size(); ++i) {
    fs::path final = dir / (fileNameFor(result.outputNames[i]) + ".npy");
    fs::path temp = dir / ("." + final.filename().string() + ".partial");
    data::writeNpy(outputs[i], temp.string());
    renames.emplace_back(temp, final);
  }
  for (const auto &[temp, final] : renames) {
    fs::rename(temp, final, ec);
    if (ec) throw BadInputError(final.string() + ": cannot write: " + ec.message());
  }

  nlohmann::json summary = nlohmann::json::array();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const ir::Tensor &t = outputs[i];
    nlohmann::json entry{{"name", result.outputNames[i]},
                         {"dtype", ir::dtypeName(t.dtype())},
                         {"shape", t.shape()},
                         {"path", renames[i].second.string()}};
    if (t.numElements() > 0) {
      double lo = t.getAsDouble(0), hi = lo, sum = 0;
      for (int64_t k = 0; k < t.numElements(); ++k) {
        double v = t.getAsDouble(k);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
      }
      entry["min"] = lo;
      entry["max"] = hi;
      entry["mean"] = sum / static_cast<double>(t.numElements());
      entry["argmax"] = argmaxPerRow(t);
    }
    summary.push_back(entry);
  }
  if (options.json) {
    nlohmann::json report{{"outputs", summary}, {"latency_ms", result.ms}, {"engine", result.engine}};
    if (result.engine == "compiled") report["threads"] = options.threads;
    std::cout << report.dump(2) << "\n";
    return;
  }
  std::printf("ran %s %s in %.1f ms\n", options.inputPath.c_str(),
              result.engine == "compiled" ? "(compiled library)" : "with the reference interpreter", result.ms);
  for (const auto &entry : summary) {
    std::string type = entry["dtype"].get<std::string>() + ir::shapeToString(entry["shape"].get<ir::Shape>());
    std::printf("  %-20s %-16s -> %s", entry["name"].get<std::string>().c_str(), type.c_str(),
                entry["path"].get<std::string>().c_str());
    if (entry.contains("min")) {
      const auto &argmax = entry["argmax"];
      std::string shown = argmax.size() > 8 ? "[" + std::to_string(argmax.size()) + " rows]" : argmax.dump();
      std::printf("  (min %.4g, max %.4g, mean %.4g, argmax %s)", entry["min"].get<double>(),
                  entry["max"].get<double>(), entry["mean"].get<double>(), shown.c_str());
    }
    std::printf("\n");
  }
}

} // namespace

void addRunCommand(CLI::App &app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App *command = app.add_subcommand("run", "Run a model on .npy inputs and write each output to DIR/<name>.npy");
  command
      ->add_option("--input_path", options->inputPath,
                   "ONNX model (.onnx, run by the reference interpreter) or an artifact directory from leip compile "
                   "(modelLibrary.so, run natively)")
      ->required();
  command
      ->add_option("--input", options->inputs,
                   "Input as NAME=FILE.npy (repeat for each input); a single-input model takes FILE.npy")
      ->required();
  command->add_option("--output_path", options->outputPath,
                      "Directory for the outputs, one NAME.npy each (created if needed; characters other than "
                      "letters, digits, '.', '_' and '-' in names become '_')")
      ->capture_default_str();
  addInputShapesOption(*command, options->inputShapes);
  command->add_option("--threads", options->threads, "Threads for a compiled artifact")->capture_default_str();
  command->add_flag("--json", options->json, "Print a JSON summary instead of text");
  command->callback([options] { runRun(*options); });
}

} // namespace leip::cli
