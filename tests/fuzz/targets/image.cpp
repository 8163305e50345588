// Fuzz target: image files (PNG, JPEG, BMP through stb_image) as datasets read them:
// decoded to 1 and to 3 channels, then resized to a model input's height and width.
#include "../FuzzSupport.h"

#include "leip/data/Image.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  leip::setMaxMemory(leip::fuzz::kFuzzMaxMemory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace leip;
  const std::string path = fuzz::writeScratch("image.png", fuzz::bytesOf(data, size));
  for (int channels : {1, 3})
    fuzz::expectOnlyBadInput([&] {
      data::Image image = data::readImage(path, channels);
      (void)data::resizeBilinear(image, 7, 5);
    });
  return 0;
}
