// Reference kernels of the elementwise family: broadcasting binary ops (BitShift included),
// unary activations and math, logical ops, Cast/Identity/Dropout, reductions, CumSum,
// ArgMax/ArgMin and QuantizeLinear/DequantizeLinear/DynamicQuantizeLinear. Shape rules
// (src/ir/ops/Elementwise.cpp) have checked dtypes and shapes before a kernel runs; kernels
// still re-check what could make them read or write out of bounds.
//
// Float kernels compute in f32; f16 tensors are converted around them (viaF32). Integer
// paths exist where ONNX shape arithmetic needs them.
#include "leip/interp/Kernels.h"

#include "KernelUtil.h"
#include "leip/support/Error.h"

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <type_traits>

namespace leip::interp {

namespace {

using ir::DType;
using ir::Shape;
using ir::Tensor;

// ---------------------------------------------------------------------------------------
// Dtype dispatch and conversions

template <typename T> struct Tag {
  using type = T;
};

/// Calls fn(Tag<T>{}) with the C++ element type of a numeric dtype (f16 excluded: viaF32
/// converts it before kernels dispatch). With `withBool`, bool (stored as uint8_t) is
/// accepted as well.
template <typename Fn> void visitNumeric(const KernelContext &ctx, DType type, Fn &&fn, bool withBool = false) {
  switch (type) {
  case DType::F32: fn(Tag<float>{}); return;
  case DType::I8: fn(Tag<int8_t>{}); return;
  case DType::U8: fn(Tag<uint8_t>{}); return;
  case DType::I32: fn(Tag<int32_t>{}); return;
  case DType::I64: fn(Tag<int64_t>{}); return;
  case DType::Bool:
    if (withBool) {
      fn(Tag<uint8_t>{});
      return;
    }
    break;
  case DType::F16: break;
  }
  ctx.fail("the interpreter has no kernel for element type " + std::string(ir::dtypeName(type)));
}

/// double -> T without undefined behaviour: integers truncate toward zero and saturate
/// (NaN becomes 0).
template <typename T> T fromDouble(double value) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(value);
  } else {
    if (std::isnan(value)) return 0;
    if (value <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(value);
  }
}

/// A broken invariant that shape rules should have ruled out: a leip bug, not bad input.
[[noreturn]] void internalError(const KernelContext &ctx, const std::string &message) {
  throw InternalError(ctx.node().describe() + ": " + message);
}

/// Runs `Fn` with every f16 input converted to f32 and every f16 output computed in f32
/// and converted back, so float kernels only deal with f32.
template <KernelFn Fn> void viaF32(KernelContext &ctx) {
  bool anyHalf = false;
  for (size_t i = 0; i < ctx.numInputs(); ++i) anyHalf |= ctx.hasInput(i) && ctx.input(i).dtype() == DType::F16;
  for (size_t i = 0; i < ctx.numOutputs(); ++i) anyHalf |= ctx.output(i).dtype() == DType::F16;
  if (!anyHalf) return Fn(ctx);

  std::vector<Tensor> converted;
  converted.reserve(ctx.numInputs()); // pointers into it must stay valid
  std::vector<const Tensor *> inputs;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) {
      inputs.push_back(nullptr);
    } else if (ctx.input(i).dtype() == DType::F16) {
      converted.push_back(ctx.input(i).castTo(DType::F32));
      inputs.push_back(&converted.back());
    } else {
      inputs.push_back(&ctx.input(i));
    }
  }
  // Tensor copies share storage, so non-f16 outputs are written in place.
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < ctx.numOutputs(); ++i) {
    const Tensor &out = ctx.output(i);
    outputs.push_back(out.dtype() == DType::F16 ? Tensor(DType::F32, out.shape()) : out);
  }
  KernelContext inner(ctx.node(), std::move(inputs), outputs);
  Fn(inner);
  for (size_t i = 0; i < ctx.numOutputs(); ++i) {
    Tensor &out = ctx.output(i);
    if (out.dtype() != DType::F16) continue;
    Tensor half = outputs[i].castTo(DType::F16);
    if (half.byteSize() != out.byteSize()) internalError(ctx, "f16 output size changed");
    if (out.byteSize()) std::memcpy(out.rawData(), half.rawData(), out.byteSize());
  }
}

void copyBytes(const KernelContext &ctx, const Tensor &from, Tensor &to) {
  if (from.byteSize() != to.byteSize())
    internalError(ctx, "cannot copy " + from.type().toString() + " into " + to.type().toString());
  if (to.byteSize()) std::memcpy(to.rawData(), from.rawData(), to.byteSize());
}

// ---------------------------------------------------------------------------------------
// The N-d broadcast walker shared by binary ops, Where, variadic ops and reductions.

/// Element strides of a tensor of shape `in` read as if it had shape `out` (numpy
/// broadcasting: right-aligned, stride 0 along dims where `in` has size 1). `in` must
/// broadcast to `out` (checkBroadcast).
std::vector<int64_t> broadcastStrides(const Shape &in, const Shape &out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> inStrides = ir::stridesOf(in);
  size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[lead + d] = in[d] == 1 ? 0 : inStrides[d];
  return strides;
}

void checkBroadcast(const KernelContext &ctx, const Tensor &in, const Shape &out) {
  bool ok = in.rank() <= static_cast<int64_t>(out.size());
  for (size_t d = 0; ok && d < in.shape().size(); ++d) {
    int64_t dim = in.shape()[d];
    ok = dim == 1 || dim == out[out.size() - in.shape().size() + d];
  }
  if (!ok) ctx.fail("cannot broadcast " + in.type().toString() + " to " + ir::shapeToString(out));
}

/// Walks `shape` in row-major order for N operands given their element strides over it.
/// Dims of size 1 are dropped and adjacent dims that are contiguous for every operand are
/// merged, so equal shapes become one flat run and [N,C,H,W] + [1,C,1,1] runs over H*W.
/// Calls row(offsets, innerStrides, count) once per innermost run.
template <size_t N, typename RowFn>
void forEachRow(const Shape &shape, const std::array<std::vector<int64_t>, N> &strides, RowFn &&row) {
  int64_t total = ir::numElements(shape);
  if (total == 0) return;
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {
      dims.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
    } else {
      dims.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
    }
  }
  std::array<int64_t, N> offsets{};
  std::array<int64_t, N> inner{};
  if (dims.empty()) { // a single element
    row(offsets, inner, int64_t{1});
    return;
  }
  auto outerRank = static_cast<int64_t>(dims.size()) - 1;
  int64_t count = dims.back();
  for (size_t k = 0; k < N; ++k) inner[k] = st[k].back();
  std::vector<int64_t> index(static_cast<size_t>(outerRank), 0);
  for (int64_t run = 0, runs = total / count; run < runs; ++run) {
    row(offsets, inner, count);
    for (int64_t d = outerRank - 1; d >= 0; --d) { // odometer increment of the outer dims
      for (size_t k = 0; k < N; ++k) offsets[k] += st[k][d];
      if (++index[d] < dims[d]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= st[k][d] * dims[d];
      index[d] = 0;
    }
  }
}

/// out = op(a, b) with numpy broadcasting of a and b to out's shape. `out` may alias `a`
/// when both have out's shape (used by the variadic ops' fold).
template <typename A, typename B, typename Out, typename Op>
void binaryMap(const KernelContext &ctx, const Tensor &a, const Tensor &b, Tensor &out, Op op) {
  checkBroadcast(ctx, a, out.shape());
  checkBroadcast(ctx, b, out.shape());
  const A *pa = a.data<A>();
  const B *pb = b.data<B>();
  Out *po = out.data<Out>();
  std::array<std::vector<int64_t>, 3> strides = {ir::stridesOf(out.shape()), broadcastStrides(a.shape(), out.shape()),
                                                 broadcastStrides(b.shape(), out.shape())};
  forEachRow<3>(out.shape(), strides, [&](const auto &off, const auto &st, int64_t n) {
    Out *o = po + off[0];
    const A *x = pa + off[1];
    const B *y = pb + off[2];
    // The output is contiguous; specialize the common operand layouts so loops vectorize.
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(op(x[i], y[i]));
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const B yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(op(x[i], yv));
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const A xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(op(xv, y[i]));
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = static_cast<Out>(op(x[i * st[1]], y[i * st[2]]));
    }
  });
}

/// out = in broadcast to out's shape.
template <typename T> void broadcastCopy(const KernelContext &ctx, const Tensor &in, Tensor &out) {
  checkBroadcast(ctx, in, out.shape());
  const T *pi = in.data<T>();
  T *po = out.data<T>();
  std::array<std::vector<int64_t>, 2> strides = {ir::stridesOf(out.shape()), broadcastStrides(in.shape(), out.shape())};
  forEachRow<2>(out.shape(), strides, [&](const auto &off, const auto &st, int64_t n) {
    for (int64_t i = 0; i < n; ++i) po[off[0] + i * st[0]] = pi[off[1] + i * st[1]];
  });
}

template <typename In, typename Out, typename Op> void unaryMap(const Tensor &in, Tensor &out, Op op) {
  const In *x = in.data<In>();
  Out *y = out.data<Out>();
  for (int64_t i = 0, n = in.numElements(); i < n; ++i) y[i] = static_cast<Out>(op(x[i]));
}

// ---------------------------------------------------------------------------------------
// Binary arithmetic and comparisons

/// Integer +, -, * wrap around (two's complement) instead of overflowing, which is
/// undefined behaviour for signed types.
template <typename T, typename Op> T wrapping(T a, T b, Op op) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(op(static_cast<U>(a), static_cast<U>(b)));
  } else {
    return op(a, b);
  }
}

constexpr auto kAdd = [](auto a, auto b) { return wrapping(a, b, [](auto x, auto y) { return x + y; }); };
constexpr auto kSub = [](auto a, auto b) { return wrapping(a, b, [](auto x, auto y) { return x - y; }); };
constexpr auto kMul = [](auto a, auto b) { return wrapping(a, b, [](auto x, auto y) { return x * y; }); };
constexpr auto kDiv = [](auto a, auto b) {
  using T = decltype(a);
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    // INT_MIN / -1 traps on x86; wrap like the other integer ops (C truncating division).
    if (b == -1) return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(a));
  }
  return static_cast<T>(a / b);
};
// Min/Max propagate NaN like numpy.
constexpr auto kMin = [](auto a, auto b) { return (b < a || b != b) ? b : a; };
constexpr auto kMax = [](auto a, auto b) { return (b > a || b != b) ? b : a; };

/// Integer division and modulo by zero are errors in the model, not signals.
template <typename T> void checkNoZeroDivisor(const KernelContext &ctx, const Tensor &divisor) {
  if constexpr (std::is_integral_v<T>) {
    for (T v : divisor.values<T>())
      if (v == 0) ctx.fail("integer division by zero");
  }
}

/// Add/Sub/Mul/Div on two tensors of one numeric dtype.
template <auto Op, bool Division = false> void arithmeticKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (Division) checkNoZeroDivisor<T>(ctx, ctx.input(1));
    binaryMap<T, T, T>(ctx, ctx.input(0), ctx.input(1), ctx.output(0), Op);
  });
}

/// Sum/Mean/Min/Max over one or more inputs: folds the inputs pairwise into the output.
template <auto Op, bool Mean = false> void variadicKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor &out = ctx.output(0);
    size_t n = ctx.numInputs();
    if (n == 1) {
      broadcastCopy<T>(ctx, ctx.input(0), out);
    } else {
      binaryMap<T, T, T>(ctx, ctx.input(0), ctx.input(1), out, Op);
      for (size_t i = 2; i < n; ++i) binaryMap<T, T, T>(ctx, out, ctx.input(i), out, Op);
    }
    if constexpr (Mean && std::is_floating_point_v<T>) {
      auto count = static_cast<T>(n);
      for (T &v : out.values<T>()) v /= count;
    }
  });
}

void modKernel(KernelContext &ctx) {
  bool cStyle = ctx.attrs().getInt("fmod", 0) != 0;
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      if (!cStyle) ctx.fail("Mod of float inputs requires attribute fmod=1");
      binaryMap<T, T, T>(ctx, ctx.input(0), ctx.input(1), ctx.output(0), [](T a, T b) { return std::fmod(a, b); });
    } else {
      checkNoZeroDivisor<T>(ctx, ctx.input(1));
      binaryMap<T, T, T>(ctx, ctx.input(0), ctx.input(1), ctx.output(0), [cStyle](T a, T b) {
        if constexpr (std::is_signed_v<T>) {
          if (b == -1) return T(0); // INT_MIN % -1 traps on x86
        }
        auto r = static_cast<T>(a % b); // sign of the dividend, like C's fmod
        // fmod=0: Python's %, the result takes the sign of the divisor.
        if (!cStyle && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
        return r;
      });
    }
  });
}

/// Pow(X, Y): X and Y may have different types; the result has X's type.
void powKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto xTag) {
    using X = typename decltype(xTag)::type;
    visitNumeric(ctx, ctx.input(1).dtype(), [&](auto yTag) {
      using Y = typename decltype(yTag)::type;
      binaryMap<X, Y, X>(ctx, ctx.input(0), ctx.input(1), ctx.output(0), [](X x, Y y) {
        if constexpr (std::is_same_v<X, float> && std::is_same_v<Y, float>) return std::pow(x, y);
        else return fromDouble<X>(std::pow(static_cast<double>(x), static_cast<double>(y)));
      });
    });
  });
}

/// Comparisons: numeric (or bool for Equal) inputs, bool output.
template <auto Op> void compareKernel(KernelContext &ctx) {
  visitNumeric(
      ctx, ctx.input(0).dtype(),
      [&](auto tag) {
        using T = typename decltype(tag)::type;
        binaryMap<T, T, uint8_t>(ctx, ctx.input(0), ctx.input(1), ctx.output(0), Op);
      },
      /*withBool=*/true);
}

template <auto Op> void logicalKernel(KernelContext &ctx) {
  binaryMap<uint8_t, uint8_t, uint8_t>(ctx, ctx.input(0), ctx.input(1), ctx.output(0),
                                       [](uint8_t a, uint8_t b) { return Op(a != 0, b != 0); });
}

/// BitShift on u8 (the rule admits nothing else); shifting by 8 or more clears every bit
/// (C++ leaves such shifts undefined).
void bitShiftKernel(KernelContext &ctx) {
  if (ctx.input(0).dtype() != DType::U8 || ctx.input(1).dtype() != DType::U8)
    ctx.fail("BitShift supports u8 inputs, got " + ctx.input(0).type().toString() + " and " +
             ctx.input(1).type().toString());
  bool left = ctx.attrs().getString("direction", "") == "LEFT";
  binaryMap<uint8_t, uint8_t, uint8_t>(ctx, ctx.input(0), ctx.input(1), ctx.output(0), [left](uint8_t x, uint8_t n) {
    if (n >= 8) return uint8_t{0};
    return static_cast<uint8_t>(left ? x << n : x >> n);
  });
}

void whereKernel(KernelContext &ctx) {
  const Tensor &cond = ctx.input(0);
  Tensor &out = ctx.output(0);
  for (size_t i = 0; i < 3; ++i) checkBroadcast(ctx, ctx.input(i), out.shape());
  visitNumeric(
      ctx, ctx.input(1).dtype(),
      [&](auto tag) {
        using T = typename decltype(tag)::type;
        const uint8_t *pc = cond.data<uint8_t>();
        const T *px = ctx.input(1).data<T>();
        const T *py = ctx.input(2).data<T>();
        T *po = out.data<T>();
        std::array<std::vector<int64_t>, 4> strides = {
            ir::stridesOf(out.shape()), broadcastStrides(cond.shape(), out.shape()),
            broadcastStrides(ctx.input(1).shape(), out.shape()), broadcastStrides(ctx.input(2).shape(), out.shape())};
        forEachRow<4>(out.shape(), strides, [&](const auto &off, const auto &st, int64_t n) {
          for (int64_t i = 0; i < n; ++i)
            po[off[0] + i * st[0]] = pc[off[1] + i * st[1]] ? px[off[2] + i * st[2]] : py[off[3] + i * st[3]];
        });
      },
      /*withBool=*/true);
}

void preluKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    binaryMap<T, T, T>(ctx, ctx.input(0), ctx.input(1), ctx.output(0),
                       [](T x, T slope) { return x < 0 ? static_cast<T>(x * slope) : x; });
  });
}

// ---------------------------------------------------------------------------------------
// Unary ops

/// f32 -> f32 with a stateless function.
template <auto Op> void floatUnary(KernelContext &ctx) {
  if (ctx.input(0).dtype() != DType::F32)
    ctx.fail("expected an f32 input, got " + ctx.input(0).type().toString());
  unaryMap<float, float>(ctx.input(0), ctx.output(0), Op);
}

/// f32 -> f32 with a function built from the node's attributes.
template <typename Op> void mapFloat(KernelContext &ctx, Op op) {
  if (ctx.input(0).dtype() != DType::F32)
    ctx.fail("expected an f32 input, got " + ctx.input(0).type().toString());
  unaryMap<float, float>(ctx.input(0), ctx.output(0), op);
}

/// Same dtype in and out, any numeric dtype; Op is a generic lambda.
template <auto Op> void numericUnary(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    unaryMap<T, T>(ctx.input(0), ctx.output(0), [](T x) { return static_cast<T>(Op(x)); });
  });
}

constexpr auto kRelu = [](auto x) { return x > 0 ? x : decltype(x)(0); };
constexpr auto kAbs = [](auto x) {
  using T = decltype(x);
  if constexpr (std::is_unsigned_v<T>) return x;
  else if constexpr (std::is_floating_point_v<T>) return std::fabs(x);
  else return x < 0 ? static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(x)) : x; // wraps INT_MIN
};
constexpr auto kNeg = [](auto x) {
  using T = decltype(x);
  if constexpr (std::is_floating_point_v<T>) return -x;
  else return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(x));
};
constexpr auto kSign = [](auto x) {
  using T = decltype(x);
  if constexpr (std::is_floating_point_v<T>) {
    if (x != x) return x; // NaN stays NaN
  }
  return static_cast<T>((x > 0) - (x < 0));
};

float sigmoid(float x) {
  // Both branches avoid exp overflow.
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

float softplus(float x) {
  // log(1 + exp(x)) without exp overflow.
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

void leakyReluKernel(KernelContext &ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 0.01f);
  mapFloat(ctx, [alpha](float x) { return x < 0 ? alpha * x : x; });
}

void eluKernel(KernelContext &ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  mapFloat(ctx, [alpha](float x) { return x < 0 ? alpha * std::expm1(x) : x; });
}

void seluKernel(KernelContext &ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.67326319217681884765625f);
  float gamma = ctx.attrs().getFloat("gamma", 1.05070102214813232421875f);
  mapFloat(ctx, [alpha, gamma](float x) { return x > 0 ? gamma * x : gamma * alpha * std::expm1(x); });
}

void celuKernel(KernelContext &ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  if (alpha == 0) ctx.fail("attribute alpha must not be 0");
  mapFloat(ctx, [alpha](float x) { return std::max(0.0f, x) + std::min(0.0f, alpha * std::expm1(x / alpha)); });
}

void thresholdedReluKernel(KernelContext &ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  mapFloat(ctx, [alpha](float x) { return x > alpha ? x : 0.0f; });
}

void hardSigmoidKernel(KernelContext &ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 0.2f);
  float beta = ctx.attrs().getFloat("beta", 0.5f);
  mapFloat(ctx, [alpha, beta](float x) { return std::max(0.0f, std::min(1.0f, alpha * x + beta)); });
}

void shrinkKernel(KernelContext &ctx) {
  double lambd = ctx.attrs().getFloat("lambd", 0.5f);
  double bias = ctx.attrs().getFloat("bias", 0.0f);
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    unaryMap<T, T>(ctx.input(0), ctx.output(0), [lambd, bias](T x) {
      auto v = static_cast<double>(x);
      return v < -lambd ? fromDouble<T>(v + bias) : v > lambd ? fromDouble<T>(v - bias) : T(0);
    });
  });
}

void isNaNKernel(KernelContext &ctx) {
  unaryMap<float, uint8_t>(ctx.input(0), ctx.output(0), [](float x) { return std::isnan(x); });
}

void isInfKernel(KernelContext &ctx) {
  bool negative = ctx.attrs().getInt("detect_negative", 1) != 0;
  bool positive = ctx.attrs().getInt("detect_positive", 1) != 0;
  unaryMap<float, uint8_t>(ctx.input(0), ctx.output(0), [=](float x) {
    return std::isinf(x) && ((x > 0 && positive) || (x < 0 && negative));
  });
}

void notKernel(KernelContext &ctx) {
  unaryMap<uint8_t, uint8_t>(ctx.input(0), ctx.output(0), [](uint8_t x) { return x == 0; });
}

void clipKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T lo = std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    T hi = std::is_floating_point_v<T> ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
    for (size_t i = 1; i < 3; ++i) {
      if (!ctx.hasInput(i)) continue;
      const Tensor &bound = ctx.input(i);
      if (bound.dtype() != ctx.input(0).dtype() || bound.numElements() != 1)
        ctx.fail("input " + std::to_string(i) + " must be a scalar of the input's type, got " +
                 bound.type().toString());
      (i == 1 ? lo : hi) = bound.data<T>()[0];
    }
    // min(max(x, lo), hi), as numpy.clip: with lo > hi every element becomes hi.
    unaryMap<T, T>(ctx.input(0), ctx.output(0), [lo, hi](T x) {
      T v = x < lo ? lo : x;
      return v > hi ? hi : v;
    });
  });
}

// ---------------------------------------------------------------------------------------
// Copies and conversions

void identityKernel(KernelContext &ctx) { copyBytes(ctx, ctx.input(0), ctx.output(0)); }

/// Inference-mode Dropout: the output is the input and the optional mask is all true.
void dropoutKernel(KernelContext &ctx) {
  bool training = ctx.hasInput(2) && ctx.input(2).numElements() == 1 && ctx.input(2).getAsDouble(0) != 0;
  double ratio = ctx.hasInput(1) && ctx.input(1).numElements() == 1 ? ctx.input(1).getAsDouble(0) : 0.5;
  if (training && ratio != 0)
    ctx.fail("Dropout in training mode (random masking) is not supported; leip runs inference only");
  copyBytes(ctx, ctx.input(0), ctx.output(0));
  if (ctx.numOutputs() > 1)
    for (uint8_t &m : ctx.output(1).values<uint8_t>()) m = 1;
}

/// Cast and CastLike: the shape rule has chosen the target dtype.
void castKernel(KernelContext &ctx) {
  copyBytes(ctx, ctx.input(0).castTo(ctx.output(0).dtype()), ctx.output(0));
}

// ---------------------------------------------------------------------------------------
// Reductions: one walker (the broadcast walker, with the reduced tensor read at stride 0
// along reduced axes) accumulates every input element into its output slot.

struct ReducePlan {
  Shape kept;        // the output shape with reduced dims kept as 1
  int64_t count = 1; // input elements per output element
  bool noop = false; // noop_with_empty_axes with no axes: output = input
};

ReducePlan planReduction(const KernelContext &ctx) {
  const Shape &in = ctx.input(0).shape();
  auto rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes = ctx.hasInput(1) ? ctx.input(1).toInt64Vector() : ctx.attrs().getInts("axes");
  ReducePlan plan;
  if (axes.empty()) {
    if (ctx.attrs().getInt("noop_with_empty_axes", 0) != 0) {
      plan.noop = true;
      plan.kept = in;
      return plan;
    }
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  plan.kept = in;
  std::vector<bool> seen(in.size(), false);
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank)
      ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    int64_t a = axis < 0 ? axis + rank : axis;
    if (seen[a]) ctx.fail("axis " + std::to_string(axis) + " appears more than once");
    seen[a] = true;
    plan.kept[a] = 1;
    plan.count *= in[a];
  }
  return plan;
}

/// Accumulates input elements into one Acc per output element, then writes finish(acc).
template <typename T, typename Acc, typename Step, typename Finish>
void reduce(KernelContext &ctx, Acc init, Step step, Finish finish) {
  const Tensor &in = ctx.input(0);
  Tensor &out = ctx.output(0);
  ReducePlan plan = planReduction(ctx);
  if (ir::numElements(plan.kept) != out.numElements())
    internalError(ctx, "reduction output " + out.type().toString() + " does not match " +
             ir::shapeToString(plan.kept));
  if (plan.noop) return copyBytes(ctx, in, out);
  std::vector<Acc> acc(static_cast<size_t>(out.numElements()), init);
  const T *px = in.data<T>();
  std::array<std::vector<int64_t>, 2> strides = {ir::stridesOf(in.shape()), broadcastStrides(plan.kept, in.shape())};
  forEachRow<2>(in.shape(), strides, [&](const auto &off, const auto &st, int64_t n) {
    const T *x = px + off[0];
    Acc *a = acc.data() + off[1];
    if (st[1] == 0) { // reducing along the run: keep the accumulator in a register
      Acc v = *a;
      for (int64_t i = 0; i < n; ++i) v = step(v, x[i * st[0]]);
      *a = v;
    } else {
      for (int64_t i = 0; i < n; ++i) a[i * st[1]] = step(a[i * st[1]], x[i * st[0]]);
    }
  });
  T *po = out.data<T>();
  for (size_t i = 0; i < acc.size(); ++i) po[i] = finish(acc[i], plan.count);
}

/// Sums accumulate in double for floats and int64 for integers.
template <typename T> using Wide = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

/// Converts a finished accumulator to the element type: doubles truncate/saturate into
/// integer types, integer accumulators (exact above 2^53) are cast directly.
template <typename T, typename V> T toElement(V value) {
  if constexpr (std::is_floating_point_v<V>) return fromDouble<T>(value);
  else return static_cast<T>(value);
}

/// Reductions that accumulate one Wide<T> value per output: Step(acc, x) and
/// Finish(acc, count) are generic lambdas.
template <auto Step, auto Finish> void sumLikeReduceKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using W = Wide<T>;
    reduce<T>(ctx, W(0), [](W a, T x) { return static_cast<W>(Step(a, static_cast<W>(x))); },
              [](W a, int64_t count) { return toElement<T>(Finish(a, count)); });
  });
}

constexpr auto kSumStep = [](auto a, auto x) { return a + x; };
constexpr auto kSquareStep = [](auto a, auto x) { return a + x * x; };
constexpr auto kAbsStep = [](auto a, auto x) { return a + (x < 0 ? -x : x); };
constexpr auto kKeep = [](auto a, int64_t) { return a; };

void reduceMaxKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T init = std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    reduce<T>(ctx, init, kMax, [](T a, int64_t) { return a; });
  });
}

void reduceMinKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T init = std::is_floating_point_v<T> ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
    reduce<T>(ctx, init, kMin, [](T a, int64_t) { return a; });
  });
}

void reduceProdKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using W = Wide<T>;
    reduce<T>(ctx, W(1), [](W a, T x) { return wrapping(a, static_cast<W>(x), [](auto p, auto q) { return p * q; }); },
              [](W a, int64_t) { return static_cast<T>(a); });
  });
}

void reduceMeanKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using W = Wide<T>;
    reduce<T>(ctx, W(0), [](W a, T x) { return static_cast<W>(a + x); }, [](W a, int64_t count) {
      if constexpr (std::is_floating_point_v<T>) return static_cast<T>(a / static_cast<double>(count));
      else return count == 0 ? T(0) : static_cast<T>(a / count); // integer mean truncates
    });
  });
}

/// log(sum(exp(x))) computed stably in one pass: the running maximum and the sum of
/// exp(x - maximum).
struct LogSumExp {
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
};

void reduceLogSumExpKernel(KernelContext &ctx) {
  visitNumeric(ctx, ctx.input(0).dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    reduce<T>(
        ctx, LogSumExp{},
        [](LogSumExp s, T value) {
          auto x = static_cast<double>(value);
          if (x > s.max) {
            s.sum = s.sum * std::exp(s.max - x) + 1;
            s.max = x;
          } else if (x == s.max) {
            s.sum += 1; // also covers infinities, where x - max is NaN
          } else {
            s.sum += std::exp(x - s.max); // NaN x gives a NaN sum
          }
          return s;
        },
        [](LogSumExp s, int64_t) {
          return fromDouble<T>(s.max == -std::numeric_limits<double>::infinity() ? s.max : s.max + std::log(s.sum));
        });
  });
}

// ---------------------------------------------------------------------------------------
// CumSum: running sums along one axis, accumulated like the reductions (double for floats,
// wrapping int64 for integers).

void cumSumKernel(KernelContext &ctx) {
  const Tensor &x = ctx.input(0);
  const Tensor &axisTensor = ctx.input(1);
  int64_t rank = x.rank();
  if (axisTensor.numElements() != 1 || !ir::isInteger(axisTensor.dtype()))
    ctx.fail("input 1 (axis) must be an integer scalar, got " + axisTensor.type().toString());
  int64_t axis = axisTensor.getAsInt64(0);
  if (axis < -rank || axis >= rank)
    ctx.fail("axis " + std::to_string(axis) + " is out of range for " + x.type().toString());
  if (axis < 0) axis += rank;
  bool exclusive = ctx.attrs().getInt("exclusive", 0) != 0;
  bool reverse = ctx.attrs().getInt("reverse", 0) != 0;
  int64_t len = x.shape()[axis], inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape()[d];
  int64_t outer = len * inner == 0 ? 0 : x.numElements() / (len * inner);
  visitNumeric(ctx, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using W = Wide<T>;
    const T *px = x.data<T>();
    T *py = ctx.output(0).data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        W acc = 0;
        for (int64_t j = 0; j < len; ++j) {
          int64_t at = (o * len + (reverse ? len - 1 - j : j)) * inner + i;
          if (exclusive) py[at] = toElement<T>(acc); // the sum of the elements before this one
          acc = kAdd(acc, static_cast<W>(px[at]));
          if (!exclusive) py[at] = toElement<T>(acc);
        }
      }
  });
}

// ---------------------------------------------------------------------------------------
// ArgMax / ArgMin

template <bool IsMax> void argKernel(KernelContext &ctx) {
  const Tensor &in = ctx.input(0);
  auto rank = in.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (rank == 0 || axis < -rank || axis >= rank)
    ctx.fail("axis " + std::to_string(axis) + " is out of range for " + in.type().toString());
  if (axis < 0) axis += rank;
  bool last = ctx.attrs().getInt("select_last_index", 0) != 0;
  int64_t n = in.shape()[axis];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= in.shape()[d];
  int64_t outer = n == 0 || inner == 0 ? 0 : in.numElements() / (n * inner);
  if (n == 0 && ctx.output(0).numElements() != 0) ctx.fail("cannot take the index over an empty axis");
  if (ctx.output(0).numElements() != outer * inner) internalError(ctx, "unexpected output size");
  int64_t *po = ctx.output(0).data<int64_t>();
  visitNumeric(ctx, in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *px = in.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T *x = px + o * n * inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < n; ++k) {
          T v = x[k * inner], b = x[best * inner];
          bool better = IsMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better) best = k;
        }
        po[o * inner + i] = best;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

/// How scale/zero point index into x: x viewed as [outer, channels, inner] with one scale
/// per channel (channels = 1 for per-tensor parameters).
struct QuantLayout {
  int64_t outer = 1, channels = 1, inner = 1;
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints;
};

QuantLayout quantLayout(const KernelContext &ctx) {
  const Tensor &x = ctx.input(0);
  const Tensor &scale = ctx.input(1);
  QuantLayout q;
  if (scale.dtype() != DType::F32 || scale.rank() > 1)
    ctx.fail("scale must be an f32 scalar or 1-D tensor, got " + scale.type().toString());
  q.scales = scale.toFloatVector();
  q.zeroPoints.assign(q.scales.size(), 0);
  if (ctx.hasInput(2)) {
    if (ctx.input(2).numElements() != scale.numElements())
      ctx.fail("zero point " + ctx.input(2).type().toString() + " must have the shape of scale " +
               scale.type().toString());
    q.zeroPoints = ctx.input(2).toInt64Vector();
  }
  if (q.scales.size() == 1) {
    q.inner = x.numElements();
    return q;
  }
  int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", 1);
  if (axis < -rank || axis >= rank) ctx.fail("axis " + std::to_string(axis) + " is out of range for " + x.type().toString());
  if (axis < 0) axis += rank;
  q.channels = x.shape()[axis];
  if (static_cast<int64_t>(q.scales.size()) != q.channels)
    ctx.fail("per-axis scale " + scale.type().toString() + " does not match axis " + std::to_string(axis) + " of " +
             x.type().toString());
  for (int64_t d = 0; d < axis; ++d) q.outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < rank; ++d) q.inner *= x.shape()[d];
  return q;
}

/// Calls fn(offset, count, channel) for every run of x's elements that share one channel.
template <typename Fn> void forEachQuantRun(const QuantLayout &q, Fn &&fn) {
  for (int64_t o = 0; o < q.outer; ++o)
    for (int64_t c = 0; c < q.channels; ++c) fn((o * q.channels + c) * q.inner, q.inner, c);
}

void quantizeKernel(KernelContext &ctx) {
  QuantLayout q = quantLayout(ctx);
  const Tensor &x = ctx.input(0);
  Tensor &y = ctx.output(0);
  std::vector<float> converted; // i32 inputs
  if (x.dtype() != DType::F32) converted = x.toFloatVector();
  const float *values = x.dtype() == DType::F32 ? x.data<float>() : converted.data();
  visitNumeric(ctx, y.dtype(), [&](auto tag) {
    using Q = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<Q> && sizeof(Q) == 1) {
      Q *py = y.data<Q>();
      forEachQuantRun(q, [&](int64_t offset, int64_t count, int64_t c) {
        const float scale = q.scales[c];
        const auto zeroPoint = static_cast<float>(q.zeroPoints[c]);
        for (int64_t i = offset; i < offset + count; ++i)
          py[i] = detail::quantizeScaled<Q>(values[i] / scale, zeroPoint);
      });
    } else {
      ctx.fail("QuantizeLinear output must be u8 or i8, got " + y.type().toString());
    }
  });
}

void dequantizeKernel(KernelContext &ctx) {
  QuantLayout q = quantLayout(ctx);
  const Tensor &x = ctx.input(0);
  if (ctx.hasInput(2) && ctx.input(2).dtype() != x.dtype())
    ctx.fail("zero point " + ctx.input(2).type().toString() + " must have the type of x " + x.type().toString());
  float *py = ctx.output(0).data<float>();
  visitNumeric(ctx, x.dtype(), [&](auto tag) {
    using Q = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<Q> && sizeof(Q) <= 4) {
      const Q *px = x.data<Q>();
      forEachQuantRun(q, [&](int64_t offset, int64_t count, int64_t c) {
        const float scale = q.scales[c];
        const int64_t zeroPoint = q.zeroPoints[c];
        for (int64_t i = offset; i < offset + count; ++i)
          py[i] = static_cast<float>(static_cast<int64_t>(px[i]) - zeroPoint) * scale;
      });
    } else {
      ctx.fail("DequantizeLinear input must be u8, i8 or i32, got " + x.type().toString());
    }
  });
}

/// DynamicQuantizeLinear: u8 quantization whose range [min(0, min x), max(0, max x)] maps
/// onto [0, 255]. As ONNX Runtime, an all-zero input gets scale 1 (not 0, which would divide
/// by zero); NaNs are ignored when taking the range.
void dynamicQuantizeKernel(KernelContext &ctx) {
  const Tensor &x = ctx.input(0);
  if (x.dtype() != DType::F32) ctx.fail("input must be f32, got " + x.type().toString());
  float lo = 0, hi = 0;
  for (float v : x.values<float>()) {
    lo = std::fmin(lo, v);
    hi = std::fmax(hi, v);
  }
  float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  uint8_t zeroPoint = detail::quantizeScaled<uint8_t>((0.0f - lo) / scale, 0.0f);
  const float *px = x.data<float>();
  uint8_t *py = ctx.output(0).data<uint8_t>();
  for (int64_t i = 0, n = x.numElements(); i < n; ++i)
    py[i] = detail::quantizeScaled<uint8_t>(px[i] / scale, static_cast<float>(zeroPoint));
  if (ctx.numOutputs() > 1) ctx.output(1).data<float>()[0] = scale;
  if (ctx.numOutputs() > 2) ctx.output(2).data<uint8_t>()[0] = zeroPoint;
}

} // namespace

void registerElementwiseKernels(KernelTable &table) {
  // Binary and variadic ops.
  table["Add"] = viaF32<arithmeticKernel<kAdd>>;
  table["Sub"] = viaF32<arithmeticKernel<kSub>>;
  table["Mul"] = viaF32<arithmeticKernel<kMul>>;
  table["Div"] = viaF32<arithmeticKernel<kDiv, true>>;
  table["Mod"] = viaF32<modKernel>;
  table["Pow"] = viaF32<powKernel>;
  table["Min"] = viaF32<variadicKernel<kMin>>;
  table["Max"] = viaF32<variadicKernel<kMax>>;
  table["Sum"] = viaF32<variadicKernel<kAdd>>;
  table["Mean"] = viaF32<variadicKernel<kAdd, true>>;
  table["Equal"] = viaF32<compareKernel<std::equal_to<>{}>>;
  table["Less"] = viaF32<compareKernel<std::less<>{}>>;
  table["LessOrEqual"] = viaF32<compareKernel<std::less_equal<>{}>>;
  table["Greater"] = viaF32<compareKernel<std::greater<>{}>>;
  table["GreaterOrEqual"] = viaF32<compareKernel<std::greater_equal<>{}>>;
  table["And"] = logicalKernel<std::logical_and<>{}>;
  table["Or"] = logicalKernel<std::logical_or<>{}>;
  table["Xor"] = logicalKernel<std::not_equal_to<>{}>;
  table["Where"] = viaF32<whereKernel>;
  table["BitShift"] = bitShiftKernel;
  table["PRelu"] = viaF32<preluKernel>;

  // Unary float ops.
  table["Sigmoid"] = viaF32<floatUnary<sigmoid>>;
  table["HardSwish"] = viaF32<floatUnary<[](float x) { return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f)); }>>;
  table["Tanh"] = viaF32<floatUnary<[](float x) { return std::tanh(x); }>>;
  table["Softplus"] = viaF32<floatUnary<softplus>>;
  table["Softsign"] = viaF32<floatUnary<[](float x) { return x / (1.0f + std::fabs(x)); }>>;
  table["Sqrt"] = viaF32<floatUnary<[](float x) { return std::sqrt(x); }>>;
  table["Exp"] = viaF32<floatUnary<[](float x) { return std::exp(x); }>>;
  table["Log"] = viaF32<floatUnary<[](float x) { return std::log(x); }>>;
  table["Erf"] = viaF32<floatUnary<[](float x) { return std::erf(x); }>>;
  table["Floor"] = viaF32<floatUnary<[](float x) { return std::floor(x); }>>;
  table["Ceil"] = viaF32<floatUnary<[](float x) { return std::ceil(x); }>>;
  // rint rounds half to even in the default rounding mode.
  table["Round"] = viaF32<floatUnary<[](float x) { return std::rint(x); }>>;
  table["Reciprocal"] = viaF32<floatUnary<[](float x) { return 1.0f / x; }>>;
  table["Sin"] = viaF32<floatUnary<[](float x) { return std::sin(x); }>>;
  table["Cos"] = viaF32<floatUnary<[](float x) { return std::cos(x); }>>;
  table["Tan"] = viaF32<floatUnary<[](float x) { return std::tan(x); }>>;
  table["Asin"] = viaF32<floatUnary<[](float x) { return std::asin(x); }>>;
  table["Acos"] = viaF32<floatUnary<[](float x) { return std::acos(x); }>>;
  table["Atan"] = viaF32<floatUnary<[](float x) { return std::atan(x); }>>;
  table["Sinh"] = viaF32<floatUnary<[](float x) { return std::sinh(x); }>>;
  table["Cosh"] = viaF32<floatUnary<[](float x) { return std::cosh(x); }>>;
  table["Asinh"] = viaF32<floatUnary<[](float x) { return std::asinh(x); }>>;
  table["Acosh"] = viaF32<floatUnary<[](float x) { return std::acosh(x); }>>;
  table["Atanh"] = viaF32<floatUnary<[](float x) { return std::atanh(x); }>>;
  table["LeakyRelu"] = viaF32<leakyReluKernel>;
  table["Elu"] = viaF32<eluKernel>;
  table["Selu"] = viaF32<seluKernel>;
  table["Celu"] = viaF32<celuKernel>;
  table["ThresholdedRelu"] = viaF32<thresholdedReluKernel>;
  table["HardSigmoid"] = viaF32<hardSigmoidKernel>;
  table["IsNaN"] = viaF32<isNaNKernel>;
  table["IsInf"] = viaF32<isInfKernel>;

  // Unary ops on any numeric type.
  table["Relu"] = viaF32<numericUnary<kRelu>>;
  table["Abs"] = viaF32<numericUnary<kAbs>>;
  table["Neg"] = viaF32<numericUnary<kNeg>>;
  table["Sign"] = viaF32<numericUnary<kSign>>;
  table["Shrink"] = viaF32<shrinkKernel>;
  table["Clip"] = viaF32<clipKernel>;
  table["Not"] = notKernel;

  // Copies and conversions (byte copies and castTo handle every dtype, f16 included).
  table["Identity"] = identityKernel;
  table["Dropout"] = dropoutKernel;
  table["Cast"] = castKernel;
  table["CastLike"] = castKernel;

  // Reductions.
  table["ReduceSum"] = viaF32<sumLikeReduceKernel<kSumStep, kKeep>>;
  table["ReduceSumSquare"] = viaF32<sumLikeReduceKernel<kSquareStep, kKeep>>;
  table["ReduceL1"] = viaF32<sumLikeReduceKernel<kAbsStep, kKeep>>;
  table["ReduceL2"] = viaF32<sumLikeReduceKernel<kSquareStep, [](auto a, int64_t) {
    return std::sqrt(static_cast<double>(a));
  }>>;
  table["ReduceLogSum"] = viaF32<sumLikeReduceKernel<kSumStep, [](auto a, int64_t) {
    return std::log(static_cast<double>(a));
  }>>;
  table["ReduceLogSumExp"] = viaF32<reduceLogSumExpKernel>;
  table["ReduceMean"] = viaF32<reduceMeanKernel>;
  table["ReduceMax"] = viaF32<reduceMaxKernel>;
  table["ReduceMin"] = viaF32<reduceMinKernel>;
  table["ReduceProd"] = viaF32<reduceProdKernel>;
  table["ArgMax"] = viaF32<argKernel<true>>;
  table["ArgMin"] = viaF32<argKernel<false>>;
  table["CumSum"] = viaF32<cumSumKernel>;

  // Quantization.
  table["QuantizeLinear"] = quantizeKernel;
  table["DequantizeLinear"] = dequantizeKernel;
  table["DynamicQuantizeLinear"] = dynamicQuantizeKernel;
}

} // namespace leip::interp
