// Activations fused into Conv, ConvTranspose and Gemm nodes by the fusion pass
// (src/passes/FuseActivations.cpp). A fused node carries two attributes:
//
//   activation         string  "Relu" | "Clip" | "LeakyRelu" | "Sigmoid" | "HardSigmoid" |
//                              "HardSwish" | "Tanh" | "Silu"
//   activation_params  floats  Clip: [min, max]; LeakyRelu: [alpha]; HardSigmoid: [alpha, beta];
//                              none for the others
//
// (the naming of ONNX Runtime's com.microsoft FusedConv). The node computes its ONNX result
// and then applies the activation to every element. The reference interpreter
// (src/interp/kernels/NN.cpp) and the compiler's kernels (src/codegen/kernels/Kernels.h,
// same kind numbers) both understand these attributes; see docs/architecture.md.
#pragma once

#include "leip/ir/Graph.h"
#include "leip/support/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace leip::ir {

/// Kind numbers shared with the compiled kernels (leip::kernels::Activation).
enum class ActivationKind : int32_t {
  None = 0,
  Relu = 1,
  Clip = 2,
  LeakyRelu = 3,
  Sigmoid = 4,
  HardSigmoid = 5,
  HardSwish = 6,
  Tanh = 7,
  Silu = 8,
};

struct FusedActivation {
  ActivationKind kind = ActivationKind::None;
  float alpha = 0.0f; // Clip: min; LeakyRelu, HardSigmoid: alpha
  float beta = 0.0f;  // Clip: max; HardSigmoid: beta

  /// Elementwise value, with the formulas of the interpreter's standalone ops.
  float apply(float x) const {
    switch (kind) {
    case ActivationKind::None: return x;
    case ActivationKind::Relu: return x > 0.0f ? x : 0.0f;
    case ActivationKind::Clip: {
      float v = x < alpha ? alpha : x;
      return v > beta ? beta : v;
    }
    case ActivationKind::LeakyRelu: return x < 0.0f ? alpha * x : x;
    case ActivationKind::Sigmoid: return sigmoid(x);
    case ActivationKind::HardSigmoid: return std::max(0.0f, std::min(1.0f, alpha * x + beta));
    case ActivationKind::HardSwish: return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    case ActivationKind::Tanh: return std::tanh(x);
    case ActivationKind::Silu: return x * sigmoid(x);
    }
    return x;
  }

  static float sigmoid(float x) {
    if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
    float e = std::exp(x);
    return e / (1.0f + e);
  }
};

/// The activation names of the attribute, indexed by kind.
inline const char *activationName(ActivationKind kind) {
  static const char *const names[] = {"None",        "Relu",      "Clip", "LeakyRelu", "Sigmoid",
                                      "HardSigmoid", "HardSwish", "Tanh", "Silu"};
  return names[static_cast<int>(kind)];
}

/// The node's fused activation (kind None when it has no 'activation' attribute). Throws
/// BadInputError naming the node for an unknown name or a wrong parameter count.
inline FusedActivation fusedActivation(const Node &node) {
  FusedActivation act;
  if (!node.attrs().has("activation")) return act;
  std::string name = node.attrs().getString("activation", "");
  std::vector<float> params = node.attrs().getFloats("activation_params");
  for (int k = 1; k <= static_cast<int>(ActivationKind::Silu); ++k)
    if (name == activationName(static_cast<ActivationKind>(k))) act.kind = static_cast<ActivationKind>(k);
  size_t want = 0;
  switch (act.kind) {
  case ActivationKind::None:
    throw BadInputError(node.describe() + ": unknown fused activation '" + name + "'");
  case ActivationKind::Clip:
  case ActivationKind::HardSigmoid: want = 2; break;
  case ActivationKind::LeakyRelu: want = 1; break;
  default: break;
  }
  if (params.size() != want)
    throw BadInputError(node.describe() + ": fused activation " + name + " needs " + std::to_string(want) +
                        " activation_params, got " + std::to_string(params.size()));
  if (want > 0) act.alpha = params[0];
  if (want > 1) act.beta = params[1];
  return act;
}

/// Sets the node's activation attributes (kind None removes them).
inline void setFusedActivation(Node &node, const FusedActivation &act) {
  if (act.kind == ActivationKind::None) {
    node.attrs().erase("activation");
    node.attrs().erase("activation_params");
    return;
  }
  node.attrs().set("activation", std::string(activationName(act.kind)));
  std::vector<float> params;
  if (act.kind == ActivationKind::Clip || act.kind == ActivationKind::HardSigmoid) params = {act.alpha, act.beta};
  if (act.kind == ActivationKind::LeakyRelu) params = {act.alpha};
  if (params.empty()) node.attrs().erase("activation_params");
  else node.attrs().set("activation_params", params);
}

} // namespace leip::ir
