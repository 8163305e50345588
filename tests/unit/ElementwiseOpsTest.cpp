// Shape rules and reference kernels of the elementwise family (src/ir/ops/Elementwise.cpp,
// src/interp/kernels/Elementwise.cpp). Reference numbers were computed with numpy.
#include "leip/interp/Kernels.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace leip {
namespace {

using ir::DType;
using ir::Shape;
using ir::Tensor;

/// Builds a one-node graph for `op` and evaluates it on `inputs` (nullptr = omitted
/// optional input) through the shape rule and the kernel.
std::vector<Tensor> run(const std::string &op, const std::vector<const Tensor *> &inputs,
                        const ir::AttributeMap &attrs = {}, size_t numOutputs = 1) {
  ir::Graph graph;
  std::vector<ir::Value *> values;
  for (size_t i = 0; i < inputs.size(); ++i)
    values.push_back(inputs[i] ? graph.addInput("in" + std::to_string(i), inputs[i]->type()) : nullptr);
  std::vector<std::string> outputNames;
  for (size_t i = 0; i < numOutputs; ++i) outputNames.push_back("out" + std::to_string(i));
  ir::Node *node = graph.addNode(op, "n", values, outputNames);
  node->attrs() = attrs;
  return interp::evaluateNode(*node, inputs);
}

Tensor run1(const std::string &op, const std::vector<const Tensor *> &inputs, const ir::AttributeMap &attrs = {}) {
  return run(op, inputs, attrs).at(0);
}

ir::AttributeMap attrs(std::initializer_list<std::pair<const std::string, ir::Attribute>> list) {
  ir::AttributeMap map;
  for (const auto &[name, value] : list) map.set(name, value);
  return map;
}

Tensor f32(Shape shape, std::vector<float> v) { return Tensor::fromVector(DType::F32, std::move(shape), v); }
Tensor i64(Shape shape, std::vector<int64_t> v) { return Tensor::fromVector(DType::I64, std::move(shape), v); }
Tensor i32(Shape shape, std::vector<int32_t> v) { return Tensor::fromVector(DType::I32, std::move(shape), v); }
Tensor u8(Shape shape, std::vector<uint8_t> v) { return Tensor::fromVector(DType::U8, std::move(shape), v); }
Tensor i8(Shape shape, std::vector<int8_t> v) { return Tensor::fromVector(DType::I8, std::move(shape), v); }
Tensor boolean(Shape shape, std::vector<uint8_t> v) { return Tensor::fromVector(DType::Bool, std::move(shape), v); }

void expectFloats(const Tensor &t, const std::vector<float> &expected, float tol = 1e-5f) {
  std::vector<float> got = t.toFloatVector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], expected[i], tol * std::max(1.0f, std::fabs(expected[i]))) << "element " << i;
    }
  }
}

/// Expects a BadInputError whose message contains `fragment`.
template <typename Fn> void expectBadInput(Fn &&fn, const std::string &fragment) {
  try {
    fn();
    ADD_FAILURE() << "expected BadInputError containing '" << fragment << "'";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// --- Broadcasting binary ops -------------------------------------------------------------

TEST(ElementwiseOps, AddBroadcastsTrailingDims) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = f32({3}, {10, 20, 30});
  Tensor y = run1("Add", {&a, &b});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  expectFloats(y, {11, 22, 33, 14, 25, 36});
}

TEST(ElementwiseOps, MulBroadcastsBothOperands) {
  Tensor a = f32({3, 1}, {1, 2, 3});
  Tensor b = f32({1, 4}, {1, 10, 100, 1000});
  Tensor y = run1("Mul", {&a, &b});
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  expectFloats(y, {1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000});
}

TEST(ElementwiseOps, SubWithScalarOnEitherSide) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor s = f32({}, {10});
  expectFloats(run1("Sub", {&a, &s}), {-9, -8, -7, -6});
  expectFloats(run1("Sub", {&s, &a}), {9, 8, 7, 6});
}

// The walker merges and drops dims; compare it with a direct index computation on shapes
// that exercise every path (contiguous, stride-0 inner, stride-0 outer, rank mismatch).
TEST(ElementwiseOps, BroadcastMatchesNaiveIndexing) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  auto random = [&](Shape shape) {
    Tensor t(DType::F32, shape);
    for (float &v : t.values<float>()) v = dist(rng);
    return t;
  };
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4, 5}, {3, 1, 5}}, {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 1, 4, 1}, {3, 1, 5}},
      {{5}, {2, 3, 4, 5}},       {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{1, 1, 1}, {4, 1, 2}}};
  for (const auto &[sa, sb] : cases) {
    Tensor a = random(sa), b = random(sb);
    Tensor y = run1("Sub", {&a, &b});
    Shape out = *ir::broadcastShapes(sa, sb);
    ASSERT_EQ(y.shape(), out);
    auto rank = out.size();
    std::vector<int64_t> index(rank, 0);
    auto offsetIn = [&](const Shape &s) {
      int64_t off = 0;
      for (size_t d = 0; d < s.size(); ++d) {
        int64_t i = index[rank - s.size() + d];
        off = off * s[d] + (s[d] == 1 ? 0 : i);
      }
      return off;
    };
    for (int64_t flat = 0; flat < y.numElements(); ++flat) {
      int64_t rest = flat;
      for (size_t d = rank; d-- > 0;) {
        index[d] = rest % out[d];
        rest /= out[d];
      }
      float expected = a.data<float>()[offsetIn(sa)] - b.data<float>()[offsetIn(sb)];
      ASSERT_FLOAT_EQ(y.data<float>()[flat], expected) << "shapes " << ir::shapeToString(sa) << " - "
                                                      << ir::shapeToString(sb) << " at " << flat;
    }
  }
}

TEST(ElementwiseOps, EmptyTensorsBroadcast) {
  Tensor a(DType::F32, {0, 3});
  Tensor b = f32({3}, {1, 2, 3});
  Tensor y = run1("Add", {&a, &b});
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
}

TEST(ElementwiseOps, IncompatibleBroadcastFails) {
  Tensor a(DType::F32, {2, 3});
  Tensor b(DType::F32, {4});
  expectBadInput([&] { run1("Add", {&a, &b}); }, "cannot broadcast f32[2,3] with f32[4]");
}

TEST(ElementwiseOps, MixedDtypesFail) {
  Tensor a(DType::F32, {2});
  Tensor b(DType::I64, {2});
  expectBadInput([&] { run1("Add", {&a, &b}); }, "got f32[2] and i64[2]");
}

TEST(ElementwiseOps, IntegerDivisionTruncatesTowardZero) {
  Tensor a = i64({4}, {7, -7, 7, -7});
  Tensor b = i64({4}, {2, 2, -2, -2});
  Tensor y = run1("Div", {&a, &b});
  EXPECT_EQ(y.dtype(), DType::I64);
  EXPECT_EQ(y.toInt64Vector(), (std::vector<int64_t>{3, -3, -3, 3}));

  Tensor c = i32({3}, {9, -9, std::numeric_limits<int32_t>::min()});
  Tensor d = i32({3}, {4, 4, -1});
  EXPECT_EQ(run1("Div", {&c, &d}).toInt64Vector(),
            (std::vector<int64_t>{2, -2, std::numeric_limits<int32_t>::min()})); // wraps, no trap
}

TEST(ElementwiseOps, IntegerDivisionByZeroIsAnError) {
  Tensor a = i64({2}, {1, 2});
  Tensor b = i64({2}, {1, 0});
  expectBadInput([&] { run1("Div", {&a, &b}); }, "division by zero");
  expectBadInput([&] { run1("Mod", {&a, &b}); }, "division by zero");
}

TEST(ElementwiseOps, IntegerShapeArithmetic) {
  Tensor a = i64({3}, {1, 3, 224});
  Tensor b = i64({}, {2});
  EXPECT_EQ(run1("Mul", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{2, 6, 448}));
  EXPECT_EQ(run1("Add", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{3, 5, 226}));
  EXPECT_EQ(run1("Min", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(run1("Max", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{2, 3, 224}));
  Tensor eq = run1("Equal", {&a, &b});
  EXPECT_EQ(eq.dtype(), DType::Bool);
  EXPECT_EQ(eq.toInt64Vector(), (std::vector<int64_t>{0, 0, 0}));
}

TEST(ElementwiseOps, ModFollowsDivisorSignUnlessFmod) {
  Tensor a = i32({4}, {5, -5, 5, -5});
  Tensor b = i32({4}, {3, 3, -3, -3});
  EXPECT_EQ(run1("Mod", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{2, 1, -1, -2}));
  EXPECT_EQ(run1("Mod", {&a, &b}, attrs({{"fmod", int64_t{1}}})).toInt64Vector(),
            (std::vector<int64_t>{2, -2, 2, -2}));
  Tensor x = f32({2}, {5.5f, -5.5f});
  Tensor m = f32({2}, {2, 2});
  expectFloats(run1("Mod", {&x, &m}, attrs({{"fmod", int64_t{1}}})), {1.5f, -1.5f});
  expectBadInput([&] { run1("Mod", {&x, &m}); }, "fmod=1");
}

TEST(ElementwiseOps, PowKeepsBaseType) {
  Tensor x = i64({3}, {1, 2, 3});
  Tensor y = f32({3}, {4, 5, 6});
  Tensor z = run1("Pow", {&x, &y});
  EXPECT_EQ(z.dtype(), DType::I64);
  EXPECT_EQ(z.toInt64Vector(), (std::vector<int64_t>{1, 32, 729}));
  Tensor fx = f32({2}, {2, 9});
  Tensor half = f32({}, {0.5f});
  expectFloats(run1("Pow", {&fx, &half}), {std::sqrt(2.0f), 3});
}

TEST(ElementwiseOps, ComparisonsGiveBool) {
  Tensor a = f32({3}, {1, 2, 3});
  Tensor b = f32({}, {2});
  EXPECT_EQ(run1("Less", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(run1("LessOrEqual", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(run1("Greater", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(run1("GreaterOrEqual", {&a, &b}).toInt64Vector(), (std::vector<int64_t>{0, 1, 1}));
  Tensor p = boolean({4}, {0, 0, 1, 1});
  Tensor q = boolean({4}, {0, 1, 0, 1});
  EXPECT_EQ(run1("Equal", {&p, &q}).toInt64Vector(), (std::vector<int64_t>{1, 0, 0, 1}));
  EXPECT_EQ(run1("And", {&p, &q}).toInt64Vector(), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(run1("Or", {&p, &q}).toInt64Vector(), (std::vector<int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(run1("Xor", {&p, &q}).toInt64Vector(), (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(run1("Not", {&p}).toInt64Vector(), (std::vector<int64_t>{1, 1, 0, 0}));
  expectBadInput([&] { run1("And", {&a, &a}); }, "must be bool");
}

TEST(ElementwiseOps, WhereBroadcastsThreeInputs) {
  Tensor cond = boolean({2, 1}, {1, 0});
  Tensor x = i64({1, 3}, {1, 2, 3});
  Tensor y = i64({}, {-1});
  Tensor z = run1("Where", {&cond, &x, &y});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.toInt64Vector(), (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
  Tensor notBool = i64({2, 1}, {1, 0});
  expectBadInput([&] { run1("Where", {&notBool, &x, &y}); }, "condition");
}

TEST(ElementwiseOps, VariadicOpsBroadcastAllInputs) {
  Tensor a = f32({3}, {1, 2, 3});
  Tensor b = f32({2, 1}, {10, 20});
  Tensor c = f32({}, {100});
  Tensor sum = run1("Sum", {&a, &b, &c});
  EXPECT_EQ(sum.shape(), (Shape{2, 3}));
  expectFloats(sum, {111, 112, 113, 121, 122, 123});
  expectFloats(run1("Mean", {&a, &b, &c}), {37, 112.0f / 3, 113.0f / 3, 121.0f / 3, 122.0f / 3, 41});
  expectFloats(run1("Max", {&a, &b, &c}), {100, 100, 100, 100, 100, 100});
  expectFloats(run1("Min", {&a, &b}), {1, 2, 3, 1, 2, 3});
  expectFloats(run1("Sum", {&a}), {1, 2, 3});
}

TEST(ElementwiseOps, PReluSlopeBroadcastsToInput) {
  Tensor x = f32({1, 2, 1, 2}, {-1, 2, -3, 4});
  Tensor slope = f32({2, 1, 1}, {0.5f, 0.25f});
  expectFloats(run1("PRelu", {&x, &slope}), {-0.5f, 2, -0.75f, 4});
  Tensor bigSlope = f32({2, 2, 1, 2}, {1, 1, 1, 1, 1, 1, 1, 1});
  expectBadInput([&] { run1("PRelu", {&x, &bigSlope}); }, "does not broadcast");
}

TEST(ElementwiseOps, Float16ComputesInFloat32) {
  Tensor a = f32({3}, {1.5f, -2, 1024}).castTo(DType::F16);
  Tensor b = f32({}, {0.25f}).castTo(DType::F16);
  Tensor y = run1("Add", {&a, &b});
  EXPECT_EQ(y.dtype(), DType::F16);
  expectFloats(y, {1.75f, -1.75f, 1024}); // 1024.25 rounds to 1024 in f16
  Tensor r = run1("Relu", {&a});
  EXPECT_EQ(r.dtype(), DType::F16);
  expectFloats(r, {1.5f, 0, 1024});
}

// --- Unary ops ---------------------------------------------------------------------------

TEST(ElementwiseOps, Activations) {
  Tensor x = f32({5}, {-3, -0.5f, 0, 0.5f, 2});
  expectFloats(run1("Relu", {&x}), {0, 0, 0, 0.5f, 2});
  expectFloats(run1("Sigmoid", {&x}), {0.04742587f, 0.37754067f, 0.5f, 0.62245933f, 0.88079708f});
  expectFloats(run1("Softplus", {&x}), {0.04858735f, 0.47407698f, 0.69314718f, 0.97407698f, 2.12692801f});
  expectFloats(run1("HardSwish", {&x}), {0, -0.20833333f, 0, 0.29166666f, 1.6666667f});
  expectFloats(run1("Selu", {&x}), {-1.67056873f, -0.69175819f, 0, 0.52535051f, 2.10140204f});
  expectFloats(run1("Erf", {&x}), {-0.9999779f, -0.52049988f, 0, 0.52049988f, 0.99532227f});
  expectFloats(run1("Elu", {&x}, attrs({{"alpha", 0.5f}})), {-0.47510647f, -0.19673467f, 0, 0.5f, 2});
  expectFloats(run1("Celu", {&x}, attrs({{"alpha", 2.0f}})), {-1.55373968f, -0.44239843f, 0, 0.5f, 2});
  expectFloats(run1("LeakyRelu", {&x}), {-0.03f, -0.005f, 0, 0.5f, 2});
  expectFloats(run1("HardSigmoid", {&x}), {0, 0.4f, 0.5f, 0.6f, 0.9f});
  expectFloats(run1("ThresholdedRelu", {&x}, attrs({{"alpha", 0.5f}})), {0, 0, 0, 0, 2});
  expectFloats(run1("Shrink", {&x}, attrs({{"lambd", 1.0f}, {"bias", 0.5f}})), {-2.5f, 0, 0, 0, 1.5f});
  // Stable forms: no overflow far from zero.
  Tensor big = f32({2}, {-100, 100});
  expectFloats(run1("Sigmoid", {&big}), {0, 1});
  expectFloats(run1("Softplus", {&big}), {0, 100});
}

TEST(ElementwiseOps, RoundIsHalfToEven) {
  Tensor x = f32({7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f});
  expectFloats(run1("Round", {&x}), {0, 2, 2, -0.0f, -2, 2, -3});
}

TEST(ElementwiseOps, IntegerAbsNegSign) {
  Tensor x = i64({3}, {-5, 0, 7});
  EXPECT_EQ(run1("Abs", {&x}).toInt64Vector(), (std::vector<int64_t>{5, 0, 7}));
  EXPECT_EQ(run1("Neg", {&x}).toInt64Vector(), (std::vector<int64_t>{5, 0, -7}));
  EXPECT_EQ(run1("Sign", {&x}).toInt64Vector(), (std::vector<int64_t>{-1, 0, 1}));
  Tensor f = f32({3}, {-2.5f, 0, NAN});
  expectFloats(run1("Sign", {&f}), {-1, 0, NAN});
  expectBadInput([&] { run1("Exp", {&x}); }, "must be float");
}

TEST(ElementwiseOps, NaNAndInfTests) {
  Tensor x = f32({4}, {1, NAN, INFINITY, -INFINITY});
  EXPECT_EQ(run1("IsNaN", {&x}).toInt64Vector(), (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(run1("IsInf", {&x}).toInt64Vector(), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(run1("IsInf", {&x}, attrs({{"detect_negative", int64_t{0}}})).toInt64Vector(),
            (std::vector<int64_t>{0, 0, 1, 0}));
}

TEST(ElementwiseOps, ClipWithOptionalBounds) {
  Tensor x = f32({4}, {-2, -0.5f, 0.5f, 2});
  Tensor lo = f32({}, {-1});
  Tensor hi = f32({}, {1});
  expectFloats(run1("Clip", {&x, &lo, &hi}), {-1, -0.5f, 0.5f, 1});
  expectFloats(run1("Clip", {&x, nullptr, &hi}), {-2, -0.5f, 0.5f, 1});
  expectFloats(run1("Clip", {&x}), {-2, -0.5f, 0.5f, 2});
  Tensor n = i64({3}, {-10, 5, 10});
  Tensor nlo = i64({}, {0});
  Tensor nhi = i64({}, {6});
  EXPECT_EQ(run1("Clip", {&n, &nlo, &nhi}).toInt64Vector(), (std::vector<int64_t>{0, 5, 6}));
  Tensor b = boolean({2}, {0, 1});
  expectBadInput([&] { run1("Clip", {&b}); }, "got bool[2]");
  expectBadInput([&] { run1("Clip", {&x, &nlo}); }, "same dtype");
}

// --- Copies and conversions --------------------------------------------------------------

TEST(ElementwiseOps, CastFollowsOnnxSemantics) {
  Tensor x = f32({4}, {-1.7f, 2.9f, 0, 300});
  Tensor toI32 = run1("Cast", {&x}, attrs({{"to", int64_t{6}}}));
  EXPECT_EQ(toI32.dtype(), DType::I32);
  EXPECT_EQ(toI32.toInt64Vector(), (std::vector<int64_t>{-1, 2, 0, 300}));
  Tensor toBool = run1("Cast", {&x}, attrs({{"to", int64_t{9}}}));
  EXPECT_EQ(toBool.toInt64Vector(), (std::vector<int64_t>{1, 1, 0, 1}));
  Tensor toHalf = run1("Cast", {&x}, attrs({{"to", int64_t{10}}}));
  EXPECT_EQ(toHalf.dtype(), DType::F16);
  expectFloats(toHalf, {-1.7001953f, 2.9003906f, 0, 300});
  expectBadInput([&] { run1("Cast", {&x}, attrs({{"to", int64_t{11}}})); }, "DOUBLE");
  expectBadInput([&] { run1("Cast", {&x}, attrs({{"to", int64_t{8}}})); }, "STRING");
  expectBadInput([&] { run1("Cast", {&x}); }, "'to'");
  Tensor like = i64({}, {0});
  Tensor castLike = run1("CastLike", {&x, &like});
  EXPECT_EQ(castLike.dtype(), DType::I64);
  EXPECT_EQ(castLike.toInt64Vector(), (std::vector<int64_t>{-1, 2, 0, 300}));
}

TEST(ElementwiseOps, IdentityAndDropout) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  expectFloats(run1("Identity", {&x}), {1, 2, 3, 4});
  std::vector<Tensor> outs = run("Dropout", {&x}, {}, 2);
  expectFloats(outs[0], {1, 2, 3, 4});
  EXPECT_EQ(outs[1].dtype(), DType::Bool);
  EXPECT_EQ(outs[1].toInt64Vector(), (std::vector<int64_t>{1, 1, 1, 1}));
  Tensor ratio = f32({}, {0.3f});
  Tensor training = boolean({}, {1});
  expectBadInput([&] { run("Dropout", {&x, &ratio, &training}); }, "training mode");
}

// --- Reductions --------------------------------------------------------------------------

Tensor iota234() { // numpy: np.arange(24).reshape(2,3,4) - 5
  Tensor t(DType::F32, {2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) t.data<float>()[i] = static_cast<float>(i - 5);
  return t;
}

TEST(ElementwiseOps, ReduceSumAxesInputNegativeAxisNoKeepdims) {
  Tensor x = iota234();
  Tensor axes = i64({1}, {-1});
  Tensor y = run1("ReduceSum", {&x, &axes}, attrs({{"keepdims", int64_t{0}}}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  expectFloats(y, {-14, 2, 18, 34, 50, 66});
}

TEST(ElementwiseOps, ReduceSumEmptyAxes) {
  Tensor x = iota234();
  Tensor none(DType::I64, {0});
  Tensor all = run1("ReduceSum", {&x, &none});
  EXPECT_EQ(all.shape(), (Shape{1, 1, 1}));
  expectFloats(all, {156});
  Tensor same = run1("ReduceSum", {&x, &none}, attrs({{"noop_with_empty_axes", int64_t{1}}}));
  EXPECT_EQ(same.shape(), (Shape{2, 3, 4}));
  expectFloats(same, x.toFloatVector());
  Tensor noAxes = run1("ReduceSum", {&x}, attrs({{"keepdims", int64_t{0}}}));
  EXPECT_EQ(noAxes.shape(), (Shape{}));
  expectFloats(noAxes, {156});
}

TEST(ElementwiseOps, ReductionsWithAxesAttribute) {
  Tensor x = iota234();
  Tensor mean = run1("ReduceMean", {&x}, attrs({{"axes", std::vector<int64_t>{0, 2}}}));
  EXPECT_EQ(mean.shape(), (Shape{1, 3, 1}));
  expectFloats(mean, {2.5f, 6.5f, 10.5f});
  Tensor mx = run1("ReduceMax", {&x}, attrs({{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}));
  EXPECT_EQ(mx.shape(), (Shape{2, 4}));
  expectFloats(mx, {3, 4, 5, 6, 15, 16, 17, 18});
  Tensor mn = run1("ReduceMin", {&x}, attrs({{"axes", std::vector<int64_t>{-2}}, {"keepdims", int64_t{0}}}));
  expectFloats(mn, {-5, -4, -3, -2, 7, 8, 9, 10});
  Tensor l2 = run1("ReduceL2", {&x}, attrs({{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}));
  expectFloats(l2, {5.91608f, 5.656854f, 5.91608f, 6.6332498f, 19.874607f, 21.540659f, 23.216373f, 24.8998f});
  Tensor l1 = run1("ReduceL1", {&x}, attrs({{"axes", std::vector<int64_t>{0, 1, 2}}, {"keepdims", int64_t{0}}}));
  expectFloats(l1, {186}); // sum(|arange(24) - 5|)
  Tensor sq = run1("ReduceSumSquare", {&x}, attrs({{"axes", std::vector<int64_t>{2}}}));
  expectFloats(sq, {54, 6, 86, 294, 630, 1094});
}

TEST(ElementwiseOps, ReduceProdAndLogSumExp) {
  Tensor x = f32({2, 2, 2}, {-5, -4, -1, 0, 7, 8, 11, 12});
  Tensor prod = run1("ReduceProd", {&x}, attrs({{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}}));
  expectFloats(prod, {-35, -32, -11, 0});
  Tensor y = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor lse = run1("ReduceLogSumExp", {&y}, attrs({{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}));
  expectFloats(lse, {3.40760596f, 6.40760596f});
  Tensor big = f32({2}, {1000, 1000});
  expectFloats(run1("ReduceLogSumExp", {&big}, attrs({{"keepdims", int64_t{0}}})), {1000 + std::log(2.0f)});
  Tensor pos = f32({2}, {1, std::exp(1.0f) - 1});
  expectFloats(run1("ReduceLogSum", {&pos}), {1}); // log(1 + (e - 1))
}

TEST(ElementwiseOps, IntegerReductions) {
  Tensor x = i64({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor axes = i64({1}, {1});
  EXPECT_EQ(run1("ReduceSum", {&x, &axes}).toInt64Vector(), (std::vector<int64_t>{6, 15}));
  EXPECT_EQ(run1("ReduceProd", {&x}, attrs({{"keepdims", int64_t{0}}})).toInt64Vector(),
            (std::vector<int64_t>{720}));
  EXPECT_EQ(run1("ReduceMean", {&x}, attrs({{"axes", std::vector<int64_t>{0}}})).toInt64Vector(),
            (std::vector<int64_t>{2, 3, 4})); // integer mean truncates
  // Integer sums stay exact beyond 2^53.
  Tensor huge = i64({2}, {(int64_t{1} << 60) + 1, 1});
  Tensor axis0 = i64({1}, {0});
  EXPECT_EQ(run1("ReduceSum", {&huge, &axis0}).toInt64Vector(), (std::vector<int64_t>{(int64_t{1} << 60) + 2}));
}

TEST(ElementwiseOps, ReductionAxesAreValidated) {
  Tensor x = iota234();
  expectBadInput([&] { run1("ReduceMean", {&x}, attrs({{"axes", std::vector<int64_t>{3}}})); }, "out of range");
  expectBadInput([&] { run1("ReduceMean", {&x}, attrs({{"axes", std::vector<int64_t>{1, -2}}})); },
                 "more than once");
}

TEST(ElementwiseOps, ArgMaxSelectLastIndex) {
  Tensor x = f32({2, 3}, {1, 3, 3, 2, 2, 1});
  Tensor first = run1("ArgMax", {&x}, attrs({{"axis", int64_t{1}}}));
  EXPECT_EQ(first.dtype(), DType::I64);
  EXPECT_EQ(first.shape(), (Shape{2, 1}));
  EXPECT_EQ(first.toInt64Vector(), (std::vector<int64_t>{1, 0}));
  Tensor last = run1("ArgMax", {&x}, attrs({{"axis", int64_t{1}}, {"select_last_index", int64_t{1}}}));
  EXPECT_EQ(last.toInt64Vector(), (std::vector<int64_t>{2, 1}));
  Tensor argmin = run1("ArgMin", {&x}, attrs({{"axis", int64_t{-2}}, {"keepdims", int64_t{0}}}));
  EXPECT_EQ(argmin.shape(), (Shape{3}));
  EXPECT_EQ(argmin.toInt64Vector(), (std::vector<int64_t>{0, 1, 1}));
  Tensor argminLast =
      run1("ArgMin", {&x}, attrs({{"axis", int64_t{1}}, {"keepdims", int64_t{0}}, {"select_last_index", int64_t{1}}}));
  EXPECT_EQ(argminLast.toInt64Vector(), (std::vector<int64_t>{0, 2}));
  expectBadInput([&] { run1("ArgMax", {&x}, attrs({{"axis", int64_t{2}}})); }, "out of range");
}

// --- Quantization ------------------------------------------------------------------------

TEST(ElementwiseOps, QuantizeLinearRoundsHalfToEvenAndSaturates) {
  Tensor x = f32({7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300, -10});
  Tensor scale = f32({}, {1});
  Tensor q = run1("QuantizeLinear", {&x, &scale});
  EXPECT_EQ(q.dtype(), DType::U8); // no zero point: uint8
  EXPECT_EQ(q.toInt64Vector(), (std::vector<int64_t>{0, 2, 2, 0, 0, 255, 0}));
  Tensor zpI8 = i8({}, {0});
  Tensor qs = run1("QuantizeLinear", {&x, &scale, &zpI8});
  EXPECT_EQ(qs.dtype(), DType::I8);
  EXPECT_EQ(qs.toInt64Vector(), (std::vector<int64_t>{0, 2, 2, 0, -2, 127, -10}));
  Tensor y = f32({5}, {1, 3, 5, -1, -3});
  Tensor two = f32({}, {2});
  Tensor zp128 = u8({}, {128});
  EXPECT_EQ(run1("QuantizeLinear", {&y, &two, &zp128}).toInt64Vector(),
            (std::vector<int64_t>{128, 130, 130, 128, 126}));
}

TEST(ElementwiseOps, QuantizeLinearPerAxis) {
  Tensor x = f32({1, 2, 3}, {1, 2, 3, 4, 5, -7});
  Tensor scale = f32({2}, {1, 2});
  Tensor zp = i8({2}, {0, 10});
  Tensor q = run1("QuantizeLinear", {&x, &scale, &zp});
  EXPECT_EQ(q.toInt64Vector(), (std::vector<int64_t>{1, 2, 3, 12, 12, 6}));
  Tensor wrongScale = f32({3}, {1, 2, 3});
  Tensor wrongZp = i8({3}, {0, 0, 0});
  expectBadInput([&] { run1("QuantizeLinear", {&x, &wrongScale, &wrongZp}); }, "per-axis scale");
  Tensor u8zp = u8({2}, {0, 0});
  Tensor x2 = f32({2}, {0, 1});
  EXPECT_EQ(run1("QuantizeLinear", {&x2, &scale, &u8zp}, attrs({{"axis", int64_t{0}}})).toInt64Vector(),
            (std::vector<int64_t>{0, 0})); // 1/2 = 0.5 rounds to 0
}

TEST(ElementwiseOps, DequantizeLinearPerAxis) {
  Tensor q = u8({2, 3}, {0, 1, 255, 3, 4, 10});
  Tensor scale = f32({2}, {0.5f, 2});
  Tensor zp = u8({2}, {1, 3});
  Tensor y = run1("DequantizeLinear", {&q, &scale, &zp}, attrs({{"axis", int64_t{0}}}));
  EXPECT_EQ(y.dtype(), DType::F32);
  expectFloats(y, {-0.5f, 0, 127, 0, 2, 14});
  // Default axis 1: one scale per column.
  Tensor scale3 = f32({3}, {1, 2, 3});
  expectFloats(run1("DequantizeLinear", {&q, &scale3}), {0, 2, 765, 3, 8, 30});
  Tensor acc = i32({3}, {-100, 0, 7});
  Tensor s = f32({}, {0.5f});
  expectFloats(run1("DequantizeLinear", {&acc, &s}), {-50, 0, 3.5f});
  Tensor zpI8 = i8({2}, {0, 0});
  expectBadInput([&] { run1("DequantizeLinear", {&q, &scale, &zpI8}, attrs({{"axis", int64_t{0}}})); },
                 "zero point");
}

TEST(ElementwiseOps, DynamicQuantizeLinearMatchesOnnxExample) {
  // onnx/backend/test/case/node/dynamicquantizelinear.py
  Tensor x = f32({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f});
  std::vector<Tensor> out = run("DynamicQuantizeLinear", {&x}, {}, 3);
  EXPECT_EQ(out[0].type().toString(), "u8[6]");
  std::vector<uint8_t> y(out[0].values<uint8_t>().begin(), out[0].values<uint8_t>().end());
  EXPECT_EQ(y, (std::vector<uint8_t>{153, 255, 0, 26, 221, 179}));
  EXPECT_FLOAT_EQ(out[1].values<float>()[0], 0.019607844f);
  EXPECT_EQ(out[2].values<uint8_t>()[0], 153);
}

TEST(ElementwiseOps, DynamicQuantizeLinearEdgeRanges) {
  // Only positive values: the range still includes 0, so the zero point is 0.
  Tensor positive = f32({3}, {1, 2, 5.1f});
  std::vector<Tensor> out = run("DynamicQuantizeLinear", {&positive}, {}, 3);
  EXPECT_EQ(out[2].values<uint8_t>()[0], 0);
  EXPECT_EQ(out[0].values<uint8_t>()[2], 255);
  // All zeros: scale 1 (as ONNX Runtime) instead of a division by zero.
  Tensor zeros = f32({4}, {0, 0, 0, 0});
  out = run("DynamicQuantizeLinear", {&zeros}, {}, 3);
  EXPECT_EQ(out[1].values<float>()[0], 1.0f);
  EXPECT_EQ(out[2].values<uint8_t>()[0], 0);
  for (uint8_t v : out[0].values<uint8_t>()) EXPECT_EQ(v, 0);
  // NaNs are ignored for the range and quantize like QuantizeLinear does (to the lowest value).
  Tensor withNaN = f32({3}, {std::nanf(""), -1, 1});
  out = run("DynamicQuantizeLinear", {&withNaN}, {}, 3);
  EXPECT_FLOAT_EQ(out[1].values<float>()[0], 2.0f / 255.0f);
  EXPECT_EQ(out[0].values<uint8_t>()[0], 0);
  Tensor ints = i32({2}, {1, 2});
  expectBadInput([&] { run("DynamicQuantizeLinear", {&ints}, {}, 3); }, "must be f32");
}

// --- BitShift ----------------------------------------------------------------------------

TEST(ElementwiseOps, BitShiftBroadcastsAndClearsOnWideShifts) {
  Tensor x = u8({4}, {16, 4, 1, 255});
  Tensor n = u8({4}, {1, 2, 3, 1});
  EXPECT_EQ(run1("BitShift", {&x, &n}, attrs({{"direction", std::string("RIGHT")}})).toInt64Vector(),
            (std::vector<int64_t>{8, 1, 0, 127}));
  EXPECT_EQ(run1("BitShift", {&x, &n}, attrs({{"direction", std::string("LEFT")}})).toInt64Vector(),
            (std::vector<int64_t>{32, 16, 8, 254}));
  Tensor wide = u8({1}, {8});
  EXPECT_EQ(run1("BitShift", {&x, &wide}, attrs({{"direction", std::string("LEFT")}})).toInt64Vector(),
            (std::vector<int64_t>{0, 0, 0, 0}));
  Tensor signedX = i8({1}, {1});
  expectBadInput([&] { run1("BitShift", {&signedX, &signedX}, attrs({{"direction", std::string("LEFT")}})); },
                 "must be u8");
  expectBadInput([&] { run1("BitShift", {&x, &n}); }, "direction");
}

// --- CumSum ------------------------------------------------------------------------------

TEST(ElementwiseOps, CumSumExclusiveReverseAndNegativeAxis) {
  // onnx/backend/test/case/node/cumsum.py, in f32.
  Tensor x = f32({5}, {1, 2, 3, 4, 5});
  Tensor axis0 = i32({}, {0});
  expectFloats(run1("CumSum", {&x, &axis0}), {1, 3, 6, 10, 15});
  expectFloats(run1("CumSum", {&x, &axis0}, attrs({{"exclusive", int64_t{1}}})), {0, 1, 3, 6, 10});
  expectFloats(run1("CumSum", {&x, &axis0}, attrs({{"reverse", int64_t{1}}})), {15, 14, 12, 9, 5});
  expectFloats(run1("CumSum", {&x, &axis0}, attrs({{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}})),
               {14, 12, 9, 5, 0});
  Tensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor axisNeg = i64({1}, {-1});
  expectFloats(run1("CumSum", {&m, &axisNeg}), {1, 3, 6, 4, 9, 15});
  expectFloats(run1("CumSum", {&m, &axis0}), {1, 2, 3, 5, 7, 9});
  Tensor ints = i64({2, 2}, {std::numeric_limits<int64_t>::max(), 1, 1, 1});
  Tensor wrapped = run1("CumSum", {&ints, &axis0});
  EXPECT_EQ(wrapped.toInt64Vector()[2], std::numeric_limits<int64_t>::min()); // wraps, no UB
}

TEST(ElementwiseOps, CumSumValidatesAxis) {
  Tensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor far = i64({}, {2});
  expectBadInput([&] { run1("CumSum", {&m, &far}); }, "out of range");
  Tensor twoAxes = i64({2}, {0, 1});
  expectBadInput([&] { run1("CumSum", {&m, &twoAxes}); }, "scalar");
  Tensor bytes = u8({2}, {1, 2});
  Tensor axis0 = i64({}, {0});
  expectBadInput([&] { run1("CumSum", {&bytes, &axis0}); }, "f32, f16, i32 or i64");
}

// --- Registration ------------------------------------------------------------------------

TEST(ElementwiseOps, EveryRegisteredOpHasAKernel) {
  ir::OpTable ops;
  ir::registerElementwiseOps(ops);
  interp::KernelTable kernels;
  interp::registerElementwiseKernels(kernels);
  for (const auto &[name, info] : ops) EXPECT_TRUE(kernels.count(name)) << name;
  for (const auto &[name, fn] : kernels) EXPECT_TRUE(ops.count(name)) << name;
  EXPECT_EQ(ops.at("Sum").minInputs, 1);
  EXPECT_EQ(ops.at("Clip").maxInputs, 3);
}

} // namespace
} // namespace leip
