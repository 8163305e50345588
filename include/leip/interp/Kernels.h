// Reference kernels: one function per op, simple and obviously correct, in fp32 (plus the
// integer paths that shape arithmetic and Quantize/DequantizeLinear need).
#pragma once

#include "leip/ir/Graph.h"

#include <map>
#include <string>
#include <vector>

namespace leip::interp {

class KernelContext {
public:
  KernelContext(const ir::Node &node, std::vector<const ir::Tensor *> inputs, std::vector<ir::Tensor> &outputs)
      : node_(node), inputs_(std::move(inputs)), outputs_(outputs) {}

  const ir::Node &node() const { return node_; }
  const ir::AttributeMap &attrs() const { return node_.attrs(); }
  size_t numInputs() const { return inputs_.size(); }
  bool hasInput(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const ir::Tensor &input(size_t i) const;
  size_t numOutputs() const { return outputs_.size(); }
  /// Output i, already allocated (zeroed) with the type the shape rule inferred.
  ir::Tensor &output(size_t i) { return outputs_.at(i); }
  [[noreturn]] void fail(const std::string &message) const;

private:
  const ir::Node &node_;
  std::vector<const ir::Tensor *> inputs_;
  std::vector<ir::Tensor> &outputs_;
};

using KernelFn = void (*)(KernelContext &);
using KernelTable = std::map<std::string, KernelFn>;

const KernelTable &kernelTable();
/// Null when no kernel exists.
KernelFn findKernel(const std::string &domain, const std::string &opType);

// Each op family registers its kernels from its own file under src/interp/kernels/.
void registerElementwiseKernels(KernelTable &table);
void registerNNKernels(KernelTable &table);
void registerTensorKernels(KernelTable &table);

/// Runs one node on concrete inputs: infers output types, allocates, runs the kernel.
std::vector<ir::Tensor> evaluateNode(const ir::Node &node, const std::vector<const ir::Tensor *> &inputs);

/// Pad's index rule, shared with the compiled Pad: the input coordinate that output
/// coordinate `o` of a padded axis reads (axis length `dim`, pads `begin`/`end`, negative
/// ones crop; `mode` constant, edge or reflect, reflect periodic for pads longer than the
/// axis), or -1 where the constant value fills.
int64_t padSourceIndex(int64_t o, int64_t dim, int64_t begin, int64_t end, const std::string &mode);

} // namespace leip::interp
