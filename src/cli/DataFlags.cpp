// See DataFlags.h.
#include "DataFlags.h"

#include "leip/support/Error.h"

#include <cstdlib>
#include <optional>

namespace leip::cli {

namespace {

/// "0.00392", "1/255" -> float.
float parseScale(const std::string &text) {
  auto number = [&](const std::string &part) {
    char *end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size())
      throw UsageError("--scale: expected a number such as 0.00392 or 1/255, got '" + text + "'");
    return v;
  };
  size_t slash = text.find('/');
  double value = slash == std::string::npos ? number(text) : number(text.substr(0, slash)) / number(text.substr(slash + 1));
  return static_cast<float>(value);
}

} // namespace

void addDataFlags(CLI::App &command, DataFlags &flags, const std::string &samplesHelp) {
  command
      .add_option("--preprocessor", flags.preprocessor,
                  "Preset for x = (v * scale - mean) / std, v being image pixels 0..255 or the .npy values: "
                  "imagenet (scale 1/255, ImageNet RGB mean/std), uint8 (raw pixels 0..255, for models that take "
                  "them), identity (values unchanged). An integer model input gets x rounded; a value that does "
                  "not fit its type is an error")
      ->capture_default_str();
  command.add_option("--mean", flags.mean, "Override the mean: one value, or one per channel (0.485,0.456,0.406)")
      ->delimiter(',');
  command.add_option("--std", flags.std, "Override the std: one value, or one per channel")->delimiter(',');
  command.add_option("--scale", flags.scale, "Override the scale: a number or a fraction such as 1/255");
  command.add_option("--max_samples", flags.maxSamples, samplesHelp)->capture_default_str();
}

data::DatasetOptions datasetOptions(const DataFlags &flags) {
  data::DatasetOptions options;
  std::optional<float> scale;
  if (!flags.scale.empty()) scale = parseScale(flags.scale);
  options.preprocessor = data::makePreprocessor(flags.preprocessor, flags.mean, flags.std, scale);
  options.maxSamples = flags.maxSamples;
  return options;
}

} // namespace leip::cli
