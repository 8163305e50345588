// `leip benchmark`: latency of a model on this machine. An artifact directory runs as is;
// an ONNX model is first compiled for the host into a temporary directory (or, with
// --engine interpreter, run by the reference interpreter). Inputs are random (fixed seed)
// unless given as .npy; every iteration is timed on its own, after warm-up runs.
#include "Artifact.h"
#include "Commands.h"
#include "Steps.h"

#include "leip/codegen/Compiler.h"
#include "leip/data/Npy.h"
#include "leip/interp/Interpreter.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <numeric>
#include <random>
#include <unistd.h>

namespace leip::cli {

namespace {

namespace fs = std::filesystem;

/// A random tensor of the given type: floats uniform in [0, 1), integers in [0, 10).
ir::Tensor randomTensor(ir::DType dtype, const ir::Shape &shape, std::mt19937 &rng) {
  ir::Tensor t(dtype, shape);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.setFromDouble(i, ir::isFloat(dtype) ? unit(rng) : std::floor(unit(rng) * 10.0f));
  return t;
}

/// Inputs for the given names and types: from --input files when given, else random.
std::vector<ir::Tensor> makeInputs(const BenchmarkOptions &options, const std::vector<std::string> &names,
                                   const std::vector<std::pair<ir::DType, ir::Shape>> &types) {
  std::vector<ir::Tensor> inputs;
  if (!options.inputs.empty()) {
    std::map<std::string, std::string> files = assignInputs(options.inputs, names);
    for (const std::string &name : names) inputs.push_back(data::readNpy(files.at(name)));
    return inputs;
  }
  std::mt19937 rng(0);
  for (const auto &[dtype, shape] : types) inputs.push_back(randomTensor(dtype, shape, rng));
  return inputs;
}

LatencyStats summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  LatencyStats s;
  s.min = ms.front();
  s.max = ms.back();
  s.median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  // Nearest rank: the smallest sample with at least 90% of the samples at or below it.
  s.p90 = ms[static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n))) - 1];
  s.mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(n);
  return s;
}

/// Times `once` after `warmup` untimed calls.
std::vector<double> timeIterations(const BenchmarkOptions &options, const std::function<void()> &once) {
  for (int i = 0; i < options.warmup; ++i) once();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(options.iterations));
  for (int i = 0; i < options.iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return ms;
}

/// Compiles an ONNX model for the host into a fresh temporary directory and returns it.
fs::path compileToTemporary(const BenchmarkOptions &options, std::string &targetName) {
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  std::unique_ptr<ir::Graph> graph = frontend::loadModel(options.inputPath, importOptions);
  codegen::CompileOptions compileOptions;
  compileOptions.target = codegen::hostTarget();
  compileOptions.sourcePath = frontend::modelFilePath(options.inputPath);
  static int serial = 0;
  fs::path dir = fs::temp_directory_path() /
                 ("leip-benchmark-" + std::to_string(::getpid()) + "-" + std::to_string(serial++));
  compileOptions.outputDir = dir.string();
  codegen::compileGraph(*graph, compileOptions);
  targetName = compileOptions.target.describe();
  return dir;
}

/// The compiled engine: the artifact's own context, run through the C ABI with buffers
/// allocated once, so only inference is timed.
std::vector<double> benchmarkCompiled(const BenchmarkOptions &options, runtime::Model &model) {
  std::vector<std::string> names;
  std::vector<std::pair<ir::DType, ir::Shape>> types;
  for (const auto &info : model.inputs()) {
    names.push_back(info.name);
    types.emplace_back(fromRuntimeDType(info.dtype, "input '" + info.name + "'"), info.shape);
  }
  std::vector<ir::Tensor> inputs = makeInputs(options, names, types);
  for (size_t i = 0; i < inputs.size(); ++i) checkArtifactInput(model, i, inputs[i], "--input " + names[i]);
  try {
    model.setThreads(options.threads);
  } catch (const std::runtime_error &e) {
    throw UsageError(std::string("--threads: ") + e.what());
  }
  std::vector<const void *> in;
  std::vector<int64_t> inBytes, outBytes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in.push_back(inputs[i].rawData());
    inBytes.push_back(model.inputs()[i].bytes);
  }
  std::vector<std::vector<char>> outputs;
  std::vector<void *> out;
  for (const auto &info : model.outputs()) {
    outputs.emplace_back(static_cast<size_t>(info.bytes));
    out.push_back(outputs.back().data());
    outBytes.push_back(info.bytes);
  }
  auto run = model.symbol<decltype(&::leip_context_run)>("leip_context_run");
  return timeIterations(options, [&] {
    if (leip_status status = run(model.context(), in.data(), inBytes.data(), out.data(), outBytes.data());
        status != LEIP_OK)
      throw BadInputError("the compiled model failed (status " + std::to_string(status) + "): " + model.lastError());
  });
}

std::vector<double> benchmarkInterpreter(const BenchmarkOptions &options) {
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  std::unique_ptr<ir::Graph> graph = frontend::loadModel(options.inputPath, importOptions);
  std::vector<std::string> names;
  std::vector<std::pair<ir::DType, ir::Shape>> types;
  for (const ir::Value *in : graph->inputs()) {
    names.push_back(in->name());
    types.emplace_back(in->type().dtype, in->type().shape);
  }
  std::vector<ir::Tensor> inputs = makeInputs(options, names, types);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].type().dtype != types[i].first || inputs[i].shape() != types[i].second)
      throw BadInputError("--input " + names[i] + ": has " + inputs[i].type().toString() + ", the model expects " +
                          ir::TensorType{types[i].first, types[i].second, {}}.toString());
  interp::Interpreter interpreter(*graph);
  return timeIterations(options, [&] { interpreter.run(inputs); });
}

} // namespace

LatencyStats measureLatency(const BenchmarkOptions &options) {
  if (options.iterations < 1) throw UsageError("--iterations must be >= 1");
  if (options.warmup < 0) throw UsageError("--warmup must be >= 0");
  if (options.threads < 1 || options.threads > LEIP_MAX_THREADS)
    throw UsageError("--threads must be in [1, " + std::to_string(LEIP_MAX_THREADS) + "]");
  bool artifact = isArtifactDirectory(options.inputPath);
  if (artifact && !options.inputShapes.empty())
    throw UsageError("--input_shapes does not apply to a compiled artifact (its shapes are fixed by leip compile)");
  if (options.engine != "compiled" && options.engine != "interpreter")
    throw UsageError("--engine must be compiled or interpreter, not '" + options.engine + "'");
  if (artifact && options.engine == "interpreter")
    throw UsageError("--engine interpreter needs an ONNX model, not an artifact directory");

  std::vector<double> ms;
  std::string target;
  int threads = options.threads;
  if (options.engine == "interpreter") {
    threads = 1; // the reference interpreter is single-threaded
    ms = benchmarkInterpreter(options);
  } else {
    fs::path dir = artifact ? fs::path(options.inputPath) : compileToTemporary(options, target);
    std::unique_ptr<runtime::Model> model;
    try {
      model = loadArtifact(dir.string());
    } catch (...) {
      if (!artifact) fs::remove_all(dir);
      throw;
    }
    // The library stays mapped after its file is gone: the temporary artifact can go now.
    if (!artifact) fs::remove_all(dir);
    ms = benchmarkCompiled(options, *model);
    threads = model->threads();
  }
  LatencyStats s = summarize(ms);
  s.threads = threads;
  s.target = target;
  return s;
}

namespace {

void runBenchmark(const BenchmarkOptions &options) {
  const LatencyStats s = measureLatency(options);
  const int threads = s.threads;
  const std::string &target = s.target;
  double throughput = s.mean > 0 ? 1000.0 / s.mean : 0.0;

  if (options.json) {
    nlohmann::json report{{"model", options.inputPath}, {"engine", options.engine},  {"threads", threads},
                          {"iterations", options.iterations}, {"warmup", options.warmup}, {"min_ms", s.min},
                          {"median_ms", s.median},   {"p90_ms", s.p90},           {"mean_ms", s.mean},
                          {"max_ms", s.max},         {"throughput_per_s", throughput}};
    if (!target.empty()) report["target"] = target;
    std::cout << report.dump(2) << "\n";
    return;
  }
  std::printf("benchmark %s (%s%s, %d thread%s): %d iterations after %d warm-up\n", options.inputPath.c_str(),
              options.engine == "compiled" ? "compiled" : "reference interpreter",
              target.empty() ? "" : (" for " + target).c_str(), threads, threads == 1 ? "" : "s", options.iterations,
              options.warmup);
  std::printf("  min %.3f ms   median %.3f ms   p90 %.3f ms   mean %.3f ms   max %.3f ms\n", s.min, s.median, s.p90,
              s.mean, s.max);
  std::printf("  throughput %.1f inferences/s\n", throughput);
}

} // namespace

void addBenchmarkCommand(CLI::App &app) {
  auto options = std::make_shared<BenchmarkOptions>();
  CLI::App *command = app.add_subcommand("benchmark", "Measure a model's latency (min/median/p90/mean) and throughput");
  command
      ->add_option("--input_path", options->inputPath,
                   "Artifact directory from leip compile, or an ONNX model (compiled for the host first)")
      ->required();
  command->add_option("--iterations", options->iterations, "Timed runs")->capture_default_str();
  command->add_option("--warmup", options->warmup, "Untimed runs first")->capture_default_str();
  command->add_option("--threads", options->threads, "Threads of the compiled model")->capture_default_str();
  command->add_option("--input", options->inputs,
                      "Input as NAME=FILE.npy (repeat for each input); default: random values with a fixed seed");
  command->add_option("--engine", options->engine,
                      "compiled (native code) or interpreter (the reference interpreter; ONNX models only)")
      ->capture_default_str();
  addInputShapesOption(*command, options->inputShapes);
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  command->callback([options] { runBenchmark(*options); });
}

} // namespace leip::cli
