// Compiles every ONNX node conformance case that the reference interpreter passes, as
// `leip compile` does (codegen::compileGraph on the imported graph, host target), loads the
// artifact through include/leip/runtime.hpp and checks its outputs against ONNX's reference
// outputs and the interpreter's, within 1e-4 of the output's largest magnitude.
//
// Compilability is found by trying: a compile that throws BadInputError saying what
// "cannot be compiled" counts as not compilable, with that reason; any other failure, and
// any mismatch, fails the program. ONNX's cases feed weights as graph inputs; when the
// compiler asks for constants, the case is imported again with those inputs baked into
// initializers, as exported models have them.
//
// usage: leip_conformance_compiled CASES_DIR [--filter SUBSTRING] [--shard I/N] [--work_dir DIR]
//                                  [--results FILE.json] [--report FILE.md]
//        leip_conformance_compiled --merge RESULTS.json... [--report FILE.md]
// --shard I/N runs every N-th case starting at the I-th (ctest runs the shards in parallel);
// --results keeps the per-case outcomes so that --merge can report on all shards together.
#include "Artifact.h"
#include "ConformanceCases.h"

#include "leip/codegen/Compiler.h"
#include "leip/support/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace leip;
using namespace leip::conformance;

namespace {

/// Tolerance of the compiled outputs, relative to the largest magnitude of the output they
/// are compared with; the floor lets all-zero outputs tolerate denormal-level noise.
constexpr double kRelativeTolerance = 1e-4;
constexpr double kAbsoluteFloor = 1e-6;

enum class Status { Pass, Fail, NotCompilable, NotRun };

const char *statusName(Status s) {
  switch (s) {
  case Status::Pass: return "pass";
  case Status::Fail: return "fail";
  case Status::NotCompilable: return "not_compilable";
  case Status::NotRun: return "not_run";
  }
  return "";
}

Status statusFromName(const std::string &name) {
  for (Status s : {Status::Pass, Status::Fail, Status::NotCompilable, Status::NotRun})
    if (name == statusName(s)) return s;
  throw BadInputError("unknown case status '" + name + "'");
}

struct CompiledResult {
  std::string name, label;
  Status status = Status::NotRun;
  std::string reason;
  bool bakedForCompile = false; // compiled with more inputs as constants than the interpreter needed
};

/// The case being compiled or run, for the crash handler.
char gCurrentCase[256] = "";

void onCrash(int signal) {
  const char prefix[] = "\nleip_conformance_compiled: crashed in case ";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
  n = ::write(STDERR_FILENO, gCurrentCase, std::strlen(gCurrentCase));
  n = ::write(STDERR_FILENO, "\n", 1);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

/// "" when `got` is within tolerance of `want`, else why not.
std::string compareCompiled(const ir::Tensor &got, const ir::Tensor &want) {
  if (!ir::isFloat(want.dtype())) return compareTensors(got, want, 0, 0);
  double largest = 0;
  for (int64_t i = 0; i < want.numElements(); ++i)
    if (double v = std::fabs(want.getAsDouble(i)); std::isfinite(v)) largest = std::max(largest, v);
  double tolerance = std::max(kRelativeTolerance * largest, kAbsoluteFloor);
  std::string mismatch = compareTensors(got, want, tolerance, 0);
  if (mismatch.empty()) return "";
  std::ostringstream os;
  os << mismatch << " (tolerance " << tolerance << ")";
  return os.str();
}

/// Whether a compile error says that the compiler does not handle the model yet.
bool isCompileLimitation(const std::string &message) {
  return message.find("cannot be compiled") != std::string::npos;
}

/// The compiler's reason without node and tensor names, so that equal reasons group together:
/// "node 'n' (Conv): op Conv cannot be compiled yet" -> "op Conv cannot be compiled yet",
/// "output 'y' is a constant ..." -> "output '*' is a constant ...".
std::string groupableReason(std::string message) {
  if (message.rfind("node '", 0) == 0)
    if (size_t end = message.find("): "); end != std::string::npos) message = message.substr(end + 3);
  return std::regex_replace(message, std::regex("'[^']*'"), "'*'");
}

/// Compiles `run.graph` into `artifactDir`, runs it on the case's inputs and compares every
/// output with ONNX's reference output and the interpreter's.
void compileAndCheck(const InterpretedCase &run, const codegen::Target &target, const fs::path &artifactDir,
                     CompiledResult &result) {
  codegen::CompileOptions options;
  options.target = target;
  options.sourcePath = run.modelPath.string();
  options.outputDir = artifactDir.string();
  try {
    codegen::compileGraph(*run.graph, options);
  } catch (const BadInputError &e) {
    std::string message = e.what();
    if (!isCompileLimitation(message)) throw;
    result.status = Status::NotCompilable;
    result.reason = groupableReason(message);
    return;
  }

  std::unique_ptr<runtime::Model> model = cli::loadArtifact(artifactDir.string());
  const auto &graphInputs = run.graph->inputs();
  if (model->inputs().size() != graphInputs.size())
    throw std::runtime_error("the library has " + std::to_string(model->inputs().size()) + " inputs, the graph " +
                             std::to_string(graphInputs.size()));
  for (size_t i = 0; i < graphInputs.size(); ++i) {
    if (model->inputs()[i].name != graphInputs[i]->name())
      throw std::runtime_error("library input " + std::to_string(i) + " is '" + model->inputs()[i].name +
                               "', the graph's '" + graphInputs[i]->name() + "'");
    cli::checkArtifactInput(*model, i, run.inputs[i], "test input " + std::to_string(i));
  }
  std::vector<ir::Tensor> outputs = cli::runArtifact(*model, run.inputs);
  if (outputs.size() != run.outputs.size())
    throw std::runtime_error("the library has " + std::to_string(outputs.size()) + " outputs, the interpreter gave " +
                             std::to_string(run.outputs.size()));

  std::string problems;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (i < run.expected.size())
      if (std::string m = compareCompiled(outputs[i], run.expected[i]); !m.empty())
        problems += (problems.empty() ? "" : "; ") + ("output " + std::to_string(i) + " vs ONNX: " + m);
    if (std::string m = compareCompiled(outputs[i], run.outputs[i]); !m.empty())
      problems += (problems.empty() ? "" : "; ") + ("output " + std::to_string(i) + " vs interpreter: " + m);
  }
  result.status = problems.empty() ? Status::Pass : Status::Fail;
  result.reason = problems;
}

CompiledResult runCompiledCase(const fs::path &dir, const codegen::Target &target, const fs::path &workDir) {
  std::snprintf(gCurrentCase, sizeof(gCurrentCase), "%s", dir.filename().c_str());
  CompiledResult result;
  result.name = dir.filename().string();
  fs::path artifactDir = workDir / result.name;
  int attempts = 0;
  CaseResult interpreted = runCase(dir, [&](const InterpretedCase &run) {
    result.bakedForCompile = attempts++ > 0;
    try {
      compileAndCheck(run, target, artifactDir, result);
    } catch (const std::exception &e) {
      result.status = Status::Fail;
      result.reason = e.what();
    }
    std::error_code ec;
    fs::remove_all(artifactDir, ec);
    return result.status != Status::NotCompilable || result.reason.find("must be constant") == std::string::npos;
  });
  result.label = interpreted.label;
  if (interpreted.outcome != Outcome::Pass) result.reason = "the interpreter does not pass it: " + interpreted.reason;
  return result;
}

nlohmann::json toJson(const std::vector<CompiledResult> &results, const std::string &target) {
  nlohmann::json cases = nlohmann::json::array();
  for (const auto &r : results)
    cases.push_back({{"name", r.name},
                     {"label", r.label},
                     {"status", statusName(r.status)},
                     {"reason", r.reason},
                     {"baked_for_compile", r.bakedForCompile}});
  return {{"target", target}, {"cases", cases}};
}

void fromJson(const fs::path &path, std::vector<CompiledResult> &results, std::string &target) {
  std::ifstream in(path);
  if (!in) throw BadInputError(path.string() + ": cannot read");
  try {
    nlohmann::json doc = nlohmann::json::parse(in);
    target = doc.at("target").get<std::string>();
    for (const auto &c : doc.at("cases"))
      results.push_back({c.at("name").get<std::string>(), c.at("label").get<std::string>(),
                         statusFromName(c.at("status").get<std::string>()), c.at("reason").get<std::string>(),
                         c.at("baked_for_compile").get<bool>()});
  } catch (const nlohmann::json::exception &e) {
    throw BadInputError(path.string() + ": not a results file (" + e.what() + ")");
  }
}

struct Counts {
  int pass = 0, fail = 0, notCompilable = 0, notRun = 0;
  void add(Status s) {
    (s == Status::Pass ? pass : s == Status::Fail ? fail : s == Status::NotCompilable ? notCompilable : notRun)++;
  }
};

/// Prints the summary, writes the Markdown report when asked; returns the exit status.
int report(std::vector<CompiledResult> results, const std::string &target, const std::string &reportPath) {
  std::sort(results.begin(), results.end(), [](const auto &a, const auto &b) { return a.name < b.name; });
  Counts total;
  std::map<std::string, Counts> byLabel;
  std::map<std::string, std::pair<int, std::set<std::string>>> byReason; // reason -> cases, labels
  std::ostringstream failed;
  int baked = 0;
  for (const auto &r : results) {
    total.add(r.status);
    baked += r.status == Status::Pass && r.bakedForCompile;
    byLabel[r.label].add(r.status);
    if (r.status == Status::NotCompilable) {
      ++byReason[r.reason].first;
      byReason[r.reason].second.insert(r.label);
    }
    if (r.status == Status::Fail) failed << "- " << r.name << " (" << r.label << "): " << r.reason << "\n";
  }

  std::ostringstream table;
  table << "| ops in the case's model | compiled pass | compiled fail | not compilable |\n|---|---:|---:|---:|\n";
  for (const auto &[label, c] : byLabel)
    if (c.pass || c.fail || c.notCompilable)
      table << "| " << label << " | " << c.pass << " | " << c.fail << " | " << c.notCompilable << " |\n";
  std::ostringstream reasons;
  reasons << "| reason | cases | ops in the cases' models |\n|---|---:|---|\n";
  for (const auto &[reason, entry] : byReason) {
    std::string labels;
    for (const auto &l : entry.second) labels += (labels.empty() ? "" : ", ") + l;
    reasons << "| " << reason << " | " << entry.first << " | " << labels << " |\n";
  }
  int ran = total.pass + total.fail + total.notCompilable;

  std::printf("Compiled ONNX node conformance (%s): %d cases the interpreter passes, of %zu\n\n%s\n", target.c_str(),
              ran, results.size(), table.str().c_str());
  std::printf("Not compilable, by reason:\n%s\n", reasons.str().c_str());
  if (total.fail) std::printf("FAILED cases (%d):\n%s\n", total.fail, failed.str().c_str());
  std::printf("%d passing cases were compiled with weight inputs (Conv's W, Clip's bounds, ...) as constants\n",
              baked);
  std::printf("compiled conformance: %d passed, %d failed, %d not compilable (%d cases not run: the interpreter "
              "skips or fails them)\n",
              total.pass, total.fail, total.notCompilable, total.notRun);

  if (!reportPath.empty()) {
    std::ofstream out(reportPath);
    out << "# ONNX node conformance of compiled artifacts\n\n"
        << "Every ONNX node case that the reference interpreter passes ([conformance.md](conformance.md)) is "
           "compiled as `leip compile` compiles it (`codegen::compileGraph` on the imported graph, for the host), "
           "loaded through `include/leip/runtime.hpp` and run by `leip_conformance_compiled` (ctest: "
           "`compiled_conformance_0`, `compiled_conformance_1`, `compiled_conformance_report`). Each output must "
           "match both ONNX's reference output and the interpreter's within 1e-4 of that output's largest "
           "magnitude (|got - want| <= 1e-4 max|want|, at least 1e-6; NaN where NaN is expected; integers and "
           "bools exact). A case is not compilable when the compiler rejects one of its ops as one it cannot "
           "compile yet; the reasons are listed below.\n\n"
        << "**" << total.pass << " compiled and passed, " << total.fail << " failed, " << total.notCompilable
        << " not compilable** of the " << ran << " cases the interpreter passes (target: " << target
        << "). When the compiler asks for a constant where ONNX's case feeds a graph input (a weight, a "
           "bound), the case is compiled again with those inputs baked into initializers: "
        << baked << " passing cases needed that.\n\n"
        << "## By the ops in the case's model\n\n"
        << table.str() << "\n## Why cases are not compilable\n\n"
        << reasons.str();
    if (total.fail) out << "\n## Failures\n\n" << failed.str();
    if (!out) throw BadInputError(reportPath + ": cannot write");
  }
  return total.fail ? 1 : 0;
}

/// Parses "I/N" with 0 <= I < N.
std::pair<size_t, size_t> parseShard(const std::string &text) {
  size_t slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      size_t index = std::stoul(text.substr(0, slash)), count = std::stoul(text.substr(slash + 1));
      if (count > 0 && index < count) return {index, count};
    }
  } catch (const std::exception &) {
  }
  throw UsageError("--shard " + text + ": expected I/N with 0 <= I < N");
}

int run(int argc, char **argv) {
  std::string reportPath, resultsPath, filter, shardText = "0/1";
  fs::path workRoot = fs::temp_directory_path(), casesDir;
  std::vector<fs::path> mergeFiles;
  bool merge = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--report") reportPath = value();
    else if (arg == "--results") resultsPath = value();
    else if (arg == "--filter") filter = value();
    else if (arg == "--shard") shardText = value();
    else if (arg == "--work_dir") workRoot = value();
    else if (arg == "--merge") merge = true;
    else if (arg.rfind("--", 0) == 0) throw UsageError("unknown option " + arg);
    else if (merge) mergeFiles.push_back(arg);
    else if (casesDir.empty()) casesDir = arg;
    else throw UsageError("unexpected argument " + arg);
  }

  std::vector<CompiledResult> results;
  std::string target;
  if (merge) {
    if (mergeFiles.empty()) throw UsageError("--merge needs results files");
    for (const fs::path &file : mergeFiles) fromJson(file, results, target);
    return report(results, target, reportPath);
  }
  if (casesDir.empty()) throw UsageError("no CASES_DIR given");
  auto [shard, shards] = parseShard(shardText);
  std::vector<fs::path> dirs = listCases(casesDir, filter);
  if (dirs.empty()) throw BadInputError("no conformance cases under " + casesDir.string());

  codegen::Target host = codegen::parseTarget("");
  target = host.describe();
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(s, onCrash);
  // One scratch directory per process; each case's artifact is removed after its run.
  fs::path workDir = workRoot / ("leip-compiled-conformance-" + std::to_string(::getpid()));
  fs::create_directories(workDir);
  struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{workDir};

  auto start = std::chrono::steady_clock::now();
  for (size_t i = shard; i < dirs.size(); i += shards) results.push_back(runCompiledCase(dirs[i], host, workDir));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!resultsPath.empty()) {
    std::ofstream out(resultsPath);
    out << toJson(results, target).dump(1) << "\n";
    if (!out) throw BadInputError(resultsPath + ": cannot write");
  }
  int status = report(results, target, reportPath);
  std::printf("shard %zu/%zu: %zu cases in %.1f s\n", shard, shards, results.size(), seconds);
  return status;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const Error &e) {
    std::fprintf(stderr, "leip_conformance_compiled: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "leip_conformance_compiled: internal error: %s\n", e.what());
    return 3;
  }
}
