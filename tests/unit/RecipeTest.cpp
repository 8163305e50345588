// Recipes (src/cli/Recipe.h): every key read and checked with the exact key path in its
// error, --set and flag overrides, recipe.json, checks before a run, and how a recipe
// name finds its file. The golden recipes in recipes/ must read.
#include "Recipe.h"
#include "Report.h"

#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace leip;
using namespace leip::cli;
namespace fs = std::filesystem;

namespace {

Recipe parse(const std::string &text, const fs::path &base = "") {
  return parseRecipe(text, "r", "recipe r.json", base);
}

/// The message of the BadInputError that reading `text` raises ("" when it reads).
std::string badRecipe(const std::string &text) {
  try {
    parse(text);
  } catch (const BadInputError &e) {
    return e.what();
  }
  return "";
}

/// The message of the UsageError that `--set assignment` raises on an empty recipe.
std::string badSet(const std::string &assignment) {
  Recipe recipe = parse("{}");
  try {
    applySetOption(recipe, assignment);
  } catch (const UsageError &e) {
    return e.what();
  }
  return "";
}

/// A folder under the system's temporary one, empty, removed at the end of the test.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("leip-recipe-test-" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string &name, const std::string &text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

/// Sets (or with nullptr unsets) an environment variable for the scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const char *n, const char *value) : name(n) {
    if (const char *v = std::getenv(n)) old = v;
    value ? ::setenv(n, value, 1) : ::unsetenv(n);
  }
  ~ScopedEnv() { old ? ::setenv(name.c_str(), old->c_str(), 1) : ::unsetenv(name.c_str()); }
};

} // namespace

TEST(Recipe, EmptyRecipeHasTheCommandsDefaults) {
  Recipe r = parse("{}");
  EXPECT_EQ(r.name, "r");
  EXPECT_FALSE(r.compresses);
  EXPECT_FALSE(r.hasEvaluate);
  EXPECT_FALSE(r.evaluates());
  EXPECT_EQ(r.compile.dataType, "auto");
  EXPECT_EQ(r.compress.quant.quantizer, "symmetricpc");
  EXPECT_EQ(r.compress.quant.calibration, "average");
  EXPECT_EQ(r.threads, 1);
}

TEST(Recipe, EveryKeyReachesItsSetting) {
  Recipe r = parse(R"({
    "description": "d",
    "model": {"input_path": "m.onnx", "input_shapes": "1,1,28,28"},
    "output_path": "out",
    "compress": {"rep_dataset": "cal.npy", "quantizer": "asymmetric", "bits": 6, "data_type": "uint8",
                 "calibration": "percentile", "percentile": 99.9,
                 "optimization": ["bias_correction", "cross_layer_equalization"], "split_budget": 0.1,
                 "sqnr_samples": 8, "max_samples": 100, "preprocessor": "imagenet", "mean": [0.5, 0.4, 0.3],
                 "std": 0.25, "scale": "1/255"},
    "compile": {"target": "aarch64", "data_type": "float32", "float_budget": 0.2, "sqnr_samples": 4, "threads": 2},
    "evaluate": {"test_path": "t.npy", "labels": "l.npy", "class_names": "names.txt", "max_samples": 50,
                 "preprocessor": "uint8", "mean": 1, "std": [2], "scale": 0.5,
                 "thresholds": {"max_top1_drop": 0.5, "min_top1": 80, "max_latency_ms": 2.5}}
  })");
  EXPECT_EQ(r.description, "d");
  EXPECT_EQ(r.inputPath, "m.onnx");
  EXPECT_EQ(r.inputShapes, "1,1,28,28");
  EXPECT_EQ(r.outputPath, "out");
  EXPECT_TRUE(r.compresses);
  EXPECT_EQ(r.compress.quant.repDataset, "cal.npy");
  EXPECT_EQ(r.compress.quant.quantizer, "asymmetric");
  EXPECT_EQ(r.compress.quant.bits, 6);
  EXPECT_EQ(r.compress.dataType, "uint8");
  EXPECT_EQ(r.compress.quant.calibration, "percentile");
  EXPECT_DOUBLE_EQ(r.compress.quant.percentile, 99.9);
  EXPECT_EQ(r.compress.quant.optimizations, "bias_correction, cross_layer_equalization");
  EXPECT_DOUBLE_EQ(r.compress.quant.splitBudget, 0.1);
  EXPECT_EQ(r.compress.sqnrSamples, 8u);
  EXPECT_EQ(r.compress.quant.data.maxSamples, 100u);
  EXPECT_EQ(r.compress.quant.data.preprocessor, "imagenet");
  EXPECT_EQ(r.compress.quant.data.mean, (std::vector<float>{0.5f, 0.4f, 0.3f}));
  EXPECT_EQ(r.compress.quant.data.std, (std::vector<float>{0.25f}));
  EXPECT_EQ(r.compress.quant.data.scale, "1/255");
  EXPECT_EQ(r.compile.target, "aarch64");
  EXPECT_EQ(r.compile.dataType, "float32");
  EXPECT_DOUBLE_EQ(r.compile.floatBudget, 0.2);
  EXPECT_EQ(r.compile.sqnrSamples, 4u);
  EXPECT_EQ(r.threads, 2);
  EXPECT_TRUE(r.evaluates());
  EXPECT_EQ(r.evaluate.testPath, "t.npy");
  EXPECT_EQ(r.evaluate.labelsPath, "l.npy");
  EXPECT_EQ(r.evaluate.classNamesPath, "names.txt");
  EXPECT_EQ(r.evaluate.data.maxSamples, 50u);
  EXPECT_EQ(r.evaluate.data.preprocessor, "uint8");
  EXPECT_EQ(r.evaluate.data.mean, (std::vector<float>{1.0f}));
  EXPECT_EQ(r.evaluate.data.std, (std::vector<float>{2.0f}));
  EXPECT_EQ(r.evaluate.data.scale, "0.5");
  EXPECT_EQ(r.thresholds.maxTop1Drop, 0.5);
  EXPECT_EQ(r.thresholds.minTop1, 80.0);
  EXPECT_EQ(r.thresholds.maxLatencyMs, 2.5);
}

TEST(Recipe, EachBadValueNamesItsKeyPath) {
  const std::pair<const char *, const char *> cases[] = {
      {R"({"description": 5})", "recipe r.json: description: expected a string, got 5"},
      {R"({"model": {"input_path": ""}})",
       "recipe r.json: model.input_path: expected a path (a non-empty string), got \"\""},
      {R"({"output_path": ["a"]})", "recipe r.json: output_path: expected a path (a non-empty string), got [\"a\"]"},
      {R"({"compress": {"bits": 3}})", "recipe r.json: compress.bits: expected an integer in 4..8, got 3"},
      {R"({"compress": {"bits": "8"}})", "recipe r.json: compress.bits: expected an integer, got \"8\""},
      {R"({"compress": {"bits": 8.5}})", "recipe r.json: compress.bits: expected an integer, got 8.5"},
      {R"({"compress": {"data_type": "int4"}})",
       "recipe r.json: compress.data_type: expected one of int8, uint8, got \"int4\""},
      {R"({"compress": {"calibration": "foo"}})",
       "recipe r.json: compress.calibration: unknown calibration method 'foo'; expected one of minmax, average, "
       "percentile, entropy, mse"},
      {R"({"compress": {"quantizer": "symmetrc"}})",
       "recipe r.json: compress.quantizer: unknown quantizer 'symmetrc'; expected one of asymmetric, symmetric, "
       "symmetricpc, asymmetricpc, power_of_two"},
      {R"({"compress": {"percentile": 50}})",
       "recipe r.json: compress.percentile: expected a number in (50, 100], got 50"},
      {R"({"compress": {"optimization": "bias_correction"}})",
       "recipe r.json: compress.optimization: expected a list of names, got \"bias_correction\""},
      {R"({"compress": {"optimization": ["bias"]}})",
       "recipe r.json: compress.optimization: unknown optimization 'bias'; expected bias_correction, "
       "cross_layer_equalization or tensor_splitting"},
      {R"({"compress": {"split_budget": 2}})",
       "recipe r.json: compress.split_budget: expected a number in [0, 1], got 2"},
      {R"({"compress": {"sqnr_samples": 0}})", "recipe r.json: compress.sqnr_samples: expected an integer >= 1, got 0"},
      {R"({"compress": {"max_samples": -1}})", "recipe r.json: compress.max_samples: expected an integer >= 0, got -1"},
      {R"({"compress": {"preprocessor": "foo"}})",
       "recipe r.json: compress.preprocessor: unknown preprocessor 'foo' (expected one of: imagenet, uint8, identity)"},
      {R"({"compress": {"mean": "a"}})",
       "recipe r.json: compress.mean: expected a number or a list of numbers, got \"a\""},
      {R"({"compress": {"std": []}})", "recipe r.json: compress.std: expected a number or a list of numbers, got []"},
      {R"({"compress": {"scale": "1/x"}})",
       "recipe r.json: compress.scale: expected a number such as 0.00392 or 1/255, got '1/x'"},
      {R"({"compress": {"scale": true}})",
       "recipe r.json: compress.scale: expected a number or a fraction such as \"1/255\", got true"},
      {R"({"compile": {"target": "sparc"}})",
       "recipe r.json: compile.target: 'sparc': unknown target 'sparc' (expected x86_64, llvm or aarch64, optionally "
       "with -mcpu=NAME -mattr=+a,-b, or cuda -arch=sm_XX)"},
      {R"({"compile": {"data_type": "fp16"}})",
       "recipe r.json: compile.data_type: expected one of auto, float32, int8, mixed, got \"fp16\""},
      {R"({"compile": {"threads": 0}})", "recipe r.json: compile.threads: expected an integer in 1..256, got 0"},
      {R"({"compile": {"float_budget": -0.5}})",
       "recipe r.json: compile.float_budget: expected a number in [0, 1], got -0.5"},
      {R"({"model": {"input_shapes": "1,x"}})",
       "recipe r.json: model.input_shapes: '1,x': dimension 'x' is not a positive integer (expected e.g. 1,3,224,224 "
       "or x:1,3,48,320;y:1,10)"},
      {R"({"evaluate": {"test_path": 5}})",
       "recipe r.json: evaluate.test_path: expected a path (a non-empty string), got 5"},
      {R"({"evaluate": {"max_samples": 1.5}})", "recipe r.json: evaluate.max_samples: expected an integer, got 1.5"},
      {R"({"evaluate": {"thresholds": {"max_latency_ms": 0}}})",
       "recipe r.json: evaluate.thresholds.max_latency_ms: expected a number > 0, got 0"},
      {R"({"evaluate": {"thresholds": {"min_top1": 101}}})",
       "recipe r.json: evaluate.thresholds.min_top1: expected a number in [0, 100], got 101"},
      {R"({"evaluate": {"thresholds": {"max_top1_drop": "1"}}})",
       "recipe r.json: evaluate.thresholds.max_top1_drop: expected a number, got \"1\""},
  };
  for (const auto &[text, message] : cases) EXPECT_EQ(badRecipe(text), message) << text;
}

TEST(Recipe, UnknownKeysAndMisshapenSectionsAreRejected) {
  EXPECT_EQ(badRecipe(R"({"compres": {}})"),
            "recipe r.json: compres: unknown key; expected one of description, model, output_path, compress, "
            "compile, evaluate");
  EXPECT_EQ(badRecipe(R"({"compress": {"calib": "minmax"}})"),
            "recipe r.json: compress.calib: unknown key; expected one of rep_dataset, quantizer, bits, data_type, "
            "calibration, percentile, optimization, split_budget, sqnr_samples, max_samples, preprocessor, mean, "
            "std, scale");
  EXPECT_EQ(badRecipe(R"({"evaluate": {"thresholds": {"max_drop": 1}}})"),
            "recipe r.json: evaluate.thresholds.max_drop: unknown key; expected one of max_top1_drop, min_top1, "
            "max_latency_ms");
  EXPECT_EQ(badRecipe(R"({"compile": {"threads": 2, "tagret": "x86_64"}})"),
            "recipe r.json: compile.tagret: unknown key; expected one of target, data_type, float_budget, "
            "sqnr_samples, threads");
  EXPECT_EQ(badRecipe(R"({"compress": null})"),
            "recipe r.json: compress: expected an object with keys rep_dataset, quantizer, bits, data_type, "
            "calibration, percentile, optimization, split_budget, sqnr_samples, max_samples, preprocessor, mean, "
            "std, scale, got null");
  EXPECT_EQ(badRecipe(R"({"evaluate": {"thresholds": 1}})"),
            "recipe r.json: evaluate.thresholds: expected an object with keys max_top1_drop, min_top1, "
            "max_latency_ms, got 1");
  EXPECT_EQ(badRecipe("[]"), "recipe r.json: expected a JSON object with keys description, model, output_path, "
                             "compress, compile, evaluate, got []");
  const std::string syntax = badRecipe("{\"compress\": {\n  \"bits\": 8,\n}}");
  EXPECT_EQ(syntax.rfind("recipe r.json: not valid JSON: parse error at line 3, column 1", 0), 0u) << syntax;
}

TEST(Recipe, SectionsArePresentEvenWhenEmpty) {
  Recipe r = parse(R"({"compress": {}, "evaluate": {"thresholds": {}}})");
  EXPECT_TRUE(r.compresses);
  EXPECT_TRUE(r.hasEvaluate);
  EXPECT_FALSE(r.evaluates()); // no test set
}

TEST(Recipe, SetConvertsTextToTheKeysType) {
  Recipe r = parse(R"({"compile": {"data_type": "float32"}})");
  applySetOption(r, "compress.calibration=entropy");
  EXPECT_TRUE(r.compresses); // a key of a missing section adds it
  EXPECT_EQ(r.compress.quant.calibration, "entropy");
  applySetOption(r, "compress.bits=4");
  EXPECT_EQ(r.compress.quant.bits, 4);
  applySetOption(r, "compress.percentile=99.5");
  EXPECT_DOUBLE_EQ(r.compress.quant.percentile, 99.5);
  applySetOption(r, "compress.optimization=bias_correction, cross_layer_equalization");
  EXPECT_EQ(r.compress.quant.optimizations, "bias_correction, cross_layer_equalization");
  applySetOption(r, "evaluate.mean=0.1,0.2,0.3");
  EXPECT_TRUE(r.hasEvaluate);
  EXPECT_EQ(r.evaluate.data.mean, (std::vector<float>{0.1f, 0.2f, 0.3f}));
  applySetOption(r, "compress.scale=1/255");
  EXPECT_EQ(r.compress.quant.data.scale, "1/255");
  applySetOption(r, "compile.target=cuda -arch=sm_80"); // everything after the first '='
  EXPECT_EQ(r.compile.target, "cuda -arch=sm_80");
  applySetOption(r, "evaluate.thresholds.max_top1_drop=0.25");
  EXPECT_EQ(r.thresholds.maxTop1Drop, 0.25);
  applySetOption(r, "description=a=b");
  EXPECT_EQ(r.description, "a=b");
}

TEST(Recipe, BadSetIsAUsageErrorNamingTheOption) {
  EXPECT_EQ(badSet("compress.calibration=foo"),
            "--set compress.calibration: unknown calibration method 'foo'; expected one of minmax, average, "
            "percentile, entropy, mse");
  EXPECT_EQ(badSet("compress.bits=four"), "--set compress.bits: expected an integer, got \"four\"");
  EXPECT_EQ(badSet("compress.bits=9"), "--set compress.bits: expected an integer in 4..8, got 9");
  EXPECT_EQ(badSet("compress.percentile=1e999"), "--set compress.percentile: expected a number, got \"1e999\"");
  EXPECT_EQ(badSet("evaluate.mean=0.1,x"),
            "--set evaluate.mean: expected a number or a list of numbers, got \"0.1,x\"");
  EXPECT_EQ(badSet("compress.optimization=bias"),
            "--set compress.optimization: unknown optimization 'bias'; expected bias_correction, "
            "cross_layer_equalization or tensor_splitting");
  EXPECT_EQ(badSet("compress.foo=1"),
            "--set compress.foo: unknown key; expected one of rep_dataset, quantizer, bits, data_type, calibration, "
            "percentile, optimization, split_budget, sqnr_samples, max_samples, preprocessor, mean, std, scale");
  EXPECT_EQ(badSet("foo=1"), "--set foo: unknown key; expected one of description, model, output_path, compress, "
                             "compile, evaluate");
  EXPECT_EQ(badSet("compress=1"),
            "--set compress: \"compress\" is a section; set one of its keys: rep_dataset, quantizer, bits, "
            "data_type, calibration, percentile, optimization, split_budget, sqnr_samples, max_samples, "
            "preprocessor, mean, std, scale");
  EXPECT_EQ(badSet("compress.bits"),
            "--set: expected KEY=VALUE (e.g. compress.calibration=entropy), got 'compress.bits'");
  EXPECT_EQ(badSet("=4"), "--set: expected KEY=VALUE (e.g. compress.calibration=entropy), got '=4'");
}

TEST(Recipe, FlagOverridesNameTheFlag) {
  Recipe r = parse("{}");
  try {
    setRecipeKey(r, "compile.threads", "0", "--threads");
    FAIL() << "--threads 0 was accepted";
  } catch (const UsageError &e) {
    EXPECT_STREQ(e.what(), "--threads: expected an integer in 1..256, got 0");
  }
}

TEST(Recipe, PathsAreRelativeToTheRecipeFileButSetPathsToTheCurrentDirectory) {
  Recipe r = parse(R"({"model": {"input_path": "../models/m.onnx"}, "compress": {"rep_dataset": "/data/cal.npy"},
                      "evaluate": {"test_path": "t.npy"}})",
                   "recipes");
  EXPECT_EQ(r.inputPath, "models/m.onnx");
  EXPECT_EQ(r.compress.quant.repDataset, "/data/cal.npy");
  EXPECT_EQ(r.evaluate.testPath, "recipes/t.npy");
  setRecipeKey(r, "evaluate.test_path", "data/t.npy", "--test_path");
  EXPECT_EQ(r.evaluate.testPath, "data/t.npy");
}

TEST(Recipe, RecipeJsonHasEveryDefaultAndAbsolutePathsAndReadsBack) {
  Recipe r = parse(R"({"description": "d", "model": {"input_path": "m.onnx"},
                      "compress": {"rep_dataset": "cal.npy", "optimization": ["bias_correction"]},
                      "evaluate": {"thresholds": {"min_top1": 80}}})");
  applySetOption(r, "compress.calibration=entropy");
  OrderedJson json = recipeJson(r);
  EXPECT_EQ(json["description"], "d");
  EXPECT_EQ(json["model"]["input_path"], fs::absolute("m.onnx").string());
  EXPECT_EQ(json["compress"]["calibration"], "entropy");
  EXPECT_EQ(json["compress"]["quantizer"], "symmetricpc"); // a default, written out
  EXPECT_EQ(json["compress"]["optimization"], OrderedJson({"bias_correction"}));
  EXPECT_EQ(json["compile"]["data_type"], "auto");
  EXPECT_EQ(json["evaluate"]["thresholds"], OrderedJson({{"min_top1", 80.0}}));
  EXPECT_FALSE(json["evaluate"].contains("test_path"));
  EXPECT_FALSE(json.contains("output_path"));
  // The keys come out in the documented order, and the file reads back as the same recipe.
  std::vector<std::string> sections;
  for (const auto &[key, value] : json.items()) sections.push_back(key);
  EXPECT_EQ(sections, (std::vector<std::string>{"description", "model", "compress", "compile", "evaluate"}));
  EXPECT_EQ(recipeJson(parse(json.dump())), json);
  // Without its sections, an fp32 recipe writes neither.
  OrderedJson fp32 = recipeJson(parse(R"({"compile": {"data_type": "float32"}})"));
  EXPECT_FALSE(fp32.contains("compress"));
  EXPECT_FALSE(fp32.contains("evaluate"));
}

TEST(Recipe, CheckRecipeNeedsModelOutputAndCalibrationData) {
  TempDir dir;
  const std::string model = dir.write("m.onnx", "x").string();
  const std::string data = dir.write("cal.npy", "x").string();
  auto check = [&](const std::string &text) -> std::string {
    try {
      checkRecipe(parse(text));
    } catch (const Error &e) {
      return std::to_string(static_cast<int>(e.code())) + " " + e.what();
    }
    return "";
  };
  const std::string io = R"("model": {"input_path": ")" + model + R"("}, "output_path": "out")";
  EXPECT_EQ(check("{}"), "1 recipe r.json names no model: give --input_path (or set model.input_path)");
  EXPECT_EQ(check(R"({"model": {"input_path": ")" + model + R"("}})"),
            "1 recipe r.json names no output directory: give --output_path (or set output_path)");
  EXPECT_EQ(check("{" + io + R"(, "compress": {}})"),
            "1 recipe r.json quantizes the model: give --rep_dataset, calibration data (or set compress.rep_dataset)");
  EXPECT_EQ(check("{" + io + "}"), "");
  EXPECT_EQ(check(R"({"model": {"input_path": "/nonexistent/m.onnx"}, "output_path": "out"})"),
            "2 recipe r.json: model.input_path: /nonexistent/m.onnx: no such file or directory");
  EXPECT_EQ(check("{" + io + R"(, "evaluate": {"test_path": "/nonexistent/t.npy"}})"),
            "2 recipe r.json: evaluate.test_path: /nonexistent/t.npy: no such file or directory");
  EXPECT_EQ(check("{" + io + R"(, "compile": {"data_type": "int8"}})"),
            "2 recipe r.json: compile.data_type: \"int8\" quantizes the model: the recipe needs a compress section "
            "(with rep_dataset)");
  EXPECT_EQ(check("{" + io + R"(, "compress": {"rep_dataset": ")" + data +
                  R"(", "data_type": "uint8"}, "compile": {"data_type": "mixed"}})"),
            "2 recipe r.json: compile.data_type: \"mixed\" quantizes to int8; compress.data_type must be int8, got "
            "\"uint8\"");
  // The commands' own checks: per-channel mean and std of different sizes.
  EXPECT_EQ(check("{" + io + R"(, "compress": {"rep_dataset": ")" + data + R"(", "mean": [1, 2], "std": [1, 2, 3]}})"),
            "2 recipe r.json: compress: preprocessor mean has 2 values and std 3; give one value or one per "
            "channel for each");
}

TEST(Recipe, NamesResolveInTheRecipesFolderAndPathsAsFiles) {
  TempDir dir;
  const fs::path file = dir.write("mine.json", R"({"description": "mine"})");
  ScopedEnv env("LEIP_RECIPES_DIR", dir.path.c_str());
  EXPECT_EQ(recipesDir(), dir.path);
  EXPECT_EQ(resolveRecipe("mine"), file);
  EXPECT_EQ(resolveRecipe(file.string()), file);
  Recipe r = loadRecipe(resolveRecipe("mine"));
  EXPECT_EQ(r.name, "mine");
  EXPECT_EQ(r.origin, "recipe " + file.string());
  EXPECT_EQ(r.description, "mine");
  try {
    resolveRecipe("nothere");
    FAIL();
  } catch (const BadInputError &e) {
    EXPECT_EQ(std::string(e.what()), "recipe 'nothere': no such file, and no nothere.json in " + dir.path.string() +
                                         " (`leip recipes list` shows the recipes there; LEIP_RECIPES_DIR moves it)");
  }
  // Something that looks like a path is never looked up by name.
  EXPECT_THROW(resolveRecipe("sub/mine"), BadInputError);
  EXPECT_THROW(resolveRecipe("mine.json"), BadInputError);
  try {
    resolveRecipe((dir.path / "none.json").string());
    FAIL();
  } catch (const BadInputError &e) {
    EXPECT_EQ(std::string(e.what()), "recipe " + (dir.path / "none.json").string() + ": no such file");
  }
}

TEST(Recipe, GoldenRecipesReadAndEveryKeyIsDocumented) {
  ScopedEnv env("LEIP_RECIPES_DIR", nullptr);
  const fs::path dir = recipesDir();
  for (const char *name :
       {"x86_64-fp32", "x86_64-int8", "x86_64-mixed", "aarch64-fp32", "aarch64-int8", "cuda-fp32"}) {
    SCOPED_TRACE(name);
    Recipe r = loadRecipe(resolveRecipe(name));
    EXPECT_FALSE(r.description.empty());
    EXPECT_TRUE(r.inputPath.empty()); // golden recipes serve any model
    // The name says the target and the precision.
    const std::string stem = name, target = stem.substr(0, stem.find('-'));
    EXPECT_EQ(r.compile.target.rfind(target, 0), 0u) << r.compile.target;
    EXPECT_EQ(r.compresses, stem.find("fp32") == std::string::npos);
  }
  std::ifstream doc(dir.parent_path() / "docs" / "recipes.md");
  ASSERT_TRUE(doc) << "docs/recipes.md next to " << dir;
  std::stringstream text;
  text << doc.rdbuf();
  for (const std::string &key : recipeKeys())
    EXPECT_NE(text.str().find("`" + key + "`"), std::string::npos) << key << " is not in docs/recipes.md";
}

// ---- report.html (Report.h) ------------------------------------------------------------

namespace {

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

OrderedJson reportResults() {
  return OrderedJson::parse(R"({"recipe": "x<y>", "model": "/m/a&b.onnx", "output": "/o", "target": "x86_64",
    "data_type": "int8", "threads": 1,
    "fp32": {"top1": 91.5, "top5": 99.0, "items": 200, "latency_ms": {"median": 0.25, "p90": 0.3}, "size_bytes": 4000},
    "optimized": {"top1": 90.25, "top5": 98.5, "items": 200, "latency_ms": {"median": 0.125, "p90": 0.2},
                  "size_bytes": 1000},
    "ratios": {"size": 0.25, "latency": 0.5}, "measured_here": true,
    "thresholds": [{"name": "max_top1_drop", "limit": 1.0, "value": 1.25, "passed": false,
                    "note": "top-1 dropped <1.25> points"}],
    "passed": false})");
}

} // namespace

TEST(Report, EscapesTextAndShowsTheNumbers) {
  EXPECT_EQ(htmlEscape(R"(<a href="x">'&'</a>)"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  const std::string page = renderReport(reportResults(), nullptr);
  EXPECT_NE(page.find("recipe x&lt;y&gt;"), std::string::npos);
  EXPECT_NE(page.find("/m/a&amp;b.onnx"), std::string::npos);
  EXPECT_NE(page.find("top-1 dropped &lt;1.25&gt; points"), std::string::npos);
  EXPECT_EQ(page.find("<y>"), std::string::npos);
  for (const char *number : {"91.50", "90.25", "-1.25 points", "0.250", "0.125", "0.50x", "0.25x", "4000", "1000",
                             "1.000", "1.250", "FAILED"})
    EXPECT_NE(page.find(number), std::string::npos) << number;
  EXPECT_EQ(page.find("<svg"), std::string::npos); // no compress report, no chart
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("http://"), page.find("http://www.w3.org")); // only the SVG namespace, if any
}

TEST(Report, OneBarPerLayerEvenWithoutAnSqnr) {
  OrderedJson results = reportResults();
  results["passed"] = true;
  results["thresholds"] = OrderedJson::array();
  results["ratios"]["latency"] = nullptr;
  results["fp32"]["latency_ms"] = nullptr;
  results["optimized"]["latency_ms"] = nullptr;
  const OrderedJson compress = OrderedJson::parse(R"({"quantizer": "symmetricpc", "bits": 8, "data_type": "int8",
    "calibration": "minmax", "calibration_samples": 64, "optimizations": ["bias_correction"],
    "output_sqnr_db": [{"output": "logits", "sqnr_db": 30.5}],
    "layers": [{"node": "conv<1>", "op": "Conv", "sqnr_db": 42.25}, {"node": "fc", "op": "Gemm", "sqnr_db": 12.0},
               {"node": "flat", "op": "Flatten", "sqnr_db": null}]})");
  const std::string page = renderReport(results, compress);
  EXPECT_EQ(count(page, "<svg"), 1u);
  EXPECT_EQ(count(page, "<rect class=\"bar"), 3u);
  EXPECT_EQ(count(page, "<rect class=\"bar low\""), 1u); // under 20 dB
  EXPECT_NE(page.find("data-layer=\"conv&lt;1&gt;\""), std::string::npos);
  for (const char *text : {"42.2", "12.0", "30.5 dB", "bias_correction", "no threshold checked", "n/a"})
    EXPECT_NE(page.find(text), std::string::npos) << text;
}
