// Fuzz target: recipe text (JSON) through `leip optimize --recipe`'s reader (parseRecipe),
// which checks every key and value, and what it writes back as recipe.json (recipeJson).
// (checkRecipe, run later, checks that the files it names exist, with the commands' checks.)
#include "../FuzzSupport.h"

#include "Recipe.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  leip::setMaxMemory(leip::fuzz::kFuzzMaxMemory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace leip;
  const std::string text = fuzz::bytesOf(data, size);
  fuzz::expectOnlyBadInput([&] {
    cli::Recipe recipe = cli::parseRecipe(text, "fuzz", "recipe fuzz.json", fuzz::scratchDir());
    (void)cli::recipeJson(recipe).dump();
  });
  return 0;
}
