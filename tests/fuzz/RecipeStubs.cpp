// Fuzz build only: the commands' checks that checkRecipe (Recipe.cpp) calls live in the
// command files, which need the LLVM code generator. The recipe fuzzer never calls
// checkRecipe; these stand-ins let Recipe.cpp link without that code and abort if reached.
#include "Steps.h"

#include <cstdlib>

namespace leip::cli {

quant::CompressOptions compressOptions(const CompressFlags &) { std::abort(); }
codegen::Target checkCompileOptions(const CompileOptions &) { std::abort(); }
data::DatasetOptions checkEvaluateOptions(const EvaluateOptions &) { std::abort(); }

} // namespace leip::cli
