// The controls of the fake CUDA driver (FakeCuda.cpp, built as libcuda.so.1) that the
// CUDA runtime tests use. The fake implements the driver functions CudaRuntime.cpp calls
// on the host: device memory is host memory (a CUdeviceptr is its address), copies are
// memcpy, a module keeps its PTX text, launches are recorded (and handed to a hook that
// may emulate the kernel) but run nothing.
//
// Without these calls it behaves as one device "Fake CUDA Device" of compute capability
// 8.0; FAKE_CUDA_DEVICE_COUNT and FAKE_CUDA_CC (e.g. 75) change that when cuInit runs.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fake_cuda_launch_record {
  char kernel[64];
  unsigned grid[3];
  unsigned block[3];
  unsigned long long arena;   // the kernel's first parameter (a CUdeviceptr)
  unsigned long long weights; // the second
  void *stream;
  int via_graph; // replayed from an instantiated graph, not launched directly
} fake_cuda_launch_record;

/// Back to the defaults: one device of compute capability 8.0, no injected failures, no
/// hook, no recorded launches. Live objects (memory, modules...) stay and stay counted.
void fake_cuda_reset(void);
void fake_cuda_set_devices(int count, int major, int minor);

/// The `nth` call (1 = the next) of driver function `function` (its exported name, e.g.
/// "cuMemAlloc_v2") from now on returns `code`; nth 0: every call until reset.
void fake_cuda_fail_call(const char *function, int nth, int code);
/// Every launch of `kernel` (directly or in a graph being captured or launched) fails with `code`.
void fake_cuda_fail_kernel(const char *kernel, int code);
/// The error log an injected cuModuleLoadDataEx failure writes to CU_JIT_ERROR_LOG_BUFFER.
void fake_cuda_set_jit_log(const char *log);

/// Called for every recorded launch, in order, on the launching thread (under no lock).
typedef void (*fake_cuda_launch_hook)(const fake_cuda_launch_record *launch, void *user);
void fake_cuda_set_launch_hook(fake_cuda_launch_hook hook, void *user);

int fake_cuda_launch_count(void);
/// Copies launch `index` (in launch order) to `out`; 0 when out of range.
int fake_cuda_get_launch(int index, fake_cuda_launch_record *out);
void fake_cuda_clear_launches(void);

/// Device memory the test owns (for run_device), freed with fake_cuda_free.
unsigned long long fake_cuda_alloc(unsigned long long bytes);
void fake_cuda_free(unsigned long long ptr);
/// Size of the live allocation that starts at `ptr`, or -1.
long long fake_cuda_allocation_size(unsigned long long ptr);

/// What is alive now: device allocations (the test's own included), modules, streams,
/// graphs and instantiated graphs, events, and primary-context retains (all devices).
int fake_cuda_live_allocations(void);
int fake_cuda_live_modules(void);
int fake_cuda_live_streams(void);
int fake_cuda_live_graphs(void);
int fake_cuda_live_graph_execs(void);
int fake_cuda_live_events(void);
int fake_cuda_primary_retains(void);
/// The device ordinal of the last cuDevicePrimaryCtxRetain, -1 if none.
int fake_cuda_last_retained_device(void);
/// The calling thread's current context (top of its stack), null when none.
void *fake_cuda_current_context(void);
/// How often cuInit ran in this process.
int fake_cuda_init_calls(void);
/// Misuse that returned an error the runtime may ignore (it frees without checking):
/// freeing unknown handles, popping an empty context stack, releasing a current primary
/// context... "" when none since the last reset.
const char *fake_cuda_misuse(void);

#ifdef __cplusplus
}
#endif
