#include "leip/ir/OpRegistry.h"

#include "leip/support/Error.h"

namespace leip::ir {

const TensorType &ShapeContext::input(size_t i) const {
  if (!hasInput(i)) fail("input " + std::to_string(i) + " is required but missing");
  return *types_[i];
}

const Tensor &ShapeContext::requireValue(size_t i, const char *what) const {
  if (!hasInput(i)) fail("input " + std::to_string(i) + " (" + what + ") is required but missing");
  if (!value(i))
    fail("input " + std::to_string(i) + " (" + what + ", tensor '" + node_.input(i)->name() +
         "') must be a constant known at compile time");
  return *values_[i];
}

void ShapeContext::fail(const std::string &message) const {
  throw BadInputError(node_.describe() + ": " + message);
}

const OpTable &opTable() {
  static const OpTable table = [] {
    OpTable t;
    registerElementwiseOps(t);
    registerNNOps(t);
    registerTensorOps(t);
    return t;
  }();
  return table;
}

const OpTable &internalOpTable() {
  static const OpTable table = [] {
    OpTable t;
    registerInternalOps(t);
    return t;
  }();
  return table;
}

const OpInfo *findOp(const std::string &domain, const std::string &opType) {
  bool onnx = domain.empty() || domain == "ai.onnx";
  if (!onnx && domain != kLeipDomain) return nullptr;
  const OpTable &table = onnx ? opTable() : internalOpTable();
  auto it = table.find(opType);
  return it == table.end() ? nullptr : &it->second;
}

std::vector<TensorType> inferNodeTypes(const Node &node, const std::vector<const TensorType *> &inputTypes,
                                       const std::vector<const Tensor *> &inputValues) {
  const OpInfo *info = findOp(node.domain(), node.opType());
  if (!info || !info->inferTypes)
    throw BadInputError(node.describe() + ": op " + (node.domain().empty() ? "" : node.domain() + ".") +
                        node.opType() + " is not supported by leip");
  auto count = static_cast<int>(inputTypes.size());
  if (count < info->minInputs || count > info->maxInputs)
    throw BadInputError(node.describe() + ": has " + std::to_string(count) + " inputs, expected " +
                        (info->minInputs == info->maxInputs
                             ? std::to_string(info->minInputs)
                             : std::to_string(info->minInputs) + " to " + std::to_string(info->maxInputs)));
  ShapeContext ctx(node, inputTypes, inputValues);
  std::vector<TensorType> types = info->inferTypes(ctx);
  if (types.size() < node.numOutputs())
    throw InternalError(node.describe() + ": shape rule gave " + std::to_string(types.size()) + " types for " +
                        std::to_string(node.numOutputs()) + " outputs");
  types.resize(node.numOutputs());
  for (const TensorType &type : types)
    if (!type.isStatic()) ctx.fail("output shape " + type.toString() + " is not static");
  return types;
}

std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

int64_t normalizeAxis(const ShapeContext &ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

} // namespace leip::ir
