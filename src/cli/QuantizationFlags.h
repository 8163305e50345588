// The quantization flags shared by `leip compress` and `leip compile --data_type int8|mixed`
// (which quantizes a float model first): calibration data, quantizer, bits, calibration
// method and optimizations.
#pragma once

#include "DataFlags.h"

#include "leip/ir/DType.h"
#include "leip/quant/Compress.h"
#include "leip/support/Error.h"

#include <CLI/CLI.hpp>

#include <string>

namespace leip::cli {

struct QuantizationFlags {
  std::string repDataset;
  std::string quantizer = "symmetricpc";
  int bits = 8;
  std::string calibration = "average";
  double percentile = 99.99;
  std::string optimizations;
  double splitBudget = 0.05;
  DataFlags data;
};

/// Adds --rep_dataset (required or not), --quantizer, --bits, --calibration, --percentile,
/// --optimization, --split_budget and the data flags.
void addQuantizationFlags(CLI::App &command, QuantizationFlags &flags, bool repDatasetRequired);

/// The compress options the flags describe, weights stored as `storage` (I8 or U8); a bad
/// value is a UsageError naming its flag, raised before any model loads.
quant::CompressOptions compressOptions(const QuantizationFlags &flags, ir::DType storage);

/// Runs `parse`, reporting a bad value as a usage error that names the flag.
template <typename F> auto flagValue(const std::string &flag, F parse) {
  try {
    return parse();
  } catch (const BadInputError &e) {
    throw UsageError(flag + ": " + e.what());
  }
}

} // namespace leip::cli
