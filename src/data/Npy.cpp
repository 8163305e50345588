#include "leip/data/Npy.h"

#include "leip/support/Error.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace leip::data {

namespace {

constexpr char kMagic[] = "\x93NUMPY";

struct Descr {
  const char *text;
  ir::DType dtype;
};
// Little-endian (or byte-order-free) spellings numpy writes.
constexpr Descr kDescrs[] = {
    {"<f4", ir::DType::F32}, {"<f2", ir::DType::F16}, {"|i1", ir::DType::I8}, {"|u1", ir::DType::U8},
    {"<i4", ir::DType::I32}, {"<i8", ir::DType::I64}, {"|b1", ir::DType::Bool},
};

std::string descrOf(ir::DType dtype) {
  for (const auto &d : kDescrs)
    if (d.dtype == dtype) return d.text;
  return "?";
}

[[noreturn]] void fail(const std::string &source, const std::string &message) {
  throw BadInputError(source + ": " + message);
}

// Finds `'key': <value>` in the header dict and returns the raw value text.
std::string headerField(const std::string &header, const std::string &key, const std::string &source) {
  std::smatch match;
  std::regex pattern("['\"]" + key + "['\"]\\s*:\\s*('[^']*'|\"[^\"]*\"|True|False|\\([^)]*\\))");
  if (!std::regex_search(header, match, pattern)) fail(source, "npy header has no '" + key + "' field");
  return match[1].str();
}

ir::Shape parseShape(const std::string &text, const std::string &source) {
  ir::Shape shape;
  std::string inner = text.substr(1, text.size() - 2); // strip parentheses
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto first = item.find_first_not_of(" \t");
    if (first == std::string::npos) continue; // "(3,)" has an empty last item
    auto last = item.find_last_not_of(" \tL");
    std::string digits = item.substr(first, last - first + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18)
      fail(source, "npy header has a bad shape " + text);
    shape.push_back(std::stoll(digits));
  }
  return shape;
}

} // namespace

ir::Tensor parseNpy(const std::string &bytes, const std::string &source) {
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0) fail(source, "not a .npy file (bad magic)");
  auto major = static_cast<unsigned char>(bytes[6]);
  size_t headerLength;
  size_t headerStart;
  if (major == 1) {
    headerLength = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(source, "truncated .npy header");
    headerLength = 0;
    for (int i = 3; i >= 0; --i) headerLength = (headerLength << 8) | static_cast<unsigned char>(bytes[8 + i]);
    headerStart = 12;
  } else {
    fail(source, "unsupported .npy format version " + std::to_string(major));
  }
  if (headerLength > bytes.size() - headerStart) fail(source, "truncated .npy header");
  std::string header = bytes.substr(headerStart, headerLength);

  std::string descr = headerField(header, "descr", source);
  descr = descr.substr(1, descr.size() - 2);
  if (descr == ">f4" || descr == ">i8" || descr == ">i4" || descr == ">f2" || descr == ">f8")
    fail(source, "big-endian data ('" + descr + "') is not supported; save with little-endian dtype");
  std::optional<ir::DType> dtype;
  bool isDouble = descr == "<f8";
  for (const auto &d : kDescrs)
    if (descr == d.text || (descr.size() == 3 && descr[0] == '<' && descr.substr(1) == std::string(d.text).substr(1)))
      dtype = d.dtype;
  if (!dtype && !isDouble)
    fail(source, "unsupported dtype '" + descr + "' (expected float32, float16, float64, int8, uint8, int32, int64 or bool)");

  if (headerField(header, "fortran_order", source) != "False")
    fail(source, "Fortran-order arrays are not supported; save a C-contiguous array (np.ascontiguousarray)");
  std::string shapeText = headerField(header, "shape", source);
  if (shapeText.front() != '(') fail(source, "npy header has a bad shape " + shapeText);
  ir::Shape shape = parseShape(shapeText, source);

  size_t dataStart = headerStart + headerLength;
  size_t elementSize = isDouble ? 8 : ir::dtypeSize(*dtype);
  int64_t count = 0;
  try {
    count = ir::numElements(shape);
  } catch (const BadInputError &e) {
    fail(source, e.what());
  }
  if (static_cast<uint64_t>(count) > (bytes.size() - dataStart) / elementSize ||
      bytes.size() - dataStart != static_cast<size_t>(count) * elementSize)
    fail(source, "data has " + std::to_string(bytes.size() - dataStart) + " bytes, but shape " +
                     ir::shapeToString(shape) + " of '" + descr + "' needs " +
                     std::to_string(static_cast<uint64_t>(count) * elementSize));

  if (isDouble) { // leip computes in fp32: convert once on load
    ir::Tensor out(ir::DType::F32, shape);
    const char *src = bytes.data() + dataStart;
    for (int64_t i = 0; i < count; ++i) {
      double v;
      std::memcpy(&v, src + i * 8, 8);
      out.data<float>()[i] = static_cast<float>(v);
    }
    return out;
  }
  ir::Tensor out(*dtype, shape);
  if (out.byteSize()) std::memcpy(out.rawData(), bytes.data() + dataStart, out.byteSize());
  return out;
}

ir::Tensor readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open file (does it exist?)");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, "read error");
  return parseNpy(ss.str(), path);
}

std::string serializeNpy(const ir::Tensor &tensor) {
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i) shape += std::to_string(tensor.shape()[i]) + ", ";
  if (tensor.shape().size() > 1) shape.erase(shape.size() - 2);
  else if (tensor.shape().size() == 1) shape.erase(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + descrOf(tensor.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that the data starts on a 64-byte boundary, newline-terminated.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char *>(tensor.rawData()), tensor.byteSize());
  return out;
}

void writeNpy(const ir::Tensor &tensor, const std::string &path) {
  std::string bytes = serializeNpy(tensor);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, "cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail(path, "write failed");
}

} // namespace leip::data
