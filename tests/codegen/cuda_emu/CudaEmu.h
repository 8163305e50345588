// A CPU emulator for leip's NVIDIA kernels (src/codegen/kernels_cuda/), for the host test
// build that compiles the .cu files as C++ with LEIP_GPU_EMULATION (Device.cuh maps the
// thread/block indices, syncThreads and LEIP_SHARED onto it).
//
// launch() runs a kernel as the GPU would for a Launch: every block of the grid (x fastest,
// then y, then z), one after another, each with blockDim std::threads that run concurrently
// and meet at syncThreads() (a std::barrier). Shared arrays are function statics, which is
// right because no two blocks run at once.
#pragma once

#include <barrier>
#include <cstdint>
#include <functional>

namespace leip::gpu {
struct Launch;
}

namespace leip::gpu::emu {

struct ThreadState {
  uint32_t threadIdx[3] = {0, 0, 0};
  uint32_t blockIdx[3] = {0, 0, 0};
  uint32_t blockDim[3] = {1, 1, 1};
  uint32_t gridDim[3] = {1, 1, 1};
  std::barrier<> *barrier = nullptr;
};

/// The calling emulated thread's indices. constinit (here and at the definition): without
/// it GCC reaches the variable through a TLS wrapper that may call a dynamic initializer,
/// and under -fsanitize=undefined it then reported a member access within a null
/// ThreadState in some kernels (CudaMaxPool.IntegerWindows, CudaConv.Depthwise).
extern thread_local constinit ThreadState current;

/// __syncthreads(): waits for every thread of the block.
void syncThreads();

/// Runs `body` (which calls the kernel) once per thread of every block of `launch`.
/// Throws std::invalid_argument when the geometry breaks a CUDA limit (more than 1024
/// threads per block, grid.x >= 2^31, grid.y or grid.z > 65535, a zero dimension).
void launch(const Launch &launch, const std::function<void()> &body);

/// Blocks and threads run by every launch() so far (a test can check that a variant
/// really ran several blocks).
struct Counters {
  uint64_t blocks = 0;
  uint64_t threads = 0;
};
Counters counters();

} // namespace leip::gpu::emu
