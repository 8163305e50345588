#include "leip/ir/Tensor.h"

#include "leip/support/Error.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace leip::ir {

int64_t numElements(const Shape &shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      throw BadInputError("shape " + shapeToString(shape) + " has a dynamic or negative dimension");
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim)
      throw BadInputError("shape " + shapeToString(shape) + " has more elements than fit in 64 bits");
    count *= dim;
  }
  return count;
}

bool isStatic(const Shape &shape) {
  for (int64_t dim : shape)
    if (dim < 0) return false;
  return true;
}

std::string shapeToString(const Shape &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ",";
    out += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return out + "]";
}

std::vector<int64_t> stridesOf(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    strides[i - 1] = strides[i] * shape[i];
  return strides;
}

std::string TensorType::toString() const { return std::string(dtypeName(dtype)) + shapeToString(shape); }

void Tensor::FreeDeleter::operator()(void *p) const { std::free(p); }

Tensor::Tensor(TensorType type) : type_(std::move(type)) {
  size_t bytes = type_.byteSize(); // throws for dynamic or overflowing shapes
  if (bytes / dtypeSize(type_.dtype) != static_cast<size_t>(type_.numElements()))
    throw BadInputError("tensor " + type_.toString() + " is too large to allocate");
  // Round up so that aligned_alloc's size requirement holds; never allocate zero bytes.
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void *memory = std::aligned_alloc(64, rounded);
  if (!memory) throw BadInputError("cannot allocate " + std::to_string(bytes) + " bytes for tensor " + type_.toString());
  std::memset(memory, 0, rounded);
  data_ = std::shared_ptr<void>(memory, FreeDeleter{});
}

void Tensor::throwSizeMismatch(size_t given, size_t expected) {
  throw InternalError("tensor data has " + std::to_string(given) + " bytes, expected " + std::to_string(expected));
}

Tensor Tensor::scalar(float value) { return fromVector<float>(DType::F32, {}, {value}); }
Tensor Tensor::scalarI64(int64_t value) { return fromVector<int64_t>(DType::I64, {}, {value}); }

double Tensor::getAsDouble(int64_t i) const {
  switch (dtype()) {
  case DType::F32: return data<float>()[i];
  case DType::F16: return halfToFloat(data<uint16_t>()[i]);
  case DType::I8: return data<int8_t>()[i];
  case DType::U8: return data<uint8_t>()[i];
  case DType::I32: return data<int32_t>()[i];
  case DType::I64: return static_cast<double>(data<int64_t>()[i]);
  case DType::Bool: return data<uint8_t>()[i] ? 1.0 : 0.0;
  }
  return 0;
}

int64_t Tensor::getAsInt64(int64_t i) const {
  switch (dtype()) {
  case DType::I8: return data<int8_t>()[i];
  case DType::U8: return data<uint8_t>()[i];
  case DType::I32: return data<int32_t>()[i];
  case DType::I64: return data<int64_t>()[i];
  case DType::Bool: return data<uint8_t>()[i] ? 1 : 0;
  default: break;
  }
  double value = getAsDouble(i);
  if (std::isnan(value)) return 0;
  if (value >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (value <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(value); // truncation toward zero, as ONNX Cast does
}

namespace {
// Float -> integer conversion with truncation and without undefined behaviour for NaN/inf.
template <typename T> T truncateTo(double value) {
  if (std::isnan(value)) return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<int64_t>::min());
  constexpr double hi = 9.2233720368547758e18;
  int64_t wide = value >= hi ? std::numeric_limits<int64_t>::max()
                 : value <= lo ? std::numeric_limits<int64_t>::min()
                               : static_cast<int64_t>(value);
  return static_cast<T>(wide); // wraps like a C cast of an in-range int64
}
} // namespace

void Tensor::setFromDouble(int64_t i, double value) {
  switch (dtype()) {
  case DType::F32: data<float>()[i] = static_cast<float>(value); break;
  case DType::F16: data<uint16_t>()[i] = floatToHalf(static_cast<float>(value)); break;
  case DType::I8: data<int8_t>()[i] = truncateTo<int8_t>(value); break;
  case DType::U8: data<uint8_t>()[i] = truncateTo<uint8_t>(value); break;
  case DType::I32: data<int32_t>()[i] = truncateTo<int32_t>(value); break;
  case DType::I64: data<int64_t>()[i] = truncateTo<int64_t>(value); break;
  case DType::Bool: data<uint8_t>()[i] = value != 0.0 ? 1 : 0; break;
  }
}

std::vector<int64_t> Tensor::toInt64Vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numElements()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = getAsInt64(static_cast<int64_t>(i));
  return out;
}

std::vector<float> Tensor::toFloatVector() const {
  std::vector<float> out(static_cast<size_t>(numElements()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(getAsDouble(static_cast<int64_t>(i)));
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (ir::numElements(shape) != numElements())
    throw InternalError("cannot reshape " + type_.toString() + " to " + shapeToString(shape));
  Tensor out = *this;
  out.type_.shape = std::move(shape);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out(type_);
  if (byteSize()) std::memcpy(out.rawData(), rawData(), byteSize());
  return out;
}

Tensor Tensor::castTo(DType target) const {
  TensorType outType = type_;
  outType.dtype = target;
  outType.quant.reset();
  Tensor out(outType);
  int64_t n = numElements();
  if (target == dtype()) {
    if (byteSize()) std::memcpy(out.rawData(), rawData(), byteSize());
    return out;
  }
  bool exactIntegers = isInteger(dtype()) || dtype() == DType::Bool;
  for (int64_t i = 0; i < n; ++i) {
    if (exactIntegers && (isInteger(target) || target == DType::Bool)) {
      // Integer -> integer keeps all 64 bits of precision (doubles would lose some).
      int64_t v = getAsInt64(i);
      switch (target) {
      case DType::I8: out.data<int8_t>()[i] = static_cast<int8_t>(v); break;
      case DType::U8: out.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
      case DType::I32: out.data<int32_t>()[i] = static_cast<int32_t>(v); break;
      case DType::I64: out.data<int64_t>()[i] = v; break;
      case DType::Bool: out.data<uint8_t>()[i] = v != 0; break;
      default: break;
      }
    } else {
      out.setFromDouble(i, getAsDouble(i));
    }
  }
  return out;
}

} // namespace leip::ir
