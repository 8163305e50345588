// Fuzz target: a dataset index (index.txt, `path [label]` lines) as `leip compress
// --rep_dataset` and `leip evaluate --test_path` open it, with every listed sample read. The
// scratch folder holds a valid .npy and .png sample that the lines may name (a.npy, b.png),
// and the seeds do.
#include "../FuzzSupport.h"

#include "leip/data/Dataset.h"
#include "leip/data/Npy.h"

#include <algorithm>

namespace {
// A 1x2x2 grayscale PNG (pixels 0, 64, 128, 255), made by PIL.
const unsigned char kPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x57, 0xdd, 0x52, 0xf8, 0x00, 0x00, 0x00,
    0x0e, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x70, 0x60, 0x68, 0xf8, 0x0f, 0x00, 0x03, 0x05, 0x01,
    0xc0, 0x4e, 0x33, 0x5b, 0xe9, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  leip::setMaxMemory(leip::fuzz::kFuzzMaxMemory);
  using namespace leip;
  data::writeNpy(ir::Tensor::fromVector<float>(ir::DType::F32, {1, 2, 2}, {0.f, 1.f, 2.f, 3.f}),
                 (fuzz::scratchDir() / "a.npy").string());
  fuzz::writeScratch("b.png", std::string(reinterpret_cast<const char *>(kPng), sizeof kPng));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace leip;
  const std::string path = fuzz::writeScratch("index.txt", fuzz::bytesOf(data, size));
  fuzz::expectOnlyBadInput([&] {
    data::DatasetOptions options;
    options.maxSamples = 16; // bounded work per input
    auto dataset = data::openDataset(path, ir::TensorType{ir::DType::F32, {1, 1, 2, 2}, {}}, options);
    for (size_t i = 0; i < dataset->size(); ++i) {
      (void)dataset->sample(i);
      (void)dataset->label(i);
    }
    (void)dataset->hasLabels();
  });
  return 0;
}
