// The model half of the C ABI (include/leip/runtime.h): the version, the model's inputs and
// outputs, and checking a caller's tensor against an input. Every artifact answers these
// the same way whatever runs its kernels, so the CPU runtime (Runtime.cpp) and the CUDA one
// (cuda/CudaRuntime.cpp) both include this file once, after defining
//   - struct leip_model { const <descriptor> *desc; }, whose descriptor has num_inputs,
//     num_outputs and the leip_tensor_desc arrays inputs and outputs (ModelDesc.h);
//   - kModel, the model leip_model_get returns, and gLastError, the char array behind
//     leip_last_error, both in their anonymous namespace;
//   - snprintf (declared by hand: the runtimes are freestanding).
#pragma once

#include "ModelDesc.h"

#include "leip/runtime.h"

#include <stddef.h>

namespace {

const leip_tensor_desc *inputAt(const leip_model *model, int32_t index) {
  if (model != &kModel || index < 0 || index >= model->desc->num_inputs) return nullptr;
  return &model->desc->inputs[index];
}

const leip_tensor_desc *outputAt(const leip_model *model, int32_t index) {
  if (model != &kModel || index < 0 || index >= model->desc->num_outputs) return nullptr;
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

/// "[1,3,224,224]" into `out` (truncated to `size`).
void formatDims(char *out, size_t size, const int64_t *dims, int32_t rank) {
  size_t used = (size_t)snprintf(out, size, "[");
  for (int32_t d = 0; d < rank && used < size; ++d)
    used += (size_t)snprintf(out + used, size - used, d ? ",%lld" : "%lld", (long long)dims[d]);
  if (used < size) snprintf(out + used, size - used, "]");
}

} // namespace

extern "C" {

int32_t leip_runtime_abi_version(void) { return LEIP_RUNTIME_ABI_VERSION; }

const leip_model *leip_model_get(void) { return &kModel; }

// Every query checks that `model` is this library's (leip_model_get): a null pointer, or the
// model of another artifact loaded in the same process, gets -1 / null / an error.
int32_t leip_model_num_inputs(const leip_model *model) { return model == &kModel ? model->desc->num_inputs : -1; }
int32_t leip_model_num_outputs(const leip_model *model) { return model == &kModel ? model->desc->num_outputs : -1; }

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
    if (model != &kModel) snprintf(gLastError, sizeof gLastError, "check_input: not this library's model");
    else snprintf(gLastError, sizeof gLastError, "input index %d out of range", (int)index);
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
    char got[96], want[96];
    if (rank < 0 || (rank > 0 && !dims)) snprintf(got, sizeof got, "rank %d", (int)rank);
    else formatDims(got, sizeof got, dims, rank);
    formatDims(want, sizeof want, t->dims, t->rank);
    snprintf(gLastError, sizeof gLastError, "input '%s' has shape %s, the model expects %s", t->name, got, want);
    return LEIP_ERROR_SHAPE;
  }
  return LEIP_OK;
}

const char *leip_last_error(void) { return gLastError; }

} // extern "C"
