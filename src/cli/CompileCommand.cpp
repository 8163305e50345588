// `leip compile`: an ONNX model in, DIR/modelLibrary.so + DIR/model_schema.json out.
#include "Commands.h"
#include "Progress.h"
#include "QuantizationFlags.h"

#include "leip/codegen/Compiler.h"
#include "leip/frontend/OnnxExporter.h"
#include "leip/ir/Verifier.h"
#include "leip/passes/ShapeInference.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace leip::cli {

namespace {

struct CompileOptions {
  std::string inputPath;
  std::string outputPath;
  std::string target;
  std::string inputShapes;
  std::string dataType = "auto";
  QuantizationFlags quant;
  bool json = false;
};

bool hasQuantizedTensors(const ir::Graph &graph) {
  for (const ir::Node *node : graph.nodes())
    if (node->opType() == "DequantizeLinear") return true;
  return false;
}

/// `leip compress` in memory: the float model calibrated on --rep_dataset and rewritten in
/// QDQ form, as the compiler reads a compress output.
std::unique_ptr<ir::Graph> quantize(const ir::Graph &model, const CompileOptions &options) {
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
  std::unique_ptr<ir::Graph> graph =
      frontend::importOnnxFromBytes(frontend::exportOnnx(*result.graph).SerializeAsString(), options.inputPath);
  passes::inferShapes(*graph);
  ir::verify(*graph);
  return graph;
}

void printQuantization(const codegen::CompileResult &result) {
  const passes::QdqLoweringStats &q = result.quantization;
  if (q.convsLowered == 0 && q.floatConvs.empty()) return;
  std::printf("  integer convolutions: %zu (%zu with the residual Add fused, %zu writing int8 directly), "
              "integer max pools: %zu\n",
              q.convsLowered, q.residualAddsFolded, q.quantizedOutputs, q.maxPoolsLowered);
  for (const auto &conv : q.floatConvs)
    std::printf("  stays float: %s: %s\n", conv.node.c_str(), conv.reason.c_str());
}

void runCompile(const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  // Parse the target first: a typo there should not cost a model load.
  codegen::CompileOptions compileOptions;
  compileOptions.target = codegen::parseTarget(options.target);
  compileOptions.sourcePath = frontend::modelFilePath(options.inputPath);
  compileOptions.outputDir = options.outputPath;
  if (options.dataType != "auto" && options.dataType != "float32" && options.dataType != "int8")
    throw UsageError("--data_type must be auto, float32 or int8, got '" + options.dataType + "'");
  compileOptions.integerKernels = options.dataType != "float32";
  if (options.dataType == "int8") compressOptions(options.quant, ir::DType::I8); // checks the flags early

  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  std::unique_ptr<ir::Graph> graph = frontend::loadModel(options.inputPath, importOptions);
  if (options.dataType == "int8" && !hasQuantizedTensors(*graph)) {
    if (options.quant.repDataset.empty())
      throw UsageError("--data_type int8: " + options.inputPath +
                       " is a float model; give --rep_dataset (calibration data) to quantize it first, or compile "
                       "the output of leip compress");
    graph = quantize(*graph, options);
  }
  codegen::CompileResult result = codegen::compileGraph(*graph, compileOptions);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (options.json) {
    std::cout << nlohmann::json{{"library", result.libraryPath},
                                {"schema", result.schemaPath},
                                {"target", compileOptions.target.describe()},
                                {"peak_activation_bytes", result.peakActivationBytes},
                                {"data_type", result.dataType},
                                {"seconds", seconds}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("compiled %s for %s in %.1f s\n", options.inputPath.c_str(), compileOptions.target.describe().c_str(),
              seconds);
  std::printf("  library:   %s\n  schema:    %s\n  peak activation memory: %lld bytes\n", result.libraryPath.c_str(),
              result.schemaPath.c_str(), static_cast<long long>(result.peakActivationBytes));
  printQuantization(result);
  if (options.dataType == "int8" && result.quantization.convsLowered == 0)
    spdlog::warn("--data_type int8: no convolution of {} could run on integers (see the reasons above)",
                 options.inputPath);
}

} // namespace

void addCompileCommand(CLI::App &app) {
  auto options = std::make_shared<CompileOptions>();
  CLI::App *command =
      app.add_subcommand("compile", "Compile a model into DIR/modelLibrary.so (C ABI: leip/runtime.h) and "
                                    "DIR/model_schema.json");
  command->add_option("--input_path", options->inputPath, "ONNX model (.onnx)")->required();
  command->add_option("--output_path", options->outputPath,
                      "Artifact directory (written to a temporary name and renamed into place)")
      ->required();
  command->add_option("--target", options->target,
                      "x86_64 (alias llvm) or aarch64, optionally with -mcpu=NAME -mattr=+a,-b, e.g. "
                      "\"llvm -mcpu=skylake-avx512\"; default: the host CPU and its features");
  command
      ->add_option("--data_type", options->dataType,
                   "auto: quantized (QDQ) convolutions run as int8 kernels, a float model stays float32; "
                   "float32: QDQ models keep their float simulation; int8: as auto, and a float model is "
                   "quantized first (needs --rep_dataset; the compress flags below apply)")
      ->capture_default_str();
  addQuantizationFlags(*command, options->quant, false);
  addInputShapesOption(*command, options->inputShapes);
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  command->callback([options] { runCompile(*options); });
}

} // namespace leip::cli
