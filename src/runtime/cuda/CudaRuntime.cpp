// The host runtime every CUDA artifact carries: the C ABI of include/leip/runtime.h over
// the descriptor that `leip compile --target cuda` emits (CudaModelDesc.h), driving the
// GPU through the CUDA driver API.
//
// Like src/runtime/Runtime.cpp it is compiled to bitcode without the C++ library: no
// exceptions, no new/delete, no static constructors, no thread-local storage; only the
// libc functions declared below. The driver is not linked: libcuda.so.1 is loaded with
// dlopen when the first context is created, so an artifact loads, and answers the model
// queries, on machines without a GPU. Its types, prototypes and constants are declared
// here by hand (no CUDA headers at build time); each constant cites its name in cuda.h.
//
// A context owns everything one inference needs on the device: the model's module (PTX
// JIT-compiled for the device at creation), the activation arena, the weights (uploaded
// once), a stream, and a CUDA graph of the kernel launches captured at creation, which
// later runs replay with one call. Contexts share nothing but the device's primary CUDA
// context, so several may run at once on different threads.
#include "CudaModelDesc.h"

#include "leip/runtime.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
void *calloc(size_t count, size_t size);
void free(void *ptr);
int snprintf(char *buffer, size_t size, const char *format, ...);
int vsnprintf(char *buffer, size_t size, const char *format, va_list args);
int dprintf(int fd, const char *format, ...);
char *getenv(const char *name);
// In libc since glibc 2.34 (libdl before).
void *dlopen(const char *file, int mode);
void *dlsym(void *handle, const char *name);
char *dlerror(void);
// pthread_once_t is an int on Linux (x86_64 and aarch64); PTHREAD_ONCE_INIT is 0.
int pthread_once(int *once, void (*init)(void));
}

namespace {

// ---- the CUDA driver API, declared by hand ------------------------------------------------

typedef int CUresult; // enum cudaError_enum; CUDA_SUCCESS = 0
typedef int CUdevice;
typedef unsigned long long CUdeviceptr; // CUdeviceptr_v2 on 64-bit hosts
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUevent_st *CUevent;

constexpr CUresult kSuccess = 0;                    // CUDA_SUCCESS
constexpr CUresult kErrorOutOfMemory = 2;           // CUDA_ERROR_OUT_OF_MEMORY
constexpr CUresult kErrorNoDevice = 100;            // CUDA_ERROR_NO_DEVICE
constexpr CUresult kErrorUnsupportedPtxVersion = 222; // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
constexpr int kAttrComputeCapabilityMajor = 75;     // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeCapabilityMinor = 76;     // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
constexpr int kJitErrorLogBuffer = 5;               // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogBufferSizeBytes = 6;      // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
// CU_STREAM_NON_BLOCKING: the stream does not synchronize with the legacy default stream,
// so one context's work never waits for another's (or the application's).
constexpr unsigned kStreamNonBlocking = 1;
// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: capturing here does not make other threads' CUDA
// calls fail (GLOBAL mode would, while any thread captures).
constexpr int kCaptureModeThreadLocal = 1;
constexpr unsigned kEventDefault = 0; // CU_EVENT_DEFAULT (timing enabled)
constexpr int kRtldNow = 2;           // RTLD_NOW (RTLD_LOCAL is 0)

/// The driver functions, by their versioned ABI names (cuda.h maps e.g. cuMemAlloc to
/// cuMemAlloc_v2). The graph and event functions are optional.
struct Driver {
  CUresult (*init)(unsigned flags);
  CUresult (*deviceGetCount)(int *count);
  CUresult (*deviceGet)(CUdevice *device, int ordinal);
  CUresult (*deviceGetAttribute)(int *value, int attribute, CUdevice device);
  CUresult (*deviceGetName)(char *name, int length, CUdevice device);
  CUresult (*primaryCtxRetain)(CUcontext *context, CUdevice device);
  CUresult (*primaryCtxRelease)(CUdevice device);
  CUresult (*ctxPushCurrent)(CUcontext context);
  CUresult (*ctxPopCurrent)(CUcontext *context);
  CUresult (*moduleLoadDataEx)(CUmodule *module, const void *image, unsigned numOptions, int *options,
                               void **optionValues);
  CUresult (*moduleGetFunction)(CUfunction *function, CUmodule module, const char *name);
  CUresult (*moduleUnload)(CUmodule module);
  CUresult (*memAlloc)(CUdeviceptr *ptr, size_t bytes);
  CUresult (*memFree)(CUdeviceptr ptr);
  CUresult (*memcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t bytes, CUstream stream);
  CUresult (*memcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t bytes, CUstream stream);
  CUresult (*memcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream);
  CUresult (*streamCreate)(CUstream *stream, unsigned flags);
  CUresult (*streamDestroy)(CUstream stream);
  CUresult (*streamSynchronize)(CUstream stream);
  CUresult (*launchKernel)(CUfunction function, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX,
                           unsigned blockY, unsigned blockZ, unsigned sharedBytes, CUstream stream, void **params,
                           void **extra);
  CUresult (*getErrorName)(CUresult error, const char **name);
  CUresult (*getErrorString)(CUresult error, const char **text);
  // Optional: CUDA graphs (replaying the launches costs one call per run).
  CUresult (*streamBeginCapture)(CUstream stream, int mode);
  CUresult (*streamEndCapture)(CUstream stream, CUgraph *graph);
  CUresult (*graphInstantiate)(CUgraphExec *exec, CUgraph graph, unsigned long long flags);
  CUresult (*graphLaunch)(CUgraphExec exec, CUstream stream);
  CUresult (*graphExecDestroy)(CUgraphExec exec);
  CUresult (*graphDestroy)(CUgraph graph);
  // Optional: events, for LEIP_PROFILE.
  CUresult (*eventCreate)(CUevent *event, unsigned flags);
  CUresult (*eventRecord)(CUevent event, CUstream stream);
  CUresult (*eventElapsedTime)(float *milliseconds, CUevent start, CUevent end);
  CUresult (*eventDestroy)(CUevent event);
};

Driver gDriver;
int gDriverOnce; // pthread_once_t, PTHREAD_ONCE_INIT
bool gDriverReady;
char gDriverError[512];

void *gDriverLibrary;

template <typename F> bool bind(F &slot, const char *name) {
  void *symbol = dlsym(gDriverLibrary, name);
  slot = reinterpret_cast<F>(symbol);
  return symbol != nullptr;
}

/// "CUDA_ERROR_X: text" for a driver result (the number when the driver does not know it).
void describeResult(char *out, size_t size, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (gDriver.getErrorName && gDriver.getErrorName(result, &name) != kSuccess) name = nullptr;
  if (gDriver.getErrorString && gDriver.getErrorString(result, &text) != kSuccess) text = nullptr;
  if (name) snprintf(out, size, "%s: %s", name, text ? text : "(no description)");
  else snprintf(out, size, "CUDA error %d", (int)result);
}

/// Loads libcuda.so.1 and initializes the driver, once per process (pthread_once).
void loadDriver() {
  gDriverLibrary = dlopen("libcuda.so.1", kRtldNow);
  if (!gDriverLibrary) {
    const char *why = dlerror();
    snprintf(gDriverError, sizeof gDriverError, "no CUDA driver: libcuda.so.1 cannot be loaded (%s)",
             why ? why : "unknown reason");
    return;
  }
  struct Required {
    bool ok;
    const char *name;
  };
  const Required required[] = {
      {bind(gDriver.init, "cuInit"), "cuInit"},
      {bind(gDriver.deviceGetCount, "cuDeviceGetCount"), "cuDeviceGetCount"},
      {bind(gDriver.deviceGet, "cuDeviceGet"), "cuDeviceGet"},
      {bind(gDriver.deviceGetAttribute, "cuDeviceGetAttribute"), "cuDeviceGetAttribute"},
      {bind(gDriver.deviceGetName, "cuDeviceGetName"), "cuDeviceGetName"},
      {bind(gDriver.primaryCtxRetain, "cuDevicePrimaryCtxRetain"), "cuDevicePrimaryCtxRetain"},
      {bind(gDriver.primaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"), "cuDevicePrimaryCtxRelease_v2"},
      {bind(gDriver.ctxPushCurrent, "cuCtxPushCurrent_v2"), "cuCtxPushCurrent_v2"},
      {bind(gDriver.ctxPopCurrent, "cuCtxPopCurrent_v2"), "cuCtxPopCurrent_v2"},
      {bind(gDriver.moduleLoadDataEx, "cuModuleLoadDataEx"), "cuModuleLoadDataEx"},
      {bind(gDriver.moduleGetFunction, "cuModuleGetFunction"), "cuModuleGetFunction"},
      {bind(gDriver.moduleUnload, "cuModuleUnload"), "cuModuleUnload"},
      {bind(gDriver.memAlloc, "cuMemAlloc_v2"), "cuMemAlloc_v2"},
      {bind(gDriver.memFree, "cuMemFree_v2"), "cuMemFree_v2"},
      {bind(gDriver.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"), "cuMemcpyHtoDAsync_v2"},
      {bind(gDriver.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"), "cuMemcpyDtoHAsync_v2"},
      {bind(gDriver.memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"), "cuMemcpyDtoDAsync_v2"},
      {bind(gDriver.streamCreate, "cuStreamCreate"), "cuStreamCreate"},
      {bind(gDriver.streamDestroy, "cuStreamDestroy_v2"), "cuStreamDestroy_v2"},
      {bind(gDriver.streamSynchronize, "cuStreamSynchronize"), "cuStreamSynchronize"},
      {bind(gDriver.launchKernel, "cuLaunchKernel"), "cuLaunchKernel"},
      {bind(gDriver.getErrorName, "cuGetErrorName"), "cuGetErrorName"},
      {bind(gDriver.getErrorString, "cuGetErrorString"), "cuGetErrorString"},
  };
  for (const Required &r : required)
    if (!r.ok) {
      snprintf(gDriverError, sizeof gDriverError,
               "the CUDA driver (libcuda.so.1) lacks %s: it is too old or not NVIDIA's driver", r.name);
      return;
    }
  // Optional groups: all or nothing.
  bool graphs = bind(gDriver.streamBeginCapture, "cuStreamBeginCapture_v2");
  graphs &= bind(gDriver.streamEndCapture, "cuStreamEndCapture");
  graphs &= bind(gDriver.graphInstantiate, "cuGraphInstantiateWithFlags");
  graphs &= bind(gDriver.graphLaunch, "cuGraphLaunch");
  graphs &= bind(gDriver.graphExecDestroy, "cuGraphExecDestroy");
  graphs &= bind(gDriver.graphDestroy, "cuGraphDestroy");
  if (!graphs) gDriver.streamBeginCapture = nullptr;
  bool events = bind(gDriver.eventCreate, "cuEventCreate");
  events &= bind(gDriver.eventRecord, "cuEventRecord");
  events &= bind(gDriver.eventElapsedTime, "cuEventElapsedTime");
  events &= bind(gDriver.eventDestroy, "cuEventDestroy_v2");
  if (!events) gDriver.eventCreate = nullptr;

  const CUresult init = gDriver.init(0);
  if (init != kSuccess) {
    char what[256];
    describeResult(what, sizeof what, init);
    if (init == kErrorNoDevice) snprintf(gDriverError, sizeof gDriverError, "no CUDA device (cuInit: %s)", what);
    else snprintf(gDriverError, sizeof gDriverError, "the CUDA driver cannot be initialized (cuInit: %s)", what);
    return;
  }
  gDriverReady = true;
}

bool driverReady() {
  pthread_once(&gDriverOnce, loadDriver);
  return gDriverReady;
}

bool envFlag(const char *name) {
  const char *value = getenv(name);
  return value && value[0] && !(value[0] == '0' && !value[1]);
}

} // namespace

// ---- model and context -----------------------------------------------------------------

struct leip_model {
  const leip_cuda_model_desc *desc;
};

struct leip_context {
  const leip_model *model;
  CUdevice device;
  CUcontext primary; // the device's primary context, retained while this context lives
  CUmodule module;
  CUfunction *functions; // one per launch
  CUdeviceptr arena;
  CUdeviceptr weights;
  CUstream stream;
  // The launches captured at creation (null when graphs are off or unavailable).
  CUgraph graph;
  CUgraphExec graphExec;
  int32_t threads; // reported only: the GPU does the work
  char deviceName[128];
  char error[512];
  // LEIP_PROFILE: events around each launch and their summed GPU milliseconds.
  CUevent *events; // num_launches + 1
  double *launchMilliseconds;
  int64_t profiledRuns;
};

namespace {

const leip_model kModel = {&leip_cuda_compiled_model};

// The create/check_input messages; JIT error logs make it longer than a context's.
char gLastError[2048];

} // namespace

#include "../ModelQueries.h"

namespace {

/// Writes a printf-style message to `out` and returns `status`.
__attribute__((format(printf, 4, 5))) leip_status report(char *out, size_t size, leip_status status,
                                                         const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(out, size, format, args);
  va_end(args);
  return status;
}

/// "<call> failed: CUDA_ERROR_X: <text><hint>"; out of device memory is
/// LEIP_ERROR_OUT_OF_MEMORY, every other failure LEIP_ERROR_DEVICE.
/// Errors after which the driver refuses every later call in the process's CUDA context (a
/// kernel faulted), as cuda.h's CUresult documentation marks them: 700 ILLEGAL_ADDRESS,
/// 714 HARDWARE_STACK_ERROR, 715 ILLEGAL_INSTRUCTION, 716 MISALIGNED_ADDRESS,
/// 717 INVALID_ADDRESS_SPACE, 718 INVALID_PC, 719 LAUNCH_FAILED. Seen on an H200: after one,
/// even a new cuDevicePrimaryCtxRetain fails with it.
bool isStickyError(CUresult result) { return result == 700 || (result >= 714 && result <= 719); }

leip_status reportCuda(char *out, size_t size, const char *call, CUresult result, const char *hint = "") {
  char what[256];
  describeResult(what, sizeof what, result);
  // Whichever call reports it, a sticky error means a kernel faulted; say what follows.
  if (isStickyError(result))
    hint = "; a kernel faulted, and CUDA refuses this process's GPU context from now on: restart the process "
           "(to find the kernel, rerun with CUDA_LAUNCH_BLOCKING=1 LEIP_CUDA_GRAPHS=0)";
  snprintf(out, size, "%s failed: %s%s", call, what, hint);
  return result == kErrorOutOfMemory ? LEIP_ERROR_OUT_OF_MEMORY : LEIP_ERROR_DEVICE;
}

/// Makes the context's CUDA context current on the calling thread for one ABI call and
/// restores the thread's previous one afterwards (push/pop), so that callers may use any
/// thread and keep their own current context.
struct CurrentContext {
  explicit CurrentContext(CUcontext context) : result(gDriver.ctxPushCurrent(context)) {}
  ~CurrentContext() {
    CUcontext popped = nullptr;
    if (result == kSuccess) gDriver.ctxPopCurrent(&popped);
  }
  CurrentContext(const CurrentContext &) = delete;
  CurrentContext &operator=(const CurrentContext &) = delete;
  CUresult result;
};

CUresult launch(leip_context *context, int32_t index, CUstream stream) {
  const leip_cuda_launch &l = context->model->desc->launches[index];
  // Every kernel takes (char *arena, const char *weights); the driver copies the values.
  void *params[2] = {&context->arena, &context->weights};
  return gDriver.launchKernel(context->functions[index], l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1],
                              l.block[2], 0, stream, params, nullptr);
}

void destroyGraph(leip_context *context) {
  if (context->graphExec) gDriver.graphExecDestroy(context->graphExec);
  if (context->graph) gDriver.graphDestroy(context->graph);
  context->graphExec = nullptr;
  context->graph = nullptr;
}

/// Records the launches into a CUDA graph that each run replays. Any failure leaves the
/// context without one: runs then launch the kernels one by one (and name a failing one).
/// The capture uses a stream of its own, so that a capture that fails in an unexpected
/// state cannot leave the context's stream capturing.
void captureGraph(leip_context *context) {
  const leip_cuda_model_desc *desc = context->model->desc;
  if (!gDriver.streamBeginCapture || desc->num_launches == 0) return;
  CUstream capture = nullptr;
  if (gDriver.streamCreate(&capture, kStreamNonBlocking) != kSuccess) return;
  CUgraph graph = nullptr;
  if (gDriver.streamBeginCapture(capture, kCaptureModeThreadLocal) == kSuccess) {
    bool launched = true;
    for (int32_t i = 0; i < desc->num_launches && launched; ++i) launched = launch(context, i, capture) == kSuccess;
    // End the capture even after a failed launch: the stream must leave capture mode.
    if (gDriver.streamEndCapture(capture, &graph) != kSuccess || !launched) {
      if (graph) gDriver.graphDestroy(graph);
      graph = nullptr;
    }
  }
  gDriver.streamDestroy(capture);
  if (!graph) return;
  CUgraphExec exec = nullptr;
  if (gDriver.graphInstantiate(&exec, graph, 0) != kSuccess || !exec) {
    gDriver.graphDestroy(graph);
    return;
  }
  context->graph = graph;
  context->graphExec = exec;
}

/// LEIP_PROFILE: an event before the first launch and after each one. Without events (or
/// when the driver refuses them) the context simply does not profile.
void createProfileEvents(leip_context *context) {
  const int32_t launches = context->model->desc->num_launches;
  if (!gDriver.eventCreate || launches == 0) return;
  context->events = static_cast<CUevent *>(calloc((size_t)launches + 1, sizeof(CUevent)));
  context->launchMilliseconds = static_cast<double *>(calloc((size_t)launches, sizeof(double)));
  bool ok = context->events && context->launchMilliseconds;
  for (int32_t i = 0; ok && i <= launches; ++i) ok = gDriver.eventCreate(&context->events[i], kEventDefault) == kSuccess;
  if (ok) return;
  if (context->events)
    for (int32_t i = 0; i <= launches; ++i)
      if (context->events[i]) gDriver.eventDestroy(context->events[i]);
  free(context->events);
  free(context->launchMilliseconds);
  context->events = nullptr;
  context->launchMilliseconds = nullptr;
}

/// Prints the profile of LEIP_PROFILE: per launch, its mean GPU time and share.
void printProfile(const leip_context *context) {
  const leip_cuda_model_desc *desc = context->model->desc;
  if (!context->launchMilliseconds || context->profiledRuns == 0) return;
  double total = 0;
  for (int32_t i = 0; i < desc->num_launches; ++i) total += context->launchMilliseconds[i];
  const double runs = (double)context->profiledRuns;
  dprintf(2, "leip profile: %lld runs on %s, mean %.3f ms of GPU time per run (launches in order)\n",
          (long long)context->profiledRuns, context->deviceName, total / runs);
  for (int32_t i = 0; i < desc->num_launches; ++i) {
    const leip_cuda_launch &l = desc->launches[i];
    const double ms = context->launchMilliseconds[i];
    dprintf(2, "  launch %4d  %-24s %9.4f ms  %5.1f%%  grid %ux%ux%u block %ux%ux%u\n", (int)i, l.kernel, ms / runs,
            total > 0 ? 100.0 * ms / total : 0.0, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1],
            l.block[2]);
  }
}

/// Frees whatever the context holds (also a partly created one).
void release(leip_context *context) {
  const int32_t launches = context->model->desc->num_launches;
  if (context->primary) {
    {
      CurrentContext current(context->primary);
      // Let queued work finish before its memory goes (errors are of no use here).
      if (context->stream) gDriver.streamSynchronize(context->stream);
      destroyGraph(context);
      if (context->events)
        for (int32_t i = 0; i <= launches; ++i)
          if (context->events[i]) gDriver.eventDestroy(context->events[i]);
      if (context->stream) gDriver.streamDestroy(context->stream);
      if (context->arena) gDriver.memFree(context->arena);
      if (context->weights) gDriver.memFree(context->weights);
      if (context->module) gDriver.moduleUnload(context->module);
    }
    // Not while current: releasing does not pop the context from the thread's stack.
    gDriver.primaryCtxRelease(context->device);
  }
  free(context->events);
  free(context->launchMilliseconds);
  free(context->functions);
  free(context);
}

/// Picks the device (LEIP_CUDA_DEVICE, default 0) and checks it can run the model.
leip_status selectDevice(leip_context *context) {
  int count = 0;
  const CUresult counted = gDriver.deviceGetCount(&count);
  if (counted != kSuccess) return reportCuda(gLastError, sizeof gLastError, "cuDeviceGetCount", counted);
  if (count <= 0) return report(gLastError, sizeof gLastError, LEIP_ERROR_DEVICE, "no CUDA device (cuDeviceGetCount: 0)");
  int ordinal = 0;
  if (const char *env = getenv("LEIP_CUDA_DEVICE"); env && env[0]) {
    long long value = 0;
    const char *c = env;
    for (; *c >= '0' && *c <= '9' && value < 1000000; ++c) value = value * 10 + (*c - '0');
    if (*c)
      return report(gLastError, sizeof gLastError, LEIP_ERROR_DEVICE,
                    "LEIP_CUDA_DEVICE='%s' is not a device ordinal (0 to %d)", env, count - 1);
    if (value >= count)
      return report(gLastError, sizeof gLastError, LEIP_ERROR_DEVICE,
                    "LEIP_CUDA_DEVICE=%lld, but there %s only %d CUDA device%s (ordinals from 0)", value,
                    count == 1 ? "is" : "are", count, count == 1 ? "" : "s");
    ordinal = (int)value;
  }
  CUresult result = gDriver.deviceGet(&context->device, ordinal);
  if (result != kSuccess) return reportCuda(gLastError, sizeof gLastError, "cuDeviceGet", result);
  if (gDriver.deviceGetName(context->deviceName, sizeof context->deviceName, context->device) != kSuccess)
    snprintf(context->deviceName, sizeof context->deviceName, "unknown GPU");
  int major = 0, minor = 0;
  result = gDriver.deviceGetAttribute(&major, kAttrComputeCapabilityMajor, context->device);
  if (result == kSuccess) result = gDriver.deviceGetAttribute(&minor, kAttrComputeCapabilityMinor, context->device);
  if (result != kSuccess) return reportCuda(gLastError, sizeof gLastError, "cuDeviceGetAttribute", result);
  const int32_t wanted = context->model->desc->compute_capability;
  if (major * 10 + minor < wanted)
    return report(gLastError, sizeof gLastError, LEIP_ERROR_DEVICE,
                  "device %d (%s) has compute capability %d.%d; this model was compiled for sm_%d", ordinal,
                  context->deviceName, major, minor, (int)wanted);
  return LEIP_OK;
}

/// JIT-compiles the PTX; on failure the message carries the driver's error log on one line.
leip_status loadModule(leip_context *context) {
  char log[4096];
  log[0] = 0;
  int options[2] = {kJitErrorLogBuffer, kJitErrorLogBufferSizeBytes};
  void *values[2] = {log, reinterpret_cast<void *>((uintptr_t)sizeof log)};
  const CUresult result = gDriver.moduleLoadDataEx(&context->module, context->model->desc->ptx, 2, options, values);
  if (result == kSuccess) return LEIP_OK;
  context->module = nullptr;
  log[sizeof log - 1] = 0;
  // One line: the log's lines joined with "; ", trailing blanks dropped.
  char flat[sizeof log + 512];
  size_t n = 0;
  for (const char *c = log; *c && n + 3 < sizeof flat; ++c) {
    if (*c == '\n' || *c == '\r') {
      if (n > 0 && flat[n - 1] != ' ') {
        flat[n++] = ';';
        flat[n++] = ' ';
      }
    } else {
      flat[n++] = *c;
    }
  }
  while (n > 0 && (flat[n - 1] == ' ' || flat[n - 1] == ';' || flat[n - 1] == '\t')) --n;
  flat[n] = 0;
  char call[64];
  snprintf(call, sizeof call, "PTX JIT compilation (cuModuleLoadDataEx)");
  char hint[sizeof flat + 128];
  if (result == kErrorUnsupportedPtxVersion)
    snprintf(hint, sizeof hint, "; the CUDA driver is older than the PTX this model was compiled to: update the driver%s%s",
             n ? ": " : "", flat);
  else snprintf(hint, sizeof hint, "%s%s", n ? ": " : "", flat);
  return reportCuda(gLastError, sizeof gLastError, call, result, hint);
}

leip_status createOnDevice(leip_context *context) {
  const leip_cuda_model_desc *desc = context->model->desc;
  leip_status status = selectDevice(context);
  if (status != LEIP_OK) return status;
  CUresult result = gDriver.primaryCtxRetain(&context->primary, context->device);
  if (result != kSuccess) {
    context->primary = nullptr;
    return reportCuda(gLastError, sizeof gLastError, "cuDevicePrimaryCtxRetain", result);
  }
  CurrentContext current(context->primary);
  if (current.result != kSuccess) return reportCuda(gLastError, sizeof gLastError, "cuCtxPushCurrent", current.result);
  if ((status = loadModule(context)) != LEIP_OK) return status;
  char call[160];
  for (int32_t i = 0; i < desc->num_launches; ++i) {
    result = gDriver.moduleGetFunction(&context->functions[i], context->module, desc->launches[i].kernel);
    if (result != kSuccess) {
      snprintf(call, sizeof call, "cuModuleGetFunction(%s)", desc->launches[i].kernel);
      return reportCuda(gLastError, sizeof gLastError, call, result);
    }
  }
  // At least one byte each, so that every kernel gets a valid address.
  const int64_t arenaBytes = desc->arena_bytes > 0 ? desc->arena_bytes : 1;
  const int64_t weightsBytes = desc->weights_bytes > 0 ? desc->weights_bytes : 1;
  if ((result = gDriver.memAlloc(&context->arena, (size_t)arenaBytes)) != kSuccess) {
    context->arena = 0;
    snprintf(call, sizeof call, "cuMemAlloc(arena, %lld bytes)", (long long)arenaBytes);
    return reportCuda(gLastError, sizeof gLastError, call, result);
  }
  if ((result = gDriver.memAlloc(&context->weights, (size_t)weightsBytes)) != kSuccess) {
    context->weights = 0;
    snprintf(call, sizeof call, "cuMemAlloc(weights, %lld bytes)", (long long)weightsBytes);
    return reportCuda(gLastError, sizeof gLastError, call, result);
  }
  if ((result = gDriver.streamCreate(&context->stream, kStreamNonBlocking)) != kSuccess) {
    context->stream = nullptr;
    return reportCuda(gLastError, sizeof gLastError, "cuStreamCreate", result);
  }
  if (desc->weights_bytes > 0) {
    result = gDriver.memcpyHtoDAsync(context->weights, desc->weights, (size_t)desc->weights_bytes, context->stream);
    if (result == kSuccess) result = gDriver.streamSynchronize(context->stream);
    if (result != kSuccess) {
      snprintf(call, sizeof call, "uploading the weights (%lld bytes)", (long long)desc->weights_bytes);
      return reportCuda(gLastError, sizeof gLastError, call, result);
    }
  }
  if (envFlag("LEIP_PROFILE")) createProfileEvents(context);
  // Profiling times each launch, so it launches them one by one.
  const char *graphs = getenv("LEIP_CUDA_GRAPHS");
  if (!context->events && !(graphs && graphs[0] == '0' && !graphs[1])) captureGraph(context);
  return LEIP_OK;
}

/// After a failure in the middle of a run: wait for what was queued (copies that read the
/// caller's inputs), then report. The wait's own error, if any, adds nothing.
leip_status failRun(leip_context *context, const char *call, CUresult result, const char *hint = "") {
  gDriver.streamSynchronize(context->stream);
  return reportCuda(context->error, sizeof context->error, call, result, hint);
}

/// Copies in, launches, copies out and waits; `onDevice`: the caller's pointers are device
/// addresses.
leip_status runOnDevice(leip_context *context, const void *const *inputs, void *const *outputs, bool onDevice) {
  const leip_cuda_model_desc *desc = context->model->desc;
  CurrentContext current(context->primary);
  if (current.result != kSuccess)
    return reportCuda(context->error, sizeof context->error, "cuCtxPushCurrent", current.result);
  char call[160];
  for (int32_t i = 0; i < desc->num_inputs; ++i) {
    const size_t bytes = (size_t)desc->inputs[i].bytes;
    if (bytes == 0) continue;
    const CUdeviceptr dst = context->arena + (CUdeviceptr)desc->input_offsets[i];
    const CUresult result =
        onDevice ? gDriver.memcpyDtoDAsync(dst, (CUdeviceptr)(uintptr_t)inputs[i], bytes, context->stream)
                 : gDriver.memcpyHtoDAsync(dst, inputs[i], bytes, context->stream);
    if (result != kSuccess) {
      snprintf(call, sizeof call, "%s(input '%s')", onDevice ? "cuMemcpyDtoDAsync" : "cuMemcpyHtoDAsync",
               desc->inputs[i].name);
      return failRun(context, call, result);
    }
  }
  const bool profile = context->events != nullptr;
  if (context->graphExec) {
    const CUresult result = gDriver.graphLaunch(context->graphExec, context->stream);
    if (result != kSuccess) {
      // Later runs launch one by one, so that a failing kernel gets named.
      destroyGraph(context);
      snprintf(call, sizeof call, "cuGraphLaunch(%d kernels)", (int)desc->num_launches);
      return failRun(context, call, result, " (later runs launch the kernels one by one and name a failing one)");
    }
  } else {
    if (profile) gDriver.eventRecord(context->events[0], context->stream);
    for (int32_t i = 0; i < desc->num_launches; ++i) {
      const CUresult result = launch(context, i, context->stream);
      if (result != kSuccess) {
        snprintf(call, sizeof call, "cuLaunchKernel(%s)", desc->launches[i].kernel);
        return failRun(context, call, result);
      }
      if (profile) gDriver.eventRecord(context->events[i + 1], context->stream);
    }
  }
  for (int32_t i = 0; i < desc->num_outputs; ++i) {
    const size_t bytes = (size_t)desc->outputs[i].bytes;
    if (bytes == 0) continue;
    const CUdeviceptr src = context->arena + (CUdeviceptr)desc->output_offsets[i];
    const CUresult result =
        onDevice ? gDriver.memcpyDtoDAsync((CUdeviceptr)(uintptr_t)outputs[i], src, bytes, context->stream)
                 : gDriver.memcpyDtoHAsync(outputs[i], src, bytes, context->stream);
    if (result != kSuccess) {
      snprintf(call, sizeof call, "%s(output '%s')", onDevice ? "cuMemcpyDtoDAsync" : "cuMemcpyDtoHAsync",
               desc->outputs[i].name);
      return failRun(context, call, result);
    }
  }
  // Kernels fail asynchronously: their errors surface here, without the kernel's name.
  const CUresult synced = gDriver.streamSynchronize(context->stream);
  if (synced != kSuccess)
    return reportCuda(context->error, sizeof context->error, "cuStreamSynchronize (after the launches)", synced,
                      "; to find the failing kernel, rerun with CUDA_LAUNCH_BLOCKING=1 LEIP_CUDA_GRAPHS=0");
  if (profile) {
    for (int32_t i = 0; i < desc->num_launches; ++i) {
      float ms = 0;
      if (gDriver.eventElapsedTime(&ms, context->events[i], context->events[i + 1]) == kSuccess)
        context->launchMilliseconds[i] += ms;
    }
    ++context->profiledRuns;
  }
  return LEIP_OK;
}

} // namespace

extern "C" {

leip_status leip_context_create(const leip_model *model, leip_context **context) {
  if (!model || !context)
    return report(gLastError, sizeof gLastError, LEIP_ERROR_INVALID_ARGUMENT, "leip_context_create: null argument");
  *context = nullptr;
  if (!driverReady()) return report(gLastError, sizeof gLastError, LEIP_ERROR_DEVICE, "%s", gDriverError);
  leip_context *ctx = static_cast<leip_context *>(calloc(1, sizeof(leip_context)));
  const int32_t launches = model->desc->num_launches;
  if (ctx) ctx->functions = static_cast<CUfunction *>(calloc((size_t)launches + 1, sizeof(CUfunction)));
  if (!ctx || !ctx->functions) {
    free(ctx);
    return report(gLastError, sizeof gLastError, LEIP_ERROR_OUT_OF_MEMORY, "leip_context_create: out of memory");
  }
  ctx->model = model;
  ctx->threads = 1;
  const leip_status status = createOnDevice(ctx);
  if (status != LEIP_OK) {
    release(ctx);
    return status;
  }
  *context = ctx;
  return LEIP_OK;
}

void leip_context_destroy(leip_context *context) {
  if (!context) return;
  printProfile(context);
  release(context);
}

leip_status leip_context_set_threads(leip_context *context, int32_t threads) {
  if (!context) return LEIP_ERROR_INVALID_ARGUMENT;
  if (threads < 1 || threads > LEIP_MAX_THREADS)
    return report(context->error, sizeof context->error, LEIP_ERROR_INVALID_ARGUMENT,
                  "set_threads: thread count must be in [1, %d], got %d", LEIP_MAX_THREADS, (int)threads);
  context->threads = threads; // the GPU does the work; the count is only reported
  return LEIP_OK;
}

int32_t leip_context_threads(const leip_context *context) { return context ? context->threads : -1; }

leip_status leip_context_run(leip_context *context, const void *const *inputs, const int64_t *input_bytes,
                             void *const *outputs, const int64_t *output_bytes) {
  if (!context) return LEIP_ERROR_INVALID_ARGUMENT;
  const leip_cuda_model_desc *desc = context->model->desc;
  char *error = context->error;
  const size_t size = sizeof context->error;
  error[0] = 0;
  if ((desc->num_inputs && (!inputs || !input_bytes)) || (desc->num_outputs && (!outputs || !output_bytes)))
    return report(error, size, LEIP_ERROR_INVALID_ARGUMENT, "run: null input or output array");
  for (int32_t i = 0; i < desc->num_inputs; ++i) {
    const leip_tensor_desc &t = desc->inputs[i];
    if (!inputs[i]) return report(error, size, LEIP_ERROR_INVALID_ARGUMENT, "run: input '%s' is null", t.name);
    if (input_bytes[i] != t.bytes)
      return report(error, size, LEIP_ERROR_SHAPE, "run: input '%s' has %lld bytes, the model expects %lld", t.name,
                    (long long)input_bytes[i], (long long)t.bytes);
  }
  for (int32_t i = 0; i < desc->num_outputs; ++i) {
    const leip_tensor_desc &t = desc->outputs[i];
    if (!outputs[i]) return report(error, size, LEIP_ERROR_INVALID_ARGUMENT, "run: output '%s' is null", t.name);
    if (output_bytes[i] != t.bytes)
      return report(error, size, LEIP_ERROR_SHAPE, "run: output '%s' has %lld bytes, the model writes %lld", t.name,
                    (long long)output_bytes[i], (long long)t.bytes);
  }
  return runOnDevice(context, inputs, outputs, false);
}

leip_status leip_context_run_device(leip_context *context, const void *const *inputs, void *const *outputs) {
  if (!context) return LEIP_ERROR_INVALID_ARGUMENT;
  const leip_cuda_model_desc *desc = context->model->desc;
  char *error = context->error;
  const size_t size = sizeof context->error;
  error[0] = 0;
  if ((desc->num_inputs && !inputs) || (desc->num_outputs && !outputs))
    return report(error, size, LEIP_ERROR_INVALID_ARGUMENT, "run_device: null input or output array");
  for (int32_t i = 0; i < desc->num_inputs; ++i)
    if (!inputs[i])
      return report(error, size, LEIP_ERROR_INVALID_ARGUMENT, "run_device: input '%s' is null", desc->inputs[i].name);
  for (int32_t i = 0; i < desc->num_outputs; ++i)
    if (!outputs[i])
      return report(error, size, LEIP_ERROR_INVALID_ARGUMENT, "run_device: output '%s' is null",
                    desc->outputs[i].name);
  return runOnDevice(context, inputs, outputs, true);
}

const char *leip_context_last_error(const leip_context *context) { return context ? context->error : gLastError; }

} // extern "C"
