// Recipes: JSON files that name every setting of `leip optimize` (the model, compress,
// compile and evaluate settings, accuracy and latency thresholds), so that one file
// describes a whole optimization and one command runs it. docs/recipes.md is the format.
//
// A recipe is read into the option structs of the commands it drives (Steps.h); each key
// has the name of the command-line flag it stands for, without dashes. Every key is checked
// when the recipe is read, before any work, and the command line can override any of them.
#pragma once

#include "Steps.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace leip::cli {

/// Limits on the optimized model; `leip optimize` exits with code 4 when one fails.
struct Thresholds {
  std::optional<double> maxTop1Drop;  // top-1 points lost against the fp32 model
  std::optional<double> minTop1;      // top-1 in percent
  std::optional<double> maxLatencyMs; // median latency of the optimized library
};

struct Recipe {
  std::string name;   // the file's stem: "x86_64-int8"
  std::string origin; // how messages name it: "recipe recipes/x86_64-int8.json"
  std::string description;
  std::string inputPath, inputShapes, outputPath;
  /// A "compress" section: the model is quantized first (its inputPath/outputPath unused).
  bool compresses = false;
  CompressFlags compress;
  /// The compile step (inputPath/outputPath/quant unused) and the threads the library runs
  /// with when it is measured.
  CompileOptions compile;
  int threads = 1;
  /// An "evaluate" section; the model is evaluated when it names a test set.
  bool hasEvaluate = false;
  EvaluateOptions evaluate;
  Thresholds thresholds;

  bool evaluates() const { return hasEvaluate && !evaluate.testPath.empty(); }
};

/// Where recipes named without a path live: $LEIP_RECIPES_DIR when set, else the recipes/
/// folder of the source tree leip was built from.
std::filesystem::path recipesDir();

/// The file a `--recipe` argument names: an existing file, or anything with a '/' or a .json
/// suffix, is a path; any other word a recipe of recipesDir() (BadInputError when absent).
std::filesystem::path resolveRecipe(const std::string &nameOrPath);

/// Reads and checks a recipe file. Relative paths in it are relative to the file's folder.
/// Any error is a BadInputError of one line: "recipe FILE: KEY.PATH: what was expected".
Recipe loadRecipe(const std::filesystem::path &file);

/// The same for recipe text; `origin` names it in messages (e.g. "recipe x.json"), relative
/// paths are relative to `baseDir`, and the recipe is called `name`.
Recipe parseRecipe(const std::string &text, const std::string &name, const std::string &origin,
                   const std::filesystem::path &baseDir);

/// Sets the key (e.g. "compress.calibration") to a value given as command-line text,
/// converted to the key's type and checked as in a recipe file; a relative path stays
/// relative to the current directory. A key of a section the recipe lacks adds the section.
/// Errors are UsageErrors "SOURCE: what was expected" (SOURCE: "--set KEY", or a flag).
void setRecipeKey(Recipe &recipe, const std::string &key, const std::string &value, const std::string &source);

/// `--set KEY=VALUE`.
void applySetOption(Recipe &recipe, const std::string &assignment);

/// Checks what running the recipe needs once every override is in: the model, the output
/// path and calibration data are given (UsageError naming the flag that gives them), the
/// named files exist and the settings fit together (BadInputError naming the key).
void checkRecipe(const Recipe &recipe);

/// The recipe with every setting, defaults included, and absolute paths: what `leip
/// optimize` writes as recipe.json (a recipe file that reproduces the run).
OrderedJson recipeJson(const Recipe &recipe);

/// Every key a recipe may have, as a path ("compress.bits"), in the order recipeJson writes.
std::vector<std::string> recipeKeys();

} // namespace leip::cli
