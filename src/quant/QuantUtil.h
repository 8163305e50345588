// Helpers shared by the quantizers and the observers (private to src/quant).
#pragma once

#include "leip/support/Error.h"

#include <cmath>
#include <span>
#include <string>

namespace leip::quant::detail {

/// Throws BadInputError naming the first NaN or Inf; the caller adds the tensor name.
inline void checkFinite(std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      throw BadInputError(std::string(std::isnan(values[i]) ? "NaN" : "infinite") + " value at index " +
                          std::to_string(i) + "; expected finite numbers");
}

} // namespace leip::quant::detail
