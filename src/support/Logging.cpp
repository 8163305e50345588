#include "leip/support/Logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace leip {

void initLogging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("leip");
  logger->set_pattern("[%^%l%$] %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

} // namespace leip
