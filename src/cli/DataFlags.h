// The data flags shared by the commands that read datasets (`leip evaluate --test_path`,
// `leip compress --rep_dataset`): preprocessing and the sample limit.
#pragma once

#include "leip/data/Dataset.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace leip::cli {

struct DataFlags {
  std::string preprocessor = "identity";
  std::vector<float> mean, std;
  std::string scale;
  size_t maxSamples = 0;
};

/// Adds --preprocessor, --mean, --std, --scale and --max_samples (`samplesHelp` says what the
/// limit applies to).
void addDataFlags(CLI::App &command, DataFlags &flags, const std::string &samplesHelp);

/// The dataset options the flags describe (UsageError for a malformed --scale, BadInputError
/// for an unknown preprocessor or bad mean/std).
data::DatasetOptions datasetOptions(const DataFlags &flags);

} // namespace leip::cli
