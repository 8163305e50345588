// `leip evaluate`: classification accuracy of a model on a labelled test set. Every sample
// runs through the model (the reference interpreter for an ONNX model, the compiled library
// for an artifact directory); the first output's last axis holds the class scores. Writes
// DIR/results.json (top-1, top-5, per-class accuracy, latency) and prints a short table.
#include "Artifact.h"
#include "Commands.h"
#include "DataFlags.h"
#include "Progress.h"
#include "ModelInfo.h"
#include "Steps.h"

#include "leip/data/Dataset.h"
#include "leip/interp/Interpreter.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>
#include <optional>
#include <unistd.h>

namespace leip::cli {

namespace {

namespace fs = std::filesystem;
using Json = OrderedJson;

/// The model under evaluation, whichever engine runs it: one input, the first output.
struct Engine {
  std::string name; // "interpreter" or "compiled"
  std::string inputName, outputName;
  ir::TensorType input;  // static, batch first
  ir::TensorType output; // the logits
  std::function<ir::Tensor(const ir::Tensor &batch)> run;
  // Owners of what `run` uses.
  std::unique_ptr<ir::Graph> graph;
  std::unique_ptr<interp::Interpreter> interpreter;
  std::unique_ptr<runtime::Model> library;
};

void requireOneInput(size_t count, const std::string &path, const std::string &names) {
  if (count != 1)
    throw BadInputError(path + ": evaluate feeds one input, the model has " + std::to_string(count) + " (" + names +
                        ")");
}

Engine loadInterpreter(const EvaluateOptions &options) {
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  Engine engine;
  engine.name = "interpreter";
  engine.graph = frontend::loadModel(options.inputPath, importOptions);
  std::string names;
  for (const ir::Value *in : engine.graph->inputs()) names += (names.empty() ? "" : ", ") + in->name();
  requireOneInput(engine.graph->inputs().size(), options.inputPath, names);
  if (engine.graph->outputs().empty()) throw BadInputError(options.inputPath + ": the model has no outputs");
  engine.inputName = engine.graph->inputs()[0]->name();
  engine.input = engine.graph->inputs()[0]->type();
  engine.outputName = engine.graph->outputs()[0]->name();
  engine.output = engine.graph->outputs()[0]->type();
  engine.interpreter = std::make_unique<interp::Interpreter>(*engine.graph);
  engine.run = [&interpreter = *engine.interpreter](const ir::Tensor &batch) {
    return std::move(interpreter.run({batch})[0]);
  };
  return engine;
}

Engine loadCompiled(const EvaluateOptions &options) {
  if (!options.inputShapes.empty())
    throw UsageError("--input_shapes does not apply to a compiled artifact (its shapes are fixed by leip compile)");
  Engine engine;
  engine.name = "compiled";
  engine.library = loadArtifact(options.inputPath);
  runtime::Model &model = *engine.library;
  std::string names;
  for (const auto &info : model.inputs()) names += (names.empty() ? "" : ", ") + info.name;
  requireOneInput(model.inputs().size(), options.inputPath, names);
  if (model.outputs().empty()) throw BadInputError(options.inputPath + ": the library has no outputs");
  const runtime::TensorInfo &in = model.inputs()[0], &out = model.outputs()[0];
  engine.inputName = in.name;
  engine.input = {fromRuntimeDType(in.dtype, "input '" + in.name + "'"), in.shape, {}};
  engine.outputName = out.name;
  engine.output = {fromRuntimeDType(out.dtype, "output '" + out.name + "'"), out.shape, {}};
  try {
    model.setThreads(options.threads);
  } catch (const std::runtime_error &e) {
    throw UsageError(std::string("--threads: ") + e.what());
  }
  engine.run = [&model](const ir::Tensor &batch) { return std::move(runArtifact(model, {batch})[0]); };
  return engine;
}

/// One name per line; trailing blank lines are ignored. Must name every class.
std::vector<std::string> readClassNames(const std::string &path, int64_t classes) {
  std::ifstream in(path);
  if (!in) throw BadInputError(path + ": cannot open the class names file");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (static_cast<int64_t>(names.size()) != classes)
    throw BadInputError(path + ": has " + std::to_string(names.size()) + " class names, the model's output has " +
                        std::to_string(classes) + " classes (one name per line, in class order)");
  return names;
}

/// The rank of the true class among the scores: how many classes score higher, ties going to
/// the lower index (as argmax takes the first maximum). A NaN score for the label never counts.
int64_t rankOf(const ir::Tensor &logits, int64_t row, int64_t classes, int64_t label) {
  auto score = [&](int64_t c) {
    return logits.dtype() == ir::DType::F32 ? logits.data<float>()[row * classes + c]
                                            : logits.getAsDouble(row * classes + c);
  };
  double target = score(label);
  if (std::isnan(target)) return classes;
  int64_t rank = 0;
  for (int64_t c = 0; c < classes; ++c) {
    double s = score(c);
    if (s > target || (s == target && c < label)) ++rank;
  }
  return rank;
}

void writeResults(const Json &results, const std::string &outputPath) {
  fs::path dir(outputPath);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw BadInputError(outputPath + ": cannot create output directory: " + ec.message());
  fs::path final = dir / "results.json", temp = dir / ".results.json.partial";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << results.dump(2) << "\n";
    if (!out) throw BadInputError(temp.string() + ": cannot write");
  }
  fs::rename(temp, final, ec);
  if (ec) throw BadInputError(final.string() + ": cannot write: " + ec.message());
}

} // namespace

data::DatasetOptions checkEvaluateOptions(const EvaluateOptions &options) {
  if (options.threads < 1 || options.threads > LEIP_MAX_THREADS)
    throw UsageError("--threads must be in [1, " + std::to_string(LEIP_MAX_THREADS) + "]");
  data::DatasetOptions dataset = datasetOptions(options.data);
  dataset.labelsPath = options.labelsPath;
  return dataset;
}

Json evaluateModel(const EvaluateOptions &options) {
  // Flags first: a typo should not cost a model load.
  data::DatasetOptions datasetOptions = checkEvaluateOptions(options);

  auto start = std::chrono::steady_clock::now();
  Engine engine = isArtifactDirectory(options.inputPath) ? loadCompiled(options) : loadInterpreter(options);
  const ir::TensorType &input = engine.input;
  if (input.rank() < 1 || !input.isStatic() || input.shape[0] < 1)
    throw BadInputError(options.inputPath + ": input '" + engine.inputName + "' is " + input.toString() +
                        "; evaluate needs a static shape whose first dim is the batch");
  const int64_t batch = input.shape[0];
  const ir::Shape &outShape = engine.output.shape;
  const int64_t classes = outShape.empty() ? 0 : outShape.back();
  if (classes < 1 || engine.output.numElements() != batch * classes || !ir::isFloat(engine.output.dtype))
    throw BadInputError(options.inputPath + ": output '" + engine.outputName + "' is " + engine.output.toString() +
                        "; evaluate needs class scores of shape [" + std::to_string(batch) +
                        ", classes] (floats) as the first output");
  std::vector<std::string> classNames;
  if (!options.classNamesPath.empty()) classNames = readClassNames(options.classNamesPath, classes);

  std::unique_ptr<data::Dataset> dataset = data::openDataset(options.testPath, input, datasetOptions);
  if (!dataset->hasLabels())
    throw BadInputError(options.testPath + ": evaluate needs labels: give --labels labels.npy (one integer per "
                                           "sample) or an index .txt of 'path label' lines");
  const size_t items = dataset->size();
  if (engine.name == "compiled") checkArtifactInput(*engine.library, 0, ir::Tensor(input), options.inputPath);

  const bool topFive = classes >= 5;
  int64_t correct1 = 0, correct5 = 0;
  std::vector<int64_t> perClassItems(static_cast<size_t>(classes)), perClassCorrect(static_cast<size_t>(classes));
  std::vector<double> msPerItem; // per batch, divided by the batch size
  const size_t sampleBytes = dataset->sampleType().byteSize();
  ir::Tensor inputs(input);
  Progress progress("evaluating", items);
  for (size_t first = 0; first < items; first += static_cast<size_t>(batch)) {
    size_t count = std::min(items - first, static_cast<size_t>(batch));
    // A last, partial batch repeats its last sample; only `count` rows are scored.
    for (int64_t b = 0; b < batch; ++b) {
      ir::Tensor s = dataset->sample(first + std::min(static_cast<size_t>(b), count - 1));
      std::memcpy(static_cast<char *>(inputs.rawData()) + static_cast<size_t>(b) * sampleBytes, s.rawData(),
                  sampleBytes);
    }
    auto t0 = std::chrono::steady_clock::now();
    ir::Tensor logits = engine.run(inputs);
    msPerItem.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                        static_cast<double>(batch));
    for (size_t r = 0; r < count; ++r) {
      int64_t label = *dataset->label(first + r);
      if (label < 0 || label >= classes)
        throw BadInputError(dataset->describe(first + r) + ": label " + std::to_string(label) +
                            " is not a class of the model (output '" + engine.outputName + "' has " +
                            std::to_string(classes) + " classes: 0.." + std::to_string(classes - 1) + ")");
      int64_t rank = rankOf(logits, static_cast<int64_t>(r), classes, label);
      correct1 += rank == 0;
      correct5 += rank < 5;
      ++perClassItems[static_cast<size_t>(label)];
      perClassCorrect[static_cast<size_t>(label)] += rank == 0;
    }
    progress.update(first + count);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto percent = [](int64_t part, int64_t whole) { return whole ? 100.0 * static_cast<double>(part) / whole : 0.0; };
  std::vector<double> sorted = msPerItem;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);

  const data::Preprocessor preprocessor = datasetOptions.preprocessor;
  Json perClass = Json::array();
  for (int64_t c = 0; c < classes; ++c) {
    auto k = static_cast<size_t>(c);
    if (!perClassItems[k]) continue;
    Json entry{{"class", c}};
    if (!classNames.empty()) entry["name"] = classNames[k];
    entry["items"] = perClassItems[k];
    entry["correct_top1"] = perClassCorrect[k];
    entry["top1"] = percent(perClassCorrect[k], perClassItems[k]);
    perClass.push_back(entry);
  }
  const auto total = static_cast<int64_t>(items);
  Json results{
      {"top1", percent(correct1, total)},
      {"top5", topFive ? Json(percent(correct5, total)) : Json(nullptr)},
      {"items", total},
      {"correct_top1", correct1},
      {"correct_top5", topFive ? Json(correct5) : Json(nullptr)},
      {"classes", classes},
      {"model", options.inputPath},
      {"engine", engine.name},
      {"test_path", options.testPath},
      {"labels", options.labelsPath.empty() ? Json(nullptr) : Json(options.labelsPath)},
      {"preprocessor",
       {{"name", preprocessor.name}, {"scale", preprocessor.scale}, {"mean", preprocessor.mean}, {"std", preprocessor.std}}},
      {"input", {{"name", engine.inputName}, {"type", input.toString()}}},
      {"output", {{"name", engine.outputName}, {"type", engine.output.toString()}}},
      {"batch", batch},
      {"latency_ms", {{"mean", mean}, {"median", median}, {"min", sorted.front()}, {"max", sorted.back()}}},
      {"seconds", seconds},
      {"per_class", perClass}};
  if (engine.name == "compiled") results["threads"] = options.threads;
  if (options.data.maxSamples) results["max_samples"] = options.data.maxSamples;
  return results;
}

namespace {

void runEvaluate(const EvaluateOptions &options) {
  const Json results = evaluateModel(options);
  writeResults(results, options.outputPath);
  std::string resultsPath = (fs::path(options.outputPath) / "results.json").string();

  if (options.json) {
    std::cout << results.dump(2) << "\n";
    return;
  }
  const auto total = results["items"].get<int64_t>(), classes = results["classes"].get<int64_t>();
  std::printf("evaluated %s (%s) on %s: %s items, %lld classes\n", options.inputPath.c_str(),
              results["engine"] == "compiled" ? "compiled library" : "reference interpreter", options.testPath.c_str(),
              groupDigits(total).c_str(), static_cast<long long>(classes));
  std::printf("  top-1    %6.2f %%  (%s correct)\n", results["top1"].get<double>(),
              groupDigits(results["correct_top1"].get<int64_t>()).c_str());
  if (!results["top5"].is_null())
    std::printf("  top-5    %6.2f %%  (%s)\n", results["top5"].get<double>(),
                groupDigits(results["correct_top5"].get<int64_t>()).c_str());
  const Json &latency = results["latency_ms"];
  std::printf("  latency  %.3f ms mean, %.3f ms median per item (batch %lld); %.1f s in all\n",
              latency["mean"].get<double>(), latency["median"].get<double>(),
              static_cast<long long>(results["batch"].get<int64_t>()), results["seconds"].get<double>());
  // Per class, with a name column when --class_names gave names.
  const bool named = !options.classNamesPath.empty();
  const int nameWidth = named ? 20 : 0;
  std::printf("  %-5s %-*s %7s %8s\n", "class", nameWidth, named ? "name" : "", "items", "top-1");
  for (const auto &entry : results["per_class"]) {
    std::string name = entry.contains("name") ? entry["name"].get<std::string>() : "";
    std::printf("  %-5lld %-*s %7s %7.2f %%\n", static_cast<long long>(entry["class"].get<int64_t>()), nameWidth,
                name.c_str(), groupDigits(entry["items"].get<int64_t>()).c_str(), entry["top1"].get<double>());
  }
  std::printf("  results: %s\n", resultsPath.c_str());
}

} // namespace

void addEvaluateCommand(CLI::App &app) {
  auto options = std::make_shared<EvaluateOptions>();
  CLI::App *command = app.add_subcommand(
      "evaluate", "Classification accuracy (top-1, top-5, per class) and latency of a model on labelled data; "
                  "writes DIR/results.json");
  command
      ->add_option("--input_path", options->inputPath,
                   "ONNX model (run by the reference interpreter) or an artifact directory from leip compile (run "
                   "natively). Its first output holds the class scores, [batch, classes]")
      ->required();
  command
      ->add_option("--test_path", options->testPath,
                   "Test data: a .npy whose first axis is the sample axis, a folder of .npy or image files (name "
                   "order), or an index .txt of 'path label' lines (paths relative to it; .png .jpg .jpeg .bmp or "
                   ".npy). Images are resized (bilinear) and laid out as the model input (NCHW or NHWC)")
      ->required();
  command->add_option("--labels", options->labelsPath,
                      "Integer .npy with one label per sample, in dataset order (an index .txt may give labels "
                      "itself)");
  command->add_option("--class_names", options->classNamesPath,
                      "Text file with one class name per line, in class order, for the per-class table");
  addDataFlags(*command, options->data, "Evaluate only the first N samples (0: all)");
  addInputShapesOption(*command, options->inputShapes);
  command
      ->add_option("--output_path", options->outputPath,
                   "Directory for results.json (created if needed)")
      ->capture_default_str();
  command->add_option("--threads", options->threads, "Threads of a compiled artifact")->capture_default_str();
  command->add_flag("--json", options->json, "Print the results as JSON instead of a table");
  command->callback([options] { runEvaluate(*options); });
}

} // namespace leip::cli
