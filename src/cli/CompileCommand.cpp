// `leip compile`: an ONNX model in, DIR/modelLibrary.so + DIR/model_schema.json out.
#include "Commands.h"
#include "Progress.h"
#include "QuantizationFlags.h"
#include "Steps.h"

#include "leip/codegen/Compiler.h"
#include "leip/frontend/OnnxExporter.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iostream>

namespace leip::cli {

namespace {

bool hasQuantizedTensors(const ir::Graph &graph) {
  for (const ir::Node *node : graph.nodes())
    if (node->opType() == "DequantizeLinear") return true;
  return false;
}

/// What `quantize` made: the QDQ graph, and for mixed precision the layers kept float.
struct Quantized {
  std::unique_ptr<ir::Graph> graph;
  std::vector<quant::FloatLayer> floatLayers;
};

/// The compressed graph as the compiler reads a compress output: its QDQ model loaded.
std::unique_ptr<ir::Graph> reimport(const ir::Graph &compressed, const std::string &sourceName) {
  return frontend::loadModelFromBytes(frontend::exportOnnx(compressed).SerializeAsString(), sourceName);
}

/// `leip compress` in memory: the float model calibrated on --rep_dataset and rewritten in
/// QDQ form, as the compiler reads a compress output. Mixed precision then measures each
/// layer's SQNR alone and takes the worst back to float within --float_budget.
Quantized quantize(const ir::Graph &model, const CompileOptions &options) {
  quant::CompressOptions compress = compressOptions(options.quant, ir::DType::I8);
  if (model.inputs().size() != 1 || model.inputs()[0]->type().rank() < 1 || model.inputs()[0]->type().shape[0] != 1)
    throw BadInputError(options.inputPath + ": --data_type " + options.dataType +
                        " calibrates models with one input of batch 1 (see --input_shapes)");
  std::unique_ptr<data::Dataset> data =
      data::openDataset(options.quant.repDataset, model.inputs()[0]->type(), datasetOptions(options.quant.data));
  quant::CompressResult result;
  {
    Progress progress("calibrating", data->size());
    result = quant::compress(model, *data, compress, [&](size_t done, size_t) { progress.update(done); });
  }
  Quantized out;
  out.graph = reimport(*result.graph, options.inputPath);
  if (options.dataType != "mixed") return out;
  quant::SqnrReport sqnr;
  {
    const size_t count = std::min(options.sqnrSamples, data->size());
    Progress progress("measuring SQNR", count);
    sqnr = quant::measureSqnr(*result.graph, *out.graph, *data, count,
                              [&](size_t done, size_t) { progress.update(done); });
  }
  out.floatLayers = quant::chooseFloatLayers(*result.graph, sqnr, options.floatBudget);
  std::vector<std::string> names;
  for (const quant::FloatLayer &layer : out.floatLayers) names.push_back(layer.node);
  quant::keepFloat(*result.graph, names);
  out.graph = reimport(*result.graph, options.inputPath);
  return out;
}

/// The compile report's reason for each layer mixed precision kept in float32.
std::vector<passes::QdqLoweringStats::FloatConv> keptFloatReasons(const std::vector<quant::FloatLayer> &layers,
                                                                  double budget) {
  std::vector<passes::QdqLoweringStats::FloatConv> reasons;
  for (size_t i = 0; i < layers.size(); ++i) {
    char reason[256];
    std::snprintf(reason, sizeof reason,
                  "kept float32 by --data_type mixed: local SQNR %.1f dB, the %zu%s lowest; %.1f %% of the "
                  "multiply-adds (budget %.1f %%)",
                  layers[i].localSqnrDb, i + 1, i == 0 ? "st" : i == 1 ? "nd" : i == 2 ? "rd" : "th",
                  100.0 * layers[i].macsFraction, 100.0 * budget);
    reasons.push_back({layers[i].node, reason});
  }
  return reasons;
}

void printQuantization(const codegen::CompileResult &result) {
  const passes::QdqLoweringStats &q = result.quantization;
  if (q.convsLowered == 0 && q.floatConvs.empty()) return;
  std::printf("  integer convolutions: %zu (%zu with the residual Add fused, %zu writing int8 directly), "
              "integer max pools: %zu\n",
              q.convsLowered, q.residualAddsFolded, q.quantizedOutputs, q.maxPoolsLowered);
  if (result.byteDotConvs > 0)
    std::printf("  integer convolutions on vpmaddubsw (input bytes known to lie in 0..127): %" PRId64 "\n",
                result.byteDotConvs);
  if (result.signDotConvs > 0)
    std::printf("  integer convolutions on vpsignb + vpmaddubsw (signed input, no weight -128): %" PRId64 "\n",
                result.signDotConvs);
  for (const auto &conv : q.floatConvs)
    std::printf("  stays float: %s: %s\n", conv.node.c_str(), conv.reason.c_str());
}

} // namespace

codegen::Target checkCompileOptions(const CompileOptions &options) {
  codegen::Target target = codegen::parseTarget(options.target);
  if (options.dataType != "auto" && options.dataType != "float32" && options.dataType != "int8" &&
      options.dataType != "mixed")
    throw UsageError("--data_type must be auto, float32, int8 or mixed, got '" + options.dataType + "'");
  if (!(options.floatBudget >= 0 && options.floatBudget <= 1))
    throw UsageError("--float_budget must be a fraction in [0, 1], got " + fmt::format("{}", options.floatBudget));
  if (options.dataType == "int8" || options.dataType == "mixed") compressOptions(options.quant, ir::DType::I8);
  return target;
}

CompileRun compileModel(const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  // Check the flags first: a typo in the target should not cost a model load.
  codegen::CompileOptions compileOptions;
  compileOptions.target = checkCompileOptions(options);
  compileOptions.sourcePath = frontend::modelFilePath(options.inputPath);
  compileOptions.outputDir = options.outputPath;
  compileOptions.integerKernels = options.dataType != "float32";
  const bool quantizing = options.dataType == "int8" || options.dataType == "mixed";

  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  std::unique_ptr<ir::Graph> graph = frontend::loadModel(options.inputPath, importOptions);
  std::vector<quant::FloatLayer> floatLayers;
  if (options.dataType == "mixed" && hasQuantizedTensors(*graph))
    throw UsageError("--data_type mixed: " + options.inputPath +
                     " is already quantized; mixed precision starts from the float model (with --rep_dataset)");
  if (quantizing && !hasQuantizedTensors(*graph)) {
    if (options.quant.repDataset.empty())
      throw UsageError("--data_type " + options.dataType + ": " + options.inputPath +
                       " is a float model; give --rep_dataset (calibration data) to quantize it first" +
                       (options.dataType == "int8" ? ", or compile the output of leip compress" : ""));
    Quantized quantized = quantize(*graph, options);
    graph = std::move(quantized.graph);
    floatLayers = std::move(quantized.floatLayers);
  }
  compileOptions.keptFloat = keptFloatReasons(floatLayers, options.floatBudget);
  CompileRun run;
  run.result = codegen::compileGraph(*graph, compileOptions);
  run.target = compileOptions.target.describe();
  run.quantized = quantizing;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

void printCompileSummary(const CompileOptions &options, const CompileRun &run) {
  const codegen::CompileResult &result = run.result;
  if (options.json) {
    std::cout << nlohmann::json{{"library", result.libraryPath},
                                {"schema", result.schemaPath},
                                {"target", run.target},
                                {"peak_activation_bytes", result.peakActivationBytes},
                                {"data_type", result.dataType},
                                {"winograd_convolutions", result.winogradConvs},
                                {"seconds", run.seconds}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("compiled %s for %s in %.1f s\n", options.inputPath.c_str(), run.target.c_str(), run.seconds);
  std::printf("  library:   %s\n  schema:    %s\n  peak activation memory: %lld bytes\n", result.libraryPath.c_str(),
              result.schemaPath.c_str(), static_cast<long long>(result.peakActivationBytes));
  if (result.winogradConvs > 0)
    std::printf("  3x3 convolutions by Winograd F(2x2, 3x3): %" PRId64 "\n", result.winogradConvs);
  printQuantization(result);
  if (run.quantized && result.quantization.convsLowered == 0)
    spdlog::warn("--data_type {}: no convolution of {} could run on integers (see the reasons above)",
                 options.dataType, options.inputPath);
}

void addCompileCommand(CLI::App &app) {
  auto options = std::make_shared<CompileOptions>();
  CLI::App *command =
      app.add_subcommand("compile", "Compile a model into DIR/modelLibrary.so (C ABI: leip/runtime.h) and "
                                    "DIR/model_schema.json");
  command->add_option("--input_path", options->inputPath, "ONNX model (.onnx), or a leip compress output directory")
      ->required();
  command->add_option("--output_path", options->outputPath,
                      "Artifact directory (written to a temporary name and renamed into place)")
      ->required();
  command->add_option("--target", options->target,
                      "x86_64 (alias llvm) or aarch64, optionally with -mcpu=NAME -mattr=+a,-b, e.g. "
                      "\"llvm -mcpu=skylake-avx512\"; or \"cuda -arch=sm_XX\" (sm_75, sm_80, sm_86, sm_87, sm_89, "
                      "sm_90; default sm_80) for NVIDIA GPUs, with -host=aarch64 for Jetson/Grace hosts; default: "
                      "the host CPU and its features");
  command
      ->add_option("--data_type", options->dataType,
                   "auto: quantized (QDQ) convolutions run as int8 kernels, a float model stays float32; "
                   "float32: QDQ models keep their float simulation; int8: as auto, and a float model is "
                   "quantized first (needs --rep_dataset; the compress flags below apply); mixed: a float model "
                   "is quantized, then the layers with the lowest SQNR (each measured alone) stay float32 "
                   "within --float_budget")
      ->capture_default_str();
  command
      ->add_option("--float_budget", options->floatBudget,
                   "--data_type mixed: at most this fraction of the model's multiply-adds stays float32")
      ->capture_default_str();
  command
      ->add_option("--sqnr_samples", options->sqnrSamples,
                   "--data_type mixed: samples of --rep_dataset the per-layer SQNR is measured on")
      ->capture_default_str();
  addQuantizationFlags(*command, options->quant, false);
  addInputShapesOption(*command, options->inputShapes);
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  command->callback([options] { printCompileSummary(*options, compileModel(*options)); });
}

} // namespace leip::cli
