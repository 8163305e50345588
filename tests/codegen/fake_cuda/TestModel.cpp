// The descriptor of the CUDA runtime tests' model (TestModel.h), linked with
// src/runtime/cuda/CudaRuntime.cpp into a test artifact without the leip compiler; its
// PTX is TestKernels.cu's.
#include "TestModel.h"

#include "../../../src/runtime/cuda/CudaModelDesc.h"

#include <string.h>

using namespace cuda_test_model;

namespace {

// The PTX of TestKernels.cu (the build embeds it as a string literal).
const char kPtx[] =
#include "TestKernels.ptx.inc"
    ;
// Mutable, so that tests can hand the runtime broken PTX (the descriptor stays const).
char gPtx[16384] =
#include "TestKernels.ptx.inc"
    ;
static_assert(sizeof kPtx < sizeof gPtx, "the test kernels' PTX outgrew gPtx");

const int64_t kDimsX[] = {2, 3};
const int64_t kDimsScale[] = {3};
const int64_t kDimsY[] = {2, 3};
const int64_t kDimsCount[] = {1};

const leip_tensor_desc kInputs[] = {
    {"x", 0 /* float32 */, 2, kDimsX, kBytesX},
    {"scale", 0, 1, kDimsScale, kBytesScale},
};
const leip_tensor_desc kOutputs[] = {
    {"y", 0, 2, kDimsY, kBytesY},
    {"count", 4 /* int32 */, 1, kDimsCount, kBytesCount},
};
const int64_t kInputOffsets[] = {kOffsetX, kOffsetScale};
const int64_t kOutputOffsets[] = {kOffsetY, kOffsetCount};

constexpr leip_cuda_launch toDesc(const Launch &l) {
  return {l.kernel, {l.grid[0], l.grid[1], l.grid[2]}, {l.block[0], l.block[1], l.block[2]}};
}
const leip_cuda_launch kLaunchDescs[] = {toDesc(kLaunches[0]), toDesc(kLaunches[1]), toDesc(kLaunches[2])};

struct Weights {
  float values[kWeightFloats];
};
constexpr Weights makeWeights() {
  Weights w{};
  for (int i = 0; i < kWeightFloats; ++i) w.values[i] = weight(i);
  return w;
}
constexpr Weights kWeights = makeWeights();

} // namespace

extern "C" {

const leip_cuda_model_desc leip_cuda_compiled_model = {
    1, kNumInputs, kNumOutputs, kNumLaunches, kInputs, kOutputs, kInputOffsets, kOutputOffsets, kLaunchDescs, gPtx,
    reinterpret_cast<const char *>(kWeights.values), sizeof kWeights.values, kArenaBytes, kComputeCapability};

void cuda_test_model_set_ptx(const char *ptx) {
  const char *text = ptx ? ptx : kPtx;
  strncpy(gPtx, text, sizeof gPtx - 1);
  gPtx[sizeof gPtx - 1] = 0;
}

} // extern "C"
