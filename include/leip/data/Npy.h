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

/// A .npy header: what readNpy would return, without the data, so that large files can be
/// read piece by piece (datasets read one sample at a time).
struct NpyHeader {
  ir::DType dtype = ir::DType::F32; // the loaded dtype (float64 files load as F32)
  bool storedAsDouble = false;      // the file holds float64
  ir::Shape shape;
  size_t dataOffset = 0; // bytes before the first element
  std::string descr;     // numpy's dtype spelling, for messages
  size_t storedElementSize() const;
};
/// Reads and checks only the header of `path`, and checks that the file size matches it
/// (same errors as readNpy).
NpyHeader readNpyHeader(const std::string &path);
/// A tensor of `header.dtype` and `shape` from elements stored as the header says.
ir::Tensor decodeNpyData(const NpyHeader &header, const char *bytes, ir::Shape shape);

} // namespace leip::data
