// The runtime every artifact carries: the C ABI of include/leip/runtime.h over the model
// descriptor that the compiler emits (ModelDesc.h).
//
// Compiled to bitcode without the C++ library (docs/codegen-design.md): no exceptions,
// no new/delete, no static constructors, no thread-local storage (that would make the
// artifact need ld-linux for __tls_get_addr); only libc calls declared below.
#include "ModelDesc.h"

#include "leip/runtime.h"

#include <stddef.h>

extern "C" {
void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void free(void *ptr);
int snprintf(char *buffer, size_t size, const char *format, ...);
}

struct leip_model {
  const leip_model_desc *desc;
};

struct leip_context {
  const leip_model *model;
  char *arena;
  void **io;
  int32_t threads;
  char error[256];
};

namespace {

const leip_model kModel = {&leip_compiled_model};
char gLastError[256];

const leip_tensor_desc *inputAt(const leip_model *model, int32_t index) {
  if (!model || index < 0 || index >= model->desc->num_inputs) return nullptr;
  return &model->desc->inputs[index];
}

const leip_tensor_desc *outputAt(const leip_model *model, int32_t index) {
  if (!model || index < 0 || index >= model->desc->num_outputs) return nullptr;
  return &model->desc->outputs[index];
}

const char *dtypeName(int32_t dtype) {
  switch (dtype) {
  case LEIP_DTYPE_FLOAT32: return "float32";
  case LEIP_DTYPE_FLOAT16: return "float16";
  case LEIP_DTYPE_INT8: return "int8";
  case LEIP_DTYPE_UINT8: return "uint8";
  case LEIP_DTYPE_INT32: return "int32";
  case LEIP_DTYPE_INT64: return "int64";
  case LEIP_DTYPE_BOOL: return "bool";
  default: return "unknown";
  }
}

} // namespace

extern "C" {

int32_t leip_runtime_abi_version(void) { return LEIP_RUNTIME_ABI_VERSION; }

const leip_model *leip_model_get(void) { return &kModel; }

int32_t leip_model_num_inputs(const leip_model *model) { return model ? model->desc->num_inputs : -1; }
int32_t leip_model_num_outputs(const leip_model *model) { return model ? model->desc->num_outputs : -1; }

const char *leip_model_input_name(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = inputAt(model, index);
  return t ? t->name : nullptr;
}
int32_t leip_model_input_dtype(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = inputAt(model, index);
  return t ? t->dtype : -1;
}
int32_t leip_model_input_rank(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = inputAt(model, index);
  return t ? t->rank : -1;
}
const int64_t *leip_model_input_dims(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = inputAt(model, index);
  return t ? t->dims : nullptr;
}
int64_t leip_model_input_bytes(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = inputAt(model, index);
  return t ? t->bytes : -1;
}
const char *leip_model_output_name(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = outputAt(model, index);
  return t ? t->name : nullptr;
}
int32_t leip_model_output_dtype(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = outputAt(model, index);
  return t ? t->dtype : -1;
}
int32_t leip_model_output_rank(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = outputAt(model, index);
  return t ? t->rank : -1;
}
const int64_t *leip_model_output_dims(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = outputAt(model, index);
  return t ? t->dims : nullptr;
}
int64_t leip_model_output_bytes(const leip_model *model, int32_t index) {
  const leip_tensor_desc *t = outputAt(model, index);
  return t ? t->bytes : -1;
}

leip_status leip_model_check_input(const leip_model *model, int32_t index, int32_t dtype, int32_t rank,
                                   const int64_t *dims) {
  const leip_tensor_desc *t = inputAt(model, index);
  if (!t) {
    snprintf(gLastError, sizeof gLastError, "input index %d out of range", (int)index);
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  if (dtype != t->dtype) {
    snprintf(gLastError, sizeof gLastError, "input '%s' expects dtype %s, got %s", t->name, dtypeName(t->dtype),
             dtypeName(dtype));
    return LEIP_ERROR_DTYPE;
  }
  bool same = rank == t->rank && (rank == 0 || dims);
  for (int32_t d = 0; same && d < rank; ++d) same = dims[d] == t->dims[d];
  if (!same) {
    snprintf(gLastError, sizeof gLastError, "input '%s' has the wrong shape (expected rank %d)", t->name,
             (int)t->rank);
    return LEIP_ERROR_SHAPE;
  }
  return LEIP_OK;
}

leip_status leip_context_create(const leip_model *model, leip_context **context) {
  if (!model || !context) {
    snprintf(gLastError, sizeof gLastError, "leip_context_create: null argument");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  *context = nullptr;
  leip_context *ctx = static_cast<leip_context *>(calloc(1, sizeof(leip_context)));
  if (!ctx) {
    snprintf(gLastError, sizeof gLastError, "leip_context_create: out of memory");
    return LEIP_ERROR_OUT_OF_MEMORY;
  }
  const leip_model_desc *desc = model->desc;
  ctx->model = model;
  ctx->threads = 1;
  // One allocation for every activation (offsets planned at compile time); at least one
  // byte so that a model without intermediates still gets a valid pointer.
  ctx->arena = static_cast<char *>(malloc(desc->arena_bytes > 0 ? (size_t)desc->arena_bytes : 1));
  ctx->io = static_cast<void **>(calloc((size_t)(desc->num_inputs + desc->num_outputs) + 1, sizeof(void *)));
  if (!ctx->arena || !ctx->io) {
    leip_context_destroy(ctx);
    snprintf(gLastError, sizeof gLastError, "leip_context_create: out of memory (%lld activation bytes)",
             (long long)desc->arena_bytes);
    return LEIP_ERROR_OUT_OF_MEMORY;
  }
  *context = ctx;
  return LEIP_OK;
}

void leip_context_destroy(leip_context *context) {
  if (!context) return;
  free(context->arena);
  free(context->io);
  free(context);
}

leip_status leip_context_set_threads(leip_context *context, int32_t threads) {
  if (!context) return LEIP_ERROR_INVALID_ARGUMENT;
  if (threads < 1) {
    snprintf(context->error, sizeof context->error, "set_threads: thread count must be >= 1, got %d", (int)threads);
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  context->threads = threads;
  return LEIP_OK;
}

int32_t leip_context_threads(const leip_context *context) { return context ? context->threads : -1; }

leip_status leip_context_run(leip_context *context, const void *const *inputs, const int64_t *input_bytes,
                             void *const *outputs, const int64_t *output_bytes) {
  if (!context) return LEIP_ERROR_INVALID_ARGUMENT;
  const leip_model_desc *desc = context->model->desc;
  context->error[0] = 0;
  if ((desc->num_inputs && (!inputs || !input_bytes)) || (desc->num_outputs && (!outputs || !output_bytes))) {
    snprintf(context->error, sizeof context->error, "run: null input or output array");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  for (int32_t i = 0; i < desc->num_inputs; ++i) {
    const leip_tensor_desc &t = desc->inputs[i];
    if (!inputs[i]) {
      snprintf(context->error, sizeof context->error, "run: input '%s' is null", t.name);
      return LEIP_ERROR_INVALID_ARGUMENT;
    }
    if (input_bytes[i] != t.bytes) {
      snprintf(context->error, sizeof context->error, "run: input '%s' has %lld bytes, the model expects %lld",
               t.name, (long long)input_bytes[i], (long long)t.bytes);
      return LEIP_ERROR_SHAPE;
    }
    context->io[i] = const_cast<void *>(inputs[i]);
  }
  for (int32_t i = 0; i < desc->num_outputs; ++i) {
    const leip_tensor_desc &t = desc->outputs[i];
    if (!outputs[i]) {
      snprintf(context->error, sizeof context->error, "run: output '%s' is null", t.name);
      return LEIP_ERROR_INVALID_ARGUMENT;
    }
    if (output_bytes[i] != t.bytes) {
      snprintf(context->error, sizeof context->error, "run: output '%s' has %lld bytes, the model writes %lld",
               t.name, (long long)output_bytes[i], (long long)t.bytes);
      return LEIP_ERROR_SHAPE;
    }
    context->io[desc->num_inputs + i] = outputs[i];
  }
  // Nodes are in topological order; each runs all its tasks on this thread for now (the
  // task ranges are where a thread pool will split the work).
  for (int32_t n = 0; n < desc->num_nodes; ++n)
    desc->nodes[n].fn(context->arena, context->io, 0, desc->nodes[n].task_count);
  return LEIP_OK;
}

const char *leip_context_last_error(const leip_context *context) { return context ? context->error : gLastError; }

const char *leip_last_error(void) { return gLastError; }

} // extern "C"
