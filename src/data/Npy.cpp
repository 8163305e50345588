#include "leip/data/Npy.h"

#include "leip/support/Error.h"

#include <algorithm>
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

/// Parses magic, version and header dict from `bytes`, which must hold at least the whole
/// header (the data may follow, or not).
NpyHeader parseHeader(const std::string &bytes, const std::string &source) {
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

  NpyHeader result;
  result.dtype = isDouble ? ir::DType::F32 : *dtype;
  result.storedAsDouble = isDouble;
  result.shape = parseShape(shapeText, source);
  result.dataOffset = headerStart + headerLength;
  result.descr = descr;
  return result;
}

/// The data after the header must be exactly what the shape needs.
void checkDataSize(const NpyHeader &header, size_t dataBytes, const std::string &source) {
  size_t elementSize = header.storedElementSize();
  int64_t count = 0;
  try {
    count = ir::numElements(header.shape);
  } catch (const BadInputError &e) {
    fail(source, e.what());
  }
  if (static_cast<uint64_t>(count) > dataBytes / elementSize || dataBytes != static_cast<size_t>(count) * elementSize)
    fail(source, "data has " + std::to_string(dataBytes) + " bytes, but shape " + ir::shapeToString(header.shape) +
                     " of '" + header.descr + "' needs " + std::to_string(static_cast<uint64_t>(count) * elementSize));
}

} // namespace

size_t NpyHeader::storedElementSize() const { return storedAsDouble ? 8 : ir::dtypeSize(dtype); }

ir::Tensor decodeNpyData(const NpyHeader &header, const char *bytes, ir::Shape shape) {
  if (header.storedAsDouble) { // leip computes in fp32: convert once on load
    ir::Tensor out(ir::DType::F32, std::move(shape));
    for (int64_t i = 0; i < out.numElements(); ++i) {
      double v;
      std::memcpy(&v, bytes + i * 8, 8);
      out.data<float>()[i] = static_cast<float>(v);
    }
    return out;
  }
  ir::Tensor out(header.dtype, std::move(shape));
  if (out.byteSize()) std::memcpy(out.rawData(), bytes, out.byteSize());
  return out;
}

ir::Tensor parseNpy(const std::string &bytes, const std::string &source) {
  NpyHeader header = parseHeader(bytes, source);
  checkDataSize(header, bytes.size() - header.dataOffset, source);
  return decodeNpyData(header, bytes.data() + header.dataOffset, header.shape);
}

NpyHeader readNpyHeader(const std::string &path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, "cannot open file (does it exist?)");
  auto fileSize = static_cast<size_t>(in.tellg());
  in.seekg(0);
  // Versions 2 and 3 keep a 4-byte header length at offset 8; version 1 a 2-byte one.
  std::string prefix(std::min<size_t>(fileSize, 12), '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  if (prefix.size() >= 10 && prefix.compare(0, 6, kMagic, 6) == 0) {
    size_t headerLength = static_cast<unsigned char>(prefix[8]) | (static_cast<unsigned char>(prefix[9]) << 8);
    size_t headerStart = 10;
    if (prefix[6] != '\x01' && prefix.size() == 12) {
      headerLength |= (static_cast<size_t>(static_cast<unsigned char>(prefix[10])) << 16) |
                      (static_cast<size_t>(static_cast<unsigned char>(prefix[11])) << 24);
      headerStart = 12;
    }
    size_t wanted = std::min(fileSize, headerStart + headerLength);
    if (wanted > prefix.size()) {
      size_t had = prefix.size();
      prefix.resize(wanted);
      in.read(prefix.data() + had, static_cast<std::streamsize>(wanted - had));
    }
  }
  if (in.bad()) fail(path, "read error");
  NpyHeader header = parseHeader(prefix, path);
  checkDataSize(header, fileSize - std::min(fileSize, header.dataOffset), path);
  return header;
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
