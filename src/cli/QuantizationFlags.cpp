// See QuantizationFlags.h.
#include "QuantizationFlags.h"

#include "leip/support/Error.h"

#include <sstream>

namespace leip::cli {

void addQuantizationFlags(CLI::App &command, QuantizationFlags &flags, bool repDatasetRequired) {
  CLI::Option *rep = command.add_option(
      "--rep_dataset", flags.repDataset,
      "Representative data for calibration: a .npy whose first axis is the sample axis, a folder of .npy or image "
      "files, or an index .txt of 'path [label]' lines");
  if (repDatasetRequired) rep->required();
  command
      .add_option("--quantizer", flags.quantizer,
                  "symmetricpc or asymmetricpc (weights per output channel), symmetric, asymmetric, power_of_two "
                  "(weights per tensor); activations are always per tensor")
      ->capture_default_str();
  command.add_option("--bits", flags.bits, "Weight bit width, 4..8 (activations are 8-bit)")->capture_default_str();
  command
      .add_option("--calibration", flags.calibration,
                  "How activation ranges are chosen: minmax, average (mean of per-sample min/max), percentile, "
                  "entropy (KL divergence), mse")
      ->capture_default_str();
  command.add_option("--percentile", flags.percentile, "Percentile of --calibration percentile, in (50, 100]")
      ->capture_default_str();
  command.add_option("--optimization", flags.optimizations,
                     "Comma list of bias_correction, cross_layer_equalization, tensor_splitting (which finds "
                     "nothing to split with the per-channel quantizers)");
  command.add_option("--split_budget", flags.splitBudget,
                     "tensor_splitting may add at most this fraction of the parameters")
      ->capture_default_str();
  addDataFlags(command, flags.data, "Calibrate on the first N samples only (0: all)");
}

quant::CompressOptions compressOptions(const QuantizationFlags &flags, ir::DType storage) {
  quant::CompressOptions options;
  options.weights.kind = flagValue("--quantizer", [&] { return quant::parseQuantizerKind(flags.quantizer); });
  if (flags.bits < 4 || flags.bits > 8)
    throw UsageError("--bits must be in 4..8 (weights; activations are always 8-bit), got " +
                     std::to_string(flags.bits));
  options.weights.bits = flags.bits;
  options.weights.storage = storage;
  options.calibration = flagValue("--calibration", [&] { return quant::parseObserverKind(flags.calibration); });
  if (!(flags.percentile > 50 && flags.percentile <= 100)) {
    std::ostringstream text;
    text << "--percentile must be in (50, 100], got " << flags.percentile;
    throw UsageError(text.str());
  }
  options.observer.percentile = flags.percentile;
  flagValue("--optimization", [&] {
    quant::parseOptimizations(flags.optimizations, options);
    return 0;
  });
  if (!(flags.splitBudget >= 0 && flags.splitBudget <= 1))
    throw UsageError("--split_budget must be a fraction in [0, 1], got " + std::to_string(flags.splitBudget));
  options.splitBudget = flags.splitBudget;
  return options;
}

} // namespace leip::cli
