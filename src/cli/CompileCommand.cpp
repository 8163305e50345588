// `leip compile`: an ONNX model in, DIR/modelLibrary.so + DIR/model_schema.json out.
#include "Commands.h"

#include "leip/codegen/Compiler.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>

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
  bool json = false;
};

void runCompile(const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  // Parse the target first: a typo there should not cost a model load.
  codegen::CompileOptions compileOptions;
  compileOptions.target = codegen::parseTarget(options.target);
  compileOptions.sourcePath = frontend::modelFilePath(options.inputPath);
  compileOptions.outputDir = options.outputPath;

  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(options.inputShapes);
  std::unique_ptr<ir::Graph> graph = frontend::loadModel(options.inputPath, importOptions);
  codegen::CompileResult result = codegen::compileGraph(*graph, compileOptions);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (options.json) {
    std::cout << nlohmann::json{{"library", result.libraryPath},
                                {"schema", result.schemaPath},
                                {"target", compileOptions.target.describe()},
                                {"peak_activation_bytes", result.peakActivationBytes},
                                {"seconds", seconds}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("compiled %s for %s in %.1f s\n", options.inputPath.c_str(), compileOptions.target.describe().c_str(),
              seconds);
  std::printf("  library:   %s\n  schema:    %s\n  peak activation memory: %lld bytes\n", result.libraryPath.c_str(),
              result.schemaPath.c_str(), static_cast<long long>(result.peakActivationBytes));
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
  addInputShapesOption(*command, options->inputShapes);
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  command->callback([options] { runCompile(*options); });
}

} // namespace leip::cli
