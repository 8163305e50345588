// The hand-written model of the CUDA runtime tests (TestModel.cpp builds its descriptor;
// CudaRuntimeTest.cpp checks the runtime against these numbers): two inputs, two
// outputs, three launches, 48 bytes of weights, compiled "for sm_80".
//
// The tests' launch hook emulates the kernels on the fake driver's host memory:
//   leip_gpu_0: y[i] = x[i] * scale[i % 3] + bias[i]   (bias: the first 6 weight floats)
//   leip_gpu_1: y[i] = 2 * y[i]
//   leip_gpu_2: count = number of y[i] > 0
#pragma once

#include <stdint.h>

namespace cuda_test_model {

constexpr int kNumInputs = 2, kNumOutputs = 2, kNumLaunches = 3;
constexpr int64_t kArenaBytes = 2048;
// Offsets in the arena; none is 0, so that an offset left out would show.
constexpr int64_t kOffsetX = 256, kOffsetScale = 64, kOffsetY = 512, kOffsetCount = 1000;
constexpr int64_t kBytesX = 24, kBytesScale = 12, kBytesY = 24, kBytesCount = 4;
constexpr int kWeightFloats = 12;
constexpr int kComputeCapability = 80;

struct Launch {
  const char *kernel;
  unsigned grid[3], block[3];
};
constexpr Launch kLaunches[kNumLaunches] = {
    {"leip_gpu_0", {2, 1, 1}, {128, 1, 1}},
    {"leip_gpu_1", {3, 4, 5}, {32, 4, 2}},
    {"leip_gpu_2", {1, 1, 1}, {1, 1, 1}},
};

/// Weight float i: distinct, non-trivial values.
constexpr float weight(int i) { return 0.25f * static_cast<float>(i) - 1.0f; }

} // namespace cuda_test_model

extern "C" {
/// Replaces the model's PTX text (null: back to the original); exported by the test artifact.
void cuda_test_model_set_ptx(const char *ptx);
}
