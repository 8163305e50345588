/* The C ABI of a leip artifact (modelLibrary.so).
 *
 * Every library that `leip compile` writes exports these functions. A program loads the
 * library (dlopen or link), gets the model with leip_model_get(), queries its inputs and
 * outputs, creates one context per concurrent caller and runs it with raw buffers.
 * include/leip/runtime.hpp wraps this in a small C++ class.
 *
 * Versioning: LEIP_RUNTIME_ABI_VERSION grows whenever a function or struct here changes
 * incompatibly; leip_runtime_abi_version() returns the version the library was built with.
 * Additions (new functions, new status codes) keep the version: look them up with dlsym.
 *
 * CUDA artifacts (`leip compile --target cuda`) export the same functions. They load the
 * CUDA driver (libcuda.so.1) with dlopen when the first context is created, so they load
 * and answer the model queries on machines without a GPU. Environment variables read by
 * leip_context_create:
 *   LEIP_CUDA_DEVICE   ordinal of the GPU to use (default 0)
 *   LEIP_CUDA_GRAPHS   0 to launch the kernels one by one instead of replaying a CUDA graph
 *                      captured at context creation (for debugging; graphs cost less per run)
 *   LEIP_PROFILE       set (not 0): GPU time per kernel launch (launched one by one, not
 *                      as a graph), printed to stderr by leip_context_destroy (CPU
 *                      artifacts: wall time per node)
 */
#ifndef LEIP_RUNTIME_H
#define LEIP_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEIP_RUNTIME_ABI_VERSION 1

/* The compiled model (one per library, immutable, shared by all contexts). */
typedef struct leip_model leip_model;
/* Working memory for one inference at a time; use one context per thread. */
typedef struct leip_context leip_context;

typedef enum leip_status {
  LEIP_OK = 0,
  LEIP_ERROR_INVALID_ARGUMENT = 1, /* null pointer, index out of range */
  LEIP_ERROR_SHAPE = 2,            /* buffer size or shape does not match the model */
  LEIP_ERROR_DTYPE = 3,            /* element type does not match the model */
  LEIP_ERROR_OUT_OF_MEMORY = 4,
  LEIP_ERROR_INTERNAL = 5,
  /* CUDA artifacts: no CUDA driver, no device, the device is too old for the model, or a
   * CUDA call failed; the message says which (and names the failing kernel or copy). */
  LEIP_ERROR_DEVICE = 6,
  /* An addition to ABI version 1: this CPU lacks an instruction-set feature the artifact was
   * compiled for (e.g. avx512f); the message names it. */
  LEIP_ERROR_UNSUPPORTED_CPU = 7
} leip_status;

/* Element types; the numbering is part of the ABI. */
typedef enum leip_dtype {
  LEIP_DTYPE_FLOAT32 = 0,
  LEIP_DTYPE_FLOAT16 = 1,
  LEIP_DTYPE_INT8 = 2,
  LEIP_DTYPE_UINT8 = 3,
  LEIP_DTYPE_INT32 = 4,
  LEIP_DTYPE_INT64 = 5,
  LEIP_DTYPE_BOOL = 6
} leip_dtype;

/* The ABI version this library implements (LEIP_RUNTIME_ABI_VERSION when it was built). */
int32_t leip_runtime_abi_version(void);

/* The model compiled into this library. Never null. */
const leip_model *leip_model_get(void);

int32_t leip_model_num_inputs(const leip_model *model);
int32_t leip_model_num_outputs(const leip_model *model);
/* Name, element type, rank and dims of input/output `index`; null / -1 when out of range.
 * The returned pointers live as long as the library is loaded. */
const char *leip_model_input_name(const leip_model *model, int32_t index);
int32_t leip_model_input_dtype(const leip_model *model, int32_t index);
int32_t leip_model_input_rank(const leip_model *model, int32_t index);
const int64_t *leip_model_input_dims(const leip_model *model, int32_t index);
int64_t leip_model_input_bytes(const leip_model *model, int32_t index);
const char *leip_model_output_name(const leip_model *model, int32_t index);
int32_t leip_model_output_dtype(const leip_model *model, int32_t index);
int32_t leip_model_output_rank(const leip_model *model, int32_t index);
const int64_t *leip_model_output_dims(const leip_model *model, int32_t index);
int64_t leip_model_output_bytes(const leip_model *model, int32_t index);

/* Additions to ABI version 1 (CPU artifacts; look them up with dlsym):
 * leip_model_check_cpu: LEIP_OK when this CPU has every instruction-set feature the artifact
 * was compiled for, else LEIP_ERROR_UNSUPPORTED_CPU with the missing features named in
 * leip_last_error(). It runs no code compiled for those features; call it before anything
 * else. leip_context_create makes the same check.
 * leip_model_schema_sha256: the sha256 (hex) of the model_schema.json written beside the
 * library by the same compile (its "checksum" field); "" when not recorded. */
leip_status leip_model_check_cpu(const leip_model *model);
const char *leip_model_schema_sha256(const leip_model *model);

/* Every function that takes a model checks that it is this library's (leip_model_get());
 * functions that take a context check that it is a live context of this library (not null,
 * destroyed or another library's) and return LEIP_ERROR_INVALID_ARGUMENT otherwise.
 *
 * Checks a caller's tensor description against input `index`: LEIP_ERROR_DTYPE or
 * LEIP_ERROR_SHAPE when it does not match (the message is in leip_last_error()). */
leip_status leip_model_check_input(const leip_model *model, int32_t index, int32_t dtype, int32_t rank,
                                   const int64_t *dims);

/* Creates a context (its activation memory is allocated here, once). CUDA artifacts: also
 * retains the device's primary context, JIT-compiles the model's PTX, uploads the weights
 * and creates the context's own stream; LEIP_ERROR_DEVICE when any of it fails. */
leip_status leip_context_create(const leip_model *model, leip_context **context);
void leip_context_destroy(leip_context *context);
/* Most threads one context may use. */
#define LEIP_MAX_THREADS 256

/* Number of threads a run uses, in [1, LEIP_MAX_THREADS]; the default is 1 (the calling
 * thread only: an embedding application decides how many cores a model may take).
 * With T > 1, the context's first run starts T-1 worker threads (pthreads), which then
 * stay parked (a short spin, then a condition variable) between nodes and between runs and
 * are joined by leip_context_destroy; each node's tasks are split into T contiguous ranges,
 * so outputs are bitwise identical for every T. If the system refuses to create threads,
 * the run uses those it got and leip_context_threads reports that number. Contexts are
 * independent: several may run at once on different threads.
 * CUDA artifacts: the work runs on the GPU and uses no host threads; any valid count is
 * accepted and reported by leip_context_threads, and changes nothing. */
leip_status leip_context_set_threads(leip_context *context, int32_t threads);
int32_t leip_context_threads(const leip_context *context);

/* Runs the model. `inputs[i]` points at input i's data (row-major, `input_bytes[i]` bytes,
 * which must equal leip_model_input_bytes); likewise `outputs` receive the outputs.
 * Refused with a message: null arrays or pointers (LEIP_ERROR_INVALID_ARGUMENT), a byte
 * size that differs from the model's (LEIP_ERROR_SHAPE), an output buffer that overlaps an
 * input or another output, and (CPU artifacts) a second run on a context that is still
 * running on another thread (LEIP_ERROR_INVALID_ARGUMENT, message in leip_last_error()).
 * Dtype and shape are not part of this call: check them with leip_model_check_input.
 * CUDA artifacts copy the inputs to the GPU and the outputs back, and return when the
 * outputs are written. Any thread may call it (one at a time per context): the call makes
 * the device's primary CUDA context current and restores the thread's previous one. */
leip_status leip_context_run(leip_context *context, const void *const *inputs, const int64_t *input_bytes,
                             void *const *outputs, const int64_t *output_bytes);

/* CUDA artifacts: runs the model on tensors already in GPU memory. `inputs[i]` and
 * `outputs[i]` are device addresses (CUdeviceptr values cast to pointers, e.g. a torch
 * tensor's data_ptr()) on the context's device, allocated in its primary context (as the
 * CUDA runtime API and PyTorch allocate), holding leip_model_input_bytes /
 * leip_model_output_bytes bytes. The run uses the context's own stream and does not wait
 * for work on other streams: finish the work that writes the inputs first (e.g.
 * cudaStreamSynchronize). When it returns LEIP_OK the outputs are complete.
 * CPU artifacts return LEIP_ERROR_INVALID_ARGUMENT. */
leip_status leip_context_run_device(leip_context *context, const void *const *inputs, void *const *outputs);

/* The message of the last failed call on this context (empty when none). */
const char *leip_context_last_error(const leip_context *context);
/* The message of the last failed call that had no context (create, check_input). Not
 * thread-safe: for diagnostics. */
const char *leip_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* LEIP_RUNTIME_H */
