// The model descriptor of a CUDA artifact: what `leip compile --target cuda` emits (the
// constant global `leip_cuda_compiled_model`) and the host runtime (CudaRuntime.cpp) reads.
// The compiler builds the same layout as LLVM struct types in src/codegen/cuda/; change
// both together. See docs/cuda.md.
#pragma once

#include "../ModelDesc.h" // leip_tensor_desc

#include <stdint.h>

extern "C" {

/// One kernel launch. Every generated kernel takes the same two parameters, the device
/// addresses of the activation arena and of the weights: `kernel(char *arena, const char *weights)`.
struct leip_cuda_launch {
  const char *kernel; // entry name in the PTX
  uint32_t grid[3];
  uint32_t block[3];
};

struct leip_cuda_model_desc {
  int32_t abi_version;
  int32_t num_inputs;
  int32_t num_outputs;
  int32_t num_launches;
  const leip_tensor_desc *inputs;
  const leip_tensor_desc *outputs;
  /// Byte offsets of each input and output in the device arena (the runtime copies inputs
  /// there before the launches and outputs back after them).
  const int64_t *input_offsets;
  const int64_t *output_offsets;
  const leip_cuda_launch *launches;
  const char *ptx; // NUL-terminated PTX text of every kernel
  const char *weights;
  int64_t weights_bytes;
  int64_t arena_bytes;
  /// The compute capability the PTX was generated for, major * 10 + minor (80 for sm_80);
  /// a device below it is refused at context creation.
  int32_t compute_capability;
};

/// Defined by the compiler in the generated module.
extern const leip_cuda_model_desc leip_cuda_compiled_model;
}
