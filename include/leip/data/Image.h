// Image files for datasets: decoding (PNG, JPEG, BMP through stb_image), channel conversion
// and bilinear resizing (stb_image_resize).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace leip::data {

/// An 8-bit image as floats 0..255, channels interleaved (row-major HWC).
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<float> pixels;

  float at(int64_t y, int64_t x, int64_t c) const {
    return pixels[static_cast<size_t>((y * width + x) * channels + c)];
  }
};

/// True for the extensions datasets read as images: .png .jpg .jpeg .bmp (any case).
bool isImageFile(const std::string &path);

/// Decodes `path` with `channels` = 1 (luminance 0.299 R + 0.587 G + 0.114 B rounded, as
/// PIL computes it) or 3 (RGB; grayscale is replicated). Alpha is dropped; 16-bit images are
/// reduced to 8 bits. Throws BadInputError naming the file when it is missing, unreadable
/// or not a valid image.
Image readImage(const std::string &path, int channels);

/// Bilinear resize (half-pixel centers, edges clamped; when shrinking, the filter widens to
/// the pixel footprint so that no input pixel is skipped). The same size returns a copy.
Image resizeBilinear(const Image &image, int64_t height, int64_t width);

} // namespace leip::data
