// A one-node CPU model descriptor, linked with src/runtime/Runtime.cpp into a test
// artifact without the compiler: enough to call the CPU runtime's leip_context_run_device.
#include "../../../src/runtime/ModelDesc.h"

namespace {

const int64_t kDims[] = {4};
const leip_tensor_desc kInput = {"x", 0, 1, kDims, 16};
const leip_tensor_desc kOutput = {"y", 0, 1, kDims, 16};

// y = x + 1, reading the graph input and writing the graph output through `io`.
void addOne(char *, void **io, int64_t begin, int64_t end) {
  const float *x = static_cast<const float *>(io[0]);
  float *y = static_cast<float *>(io[1]);
  for (int64_t i = begin; i < end; ++i) y[i] = x[i] + 1.0f;
}
const leip_node_desc kNodes[] = {{addOne, 4, 1}};

} // namespace

extern "C" const leip_model_desc leip_compiled_model = {1, 1, 1, 1, &kInput, &kOutput, kNodes, 16};
