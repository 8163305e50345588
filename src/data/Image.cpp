#include "leip/data/Image.h"

#include "leip/support/Error.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>

namespace leip::data {

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
  int width = 0, height = 0, stored = 0;
  // Decode the stored channels and convert here: stb's own RGB-to-gray conversion truncates.
  std::unique_ptr<stbi_uc, void (*)(void *)> pixels(stbi_load(path.c_str(), &width, &height, &stored, 0),
                                                    stbi_image_free);
  if (!pixels) {
    const char *reason = stbi_failure_reason();
    throw BadInputError(path + ": cannot read image (" + std::string(reason ? reason : "unknown error") +
                        "; expected a valid PNG, JPEG or BMP)");
  }
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
  Image out;
  out.height = height;
  out.width = width;
  out.channels = image.channels;
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
