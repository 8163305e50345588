#include "leip/data/Image.h"

#include "leip/support/Error.h"
#include "leip/support/MemoryLimit.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>

namespace leip::data {

namespace {

/// stb_image 2.27 (Debian's libstb) writes past a Huffman table's size array when a JPEG
/// DHT segment declares more than 256 codes (found by fuzzing: tests/fuzz/regressions/image;
/// newer stb checks it). Such a file is corrupt; this walks the JPEG's markers as stb does
/// and names the bad table before stb sees it. Not a JPEG: nullopt.
std::optional<std::string> badJpegHuffmanTable(const std::string &b) {
  const size_t n = b.size();
  // stb reads zeros past the end of the file, and so does this.
  auto byte = [&](size_t i) { return i < n ? static_cast<unsigned char>(b[i]) : static_cast<unsigned char>(0); };
  // A JPEG starts with the SOI marker; stb, like the standard, skips 0xFF fill bytes before it.
  size_t i = 0;
  while (i < n && byte(i) == 0xFF) ++i;
  if (i == 0 || i >= n || byte(i) != 0xD8) return std::nullopt;
  ++i;
  while (i + 4 <= n) {
    // Outside segments (entropy-coded data, or junk stb rejects anyway) only markers matter:
    // 0xFF followed by a byte that is not a stuffed zero, a fill byte or a restart marker.
    const unsigned char marker = byte(i + 1);
    if (byte(i) != 0xFF || marker == 0xFF) {
      ++i;
      continue;
    }
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;
      continue;
    }
    if (marker == 0xD9) break; // end of image
    const size_t length = static_cast<size_t>(byte(i + 2)) << 8 | byte(i + 3);
    if (marker == 0xC4) { // DHT: tables of (class/id, 16 code counts, the symbols)
      const size_t end = i + 2 + length;
      for (size_t j = i + 4; j < end;) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += byte(j + k);
        if (codes > 256)
          return "JPEG Huffman table at byte " + std::to_string(j) + " declares " + std::to_string(codes) +
                 " codes (at most 256)";
        j += 17 + codes;
      }
    }
    i += 2 + length;
  }
  return std::nullopt;
}

/// The unsigned integer of `width` bytes at `at` (which must be in the file).
uint64_t unsignedAt(const std::string &b, size_t at, int width, bool bigEndian) {
  uint64_t value = 0;
  for (int k = 0; k < width; ++k) {
    const uint64_t byte = static_cast<unsigned char>(b[at + static_cast<size_t>(bigEndian ? k : width - 1 - k)]);
    value = value << 8 | byte;
  }
  return value;
}

/// stb_image grows its buffer for a PNG's image data to each IDAT chunk's declared length
/// before it reads the chunk: a 91-byte file declaring a 1.5 GB chunk made it allocate and clear
/// 2 GB (found by fuzzing: tests/fuzz/regressions/image), past any --max_memory. A chunk longer
/// than what is left of the file is corrupt; this names it before stb sees the file. Not a PNG:
/// nullopt.
std::optional<std::string> badPngChunk(const std::string &b) {
  static const std::string signature("\x89PNG\r\n\x1a\n", 8);
  if (b.compare(0, signature.size(), signature) != 0) return std::nullopt;
  // Each chunk: length, type, data, CRC. stb ignores the CRC, so only the data must be present.
  for (size_t i = signature.size(); i + 8 <= b.size();) {
    const uint64_t length = unsignedAt(b, i, 4, /*bigEndian=*/true);
    std::string type = b.substr(i + 4, 4);
    for (char &c : type)
      if (!std::isalpha(static_cast<unsigned char>(c))) c = '?';
    const uint64_t left = b.size() - (i + 8);
    if (length > left)
      return "PNG chunk " + type + " at byte " + std::to_string(i) + " declares " + std::to_string(length) +
             " bytes, but only " + std::to_string(left) + " follow";
    if (type == "IEND") break;
    i += 12 + static_cast<size_t>(length);
  }
  return std::nullopt;
}

/// stb_image reads zeros past the end of a BMP, so a 56-byte file declaring 4x983045 pixels
/// decoded 3 million of them (found by fuzzing; the time grows with --max_memory). The rows
/// stb reads (uncompressed: it refuses RLE and embedded JPEG/PNG) must be in the file; the
/// last row's padding may be missing. Not a BMP, or a header stb rejects anyway: nullopt.
std::optional<std::string> truncatedBmp(const std::string &b, int width, int height) {
  if (b.size() < 30 || b.compare(0, 2, "BM") != 0) return std::nullopt;
  const uint64_t headerSize = unsignedAt(b, 14, 4, /*bigEndian=*/false);
  const uint64_t bitsPerPixel = unsignedAt(b, headerSize == 12 ? 24 : 28, 2, /*bigEndian=*/false);
  const uint64_t dataStart = std::max(unsignedAt(b, 10, 4, /*bigEndian=*/false), 14 + headerSize);
  const uint64_t rowBits = static_cast<uint64_t>(width) * bitsPerPixel;
  const uint64_t rowStride = (rowBits + 31) / 32 * 4;
  const uint64_t needed = dataStart + rowStride * static_cast<uint64_t>(height - 1) + (rowBits + 7) / 8;
  if (needed <= b.size()) return std::nullopt;
  return "BMP of " + std::to_string(width) + "x" + std::to_string(height) + " pixels at " +
         std::to_string(bitsPerPixel) + " bits needs " + std::to_string(needed) + " bytes, the file has " +
         std::to_string(b.size());
}

} // namespace

bool isImageFile(const std::string &path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

Image readImage(const std::string &path, int channels) {
  if (channels != 1 && channels != 3)
    throw InternalError("readImage: channels must be 1 or 3, not " + std::to_string(channels));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw BadInputError(path + ": no such image file");
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw BadInputError(path + ": cannot read the image file");
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw BadInputError(path + ": image files must be under 2 GB");
  if (auto bad = badJpegHuffmanTable(bytes))
    throw BadInputError(path + ": cannot read image (corrupt JPEG: " + *bad + ")");
  if (auto bad = badPngChunk(bytes)) throw BadInputError(path + ": cannot read image (corrupt " + *bad + ")");
  const auto *data = reinterpret_cast<const stbi_uc *>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  int width = 0, height = 0, stored = 0;
  // The header says how much decoding will take: stb's buffers (about three times the stored
  // pixels, twice that for 16-bit PNGs) and the float pixels here, all within --max_memory.
  const bool infoRead = stbi_info_from_memory(data, size, &width, &height, &stored);
  // stb reports a top-down BMP's height as stored, negative; it decodes its magnitude.
  if (infoRead && height < 0 && bytes.compare(0, 2, "BM") == 0) height = height == INT32_MIN ? INT32_MAX : -height;
  if (infoRead && width > 0 && height > 0 && stored > 0) {
    const uint64_t pixelsCount = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
    const uint64_t stbBytes = pixelsCount * static_cast<uint64_t>(stored) * (stbi_is_16_bit_from_memory(data, size) ? 6 : 3);
    checkMemory(stbBytes + pixelsCount * static_cast<uint64_t>(channels) * sizeof(float),
                path + ": decoding a " + std::to_string(width) + "x" + std::to_string(height) + " image");
    if (auto bad = truncatedBmp(bytes, width, height))
      throw BadInputError(path + ": cannot read image (truncated " + *bad + ")");
  }
  // Decode the stored channels and convert here: stb's own RGB-to-gray conversion truncates.
  std::unique_ptr<stbi_uc, void (*)(void *)> pixels(stbi_load_from_memory(data, size, &width, &height, &stored, 0),
                                                    stbi_image_free);
  if (!pixels) {
    const char *reason = stbi_failure_reason();
    throw BadInputError(path + ": cannot read image (" + std::string(reason ? reason : "unknown error") +
                        "; expected a valid PNG, JPEG or BMP)");
  }
  // stb_image 2.27 decodes a BMP that declares 0 rows or columns into an empty image, which
  // has nothing to feed a model and made stb_image_resize divide by zero (found by fuzzing).
  if (width <= 0 || height <= 0)
    throw BadInputError(path + ": cannot read image (it has " + std::to_string(width) + "x" +
                        std::to_string(height) + " pixels; expected at least 1x1)");
  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  size_t count = static_cast<size_t>(height) * static_cast<size_t>(width);
  image.pixels.resize(count * static_cast<size_t>(channels));
  const stbi_uc *src = pixels.get();
  const bool color = stored >= 3; // 1: gray, 2: gray+alpha, 3: RGB, 4: RGBA
  for (size_t i = 0; i < count; ++i, src += stored) {
    float *dst = &image.pixels[i * static_cast<size_t>(channels)];
    if (channels == 3) {
      for (int c = 0; c < 3; ++c) dst[c] = src[color ? c : 0];
    } else {
      // ITU-R BT.601 luma rounded to 8 bits, as PIL's convert("L") computes it.
      dst[0] = color ? std::nearbyint(0.299f * src[0] + 0.587f * src[1] + 0.114f * src[2]) : src[0];
    }
  }
  return image;
}

Image resizeBilinear(const Image &image, int64_t height, int64_t width) {
  if (image.height == height && image.width == width) return image;
  if (height <= 0 || width <= 0 || height > INT32_MAX || width > INT32_MAX)
    throw BadInputError("cannot resize an image to " + std::to_string(height) + "x" + std::to_string(width));
  if (image.height <= 0 || image.width <= 0 || image.height > INT32_MAX || image.width > INT32_MAX)
    throw BadInputError("cannot resize an image of " + std::to_string(image.height) + "x" +
                        std::to_string(image.width) + " pixels");
  Image out;
  out.height = height;
  out.width = width;
  out.channels = image.channels;
  std::optional<uint64_t> bytes = checkedBytes(height * width, static_cast<uint64_t>(image.channels) * sizeof(float));
  checkMemory(bytes.value_or(UINT64_MAX), "resizing an image to " + std::to_string(height) + "x" + std::to_string(width));
  out.pixels.resize(static_cast<size_t>(height * width * image.channels));
  // The triangle filter is bilinear interpolation when enlarging (stb_image_resize's docs).
  if (!stbir_resize_float_generic(image.pixels.data(), static_cast<int>(image.width), static_cast<int>(image.height),
                                  0, out.pixels.data(), static_cast<int>(width), static_cast<int>(height), 0,
                                  static_cast<int>(image.channels), STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                  STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr))
    throw BadInputError("cannot resize an image of " + std::to_string(image.height) + "x" +
                        std::to_string(image.width) + " to " + std::to_string(height) + "x" + std::to_string(width));
  return out;
}

} // namespace leip::data
