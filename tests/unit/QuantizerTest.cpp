// Quantizers (src/quant/Quantizer.cpp): integer ranges, scale/zero point from a range or a
// weight, quantize/dequantize/fake-quantize, SQNR. Expected numbers are worked out by hand
// from the formulas in docs/quantization.md; fake quantization is also checked against the
// interpreter's QuantizeLinear/DequantizeLinear kernels.
#include "leip/interp/Kernels.h"
#include "leip/quant/Quantizer.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>

namespace leip {
namespace {

using ir::DType;
using ir::QuantParams;
using ir::Shape;
using ir::Tensor;
using quant::QuantizerKind;
using quant::QuantScheme;

QuantScheme scheme(QuantizerKind kind, DType storage = DType::I8, int bits = 8) { return {kind, bits, storage}; }

Tensor f32(Shape shape, std::vector<float> v) { return Tensor::fromVector(DType::F32, std::move(shape), v); }

std::vector<float> uniform(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v) x = dist(rng);
  return v;
}

bool isPowerOfTwo(float x) {
  int exponent;
  return x > 0 && std::frexp(x, &exponent) == 0.5f;
}

/// QuantizeLinear then DequantizeLinear through the interpreter's kernels.
std::vector<float> interpreterQdq(const Tensor &x, const QuantParams &params) {
  ir::Graph graph;
  Tensor scale = Tensor::fromVector(DType::F32, {static_cast<int64_t>(params.scales.size())}, params.scales);
  Tensor zeroPoint(params.storage, scale.shape());
  for (size_t i = 0; i < params.zeroPoints.size(); ++i)
    zeroPoint.setFromDouble(static_cast<int64_t>(i), static_cast<double>(params.zeroPoints[i]));
  if (!params.axis) { // scalars, as exporters write per-tensor parameters
    scale = scale.reshaped({});
    zeroPoint = zeroPoint.reshaped({});
  }
  ir::Value *in = graph.addInput("x", x.type());
  ir::Value *s = graph.addInput("s", scale.type());
  ir::Value *z = graph.addInput("z", zeroPoint.type());
  ir::Node *quantizeNode = graph.addNode("QuantizeLinear", "q", {in, s, z}, {"xq"});
  if (params.axis) quantizeNode->attrs().set("axis", *params.axis);
  Tensor q = interp::evaluateNode(*quantizeNode, {&x, &scale, &zeroPoint}).at(0);
  ir::Value *qValue = graph.addInput("xq_in", q.type());
  ir::Node *dequantizeNode = graph.addNode("DequantizeLinear", "dq", {qValue, s, z}, {"y"});
  if (params.axis) dequantizeNode->attrs().set("axis", *params.axis);
  return interp::evaluateNode(*dequantizeNode, {&q, &scale, &zeroPoint}).at(0).toFloatVector();
}

TEST(QuantQuantizer, NamesRoundTripAndUnknownNamesListTheValidOnes) {
  for (auto kind : {QuantizerKind::Asymmetric, QuantizerKind::Symmetric, QuantizerKind::SymmetricPerChannel,
                    QuantizerKind::AsymmetricPerChannel, QuantizerKind::PowerOfTwo})
    EXPECT_EQ(quant::parseQuantizerKind(quant::quantizerName(kind)), kind);
  EXPECT_EQ(quant::parseQuantizerKind("symmetricpc"), QuantizerKind::SymmetricPerChannel);
  EXPECT_EQ(quant::quantizerName(QuantizerKind::PowerOfTwo), "power_of_two");
  try {
    quant::parseQuantizerKind("int8");
    FAIL() << "accepted an unknown quantizer";
  } catch (const BadInputError &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'int8'"), std::string::npos) << what;
    for (const char *name : {"asymmetric", "symmetric", "symmetricpc", "asymmetricpc", "power_of_two"})
      EXPECT_NE(what.find(name), std::string::npos) << what;
  }
}

TEST(QuantQuantizer, IntegerRangesForInt8Uint8AndFourBits) {
  struct Case {
    QuantScheme scheme;
    int64_t qmin, qmax, intMin, intMax, symmetricZeroPoint;
  };
  const Case cases[] = {
      {scheme(QuantizerKind::Asymmetric, DType::I8), -128, 127, -128, 127, 0},
      {scheme(QuantizerKind::Symmetric, DType::I8), -127, 127, -128, 127, 0},
      {scheme(QuantizerKind::Asymmetric, DType::U8), 0, 255, 0, 255, 128},
      {scheme(QuantizerKind::Symmetric, DType::U8), 1, 255, 0, 255, 128},
      {scheme(QuantizerKind::PowerOfTwo, DType::I8), -127, 127, -128, 127, 0},
      {scheme(QuantizerKind::AsymmetricPerChannel, DType::I8, 4), -8, 7, -8, 7, 0},
      {scheme(QuantizerKind::SymmetricPerChannel, DType::I8, 4), -7, 7, -8, 7, 0},
      {scheme(QuantizerKind::Asymmetric, DType::U8, 4), 0, 15, 0, 15, 8},
      {scheme(QuantizerKind::Symmetric, DType::U8, 4), 1, 15, 0, 15, 8},
      {scheme(QuantizerKind::Symmetric, DType::I8, 2), -1, 1, -2, 1, 0},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(quant::quantizerName(c.scheme.kind)) + " " + std::string(ir::dtypeName(c.scheme.storage)) +
                 " bits " + std::to_string(c.scheme.bits));
    EXPECT_EQ(c.scheme.qmin(), c.qmin);
    EXPECT_EQ(c.scheme.qmax(), c.qmax);
    EXPECT_EQ(c.scheme.intMin(), c.intMin);
    EXPECT_EQ(c.scheme.intMax(), c.intMax);
    EXPECT_EQ(c.scheme.symmetricZeroPoint(), c.symmetricZeroPoint);
  }
  EXPECT_TRUE(scheme(QuantizerKind::SymmetricPerChannel).perChannel());
  EXPECT_FALSE(scheme(QuantizerKind::PowerOfTwo).perChannel());
  EXPECT_EQ(scheme(QuantizerKind::AsymmetricPerChannel).perTensor().kind, QuantizerKind::Asymmetric);
  EXPECT_EQ(scheme(QuantizerKind::SymmetricPerChannel).perTensor().kind, QuantizerKind::Symmetric);
  EXPECT_THROW(scheme(QuantizerKind::Symmetric, DType::I8, 1).validate(), BadInputError);
  EXPECT_THROW(scheme(QuantizerKind::Symmetric, DType::I8, 9).validate(), BadInputError);
  EXPECT_THROW(scheme(QuantizerKind::Symmetric, DType::F32).validate(), BadInputError);
  EXPECT_THROW(quant::paramsFromRange(-1, 1, scheme(QuantizerKind::Symmetric, DType::I32)), BadInputError);
}

TEST(QuantQuantizer, AsymmetricParamsFromRange) {
  // [-1, 3]: scale 4/255; uint8 zero point round(0 + 63.75) = 64, int8 round(-128 + 63.75) = -64.
  QuantParams u8 = quant::paramsFromRange(-1, 3, scheme(QuantizerKind::Asymmetric, DType::U8));
  EXPECT_FLOAT_EQ(u8.scales.at(0), 4.0f / 255);
  EXPECT_EQ(u8.zeroPoints.at(0), 64);
  EXPECT_EQ(u8.storage, DType::U8);
  EXPECT_FALSE(u8.axis);
  QuantParams i8 = quant::paramsFromRange(-1, 3, scheme(QuantizerKind::Asymmetric, DType::I8));
  EXPECT_FLOAT_EQ(i8.scales.at(0), 4.0f / 255);
  EXPECT_EQ(i8.zeroPoints.at(0), -64);
  // The range is widened to include 0: [2, 5] quantizes like [0, 5].
  QuantParams positive = quant::paramsFromRange(2, 5, scheme(QuantizerKind::Asymmetric, DType::U8));
  EXPECT_FLOAT_EQ(positive.scales.at(0), 5.0f / 255);
  EXPECT_EQ(positive.zeroPoints.at(0), 0);
  QuantParams negative = quant::paramsFromRange(-5, -2, scheme(QuantizerKind::Asymmetric, DType::I8));
  EXPECT_FLOAT_EQ(negative.scales.at(0), 5.0f / 255);
  EXPECT_EQ(negative.zeroPoints.at(0), 127);
  // 4 bits: [-1, 3] onto [0, 15]: scale 4/15, zero point round(3.75) = 4.
  QuantParams u4 = quant::paramsFromRange(-1, 3, scheme(QuantizerKind::Asymmetric, DType::U8, 4));
  EXPECT_FLOAT_EQ(u4.scales.at(0), 4.0f / 15);
  EXPECT_EQ(u4.zeroPoints.at(0), 4);
}

TEST(QuantQuantizer, SymmetricParamsFromRange) {
  QuantParams i8 = quant::paramsFromRange(-2, 5, scheme(QuantizerKind::Symmetric, DType::I8));
  EXPECT_FLOAT_EQ(i8.scales.at(0), 5.0f / 127);
  EXPECT_EQ(i8.zeroPoints.at(0), 0);
  QuantParams u8 = quant::paramsFromRange(-2, 5, scheme(QuantizerKind::Symmetric, DType::U8));
  EXPECT_FLOAT_EQ(u8.scales.at(0), 5.0f / 127);
  EXPECT_EQ(u8.zeroPoints.at(0), 128);
  QuantParams i4 = quant::paramsFromRange(-6, 1, scheme(QuantizerKind::Symmetric, DType::I8, 4));
  EXPECT_FLOAT_EQ(i4.scales.at(0), 6.0f / 7);
  EXPECT_EQ(i4.zeroPoints.at(0), 0);
  QuantParams u4 = quant::paramsFromRange(-6, 1, scheme(QuantizerKind::Symmetric, DType::U8, 4));
  EXPECT_FLOAT_EQ(u4.scales.at(0), 6.0f / 7);
  EXPECT_EQ(u4.zeroPoints.at(0), 8);
  // Per-channel kinds give their per-tensor counterpart here.
  EXPECT_EQ(quant::paramsFromRange(-2, 5, scheme(QuantizerKind::SymmetricPerChannel)), i8);
}

TEST(QuantQuantizer, DegenerateRangesGiveUsableScales) {
  for (QuantizerKind kind : {QuantizerKind::Asymmetric, QuantizerKind::Symmetric, QuantizerKind::PowerOfTwo})
    for (DType storage : {DType::I8, DType::U8}) {
      SCOPED_TRACE(std::string(quant::quantizerName(kind)) + " " + std::string(ir::dtypeName(storage)));
      QuantScheme s = scheme(kind, storage);
      QuantParams zero = quant::paramsFromRange(0, 0, s);
      EXPECT_EQ(zero.scales.at(0), 1.0f);
      // Real 0 must stay exactly representable.
      EXPECT_GE(zero.zeroPoints.at(0), s.qmin());
      EXPECT_LE(zero.zeroPoints.at(0), s.qmax());
      Tensor zeros(DType::F32, {3});
      EXPECT_EQ(quant::dequantize(quant::quantize(zeros, zero), zero).toFloatVector(), (std::vector<float>{0, 0, 0}));
      for (float tiny : {1e-42f, 1e-38f, 3e-39f}) {
        QuantParams p = quant::paramsFromRange(-tiny, tiny, s);
        EXPECT_EQ(std::fpclassify(p.scales.at(0)), FP_NORMAL) << tiny;
        EXPECT_GE(p.scales.at(0), FLT_MIN) << tiny;
      }
      // The widest float range does not overflow the scale.
      QuantParams huge = quant::paramsFromRange(-FLT_MAX, FLT_MAX, s);
      EXPECT_TRUE(std::isfinite(huge.scales.at(0)));
    }
  QuantScheme s = scheme(QuantizerKind::Asymmetric);
  EXPECT_THROW(quant::paramsFromRange(2, 1, s), BadInputError);
  EXPECT_THROW(quant::paramsFromRange(NAN, 1, s), BadInputError);
  EXPECT_THROW(quant::paramsFromRange(-1, INFINITY, s), BadInputError);
}

TEST(QuantQuantizer, RoundTripErrorIsAtMostHalfAStepInRange) {
  struct Case {
    QuantScheme scheme;
    float lo, hi;
  };
  const Case cases[] = {
      {scheme(QuantizerKind::Asymmetric, DType::U8), -1.5f, 4.0f},
      {scheme(QuantizerKind::Asymmetric, DType::I8), -0.2f, 7.0f},
      {scheme(QuantizerKind::Symmetric, DType::I8), -3.0f, 2.0f},
      {scheme(QuantizerKind::Symmetric, DType::U8), -3.0f, 2.0f},
      {scheme(QuantizerKind::PowerOfTwo, DType::I8), -0.7f, 0.9f},
      {scheme(QuantizerKind::Asymmetric, DType::U8, 4), -1.0f, 1.0f},
      {scheme(QuantizerKind::Symmetric, DType::I8, 4), -5.0f, 5.0f},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(quant::quantizerName(c.scheme.kind)) + " " + std::string(ir::dtypeName(c.scheme.storage)) +
                 " bits " + std::to_string(c.scheme.bits));
    QuantParams p = quant::paramsFromRange(c.lo, c.hi, c.scheme);
    std::vector<float> values = uniform(5000, c.lo, c.hi, 7);
    values.push_back(c.lo);
    values.push_back(c.hi);
    values.push_back(0.0f);
    Tensor x = f32({static_cast<int64_t>(values.size())}, values);
    Tensor q = quant::quantize(x, p, c.scheme.bits);
    EXPECT_EQ(q.dtype(), c.scheme.storage);
    std::vector<float> back = quant::dequantize(q, p).toFloatVector();
    std::vector<float> fake = values;
    quant::fakeQuantize(fake, x.shape(), p, c.scheme.bits);
    const float halfStep = p.scales[0] / 2 * (1 + 1e-5f);
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_LE(std::fabs(back[i] - values[i]), halfStep) << values[i];
      EXPECT_EQ(fake[i], back[i]) << values[i]; // fake quantization is exactly quantize + dequantize
      int64_t qi = q.getAsInt64(static_cast<int64_t>(i));
      EXPECT_GE(qi, c.scheme.qmin());
      EXPECT_LE(qi, c.scheme.qmax());
    }
    EXPECT_EQ(back[values.size() - 1], 0.0f); // 0 is exact
  }
}

TEST(QuantQuantizer, SaturatesToTheFullIntegerRange) {
  // As QuantizeLinear: symmetric int8 maps its range onto [-127, 127] but still saturates at
  // -128, so results match ONNX Runtime on the exported QDQ model.
  Tensor x = f32({4}, {-1000, -1.05f, 1.05f, 1000});
  QuantParams i8 = quant::paramsFromRange(-1, 1, scheme(QuantizerKind::Symmetric, DType::I8));
  EXPECT_EQ(quant::quantize(x, i8).toInt64Vector(), (std::vector<int64_t>{-128, -128, 127, 127}));
  QuantParams u8 = quant::paramsFromRange(-1, 1, scheme(QuantizerKind::Asymmetric, DType::U8));
  EXPECT_EQ(quant::quantize(x, u8).toInt64Vector(), (std::vector<int64_t>{0, 0, 255, 255}));
  QuantParams i4 = quant::paramsFromRange(-1, 1, scheme(QuantizerKind::Symmetric, DType::I8, 4));
  EXPECT_EQ(quant::quantize(x, i4, 4).toInt64Vector(), (std::vector<int64_t>{-8, -7, 7, 7}));
  QuantParams u4 = quant::paramsFromRange(-1, 1, scheme(QuantizerKind::Asymmetric, DType::U8, 4));
  EXPECT_EQ(quant::quantize(x, u4, 4).toInt64Vector(), (std::vector<int64_t>{0, 0, 15, 15}));
  std::vector<float> fake = x.toFloatVector();
  quant::fakeQuantize(fake, x.shape(), i8);
  EXPECT_FLOAT_EQ(fake[0], -128 * i8.scales[0]);
  EXPECT_FLOAT_EQ(fake[3], 127 * i8.scales[0]);
  // NaN quantizes to the lowest value, as the interpreter's QuantizeLinear.
  EXPECT_EQ(quant::quantize(f32({1}, {NAN}), i8).toInt64Vector(), (std::vector<int64_t>{-128}));
}

TEST(QuantQuantizer, RoundsHalfToEven) {
  QuantParams unit{{1.0f}, {0}, std::nullopt, DType::I8};
  Tensor x = f32({8}, {0.5f, 1.5f, 2.5f, 3.5f, -0.5f, -1.5f, -2.5f, 2.4999f});
  EXPECT_EQ(quant::quantize(x, unit).toInt64Vector(), (std::vector<int64_t>{0, 2, 2, 4, 0, -2, -2, 2}));
  // x / scale is the value rounded: 1.25 / 0.5 = 2.5 -> 2; with zero point 3 -> 5.
  QuantParams half{{0.5f}, {3}, std::nullopt, DType::U8};
  EXPECT_EQ(quant::quantize(f32({2}, {1.25f, 1.75f}), half).toInt64Vector(), (std::vector<int64_t>{5, 7}));
}

TEST(QuantQuantizer, DequantizeAppliesScaleAndZeroPoint) {
  QuantParams p{{0.5f}, {-10}, std::nullopt, DType::I8};
  Tensor q = Tensor::fromVector<int8_t>(DType::I8, {3}, {-128, 0, 127});
  EXPECT_EQ(quant::dequantize(q, p).toFloatVector(), (std::vector<float>{-59.0f, 5.0f, 68.5f}));
  EXPECT_THROW(quant::dequantize(q, QuantParams{{0.5f}, {0}, std::nullopt, DType::U8}), InternalError);
}

TEST(QuantQuantizer, PerChannelAlongAxisZero) {
  // Conv-like weight [2, 3]: channel 0 spans [-1, 0.6], channel 1 spans [-0.1, 4].
  std::vector<float> w = {-1.0f, 0.25f, 0.6f, 4.0f, -0.1f, 2.2f};
  Shape shape = {2, 3};
  QuantParams sym = quant::weightParams(w, shape, scheme(QuantizerKind::SymmetricPerChannel));
  ASSERT_EQ(sym.axis, std::optional<int64_t>(0));
  ASSERT_EQ(sym.scales.size(), 2u);
  EXPECT_FLOAT_EQ(sym.scales[0], 1.0f / 127);
  EXPECT_FLOAT_EQ(sym.scales[1], 4.0f / 127);
  EXPECT_EQ(sym.zeroPoints, (std::vector<int64_t>{0, 0}));
  Tensor q = quant::quantize(f32(shape, w), sym);
  // Each channel's largest magnitude lands on +-127; the others scale by their own channel:
  // 0.25 * 127 = 31.75, 0.6 * 127 = 76.2, -0.1 * 127 / 4 = -3.175, 2.2 * 127 / 4 = 69.85.
  EXPECT_EQ(q.toInt64Vector(), (std::vector<int64_t>{-127, 32, 76, 127, -3, 70}));

  QuantParams asym = quant::weightParams(w, shape, scheme(QuantizerKind::AsymmetricPerChannel, DType::U8));
  EXPECT_FLOAT_EQ(asym.scales[0], 1.6f / 255);
  EXPECT_FLOAT_EQ(asym.scales[1], 4.1f / 255);
  EXPECT_EQ(asym.zeroPoints[0], 159); // round(1 / (1.6 / 255)) = round(159.375)
  EXPECT_EQ(asym.zeroPoints[1], 6);   // round(0.1 / (4.1 / 255)) = round(6.22)
  // 0.25 / (1.6 / 255) = 39.84 -> 40 + 159; 2.2 / (4.1 / 255) = 136.83 -> 137 + 6.
  EXPECT_EQ(quant::quantize(f32(shape, w), asym).toInt64Vector(), (std::vector<int64_t>{0, 199, 255, 255, 0, 143}));

  // Per-tensor schemes take one range whatever the axis.
  QuantParams tensor = quant::weightParams(w, shape, scheme(QuantizerKind::Symmetric), 1);
  EXPECT_FALSE(tensor.axis);
  EXPECT_FLOAT_EQ(tensor.scales.at(0), 4.0f / 127);
}

TEST(QuantQuantizer, PerChannelAlongAxisOneAndNegativeAxis) {
  // [2, 3, 2]: channel c along axis 1 holds values up to (c + 1) * 10 in magnitude.
  Shape shape = {2, 3, 2};
  std::vector<float> w(12);
  for (size_t i = 0; i < w.size(); ++i) {
    size_t c = (i / 2) % 3;
    float magnitude = static_cast<float>(c + 1) * 10.0f;
    w[i] = (i % 2 ? -1.0f : 0.3f) * magnitude * (i / 6 ? 1.0f : 0.5f);
  }
  QuantParams p = quant::weightParams(w, shape, scheme(QuantizerKind::SymmetricPerChannel), 1);
  ASSERT_EQ(p.axis, std::optional<int64_t>(1));
  ASSERT_EQ(p.scales.size(), 3u);
  for (size_t c = 0; c < 3; ++c)
    EXPECT_FLOAT_EQ(p.scales[c], static_cast<float>(c + 1) * 10.0f / 127) << c;
  std::vector<float> fake = w;
  quant::fakeQuantize(fake, shape, p);
  for (size_t i = 0; i < w.size(); ++i) {
    float step = p.scales[(i / 2) % 3];
    EXPECT_LE(std::fabs(fake[i] - w[i]), step / 2 * 1.00001f) << i;
    // The most negative of each channel (second half, odd positions) is exactly -127 steps.
    if (i / 6 && i % 2) {
      EXPECT_FLOAT_EQ(fake[i], -127 * step) << i;
    }
  }
  EXPECT_EQ(quant::weightParams(w, shape, scheme(QuantizerKind::SymmetricPerChannel), -2), p);
  auto ranges = quant::channelRanges(w, shape, 1);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[2], (std::pair<float, float>{-30.0f, 9.0f}));
  EXPECT_THROW(quant::weightParams(w, shape, scheme(QuantizerKind::SymmetricPerChannel), 3), InternalError);
  std::vector<float> bad = w;
  bad[5] = NAN;
  EXPECT_THROW(quant::weightParams(bad, shape, scheme(QuantizerKind::SymmetricPerChannel), 1), BadInputError);
}

TEST(QuantQuantizer, FakeQuantizeMatchesTheInterpretersQuantizeDequantizeLinear) {
  Shape shape = {3, 4, 5};
  std::vector<float> values = uniform(60, -3.0f, 5.0f, 11);
  values[7] = 40.0f; // saturates
  values[8] = -40.0f;
  Tensor x = f32(shape, values);
  const QuantScheme perTensor[] = {scheme(QuantizerKind::Asymmetric, DType::U8), scheme(QuantizerKind::Symmetric),
                                   scheme(QuantizerKind::PowerOfTwo, DType::U8)};
  for (const QuantScheme &s : perTensor) {
    QuantParams p = quant::paramsFromRange(-2.0f, 3.0f, s);
    std::vector<float> fake = values;
    quant::fakeQuantize(fake, shape, p);
    EXPECT_EQ(fake, interpreterQdq(x, p)) << quant::quantizerName(s.kind);
  }
  for (int64_t axis : {0, 1, 2}) {
    QuantParams p =
        quant::weightParams(uniform(60, -1, 1, 3), shape, scheme(QuantizerKind::AsymmetricPerChannel), axis);
    std::vector<float> fake = values;
    quant::fakeQuantize(fake, shape, p);
    EXPECT_EQ(fake, interpreterQdq(x, p)) << "axis " << axis;
  }
}

TEST(QuantQuantizer, PowerOfTwoScalesArePowersOfTwoThatCoverTheRange) {
  for (float absMax : {1e-3f, 0.3f, 1.0f, 1.27f, 5.7f, 127.0f, 1000.0f})
    for (DType storage : {DType::I8, DType::U8}) {
      QuantParams p = quant::paramsFromRange(-absMax / 3, absMax, scheme(QuantizerKind::PowerOfTwo, storage));
      float s = p.scales.at(0);
      EXPECT_TRUE(isPowerOfTwo(s)) << absMax << " -> " << s;
      EXPECT_GE(127 * s, absMax) << absMax;      // covers
      EXPECT_LT(127 * (s / 2), absMax) << absMax; // and is the smallest that does
      EXPECT_EQ(p.zeroPoints.at(0), storage == DType::U8 ? 128 : 0);
    }
  // 1.27 / 127 = 0.01 -> 2^-6; 127 / 127 = 1 is already a power of two.
  EXPECT_EQ(quant::paramsFromRange(0, 1.27f, scheme(QuantizerKind::PowerOfTwo)).scales[0], 0.015625f);
  EXPECT_EQ(quant::paramsFromRange(-127, 0, scheme(QuantizerKind::PowerOfTwo)).scales[0], 1.0f);
}

TEST(QuantQuantizer, BiasParamsMultiplyInputAndWeightScales) {
  QuantParams weight{{0.01f, 0.02f}, {0, 0}, 0, DType::I8};
  QuantParams bias = quant::biasParams(0.1f, weight);
  EXPECT_EQ(bias.storage, DType::I32);
  EXPECT_EQ(bias.axis, std::optional<int64_t>(0));
  EXPECT_FLOAT_EQ(bias.scales[0], 0.001f);
  EXPECT_FLOAT_EQ(bias.scales[1], 0.002f);
  EXPECT_EQ(bias.zeroPoints, (std::vector<int64_t>{0, 0}));
  Tensor b = f32({2}, {1.0f, -3e9f});
  EXPECT_EQ(quant::quantize(b, bias).toInt64Vector(), (std::vector<int64_t>{1000, INT32_MIN}));
}

TEST(QuantQuantizer, SqnrAgainstHandComputedCases) {
  // Signal 1 + 4 + 9 + 16 = 30; noise 0.01 + 0.01 = 0.02; 10 log10(1500) = 31.7609 dB.
  std::vector<float> ref = {1, 2, 3, 4};
  EXPECT_NEAR(quant::sqnrDb(ref, std::vector<float>{1.1f, 1.9f, 3, 4}), 31.7609, 1e-3);
  // Noise equal to the signal: 0 dB; a tenth of the amplitude: 20 dB.
  EXPECT_NEAR(quant::sqnrDb(ref, std::vector<float>{0, 0, 0, 0}), 0.0, 1e-12);
  EXPECT_NEAR(quant::sqnrDb(ref, std::vector<float>{0.9f, 1.8f, 2.7f, 3.6f}), 20.0, 1e-5);
  EXPECT_EQ(quant::sqnrDb(ref, ref), quant::kMaxSqnrDb);
  EXPECT_EQ(quant::sqnrDb({}, {}), quant::kMaxSqnrDb);
  EXPECT_EQ(quant::sqnrDb(std::vector<float>{0, 0}, std::vector<float>{0, 1}), -quant::kMaxSqnrDb);
  EXPECT_TRUE(std::isnan(quant::sqnrDb(ref, std::vector<float>{1, NAN, 3, 4})));
  EXPECT_THROW(quant::sqnrDb(ref, std::vector<float>{1, 2}), InternalError);
  // 8-bit fake quantization of uniform data: about 6.02 * 8 dB (uniform signal power
  // r^2/3 over noise step^2/12 with step 2r/255 gives 20 log10(255) = 48.1 dB).
  std::vector<float> x = uniform(100000, -1, 1, 5), fake = x;
  quant::fakeQuantize(fake, {100000}, quant::paramsFromRange(-1, 1, scheme(QuantizerKind::Asymmetric)));
  EXPECT_NEAR(quant::sqnrDb(x, fake), 20 * std::log10(255.0), 0.2);
}

} // namespace
} // namespace leip
