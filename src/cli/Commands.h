// One function per `leip` subcommand: each adds its options to the CLI11 app and sets a
// callback that runs the command. Callbacks report failures by throwing leip::Error.
#pragma once

#include <CLI/CLI.hpp>

#include "leip/frontend/OnnxImporter.h"

namespace leip::cli {

void addInspectCommand(CLI::App &app);
void addRunCommand(CLI::App &app);
void addCompileCommand(CLI::App &app);
void addBenchmarkCommand(CLI::App &app);
void addEvaluateCommand(CLI::App &app);
void addCompressCommand(CLI::App &app);
void addOptimizeCommand(CLI::App &app);
void addRecipesCommand(CLI::App &app);
/// `leip recipes sweep` under the recipes command (SweepCommand.cpp).
void addSweepCommand(CLI::App *recipes);

/// Adds --input_shapes to a subcommand, parsed into `shapes` after parsing.
void addInputShapesOption(CLI::App &command, std::string &text);

} // namespace leip::cli
