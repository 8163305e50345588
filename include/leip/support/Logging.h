// Logging through spdlog: warnings and errors by default, debug with `-v`.
#pragma once

#include <spdlog/spdlog.h>

namespace leip {

/// Sets up the stderr logger with leip's format; `verbose` enables debug messages.
void initLogging(bool verbose);

} // namespace leip
