// NumPy .npy files (format versions 1-3), the exchange format of `leip run`.
#pragma once

#include "leip/ir/Tensor.h"

#include <string>

namespace leip::data {

/// Reads a C-order .npy of a dtype leip supports (f4, f2, i1, u1, i4, i8, b1; f8 is
/// converted to f32). Throws BadInputError naming the file for a missing file, bad magic,
/// a malformed header, Fortran order, an unsupported dtype or truncated data.
ir::Tensor readNpy(const std::string &path);
ir::Tensor parseNpy(const std::string &bytes, const std::string &sourceName);
/// Writes the tensor as .npy (version 1). Throws BadInputError when the file cannot be written.
void writeNpy(const ir::Tensor &tensor, const std::string &path);
std::string serializeNpy(const ir::Tensor &tensor);

} // namespace leip::data
