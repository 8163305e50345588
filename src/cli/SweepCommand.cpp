// `leip recipes sweep`: a grid of recipes (quantizer x calibration x optimizations x data
// type) for one model, each run as `leip optimize`, ranked in one table.
//
//   DIR/recipes/NAME.json    the recipe of each configuration (a plain recipe file)
//   DIR/sweep_plan.json      the configurations, for --collect
//   DIR/runs/NAME/           leip optimize's output of each; DIR/runs/NAME.log its output
//   DIR/sweep.csv, .json     accuracy, latency and size per configuration, ranked, the
//                            Pareto front (accuracy up, latency and size down) marked
//   DIR/best.json            the best recipe: among the configurations within --tolerance
//                            top-1 points of the fp32 model, the fastest (then the most
//                            accurate, then the smallest)
//   DIR/Makefile             with --makefile, instead of running: one target per
//                            configuration, and `all`, which runs `leip recipes sweep --collect`
//
// The runs are separate processes of this same binary (--jobs at a time); their latencies
// are measured while the others run, so use --jobs 1 when latency differences matter.
#include "Commands.h"
#include "Recipe.h"

#include "leip/support/Error.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

namespace leip::cli {

namespace {

namespace fs = std::filesystem;
using Json = OrderedJson;

struct SweepFlags {
  std::string inputPath, repDataset, testPath, labels, outputPath, inputShapes, target, maxSamples;
  std::string quantizers = "symmetricpc", calibrations = "minmax,entropy", optimizations = "none",
              dataTypes = "int8";
  std::vector<std::string> sets;
  double tolerance = 1.0;
  int jobs = 0;
  bool makefile = false;
  std::string collect;
};

struct Config {
  std::string name, quantizer, calibration, optimization, dataType; // optimization: "a+b" or ""
};

std::vector<std::string> splitList(const std::string &text, const std::string &flag) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) items.push_back(item);
  if (items.empty()) throw UsageError(flag + ": expected a comma list, got \"" + text + "\"");
  return items;
}

Json readJson(const fs::path &path) {
  std::ifstream in(path);
  if (!in) throw BadInputError(path.string() + ": cannot read");
  try {
    return Json::parse(in);
  } catch (const nlohmann::json::exception &e) {
    throw BadInputError(path.string() + ": not valid JSON: " + e.what());
  }
}

void writeText(const fs::path &path, const std::string &text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw BadInputError(path.string() + ": cannot write");
}

/// The absolute, normal form of a path, without a trailing '/' ("DIR/." is "DIR").
fs::path normal(const std::string &path) {
  fs::path p = fs::absolute(path).lexically_normal();
  return p.has_filename() || p == p.root_path() ? p : p.parent_path();
}

std::string absolute(const std::string &path) { return normal(path).string(); }

std::vector<Config> grid(const SweepFlags &f) {
  std::vector<Config> configs;
  for (const std::string &dataType : splitList(f.dataTypes, "--data_types")) {
    if (dataType != "float32" && dataType != "int8" && dataType != "uint8" && dataType != "mixed")
      throw UsageError("--data_types: unknown data type '" + dataType + "'; expected float32, int8, uint8, mixed");
    if (dataType == "float32") {
      configs.push_back({"float32", "", "", "", dataType});
      continue;
    }
    for (const std::string &q : splitList(f.quantizers, "--quantizers"))
      for (const std::string &c : splitList(f.calibrations, "--calibrations"))
        for (const std::string &o : splitList(f.optimizations, "--optimizations")) {
          const std::string opt = o == "none" ? "" : o;
          configs.push_back({q + "-" + c + "-" + (opt.empty() ? "none" : opt) + "-" + dataType, q, c, opt, dataType});
        }
  }
  return configs;
}

/// Writes DIR/recipes/NAME.json for each configuration (each checked as optimize checks it,
/// so a bad grid fails here, before any run) and DIR/sweep_plan.json.
void plan(const SweepFlags &f, const std::vector<Config> &configs, const fs::path &dir) {
  if (f.inputPath.empty() || f.testPath.empty() || f.labels.empty())
    throw UsageError("recipes sweep: give --input_path, --test_path and --labels (and --rep_dataset to quantize)");
  fs::create_directories(dir / "recipes");
  fs::create_directories(dir / "runs");
  Json planned = Json::array();
  for (const Config &c : configs) {
    Json r = {{"description", "leip recipes sweep configuration " + c.name}};
    r["model"]["input_path"] = absolute(f.inputPath);
    if (!f.inputShapes.empty()) r["model"]["input_shapes"] = f.inputShapes;
    if (c.dataType != "float32") {
      if (f.repDataset.empty()) throw UsageError("recipes sweep: --data_types " + c.dataType + " needs --rep_dataset");
      r["compress"] = {{"quantizer", c.quantizer},
                       {"calibration", c.calibration},
                       {"data_type", c.dataType == "uint8" ? "uint8" : "int8"},
                       {"rep_dataset", absolute(f.repDataset)}};
      if (!c.optimization.empty()) {
        Json names = Json::array();
        std::stringstream in(c.optimization);
        for (std::string name; std::getline(in, name, '+');) names.push_back(name);
        r["compress"]["optimization"] = names;
      }
    }
    r["compile"]["data_type"] = c.dataType == "uint8" ? "auto" : c.dataType;
    if (!f.target.empty()) r["compile"]["target"] = f.target;
    r["evaluate"] = {{"test_path", absolute(f.testPath)}, {"labels", absolute(f.labels)}};
    const fs::path file = dir / "recipes" / (c.name + ".json");
    Recipe recipe = parseRecipe(r.dump(), c.name, "configuration " + c.name, dir);
    if (!f.maxSamples.empty()) {
      if (recipe.compresses) setRecipeKey(recipe, "compress.max_samples", f.maxSamples, "--max_samples");
      setRecipeKey(recipe, "evaluate.max_samples", f.maxSamples, "--max_samples");
    }
    for (const std::string &assignment : f.sets) applySetOption(recipe, assignment);
    recipe.outputPath = (dir / "runs" / c.name).string();
    checkRecipe(recipe);
    Json effective = recipeJson(recipe);
    effective.erase("output_path");
    writeText(file, effective.dump(2) + "\n");
    planned.push_back({{"name", c.name},
                       {"quantizer", c.quantizer},
                       {"calibration", c.calibration},
                       {"optimization", c.optimization},
                       {"data_type", c.dataType}});
  }
  Json p = {{"model", absolute(f.inputPath)}, {"tolerance", f.tolerance}, {"configurations", planned}};
  writeText(dir / "sweep_plan.json", p.dump(2) + "\n");
}

std::string selfExe() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw InternalError("cannot find the leip executable (/proc/self/exe): " + ec.message());
  return self.string();
}

/// Runs `leip optimize` for each configuration, `jobs` at a time, each into runs/NAME with
/// its output in runs/NAME.log.
void runAll(const std::vector<Config> &configs, const fs::path &dir, int jobs) {
  const std::string self = selfExe();
  std::map<pid_t, std::pair<size_t, std::chrono::steady_clock::time_point>> running;
  size_t next = 0, done = 0;
  std::printf("sweep: %zu configurations, %d at a time, into %s\n", configs.size(), jobs, dir.string().c_str());
  std::fflush(stdout);
  while (done < configs.size()) {
    while (next < configs.size() && static_cast<int>(running.size()) < jobs) {
      const Config &c = configs[next];
      const std::string recipe = (dir / "recipes" / (c.name + ".json")).string();
      const std::string out = (dir / "runs" / c.name).string();
      const std::string log = out + ".log";
      std::fflush(nullptr);
      pid_t pid = fork();
      if (pid < 0) throw InternalError("fork failed");
      if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
          dup2(fd, 1);
          dup2(fd, 2);
          close(fd);
        }
        execl(self.c_str(), "leip", "optimize", "--recipe", recipe.c_str(), "--output_path", out.c_str(),
              static_cast<char *>(nullptr));
        _exit(127);
      }
      running[pid] = {next, std::chrono::steady_clock::now()};
      ++next;
    }
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) throw InternalError("waitpid failed");
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Config &c = configs[it->second.first];
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.second).count();
    running.erase(it);
    ++done;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::printf("  [%zu/%zu] %-44s %s (%.1f s)\n", done, configs.size(), c.name.c_str(),
                code == 0 ? "done" : ("exit " + std::to_string(code) + ", see runs/" + c.name + ".log").c_str(),
                seconds);
    std::fflush(stdout);
  }
}

std::optional<double> num(const Json &j) {
  return j.is_number() ? std::optional<double>(j.get<double>()) : std::nullopt;
}

/// Why a configuration has no results.json: the last error line of its log.
std::string failure(const fs::path &dir, const std::string &name) {
  std::ifstream in(dir / "runs" / (name + ".log"));
  std::string line, last;
  while (std::getline(in, line))
    if (line.rfind("leip: ", 0) == 0) last = line;
  return "failed: " + (last.empty() ? "no results.json (see runs/" + name + ".log)" : last);
}

std::string csvField(const Json &j) {
  if (j.is_null()) return "";
  if (j.is_boolean()) return j.get<bool>() ? "1" : "0";
  std::string s = j.is_string() ? j.get<std::string>() : j.dump();
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char ch : s) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

/// Reads each configuration's results, ranks them, marks the Pareto front and writes
/// sweep.csv, sweep.json and best.json. ThresholdError when no configuration is within
/// the tolerance (the tables are written all the same).
void collect(const fs::path &dir) {
  const Json p = readJson(dir / "sweep_plan.json");
  const double tolerance = p["tolerance"].get<double>();
  Json rows = Json::array();
  std::optional<double> fp32Top1;
  for (const Json &c : p["configurations"]) {
    const std::string name = c["name"].get<std::string>();
    Json row = c;
    const fs::path results = dir / "runs" / name / "results.json";
    std::error_code ec;
    if (fs::exists(results, ec)) {
      const Json r = readJson(results);
      row["status"] = "ok";
      row["top1"] = r["optimized"]["top1"];
      row["top1_drop"] = r["top1_drop"];
      row["latency_ms"] = r["optimized"]["latency_ms"].is_object() ? r["optimized"]["latency_ms"]["median"] : Json();
      row["size_bytes"] = r["optimized"]["size_bytes"];
      row["latency_ratio"] = r["ratios"]["latency"];
      row["size_ratio"] = r["ratios"]["size"];
      row["fp32_top1"] = r["fp32"]["top1"];
      if (auto t = num(r["fp32"]["top1"])) fp32Top1 = std::max(fp32Top1.value_or(*t), *t);
    } else {
      row["status"] = failure(dir, name);
      for (const char *k : {"top1", "top1_drop", "latency_ms", "size_bytes", "latency_ratio", "size_ratio", "fp32_top1"})
        row[k] = nullptr;
    }
    row["recipe"] = (dir / "recipes" / (name + ".json")).string();
    row["output"] = (dir / "runs" / name).string();
    rows.push_back(row);
  }
  // Pareto front over the configurations that ran: no other one is at least as accurate,
  // as fast and as small, and better in one (a latency not measured compares equal).
  auto ok = [](const Json &r) { return r["status"] == "ok" && r["top1"].is_number(); };
  auto lat = [](const Json &r) { return num(r["latency_ms"]).value_or(0); };
  for (Json &a : rows) {
    bool front = ok(a);
    for (const Json &b : rows) {
      if (!front) break;
      if (&a == &b || !ok(b)) continue;
      const double ta = a["top1"].get<double>(), tb = b["top1"].get<double>();
      const double sa = a["size_bytes"].get<double>(), sb = b["size_bytes"].get<double>();
      const bool noWorse = tb >= ta && lat(b) <= lat(a) && sb <= sa;
      const bool better = tb > ta || lat(b) < lat(a) || sb < sa;
      if (noWorse && better) front = false;
    }
    a["pareto"] = front;
    a["within_tolerance"] = ok(a) && fp32Top1 && a["top1"].get<double>() >= *fp32Top1 - tolerance;
  }
  // Rank: within the tolerance first, fastest first (then most accurate, then smallest);
  // the others by accuracy; failed runs last.
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) {
    const Json &a = rows[i], &b = rows[j];
    if (ok(a) != ok(b)) return ok(a);
    if (!ok(a)) return false;
    const bool wa = a["within_tolerance"].get<bool>(), wb = b["within_tolerance"].get<bool>();
    if (wa != wb) return wa;
    const double ta = a["top1"].get<double>(), tb = b["top1"].get<double>();
    if (wa && lat(a) != lat(b)) return lat(a) < lat(b);
    if (ta != tb) return ta > tb;
    if (lat(a) != lat(b)) return lat(a) < lat(b);
    return a["size_bytes"].get<double>() < b["size_bytes"].get<double>();
  });
  Json ranked = Json::array();
  for (size_t k = 0; k < order.size(); ++k) {
    Json row = {{"rank", k + 1}};
    for (auto &[key, value] : rows[order[k]].items()) row[key] = value;
    ranked.push_back(row);
  }

  const std::vector<std::string> columns = {"rank", "name", "quantizer", "calibration", "optimization", "data_type",
                                            "top1", "top1_drop", "latency_ms", "size_bytes", "latency_ratio",
                                            "size_ratio", "pareto", "within_tolerance", "status"};
  std::string csv;
  for (size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + columns[i];
  csv += "\n";
  for (const Json &row : ranked) {
    for (size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + csvField(row[columns[i]]);
    csv += "\n";
  }
  writeText(dir / "sweep.csv", csv);

  Json best;
  if (!ranked.empty() && ranked[0]["within_tolerance"].get<bool>()) best = ranked[0];
  Json summary = {{"model", p["model"]},
                  {"fp32_top1", fp32Top1 ? Json(*fp32Top1) : Json()},
                  {"tolerance", tolerance},
                  {"best", best.is_null() ? Json() : best["name"]},
                  {"configurations", ranked}};
  writeText(dir / "sweep.json", summary.dump(2) + "\n");

  std::printf("  %-4s %-44s %8s %10s %10s %s\n", "rank", "configuration", "top-1 %", "latency ms", "size KiB",
              "pareto");
  for (const Json &row : ranked) {
    if (!ok(row)) {
      std::printf("  %-4d %-44s %s\n", row["rank"].get<int>(), row["name"].get<std::string>().c_str(),
                  row["status"].get<std::string>().c_str());
      continue;
    }
    const auto l = num(row["latency_ms"]);
    std::printf("  %-4d %-44s %8.2f %10s %10.1f %s%s\n", row["rank"].get<int>(),
                row["name"].get<std::string>().c_str(), row["top1"].get<double>(),
                l ? (std::to_string(*l).substr(0, std::to_string(*l).find('.') + 4)).c_str() : "n/a",
                row["size_bytes"].get<double>() / 1024, row["pareto"].get<bool>() ? "*" : "",
                row["within_tolerance"].get<bool>() ? "" : "  (beyond tolerance)");
  }
  const fs::path bestFile = dir / "best.json";
  std::error_code ec;
  if (best.is_null()) {
    fs::remove(bestFile, ec);
    std::printf("  wrote %s/{sweep.csv, sweep.json}\n", dir.string().c_str());
    throw ThresholdError("no configuration is within " + std::to_string(tolerance).substr(0, 4) +
                         " top-1 points of the fp32 model" +
                         (fp32Top1 ? " (" + std::to_string(*fp32Top1).substr(0, 5) + " %)" : std::string()) + " (" +
                         (dir / "sweep.json").string() + ")");
  }
  Json recipe = readJson(best["recipe"].get<std::string>());
  char description[512];
  const auto l = num(best["latency_ms"]);
  std::snprintf(description, sizeof description,
                "Chosen by leip recipes sweep from %zu configurations: %s, top-1 %.2f %% (fp32 %.2f %%), "
                "latency %s, library %.2f of fp32. Fastest within %.2f top-1 points of fp32.",
                ranked.size(), best["name"].get<std::string>().c_str(), best["top1"].get<double>(), *fp32Top1,
                l ? (std::to_string(*l).substr(0, std::to_string(*l).find('.') + 4) + " ms").c_str() : "not measured",
                num(best["size_ratio"]).value_or(1), tolerance);
  recipe["description"] = description;
  recipe["evaluate"]["thresholds"]["max_top1_drop"] = tolerance;
  writeText(bestFile, recipe.dump(2) + "\n");
  std::printf("  best: %s (%s)\n  wrote %s/{sweep.csv, sweep.json, best.json}\n",
              best["name"].get<std::string>().c_str(), bestFile.string().c_str(), dir.string().c_str());
}

std::string shellQuote(const std::string &s) {
  if (s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+./=:,") ==
      std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// DIR/Makefile: runs/NAME/results.json per configuration, `all` collects. Paths relative
/// to DIR (make -C DIR), LEIP overridable (make LEIP=/path/to/leip).
void writeMakefile(const std::vector<Config> &configs, const fs::path &dir) {
  std::string m = "# Written by leip recipes sweep --makefile: one target per configuration.\n"
                  "#   make -C " + shellQuote(dir.string()) + " -j4        every configuration, then the table\n"
                  "#   make -C DIR runs/NAME/results.json   one configuration (e.g. one CI matrix job)\n"
                  "#   make -C DIR collect                  the table from the runs/ there are\n"
                  "# A configuration that fails leaves runs/NAME.log and no results.json; collect lists it.\n"
                  "LEIP ?= " + shellQuote(selfExe()) + "\n\nCONFIGS :=";
  for (const Config &c : configs) m += " \\\n  " + c.name;
  m += "\n\n.PHONY: all collect\nall: collect\n\n"
       "collect: $(foreach c,$(CONFIGS),runs/$(c)/results.json)\n"
       "\t$(LEIP) recipes sweep --collect .\n\n";
  for (const Config &c : configs)
    m += "runs/" + c.name + "/results.json: recipes/" + c.name + ".json\n\t@mkdir -p runs\n\t$(LEIP) optimize --recipe "
         "recipes/" + c.name + ".json --output_path runs/" + c.name + " > runs/" + c.name + ".log 2>&1 || (tail -n 1 "
         "runs/" + c.name + ".log; true)\n\n";
  writeText(dir / "Makefile", m);
}

void runSweep(const SweepFlags &f) {
  if (!f.collect.empty()) {
    collect(normal(f.collect));
    return;
  }
  if (f.outputPath.empty()) throw UsageError("recipes sweep: give --output_path (or --collect DIR)");
  if (f.tolerance < 0 || f.tolerance > 100) throw UsageError("--tolerance: expected 0..100 top-1 points");
  const fs::path dir = normal(f.outputPath);
  const std::vector<Config> configs = grid(f);
  plan(f, configs, dir);
  if (f.makefile) {
    writeMakefile(configs, dir);
    std::printf("wrote %s/Makefile: %zu configurations; run make -C %s -j%u\n", dir.string().c_str(),
                configs.size(), dir.string().c_str(), std::max(1u, std::thread::hardware_concurrency()));
    return;
  }
  const int jobs = f.jobs > 0 ? f.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  runAll(configs, dir, jobs);
  collect(dir);
}

} // namespace

void addSweepCommand(CLI::App *recipes) {
  auto f = std::make_shared<SweepFlags>();
  CLI::App *c = recipes->add_subcommand(
      "sweep", "Run leip optimize on a grid of configurations (quantizer x calibration x optimizations x data "
               "type) for one model, in parallel, and rank them: DIR/sweep.csv, DIR/sweep.json (Pareto front "
               "marked) and DIR/best.json (a recipe). See docs/recipes.md");
  c->add_option("--input_path", f->inputPath, "ONNX model (.onnx), float32");
  c->add_option("--rep_dataset", f->repDataset, "Calibration data (as for leip compress)");
  c->add_option("--test_path", f->testPath, "Labelled test data (as for leip evaluate)");
  c->add_option("--labels", f->labels, "Labels .npy of the test data");
  c->add_option("--output_path", f->outputPath, "Sweep directory");
  c->add_option("--input_shapes", f->inputShapes, "Input shapes (as for leip compile)");
  c->add_option("--target", f->target, "Compile target (default: this machine)");
  c->add_option("--max_samples", f->maxSamples, "Use the first N samples of the calibration and test data");
  c->add_option("--quantizers", f->quantizers, "Comma list of weight quantizers")->capture_default_str();
  c->add_option("--calibrations", f->calibrations, "Comma list of calibration methods")->capture_default_str();
  c->add_option("--optimizations", f->optimizations,
                "Comma list of optimization sets, each 'none' or names joined by '+', e.g. "
                "none,cross_layer_equalization+bias_correction")
      ->capture_default_str();
  c->add_option("--data_types", f->dataTypes, "Comma list of: float32, int8, uint8, mixed")->capture_default_str();
  c->add_option("--set", f->sets, "KEY=VALUE set in every configuration's recipe (as for leip optimize)");
  c->add_option("--tolerance", f->tolerance, "best.json: top-1 points below fp32 a configuration may lose")
      ->capture_default_str();
  c->add_option("--jobs", f->jobs, "Configurations run at a time (default: the cores of this machine)");
  c->add_flag("--makefile", f->makefile, "Write DIR/Makefile (one target per configuration) instead of running");
  c->add_option("--collect", f->collect, "Only collect the runs of sweep DIR into its tables (the Makefile's all)");
  c->callback([f] { runSweep(*f); });
}

} // namespace leip::cli
