// The work of `leip compress`, `compile`, `evaluate` and `benchmark` as functions, apart from
// what each command prints: their commands call them, and so does `leip optimize`, which
// chains them as a recipe says (OptimizeCommand.cpp).
#pragma once

#include "DataFlags.h"
#include "QuantizationFlags.h"

#include "leip/codegen/Compiler.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace leip::cli {

/// Keys stay in the order written: the headline numbers first.
using OrderedJson = nlohmann::ordered_json;

// ---- leip compress -------------------------------------------------------------------

struct CompressFlags {
  std::string inputPath;
  std::string outputPath;
  QuantizationFlags quant;
  std::string dataType = "int8";
  size_t sqnrSamples = 32;
  std::string inputShapes;
  bool json = false;
};

/// The quantizer options the flags describe (UsageError naming the flag for a bad value).
quant::CompressOptions compressOptions(const CompressFlags &flags);

/// Quantizes flags.inputPath into flags.outputPath (model.onnx, quant_params.json,
/// compress_report.json) and returns the report.
OrderedJson compressModel(const CompressFlags &flags);

/// What `leip compress` prints: the report (--json) or its summary.
void printCompressReport(const CompressFlags &flags, const OrderedJson &report);

// ---- leip compile --------------------------------------------------------------------

struct CompileOptions {
  std::string inputPath;
  std::string outputPath;
  std::string target;
  std::string inputShapes;
  std::string dataType = "auto";
  QuantizationFlags quant;
  double floatBudget = 0.1;
  size_t sqnrSamples = 16;
  bool json = false;
};

struct CompileRun {
  codegen::CompileResult result;
  std::string target; // codegen::Target::describe()
  bool quantized = false; // a float model was quantized on the way (--data_type int8|mixed)
  double seconds = 0;
};

/// Checks the options that need no model (the target, --data_type, --float_budget, the
/// quantization flags when they apply; UsageError naming the flag) and returns the target.
codegen::Target checkCompileOptions(const CompileOptions &options);

/// Compiles options.inputPath into options.outputPath (modelLibrary.so, model_schema.json).
CompileRun compileModel(const CompileOptions &options);

/// What `leip compile` prints (one JSON object with --json).
void printCompileSummary(const CompileOptions &options, const CompileRun &run);

// ---- leip evaluate -------------------------------------------------------------------

struct EvaluateOptions {
  std::string inputPath;
  std::string testPath;
  std::string labelsPath;
  std::string classNamesPath;
  DataFlags data;
  std::string inputShapes;
  std::string outputPath = ".";
  int threads = 1;
  bool json = false;
};

/// Checks the options that need no model or data (--threads, the data flags) and returns
/// the dataset options they describe.
data::DatasetOptions checkEvaluateOptions(const EvaluateOptions &options);

/// Runs options.inputPath on the test set; returns what `leip evaluate` writes to results.json
/// (and writes nothing).
OrderedJson evaluateModel(const EvaluateOptions &options);

// ---- leip benchmark ------------------------------------------------------------------

struct BenchmarkOptions {
  std::string inputPath;
  std::vector<std::string> inputs;
  std::string inputShapes;
  std::string engine = "compiled";
  int iterations = 100;
  int warmup = 10;
  int threads = 1;
  bool json = false;
};

struct LatencyStats {
  double min = 0, median = 0, p90 = 0, mean = 0, max = 0;
  int threads = 1;
  std::string target; // set when an ONNX model was compiled for the host first
};

/// Times options.inputPath as `leip benchmark` does.
LatencyStats measureLatency(const BenchmarkOptions &options);

} // namespace leip::cli
