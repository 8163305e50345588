// Fuzz target: ONNX model bytes through what `leip inspect` and `leip compile` do with them:
// the import with unsupported ops kept (inspect), then, when every op is supported, the
// import, input-shape binding, shape inference with constant folding and the verifier
// (loadModel), and the statistics inspect prints.
#include "../FuzzSupport.h"

#include "leip/frontend/OnnxImporter.h"
#include "leip/ir/OpRegistry.h"
#include "leip/ir/Statistics.h"

#include <google/protobuf/stubs/logging.h>

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  leip::setMaxMemory(leip::fuzz::kFuzzMaxMemory);
  // Protobuf logs each parse failure to stderr; the fuzzer's output is noisy enough.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace leip;
  const std::string bytes = fuzz::bytesOf(data, size);
  fuzz::expectOnlyBadInput([&] {
    frontend::ImportOptions options;
    options.allowUnsupportedOps = true;
    std::unique_ptr<ir::Graph> declared = frontend::importOnnxFromBytes(bytes, "fuzz.onnx", options);
    bool supported = true;
    for (const ir::Node *node : declared->nodes())
      supported = supported && ir::findOp(node->domain(), node->opType()) != nullptr;
    (void)ir::opHistogram(*declared);
    (void)declared->parameterCount();
    if (!supported) return;
    std::unique_ptr<ir::Graph> graph = frontend::loadModelFromBytes(bytes, "fuzz.onnx", frontend::ImportOptions{});
    (void)ir::graphFlops(*graph);
  });
  return 0;
}
