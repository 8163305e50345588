// A fake CUDA driver, built as libcuda.so.1 for the CUDA runtime tests (see FakeCuda.h):
// the driver functions CudaRuntime.cpp calls, by their exported (versioned) names, on the
// host. It checks what the real driver checks where a runtime bug would otherwise go
// unnoticed here and crash on a GPU: cuInit first, a current context for context-bound
// calls, copies inside live allocations, live handles, launch shapes; misuse that the
// runtime could not see (it ignores errors while freeing) is collected for
// fake_cuda_misuse().
#include "FakeCuda.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

// Values from cuda.h.
constexpr CUresult kSuccess = 0;
constexpr CUresult kInvalidValue = 1;         // CUDA_ERROR_INVALID_VALUE
constexpr CUresult kNotInitialized = 3;       // CUDA_ERROR_NOT_INITIALIZED
constexpr CUresult kInvalidDevice = 101;      // CUDA_ERROR_INVALID_DEVICE
constexpr CUresult kInvalidContext = 201;     // CUDA_ERROR_INVALID_CONTEXT
constexpr CUresult kInvalidPtx = 218;         // CUDA_ERROR_INVALID_PTX
constexpr CUresult kInvalidHandle = 400;      // CUDA_ERROR_INVALID_HANDLE
constexpr CUresult kIllegalState = 401;       // CUDA_ERROR_ILLEGAL_STATE
constexpr CUresult kNotFound = 500;           // CUDA_ERROR_NOT_FOUND
constexpr CUresult kNotReady = 600;           // CUDA_ERROR_NOT_READY
constexpr CUresult kCaptureUnsupported = 900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
constexpr CUresult kCaptureInvalidated = 901; // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED

struct ErrorText {
  CUresult code;
  const char *name;
  const char *text;
};
// Names and strings as the real driver's cuGetErrorName / cuGetErrorString give them.
const ErrorText kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {35, "CUDA_ERROR_INSUFFICIENT_DRIVER", "CUDA driver version is insufficient for CUDA runtime version"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "the provided PTX was compiled with an unsupported toolchain."},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {401, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

constexpr int kMaxDevices = 8;

struct Context {
  int device;
  int retains = 0;
};
struct Module {
  std::string ptx;
};
struct Function {
  Module *module;
  std::string name;
};
struct Stream {
  unsigned flags;
  bool capturing = false;
  bool invalidated = false;
  std::vector<fake_cuda_launch_record> captured;
};
struct Graph {
  std::vector<fake_cuda_launch_record> launches;
};
struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};
struct Failure {
  std::string function;
  int nth;
  int code;
  int calls = 0;
};

struct State {
  std::mutex mutex;
  bool initialized = false;
  int initCalls = 0;
  int deviceCount = 1, major = 8, minor = 0;
  Context contexts[kMaxDevices] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
  int lastRetained = -1;
  std::vector<Failure> failures;
  std::map<std::string, int> failingKernels;
  std::string jitLog;
  fake_cuda_launch_hook hook = nullptr;
  void *hookUser = nullptr;
  std::vector<fake_cuda_launch_record> launches;
  std::map<CUdeviceptr, size_t> allocations;
  std::set<Module *> modules;
  std::set<Function *> functions;
  std::set<Stream *> streams;
  std::set<Graph *> graphs;
  std::set<Graph *> execs;
  std::set<Event *> events;
  std::string misuse;
};

State &state() {
  static State s;
  return s;
}

thread_local std::vector<Context *> tCurrent;

/// The injected result of this call of `function` (0: none). Takes the lock.
CUresult injected(const char *function) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  CUresult result = kSuccess;
  for (Failure &f : s.failures)
    if (f.function == function) {
      ++f.calls;
      if ((f.nth == 0 || f.calls == f.nth) && result == kSuccess) result = f.code;
    }
  return result;
}

#define FAKE_ENTRY(name)                                                                                               \
  do {                                                                                                                 \
    if (CUresult injectedResult = injected(name)) return injectedResult;                                               \
  } while (0)

// The helpers below expect the lock to be held.
CUresult needInit(State &s) { return s.initialized ? kSuccess : kNotInitialized; }

CUresult needContext(State &s) {
  if (!s.initialized) return kNotInitialized;
  if (tCurrent.empty() || !tCurrent.back() || tCurrent.back()->retains == 0) return kInvalidContext;
  return kSuccess;
}

bool inAllocation(State &s, CUdeviceptr ptr, size_t bytes) {
  auto it = s.allocations.upper_bound(ptr);
  if (it == s.allocations.begin()) return false;
  --it;
  return ptr >= it->first && ptr + bytes <= it->first + it->second;
}

bool liveStream(State &s, void *stream) { return !stream || s.streams.count(static_cast<Stream *>(stream)); }

void noteMisuse(State &s, const std::string &what) {
  if (s.misuse.size() < 4000) s.misuse += what + "; ";
}

CUresult copyChecked(CUdeviceptr dst, bool dstDevice, CUdeviceptr src, bool srcDevice, size_t bytes, void *stream) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  if (!liveStream(s, stream)) return kInvalidHandle;
  if (stream && static_cast<Stream *>(stream)->capturing) return kCaptureUnsupported;
  if ((dstDevice && !inAllocation(s, dst, bytes)) || (srcDevice && !inAllocation(s, src, bytes))) return kInvalidValue;
  if (!dst || !src) return kInvalidValue;
  std::memcpy(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(src), bytes);
  return kSuccess;
}

bool hasEntry(const std::string &ptx, const char *name) {
  const std::string needle = std::string(".entry ") + name;
  for (size_t at = ptx.find(needle); at != std::string::npos; at = ptx.find(needle, at + 1)) {
    const char next = at + needle.size() < ptx.size() ? ptx[at + needle.size()] : '\0';
    if (!(std::isalnum(static_cast<unsigned char>(next)) || next == '_' || next == '$')) return true;
  }
  return false;
}

void writeLog(char *buffer, size_t *size, const std::string &text) {
  if (!buffer || !size || *size == 0) return;
  const size_t n = std::min(text.size(), *size - 1);
  std::memcpy(buffer, text.data(), n);
  buffer[n] = 0;
  *size = n;
}

void runHook(const std::vector<fake_cuda_launch_record> &records) {
  State &s = state();
  fake_cuda_launch_hook hook;
  void *user;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    hook = s.hook;
    user = s.hookUser;
  }
  if (hook)
    for (const fake_cuda_launch_record &r : records) hook(&r, user);
}

} // namespace

extern "C" {

// ---- controls (FakeCuda.h) ------------------------------------------------------------------

void fake_cuda_reset(void) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.deviceCount = 1;
  s.major = 8;
  s.minor = 0;
  s.failures.clear();
  s.failingKernels.clear();
  s.jitLog.clear();
  s.hook = nullptr;
  s.hookUser = nullptr;
  s.launches.clear();
  s.lastRetained = -1;
  s.misuse.clear();
}

void fake_cuda_set_devices(int count, int major, int minor) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.deviceCount = std::clamp(count, 0, kMaxDevices);
  s.major = major;
  s.minor = minor;
}

void fake_cuda_fail_call(const char *function, int nth, int code) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.failures.push_back(Failure{function, nth, code});
}

void fake_cuda_fail_kernel(const char *kernel, int code) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.failingKernels[kernel] = code;
}

void fake_cuda_set_jit_log(const char *log) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.jitLog = log ? log : "";
}

void fake_cuda_set_launch_hook(fake_cuda_launch_hook hook, void *user) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.hook = hook;
  s.hookUser = user;
}

int fake_cuda_launch_count(void) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return static_cast<int>(s.launches.size());
}

int fake_cuda_get_launch(int index, fake_cuda_launch_record *out) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (index < 0 || index >= static_cast<int>(s.launches.size())) return 0;
  *out = s.launches[index];
  return 1;
}

void fake_cuda_clear_launches(void) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.launches.clear();
}

unsigned long long fake_cuda_alloc(unsigned long long bytes) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  void *p = std::malloc(bytes ? bytes : 1);
  s.allocations[reinterpret_cast<CUdeviceptr>(p)] = bytes;
  return reinterpret_cast<CUdeviceptr>(p);
}

void fake_cuda_free(unsigned long long ptr) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.allocations.erase(ptr)) std::free(reinterpret_cast<void *>(ptr));
}

long long fake_cuda_allocation_size(unsigned long long ptr) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.allocations.find(ptr);
  return it == s.allocations.end() ? -1 : static_cast<long long>(it->second);
}

#define FAKE_COUNT(fn, expr)                                                                                           \
  int fn(void) {                                                                                                       \
    State &s = state();                                                                                                \
    std::lock_guard<std::mutex> lock(s.mutex);                                                                         \
    return static_cast<int>(expr);                                                                                     \
  }
FAKE_COUNT(fake_cuda_live_allocations, s.allocations.size())
FAKE_COUNT(fake_cuda_live_modules, s.modules.size())
FAKE_COUNT(fake_cuda_live_streams, s.streams.size())
FAKE_COUNT(fake_cuda_live_graphs, s.graphs.size())
FAKE_COUNT(fake_cuda_live_graph_execs, s.execs.size())
FAKE_COUNT(fake_cuda_live_events, s.events.size())
FAKE_COUNT(fake_cuda_last_retained_device, s.lastRetained)
FAKE_COUNT(fake_cuda_init_calls, s.initCalls)

int fake_cuda_primary_retains(void) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  int total = 0;
  for (const Context &c : s.contexts) total += c.retains;
  return total;
}

void *fake_cuda_current_context(void) { return tCurrent.empty() ? nullptr : tCurrent.back(); }

const char *fake_cuda_misuse(void) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  static thread_local std::string copy;
  copy = s.misuse;
  return copy.c_str();
}

// ---- the driver API ----------------------------------------------------------------------

CUresult cuInit(unsigned flags) {
  FAKE_ENTRY("cuInit");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.initCalls;
  if (flags != 0) return kInvalidValue;
  if (const char *count = std::getenv("FAKE_CUDA_DEVICE_COUNT")) s.deviceCount = std::clamp(std::atoi(count), 0, kMaxDevices);
  if (const char *cc = std::getenv("FAKE_CUDA_CC")) {
    s.major = std::atoi(cc) / 10;
    s.minor = std::atoi(cc) % 10;
  }
  s.initialized = true;
  return kSuccess;
}

CUresult cuDeviceGetCount(int *count) {
  FAKE_ENTRY("cuDeviceGetCount");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (!count) return kInvalidValue;
  *count = s.deviceCount;
  return kSuccess;
}

CUresult cuDeviceGet(int *device, int ordinal) {
  FAKE_ENTRY("cuDeviceGet");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (!device) return kInvalidValue;
  if (ordinal < 0 || ordinal >= s.deviceCount) return kInvalidDevice;
  *device = ordinal;
  return kSuccess;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  FAKE_ENTRY("cuDeviceGetAttribute");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (device < 0 || device >= s.deviceCount) return kInvalidDevice;
  if (!value) return kInvalidValue;
  if (attribute == 75) *value = s.major; // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
  else if (attribute == 76) *value = s.minor;
  else return kInvalidValue;
  return kSuccess;
}

CUresult cuDeviceGetName(char *name, int length, int device) {
  FAKE_ENTRY("cuDeviceGetName");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (device < 0 || device >= s.deviceCount) return kInvalidDevice;
  if (!name || length <= 0) return kInvalidValue;
  std::snprintf(name, static_cast<size_t>(length), "Fake CUDA Device");
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  FAKE_ENTRY("cuDevicePrimaryCtxRetain");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (device < 0 || device >= s.deviceCount) return kInvalidDevice;
  if (!context) return kInvalidValue;
  ++s.contexts[device].retains;
  s.lastRetained = device;
  *context = &s.contexts[device];
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
  FAKE_ENTRY("cuDevicePrimaryCtxRelease_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (device < 0 || device >= kMaxDevices || s.contexts[device].retains == 0) {
    noteMisuse(s, "cuDevicePrimaryCtxRelease_v2 of a context not retained");
    return kInvalidContext;
  }
  // The real driver does not pop a released context from the thread's stack.
  if (s.contexts[device].retains == 1 && std::count(tCurrent.begin(), tCurrent.end(), &s.contexts[device]))
    noteMisuse(s, "the last retain of a primary context released while it is current");
  --s.contexts[device].retains;
  return kSuccess;
}

CUresult cuCtxPushCurrent_v2(void *context) {
  FAKE_ENTRY("cuCtxPushCurrent_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  Context *c = static_cast<Context *>(context);
  if (!c || c < s.contexts || c >= s.contexts + kMaxDevices || c->retains == 0) return kInvalidContext;
  tCurrent.push_back(c);
  return kSuccess;
}

CUresult cuCtxPopCurrent_v2(void **context) {
  FAKE_ENTRY("cuCtxPopCurrent_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needInit(s)) return r;
  if (tCurrent.empty()) {
    noteMisuse(s, "cuCtxPopCurrent_v2 with no current context");
    return kInvalidContext;
  }
  if (context) *context = tCurrent.back();
  tCurrent.pop_back();
  return kSuccess;
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned numOptions, int *options, void **values) {
  char *log = nullptr;
  size_t logSize = 0;
  size_t *logSizeSlot = nullptr;
  for (unsigned i = 0; i < numOptions; ++i) {
    if (options[i] == 5) log = static_cast<char *>(values[i]); // CU_JIT_ERROR_LOG_BUFFER
    if (options[i] == 6) {                                     // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES: in, then out
      logSize = reinterpret_cast<size_t>(values[i]);
      logSizeSlot = reinterpret_cast<size_t *>(&values[i]);
    }
  }
  State &s = state();
  if (CUresult r = injected("cuModuleLoadDataEx")) {
    std::lock_guard<std::mutex> lock(s.mutex);
    writeLog(log, &logSize, s.jitLog);
    if (logSizeSlot) *logSizeSlot = logSize;
    return r;
  }
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  if (!module || !image) return kInvalidValue;
  std::string ptx(static_cast<const char *>(image));
  if (ptx.find(".version") == std::string::npos || ptx.find(".target") == std::string::npos) {
    writeLog(log, &logSize,
             "ptxas application ptx input, line 1; fatal   : Missing .version directive at start of file 'ptx'\n"
             "ptxas fatal   : Ptx assembly aborted due to errors\n");
    if (logSizeSlot) *logSizeSlot = logSize;
    return kInvalidPtx;
  }
  Module *m = new Module{std::move(ptx)};
  s.modules.insert(m);
  *module = m;
  return kSuccess;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  FAKE_ENTRY("cuModuleGetFunction");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  Module *m = static_cast<Module *>(module);
  if (!s.modules.count(m)) return kInvalidHandle;
  if (!function || !name) return kInvalidValue;
  if (!hasEntry(m->ptx, name)) return kNotFound;
  Function *f = new Function{m, name};
  s.functions.insert(f);
  *function = f;
  return kSuccess;
}

CUresult cuModuleUnload(void *module) {
  FAKE_ENTRY("cuModuleUnload");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) {
    noteMisuse(s, "cuModuleUnload without a current context");
    return r;
  }
  Module *m = static_cast<Module *>(module);
  if (!s.modules.erase(m)) {
    noteMisuse(s, "cuModuleUnload of an unknown module");
    return kInvalidHandle;
  }
  for (auto it = s.functions.begin(); it != s.functions.end();)
    if ((*it)->module == m) {
      delete *it;
      it = s.functions.erase(it);
    } else {
      ++it;
    }
  delete m;
  return kSuccess;
}

CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
  FAKE_ENTRY("cuMemAlloc_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  if (!ptr || bytes == 0) return kInvalidValue;
  void *p = std::malloc(bytes);
  std::memset(p, 0xCD, bytes); // device memory starts with garbage, not zeros
  s.allocations[reinterpret_cast<CUdeviceptr>(p)] = bytes;
  *ptr = reinterpret_cast<CUdeviceptr>(p);
  return kSuccess;
}

CUresult cuMemFree_v2(CUdeviceptr ptr) {
  FAKE_ENTRY("cuMemFree_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) {
    noteMisuse(s, "cuMemFree_v2 without a current context");
    return r;
  }
  if (!s.allocations.erase(ptr)) {
    noteMisuse(s, "cuMemFree_v2 of an address that is not an allocation");
    return kInvalidValue;
  }
  std::free(reinterpret_cast<void *>(ptr));
  return kSuccess;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
  FAKE_ENTRY("cuMemcpyHtoDAsync_v2");
  return copyChecked(dst, true, reinterpret_cast<CUdeviceptr>(src), false, bytes, stream);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
  FAKE_ENTRY("cuMemcpyDtoHAsync_v2");
  return copyChecked(reinterpret_cast<CUdeviceptr>(dst), false, src, true, bytes, stream);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
  FAKE_ENTRY("cuMemcpyDtoDAsync_v2");
  return copyChecked(dst, true, src, true, bytes, stream);
}

CUresult cuStreamCreate(void **stream, unsigned flags) {
  FAKE_ENTRY("cuStreamCreate");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  if (!stream || flags > 1) return kInvalidValue;
  Stream *st = new Stream();
  st->flags = flags;
  s.streams.insert(st);
  *stream = st;
  return kSuccess;
}

CUresult cuStreamDestroy_v2(void *stream) {
  FAKE_ENTRY("cuStreamDestroy_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) {
    noteMisuse(s, "cuStreamDestroy_v2 without a current context");
    return r;
  }
  Stream *st = static_cast<Stream *>(stream);
  if (!s.streams.erase(st)) {
    noteMisuse(s, "cuStreamDestroy_v2 of an unknown stream");
    return kInvalidHandle;
  }
  if (st->capturing) noteMisuse(s, "cuStreamDestroy_v2 of a stream that is capturing");
  delete st;
  return kSuccess;
}

CUresult cuStreamSynchronize(void *stream) {
  FAKE_ENTRY("cuStreamSynchronize");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  if (!liveStream(s, stream)) return kInvalidHandle;
  if (stream && static_cast<Stream *>(stream)->capturing) return kCaptureUnsupported;
  return kSuccess;
}

CUresult cuLaunchKernel(void *function, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX,
                        unsigned blockY, unsigned blockZ, unsigned sharedBytes, void *stream, void **params,
                        void **extra) {
  FAKE_ENTRY("cuLaunchKernel");
  fake_cuda_launch_record record{};
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (CUresult r = needContext(s)) return r;
    Function *f = static_cast<Function *>(function);
    if (!s.functions.count(f)) return kInvalidHandle;
    if (!liveStream(s, stream)) return kInvalidHandle;
    Stream *st = static_cast<Stream *>(stream);
    auto fail = [&](CUresult code) {
      if (st && st->capturing) st->invalidated = true;
      return code;
    };
    if (!gridX || !gridY || !gridZ || !blockX || !blockY || !blockZ ||
        static_cast<unsigned long long>(blockX) * blockY * blockZ > 1024 || blockZ > 64 || gridY > 65535 ||
        gridZ > 65535 || sharedBytes > 48 * 1024)
      return fail(kInvalidValue);
    if (!params || !params[0] || !params[1] || extra) return fail(kInvalidValue);
    if (auto it = s.failingKernels.find(f->name); it != s.failingKernels.end()) return fail(it->second);
    std::snprintf(record.kernel, sizeof record.kernel, "%s", f->name.c_str());
    record.grid[0] = gridX, record.grid[1] = gridY, record.grid[2] = gridZ;
    record.block[0] = blockX, record.block[1] = blockY, record.block[2] = blockZ;
    std::memcpy(&record.arena, params[0], sizeof record.arena);
    std::memcpy(&record.weights, params[1], sizeof record.weights);
    record.stream = stream;
    if (st && st->capturing) {
      st->captured.push_back(record);
      return kSuccess;
    }
    s.launches.push_back(record);
  }
  runHook({record});
  return kSuccess;
}

CUresult cuStreamBeginCapture_v2(void *stream, int mode) {
  FAKE_ENTRY("cuStreamBeginCapture_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  Stream *st = static_cast<Stream *>(stream);
  if (!st || !s.streams.count(st) || mode < 0 || mode > 2) return kInvalidValue;
  if (st->capturing) return kIllegalState;
  st->capturing = true;
  st->invalidated = false;
  st->captured.clear();
  return kSuccess;
}

CUresult cuStreamEndCapture(void *stream, void **graph) {
  State &s = state();
  if (CUresult r = injected("cuStreamEndCapture")) {
    // Like an invalidated capture: it ends, without a graph.
    std::lock_guard<std::mutex> lock(s.mutex);
    Stream *st = static_cast<Stream *>(stream);
    if (s.streams.count(st)) st->capturing = false;
    if (graph) *graph = nullptr;
    return r;
  }
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  Stream *st = static_cast<Stream *>(stream);
  if (!st || !s.streams.count(st) || !graph) return kInvalidValue;
  if (!st->capturing) return kIllegalState;
  st->capturing = false;
  *graph = nullptr;
  if (st->invalidated) return kCaptureInvalidated;
  Graph *g = new Graph{std::move(st->captured)};
  st->captured.clear();
  s.graphs.insert(g);
  *graph = g;
  return kSuccess;
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long flags) {
  FAKE_ENTRY("cuGraphInstantiateWithFlags");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  Graph *g = static_cast<Graph *>(graph);
  if (!exec || !s.graphs.count(g)) return kInvalidValue;
  Graph *e = new Graph{g->launches};
  s.execs.insert(e);
  *exec = e;
  return kSuccess;
}

CUresult cuGraphLaunch(void *exec, void *stream) {
  FAKE_ENTRY("cuGraphLaunch");
  State &s = state();
  std::vector<fake_cuda_launch_record> replayed;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (CUresult r = needContext(s)) return r;
    Graph *e = static_cast<Graph *>(exec);
    if (!s.execs.count(e) || !liveStream(s, stream)) return kInvalidHandle;
    for (const fake_cuda_launch_record &r : e->launches)
      if (auto it = s.failingKernels.find(r.kernel); it != s.failingKernels.end()) return it->second;
    for (fake_cuda_launch_record r : e->launches) {
      r.via_graph = 1;
      r.stream = stream;
      s.launches.push_back(r);
      replayed.push_back(r);
    }
  }
  runHook(replayed);
  return kSuccess;
}

CUresult cuGraphExecDestroy(void *exec) {
  FAKE_ENTRY("cuGraphExecDestroy");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  Graph *e = static_cast<Graph *>(exec);
  if (!s.execs.erase(e)) {
    noteMisuse(s, "cuGraphExecDestroy of an unknown graph exec");
    return kInvalidValue;
  }
  delete e;
  return kSuccess;
}

CUresult cuGraphDestroy(void *graph) {
  FAKE_ENTRY("cuGraphDestroy");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  Graph *g = static_cast<Graph *>(graph);
  if (!s.graphs.erase(g)) {
    noteMisuse(s, "cuGraphDestroy of an unknown graph");
    return kInvalidValue;
  }
  delete g;
  return kSuccess;
}

CUresult cuEventCreate(void **event, unsigned flags) {
  FAKE_ENTRY("cuEventCreate");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  if (!event) return kInvalidValue;
  Event *e = new Event{};
  s.events.insert(e);
  *event = e;
  return kSuccess;
}

CUresult cuEventRecord(void *event, void *stream) {
  FAKE_ENTRY("cuEventRecord");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  Event *e = static_cast<Event *>(event);
  if (!s.events.count(e) || !liveStream(s, stream)) return kInvalidHandle;
  e->recorded = true;
  e->when = std::chrono::steady_clock::now();
  return kSuccess;
}

CUresult cuEventElapsedTime(float *milliseconds, void *start, void *end) {
  FAKE_ENTRY("cuEventElapsedTime");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (CUresult r = needContext(s)) return r;
  Event *a = static_cast<Event *>(start), *b = static_cast<Event *>(end);
  if (!milliseconds || !s.events.count(a) || !s.events.count(b)) return kInvalidHandle;
  if (!a->recorded || !b->recorded) return kNotReady;
  *milliseconds = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return kSuccess;
}

CUresult cuEventDestroy_v2(void *event) {
  FAKE_ENTRY("cuEventDestroy_v2");
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  Event *e = static_cast<Event *>(event);
  if (!s.events.erase(e)) {
    noteMisuse(s, "cuEventDestroy_v2 of an unknown event");
    return kInvalidHandle;
  }
  delete e;
  return kSuccess;
}

CUresult cuGetErrorName(CUresult error, const char **name) {
  for (const ErrorText &e : kErrors)
    if (e.code == error) {
      *name = e.name;
      return kSuccess;
    }
  *name = nullptr;
  return kInvalidValue;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  for (const ErrorText &e : kErrors)
    if (e.code == error) {
      *text = e.text;
      return kSuccess;
    }
  *text = nullptr;
  return kInvalidValue;
}

} // extern "C"
