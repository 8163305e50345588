// Lowering of one graph step to launches of the NVIDIA kernels (src/codegen/kernels_cuda).
// A rule reads the node, fills the kernel's <Op>Params (kernels_cuda/Params.h), asks the
// kernel's plan for the variant, grid and block, and calls launch(): that emits one
// `__global__ void leip_gpu_<n>(char *arena, const char *weights)` entry calling the kernel
// with the params as a constant, so that after inlining every shape is a constant. See
// docs/cuda.md.
#pragma once

#include "../CompilerSupport.h"
#include "../kernels_cuda/Params.h"

#include "leip/ir/Graph.h"

#include <llvm/IR/Module.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace leip::codegen::cuda {

/// Alignment of the device arena's blocks and of each weight in the weights blob (what
/// cudaMalloc guarantees, and enough for any vector load).
constexpr int64_t kDeviceAlignment = 256;

/// Where a tensor lives on the device: a byte offset into the activation arena or into the
/// weights blob; None for an omitted optional input.
struct DeviceAddress {
  enum Kind { None, Arena, Weights } kind = None;
  int64_t offset = 0;
};

/// One kernel launch of the artifact (the host runtime's launch table).
struct LaunchRecord {
  std::string entry; // leip_gpu_<n>
  gpu::Launch launch;
};

/// What the rules of one device module share.
struct DeviceModuleState {
  explicit DeviceModuleState(llvm::Module &module) : mod(module) {}
  llvm::Module &mod;
  std::unordered_map<const ir::Value *, DeviceAddress> storage; // activations (arena)
  std::unordered_map<const ir::Value *, int64_t> constantOffsets; // constants already in the blob
  std::string weights;                                             // the weights blob
  std::vector<LaunchRecord> launches;
  /// Appends `bytes` to the weights blob (kDeviceAlignment aligned); returns the offset.
  int64_t addWeights(const void *data, size_t bytes);
};

/// Emits a launch of `plan`: a `leip_gpu_<n>(arena, weights)` entry that calls the kernel
/// with a pointer to the `bytes` of its params (as a constant) and the tensors' addresses,
/// in the kernel's argument order. `what` names the launch's op in internal errors.
void emitLaunch(DeviceModuleState &state, const gpu::Launch &plan, const void *params, size_t bytes,
                const std::vector<DeviceAddress> &tensors, const std::string &what);

class GpuLowering {
public:
  GpuLowering(DeviceModuleState &state, const Step &step) : state_(state), step_(step) {}

  const ir::Node &node() const { return *step_.node; }
  const std::vector<ir::Value *> &outputs() const { return step_.outputs(); }
  /// What the node's kernel adds before the activation (a folded Add's other operand), or null.
  const ir::Value *residual() const { return step_.residual; }
  /// The activation fused into the node or absorbed from the next one.
  gpu::Activation activation() const;

  /// Throws the BadInputError for a node the cuda target cannot compile, with the reason.
  [[noreturn]] void fail(const std::string &why = "") const;
  /// fail() unless every input (the first `dataInputs`) and output in use is float32.
  void requireFloat32(size_t dataInputs = SIZE_MAX) const;

  /// The device address of `value` (constants are added to the weights blob once).
  DeviceAddress tensor(const ir::Value *value);
  /// A constant derived at compile time (transposed or scaled weights), in the blob.
  DeviceAddress derived(const std::vector<float> &values);
  static DeviceAddress none() { return {}; }

  /// emitLaunch for this node.
  template <class Params>
  void launch(const gpu::Launch &plan, const Params &params, const std::vector<DeviceAddress> &tensors) {
    emitLaunch(state_, plan, &params, sizeof(Params), tensors, node().opType());
  }

private:

  DeviceModuleState &state_;
  const Step &step_;
};

using GpuLowerFn = void (*)(GpuLowering &);

/// The rule for `node`'s op, or nullptr when the cuda target cannot compile it.
GpuLowerFn findGpuLowering(const ir::Node &node);

} // namespace leip::codegen::cuda
