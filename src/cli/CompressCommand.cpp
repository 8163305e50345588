// `leip compress`: post-training quantization. Calibrates the activations on representative
// data, quantizes weights (and int32 biases), applies the requested optimizations, and
// writes DIR/model.onnx (QDQ), DIR/quant_params.json and DIR/compress_report.json with the
// per-layer SQNR of the quantized model against the float one. See docs/quantization.md.
#include "Commands.h"
#include "DataFlags.h"
#include "ModelInfo.h"
#include "Progress.h"
#include "QuantizationFlags.h"
#include "Steps.h"

#include "leip/frontend/OnnxExporter.h"
#include "leip/interp/Interpreter.h"
#include "leip/quant/Compress.h"
#include "leip/support/Error.h"
#include "leip/support/StagedDirectory.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace leip::cli {

namespace {

using Json = OrderedJson;

Json paramsJson(const quant::QuantizedTensor &t) {
  Json j{{"name", t.name},
         {"role", std::string(quant::roleName(t.role))},
         {"consumer", t.consumer},
         {"dtype", std::string(ir::dtypeName(t.params.storage))},
         {"bits", t.bits},
         {"axis", t.params.axis ? Json(*t.params.axis) : Json(nullptr)}};
  if (t.params.perChannel()) {
    j["scale"] = t.params.scales;
    j["zero_point"] = t.params.zeroPoints;
  } else {
    j["scale"] = t.params.scales.at(0);
    j["zero_point"] = t.params.zeroPoints.at(0);
  }
  j["range"] = {t.range.first, t.range.second};
  return j;
}

void writeJson(const std::filesystem::path &path, const Json &json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) throw BadInputError(path.string() + ": cannot write");
}

/// Bytes of the model's constants: as float, and as stored once the quantized ones take
/// their integer type.
std::pair<int64_t, int64_t> constantBytes(const ir::Graph &graph) {
  int64_t floatBytes = 0, storedBytes = 0;
  for (const ir::Value *c : graph.constants()) {
    if (c->users().empty()) continue;
    int64_t bytes = static_cast<int64_t>(c->type().byteSize());
    floatBytes += bytes;
    const auto &quant = c->type().quant;
    storedBytes += quant ? c->type().numElements() * static_cast<int64_t>(ir::dtypeSize(quant->storage)) : bytes;
  }
  return {floatBytes, storedBytes};
}

/// Whether the model file declares its (only) input's first dim as dynamic.
bool declaresDynamicBatch(const std::string &path) {
  frontend::ImportOptions options;
  options.runChecker = false; // loadModel has checked it
  std::unique_ptr<ir::Graph> declared = frontend::importOnnx(path, options);
  const ir::Shape &shape = declared->inputs()[0]->type().shape;
  return !shape.empty() && shape[0] == ir::kDynamicDim;
}

/// Whether the model written at `path` with a symbolic batch computes a batch of two
/// samples exactly as it computes each alone (`single` is the same model at batch 1). False
/// when it does not load or run at batch 2, e.g. a Reshape whose shape was folded from the
/// batch size.
bool runsAnyBatch(const std::string &path, const ir::Graph &single, const data::Dataset &data) {
  try {
    frontend::ImportOptions options;
    ir::Shape shape = single.inputs()[0]->type().shape;
    shape[0] = 2;
    options.inputShapes.byName[""] = shape;
    std::unique_ptr<ir::Graph> batched = frontend::loadModel(path, options);
    ir::Tensor first = data.sample(0), second = data.sample(data.size() > 1 ? 1 : 0);
    ir::Tensor both(ir::TensorType{first.dtype(), shape, {}});
    std::memcpy(both.rawData(), first.rawData(), first.byteSize());
    std::memcpy(static_cast<char *>(both.rawData()) + first.byteSize(), second.rawData(), second.byteSize());
    interp::Interpreter one(single), two(*batched);
    std::vector<ir::Tensor> a = one.run({first}), b = one.run({second}), ab = two.run({both});
    for (size_t o = 0; o < a.size(); ++o) {
      if (ab[o].byteSize() != 2 * a[o].byteSize() || ab[o].dtype() != a[o].dtype()) return false;
      const char *rows = static_cast<const char *>(ab[o].rawData());
      if (std::memcmp(rows, a[o].rawData(), a[o].byteSize()) != 0 ||
          std::memcmp(rows + a[o].byteSize(), b[o].rawData(), b[o].byteSize()) != 0)
        return false;
    }
    return true;
  } catch (const Error &) {
    return false;
  }
}

} // namespace

quant::CompressOptions compressOptions(const CompressFlags &flags) {
  if (flags.dataType != "int8" && flags.dataType != "uint8")
    throw UsageError("--data_type must be int8 or uint8, got '" + flags.dataType + "'");
  return compressOptions(flags.quant, flags.dataType == "int8" ? ir::DType::I8 : ir::DType::U8);
}

Json compressModel(const CompressFlags &flags) {
  auto start = std::chrono::steady_clock::now();
  quant::CompressOptions options = compressOptions(flags);
  data::DatasetOptions dataOptions = datasetOptions(flags.quant.data);

  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(flags.inputShapes);
  std::unique_ptr<ir::Graph> model = frontend::loadModel(flags.inputPath, importOptions);
  if (model->inputs().size() != 1)
    throw BadInputError(flags.inputPath + ": compress calibrates models with one input; this one has " +
                        std::to_string(model->inputs().size()));
  const ir::TensorType &input = model->inputs()[0]->type();
  if (input.rank() < 1 || input.shape[0] != 1)
    throw BadInputError(flags.inputPath + ": input '" + model->inputs()[0]->name() + "' is " + input.toString() +
                        "; compress runs one sample at a time: give --input_shapes with batch 1");
  std::unique_ptr<data::Dataset> data = data::openDataset(flags.quant.repDataset, input, dataOptions);

  quant::CompressResult result;
  {
    Progress progress("calibrating", data->size());
    result = quant::compress(*model, *data, options, [&](size_t done, size_t) { progress.update(done); });
  }
  StagedDirectory staged(flags.outputPath);
  const std::filesystem::path modelPath = staged.path() / "model.onnx";
  // A model with a dynamic batch keeps it, when the QDQ model still computes rows apart.
  bool dynamicBatch = declaresDynamicBatch(flags.inputPath);
  frontend::ExportOptions exportOptions;
  if (dynamicBatch) exportOptions.batchDim = "batch";
  frontend::writeOnnx(*result.graph, modelPath.string(), exportOptions);
  // The SQNR of what was written: the QDQ model read back (at batch 1), as any runtime would
  // see it, against the float model after the same (float-preserving) rewrites.
  std::unique_ptr<ir::Graph> simulated = frontend::loadModel(modelPath.string());
  if (dynamicBatch && !runsAnyBatch(modelPath.string(), *simulated, *data)) {
    spdlog::warn("{}: the quantized model keeps batch 1: at batch 2 it does not compute each sample as at batch 1 "
                 "(a shape folded from the batch size?)", flags.inputPath);
    dynamicBatch = false;
    frontend::writeOnnx(*result.graph, modelPath.string());
  }
  quant::SqnrReport sqnr;
  {
    size_t count = std::min(flags.sqnrSamples, data->size());
    Progress progress("measuring SQNR", count);
    sqnr = quant::measureSqnr(*result.graph, *simulated, *data, count,
                              [&](size_t done, size_t) { progress.update(done); });
  }

  Json params = Json::array();
  for (const quant::QuantizedTensor &t : result.tensors) params.push_back(paramsJson(t));
  writeJson(staged.path() / "quant_params.json", Json{{"tensors", params}});

  auto [floatBytes, storedBytes] = constantBytes(*result.graph);
  Json layers = Json::array(), outputs = Json::array(), optimizations = Json::array();
  for (const quant::TensorSqnr &l : sqnr.layers)
    layers.push_back({{"node", l.node},
                      {"op", l.op},
                      {"output", l.name},
                      {"sqnr_db", l.sqnrDb},
                      {"local_sqnr_db", l.localSqnrDb},
                      {"weight_sqnr_db", l.weightSqnrDb ? Json(*l.weightSqnrDb) : Json(nullptr)}});
  for (const quant::TensorSqnr &o : sqnr.outputs) outputs.push_back({{"output", o.name}, {"sqnr_db", o.sqnrDb}});
  for (const quant::OptimizationRecord &r : result.optimizations)
    optimizations.push_back({{"optimization", r.name}, {"target", r.target}, {"details", r.details}});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Json report{{"model", flags.inputPath},
              {"output", (std::filesystem::absolute(flags.outputPath) / "model.onnx").lexically_normal().string()},
              {"quantizer", flags.quant.quantizer},
              {"bits", options.weights.bits},
              {"data_type", flags.dataType},
              {"calibration", flags.quant.calibration},
              {"optimizations", optimizations},
              {"rep_dataset", flags.quant.repDataset},
              {"calibration_samples", result.calibrationSamples},
              {"sqnr_samples", sqnr.samples},
              {"output_sqnr_db", outputs},
              {"layers", layers},
              {"dynamic_batch", dynamicBatch},
              {"quantized_tensors", result.tensors.size()},
              {"parameter_bytes", {{"float32", floatBytes}, {"quantized", storedBytes}}},
              {"seconds", seconds}};
  if (options.calibration == quant::ObserverKind::Percentile) report["percentile"] = flags.quant.percentile;
  writeJson(staged.path() / "compress_report.json", report);
  staged.commit();
  return report;
}

void printCompressReport(const CompressFlags &flags, const Json &report) {
  if (flags.json) {
    std::cout << report.dump(2) << "\n";
    return;
  }
  std::printf("compressed %s with %s %d-bit %s, %s calibration on %zu samples in %.1f s\n", flags.inputPath.c_str(),
              flags.quant.quantizer.c_str(), report["bits"].get<int>(), flags.dataType.c_str(),
              flags.quant.calibration.c_str(), report["calibration_samples"].get<size_t>(),
              report["seconds"].get<double>());
  const Json &bytes = report["parameter_bytes"];
  std::printf("  quantized tensors: %zu; parameters %s -> %s\n", report["quantized_tensors"].get<size_t>(),
              humanBytes(bytes["float32"].get<int64_t>()).c_str(),
              humanBytes(bytes["quantized"].get<int64_t>()).c_str());
  // One line per optimization; compress_report.json has what it did to each layer.
  std::map<std::string, size_t> changed;
  for (const Json &r : report["optimizations"]) ++changed[r["optimization"].get<std::string>()];
  for (const std::string &name : quant::splitOptimizations(flags.quant.optimizations))
    std::printf("  %s: %zu layer%s changed\n", name.c_str(), changed[name], changed[name] == 1 ? "" : "s");
  for (const Json &o : report["output_sqnr_db"])
    std::printf("  output '%s': SQNR %.1f dB over %zu samples\n", o["output"].get<std::string>().c_str(),
                o["sqnr_db"].get<double>(), report["sqnr_samples"].get<size_t>());
  // The layers that lost the most, the first place to look when accuracy drops.
  std::vector<Json> worst = report["layers"];
  std::sort(worst.begin(), worst.end(),
            [](const Json &a, const Json &b) { return a["sqnr_db"].get<double>() < b["sqnr_db"].get<double>(); });
  if (worst.size() > 5) worst.resize(5);
  if (!worst.empty()) std::printf("  lowest layer SQNR (accumulated from the input; this layer alone):\n");
  for (const Json &l : worst)
    std::printf("    %7.1f dB %7.1f dB  %s (%s)\n", l["sqnr_db"].get<double>(), l["local_sqnr_db"].get<double>(),
                l["node"].get<std::string>().c_str(), l["op"].get<std::string>().c_str());
  std::printf("  wrote %s/{model.onnx, quant_params.json, compress_report.json}\n", flags.outputPath.c_str());
}

void addCompressCommand(CLI::App &app) {
  auto flags = std::make_shared<CompressFlags>();
  CLI::App *command = app.add_subcommand(
      "compress", "Quantize a model after training (8-bit activations, 4- to 8-bit weights), calibrated on "
                  "representative data one sample at a time: writes DIR/model.onnx (QDQ form), "
                  "DIR/quant_params.json and DIR/compress_report.json (per-layer SQNR)");
  command->add_option("--input_path", flags->inputPath, "ONNX model (.onnx), float32")->required();
  command->add_option("--output_path", flags->outputPath,
                      "Output directory (written to a temporary name and renamed into place)")
      ->required();
  addQuantizationFlags(*command, flags->quant, true);
  command->add_option("--data_type", flags->dataType, "int8 or uint8, for weights and activations")
      ->capture_default_str();
  command->add_option("--sqnr_samples", flags->sqnrSamples,
                      "Samples the report's SQNR is measured on (the first of --rep_dataset)")
      ->capture_default_str();
  addInputShapesOption(*command, flags->inputShapes);
  command->add_flag("--json", flags->json, "Print the report as JSON instead of a summary");
  command->callback([flags] { printCompressReport(*flags, compressModel(*flags)); });
}

} // namespace leip::cli
