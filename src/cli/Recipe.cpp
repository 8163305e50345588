// See Recipe.h. Every key is one row of a table (fields()) that says its JSON type, how its
// value is checked, and where it goes in the commands' option structs, so that reading a
// file, `--set`, and writing recipe.json all follow the same rules. The checks are the
// commands' own parsers (quantizer, calibration, target, ...) wherever one exists.
#include "Recipe.h"

#include "leip/codegen/Target.h"
#include "leip/data/Dataset.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/quant/Compress.h"
#include "leip/runtime.h"
#include "leip/support/Error.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#ifndef LEIP_SOURCE_RECIPES_DIR
#error "LEIP_SOURCE_RECIPES_DIR must name the source tree's recipes/ folder (src/cli/CMakeLists.txt)"
#endif

namespace leip::cli {

namespace {

namespace fs = std::filesystem;
using Json = OrderedJson;

/// A value that does not fit its key: `what` says what was expected. Whoever read the value
/// adds where it came from (the recipe file and key path, or the command-line option).
struct FieldError {
  std::string key;
  std::string what;
};

enum class Kind { Text, Path, Int, Number, Numbers, Names, Scale };

struct Field {
  std::string key; // "compress.bits"
  Kind kind;
  /// Checks a value of the right JSON type (range, known names); throws FieldError.
  std::function<void(const Json &)> check;
  /// Stores a checked value; a relative path is taken relative to `base`.
  std::function<void(Recipe &, const Json &, const fs::path &base)> set;
  /// The value recipe.json gets; null when unset (the key is left out).
  std::function<Json(const Recipe &)> get;
};

/// The sections, each an object of keys; a recipe without "compress" does not quantize and
/// one without "evaluate" is not evaluated.
const std::vector<std::string> kSections = {"model", "compress", "compile", "evaluate", "evaluate.thresholds"};

bool isSection(const std::string &key) {
  return std::find(kSections.begin(), kSections.end(), key) != kSections.end();
}

std::string quoted(const Json &value) {
  std::string text = value.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

[[noreturn]] void expected(const std::string &what, const Json &value) {
  throw FieldError{"", "expected " + what + ", got " + quoted(value)};
}

/// The commands' parsers name their flag ("--target 'x': unknown target"); a recipe names
/// the key instead, so the flag goes.
std::string withoutFlag(std::string message, const std::string &flag) {
  if (message.rfind(flag, 0) != 0) return message;
  message.erase(0, flag.size());
  if (message.rfind(": ", 0) == 0) message.erase(0, 2);
  else if (message.rfind(' ', 0) == 0) message.erase(0, 1);
  return message;
}

/// Runs one of the commands' parsers on a value, its error becoming the key's.
template <typename F> void parsedBy(const std::string &flag, F parse) {
  try {
    parse();
  } catch (const Error &e) {
    throw FieldError{"", withoutFlag(e.what(), flag)};
  }
}

std::string typeName(Kind kind) {
  switch (kind) {
  case Kind::Text: return "a string";
  case Kind::Path: return "a path (a non-empty string)";
  case Kind::Int: return "an integer";
  case Kind::Number: return "a number";
  case Kind::Numbers: return "a number or a list of numbers";
  case Kind::Names: return "a list of names";
  case Kind::Scale: return "a number or a fraction such as \"1/255\"";
  }
  return "";
}

void checkType(Kind kind, const Json &v) {
  bool ok = false;
  switch (kind) {
  case Kind::Text: ok = v.is_string(); break;
  case Kind::Path: ok = v.is_string() && !v.get<std::string>().empty(); break;
  case Kind::Int: ok = v.is_number_integer(); break;
  case Kind::Number: ok = v.is_number(); break;
  case Kind::Numbers:
    ok = v.is_number() || (v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const Json &x) {
                             return x.is_number();
                           }));
    break;
  case Kind::Names:
    ok = v.is_array() && std::all_of(v.begin(), v.end(), [](const Json &x) { return x.is_string(); });
    break;
  case Kind::Scale: ok = v.is_number() || v.is_string(); break;
  }
  if (!ok) expected(typeName(kind), v);
}

std::string joinNames(const std::vector<std::string> &names) {
  std::string out;
  for (const std::string &n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

const int64_t kNoLimit = std::numeric_limits<int64_t>::max();
const double kInf = std::numeric_limits<double>::infinity();

std::string absolutePath(const std::string &path) { return fs::absolute(path).lexically_normal().string(); }

// ---- Field makers: `member` is a generic lambda returning a reference into the Recipe, so
// the same accessor serves set (Recipe &) and get (const Recipe &).

template <typename M> Field textField(std::string key, M member, std::function<void(const std::string &)> check = {}) {
  return {std::move(key), Kind::Text,
          [check](const Json &v) {
            if (check) check(v.get<std::string>());
          },
          [member](Recipe &r, const Json &v, const fs::path &) { member(r) = v.get<std::string>(); },
          [member](const Recipe &r) { return member(r).empty() ? Json() : Json(member(r)); }};
}

template <typename M> Field choiceField(std::string key, M member, std::vector<std::string> choices) {
  return textField(std::move(key), member, [choices](const std::string &value) {
    if (std::find(choices.begin(), choices.end(), value) == choices.end())
      expected("one of " + joinNames(choices), Json(value));
  });
}

template <typename M> Field pathField(std::string key, M member) {
  return {std::move(key), Kind::Path, {},
          [member](Recipe &r, const Json &v, const fs::path &base) {
            fs::path path(v.get<std::string>());
            member(r) = path.is_relative() && !base.empty() ? (base / path).lexically_normal().string() : path.string();
          },
          [member](const Recipe &r) { return member(r).empty() ? Json() : Json(absolutePath(member(r))); }};
}

template <typename M> Field intField(std::string key, M member, int64_t lo, int64_t hi) {
  return {std::move(key), Kind::Int,
          [lo, hi](const Json &v) {
            const bool huge = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kNoLimit);
            if (!huge && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi) return;
            expected(hi == kNoLimit
                         ? "an integer >= " + std::to_string(lo)
                         : "an integer in " + std::to_string(lo) + ".." + std::to_string(hi),
                     v);
          },
          [member](Recipe &r, const Json &v, const fs::path &) {
            member(r) = v.get<std::remove_reference_t<decltype(member(r))>>();
          },
          [member](const Recipe &r) { return Json(member(r)); }};
}

/// A number in [lo, hi] ((lo, hi] when loOpen); hi may be infinite.
std::function<void(const Json &)> numberRange(double lo, double hi, bool loOpen) {
  return [=](const Json &v) {
    double x = v.get<double>();
    if ((loOpen ? x > lo : x >= lo) && x <= hi) return;
    std::ostringstream what;
    what << "a number ";
    if (std::isinf(hi))
      what << (loOpen ? "> " : ">= ") << lo;
    else
      what << "in " << (loOpen ? "(" : "[") << lo << ", " << hi << "]";
    expected(what.str(), v);
  };
}

template <typename M> Field numberField(std::string key, M member, double lo, double hi, bool loOpen = false) {
  return {std::move(key), Kind::Number, numberRange(lo, hi, loOpen),
          [member](Recipe &r, const Json &v, const fs::path &) { member(r) = v.get<double>(); },
          [member](const Recipe &r) { return Json(member(r)); }};
}

/// A threshold: a number, or unset.
template <typename M> Field limitField(std::string key, M member, double lo, double hi, bool loOpen = false) {
  return {std::move(key), Kind::Number, numberRange(lo, hi, loOpen),
          [member](Recipe &r, const Json &v, const fs::path &) { member(r) = v.get<double>(); },
          [member](const Recipe &r) { return member(r) ? Json(*member(r)) : Json(); }};
}

/// Per-channel mean or std: one number or a list (the flags' comma list).
template <typename M> Field numbersField(std::string key, M member) {
  return {std::move(key), Kind::Numbers, {},
          [member](Recipe &r, const Json &v, const fs::path &) {
            member(r) = v.is_array() ? v.get<std::vector<float>>() : std::vector<float>{v.get<float>()};
          },
          [member](const Recipe &r) { return member(r).empty() ? Json() : Json(member(r)); }};
}

/// --optimization's comma list, as a JSON list of names.
template <typename M> Field optimizationsField(std::string key, M member) {
  return {std::move(key), Kind::Names,
          [](const Json &v) {
            for (const Json &name : v) parsedBy("--optimization", [&] { quant::splitOptimizations(name); });
          },
          [member](Recipe &r, const Json &v, const fs::path &) {
            member(r) = joinNames(v.get<std::vector<std::string>>());
          },
          [member](const Recipe &r) {
            std::vector<std::string> names = quant::splitOptimizations(member(r));
            return names.empty() ? Json() : Json(names);
          }};
}

std::string scaleText(const Json &v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

/// --scale: a number, or a fraction as text.
template <typename M> Field scaleField(std::string key, M member) {
  return {std::move(key), Kind::Scale,
          [](const Json &v) {
            DataFlags flags;
            flags.scale = scaleText(v);
            parsedBy("--scale", [&] { datasetOptions(flags); });
          },
          [member](Recipe &r, const Json &v, const fs::path &) { member(r) = scaleText(v); },
          [member](const Recipe &r) { return member(r).empty() ? Json() : Json(member(r)); }};
}

void checkPreprocessor(const std::string &name) {
  parsedBy("--preprocessor", [&] { data::makePreprocessor(name); });
}

#define LEIP_MEMBER(expr) [](auto &r) -> auto & { return r.expr; }

const std::vector<Field> &fields() {
  static const std::vector<Field> table = {
      textField("description", LEIP_MEMBER(description)),
      pathField("model.input_path", LEIP_MEMBER(inputPath)),
      textField("model.input_shapes", LEIP_MEMBER(inputShapes),
                [](const std::string &s) { parsedBy("--input_shapes", [&] { frontend::parseInputShapes(s); }); }),
      pathField("output_path", LEIP_MEMBER(outputPath)),

      pathField("compress.rep_dataset", LEIP_MEMBER(compress.quant.repDataset)),
      textField("compress.quantizer", LEIP_MEMBER(compress.quant.quantizer),
                [](const std::string &s) { parsedBy("--quantizer", [&] { quant::parseQuantizerKind(s); }); }),
      intField("compress.bits", LEIP_MEMBER(compress.quant.bits), 4, 8),
      choiceField("compress.data_type", LEIP_MEMBER(compress.dataType), {"int8", "uint8"}),
      textField("compress.calibration", LEIP_MEMBER(compress.quant.calibration),
                [](const std::string &s) { parsedBy("--calibration", [&] { quant::parseObserverKind(s); }); }),
      numberField("compress.percentile", LEIP_MEMBER(compress.quant.percentile), 50, 100, true),
      optimizationsField("compress.optimization", LEIP_MEMBER(compress.quant.optimizations)),
      numberField("compress.split_budget", LEIP_MEMBER(compress.quant.splitBudget), 0, 1),
      intField("compress.sqnr_samples", LEIP_MEMBER(compress.sqnrSamples), 1, kNoLimit),
      intField("compress.max_samples", LEIP_MEMBER(compress.quant.data.maxSamples), 0, kNoLimit),
      textField("compress.preprocessor", LEIP_MEMBER(compress.quant.data.preprocessor), checkPreprocessor),
      numbersField("compress.mean", LEIP_MEMBER(compress.quant.data.mean)),
      numbersField("compress.std", LEIP_MEMBER(compress.quant.data.std)),
      scaleField("compress.scale", LEIP_MEMBER(compress.quant.data.scale)),

      textField("compile.target", LEIP_MEMBER(compile.target),
                [](const std::string &s) { parsedBy("--target", [&] { codegen::parseTarget(s); }); }),
      choiceField("compile.data_type", LEIP_MEMBER(compile.dataType), {"auto", "float32", "int8", "mixed"}),
      numberField("compile.float_budget", LEIP_MEMBER(compile.floatBudget), 0, 1),
      intField("compile.sqnr_samples", LEIP_MEMBER(compile.sqnrSamples), 1, kNoLimit),
      intField("compile.threads", LEIP_MEMBER(threads), 1, LEIP_MAX_THREADS),

      pathField("evaluate.test_path", LEIP_MEMBER(evaluate.testPath)),
      pathField("evaluate.labels", LEIP_MEMBER(evaluate.labelsPath)),
      pathField("evaluate.class_names", LEIP_MEMBER(evaluate.classNamesPath)),
      intField("evaluate.max_samples", LEIP_MEMBER(evaluate.data.maxSamples), 0, kNoLimit),
      textField("evaluate.preprocessor", LEIP_MEMBER(evaluate.data.preprocessor), checkPreprocessor),
      numbersField("evaluate.mean", LEIP_MEMBER(evaluate.data.mean)),
      numbersField("evaluate.std", LEIP_MEMBER(evaluate.data.std)),
      scaleField("evaluate.scale", LEIP_MEMBER(evaluate.data.scale)),
      limitField("evaluate.thresholds.max_top1_drop", LEIP_MEMBER(thresholds.maxTop1Drop), 0, 100),
      limitField("evaluate.thresholds.min_top1", LEIP_MEMBER(thresholds.minTop1), 0, 100),
      limitField("evaluate.thresholds.max_latency_ms", LEIP_MEMBER(thresholds.maxLatencyMs), 0, kInf, true),
  };
  return table;
}

#undef LEIP_MEMBER

const Field *findField(const std::string &key) {
  for (const Field &f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

/// The names a section (or, for "", the top level) may hold, in table order.
std::string keysUnder(const std::string &section) {
  std::vector<std::string> names;
  const std::string prefix = section.empty() ? "" : section + ".";
  auto add = [&](const std::string &key) {
    if (key.rfind(prefix, 0) != 0) return;
    std::string name = key.substr(prefix.size());
    name = name.substr(0, name.find('.'));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (const Field &f : fields()) add(f.key);
  return joinNames(names);
}

std::string parentOf(const std::string &key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

/// A section that a key in it brings into the recipe.
void addSectionOf(Recipe &r, const std::string &key) {
  if (key.rfind("compress", 0) == 0) r.compresses = true;
  if (key.rfind("evaluate", 0) == 0) r.hasEvaluate = true;
}

/// Checks a value for the key and stores it; FieldError (with the key) when it does not fit.
void assign(Recipe &r, const std::string &key, const Json &value, const fs::path &base) {
  const Field *field = findField(key);
  try {
    if (!field) {
      std::string section = parentOf(key);
      if (!section.empty() && !isSection(section)) section = "";
      throw FieldError{"", "unknown key; expected one of " + keysUnder(section)};
    }
    checkType(field->kind, value);
    if (field->check) field->check(value);
  } catch (FieldError &e) {
    e.key = key;
    throw;
  }
  field->set(r, value, base);
  addSectionOf(r, key);
}

void readObject(Recipe &r, const Json &object, const std::string &section, const fs::path &base) {
  for (const auto &[name, value] : object.items()) {
    const std::string key = section.empty() ? name : section + "." + name;
    if (!isSection(key)) {
      assign(r, key, value, base);
      continue;
    }
    if (!value.is_object())
      throw FieldError{key, "expected an object with keys " + keysUnder(key) + ", got " + quoted(value)};
    addSectionOf(r, key);
    readObject(r, value, key, base);
  }
}

/// Command-line text as the JSON value of a key of this kind: "8" is 8 for an integer,
/// "a,b" a list of names.
Json fromText(Kind kind, const std::string &text) {
  auto number = [&](const std::string &part) {
    char *end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size() || !std::isfinite(v))
      expected(typeName(kind), Json(text));
    return v;
  };
  auto list = [&] {
    std::vector<std::string> parts;
    std::stringstream stream(text);
    for (std::string item; std::getline(stream, item, ',');) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) parts.push_back(item);
    }
    return parts;
  };
  switch (kind) {
  case Kind::Text:
  case Kind::Path:
  case Kind::Scale: return Json(text);
  case Kind::Int: {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) expected("an integer", Json(text));
    return Json(v);
  }
  case Kind::Number: return Json(number(text));
  case Kind::Numbers: {
    Json values = Json::array();
    for (const std::string &part : list()) values.push_back(number(part));
    return values;
  }
  case Kind::Names: return Json(list());
  }
  return Json();
}

/// Runs a command's own check of the settings, naming the recipe and section in its error.
template <typename F> void checkSection(const Recipe &r, const std::string &section, F check) {
  try {
    check();
  } catch (const UsageError &e) {
    throw UsageError(r.origin + ": " + section + ": " + e.what());
  } catch (const BadInputError &e) {
    throw BadInputError(r.origin + ": " + section + ": " + e.what());
  }
}

} // namespace

fs::path recipesDir() {
  const char *env = std::getenv("LEIP_RECIPES_DIR");
  return env && *env ? fs::path(env) : fs::path(LEIP_SOURCE_RECIPES_DIR);
}

fs::path resolveRecipe(const std::string &nameOrPath) {
  std::error_code ec;
  if (fs::is_regular_file(nameOrPath, ec)) return nameOrPath;
  const bool isPath = nameOrPath.find('/') != std::string::npos ||
                      (nameOrPath.size() > 5 && nameOrPath.compare(nameOrPath.size() - 5, 5, ".json") == 0);
  if (isPath) throw BadInputError("recipe " + nameOrPath + ": no such file");
  const fs::path dir = recipesDir();
  const fs::path file = dir / (nameOrPath + ".json");
  if (fs::is_regular_file(file, ec)) return file;
  throw BadInputError("recipe '" + nameOrPath + "': no such file, and no " + file.filename().string() + " in " +
                      dir.string() + " (`leip recipes list` shows the recipes there; LEIP_RECIPES_DIR moves it)");
}

Recipe parseRecipe(const std::string &text, const std::string &name, const std::string &origin,
                   const fs::path &baseDir) {
  Json json;
  // Recipes nest three levels; a bound keeps the recursive parts of nlohmann::json (dump()
  // in messages, destruction) far from the stack's end on hostile text.
  constexpr int kMaxDepth = 32;
  try {
    json = Json::parse(text, [&](int depth, Json::parse_event_t, Json &) {
      if (depth > kMaxDepth)
        throw BadInputError(origin + ": not a recipe: JSON nested more than " + std::to_string(kMaxDepth) +
                            " levels deep");
      return true;
    });
  } catch (const Json::exception &e) {
    // Parse errors and numbers too large for any type (out_of_range 406):
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." without the tag.
    std::string what = e.what();
    size_t tag = what.find("] ");
    throw BadInputError(origin + ": not valid JSON: " + (tag == std::string::npos ? what : what.substr(tag + 2)));
  }
  if (!json.is_object())
    throw BadInputError(origin + ": expected a JSON object with keys " + keysUnder("") + ", got " + quoted(json));
  Recipe recipe;
  recipe.name = name;
  recipe.origin = origin;
  try {
    readObject(recipe, json, "", baseDir);
  } catch (const FieldError &e) {
    throw BadInputError(origin + ": " + e.key + ": " + e.what);
  }
  return recipe;
}

Recipe loadRecipe(const fs::path &file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw BadInputError("recipe " + file.string() + ": cannot read");
  return parseRecipe(text.str(), file.stem().string(), "recipe " + file.string(), file.parent_path());
}

void setRecipeKey(Recipe &recipe, const std::string &key, const std::string &value, const std::string &source) {
  try {
    if (isSection(key))
      throw FieldError{key, "\"" + key + "\" is a section; set one of its keys: " + keysUnder(key)};
    const Field *field = findField(key);
    assign(recipe, key, field ? fromText(field->kind, value) : Json(value), "");
  } catch (const FieldError &e) {
    throw UsageError(source + ": " + e.what);
  }
}

void applySetOption(Recipe &recipe, const std::string &assignment) {
  size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0)
    throw UsageError("--set: expected KEY=VALUE (e.g. compress.calibration=entropy), got '" + assignment + "'");
  const std::string key = assignment.substr(0, equals);
  setRecipeKey(recipe, key, assignment.substr(equals + 1), "--set " + key);
}

void checkRecipe(const Recipe &r) {
  if (r.inputPath.empty())
    throw UsageError(r.origin + " names no model: give --input_path (or set model.input_path)");
  if (r.outputPath.empty())
    throw UsageError(r.origin + " names no output directory: give --output_path (or set output_path)");
  if (r.compresses && r.compress.quant.repDataset.empty())
    throw UsageError(r.origin + " quantizes the model: give --rep_dataset, calibration data (or set "
                                "compress.rep_dataset)");
  const std::pair<const char *, const std::string *> files[] = {
      {"model.input_path", &r.inputPath},
      {"compress.rep_dataset", r.compresses ? &r.compress.quant.repDataset : nullptr},
      {"evaluate.test_path", r.hasEvaluate ? &r.evaluate.testPath : nullptr},
      {"evaluate.labels", r.hasEvaluate ? &r.evaluate.labelsPath : nullptr},
      {"evaluate.class_names", r.hasEvaluate ? &r.evaluate.classNamesPath : nullptr}};
  for (const auto &[key, path] : files) {
    std::error_code ec;
    if (path && !path->empty() && !fs::exists(*path, ec))
      throw BadInputError(r.origin + ": " + key + ": " + *path + ": no such file or directory");
  }
  const std::string &dataType = r.compile.dataType;
  if ((dataType == "int8" || dataType == "mixed") && !r.compresses)
    throw BadInputError(r.origin + ": compile.data_type: \"" + dataType +
                        "\" quantizes the model: the recipe needs a compress section (with rep_dataset)");
  if (dataType == "mixed" && r.compress.dataType != "int8")
    throw BadInputError(r.origin + ": compile.data_type: \"mixed\" quantizes to int8; compress.data_type must be "
                        "int8, got \"" + r.compress.dataType + "\"");
  // The commands' own checks have the last word (mean and std of matching sizes, ...).
  if (r.compresses)
    checkSection(r, "compress", [&] {
      compressOptions(r.compress);
      datasetOptions(r.compress.quant.data);
    });
  checkSection(r, "compile", [&] { checkCompileOptions(r.compile); });
  if (r.hasEvaluate) checkSection(r, "evaluate", [&] { checkEvaluateOptions(r.evaluate); });
}

OrderedJson recipeJson(const Recipe &r) {
  Json out = Json::object();
  for (const Field &f : fields()) {
    if ((f.key.rfind("compress.", 0) == 0 && !r.compresses) || (f.key.rfind("evaluate.", 0) == 0 && !r.hasEvaluate))
      continue;
    Json value = f.get(r);
    if (value.is_null()) continue;
    std::string pointer = "/" + f.key;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    out[Json::json_pointer(pointer)] = value;
  }
  return out;
}

std::vector<std::string> recipeKeys() {
  std::vector<std::string> keys;
  for (const Field &f : fields()) keys.push_back(f.key);
  return keys;
}

} // namespace leip::cli
