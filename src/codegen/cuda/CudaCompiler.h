// `leip compile --target cuda`: the graph's kernels as PTX through LLVM's NVPTX backend,
// embedded with the weights and the host runtime (src/runtime/cuda) in a modelLibrary.so
// that loads the NVIDIA driver at run time. See docs/cuda.md.
#pragma once

#include "leip/codegen/Compiler.h"

namespace leip::codegen {

/// compileGraph for a cuda target (options.target.isCuda()).
CompileResult compileGraphForCuda(const ir::Graph &graph, const CompileOptions &options);

} // namespace leip::codegen
