// The kernel emulator (see CudaEmu.h).
#include "CudaEmu.h"

#include "Params.h"

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace leip::gpu::emu {

thread_local constinit ThreadState current;

namespace {
Counters totals;
} // namespace

void syncThreads() { current.barrier->arrive_and_wait(); }

Counters counters() { return totals; }

void launch(const Launch &l, const std::function<void()> &body) {
  for (int d = 0; d < 3; ++d)
    if (l.grid[d] == 0 || l.block[d] == 0) throw std::invalid_argument(std::string(l.kernel) + ": a zero launch dimension");
  if (l.grid[0] > 0x7fffffffu || l.grid[1] > 65535 || l.grid[2] > 65535)
    throw std::invalid_argument(std::string(l.kernel) + ": grid beyond CUDA's limits");
  if (l.block[2] > 64 || static_cast<uint64_t>(l.block[0]) * l.block[1] * l.block[2] > 1024)
    throw std::invalid_argument(std::string(l.kernel) + ": block beyond CUDA's limits");
  const uint32_t threads = l.block[0] * l.block[1] * l.block[2];
  std::barrier<> barrier(threads);
  auto run = [&](uint32_t t) {
    current.threadIdx[0] = t % l.block[0];
    current.threadIdx[1] = t / l.block[0] % l.block[1];
    current.threadIdx[2] = t / (l.block[0] * l.block[1]);
    for (int d = 0; d < 3; ++d) {
      current.blockDim[d] = l.block[d];
      current.gridDim[d] = l.grid[d];
    }
    current.barrier = &barrier;
    for (uint32_t z = 0; z < l.grid[2]; ++z)
      for (uint32_t y = 0; y < l.grid[1]; ++y)
        for (uint32_t x = 0; x < l.grid[0]; ++x) {
          current.blockIdx[0] = x;
          current.blockIdx[1] = y;
          current.blockIdx[2] = z;
          body();
          // No thread starts the next block (and overwrites the shared arrays) before
          // every thread has finished this one.
          barrier.arrive_and_wait();
        }
    current = ThreadState{};
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (uint32_t t = 0; t < threads; ++t) pool.emplace_back(run, t);
  for (std::thread &th : pool) th.join();
  totals.blocks += static_cast<uint64_t>(l.grid[0]) * l.grid[1] * l.grid[2];
  totals.threads += static_cast<uint64_t>(l.grid[0]) * l.grid[1] * l.grid[2] * threads;
}

} // namespace leip::gpu::emu
