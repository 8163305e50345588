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
