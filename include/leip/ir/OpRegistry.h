// The table of ops leip understands, each with its shape rule.
//
// A shape rule computes a node's output types from its input types and, where the output
// shape depends on input *values* (Reshape's shape, Slice's starts, Resize's sizes, ...),
// from those values. Such inputs must be constants by the time rules run: the shape
// inference pass folds the Shape/Gather/Concat arithmetic that exporters emit first.
#pragma once

#include "leip/ir/Graph.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace leip::ir {

class ShapeContext {
public:
  ShapeContext(const Node &node, std::vector<const TensorType *> inputTypes,
               std::vector<const Tensor *> inputValues)
      : node_(node), types_(std::move(inputTypes)), values_(std::move(inputValues)) {}

  const Node &node() const { return node_; }
  const AttributeMap &attrs() const { return node_.attrs(); }
  size_t numInputs() const { return types_.size(); }
  /// True when input i exists (optional inputs may be omitted or named "").
  bool hasInput(size_t i) const { return i < types_.size() && types_[i] != nullptr; }
  /// Type of input i; fails with a message naming the node when it is missing.
  const TensorType &input(size_t i) const;
  /// Constant data of input i, or null when the input is not a constant (or absent).
  const Tensor *value(size_t i) const { return i < values_.size() ? values_[i] : nullptr; }
  /// Constant data of input i; fails ("input 1 (shape) of node 'r' (Reshape) must be a
  /// constant") when it is not known at compile time.
  const Tensor &requireValue(size_t i, const char *what) const;
  /// Throws BadInputError: "<node>: <message>".
  [[noreturn]] void fail(const std::string &message) const;

private:
  const Node &node_;
  std::vector<const TensorType *> types_;
  std::vector<const Tensor *> values_;
};

using ShapeRule = std::vector<TensorType> (*)(const ShapeContext &);

struct OpInfo {
  ShapeRule inferTypes = nullptr;
  /// Accepted input counts (optional inputs included in max).
  int minInputs = 1;
  int maxInputs = 1;
};

/// Map from op type to its info, for one domain.
using OpTable = std::map<std::string, OpInfo>;

/// The domain of the ops leip adds itself (leip.QConv, ...): compiler-internal, produced
/// by passes, never read from or written to ONNX.
inline constexpr const char *kLeipDomain = "leip";
/// leip.QConv sums its products in int32 exactly: each is at most 255 * 128 in magnitude,
/// so a window (C/group * R * S taps) may hold at most this many.
inline constexpr int64_t kQConvMaxTaps = 2147483647 / (255 * 128);

/// The process-wide table of the default ONNX domain (built once, on first use).
const OpTable &opTable();
/// The table of the "leip" domain (src/ir/ops/Internal.cpp).
const OpTable &internalOpTable();
/// Null when leip does not support the op. Domain "" or "ai.onnx" looks in opTable(),
/// "leip" in internalOpTable(); other domains have no ops.
const OpInfo *findOp(const std::string &domain, const std::string &opType);

/// Output types of `node` given its inputs' types and (where constant) values. Checks the
/// input count, then applies the op's rule. Throws BadInputError for unsupported ops and
/// for inputs the op cannot accept.
std::vector<TensorType> inferNodeTypes(const Node &node, const std::vector<const TensorType *> &inputTypes,
                                       const std::vector<const Tensor *> &inputValues);

// Each op family registers itself from its own file under src/ir/ops/.
void registerElementwiseOps(OpTable &table);
void registerNNOps(OpTable &table);
void registerTensorOps(OpTable &table);
/// The "leip" domain's ops, into internalOpTable().
void registerInternalOps(OpTable &table);

// Shared helpers for rules.
/// numpy-style multidirectional broadcast of shapes; nullopt when incompatible.
std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b);
/// Normalizes a possibly negative axis against `rank`; fails via ctx when out of range.
int64_t normalizeAxis(const ShapeContext &ctx, int64_t axis, int64_t rank);
/// The leip dtype of an ONNX TensorProto data type number (Cast's 'to', EyeLike's 'dtype');
/// fails via ctx, naming the ONNX type, for types the IR lacks. Defined in ops/Elementwise.cpp.
DType dtypeFromOnnx(const ShapeContext &ctx, int64_t code);

} // namespace leip::ir
