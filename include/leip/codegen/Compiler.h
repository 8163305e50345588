// `leip compile`: lowers a shape-inferred graph to a self-contained modelLibrary.so.
// See docs/codegen-design.md.
#pragma once

#include "leip/codegen/Target.h"
#include "leip/ir/Graph.h"
#include "leip/passes/LowerQdq.h"

#include <cstdint>
#include <string>
#include <vector>

namespace leip::codegen {

struct CompileOptions {
  Target target;
  /// The ONNX file the graph came from (its sha256 goes into model_schema.json).
  std::string sourcePath;
  /// The artifact directory; written to a temporary sibling and renamed into place.
  std::string outputDir;
  /// Run quantized (QDQ) convolutions as integer kernels (passes::lowerQdqToInteger);
  /// false keeps the float simulation of QuantizeLinear/DequantizeLinear.
  bool integerKernels = true;
  /// Layers (node names) kept in float32 on purpose, with the reason the compile report
  /// gives (mixed precision).
  std::vector<passes::QdqLoweringStats::FloatConv> keptFloat;
};

struct CompileResult {
  std::string libraryPath; // outputDir/modelLibrary.so
  std::string schemaPath;  // outputDir/model_schema.json
  int64_t peakActivationBytes = 0;
  /// What the integer lowering did (empty for a float model or integerKernels false).
  passes::QdqLoweringStats quantization;
  /// "int8" when every quantized convolution runs on integers, "mixed" when some stay float,
  /// "float32" when none runs on integers.
  std::string dataType = "float32";
  /// Float Adds folded into the convolution before them as its residual
  /// (passes::fuseResidualAdds).
  int64_t residualAddsFused = 0;
  /// Convolutions and MaxPools that write the zero-padded input of the convolutions after
  /// them (no Pad node).
  int64_t paddedOutputs = 0;
  /// Integer convolutions that read an 8-bit residual in place of its DequantizeLinear's
  /// float output.
  int64_t residualDequantizesFolded = 0;
  /// MaxPools folded into the direct convolution before them (passes::fuseMaxPools).
  int64_t maxPoolsFused = 0;
  /// Convolutions that store their output over their residual (the last reader of it).
  int64_t outputsOverResiduals = 0;
  /// Integer convolutions on AVX2 without VNNI whose input bytes are known to lie in 0..127
  /// (a ReLU's int8 output, say), so that they multiply with vpmaddubsw.
  int64_t byteDotConvs = 0;
  /// Float 3x3 stride-1 convolutions computed by Winograd F(2x2, 3x3) (lower/Conv.cpp).
  int64_t winogradConvs = 0;
  /// Integer convolutions on AVX2 without VNNI whose input may be negative (or above 127)
  /// and whose weights hold no -128, so that they multiply with vpsignb and vpmaddubsw.
  int64_t signDotConvs = 0;
};

/// Throws BadInputError naming the first node whose op cannot be compiled yet (before any
/// work is done), InternalError when LLVM or lld fail.
CompileResult compileGraph(const ir::Graph &graph, const CompileOptions &options);

} // namespace leip::codegen
