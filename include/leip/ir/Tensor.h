// Shapes, tensor types, quantization parameters and tensors holding data.
#pragma once

#include "leip/ir/DType.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace leip::ir {

/// A dimension that is not known yet (a dynamic ONNX dim before --input_shapes binds it).
inline constexpr int64_t kDynamicDim = -1;

using Shape = std::vector<int64_t>;

/// Number of elements; 1 for a scalar. Throws BadInputError when the count overflows
/// int64 or a dim is negative/dynamic.
int64_t numElements(const Shape &shape);
bool isStatic(const Shape &shape);
/// "[1,3,224,224]"; dynamic dims print as "?".
std::string shapeToString(const Shape &shape);
/// Row-major strides in elements.
std::vector<int64_t> stridesOf(const Shape &shape);

/// Affine quantization: real = scale * (q - zeroPoint). Per-tensor when axis is empty
/// (one scale and zero point), per-channel along `axis` otherwise (one per channel).
struct QuantParams {
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints;
  std::optional<int64_t> axis;
  DType storage = DType::I8; // the integer type holding quantized values

  bool perChannel() const { return axis.has_value(); }
  bool operator==(const QuantParams &) const = default;
};

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;
  /// Set on tensors whose values are quantized (or that a compress step will quantize).
  std::optional<QuantParams> quant;

  int64_t numElements() const { return ir::numElements(shape); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  size_t byteSize() const { return static_cast<size_t>(numElements()) * dtypeSize(dtype); }
  bool isStatic() const { return ir::isStatic(shape); }
  std::string toString() const; // "f32[1,3,224,224]"
  bool operator==(const TensorType &) const = default;
};

/// A dense, row-major tensor that owns its bytes (64-byte aligned).
class Tensor {
public:
  Tensor() = default;
  /// Zero-initialized tensor of the given static type.
  explicit Tensor(TensorType type);
  Tensor(DType dtype, Shape shape) : Tensor(TensorType{dtype, std::move(shape), {}}) {}

  /// A tensor copying `values`; T must match dtype's C++ type.
  template <typename T> static Tensor fromVector(DType dtype, Shape shape, const std::vector<T> &values) {
    Tensor t(dtype, std::move(shape));
    if (values.size() * sizeof(T) != t.byteSize())
      throwSizeMismatch(values.size() * sizeof(T), t.byteSize());
    // An empty vector's data() may be null, which memcpy must not get even for 0 bytes.
    if (t.byteSize()) std::memcpy(t.rawData(), values.data(), t.byteSize());
    return t;
  }
  static Tensor scalar(float value);
  static Tensor scalarI64(int64_t value);

  const TensorType &type() const { return type_; }
  TensorType &mutableType() { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape &shape() const { return type_.shape; }
  int64_t rank() const { return type_.rank(); }
  int64_t numElements() const { return type_.numElements(); }
  size_t byteSize() const { return type_.byteSize(); }

  void *rawData() { return data_.get(); }
  const void *rawData() const { return data_.get(); }
  template <typename T> T *data() { return static_cast<T *>(rawData()); }
  template <typename T> const T *data() const { return static_cast<const T *>(rawData()); }
  template <typename T> std::span<T> values() { return {data<T>(), static_cast<size_t>(numElements())}; }
  template <typename T> std::span<const T> values() const {
    return {data<T>(), static_cast<size_t>(numElements())};
  }

  /// Element i converted to double / int64, whatever the dtype (slow; for shape math,
  /// printing and tests, not kernels).
  double getAsDouble(int64_t index) const;
  int64_t getAsInt64(int64_t index) const;
  void setFromDouble(int64_t index, double value); // saturating/rounding as a cast would
  /// All elements as int64 (for shape-like tensors: Reshape shapes, Slice starts, ...).
  std::vector<int64_t> toInt64Vector() const;
  std::vector<float> toFloatVector() const;

  /// Same bytes, new shape (element count must match).
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;
  /// Converts to another dtype with ONNX Cast semantics.
  Tensor castTo(DType dtype) const;

private:
  [[noreturn]] static void throwSizeMismatch(size_t given, size_t expected);
  struct FreeDeleter {
    void operator()(void *p) const;
  };
  TensorType type_;
  std::shared_ptr<void> data_; // shared so copies are cheap; clone() for a deep copy
};

} // namespace leip::ir
