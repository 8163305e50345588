// The model descriptor that `leip compile` emits into every artifact (as the constant
// global `leip_compiled_model`) and that the runtime reads. The compiler builds the same
// layout as LLVM struct types in src/codegen/Compiler.cpp (LP64: x86_64 and aarch64);
// change both together.
#pragma once

#include <stdint.h>

extern "C" {

struct leip_tensor_desc {
  const char *name;
  int32_t dtype; // leip_dtype
  int32_t rank;
  const int64_t *dims;
  int64_t bytes;
};

/// One node of the graph: `fn(arena, io, begin, end)` computes tasks [begin, end) of
/// `task_count` (io: graph input pointers, then graph output pointers). `max_chunks`: how
/// many pieces the node is worth splitting across threads (its estimated work over the
/// smallest piece that repays a handoff between threads); 1 runs it on the calling thread.
typedef void (*leip_node_fn)(char *arena, void **io, int64_t begin, int64_t end);

struct leip_node_desc {
  leip_node_fn fn;
  int64_t task_count;
  int64_t max_chunks;
};

struct leip_model_desc {
  int32_t abi_version;
  int32_t num_inputs;
  int32_t num_outputs;
  int32_t num_nodes;
  const leip_tensor_desc *inputs;
  const leip_tensor_desc *outputs;
  const leip_node_desc *nodes;
  int64_t arena_bytes;
};

/// Defined by the compiler in the generated module.
extern const leip_model_desc leip_compiled_model;
}
