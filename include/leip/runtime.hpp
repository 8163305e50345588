// A small C++ wrapper over the C ABI of a leip artifact (leip/runtime.h), in the spirit of
// the Latent Runtime Engine: load, input shapes, set threads, warm up, infer, outputs.
//
//   leip::runtime::Model model("out/modelLibrary.so");   // or the artifact directory
//   model.setThreads(2);
//   model.warmUp();
//   std::vector<std::vector<float>> outputs = model.infer({input.data()});
//
// A Model owns one context (its own activation memory and thread pool) for the calls
// above; for concurrent inference, give each thread its own `Model::Context`:
//
//   leip::runtime::Model::Context ctx = model.newContext();   // in the worker thread
//   ctx.setThreads(1);
//   auto out = ctx.infer({input.data()});
//
// CUDA artifacts work the same way (the GPU does the work; setThreads changes nothing);
// runDevice runs on tensors already in GPU memory.
//
// Header-only; link with -ldl (glibc < 2.34). Errors throw std::runtime_error.
#pragma once

#include "leip/runtime.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace leip::runtime {

/// A short name for a leip_status, for messages ("device" for LEIP_ERROR_DEVICE).
inline const char *statusName(int32_t status) {
  switch (status) {
  case LEIP_OK: return "ok";
  case LEIP_ERROR_INVALID_ARGUMENT: return "invalid argument";
  case LEIP_ERROR_SHAPE: return "shape";
  case LEIP_ERROR_DTYPE: return "dtype";
  case LEIP_ERROR_OUT_OF_MEMORY: return "out of memory";
  case LEIP_ERROR_INTERNAL: return "internal";
  case LEIP_ERROR_DEVICE: return "device";
  case LEIP_ERROR_UNSUPPORTED_CPU: return "unsupported cpu";
  default: return "unknown";
  }
}

struct TensorInfo {
  std::string name;
  int32_t dtype = LEIP_DTYPE_FLOAT32;
  std::vector<int64_t> shape;
  int64_t bytes = 0;
};

class Model {
public:
  class Context;

  /// `path`: the .so, or an artifact directory holding modelLibrary.so.
  explicit Model(std::string path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path += "/modelLibrary.so";
    handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error("cannot load " + path + ": " + ::dlerror());
    try {
      load(abiVersion_, "leip_runtime_abi_version");
      if (abiVersion_() != LEIP_RUNTIME_ABI_VERSION)
        throw std::runtime_error(path + ": runtime ABI version " + std::to_string(abiVersion_()) + ", expected " +
                                 std::to_string(LEIP_RUNTIME_ABI_VERSION));
      load(modelGet_, "leip_model_get");
      load(lastError_, "leip_last_error");
      // Additions to ABI version 1: older artifacts lack them. The CPU check runs first,
      // before any code compiled for the artifact's CPU features.
      schemaSha256_ =
          reinterpret_cast<decltype(schemaSha256_)>(::dlsym(handle_, "leip_model_schema_sha256"));
      if (auto checkCpu = reinterpret_cast<decltype(&::leip_model_check_cpu)>(::dlsym(handle_, "leip_model_check_cpu")))
        if (checkCpu(modelGet_()) != LEIP_OK) throw std::runtime_error(path + ": " + lastError_());
      load(numInputs_, "leip_model_num_inputs");
      load(numOutputs_, "leip_model_num_outputs");
      load(inName_, "leip_model_input_name");
      load(inDtype_, "leip_model_input_dtype");
      load(inRank_, "leip_model_input_rank");
      load(inDims_, "leip_model_input_dims");
      load(inBytes_, "leip_model_input_bytes");
      load(outName_, "leip_model_output_name");
      load(outDtype_, "leip_model_output_dtype");
      load(outRank_, "leip_model_output_rank");
      load(outDims_, "leip_model_output_dims");
      load(outBytes_, "leip_model_output_bytes");
      load(create_, "leip_context_create");
      load(destroy_, "leip_context_destroy");
      load(setThreads_, "leip_context_set_threads");
      load(threads_, "leip_context_threads");
      load(run_, "leip_context_run");
      load(contextError_, "leip_context_last_error");
      // An addition to ABI version 1: older artifacts lack it.
      runDevice_ = reinterpret_cast<decltype(runDevice_)>(::dlsym(handle_, "leip_context_run_device"));
      model_ = modelGet_();
      for (int32_t i = 0; i < numInputs_(model_); ++i)
        inputs_.push_back(info(inName_(model_, i), inDtype_(model_, i), inRank_(model_, i), inDims_(model_, i),
                               inBytes_(model_, i)));
      for (int32_t i = 0; i < numOutputs_(model_); ++i)
        outputs_.push_back(info(outName_(model_, i), outDtype_(model_, i), outRank_(model_, i), outDims_(model_, i),
                                outBytes_(model_, i)));
      if (create_(model_, &context_) != LEIP_OK) throw std::runtime_error(lastError_());
    } catch (...) {
      ::dlclose(handle_);
      throw;
    }
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  ~Model() {
    if (context_) destroy_(context_);
    if (handle_) ::dlclose(handle_);
  }

  const std::vector<TensorInfo> &inputs() const { return inputs_; }
  const std::vector<TensorInfo> &outputs() const { return outputs_; }
  std::vector<std::vector<int64_t>> inputShapes() const {
    std::vector<std::vector<int64_t>> shapes;
    for (const auto &t : inputs_) shapes.push_back(t.shape);
    return shapes;
  }

  void setThreads(int32_t threads) { check(setThreads_(context_, threads)); }
  int32_t threads() const { return threads_(context_); }

  /// Runs the model once on zeros, so that the first real inference pays no first-touch cost.
  void warmUp() {
    std::vector<std::vector<char>> zeros;
    std::vector<const void *> in;
    for (const auto &t : inputs_) {
      zeros.emplace_back(static_cast<size_t>(t.bytes), 0);
      in.push_back(zeros.back().data());
    }
    std::vector<std::vector<char>> out;
    inferRaw(in, out);
  }

  /// Runs on raw input buffers (sizes from the model), returning each output's bytes.
  void inferRaw(const std::vector<const void *> &in, std::vector<std::vector<char>> &out) {
    inferRawOn(context_, in, out);
  }

  /// Float32 models: inputs as pointers to their data, outputs as float vectors.
  std::vector<std::vector<float>> infer(const std::vector<const float *> &in) { return inferOn(context_, in); }

  /// CUDA artifacts: runs on device memory. `in[i]` / `out[i]` are device addresses
  /// (CUdeviceptr values as pointers) of the sizes in inputs() / outputs(); see
  /// leip_context_run_device in leip/runtime.h. CPU artifacts throw.
  void runDevice(const std::vector<const void *> &in, const std::vector<void *> &out) {
    runDeviceOn(context_, in, out);
  }

  /// A new context of this model (own activation memory and thread pool, default 1 thread),
  /// for running from another thread while this one infers. It must not outlive the Model.
  Context newContext();

  /// The raw C handles and symbols, for calls the wrapper does not cover.
  const leip_model *model() const { return model_; }
  leip_context *context() const { return context_; }
  /// A function of the C ABI by name, e.g. symbol<decltype(&leip_context_run)>("leip_context_run").
  template <typename F> F symbol(const char *name) const {
    F fn = reinterpret_cast<F>(::dlsym(handle_, name));
    if (!fn) throw std::runtime_error(std::string("missing symbol ") + name);
    return fn;
  }
  /// The sha256 of the model_schema.json compiled with this library ("" when the library
  /// records none, as older and CUDA artifacts).
  std::string schemaSha256() const {
    const char *sha = schemaSha256_ ? schemaSha256_(model_) : nullptr;
    return sha ? sha : "";
  }
  /// The message of the last failed call on this model's context.
  std::string lastError() const { return contextError_(context_); }

private:
  void inferRawOn(leip_context *context, const std::vector<const void *> &in, std::vector<std::vector<char>> &out) {
    if (in.size() != inputs_.size())
      throw std::runtime_error("infer: " + std::to_string(in.size()) + " inputs given, the model has " +
                               std::to_string(inputs_.size()));
    std::vector<int64_t> inBytes, outBytes;
    for (const auto &t : inputs_) inBytes.push_back(t.bytes);
    out.resize(outputs_.size());
    std::vector<void *> outPtrs;
    for (size_t i = 0; i < outputs_.size(); ++i) {
      out[i].resize(static_cast<size_t>(outputs_[i].bytes));
      outPtrs.push_back(out[i].data());
      outBytes.push_back(outputs_[i].bytes);
    }
    check(context, run_(context, in.data(), inBytes.data(), outPtrs.data(), outBytes.data()));
  }

  void runDeviceOn(leip_context *context, const std::vector<const void *> &in, const std::vector<void *> &out) {
    if (in.size() != inputs_.size() || out.size() != outputs_.size())
      throw std::runtime_error("runDevice: " + std::to_string(in.size()) + " inputs and " + std::to_string(out.size()) +
                               " outputs given, the model has " + std::to_string(inputs_.size()) + " and " +
                               std::to_string(outputs_.size()));
    if (!runDevice_) throw std::runtime_error("runDevice: this artifact has no leip_context_run_device");
    check(context, runDevice_(context, in.data(), out.data()));
  }

  std::vector<std::vector<float>> inferOn(leip_context *context, const std::vector<const float *> &in) {
    std::vector<const void *> raw(in.begin(), in.end());
    std::vector<std::vector<char>> bytes;
    inferRawOn(context, raw, bytes);
    std::vector<std::vector<float>> result;
    for (const auto &b : bytes) {
      std::vector<float> v(b.size() / sizeof(float));
      if (!b.empty()) std::memcpy(v.data(), b.data(), v.size() * sizeof(float));
      result.push_back(std::move(v));
    }
    return result;
  }

  template <typename F> void load(F &fn, const char *name) {
    fn = reinterpret_cast<F>(::dlsym(handle_, name));
    if (!fn) throw std::runtime_error(std::string("not a leip artifact: missing symbol ") + name);
  }
  static TensorInfo info(const char *name, int32_t dtype, int32_t rank, const int64_t *dims, int64_t bytes) {
    TensorInfo t;
    t.name = name ? name : "";
    t.dtype = dtype;
    if (dims) t.shape.assign(dims, dims + rank);
    t.bytes = bytes;
    return t;
  }
  void check(leip_status status) { check(context_, status); }
  void check(leip_context *context, leip_status status) {
    if (status == LEIP_OK) return;
    // Calls refused before they own the context (e.g. it is busy) leave their message in
    // leip_last_error.
    std::string message = contextError_(context);
    if (message.empty()) message = lastError_();
    throw std::runtime_error("leip runtime error " + std::to_string(status) + " (" + statusName(status) +
                             "): " + message);
  }

  void *handle_ = nullptr;
  const leip_model *model_ = nullptr;
  leip_context *context_ = nullptr;
  std::vector<TensorInfo> inputs_, outputs_;
  int32_t (*abiVersion_)() = nullptr;
  const leip_model *(*modelGet_)() = nullptr;
  int32_t (*numInputs_)(const leip_model *) = nullptr;
  int32_t (*numOutputs_)(const leip_model *) = nullptr;
  const char *(*inName_)(const leip_model *, int32_t) = nullptr;
  int32_t (*inDtype_)(const leip_model *, int32_t) = nullptr;
  int32_t (*inRank_)(const leip_model *, int32_t) = nullptr;
  const int64_t *(*inDims_)(const leip_model *, int32_t) = nullptr;
  int64_t (*inBytes_)(const leip_model *, int32_t) = nullptr;
  const char *(*outName_)(const leip_model *, int32_t) = nullptr;
  int32_t (*outDtype_)(const leip_model *, int32_t) = nullptr;
  int32_t (*outRank_)(const leip_model *, int32_t) = nullptr;
  const int64_t *(*outDims_)(const leip_model *, int32_t) = nullptr;
  int64_t (*outBytes_)(const leip_model *, int32_t) = nullptr;
  leip_status (*create_)(const leip_model *, leip_context **) = nullptr;
  void (*destroy_)(leip_context *) = nullptr;
  leip_status (*setThreads_)(leip_context *, int32_t) = nullptr;
  int32_t (*threads_)(const leip_context *) = nullptr;
  leip_status (*run_)(leip_context *, const void *const *, const int64_t *, void *const *, const int64_t *) = nullptr;
  const char *(*contextError_)(const leip_context *) = nullptr;
  const char *(*lastError_)() = nullptr;
  leip_status (*runDevice_)(leip_context *, const void *const *, void *const *) = nullptr;
  const char *(*schemaSha256_)(const leip_model *) = nullptr;
};

/// One more context of a Model: use it from one thread at a time; contexts run concurrently.
class Model::Context {
public:
  Context(Context &&other) noexcept : model_(other.model_), context_(other.context_) { other.context_ = nullptr; }
  Context &operator=(Context &&) = delete;
  Context(const Context &) = delete;
  ~Context() {
    if (context_) model_->destroy_(context_);
  }
  void setThreads(int32_t threads) { model_->check(context_, model_->setThreads_(context_, threads)); }
  int32_t threads() const { return model_->threads_(context_); }
  void inferRaw(const std::vector<const void *> &in, std::vector<std::vector<char>> &out) {
    model_->inferRawOn(context_, in, out);
  }
  std::vector<std::vector<float>> infer(const std::vector<const float *> &in) { return model_->inferOn(context_, in); }
  void runDevice(const std::vector<const void *> &in, const std::vector<void *> &out) {
    model_->runDeviceOn(context_, in, out);
  }
  leip_context *context() const { return context_; }
  std::string lastError() const { return model_->contextError_(context_); }

private:
  friend class Model;
  Context(Model *model, leip_context *context) : model_(model), context_(context) {}
  Model *model_;
  leip_context *context_;
};

inline Model::Context Model::newContext() {
  leip_context *context = nullptr;
  if (create_(model_, &context) != LEIP_OK) throw std::runtime_error(lastError_());
  return Context(this, context);
}

} // namespace leip::runtime
