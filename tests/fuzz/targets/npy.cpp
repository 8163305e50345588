// Fuzz target: .npy bytes through the reader of `leip run --input` (parseNpy) and the
// header reader datasets use to read a file sample by sample (readNpyHeader, from a file).
#include "../FuzzSupport.h"

#include "leip/data/Npy.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  leip::setMaxMemory(leip::fuzz::kFuzzMaxMemory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace leip;
  const std::string bytes = fuzz::bytesOf(data, size);
  fuzz::expectOnlyBadInput([&] {
    ir::Tensor tensor = data::parseNpy(bytes, "fuzz.npy");
    // What `leip run` does with outputs: write them back.
    if (data::serializeNpy(tensor).size() < tensor.byteSize()) std::abort();
  });
  const std::string path = fuzz::writeScratch("input.npy", bytes);
  fuzz::expectOnlyBadInput([&] { (void)data::readNpyHeader(path); });
  return 0;
}
