// Neural-network ops: shape rules (src/ir/ops/NN.cpp) and reference kernels
// (src/interp/kernels/NN.cpp). Convolutions are checked against a naive N-d loop written
// here and against structural identities (identity kernels, groups, the ConvTranspose /
// Conv adjoint relation); small cases use values from ONNX's own reference (onnx 1.12
// backend/test/case/node/*.py).
#include "leip/interp/Kernels.h"
#include "leip/ir/Graph.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using namespace leip;
using namespace leip::ir;

namespace {

using Attrs = std::vector<std::pair<std::string, Attribute>>;

std::vector<int64_t> ints(std::initializer_list<int64_t> v) { return v; }

/// Runs one `op` node on `inputs` (null = omitted optional input) through shape inference
/// and the kernel, the way the interpreter does.
std::vector<Tensor> runOp(const std::string &op, const std::vector<const Tensor *> &inputs, const Attrs &attrs = {},
                          size_t numOutputs = 1) {
  Graph graph;
  std::vector<Value *> values;
  for (size_t i = 0; i < inputs.size(); ++i)
    values.push_back(inputs[i] ? graph.addInput("in" + std::to_string(i), inputs[i]->type()) : nullptr);
  std::vector<std::string> outs;
  for (size_t i = 0; i < numOutputs; ++i) outs.push_back("out" + std::to_string(i));
  Node *node = graph.addNode(op, "n", values, outs);
  for (const auto &[name, value] : attrs) node->attrs().set(name, value);
  return interp::evaluateNode(*node, inputs);
}

Tensor runOne(const std::string &op, const std::vector<const Tensor *> &inputs, const Attrs &attrs = {}) {
  return runOp(op, inputs, attrs).at(0);
}

Tensor f32(Shape shape, std::vector<float> values) { return Tensor::fromVector<float>(DType::F32, shape, values); }

/// Deterministic values in [-1, 1).
Tensor randomTensor(Shape shape, uint32_t seed) {
  Tensor t(DType::F32, std::move(shape));
  uint32_t s = seed * 2654435761u + 12345u;
  for (float &v : t.values<float>()) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.f;
  }
  return t;
}

void expectNear(const Tensor &got, const Tensor &want, float tol = 1e-4f) {
  ASSERT_EQ(got.shape(), want.shape());
  auto g = got.values<float>();
  auto w = want.values<float>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * std::max(1.f, std::fabs(w[i]))) << "at flat index " << i;
}

void expectValues(const Tensor &got, Shape shape, const std::vector<float> &want, float tol = 1e-4f) {
  expectNear(got, f32(std::move(shape), want), tol);
}

// ---- an independent, deliberately naive convolution ----

struct ConvSpec {
  std::vector<int64_t> strides, dilations, pads; // pads: begins then ends
  int64_t group = 1;
};

/// Y[n, m, o...] = sum_{c in group, k} X[n, c, o*s - p + k*d] * W[m, c, k] (+ B[m]).
Tensor naiveConv(const Tensor &x, const Tensor &w, const Tensor *b, const ConvSpec &spec) {
  const Shape &xs = x.shape(), &ws = w.shape();
  size_t r = xs.size() - 2;
  Shape ys{xs[0], ws[0]};
  for (size_t d = 0; d < r; ++d)
    ys.push_back((xs[d + 2] + spec.pads[d] + spec.pads[d + r] - ((ws[d + 2] - 1) * spec.dilations[d] + 1)) /
                     spec.strides[d] + 1);
  Tensor y(DType::F32, ys);
  auto xst = stridesOf(xs), wst = stridesOf(ws), yst = stridesOf(ys);
  int64_t cg = ws[1], mg = ws[0] / spec.group;
  for (int64_t yi = 0; yi < y.numElements(); ++yi) {
    std::vector<int64_t> yidx(ys.size());
    for (size_t d = 0, rem = yi; d < ys.size(); ++d) {
      yidx[d] = static_cast<int64_t>(rem) / yst[d];
      rem = static_cast<size_t>(static_cast<int64_t>(rem) % yst[d]);
    }
    int64_t n = yidx[0], m = yidx[1], g = m / mg;
    double acc = b ? b->values<float>()[static_cast<size_t>(m)] : 0.0;
    Shape kernel(ws.begin() + 2, ws.end());
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t ki = 0; ki < numElements(kernel); ++ki) {
        int64_t rem = ki, xoff = (n * xs[1] + g * cg + c) * xst[1], woff = (m * ws[1] + c) * wst[1];
        bool inside = true;
        for (size_t d = r; d-- > 0;) {
          int64_t k = rem % kernel[d];
          rem /= kernel[d];
          int64_t pos = yidx[d + 2] * spec.strides[d] - spec.pads[d] + k * spec.dilations[d];
          inside = inside && pos >= 0 && pos < xs[d + 2];
          xoff += pos * xst[d + 2];
          woff += k * wst[d + 2];
        }
        if (inside) acc += static_cast<double>(x.values<float>()[xoff]) * w.values<float>()[woff];
      }
    y.data<float>()[yi] = static_cast<float>(acc);
  }
  return y;
}

Attrs convAttrs(const ConvSpec &s) {
  return {{"strides", s.strides}, {"dilations", s.dilations}, {"pads", s.pads}, {"group", s.group}};
}

double dot(const Tensor &a, const Tensor &b) {
  double sum = 0;
  for (int64_t i = 0; i < a.numElements(); ++i)
    sum += static_cast<double>(a.values<float>()[i]) * b.values<float>()[i];
  return sum;
}

} // namespace

// ---------------------------------------------------------------------------------------
// Conv

TEST(NNConv, MatchesNaiveLoopIn1d2d3d) {
  struct Case {
    Shape x, w;
    ConvSpec spec;
  };
  std::vector<Case> cases = {
      {{2, 3, 11}, {4, 3, 3}, {{2}, {1}, {1, 0}, 1}},                                  // 1-D, asymmetric pad
      {{1, 3, 9, 8}, {5, 3, 3, 3}, {{1, 1}, {1, 1}, {1, 1, 1, 1}, 1}},                  // 3x3 same
      {{2, 4, 10, 7}, {6, 2, 3, 2}, {{2, 1}, {2, 1}, {0, 1, 2, 0}, 2}},                 // groups, dilation
      {{1, 6, 8, 8}, {6, 1, 3, 3}, {{2, 2}, {1, 1}, {1, 1, 1, 1}, 6}},                  // depthwise s2
      {{1, 3, 7, 9}, {6, 1, 3, 3}, {{1, 2}, {2, 1}, {2, 1, 0, 1}, 3}},                  // multiplier 2
      {{1, 2, 5, 6, 4}, {3, 2, 2, 3, 2}, {{1, 2, 1}, {2, 1, 1}, {1, 0, 1, 0, 1, 1}, 1}}, // 3-D
      {{1, 8, 6, 6}, {5, 8, 1, 1}, {{1, 1}, {1, 1}, {0, 0, 0, 0}, 1}},                  // pointwise
      {{1, 3, 300, 40}, {4, 3, 5, 5}, {{1, 1}, {1, 1}, {2, 2, 2, 2}, 1}},               // chunked columns
  };
  uint32_t seed = 1;
  for (const Case &c : cases) {
    Tensor x = randomTensor(c.x, seed++), w = randomTensor(c.w, seed++), b = randomTensor({c.w[0]}, seed++);
    Tensor got = runOne("Conv", {&x, &w, &b}, convAttrs(c.spec));
    expectNear(got, naiveConv(x, w, &b, c.spec));
    Tensor noBias = runOne("Conv", {&x, &w}, convAttrs(c.spec));
    expectNear(noBias, naiveConv(x, w, nullptr, c.spec));
  }
}

TEST(NNConv, IdentityKernelReturnsInput) {
  Tensor x = randomTensor({1, 2, 5, 4}, 7);
  // W[m, c, 1, 1] = (m == c) with a 3x3 kernel whose centre is the identity, pads 1.
  Tensor w(DType::F32, {2, 2, 3, 3});
  w.data<float>()[(0 * 2 + 0) * 9 + 4] = 1;
  w.data<float>()[(1 * 2 + 1) * 9 + 4] = 1;
  Tensor y = runOne("Conv", {&x, &w}, {{"pads", ints({1, 1, 1, 1})}});
  expectNear(y, x, 0);
}

TEST(NNConv, GroupedEqualsPerGroupConvs) {
  Tensor x = randomTensor({1, 4, 6, 6}, 3), w = randomTensor({6, 2, 3, 3}, 4);
  Tensor y = runOne("Conv", {&x, &w}, {{"group", int64_t{2}}});
  for (int64_t g = 0; g < 2; ++g) {
    Tensor xg(DType::F32, {1, 2, 6, 6}), wg(DType::F32, {3, 2, 3, 3});
    std::copy_n(x.data<float>() + g * 72, 72, xg.data<float>());
    std::copy_n(w.data<float>() + g * 54, 54, wg.data<float>());
    Tensor yg = runOne("Conv", {&xg, &wg});
    for (int64_t i = 0; i < yg.numElements(); ++i)
      EXPECT_NEAR(y.data<float>()[g * yg.numElements() + i], yg.data<float>()[i], 1e-5);
  }
}

TEST(NNConv, AutoPadSameUpperLowerAndValid) {
  Tensor x = randomTensor({1, 1, 5, 6}, 9), w = randomTensor({1, 1, 3, 3}, 10);
  // in 5x6, stride 2 -> out 3x3; total pads 2 and 1 (upper puts the odd one at the end).
  Tensor upper = runOne("Conv", {&x, &w}, {{"auto_pad", std::string("SAME_UPPER")}, {"strides", ints({2, 2})}});
  expectNear(upper, naiveConv(x, w, nullptr, {{2, 2}, {1, 1}, {1, 0, 1, 1}}));
  Tensor lower = runOne("Conv", {&x, &w}, {{"auto_pad", std::string("SAME_LOWER")}, {"strides", ints({2, 2})}});
  expectNear(lower, naiveConv(x, w, nullptr, {{2, 2}, {1, 1}, {1, 1, 1, 0}}));
  Tensor valid = runOne("Conv", {&x, &w}, {{"auto_pad", std::string("VALID")}, {"strides", ints({2, 2})}});
  EXPECT_EQ(valid.shape(), (Shape{1, 1, 2, 2}));
  expectNear(valid, naiveConv(x, w, nullptr, {{2, 2}, {1, 1}, {0, 0, 0, 0}}));
}

TEST(NNConv, OnnxExampleWithPadding) {
  // onnx conv.py: 5x5 ramp, all-ones 3x3 kernel, pads 1.
  std::vector<float> ramp(25);
  for (int i = 0; i < 25; ++i) ramp[i] = static_cast<float>(i);
  Tensor x = f32({1, 1, 5, 5}, ramp), w = f32({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  Tensor y = runOne("Conv", {&x, &w}, {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}});
  expectValues(y, {1, 1, 5, 5}, {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                                  93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
}

TEST(NNConv, RejectsBadModels) {
  Tensor x = randomTensor({1, 4, 5, 5}, 1);
  Tensor w3 = randomTensor({2, 3, 3, 3}, 2), w = randomTensor({2, 4, 3, 3}, 3), w1d = randomTensor({2, 4, 3}, 4);
  Tensor big = randomTensor({2, 4, 7, 7}, 5), b3 = randomTensor({3}, 6);
  EXPECT_THROW(runOp("Conv", {&x, &w3}), BadInputError);                                 // channels
  EXPECT_THROW(runOp("Conv", {&x, &w1d}), BadInputError);                                // weight rank
  EXPECT_THROW(runOp("Conv", {&x, &big}), BadInputError);                                // output dim 0
  EXPECT_THROW(runOp("Conv", {&x, &w, &b3}), BadInputError);                             // bias size
  EXPECT_THROW(runOp("Conv", {&x, &w}, {{"strides", ints({1})}}), BadInputError);        // strides length
  EXPECT_THROW(runOp("Conv", {&x, &w}, {{"strides", ints({0, 1})}}), BadInputError);     // stride 0
  EXPECT_THROW(runOp("Conv", {&x, &w}, {{"pads", ints({1, 1})}}), BadInputError);        // pads length
  EXPECT_THROW(runOp("Conv", {&x, &w}, {{"group", int64_t{3}}}), BadInputError);         // group
  EXPECT_THROW(runOp("Conv", {&x, &w}, {{"kernel_shape", ints({2, 2})}}), BadInputError); // kernel_shape
  EXPECT_THROW(runOp("Conv", {&x, &w}, {{"auto_pad", std::string("SAME")}}), BadInputError);
  try {
    runOp("Conv", {&x, &w}, {{"dilations", ints({1, 1, 1})}});
    FAIL() << "expected an error";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("dilations"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("node 'n' (Conv)"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------
// ConvTranspose

TEST(NNConvTranspose, IsTheAdjointOfConv) {
  // <Conv(x), y> == <x, ConvTranspose(y)> for the same weights and attributes.
  struct Case {
    Shape x, w;
    ConvSpec spec;
  };
  std::vector<Case> cases = {
      {{1, 3, 9, 8}, {4, 3, 3, 3}, {{2, 2}, {1, 1}, {1, 1, 1, 1}, 1}},
      {{2, 4, 10, 7}, {6, 2, 3, 2}, {{2, 1}, {2, 1}, {0, 1, 2, 0}, 2}},
      {{1, 2, 11}, {3, 2, 4}, {{3}, {2}, {2, 1}, 1}},
      {{1, 2, 5, 6, 4}, {2, 2, 2, 3, 2}, {{1, 2, 1}, {2, 1, 1}, {1, 0, 1, 0, 1, 1}, 1}},
  };
  uint32_t seed = 100;
  for (const Case &c : cases) {
    Tensor x = randomTensor(c.x, seed++), w = randomTensor(c.w, seed++);
    Tensor y = runOne("Conv", {&x, &w}, convAttrs(c.spec));
    Tensor dy = randomTensor(y.shape(), seed++);
    // Conv's W [M, C/g, k] is ConvTranspose's [C_in = M, C_out/g, k]: the same tensor.
    // output_padding restores the input rows that Conv's floor division dropped.
    size_t r = c.x.size() - 2;
    std::vector<int64_t> outputPadding(r);
    for (size_t d = 0; d < r; ++d)
      outputPadding[d] = c.x[d + 2] - (c.spec.strides[d] * (y.shape()[d + 2] - 1) +
                                       (c.w[d + 2] - 1) * c.spec.dilations[d] + 1 - c.spec.pads[d] - c.spec.pads[d + r]);
    Attrs attrs = convAttrs(c.spec);
    attrs.push_back({"output_padding", outputPadding});
    Tensor dx = runOne("ConvTranspose", {&dy, &w}, attrs);
    ASSERT_EQ(dx.shape(), x.shape());
    EXPECT_NEAR(dot(y, dy), dot(x, dx), 1e-3 * std::max(1.0, std::fabs(dot(y, dy))));
  }
}

TEST(NNConvTranspose, OnnxExamples) {
  Tensor x = f32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  Tensor w = f32({1, 2, 3, 3}, std::vector<float>(18, 1.f));
  std::vector<float> plane = {0,  0,  1,  1,  3,  2,  0, 0, 1,  1,  3,  2,  3,  3,  8,  5, 12, 7,
                              3,  3,  7,  4,  9,  5,  9, 9, 20, 11, 24, 13, 6,  6,  13, 7, 15, 8};
  std::vector<float> both = plane;
  both.insert(both.end(), plane.begin(), plane.end());
  Tensor same = runOne("ConvTranspose", {&x, &w}, {{"auto_pad", std::string("SAME_UPPER")}, {"strides", ints({2, 2})}});
  expectValues(same, {1, 2, 6, 6}, both);

  Tensor pads = runOne("ConvTranspose", {&x, &w}, {{"strides", ints({3, 2})}, {"pads", ints({1, 2, 1, 2})}});
  std::vector<float> p = {1, 1, 3, 1, 1, 3, 7, 4, 9, 7, 4, 9, 7, 4, 9, 13, 7, 15, 13, 7, 15};
  std::vector<float> p2 = p;
  p2.insert(p2.end(), p.begin(), p.end());
  expectValues(pads, {1, 2, 7, 3}, p2);

  // output_shape larger than the scattered result and output_padding give the same zeros at the end.
  Tensor viaShape = runOne("ConvTranspose", {&x, &w}, {{"strides", ints({3, 2})}, {"output_shape", ints({10, 8})}});
  Tensor viaPadding = runOne("ConvTranspose", {&x, &w}, {{"strides", ints({3, 2})}, {"output_padding", ints({1, 1})}});
  EXPECT_EQ(viaShape.shape(), (Shape{1, 2, 10, 8}));
  expectNear(viaShape, viaPadding, 0);
  EXPECT_EQ(viaShape.data<float>()[0 * 8 + 4], 3.f);
  EXPECT_EQ(viaShape.data<float>()[9 * 8 + 4], 0.f);

  Tensor xd = f32({1, 1, 3, 3}, {3, 8, 1, 9, 5, 7, 3, 2, 6}), wd = f32({1, 1, 2, 2}, {7, 2, 1, 9});
  Tensor dil = runOne("ConvTranspose", {&xd, &wd}, {{"dilations", ints({2, 2})}});
  expectValues(dil, {1, 1, 5, 5}, {21, 56, 13, 16, 2, 63, 35, 67, 10, 14, 24, 22, 76, 76, 21,
                                    9, 5, 88, 45, 63, 3, 2, 33, 18, 54});
}

TEST(NNConvTranspose, BiasAndGroups) {
  Tensor x = randomTensor({1, 4, 3, 3}, 21), w = randomTensor({4, 3, 2, 2}, 22), b = randomTensor({6}, 23);
  Tensor y = runOne("ConvTranspose", {&x, &w, &b}, {{"group", int64_t{2}}, {"strides", ints({2, 2})}});
  EXPECT_EQ(y.shape(), (Shape{1, 6, 6, 6}));
  Tensor y0 = runOne("ConvTranspose", {&x, &w}, {{"group", int64_t{2}}, {"strides", ints({2, 2})}});
  for (int64_t c = 0; c < 6; ++c)
    for (int64_t i = 0; i < 36; ++i)
      EXPECT_NEAR(y.data<float>()[c * 36 + i], y0.data<float>()[c * 36 + i] + b.data<float>()[c], 1e-5);
  Tensor bad = randomTensor({3, 3, 2, 2}, 24);
  EXPECT_THROW(runOp("ConvTranspose", {&x, &bad}), BadInputError);
}

// ---------------------------------------------------------------------------------------
// Gemm, MatMul

TEST(NNGemm, TransposesAlphaBetaAndBroadcastC) {
  Tensor a = randomTensor({4, 3}, 1), b = randomTensor({5, 4}, 2), c = randomTensor({5}, 3);
  // Y = 0.5 * A^T B^T + 2 * C  with A [K=4, M=3], B [N=5, K=4].
  Tensor y = runOne("Gemm", {&a, &b, &c},
                    {{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.f}});
  ASSERT_EQ(y.shape(), (Shape{3, 5}));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      double s = 0;
      for (int64_t k = 0; k < 4; ++k) s += a.data<float>()[k * 3 + i] * b.data<float>()[j * 4 + k];
      EXPECT_NEAR(y.data<float>()[i * 5 + j], 0.5 * s + 2 * c.data<float>()[j], 1e-5);
    }
  Tensor noC = runOne("Gemm", {&a, &b}, {{"transA", int64_t{1}}, {"transB", int64_t{1}}});
  EXPECT_EQ(noC.shape(), (Shape{3, 5}));
  Tensor cBad = randomTensor({3, 4}, 4);
  EXPECT_THROW(runOp("Gemm", {&a, &b, &cBad}, {{"transA", int64_t{1}}, {"transB", int64_t{1}}}), BadInputError);
  EXPECT_THROW(runOp("Gemm", {&a, &b}), BadInputError); // 4x3 * 5x4
}

TEST(NNMatMul, NumpySemantics) {
  Tensor a = randomTensor({2, 1, 3, 4}, 5), b = randomTensor({3, 4, 2}, 6);
  Tensor y = runOne("MatMul", {&a, &b});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3, 2}));
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 3; ++q)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          double s = 0;
          for (int64_t k = 0; k < 4; ++k) s += a.data<float>()[p * 12 + i * 4 + k] * b.data<float>()[q * 8 + k * 2 + j];
          EXPECT_NEAR(y.data<float>()[((p * 3 + q) * 3 + i) * 2 + j], s, 1e-5);
        }
  Tensor v = randomTensor({4}, 7), m = randomTensor({4, 6}, 8);
  EXPECT_EQ(runOne("MatMul", {&v, &m}).shape(), (Shape{6}));
  EXPECT_EQ(runOne("MatMul", {&a, &v}).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(runOne("MatMul", {&v, &v}).shape(), (Shape{}));
  EXPECT_NEAR(runOne("MatMul", {&v, &v}).data<float>()[0], dot(v, v), 1e-5);
  Tensor i64a = Tensor::fromVector<int64_t>(DType::I64, {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(runOne("MatMul", {&i64a, &i64a}).toInt64Vector(), (std::vector<int64_t>{7, 10, 15, 22}));
  EXPECT_THROW(runOp("MatMul", {&m, &m}), BadInputError);
}

TEST(NNMatMul, LargeBlockedMatchesNaive) {
  Tensor a = randomTensor({37, 300}, 9), b = randomTensor({300, 530}, 10);
  Tensor y = runOne("MatMul", {&a, &b});
  for (int64_t i = 0; i < 37; i += 5)
    for (int64_t j = 0; j < 530; j += 7) {
      double s = 0;
      for (int64_t k = 0; k < 300; ++k) s += a.data<float>()[i * 300 + k] * b.data<float>()[k * 530 + j];
      EXPECT_NEAR(y.data<float>()[i * 530 + j], s, 1e-4);
    }
}

// ---------------------------------------------------------------------------------------
// Normalization

TEST(NNNorm, BatchNormalizationInference) {
  Tensor x = randomTensor({2, 3, 2, 2}, 11);
  Tensor scale = f32({3}, {1, 2, 0.5f}), bias = f32({3}, {0, 1, -1}), mean = f32({3}, {0.1f, -0.2f, 0}),
         var = f32({3}, {1, 0.5f, 2});
  Tensor y = runOne("BatchNormalization", {&x, &scale, &bias, &mean, &var}, {{"epsilon", 1e-3f}});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 4; ++i) {
        int64_t at = (n * 3 + c) * 4 + i;
        float want = (x.data<float>()[at] - mean.data<float>()[c]) / std::sqrt(var.data<float>()[c] + 1e-3f) *
                         scale.data<float>()[c] + bias.data<float>()[c];
        EXPECT_NEAR(y.data<float>()[at], want, 1e-5);
      }
  EXPECT_THROW(runOp("BatchNormalization", {&x, &scale, &bias, &mean, &var}, {{"training_mode", int64_t{1}}}),
               BadInputError);
  EXPECT_THROW(runOp("BatchNormalization", {&x, &scale, &bias, &mean, &var}, {}, 3), BadInputError);
  Tensor short2 = f32({2}, {1, 1});
  EXPECT_THROW(runOp("BatchNormalization", {&x, &short2, &bias, &mean, &var}), BadInputError);
}

TEST(NNNorm, InstanceNormalizationNormalizesEachPlane) {
  Tensor x = randomTensor({2, 3, 4, 5}, 12);
  Tensor scale = f32({3}, {1, 1, 1}), bias = f32({3}, {0, 0, 0});
  Tensor y = runOne("InstanceNormalization", {&x, &scale, &bias}, {{"epsilon", 0.f}});
  for (int64_t p = 0; p < 6; ++p) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < 20; ++i) {
      double v = y.data<float>()[p * 20 + i];
      sum += v;
      sq += v * v;
    }
    EXPECT_NEAR(sum / 20, 0, 1e-5);
    EXPECT_NEAR(sq / 20, 1, 1e-4);
  }
}

TEST(NNNorm, LrnMatchesFormula) {
  Tensor x = randomTensor({1, 5, 2, 2}, 13);
  Tensor y = runOne("LRN", {&x}, {{"size", int64_t{3}}, {"alpha", 0.01f}, {"beta", 0.5f}, {"bias", 2.f}});
  for (int64_t c = 0; c < 5; ++c)
    for (int64_t i = 0; i < 4; ++i) {
      double sq = 0;
      for (int64_t cc = std::max<int64_t>(0, c - 1); cc <= std::min<int64_t>(4, c + 1); ++cc)
        sq += std::pow(x.data<float>()[cc * 4 + i], 2);
      EXPECT_NEAR(y.data<float>()[c * 4 + i], x.data<float>()[c * 4 + i] / std::pow(2 + 0.01 / 3 * sq, 0.5), 1e-6);
    }
}

// ---------------------------------------------------------------------------------------
// Pooling

TEST(NNPool, MaxPoolValuesAndIndices) {
  std::vector<float> ramp(25);
  for (int i = 0; i < 25; ++i) ramp[i] = static_cast<float>(i + 1);
  Tensor x = f32({1, 1, 5, 5}, ramp);
  auto padded = runOp("MaxPool", {&x}, {{"kernel_shape", ints({5, 5})}, {"pads", ints({2, 2, 2, 2})}}, 2);
  expectValues(padded[0], {1, 1, 5, 5}, {13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25,
                                         23, 24, 25, 25, 25, 23, 24, 25, 25, 25});
  EXPECT_EQ(padded[1].dtype(), DType::I64);
  EXPECT_EQ(padded[1].toInt64Vector(), (std::vector<int64_t>{12, 13, 14, 14, 14, 17, 18, 19, 19, 19, 22, 23, 24,
                                                             24, 24, 22, 23, 24, 24, 24, 22, 23, 24, 24, 24}));
  auto colMajor = runOp("MaxPool", {&x},
                        {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}, {"storage_order", int64_t{1}}}, 2);
  expectValues(colMajor[0], {1, 1, 2, 2}, {7, 9, 17, 19});
  EXPECT_EQ(colMajor[1].toInt64Vector(), (std::vector<int64_t>{6, 16, 8, 18}));

  // Indices are flat over the whole tensor (batch and channel included).
  Tensor two = randomTensor({2, 3, 4, 4}, 14);
  auto r = runOp("MaxPool", {&two}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}, 2);
  for (int64_t i = 0; i < r[0].numElements(); ++i)
    EXPECT_EQ(two.data<float>()[r[1].data<int64_t>()[i]], r[0].data<float>()[i]);

  auto same = runOne("MaxPool", {&x}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})},
                                       {"auto_pad", std::string("SAME_UPPER")}});
  expectValues(same, {1, 1, 3, 3}, {7, 9, 10, 17, 19, 20, 22, 24, 25});
  Tensor dil = f32({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  expectValues(runOne("MaxPool", {&dil}, {{"kernel_shape", ints({2, 2})}, {"dilations", ints({2, 2})}}),
               {1, 1, 2, 2}, {11, 12, 15, 16});
}

TEST(NNPool, CeilModeDropsWindowsStartingInPadding) {
  Tensor x = f32({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  expectValues(runOne("MaxPool", {&x}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"ceil_mode", int64_t{1}}}),
               {1, 1, 2, 2}, {11, 12, 15, 16});
  expectValues(runOne("AveragePool", {&x}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"ceil_mode", int64_t{1}}}),
               {1, 1, 2, 2}, {6, 7.5f, 12, 13.5f});
  // in 5, k 2, s 2, pad 1 each side: floor gives 3, ceil 4 but the 4th would start in the end padding.
  Tensor y = randomTensor({1, 1, 5, 5}, 3);
  Tensor c = runOne("MaxPool", {&y}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})},
                                      {"pads", ints({1, 1, 1, 1})}, {"ceil_mode", int64_t{1}}});
  EXPECT_EQ(c.shape(), (Shape{1, 1, 3, 3}));
}

TEST(NNPool, AveragePoolPadCounting) {
  Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Attrs base = {{"kernel_shape", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}};
  expectValues(runOne("AveragePool", {&x}, base), {1, 1, 2, 2}, {1, 2.5f, 5.5f, 7});
  Attrs incl = base;
  incl.push_back({"count_include_pad", int64_t{1}});
  expectValues(runOne("AveragePool", {&x}, incl), {1, 1, 2, 2}, {0.25f, 1.25f, 2.75f, 7});
  Tensor wide = randomTensor({1, 2, 7}, 4);
  Tensor avg = runOne("AveragePool", {&wide}, {{"kernel_shape", ints({7})}});
  EXPECT_NEAR(avg.data<float>()[1], runOne("GlobalAveragePool", {&wide}).data<float>()[1], 1e-6);
  EXPECT_THROW(runOp("AveragePool", {&x}), BadInputError); // kernel_shape required
  EXPECT_THROW(runOp("AveragePool", {&x}, {{"kernel_shape", ints({4, 4})}}), BadInputError);
  EXPECT_THROW(runOp("MaxPool", {&x}, {{"kernel_shape", ints({2, 2})}, {"pads", ints({2, 0, 0, 0})}}), BadInputError);
}

TEST(NNPool, GlobalAndLpPools) {
  Tensor x = randomTensor({2, 3, 4, 5}, 15);
  Tensor avg = runOne("GlobalAveragePool", {&x}), mx = runOne("GlobalMaxPool", {&x}), lp = runOne("GlobalLpPool", {&x});
  EXPECT_EQ(avg.shape(), (Shape{2, 3, 1, 1}));
  for (int64_t p = 0; p < 6; ++p) {
    double sum = 0, sq = 0;
    float best = -1e30f;
    for (int64_t i = 0; i < 20; ++i) {
      float v = x.data<float>()[p * 20 + i];
      sum += v;
      sq += v * v;
      best = std::max(best, v);
    }
    EXPECT_NEAR(avg.data<float>()[p], sum / 20, 1e-6);
    EXPECT_EQ(mx.data<float>()[p], best);
    EXPECT_NEAR(lp.data<float>()[p], std::sqrt(sq), 1e-5);
  }
  Tensor small = f32({1, 1, 2, 2}, {3, -4, 0, 0});
  expectValues(runOne("LpPool", {&small}, {{"kernel_shape", ints({2, 2})}}), {1, 1, 1, 1}, {5});
  expectValues(runOne("LpPool", {&small}, {{"kernel_shape", ints({2, 2})}, {"p", int64_t{1}}}), {1, 1, 1, 1}, {7});
}

TEST(NNPool, IntegerMaxPool) {
  Tensor x = Tensor::fromVector<uint8_t>(DType::U8, {1, 1, 2, 2}, {1, 200, 3, 4});
  Tensor y = runOne("MaxPool", {&x}, {{"kernel_shape", ints({2, 2})}});
  EXPECT_EQ(y.dtype(), DType::U8);
  EXPECT_EQ(y.toInt64Vector(), (std::vector<int64_t>{200}));
}

// ---------------------------------------------------------------------------------------
// Softmax family

TEST(NNSoftmax, AlongAnyAxis) {
  Tensor x = randomTensor({2, 3, 4}, 16);
  for (int64_t axis : {-1, 0, 1, 2}) {
    Tensor s = runOne("Softmax", {&x}, {{"axis", axis}});
    Tensor ls = runOne("LogSoftmax", {&x}, {{"axis", axis}});
    Tensor h = runOne("Hardmax", {&x}, {{"axis", axis}});
    int64_t a = axis < 0 ? 2 : axis;
    auto st = stridesOf(x.shape());
    for (int64_t i = 0; i < x.numElements(); ++i) {
      if ((i / st[a]) % x.shape()[a] != 0) continue; // visit each slice once, from its first element
      double sum = 0, hsum = 0;
      float best = -1e30f;
      int64_t arg = 0;
      for (int64_t j = 0; j < x.shape()[a]; ++j) {
        int64_t at = i + j * st[a];
        sum += s.data<float>()[at];
        hsum += h.data<float>()[at];
        EXPECT_NEAR(ls.data<float>()[at], std::log(s.data<float>()[at]), 1e-5);
        if (x.data<float>()[at] > best) {
          best = x.data<float>()[at];
          arg = at;
        }
      }
      EXPECT_NEAR(sum, 1, 1e-5);
      EXPECT_EQ(hsum, 1);
      EXPECT_EQ(h.data<float>()[arg], 1);
    }
  }
  Tensor big = f32({3}, {1000, 1000, -1000});
  expectValues(runOne("Softmax", {&big}), {3}, {0.5f, 0.5f, 0});
  Tensor ties = f32({3}, {2, 5, 5});
  expectValues(runOne("Hardmax", {&ties}), {3}, {0, 1, 0});
  EXPECT_THROW(runOp("Softmax", {&x}, {{"axis", int64_t{3}}}), BadInputError);
}

// ---------------------------------------------------------------------------------------
// Resize

namespace {
Tensor resize(const Tensor &x, const Tensor *scales, const Tensor *sizes, const Attrs &attrs, const Tensor *roi = nullptr) {
  return runOne("Resize", {&x, roi, scales, sizes}, attrs);
}
Tensor scalesOf(std::vector<float> v) { return f32({static_cast<int64_t>(v.size())}, v); }
Tensor sizesOf(std::vector<int64_t> v) { return Tensor::fromVector<int64_t>(DType::I64, {static_cast<int64_t>(v.size())}, v); }
Tensor ramp16() { return f32({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}); }
} // namespace

TEST(NNResize, NearestRepeatsAndSizesMatchScales) {
  Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor s = scalesOf({1, 1, 2, 3});
  Tensor y = resize(x, &s, nullptr, {{"mode", std::string("nearest")}});
  expectValues(y, {1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  Tensor sz = sizesOf({1, 1, 4, 6});
  for (const char *mode : {"nearest", "linear", "cubic"}) {
    Tensor big = randomTensor({1, 2, 5, 7}, 17);
    Tensor s2 = scalesOf({1, 1, 2, 3}), z2 = sizesOf({1, 2, 10, 21});
    Attrs attrs = {{"mode", std::string(mode)}};
    expectNear(resize(big, &s2, nullptr, attrs), resize(big, nullptr, &z2, attrs), 1e-6f);
  }
  EXPECT_EQ(resize(x, nullptr, &sz, {}).shape(), (Shape{1, 1, 4, 6}));
  Tensor ints8 = Tensor::fromVector<int8_t>(DType::I8, {1, 2}, {-5, 7});
  Tensor s3 = scalesOf({1, 2});
  EXPECT_EQ(resize(ints8, &s3, nullptr, {}).toInt64Vector(), (std::vector<int64_t>{-5, -5, 7, 7}));
}

TEST(NNResize, OnnxReferenceValues) {
  Tensor x = ramp16();
  Tensor up2 = scalesOf({1, 1, 2, 2});
  Tensor cubic = resize(x, &up2, nullptr, {{"mode", std::string("cubic")}});
  std::vector<float> row0 = {0.47265625f, 0.76953125f, 1.24609375f, 1.875f, 2.28125f, 2.91015625f, 3.38671875f, 3.68359375f};
  for (size_t j = 0; j < 8; ++j) EXPECT_NEAR(cubic.data<float>()[j], row0[j], 1e-5);
  EXPECT_NEAR(cubic.data<float>()[63], 16.52734375f, 1e-5);

  Tensor x24 = f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor down = scalesOf({1, 1, 0.6f, 0.6f});
  expectValues(resize(x24, &down, nullptr, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}}),
               {1, 1, 1, 2}, {1, 3.142857f});
  expectValues(resize(x24, &down, nullptr, {{"mode", std::string("linear")}}), {1, 1, 1, 2}, {2.6666665f, 4.3333331f});

  Tensor roi = f32({8}, {0, 0, 0.4f, 0.6f, 1, 1, 0.6f, 0.8f});
  Tensor sz = sizesOf({1, 1, 3, 3});
  Attrs crop = {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("tf_crop_and_resize")}};
  expectValues(resize(x, nullptr, &sz, crop, &roi), {1, 1, 3, 3}, {7.6f, 7.9f, 8.2f, 8.8f, 9.1f, 9.4f, 10, 10.3f, 10.6f});
  Tensor roiOut = f32({8}, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f});
  crop.push_back({"extrapolation_value", 10.f});
  expectValues(resize(x, nullptr, &sz, crop, &roiOut), {1, 1, 3, 3}, {7.6f, 10, 10, 12.4f, 10, 10, 10, 10, 10});

  Tensor sz31 = sizesOf({1, 1, 3, 1});
  expectValues(resize(x, nullptr, &sz31, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("pytorch_half_pixel")}}),
               {1, 1, 3, 1}, {1.6666666f, 7, 12.333333f});

  Tensor x22 = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor sz44 = sizesOf({1, 1, 4, 4});
  // nearest_mode=ceil with half_pixel (onnx: test_resize_upsample_sizes_nearest_ceil_half_pixel, 8x8 there).
  expectValues(resize(x22, nullptr, &sz44, {{"coordinate_transformation_mode", std::string("asymmetric")},
                                           {"nearest_mode", std::string("round_prefer_ceil")}}),
               {1, 1, 4, 4}, {1, 2, 2, 2, 3, 4, 4, 4, 3, 4, 4, 4, 3, 4, 4, 4});
}

TEST(NNResize, RejectsBadInputs) {
  Tensor x = ramp16();
  Tensor s = scalesOf({1, 1, 2, 2}), z = sizesOf({1, 1, 8, 8}), shortS = scalesOf({2, 2}), zero = scalesOf({1, 1, 0, 2});
  EXPECT_THROW(resize(x, &s, &z, {}), BadInputError);
  EXPECT_THROW(resize(x, nullptr, nullptr, {}), BadInputError);
  EXPECT_THROW(resize(x, &shortS, nullptr, {}), BadInputError);
  EXPECT_THROW(resize(x, &zero, nullptr, {}), BadInputError);
  EXPECT_THROW(resize(x, &s, nullptr, {{"mode", std::string("bilinear")}}), BadInputError);
  EXPECT_THROW(resize(x, &s, nullptr, {{"coordinate_transformation_mode", std::string("corners")}}), BadInputError);
}

TEST(NNResize, ScalesMustBeConstantInShapeRules) {
  // Outside the interpreter (no values), the rule asks for a compile-time constant.
  Graph graph;
  Value *x = graph.addInput("x", TensorType{DType::F32, {1, 1, 4, 4}, {}});
  Value *scales = graph.addInput("scales", TensorType{DType::F32, {4}, {}});
  Node *node = graph.addNode("Resize", "r", {x, nullptr, scales}, {"y"});
  std::vector<const TensorType *> types = {&x->type(), nullptr, &scales->type()};
  EXPECT_THROW(inferNodeTypes(*node, types, {nullptr, nullptr, nullptr}), BadInputError);
}

// ---------------------------------------------------------------------------------------
// LayerNormalization, MeanVarianceNormalization

namespace {

/// Naive LayerNormalization in double: rows over the dims from `axis` on; scale/bias given
/// per element of those dims (already broadcast).
std::vector<double> naiveLayerNorm(const Tensor &x, int64_t axis, const std::vector<float> &scale,
                                   const std::vector<float> &bias, double eps, std::vector<double> *means = nullptr,
                                   std::vector<double> *invStd = nullptr) {
  int64_t len = 1;
  for (size_t d = static_cast<size_t>(axis); d < x.shape().size(); ++d) len *= x.shape()[d];
  int64_t rows = x.numElements() / len;
  std::vector<double> y(static_cast<size_t>(x.numElements()));
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < len; ++j) mean += x.values<float>()[r * len + j];
    mean /= static_cast<double>(len);
    for (int64_t j = 0; j < len; ++j) var += std::pow(x.values<float>()[r * len + j] - mean, 2);
    var /= static_cast<double>(len);
    double inv = 1 / std::sqrt(var + eps);
    for (int64_t j = 0; j < len; ++j)
      y[r * len + j] = (x.values<float>()[r * len + j] - mean) * inv * scale[j] + (bias.empty() ? 0 : bias[j]);
    if (means) means->push_back(mean);
    if (invStd) invStd->push_back(inv);
  }
  return y;
}

void expectDoubles(const Tensor &got, const std::vector<double> &want, double tol = 1e-5) {
  ASSERT_EQ(got.numElements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got.values<float>()[i], want[i], tol * std::max(1.0, std::fabs(want[i]))) << "at flat index " << i;
}

} // namespace

TEST(NNNorm, LayerNormalizationAxesAndStatistics) {
  Tensor x = randomTensor({2, 3, 4}, 31);
  for (int64_t axis : {-1, 1, 0}) {
    Shape normalized(x.shape().begin() + (axis < 0 ? axis + 3 : axis), x.shape().end());
    Tensor scale = randomTensor(normalized, 32), bias = randomTensor(normalized, 33);
    auto out = runOp("LayerNormalization", {&x, &scale, &bias}, {{"axis", axis}, {"epsilon", 1e-3f}}, 3);
    std::vector<double> means, invStd;
    expectDoubles(out[0], naiveLayerNorm(x, axis < 0 ? axis + 3 : axis, scale.toFloatVector(), bias.toFloatVector(),
                                         1e-3, &means, &invStd));
    Shape reduced = x.shape();
    for (size_t d = static_cast<size_t>(axis < 0 ? axis + 3 : axis); d < 3; ++d) reduced[d] = 1;
    EXPECT_EQ(out[1].type().toString(), TensorType({DType::F32, reduced, {}}).toString());
    expectDoubles(out[1], means);
    expectDoubles(out[2], invStd);
  }
}

TEST(NNNorm, LayerNormalizationBroadcastsScaleAndIsStableForLargeMeans) {
  // Rows around 1000 with a spread of ~1: a one-pass E[x^2] - E[x]^2 in f32 loses the variance.
  Tensor x = randomTensor({3, 4, 5}, 34);
  for (float &v : x.values<float>()) v += 1000.f;
  Tensor scale = f32({1, 5}, {1, 2, 3, 4, 5}); // broadcasts to the normalized shape [4, 5]
  Tensor y = runOne("LayerNormalization", {&x, &scale}, {{"axis", int64_t{1}}});
  std::vector<float> fullScale;
  for (int i = 0; i < 4; ++i)
    for (float s : scale.toFloatVector()) fullScale.push_back(s);
  expectDoubles(y, naiveLayerNorm(x, 1, fullScale, {}, 1e-5), 1e-4);
}

TEST(NNNorm, LayerNormalizationRejectsBadModels) {
  Tensor x = randomTensor({2, 3}, 35), s3 = randomTensor({3}, 36), s2 = randomTensor({2}, 37);
  EXPECT_THROW(runOp("LayerNormalization", {&x, &s2}), BadInputError);                         // not [3]
  EXPECT_THROW(runOp("LayerNormalization", {&x, &s3}, {{"axis", int64_t{2}}}), BadInputError);   // axis range
  EXPECT_THROW(runOp("LayerNormalization", {&x, &s3}, {{"stash_type", int64_t{11}}}), BadInputError);
  EXPECT_THROW(runOp("LayerNormalization", {&x, &s3, &s3}, {}, 4), BadInputError);               // outputs
  Tensor ints = Tensor::fromVector<int32_t>(DType::I32, {3}, {1, 2, 3});
  EXPECT_THROW(runOp("LayerNormalization", {&x, &ints}), BadInputError);
}

TEST(NNNorm, MeanVarianceNormalizationOverAxes) {
  Tensor x = randomTensor({2, 3, 2, 2}, 38);
  // Default axes [0, 2, 3]: one mean/variance per channel.
  Tensor y = runOne("MeanVarianceNormalization", {&x});
  for (int64_t c = 0; c < 3; ++c) {
    double mean = 0, var = 0;
    std::vector<int64_t> at;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 4; ++i) at.push_back((n * 3 + c) * 4 + i);
    for (int64_t i : at) mean += x.values<float>()[i] / 8.0;
    for (int64_t i : at) var += std::pow(x.values<float>()[i] - mean, 2) / 8.0;
    for (int64_t i : at) EXPECT_NEAR(y.values<float>()[i], (x.values<float>()[i] - mean) / std::sqrt(var), 1e-5);
  }
  // axes [1]: each (n, h, w) column over the channels.
  Tensor z = runOne("MeanVarianceNormalization", {&x}, {{"axes", ints({-3})}});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 4; ++i) {
      double sum = 0, sq = 0;
      for (int64_t c = 0; c < 3; ++c) {
        double v = z.values<float>()[(n * 3 + c) * 4 + i];
        sum += v;
        sq += v * v;
      }
      EXPECT_NEAR(sum / 3, 0, 1e-5);
      EXPECT_NEAR(sq / 3, 1, 1e-4);
    }
  EXPECT_THROW(runOp("MeanVarianceNormalization", {&x}, {{"axes", ints({1, -3})}}), BadInputError);
  Tensor x3 = randomTensor({2, 3, 4}, 39);
  EXPECT_THROW(runOp("MeanVarianceNormalization", {&x3}), BadInputError); // default axis 3 is out of range
}

// ---------------------------------------------------------------------------------------
// GridSample

TEST(NNGridSample, OnnxReferenceValues) {
  // onnx/backend/test/case/node/gridsample.py: X = arange(6) as [1, 1, 3, 2].
  Tensor x = f32({1, 1, 3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor grid = f32({1, 2, 4, 2}, {-1, -1, -0.5f, -0.5f, -0.2f, -0.2f, 0, 0, 0, 0, -0.2f, -0.2f, 0.5f, 0.5f, 1, 1});
  Tensor far = f32({1, 2, 4, 2}, {-10, -10, -5, -5, -0.2f, -0.2f, 10, 10, 10, 10, -0.2f, -0.2f, 5, 5, 10, 10});
  auto sample = [&](const Tensor &g, const std::string &mode, const std::string &padding, int64_t align) {
    return runOne("GridSample", {&x, &g},
                  {{"mode", mode}, {"padding_mode", padding}, {"align_corners", align}});
  };
  expectValues(sample(grid, "bilinear", "zeros", 0), {1, 1, 2, 4}, {0, 0.5f, 1.7f, 2.5f, 2.5f, 1.7f, 4.5f, 1.25f});
  expectValues(sample(grid, "nearest", "zeros", 0), {1, 1, 2, 4}, {0, 0, 2, 2, 2, 2, 5, 0});
  expectValues(sample(grid, "bicubic", "zeros", 0), {1, 1, 2, 4},
               {-0.1406f, 0.3828f, 1.7556f, 2.9688f, 2.9688f, 1.7556f, 5.1445f, 1.3906f});
  expectValues(sample(grid, "bilinear", "zeros", 1), {1, 1, 2, 4}, {0, 1.25f, 2, 2.5f, 2.5f, 2, 3.75f, 5});
  expectValues(sample(far, "bilinear", "zeros", 0), {1, 1, 2, 4}, {0, 0, 1.7f, 0, 0, 1.7f, 0, 0});
  expectValues(sample(far, "bilinear", "border", 0), {1, 1, 2, 4}, {0, 0, 1.7f, 5, 5, 1.7f, 5, 5});
  expectValues(sample(far, "bilinear", "reflection", 0), {1, 1, 2, 4}, {2.5f, 0, 1.7f, 2.5f, 2.5f, 1.7f, 5, 2.5f});
}

TEST(NNGridSample, IdentityGridReproducesTheInput) {
  // With align_corners=1, the grid of pixel centres samples every pixel exactly, whatever
  // the mode.
  Tensor x = randomTensor({2, 3, 4, 5}, 40);
  Tensor grid(DType::F32, {2, 4, 5, 2});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t w = 0; w < 5; ++w) {
        float *g = grid.data<float>() + ((n * 4 + h) * 5 + w) * 2;
        g[0] = -1 + 2 * static_cast<float>(w) / 4;
        g[1] = -1 + 2 * static_cast<float>(h) / 3;
      }
  for (const char *mode : {"bilinear", "nearest", "bicubic"})
    expectNear(runOne("GridSample", {&x, &grid}, {{"mode", std::string(mode)}, {"align_corners", int64_t{1}}}), x, 1e-5f);
}

TEST(NNGridSample, RejectsBadInputsAndSurvivesWildCoordinates) {
  Tensor x = randomTensor({1, 2, 3, 3}, 41);
  Tensor g3 = randomTensor({1, 2, 2, 3}, 42), gBatch = randomTensor({2, 2, 2, 2}, 43);
  EXPECT_THROW(runOp("GridSample", {&x, &g3}), BadInputError);
  EXPECT_THROW(runOp("GridSample", {&x, &gBatch}), BadInputError);
  Tensor g = randomTensor({1, 2, 2, 2}, 44);
  EXPECT_THROW(runOp("GridSample", {&x, &g}, {{"mode", std::string("linear")}}), BadInputError);
  EXPECT_THROW(runOp("GridSample", {&x, &g}, {{"padding_mode", std::string("wrap")}}), BadInputError);
  // NaN, infinities and huge values sample padding (or a valid pixel), never outside X.
  Tensor wild = f32({1, 2, 2, 2}, {std::nanf(""), 0, INFINITY, -INFINITY, 1e30f, -1e30f, 3e9f, 0.5f});
  for (const char *padding : {"zeros", "border", "reflection"})
    for (const char *mode : {"bilinear", "nearest", "bicubic"}) {
      Tensor y = runOne("GridSample", {&x, &wild}, {{"mode", std::string(mode)}, {"padding_mode", std::string(padding)}});
      EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
    }
}

// ---------------------------------------------------------------------------------------
// Einsum

TEST(NNEinsum, MatchesMatMulTransposeAndReductions) {
  Tensor a = randomTensor({3, 4}, 50), b = randomTensor({4, 5}, 51);
  auto eq = [](const char *e) { return Attrs{{"equation", std::string(e)}}; };
  Tensor mm = runOne("MatMul", {&a, &b});
  expectNear(runOne("Einsum", {&a, &b}, eq("ij,jk->ik")), mm);
  expectNear(runOne("Einsum", {&a, &b}, eq("ij, jk")), mm); // implicit output, spaces
  Tensor t = runOne("Einsum", {&a}, eq("ij->ji"));
  expectNear(t, runOne("Transpose", {&a}));
  // Row sums and the total.
  Tensor rows = runOne("Einsum", {&a}, eq("ij->i"));
  Tensor total = runOne("Einsum", {&a}, eq("ij->"));
  ASSERT_EQ(rows.shape(), (Shape{3}));
  ASSERT_EQ(total.shape(), (Shape{}));
  double all = 0;
  for (int64_t i = 0; i < 3; ++i) {
    double s = 0;
    for (int64_t j = 0; j < 4; ++j) s += a.values<float>()[i * 4 + j];
    EXPECT_NEAR(rows.values<float>()[i], s, 1e-5);
    all += s;
  }
  EXPECT_NEAR(total.values<float>()[0], all, 1e-5);
  // Batched, broadcasting ellipsis (numpy: [2,1,3,4] x [5,4,2] -> [2,5,3,2]).
  Tensor x = randomTensor({2, 1, 3, 4}, 52), y = randomTensor({5, 4, 2}, 53);
  expectNear(runOne("Einsum", {&x, &y}, eq("...ij,...jk->...ik")), runOne("MatMul", {&x, &y}));
  // Attention scores: q k^T per batch and head.
  Tensor q = randomTensor({2, 3, 4, 5}, 54), k = randomTensor({2, 3, 6, 5}, 55);
  Tensor kt = runOne("Transpose", {&k}, {{"perm", ints({0, 1, 3, 2})}});
  expectNear(runOne("Einsum", {&q, &k}, eq("bhqd,bhkd->bhqk")), runOne("MatMul", {&q, &kt}));
  // Three operands: a chain of matmuls.
  Tensor c = randomTensor({5, 2}, 56);
  Tensor ab = runOne("MatMul", {&a, &b});
  expectNear(runOne("Einsum", {&a, &b, &c}, eq("ij,jk,kl->il")), runOne("MatMul", {&ab, &c}));
}

TEST(NNEinsum, DiagonalsTracesAndIntegers) {
  // numpy.einsum('...ii->...i', arange(12).reshape(3,2,2)) and 'ii' (trace).
  std::vector<float> ramp(12);
  for (int i = 0; i < 12; ++i) ramp[i] = static_cast<float>(i);
  Tensor x = f32({3, 2, 2}, ramp);
  expectValues(runOne("Einsum", {&x}, {{"equation", std::string("...ii ->...i")}}), {3, 2}, {0, 3, 4, 7, 8, 11});
  Tensor m = f32({3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  expectValues(runOne("Einsum", {&m}, {{"equation", std::string("ii")}}), {}, {12});
  expectValues(runOne("Einsum", {&m}, {{"equation", std::string("ii->i")}}), {3}, {0, 4, 8});
  // Implicit output orders letters by ASCII (upper case first), as numpy does.
  Tensor r = randomTensor({2, 3}, 57);
  EXPECT_EQ(runOne("Einsum", {&r}, {{"equation", std::string("bA")}}).shape(), (Shape{3, 2}));
  Tensor ia = Tensor::fromVector<int64_t>(DType::I64, {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(runOne("Einsum", {&ia, &ia}, {{"equation", std::string("ij,jk->ik")}}).toInt64Vector(),
            (std::vector<int64_t>{7, 10, 15, 22}));
}

TEST(NNEinsum, RejectsMalformedEquations) {
  Tensor a = randomTensor({3, 4}, 58), b = randomTensor({4, 5}, 59), v = randomTensor({3}, 60);
  auto fails = [&](const std::vector<const Tensor *> &inputs, const std::string &equation) {
    EXPECT_THROW(runOp("Einsum", inputs, {{"equation", equation}}), BadInputError) << equation;
  };
  fails({&a, &b}, "ij->ik");        // k not in any operand... and j,k mismatch
  fails({&a, &b}, "ij,kj->ik");     // j is 4 and 5
  fails({&a}, "ij,jk->ik");         // two terms, one input
  fails({&a}, "ijk->i");            // three labels for a 2-D input
  fails({&a}, "i1->i");             // not a letter
  fails({&a}, "ij->ii");            // repeated output label
  fails({&a}, "ij->->i");           // two arrows
  fails({&a}, "......ij");          // two ellipses
  fails({&a}, "");                  // an empty term for a 2-D input
  EXPECT_THROW(runOp("Einsum", {&a}), BadInputError); // no equation
  Tensor scalar = f32({}, {2.5f});
  expectValues(runOne("Einsum", {&scalar}, {{"equation", std::string("")}}), {}, {2.5f});
  Tensor x3 = randomTensor({2, 3, 4}, 61);
  fails({&x3}, "...ij->ij");        // the ellipsis dims must stay in an explicit output
  Tensor bytes = Tensor::fromVector<uint8_t>(DType::U8, {3}, {1, 2, 3});
  fails({&bytes}, "i->i");
  Tensor i32v = Tensor::fromVector<int32_t>(DType::I32, {3}, {1, 2, 3});
  EXPECT_THROW(runOp("Einsum", {&v, &i32v}, {{"equation", std::string("i,i")}}), BadInputError); // mixed dtypes
}

// ---------------------------------------------------------------------------------------
// Quantized operators (QOperator format)

namespace {

Tensor u8t(Shape shape, std::vector<uint8_t> v) { return Tensor::fromVector<uint8_t>(DType::U8, std::move(shape), v); }
Tensor i8t(Shape shape, std::vector<int8_t> v) { return Tensor::fromVector<int8_t>(DType::I8, std::move(shape), v); }
Tensor i32t(Shape shape, std::vector<int32_t> v) { return Tensor::fromVector<int32_t>(DType::I32, std::move(shape), v); }

/// Deterministic integers in [lo, hi] as a u8 or i8 tensor.
Tensor randomQuant(DType dtype, Shape shape, int lo, int hi, uint32_t seed) {
  Tensor t(dtype, std::move(shape));
  uint32_t s = seed * 2654435761u + 7u;
  for (int64_t i = 0; i < t.numElements(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.setFromDouble(i, lo + static_cast<int>((s >> 8) % static_cast<uint32_t>(hi - lo + 1)));
  }
  return t;
}

/// q - zeroPoint[channel] as f32 (small integers, exact), channel = (i / inner) % count.
Tensor centeredF32(const Tensor &q, const std::vector<int64_t> &zeroPoints, int64_t inner) {
  Tensor out(DType::F32, q.shape());
  auto count = static_cast<int64_t>(zeroPoints.size());
  for (int64_t i = 0; i < q.numElements(); ++i)
    out.data<float>()[i] = static_cast<float>(q.getAsInt64(i) - zeroPoints[static_cast<size_t>((i / inner) % count)]);
  return out;
}

} // namespace

TEST(NNQuant, OnnxExamples) {
  // onnx/backend/test/case/node/{convinteger,matmulinteger,qlinearmatmul}.py
  Tensor x = u8t({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10}), w = u8t({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor xz = u8t({}, {1});
  Tensor conv = runOne("ConvInteger", {&x, &w, &xz}, {{"pads", ints({1, 1, 1, 1})}});
  EXPECT_EQ(conv.dtype(), DType::I32);
  EXPECT_EQ(conv.toInt64Vector(), (std::vector<int64_t>{1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}));

  Tensor a = u8t({4, 3}, {11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0}), b = u8t({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor az = u8t({1}, {12}), bz = u8t({1}, {0});
  EXPECT_EQ(runOne("MatMulInteger", {&a, &b, &az, &bz}).toInt64Vector(),
            (std::vector<int64_t>{-38, -83, -44, -98, -50, -113, -56, -128}));

  Tensor qa = u8t({2, 4}, {208, 236, 0, 238, 3, 214, 255, 29});
  Tensor qb = u8t({4, 3}, {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247});
  Tensor as = f32({1}, {0.0066f}), bs = f32({1}, {0.00705f}), ys = f32({1}, {0.0107f});
  Tensor qaz = u8t({1}, {113}), qbz = u8t({1}, {114}), yz = u8t({1}, {118});
  Tensor y = runOne("QLinearMatMul", {&qa, &as, &qaz, &qb, &bs, &qbz, &ys, &yz});
  EXPECT_EQ(y.dtype(), DType::U8);
  EXPECT_EQ(y.toInt64Vector(), (std::vector<int64_t>{168, 115, 255, 1, 66, 151}));
}

TEST(NNQuant, QLinearConvPerChannelMatchesIntegerReference) {
  // Grouped, strided, dilated, padded; per-channel weight scales and zero points and an i32
  // bias. Reference: the naive float convolution of the centred integers (exact, small
  // integers) requantized with ONNX Runtime's formula.
  Tensor x = randomQuant(DType::U8, {2, 4, 7, 6}, 0, 255, 1);
  Tensor w = randomQuant(DType::I8, {6, 2, 3, 2}, -128, 127, 2);
  std::vector<int64_t> wzp = {0, 3, -2, 1, 0, -5};
  Tensor xScale = f32({}, {0.02f}), xZero = u8t({}, {121});
  Tensor wScale = f32({6}, {0.002f, 0.003f, 0.004f, 0.005f, 0.006f, 0.007f});
  Tensor wZero = i8t({6}, {0, 3, -2, 1, 0, -5});
  Tensor yScale = f32({}, {0.3f}), yZero = u8t({}, {100});
  Tensor bias = i32t({6}, {-1000, 0, 2500, 7, -3, 100000});
  ConvSpec spec{{2, 1}, {1, 2}, {1, 0, 0, 2}, 2};
  Attrs attrs = convAttrs(spec);
  Tensor y = runOne("QLinearConv", {&x, &xScale, &xZero, &w, &wScale, &wZero, &yScale, &yZero, &bias}, attrs);
  Tensor acc = naiveConv(centeredF32(x, {121}, 1), centeredF32(w, wzp, 12), nullptr, spec);
  ASSERT_EQ(y.shape(), acc.shape());
  ASSERT_EQ(y.dtype(), DType::U8);
  int64_t plane = acc.shape()[2] * acc.shape()[3];
  int saturated = 0;
  for (int64_t i = 0; i < acc.numElements(); ++i) {
    int64_t m = (i / plane) % 6;
    float real = (acc.values<float>()[i] + static_cast<float>(bias.values<int32_t>()[m])) *
                 (0.02f * wScale.values<float>()[m] / 0.3f);
    float want = std::min(255.f, std::max(0.f, std::rint(real) + 100));
    saturated += want == 0 || want == 255;
    ASSERT_EQ(static_cast<float>(y.values<uint8_t>()[i]), want) << "at " << i;
  }
  EXPECT_LT(saturated, acc.numElements() / 2); // the case exercises rounding, not just clamping
  // ConvInteger on the same data gives the raw accumulators.
  Tensor wU8 = randomQuant(DType::U8, {6, 2, 3, 2}, 0, 255, 3);
  Tensor wU8Zero = u8t({}, {128});
  Tensor raw = runOne("ConvInteger", {&x, &wU8, &xZero, &wU8Zero}, attrs);
  Tensor rawWant = naiveConv(centeredF32(x, {121}, 1), centeredF32(wU8, {128}, 1), nullptr, spec);
  for (int64_t i = 0; i < raw.numElements(); ++i)
    ASSERT_EQ(raw.values<int32_t>()[i], static_cast<int32_t>(rawWant.values<float>()[i])) << "at " << i;
}

TEST(NNQuant, MatMulIntegerPerColumnAndQLinearMatMulPerRow) {
  Tensor a = randomQuant(DType::U8, {2, 3, 5}, 0, 255, 4), b = randomQuant(DType::I8, {5, 4}, -128, 127, 5);
  Tensor az = u8t({3}, {10, 128, 250}), bz = i8t({4}, {0, -1, 7, 100});
  Tensor y = runOne("MatMulInteger", {&a, &b, &az, &bz});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  Tensor ac = centeredF32(a, {10, 128, 250}, 5), bc = centeredF32(b, {0, -1, 7, 100}, 1);
  Tensor want = runOne("MatMul", {&ac, &bc});
  for (int64_t i = 0; i < y.numElements(); ++i)
    ASSERT_EQ(y.values<int32_t>()[i], static_cast<int32_t>(want.values<float>()[i])) << "at " << i;

  // QLinearMatMul with per-row a and y parameters and per-column b parameters.
  Tensor as = f32({3}, {0.01f, 0.02f, 0.03f}), bs = f32({4}, {0.05f, 0.04f, 0.03f, 0.02f});
  Tensor ys = f32({3}, {0.5f, 0.6f, 0.7f}), yz = i8t({3}, {-3, 0, 5});
  Tensor q = runOne("QLinearMatMul", {&a, &as, &az, &b, &bs, &bz, &ys, &yz});
  ASSERT_EQ(q.dtype(), DType::I8);
  for (int64_t i = 0; i < q.numElements(); ++i) {
    int64_t row = (i / 4) % 3, col = i % 4;
    float real = want.values<float>()[i] * (as.values<float>()[row] * bs.values<float>()[col] / ys.values<float>()[row]);
    float expected = std::min(127.f, std::max(-128.f, std::rint(real) + yz.values<int8_t>()[row]));
    ASSERT_EQ(static_cast<float>(q.values<int8_t>()[i]), expected) << "at " << i;
  }
}

TEST(NNQuant, RejectsBadParameters) {
  Tensor x = randomQuant(DType::U8, {1, 2, 4, 4}, 0, 255, 6), w = randomQuant(DType::U8, {3, 2, 3, 3}, 0, 255, 7);
  Tensor s = f32({}, {0.1f}), z = u8t({}, {0}), s2 = f32({2}, {0.1f, 0.2f}), z3 = u8t({3}, {0, 0, 0});
  Tensor zi8 = i8t({}, {0});
  // w_scale must be per tensor or per output channel (3), not 2 values.
  EXPECT_THROW(runOp("QLinearConv", {&x, &s, &z, &w, &s2, &z, &s, &z}), BadInputError);
  // x_scale must be a scalar; x_zero_point must have x's type.
  EXPECT_THROW(runOp("QLinearConv", {&x, &s2, &z, &w, &s, &z, &s, &z}), BadInputError);
  EXPECT_THROW(runOp("QLinearConv", {&x, &s, &zi8, &w, &s, &z, &s, &z}), BadInputError);
  // A bias must be i32 [M].
  Tensor fbias = f32({3}, {0, 0, 0});
  EXPECT_THROW(runOp("QLinearConv", {&x, &s, &z, &w, &s, &z3, &s, &z, &fbias}), BadInputError);
  Tensor xf = randomTensor({1, 2, 4, 4}, 8);
  EXPECT_THROW(runOp("ConvInteger", {&xf, &w}), BadInputError);
  Tensor wBad = randomQuant(DType::U8, {3, 1, 3, 3}, 0, 255, 9); // channels mismatch
  EXPECT_THROW(runOp("ConvInteger", {&x, &wBad}), BadInputError);
  Tensor a = randomQuant(DType::U8, {2, 3}, 0, 255, 10), b = randomQuant(DType::U8, {4, 2}, 0, 255, 11);
  EXPECT_THROW(runOp("MatMulInteger", {&a, &b}), BadInputError); // inner dims 3 vs 4
  Tensor b2 = randomQuant(DType::U8, {3, 2}, 0, 255, 12);
  EXPECT_THROW(runOp("MatMulInteger", {&a, &b2, &z3}), BadInputError); // a_zero_point per row needs 2
  EXPECT_THROW(runOp("QLinearMatMul", {&a, &s, &z, &b2, &s, &z, &s, &zi8, &z}), BadInputError); // 9 inputs
}

TEST(NNQuant, EmptyTensorsDoNotCrash) {
  // Zero-sized dims flow through every new kernel without dividing by zero.
  Tensor a = Tensor(DType::F32, {3, 0}), b = Tensor(DType::F32, {0, 4});
  Tensor e = runOne("Einsum", {&a, &b}, {{"equation", std::string("ij,jk->ik")}});
  EXPECT_EQ(e.shape(), (Shape{3, 4}));
  for (float v : e.values<float>()) EXPECT_EQ(v, 0.f);
  Tensor x = Tensor(DType::U8, {1, 2, 3, 3}), w = Tensor(DType::U8, {0, 2, 1, 1});
  EXPECT_EQ(runOne("ConvInteger", {&x, &w}).shape(), (Shape{1, 0, 3, 3}));
  Tensor qa = Tensor(DType::U8, {2, 0}), qb = Tensor(DType::U8, {0, 3});
  EXPECT_EQ(runOne("MatMulInteger", {&qa, &qb}).toInt64Vector(), (std::vector<int64_t>(6, 0)));
  Tensor ln = Tensor(DType::F32, {0, 4}), scale = randomTensor({4}, 70);
  EXPECT_EQ(runOp("LayerNormalization", {&ln, &scale}, {}, 3)[1].shape(), (Shape{0, 1}));
  Tensor img = Tensor(DType::F32, {1, 1, 0, 2}), grid = randomTensor({1, 2, 2, 2}, 71);
  Tensor sampled = runOne("GridSample", {&img, &grid}, {{"padding_mode", std::string("border")}});
  for (float v : sampled.values<float>()) EXPECT_EQ(v, 0.f);
}
