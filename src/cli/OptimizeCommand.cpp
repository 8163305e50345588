// `leip optimize --recipe R`: compress -> compile -> evaluate as a recipe says (Recipe.h),
// into one output directory that appears all at once:
//
//   DIR/modelLibrary.so, DIR/model_schema.json   the artifact (DIR works as `leip compile`'s)
//   DIR/recipe.json                              the recipe as run: overrides and defaults in
//   DIR/results.json                             fp32 vs optimized: accuracy, latency, size
//   DIR/report.html                              the same as a page, with per-layer SQNR (Report.h)
//   DIR/compress/                                `leip compress`'s output, when it quantizes
//   DIR/evaluation/{fp32,optimized}.json         `leip evaluate`'s results, with a test set
//
// The steps are the commands' own functions (Steps.h). The fp32 side of the comparison is
// the model compiled as float32 for the same target, measured the same way and not kept.
// A failed threshold exits with code 4 once the directory is written. See docs/recipes.md.
#include "Artifact.h"
#include "Commands.h"
#include "ModelInfo.h"
#include "Recipe.h"
#include "Report.h"
#include "Steps.h"

#include "leip/codegen/Target.h"
#include "leip/support/Error.h"
#include "leip/support/StagedDirectory.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>

namespace leip::cli {

namespace {

namespace fs = std::filesystem;
using Json = OrderedJson;

/// A flag of compress, compile or evaluate that optimize takes too, and the recipe keys it
/// sets. A key of a section the recipe lacks is skipped (an fp32 recipe ignores
/// --rep_dataset), except for the flags that name a test set, which add "evaluate".
struct PlainFlag {
  const char *flag;
  std::vector<std::string> keys;
  const char *help;
  bool addsSection = false;
};

const std::vector<PlainFlag> &plainFlags() {
  static const std::vector<PlainFlag> flags = {
      {"--input_path", {"model.input_path"}, "ONNX model (.onnx), float32"},
      {"--input_shapes", {"model.input_shapes"}, "Input shapes, e.g. 1,1,28,28 (as for leip compile)"},
      {"--output_path", {"output_path"}, "Output directory (written to a temporary name and renamed into place)"},
      {"--rep_dataset", {"compress.rep_dataset"}, "Calibration data (as for leip compress)"},
      {"--quantizer", {"compress.quantizer"}, "Weight quantizer"},
      {"--bits", {"compress.bits"}, "Weight bit width, 4..8"},
      {"--calibration", {"compress.calibration"}, "Calibration method"},
      {"--percentile", {"compress.percentile"}, "Percentile of --calibration percentile"},
      {"--optimization", {"compress.optimization"}, "Comma list of compress optimizations"},
      {"--split_budget", {"compress.split_budget"}, "Parameter fraction tensor_splitting may add"},
      {"--target", {"compile.target"}, "Compile target, e.g. x86_64, aarch64, \"cuda -arch=sm_80\""},
      {"--data_type", {"compile.data_type"}, "Compiled data type: auto, float32, int8, mixed"},
      {"--float_budget", {"compile.float_budget"}, "--data_type mixed: fraction of multiply-adds kept float32"},
      {"--threads", {"compile.threads"}, "Threads the library is measured with"},
      {"--test_path", {"evaluate.test_path"}, "Labelled test data (as for leip evaluate)", true},
      {"--labels", {"evaluate.labels"}, "Labels .npy of the test data", true},
      {"--class_names", {"evaluate.class_names"}, "Class names, one per line", true},
      {"--preprocessor", {"compress.preprocessor", "evaluate.preprocessor"}, "Preprocessing preset of both data sets"},
      {"--mean", {"compress.mean", "evaluate.mean"}, "Preprocessing mean of both data sets"},
      {"--std", {"compress.std", "evaluate.std"}, "Preprocessing std of both data sets"},
      {"--scale", {"compress.scale", "evaluate.scale"}, "Preprocessing scale of both data sets"},
      {"--max_samples", {"compress.max_samples", "evaluate.max_samples"}, "Use the first N samples of both data sets"},
  };
  return flags;
}

struct OptimizeFlags {
  std::string recipe;
  std::vector<std::string> sets;
  std::vector<std::string> values;  // one per plainFlags() entry
  std::vector<CLI::Option *> given; // to tell an empty value from an absent flag
  bool json = false;
};

/// The plain flags given, then --set (which so has the last word).
void applyOverrides(Recipe &recipe, const OptimizeFlags &flags) {
  const auto &table = plainFlags();
  for (bool adding : {true, false})
    for (size_t i = 0; i < table.size(); ++i) {
      if (table[i].addsSection != adding || flags.given[i]->count() == 0) continue;
      bool used = false;
      for (const std::string &key : table[i].keys) {
        bool present = key.rfind("compress.", 0) == 0   ? recipe.compresses
                       : key.rfind("evaluate.", 0) == 0 ? recipe.hasEvaluate || adding
                                                        : true;
        if (!present) continue;
        setRecipeKey(recipe, key, flags.values[i], table[i].flag);
        used = true;
      }
      if (!used)
        spdlog::warn("{} ignored: {} has no {} section", table[i].flag, recipe.origin,
                     table[i].keys[0].substr(0, table[i].keys[0].find('.')));
    }
  for (const std::string &assignment : flags.sets) applySetOption(recipe, assignment);
}

/// Strings in `json` that start with `from` (the staging directory) start with `to` instead:
/// the files name where things will be, not where they were written.
Json rebased(const Json &json, const std::string &from, const std::string &to) {
  if (json.is_string()) {
    const std::string &s = json.get_ref<const std::string &>();
    return s.rfind(from, 0) == 0 ? Json(to + s.substr(from.size())) : json;
  }
  if (!json.is_structured()) return json;
  Json out = json;
  for (auto &[key, value] : out.items()) value = rebased(value, from, to);
  return out;
}

Json readJson(const fs::path &path) {
  std::ifstream in(path);
  return Json::parse(in);
}

void writeJson(const fs::path &path, const Json &json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) throw BadInputError(path.string() + ": cannot write");
}

/// Why the artifact in `dir` cannot run on this machine ("" when it can): another CPU, or a
/// GPU target without a usable GPU.
std::string whyNotRunnable(const fs::path &dir, const codegen::Target &target) {
  const std::string host = codegen::hostTarget().arch;
  if (target.hostArch() != host) return "compiled for " + target.hostArch() + ", this machine is " + host;
  try {
    loadArtifact(dir.string());
  } catch (const BadInputError &e) {
    if (!target.isCuda()) throw;
    return e.what();
  }
  return "";
}

/// One side of the comparison (fp32 or optimized).
struct Measured {
  std::optional<LatencyStats> latency;
  Json evaluation; // leip evaluate's results.json, null without a test set
  int64_t sizeBytes = 0;
};

Json sideJson(const Measured &m) {
  Json side = Json::object();
  const Json &e = m.evaluation;
  side["top1"] = e.is_null() ? Json() : e["top1"];
  side["top5"] = e.is_null() ? Json() : e["top5"];
  side["items"] = e.is_null() ? Json() : e["items"];
  side["engine"] = e.is_null() ? Json() : e["engine"];
  if (m.latency)
    side["latency_ms"] = {{"median", m.latency->median}, {"p90", m.latency->p90}, {"mean", m.latency->mean},
                          {"min", m.latency->min}, {"max", m.latency->max}};
  else
    side["latency_ms"] = nullptr;
  side["size_bytes"] = m.sizeBytes;
  return side;
}

/// A threshold of the recipe against what was measured.
struct Check {
  std::string name;
  double limit = 0;
  std::optional<double> value; // unset: not measured
  bool passed = true;
  std::string note; // why it was not checked, or how it failed
};

std::vector<Check> checkThresholds(const Recipe &recipe, const Measured &fp32, const Measured &optimized,
                                   const std::string &notRunnable) {
  std::vector<Check> checks;
  const Thresholds &t = recipe.thresholds;
  const bool evaluated = !optimized.evaluation.is_null();
  const std::string noTestSet = "not checked: no test set (evaluate.test_path, --test_path)";
  char text[256];
  if (t.maxTop1Drop) {
    Check c{"max_top1_drop", *t.maxTop1Drop, std::nullopt, true, ""};
    if (evaluated) {
      double before = fp32.evaluation["top1"].get<double>(), after = optimized.evaluation["top1"].get<double>();
      c.value = before - after;
      c.passed = *c.value <= c.limit;
      std::snprintf(text, sizeof text, "top-1 dropped %.2f points (%.2f %% -> %.2f %%), more than max_top1_drop %.2f",
                    *c.value, before, after, c.limit);
      if (!c.passed) c.note = text;
    } else {
      c.note = noTestSet;
    }
    checks.push_back(c);
  }
  if (t.minTop1) {
    Check c{"min_top1", *t.minTop1, std::nullopt, true, ""};
    if (evaluated) {
      c.value = optimized.evaluation["top1"].get<double>();
      c.passed = *c.value >= c.limit;
      std::snprintf(text, sizeof text, "top-1 is %.2f %%, below min_top1 %.2f", *c.value, c.limit);
      if (!c.passed) c.note = text;
    } else {
      c.note = noTestSet;
    }
    checks.push_back(c);
  }
  if (t.maxLatencyMs) {
    Check c{"max_latency_ms", *t.maxLatencyMs, std::nullopt, true, ""};
    if (optimized.latency) {
      c.value = optimized.latency->median;
      c.passed = *c.value <= c.limit;
      std::snprintf(text, sizeof text, "median latency is %.3f ms, above max_latency_ms %.3f", *c.value, c.limit);
      if (!c.passed) c.note = text;
    } else {
      c.note = "not checked: " + notRunnable;
    }
    checks.push_back(c);
  }
  return checks;
}

std::optional<double> ratio(std::optional<double> part, std::optional<double> whole) {
  if (!part || !whole || *whole <= 0) return std::nullopt;
  return *part / *whole;
}

Json orNull(std::optional<double> v) { return v ? Json(*v) : Json(); }

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// The artifact compileGraph wrote into `from` moves up to `to`, which it then describes.
void moveArtifact(const fs::path &from, const fs::path &to) {
  for (const fs::directory_entry &entry : fs::directory_iterator(from))
    fs::rename(entry.path(), to / entry.path().filename());
  fs::remove(from);
}

/// The comparison table and the thresholds, after the step lines.
void printSummary(const Json &results, const std::vector<Check> &checks, const std::string &wrote) {
  const Json &fp32 = results["fp32"], &optimized = results["optimized"];
  std::printf("  %-18s %12s %12s\n", "", "fp32", "optimized");
  if (!optimized["top1"].is_null()) {
    std::printf("  %-18s %10.2f %% %10.2f %%   %+.2f points\n", "top-1", fp32["top1"].get<double>(),
                optimized["top1"].get<double>(), optimized["top1"].get<double>() - fp32["top1"].get<double>());
    if (!optimized["top5"].is_null())
      std::printf("  %-18s %10.2f %% %10.2f %%\n", "top-5", fp32["top5"].get<double>(),
                  optimized["top5"].get<double>());
  }
  if (!results["ratios"]["latency"].is_null())
    std::printf("  %-18s %9.3f ms %9.3f ms   %.2fx\n", "latency (median)", fp32["latency_ms"]["median"].get<double>(),
                optimized["latency_ms"]["median"].get<double>(), results["ratios"]["latency"].get<double>());
  std::printf("  %-18s %12s %12s   %.2fx\n", "size (library)", humanBytes(fp32["size_bytes"].get<double>()).c_str(),
              humanBytes(optimized["size_bytes"].get<double>()).c_str(), results["ratios"]["size"].get<double>());
  for (const Check &c : checks) {
    if (!c.value)
      std::printf("  threshold %s: %s\n", c.name.c_str(), c.note.c_str());
    else
      std::printf("  threshold %s: %.3f %s %.3f, %s\n", c.name.c_str(), *c.value, c.name == "min_top1" ? ">=" : "<=",
                  c.limit, c.passed ? "passed" : "FAILED");
  }
  std::printf("  wrote %s in %.1f s\n", wrote.c_str(), results["seconds"]["total"].get<double>());
}

void runOptimize(const OptimizeFlags &flags) {
  const auto start = std::chrono::steady_clock::now();
  // Everything is checked before any work: the recipe, the overrides, the files it names.
  Recipe recipe = loadRecipe(resolveRecipe(flags.recipe));
  applyOverrides(recipe, flags);
  checkRecipe(recipe);
  const codegen::Target target = codegen::parseTarget(recipe.compile.target);

  StagedDirectory staged(recipe.outputPath);
  const fs::path dir = staged.path();
  const std::string finalDir = fs::absolute(recipe.outputPath).lexically_normal().string();
  auto rebase = [&](const Json &json) { return rebased(json, dir.string(), finalDir); };
  Json seconds = Json::object();
  char line[512];
  // Each step's line as soon as it is done: on a terminal, the steps' own progress counters
  // show in between.
  auto step = [&] {
    if (flags.json) return;
    std::printf("  %s\n", line);
    std::fflush(stdout);
  };
  if (!flags.json)
    std::printf("optimizing %s with recipe %s\n", recipe.inputPath.c_str(), recipe.name.c_str());

  Json compressReport;
  if (recipe.compresses) {
    CompressFlags compress = recipe.compress;
    compress.inputPath = recipe.inputPath;
    compress.inputShapes = recipe.inputShapes;
    compress.outputPath = (dir / "compress").string();
    compressReport = rebase(compressModel(compress));
    writeJson(dir / "compress" / "compress_report.json", compressReport);
    double sqnr = std::numeric_limits<double>::infinity();
    for (const Json &o : compressReport["output_sqnr_db"]) sqnr = std::min(sqnr, o["sqnr_db"].get<double>());
    seconds["compress"] = compressReport["seconds"];
    std::snprintf(line, sizeof line,
                  "compress  %s %d-bit %s, %s calibration on %zu samples: output SQNR %.1f dB (%.1f s)",
                  compress.quant.quantizer.c_str(), compress.quant.bits, compress.dataType.c_str(),
                  compress.quant.calibration.c_str(), compressReport["calibration_samples"].get<size_t>(), sqnr,
                  compressReport["seconds"].get<double>());
    step();
  }

  // Mixed precision chooses its float layers from the float model; otherwise the compress
  // output is what compiles.
  CompileOptions compile = recipe.compile;
  compile.inputShapes = recipe.inputShapes;
  compile.outputPath = (dir / ".compile").string();
  compile.inputPath = recipe.compresses && compile.dataType != "mixed" ? (dir / "compress").string() : recipe.inputPath;
  if (compile.dataType == "mixed") compile.quant = recipe.compress.quant;
  const CompileRun compiled = compileModel(compile);
  moveArtifact(compile.outputPath, dir);
  writeJson(dir / "model_schema.json", rebase(readJson(dir / "model_schema.json")));
  seconds["compile"] = compiled.seconds;
  const passes::QdqLoweringStats &q = compiled.result.quantization;
  std::string kernels;
  if (q.convsLowered) kernels = ": " + std::to_string(q.convsLowered) + " integer convolutions";
  if (!q.floatConvs.empty()) kernels += ", " + std::to_string(q.floatConvs.size()) + " kept float32";
  std::snprintf(line, sizeof line, "compile   %s, %s%s (%.1f s)", compiled.target.c_str(),
                compiled.result.dataType.c_str(), kernels.c_str(), compiled.seconds);
  step();

  // The fp32 side: the model as given, compiled as float32 for the same target.
  Measured fp32, optimized;
  optimized.sizeBytes = static_cast<int64_t>(fs::file_size(dir / "modelLibrary.so"));
  const fs::path baseline = dir / ".baseline";
  const bool separateBaseline = recipe.compresses;
  if (separateBaseline) {
    CompileOptions options;
    options.inputPath = recipe.inputPath;
    options.inputShapes = recipe.inputShapes;
    options.target = recipe.compile.target;
    options.dataType = "float32";
    options.outputPath = baseline.string();
    const CompileRun run = compileModel(options);
    fp32.sizeBytes = static_cast<int64_t>(fs::file_size(baseline / "modelLibrary.so"));
    seconds["baseline"] = run.seconds;
    std::snprintf(line, sizeof line, "baseline  %s, float32, for comparison (%.1f s)", run.target.c_str(), run.seconds);
    step();
  } else {
    fp32.sizeBytes = optimized.sizeBytes;
  }

  // Measure both on this machine when the artifact runs here; else the accuracy is the
  // reference interpreter's (on the compress output: simulated quantization).
  const auto measureStart = std::chrono::steady_clock::now();
  const std::string notRunnable = whyNotRunnable(dir, target);
  const bool here = notRunnable.empty();
  auto latencyOf = [&](const fs::path &artifact) {
    BenchmarkOptions options;
    options.inputPath = artifact.string();
    options.threads = recipe.threads;
    return measureLatency(options);
  };
  if (here) {
    optimized.latency = latencyOf(dir);
    fp32.latency = separateBaseline ? latencyOf(baseline) : optimized.latency;
  }
  if (recipe.evaluates()) {
    EvaluateOptions evaluate = recipe.evaluate;
    evaluate.threads = recipe.threads;
    auto evaluation = [&](const std::string &model, const std::string &name) {
      evaluate.inputPath = model;
      evaluate.inputShapes = here ? "" : recipe.inputShapes;
      Json results = evaluateModel(evaluate);
      results["model"] = name;
      return rebase(results);
    };
    const std::string modelPath = fs::absolute(recipe.inputPath).lexically_normal().string();
    if (here) {
      optimized.evaluation = evaluation(dir.string(), finalDir);
      fp32.evaluation = separateBaseline ? evaluation(baseline.string(), modelPath + " (compiled as float32)")
                                         : optimized.evaluation;
    } else {
      fp32.evaluation = evaluation(recipe.inputPath, modelPath);
      optimized.evaluation = recipe.compresses ? evaluation((dir / "compress").string(), finalDir + "/compress")
                                               : fp32.evaluation;
    }
    fs::create_directory(dir / "evaluation");
    writeJson(dir / "evaluation" / "fp32.json", fp32.evaluation);
    writeJson(dir / "evaluation" / "optimized.json", optimized.evaluation);
  }
  fs::remove_all(baseline);
  seconds["measure"] = secondsSince(measureStart);
  std::string measuredWhat = "no test set";
  if (recipe.evaluates())
    measuredWhat = groupDigits(optimized.evaluation["items"].get<int64_t>()) + " test items (" +
                   optimized.evaluation["engine"].get<std::string>() + ")";
  measuredWhat += here ? ", latency over " + std::to_string(BenchmarkOptions().iterations) + " runs"
                        : ", no latency: " + notRunnable;
  std::snprintf(line, sizeof line, "measure   %s (%.1f s)", measuredWhat.c_str(), seconds["measure"].get<double>());
  step();

  const std::vector<Check> checks = checkThresholds(recipe, fp32, optimized, notRunnable);
  Json thresholds = Json::array();
  bool passed = true;
  for (const Check &c : checks) {
    thresholds.push_back({{"name", c.name},
                          {"limit", c.limit},
                          {"value", orNull(c.value)},
                          {"passed", c.value ? Json(c.passed) : Json()},
                          {"note", c.note.empty() ? Json() : Json(c.note)}});
    passed = passed && c.passed;
  }
  auto top1 = [](const Measured &m) {
    return m.evaluation.is_null() ? std::nullopt : std::optional<double>(m.evaluation["top1"].get<double>());
  };
  auto median = [](const Measured &m) { return m.latency ? std::optional<double>(m.latency->median) : std::nullopt; };
  seconds["total"] = secondsSince(start);
  Json results{
      {"recipe", recipe.name},
      {"model", fs::absolute(recipe.inputPath).lexically_normal().string()},
      {"output", finalDir},
      {"target", compiled.target},
      {"data_type", compiled.result.dataType},
      {"fp32", sideJson(fp32)},
      {"optimized", sideJson(optimized)},
      {"top1_drop", top1(fp32) && top1(optimized) ? Json(*top1(fp32) - *top1(optimized)) : Json()},
      {"ratios",
       {{"size", static_cast<double>(optimized.sizeBytes) / static_cast<double>(fp32.sizeBytes)},
        {"latency", orNull(ratio(median(optimized), median(fp32)))}}},
      {"threads", recipe.threads},
      {"measured_here", here},
      {"not_measured_because", here ? Json() : Json(notRunnable)},
      {"compress",
       compressReport.is_null()
           ? Json()
           : Json{{"output_sqnr_db", compressReport["output_sqnr_db"]},
                  {"calibration_samples", compressReport["calibration_samples"]},
                  {"parameter_bytes", compressReport["parameter_bytes"]}}},
      {"thresholds", thresholds},
      {"passed", passed},
      {"seconds", seconds}};
  Json effective = recipeJson(recipe);
  effective["output_path"] = finalDir;
  writeJson(dir / "recipe.json", effective);
  writeJson(dir / "results.json", results);
  {
    std::ofstream page(dir / "report.html");
    page << renderReport(results, compressReport);
    if (!page) throw BadInputError((dir / "report.html").string() + ": cannot write");
  }
  staged.commit();

  if (flags.json)
    std::cout << results.dump(2) << "\n";
  else
    printSummary(results, checks,
                 recipe.outputPath + "/{modelLibrary.so, model_schema.json, recipe.json, results.json, report.html" +
                     (recipe.compresses ? ", compress/" : "") + (recipe.evaluates() ? ", evaluation/" : "") + "}");
  if (!flags.json) std::printf("  report %s/report.html\n", finalDir.c_str());
  if (passed) return;
  std::string failures;
  for (const Check &c : checks)
    if (!c.passed) failures += (failures.empty() ? "" : "; ") + c.note;
  throw ThresholdError("threshold failed: " + failures + " (" + finalDir + "/results.json)");
}

} // namespace

void addOptimizeCommand(CLI::App &app) {
  auto flags = std::make_shared<OptimizeFlags>();
  CLI::App *command = app.add_subcommand(
      "optimize", "Compress, compile and evaluate a model as a recipe says, into one directory: the artifact, "
                  "recipe.json, results.json (fp32 vs optimized accuracy, latency, size), compress/ and evaluation/. "
                  "Exit code 4 when a threshold of the recipe fails. See docs/recipes.md");
  command
      ->add_option("--recipe", flags->recipe,
                   "A recipe file, or the name of one in the recipes folder (leip recipes list)")
      ->required();
  command->add_option("--set", flags->sets,
                      "KEY=VALUE: sets a recipe key, e.g. compress.calibration=entropy (repeatable; after the flags "
                      "below)");
  const auto &table = plainFlags();
  flags->values.resize(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    std::string help = std::string(table[i].help) + " (sets ";
    for (size_t k = 0; k < table[i].keys.size(); ++k) help += (k ? ", " : "") + table[i].keys[k];
    flags->given.push_back(command->add_option(table[i].flag, flags->values[i], help + ")"));
  }
  command->add_flag("--json", flags->json, "Print results.json instead of a summary");
  command->callback([flags] { runOptimize(*flags); });
}

} // namespace leip::cli
