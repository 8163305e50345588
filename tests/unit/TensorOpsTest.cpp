// Shape rules and reference kernels of the tensor / data-movement ops. Expected values were
// computed with numpy while writing the tests (np.pad, np.take, slicing, transpose, ...).

#include "leip/interp/Kernels.h"
#include "leip/ir/OpRegistry.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

using leip::BadInputError;
using leip::ir::Attribute;
using leip::ir::DType;
using leip::ir::Shape;
using leip::ir::Tensor;
using leip::ir::TensorType;

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

Tensor f32(Shape shape, std::vector<float> values) { return Tensor::fromVector(DType::F32, std::move(shape), values); }
Tensor i64(Shape shape, std::vector<int64_t> values) { return Tensor::fromVector(DType::I64, std::move(shape), values); }
Tensor i32(Shape shape, std::vector<int32_t> values) { return Tensor::fromVector(DType::I32, std::move(shape), values); }
Tensor i64s(std::vector<int64_t> values) {
  auto n = static_cast<int64_t>(values.size());
  return i64({n}, std::move(values));
}

/// 0, 1, 2, ... as f32 in the given shape (numpy's arange(n).reshape(shape)).
Tensor arange(Shape shape, DType dtype = DType::F32) {
  Tensor t(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numElements(); ++i) t.setFromDouble(i, static_cast<double>(i));
  return t;
}

std::vector<double> valuesOf(const Tensor &t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.numElements(); ++i) out.push_back(t.getAsDouble(i));
  return out;
}

/// Builds a one-node graph whose inputs are constants and runs it with evaluateNode.
class OpRunner {
public:
  explicit OpRunner(std::string op) : op_(std::move(op)) {}

  OpRunner &in(Tensor t) {
    inputs_.emplace_back(std::move(t));
    return *this;
  }
  OpRunner &none() { // an omitted optional input
    inputs_.emplace_back(std::nullopt);
    return *this;
  }
  OpRunner &attr(const std::string &name, Attribute value) {
    attrs_.emplace_back(name, std::move(value));
    return *this;
  }
  OpRunner &outputs(int n) {
    numOutputs_ = n;
    return *this;
  }

  std::vector<Tensor> run() {
    std::vector<const Tensor *> ptrs;
    const leip::ir::Node &node = build(ptrs);
    return leip::interp::evaluateNode(node, ptrs);
  }
  Tensor run1() { return run().at(0); }

  /// Only the shape rule; `withValues` = false hides constant values (inputs not known
  /// at compile time).
  std::vector<TensorType> infer(bool withValues = true) {
    std::vector<const Tensor *> ptrs;
    const leip::ir::Node &node = build(ptrs);
    std::vector<const TensorType *> types;
    for (const Tensor *t : ptrs) types.push_back(t ? &t->type() : nullptr);
    if (!withValues) ptrs.assign(ptrs.size(), nullptr);
    return leip::ir::inferNodeTypes(node, types, ptrs);
  }

private:
  const leip::ir::Node &build(std::vector<const Tensor *> &ptrs) {
    graph_ = std::make_unique<leip::ir::Graph>();
    std::vector<leip::ir::Value *> values;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (!inputs_[i]) {
        values.push_back(nullptr);
        ptrs.push_back(nullptr);
        continue;
      }
      values.push_back(graph_->addConstant("in" + std::to_string(i), *inputs_[i]));
      ptrs.push_back(&*inputs_[i]);
    }
    std::vector<std::string> names;
    for (int i = 0; i < numOutputs_; ++i) names.push_back("out" + std::to_string(i));
    leip::ir::Node *node = graph_->addNode(op_, "n", values, names);
    for (auto &[name, value] : attrs_) node->attrs().set(name, value);
    return *node;
  }

  std::string op_;
  std::vector<std::optional<Tensor>> inputs_;
  std::vector<std::pair<std::string, Attribute>> attrs_;
  int numOutputs_ = 1;
  std::unique_ptr<leip::ir::Graph> graph_;
};

/// Runs `fn` and returns the BadInputError message it throws ("" if none).
template <typename Fn> std::string errorOf(Fn fn) {
  try {
    fn();
  } catch (const BadInputError &e) {
    return e.what();
  }
  return "";
}

// --- Reshape family -----------------------------------------------------------------------

TEST(TensorOps, ReshapeZeroCopiesAndMinusOneInfers) {
  Tensor y = OpRunner("Reshape").in(arange({2, 3, 4})).in(i64s({0, -1})).run1();
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(valuesOf(y), valuesOf(arange({24})));
  // 0 copies the input's dim at the same index (3), -1 takes what is left (4).
  y = OpRunner("Reshape").in(arange({2, 3, 4})).in(i64s({-1, 0, 2})).run1();
  EXPECT_EQ(y.shape(), (Shape{4, 3, 2}));
}

TEST(TensorOps, ReshapeAllowZero) {
  // allowzero=1: 0 is a real zero-sized dim (numpy: np.empty((0,3)).reshape(3,0)).
  Tensor y = OpRunner("Reshape").in(Tensor(DType::F32, {0, 3})).in(i64s({3, 0})).attr("allowzero", int64_t{1}).run1();
  EXPECT_EQ(y.shape(), (Shape{3, 0}));
  // Without allowzero the 0 copies dim 1 (3): [3,3] does not hold 0 elements.
  std::string err = errorOf([] { OpRunner("Reshape").in(Tensor(DType::F32, {0, 3})).in(i64s({3, 0})).run(); });
  EXPECT_NE(err.find("[0,3]"), std::string::npos) << err;
  EXPECT_NE(err.find("[3,3]"), std::string::npos) << err;
  err = errorOf([] { OpRunner("Reshape").in(arange({2, 3})).in(i64s({0, -1})).attr("allowzero", int64_t{1}).run(); });
  EXPECT_NE(err.find("both 0 and -1"), std::string::npos) << err;
}

TEST(TensorOps, ReshapeRejectsBadShapes) {
  std::string err = errorOf([] { OpRunner("Reshape").in(arange({2, 3})).in(i64s({4, 2})).run(); });
  EXPECT_NE(err.find("f32[2,3]"), std::string::npos) << err;
  EXPECT_NE(err.find("[4,2]"), std::string::npos) << err;
  EXPECT_NE(err.find("node 'n' (Reshape)"), std::string::npos) << err;
  EXPECT_NE(errorOf([] { OpRunner("Reshape").in(arange({2, 3})).in(i64s({-1, -1})).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Reshape").in(arange({2, 3})).in(i64s({-1, 4})).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Reshape").in(arange({6})).in(i64s({3, -2})).run(); }), "");
  // The shape must be known when shapes are inferred.
  std::string notConst = errorOf([] { OpRunner("Reshape").in(arange({2, 3})).in(i64s({6})).infer(false); });
  EXPECT_NE(notConst.find("constant"), std::string::npos) << notConst;
}

TEST(TensorOps, FlattenSqueezeUnsqueeze) {
  EXPECT_EQ(OpRunner("Flatten").in(arange({2, 3, 4, 5})).attr("axis", int64_t{-1}).run1().shape(), (Shape{24, 5}));
  EXPECT_EQ(OpRunner("Flatten").in(arange({2, 3, 4})).attr("axis", int64_t{0}).run1().shape(), (Shape{1, 24}));
  EXPECT_EQ(OpRunner("Flatten").in(arange({2, 3, 4})).run1().shape(), (Shape{2, 12}));
  EXPECT_NE(errorOf([] { OpRunner("Flatten").in(arange({2, 3})).attr("axis", int64_t{3}).run(); }), "");

  EXPECT_EQ(OpRunner("Squeeze").in(arange({1, 3, 1, 2})).run1().shape(), (Shape{3, 2}));
  EXPECT_EQ(OpRunner("Squeeze").in(arange({1, 3, 1, 2})).in(i64s({-2})).run1().shape(), (Shape{1, 3, 2}));
  EXPECT_NE(errorOf([] { OpRunner("Squeeze").in(arange({1, 3})).in(i64s({1})).run(); }), "");

  // Negative axes count from the end of the *output* (rank 4): -1 -> 3.
  Tensor u = OpRunner("Unsqueeze").in(arange({3, 4})).in(i64s({-1, 0})).run1();
  EXPECT_EQ(u.shape(), (Shape{1, 3, 4, 1}));
  EXPECT_EQ(valuesOf(u), valuesOf(arange({12})));
  EXPECT_EQ(OpRunner("Unsqueeze").in(arange({3, 4})).in(i64s({1, -2})).run1().shape(), (Shape{3, 1, 1, 4}));
  EXPECT_NE(errorOf([] { OpRunner("Unsqueeze").in(arange({3})).in(i64s({0, -3})).run(); }), ""); // same axis twice
  EXPECT_NE(errorOf([] { OpRunner("Unsqueeze").in(arange({3})).in(i64s({2})).run(); }), "");
}

TEST(TensorOps, Transpose4D) {
  Tensor y = OpRunner("Transpose").in(arange({2, 3, 4, 5})).attr("perm", std::vector<int64_t>{0, 2, 3, 1}).run1();
  ASSERT_EQ(y.shape(), (Shape{2, 4, 5, 3}));
  // numpy: np.arange(120).reshape(2,3,4,5).transpose(0,2,3,1)
  std::vector<double> head = {0, 20, 40, 1, 21, 41, 2, 22, 42, 3, 23, 43};
  std::vector<double> got = valuesOf(y);
  EXPECT_EQ(std::vector<double>(got.begin(), got.begin() + 12), head);
  EXPECT_EQ(got[60], 60);
  EXPECT_EQ(got[61], 80);
  EXPECT_EQ(got[119], 119);
  EXPECT_EQ(got[118], 99);
  // Default perm reverses the axes; values are moved as raw bytes whatever the dtype.
  Tensor r = OpRunner("Transpose").in(arange({2, 3}, DType::I64)).run1();
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.dtype(), DType::I64);
  EXPECT_EQ(r.toInt64Vector(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_NE(errorOf([] { OpRunner("Transpose").in(arange({2, 3})).attr("perm", std::vector<int64_t>{0, 0}).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Transpose").in(arange({2, 3})).attr("perm", std::vector<int64_t>{1}).run(); }), "");
}

// --- Concat / Split -----------------------------------------------------------------------

TEST(TensorOps, ConcatAndSplit) {
  Tensor c = OpRunner("Concat").in(arange({2, 2})).in(f32({2, 1}, {9, 8})).attr("axis", int64_t{-1}).run1();
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(c), (std::vector<double>{0, 1, 9, 2, 3, 8}));
  EXPECT_NE(errorOf([] { OpRunner("Concat").in(arange({2, 2})).in(arange({3, 1})).attr("axis", int64_t{1}).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Concat").in(arange({2})).in(arange({2}, DType::I64)).attr("axis", int64_t{0}).run(); }), "");

  // Uneven parts through the split input: x[:, :2] and x[:, 2:].
  std::vector<Tensor> parts = OpRunner("Split").in(arange({2, 5})).in(i64s({2, 3})).attr("axis", int64_t{1}).outputs(2).run();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(valuesOf(parts[0]), (std::vector<double>{0, 1, 5, 6}));
  EXPECT_EQ(parts[1].shape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf(parts[1]), (std::vector<double>{2, 3, 4, 7, 8, 9}));
  // Equal parts when the input is omitted; opset 13 needs an even split.
  parts = OpRunner("Split").in(arange({6})).outputs(3).run();
  EXPECT_EQ(valuesOf(parts[2]), (std::vector<double>{4, 5}));
  EXPECT_NE(errorOf([] { OpRunner("Split").in(arange({5})).outputs(2).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Split").in(arange({5})).in(i64s({2, 2})).outputs(2).run(); }), "");
  // Opset-18 num_outputs: the last chunk is smaller.
  parts = OpRunner("Split").in(arange({5})).attr("num_outputs", int64_t{2}).outputs(2).run();
  EXPECT_EQ(parts[0].shape(), (Shape{3}));
  EXPECT_EQ(valuesOf(parts[1]), (std::vector<double>{3, 4}));
}

// --- Slice --------------------------------------------------------------------------------

TEST(TensorOps, SliceNegativeStepsAndClampedEnds) {
  // numpy: np.arange(20).reshape(4,5)[::-1, 4:0:-2]
  Tensor y = OpRunner("Slice")
                 .in(arange({4, 5}))
                 .in(i64s({-1, 4}))
                 .in(i64s({kI64Min, 0}))
                 .in(i64s({0, 1}))
                 .in(i64s({-1, -2}))
                 .run1();
  EXPECT_EQ(y.shape(), (Shape{4, 2}));
  EXPECT_EQ(valuesOf(y), (std::vector<double>{19, 17, 14, 12, 9, 7, 4, 2}));
  // x[:, 1::2] with end INT64_MAX and a negative axis.
  y = OpRunner("Slice").in(arange({4, 5})).in(i64s({1})).in(i64s({kI64Max})).in(i64s({-1})).in(i64s({2})).run1();
  EXPECT_EQ(y.shape(), (Shape{4, 2}));
  EXPECT_EQ(valuesOf(y), (std::vector<double>{1, 3, 6, 8, 11, 13, 16, 18}));
  // Out-of-range start gives an empty axis; default axes are 0..n-1.
  EXPECT_EQ(OpRunner("Slice").in(arange({4, 5})).in(i64s({10})).in(i64s({20})).run1().shape(), (Shape{0, 5}));
  // Huge negative step reverses nothing beyond one element.
  y = OpRunner("Slice").in(arange({4})).in(i64s({-1})).in(i64s({kI64Min})).in(i64s({0})).in(i64s({kI64Min})).run1();
  EXPECT_EQ(valuesOf(y), (std::vector<double>{3}));
  // int32 parameters work as well.
  y = OpRunner("Slice").in(arange({6})).in(i32({1}, {1})).in(i32({1}, {-1})).run1();
  EXPECT_EQ(valuesOf(y), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_NE(errorOf([] { OpRunner("Slice").in(arange({4})).in(i64s({0})).in(i64s({4})).in(i64s({0})).in(i64s({0})).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Slice").in(arange({4})).in(i64s({0})).in(i64s({4})).in(i64s({1})).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Slice").in(arange({4, 4})).in(i64s({0, 0})).in(i64s({1, 1})).in(i64s({1, -1})).run(); }), "");
}

// --- Pad ----------------------------------------------------------------------------------

TEST(TensorOps, PadReflectEdgeConstant) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  // numpy: np.pad(x, ((1,1),(2,2)), 'reflect')
  Tensor r = OpRunner("Pad").in(x).in(i64s({1, 2, 1, 2})).attr("mode", std::string("reflect")).run1();
  EXPECT_EQ(r.shape(), (Shape{4, 7}));
  EXPECT_EQ(valuesOf(r), (std::vector<double>{6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1,
                                              6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1}));
  // numpy: np.pad(x, ((1,1),(2,2)), 'edge')
  Tensor e = OpRunner("Pad").in(x).in(i64s({1, 2, 1, 2})).attr("mode", std::string("edge")).run1();
  EXPECT_EQ(valuesOf(e), (std::vector<double>{1, 1, 1, 2, 3, 3, 3, 1, 1, 1, 2, 3, 3, 3,
                                              4, 4, 4, 5, 6, 6, 6, 4, 4, 4, 5, 6, 6, 6}));
  // A negative pad crops: np.pad(x[:, 1:], ((0,1),(0,0)), constant_values=9)
  Tensor c = OpRunner("Pad").in(x).in(i64s({0, -1, 1, 0})).in(Tensor::scalar(9)).run1();
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_EQ(valuesOf(c), (std::vector<double>{2, 3, 5, 6, 9, 9}));
  // Default constant is 0; an omitted constant_value likewise.
  Tensor z = OpRunner("Pad").in(f32({1}, {7})).in(i64s({1, 1})).none().run1();
  EXPECT_EQ(valuesOf(z), (std::vector<double>{0, 7, 0}));
  // Pads longer than the axis reflect again: np.pad([1,2,3], (5,4), 'reflect')
  Tensor big = OpRunner("Pad").in(f32({3}, {1, 2, 3})).in(i64s({5, 4})).attr("mode", std::string("reflect")).run1();
  EXPECT_EQ(valuesOf(big), (std::vector<double>{2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3}));
  // Integer data keeps its dtype.
  Tensor ints = OpRunner("Pad").in(arange({3}, DType::I32)).in(i64s({0, 2})).attr("mode", std::string("edge")).run1();
  EXPECT_EQ(ints.dtype(), DType::I32);
  EXPECT_EQ(ints.toInt64Vector(), (std::vector<int64_t>{0, 1, 2, 2, 2}));

  std::string err = errorOf([&] { OpRunner("Pad").in(x).in(i64s({-3, 0, 0, 0})).run(); });
  EXPECT_NE(err.find("below size 0"), std::string::npos) << err;
  EXPECT_NE(errorOf([&] { OpRunner("Pad").in(x).in(i64s({1, 1})).run(); }), "");
  EXPECT_NE(errorOf([&] { OpRunner("Pad").in(x).in(i64s({0, 0, 0, 0})).attr("mode", std::string("wrap")).run(); }), "");
}

// --- Gather family ------------------------------------------------------------------------

TEST(TensorOps, GatherNegativeIndices) {
  // numpy: np.take(np.arange(12).reshape(3,4), [[-1,0],[1,-3]], axis=1)
  Tensor y = OpRunner("Gather").in(arange({3, 4})).in(i64({2, 2}, {-1, 0, 1, -3})).attr("axis", int64_t{1}).run1();
  EXPECT_EQ(y.shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(valuesOf(y), (std::vector<double>{3, 0, 1, 1, 7, 4, 5, 5, 11, 8, 9, 9}));
  // A scalar index removes the axis; int32 indices work.
  Tensor row = OpRunner("Gather").in(arange({3, 4})).in(i32({}, {-2})).run1();
  EXPECT_EQ(row.shape(), (Shape{4}));
  EXPECT_EQ(valuesOf(row), (std::vector<double>{4, 5, 6, 7}));
  std::string err = errorOf([] { OpRunner("Gather").in(arange({3, 4})).in(i64s({0, 4})).attr("axis", int64_t{1}).run(); });
  EXPECT_NE(err.find("4"), std::string::npos) << err;
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
  EXPECT_NE(errorOf([] { OpRunner("Gather").in(arange({3})).in(i64s({-4})).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Gather").in(arange({3})).in(f32({1}, {0})).run(); }), "");
}

TEST(TensorOps, GatherElementsAndND) {
  // ONNX's example: data [[1,2],[3,4]], indices [[0,0],[1,0]], axis 1 -> [[1,1],[4,3]]
  Tensor y = OpRunner("GatherElements").in(f32({2, 2}, {1, 2, 3, 4})).in(i64({2, 2}, {0, 0, -1, 0})).attr("axis", int64_t{1}).run1();
  EXPECT_EQ(valuesOf(y), (std::vector<double>{1, 1, 4, 3}));
  EXPECT_NE(errorOf([] { OpRunner("GatherElements").in(arange({2, 2})).in(i64({1, 1}, {2})).run(); }), "");

  // numpy: x = arange(8).reshape(2,2,2); [x[0,1], x[1,0]]
  Tensor nd = OpRunner("GatherND").in(arange({2, 2, 2})).in(i64({2, 2}, {0, 1, 1, 0})).run1();
  EXPECT_EQ(nd.shape(), (Shape{2, 2}));
  EXPECT_EQ(valuesOf(nd), (std::vector<double>{2, 3, 4, 5}));
  // batch_dims=1: [x[0][1], x[1][0]] (ONNX's example_int32_batch_dim1)
  Tensor b = OpRunner("GatherND").in(arange({2, 2, 2})).in(i64({2, 1}, {1, 0})).attr("batch_dims", int64_t{1}).run1();
  EXPECT_EQ(b.shape(), (Shape{2, 2}));
  EXPECT_EQ(valuesOf(b), (std::vector<double>{2, 3, 4, 5}));
  EXPECT_NE(errorOf([] { OpRunner("GatherND").in(arange({2, 2})).in(i64({1, 2}, {0, 2})).run(); }), "");

  // ScatterND (ONNX's add example, simplified): out = data; out[idx] += updates
  Tensor s = OpRunner("ScatterND").in(arange({4})).in(i64({2, 1}, {1, 1})).in(f32({2}, {10, 20})).attr("reduction", std::string("add")).run1();
  EXPECT_EQ(valuesOf(s), (std::vector<double>{0, 31, 2, 3}));
  Tensor s2 = OpRunner("ScatterND").in(arange({2, 2})).in(i64({1, 1}, {-1})).in(f32({1, 2}, {7, 8})).run1();
  EXPECT_EQ(valuesOf(s2), (std::vector<double>{0, 1, 7, 8}));
}

TEST(TensorOps, ScatterElementsOnnxExamples) {
  // onnx/backend/test/case/node/scatterelements.py
  Tensor y = OpRunner("ScatterElements")
                 .in(f32({3, 3}, std::vector<float>(9, 0.f)))
                 .in(i64({2, 3}, {1, 0, 2, 0, 2, 1}))
                 .in(f32({2, 3}, {1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f}))
                 .run1();
  EXPECT_EQ(y.toFloatVector(), (std::vector<float>{2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f}));
  Tensor data = f32({1, 5}, {1, 2, 3, 4, 5});
  Tensor updates = f32({1, 2}, {1.1f, 2.1f});
  auto scatter = [&](std::vector<int64_t> indices, const std::string &reduction) {
    return OpRunner("ScatterElements")
        .in(data)
        .in(i64({1, 2}, std::move(indices)))
        .in(updates)
        .attr("axis", int64_t{1})
        .attr("reduction", reduction)
        .run1()
        .toFloatVector();
  };
  EXPECT_EQ(scatter({1, 3}, "none"), (std::vector<float>{1, 1.1f, 3, 2.1f, 5}));
  EXPECT_EQ(scatter({1, -3}, "none"), (std::vector<float>{1, 1.1f, 2.1f, 4, 5}));
  EXPECT_EQ(scatter({1, 1}, "add"), (std::vector<float>{1, 2 + 1.1f + 2.1f, 3, 4, 5}));
  Tensor m = OpRunner("ScatterElements")
                 .in(i64({4}, {1, 2, 3, 4}))
                 .in(i32({3}, {1, 1, 3}))
                 .in(i64({3}, {2, 3, 10}))
                 .attr("reduction", std::string("mul"))
                 .run1();
  EXPECT_EQ(m.toInt64Vector(), (std::vector<int64_t>{1, 12, 3, 40}));
}

TEST(TensorOps, ScatterElementsRejectsBadInputs) {
  auto run = [](Tensor indices, Tensor updates, const std::string &reduction = "none") {
    return errorOf([&] {
      OpRunner("ScatterElements").in(arange({2, 3})).in(indices).in(updates).attr("reduction", reduction).run();
    });
  };
  EXPECT_NE(run(i64({1, 1}, {2}), arange({1, 1})).find("out of range"), std::string::npos);
  EXPECT_NE(run(i64({1, 2}, {0, 1}), arange({1, 1})).find("shape of indices"), std::string::npos);
  EXPECT_NE(run(i64({1, 4}, {0, 0, 0, 0}), arange({1, 4})).find("larger than data"), std::string::npos);
  EXPECT_NE(run(i64({1, 1}, {0}), arange({1, 1}), "avg").find("reduction"), std::string::npos);
  EXPECT_NE(run(f32({1, 1}, {0}), arange({1, 1})).find("int64 or int32"), std::string::npos);
}

TEST(TensorOps, EyeLikeDiagonalsAndDtypes) {
  Tensor y = OpRunner("EyeLike").in(arange({3, 4})).attr("k", int64_t{1}).run1();
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(valuesOf(y), (std::vector<double>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  Tensor low = OpRunner("EyeLike").in(arange({4, 3}, DType::I32)).attr("k", int64_t{-1}).run1();
  EXPECT_EQ(low.dtype(), DType::I32);
  EXPECT_EQ(valuesOf(low), (std::vector<double>{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  Tensor typed = OpRunner("EyeLike").in(arange({2, 2}, DType::I32)).attr("dtype", int64_t{9}).run1(); // BOOL
  EXPECT_EQ(typed.dtype(), DType::Bool);
  EXPECT_EQ(typed.toInt64Vector(), (std::vector<int64_t>{1, 0, 0, 1}));
  Tensor none = OpRunner("EyeLike").in(arange({2, 3})).attr("k", kI64Max).run1();
  EXPECT_EQ(valuesOf(none), (std::vector<double>(6, 0.0)));
  EXPECT_NE(errorOf([] { OpRunner("EyeLike").in(arange({2, 2, 2})).run(); }).find("2-D"), std::string::npos);
  EXPECT_NE(errorOf([] { OpRunner("EyeLike").in(arange({2, 2})).attr("dtype", int64_t{11}).run(); }).find("DOUBLE"),
            std::string::npos);
}

TEST(TensorOps, ReverseSequenceOnnxExamples) {
  // onnx/backend/test/case/node/reversesequence.py
  Tensor time = OpRunner("ReverseSequence")
                    .in(f32({4, 4}, {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15}))
                    .in(i64s({4, 3, 2, 1}))
                    .attr("time_axis", int64_t{0})
                    .attr("batch_axis", int64_t{1})
                    .run1();
  EXPECT_EQ(valuesOf(time), (std::vector<double>{3, 6, 9, 12, 2, 5, 8, 13, 1, 4, 10, 14, 0, 7, 11, 15}));
  Tensor batch = OpRunner("ReverseSequence")
                     .in(arange({4, 4}))
                     .in(i64s({1, 2, 3, 4}))
                     .attr("time_axis", int64_t{1})
                     .attr("batch_axis", int64_t{0})
                     .run1();
  EXPECT_EQ(valuesOf(batch), (std::vector<double>{0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 15, 14, 13, 12}));
  // Rank 3: whole rows of the trailing dim move together; length 0 leaves a sequence alone.
  Tensor r3 = OpRunner("ReverseSequence").in(arange({3, 2, 2})).in(i64s({0, 2})).run1();
  EXPECT_EQ(valuesOf(r3), (std::vector<double>{0, 1, 6, 7, 4, 5, 2, 3, 8, 9, 10, 11}));
}

TEST(TensorOps, ReverseSequenceRejectsBadInputs) {
  EXPECT_NE(errorOf([] { OpRunner("ReverseSequence").in(arange({3, 2})).in(i64s({4, 1})).run(); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(errorOf([] { OpRunner("ReverseSequence").in(arange({3, 2})).in(i64s({-1, 1})).run(); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(errorOf([] { OpRunner("ReverseSequence").in(arange({3, 2})).in(i64s({1, 1, 1})).run(); }).find("sequence_lens"),
            std::string::npos);
  EXPECT_NE(errorOf([] {
              OpRunner("ReverseSequence").in(arange({3, 2})).in(i64s({1, 1})).attr("batch_axis", int64_t{0}).run();
            }).find("batch_axis"),
            std::string::npos);
  EXPECT_NE(errorOf([] { OpRunner("ReverseSequence").in(arange({3})).in(i64s({1})).run(); }), "");
}

// --- Broadcasting, generators -------------------------------------------------------------

TEST(TensorOps, ExpandAndTile) {
  Tensor e = OpRunner("Expand").in(f32({3, 1}, {1, 2, 3})).in(i64s({2, 1, 2})).run1();
  EXPECT_EQ(e.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(valuesOf(e), (std::vector<double>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  // Shape entries of 1 keep the input's larger dims (bidirectional broadcast).
  EXPECT_EQ(OpRunner("Expand").in(arange({2, 3})).in(i64s({1, 1})).run1().shape(), (Shape{2, 3}));
  std::string err = errorOf([] { OpRunner("Expand").in(arange({2, 3})).in(i64s({4, 3})).run(); });
  EXPECT_NE(err.find("incompatible"), std::string::npos) << err;

  // numpy: np.tile([[0,1],[2,3]], (2,2))
  Tensor t = OpRunner("Tile").in(arange({2, 2})).in(i64s({2, 2})).run1();
  EXPECT_EQ(t.shape(), (Shape{4, 4}));
  EXPECT_EQ(valuesOf(t), (std::vector<double>{0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3}));
  EXPECT_NE(errorOf([] { OpRunner("Tile").in(arange({2, 2})).in(i64s({2})).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Tile").in(arange({2, 2})).in(i64s({kI64Max, 2})).run(); }), "");
}

TEST(TensorOps, RangeShapeSizeConstantOfShape) {
  Tensor r = OpRunner("Range").in(Tensor::scalar(1)).in(Tensor::scalar(2)).in(Tensor::scalar(0.25f)).run1();
  EXPECT_EQ(valuesOf(r), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  Tensor ri = OpRunner("Range").in(i32({}, {10})).in(i32({}, {4})).in(i32({}, {-3})).run1();
  EXPECT_EQ(ri.dtype(), DType::I32);
  EXPECT_EQ(ri.toInt64Vector(), (std::vector<int64_t>{10, 7}));
  Tensor empty = OpRunner("Range").in(Tensor::scalarI64(5)).in(Tensor::scalarI64(1)).in(Tensor::scalarI64(2)).run1();
  EXPECT_EQ(empty.shape(), (Shape{0}));
  EXPECT_NE(errorOf([] { OpRunner("Range").in(Tensor::scalarI64(0)).in(Tensor::scalarI64(5)).in(Tensor::scalarI64(0)).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("Range").in(Tensor::scalarI64(0)).in(Tensor::scalar(5)).in(Tensor::scalarI64(1)).run(); }), "");

  Tensor x = arange({2, 3, 4, 5});
  EXPECT_EQ(OpRunner("Shape").in(x).run1().toInt64Vector(), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(OpRunner("Shape").in(x).attr("start", int64_t{1}).attr("end", int64_t{-1}).run1().toInt64Vector(),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(OpRunner("Shape").in(x).attr("start", int64_t{-10}).attr("end", int64_t{1}).run1().toInt64Vector(),
            (std::vector<int64_t>{2}));
  EXPECT_EQ(OpRunner("Shape").in(x).attr("start", int64_t{3}).attr("end", int64_t{1}).run1().numElements(), 0);
  Tensor size = OpRunner("Size").in(x).run1();
  EXPECT_EQ(size.dtype(), DType::I64);
  EXPECT_EQ(size.rank(), 0);
  EXPECT_EQ(size.getAsInt64(0), 120);

  Tensor zeros = OpRunner("ConstantOfShape").in(i64s({2, 3})).run1();
  EXPECT_EQ(zeros.type().toString(), "f32[2,3]");
  EXPECT_EQ(valuesOf(zeros), std::vector<double>(6, 0.0));
  Tensor sevens = OpRunner("ConstantOfShape").in(i64s({3})).attr("value", i64({1}, {7})).run1();
  EXPECT_EQ(sevens.dtype(), DType::I64);
  EXPECT_EQ(sevens.toInt64Vector(), (std::vector<int64_t>{7, 7, 7}));
  EXPECT_NE(errorOf([] { OpRunner("ConstantOfShape").in(i64s({2, -1})).run(); }), "");
}

// --- DepthToSpace / SpaceToDepth, Trilu, OneHot, TopK -------------------------------------

TEST(TensorOps, DepthToSpaceModesAndInverse) {
  Tensor x = arange({1, 8, 2, 3});
  // numpy (ONNX's reference): DCR reshapes to [n,b,b,c/4,h,w], CRD to [n,c/4,b,b,h,w]
  Tensor dcr = OpRunner("DepthToSpace").in(x).attr("blocksize", int64_t{2}).run1();
  EXPECT_EQ(dcr.shape(), (Shape{1, 2, 4, 6}));
  std::vector<double> dcrHead = {0, 12, 1, 13, 2, 14, 24, 36, 25, 37, 26, 38};
  std::vector<double> got = valuesOf(dcr);
  EXPECT_EQ(std::vector<double>(got.begin(), got.begin() + 12), dcrHead);
  EXPECT_EQ(got.back(), 47);
  Tensor crd = OpRunner("DepthToSpace").in(x).attr("blocksize", int64_t{2}).attr("mode", std::string("CRD")).run1();
  got = valuesOf(crd);
  std::vector<double> crdHead = {0, 6, 1, 7, 2, 8, 12, 18, 13, 19, 14, 20};
  EXPECT_EQ(std::vector<double>(got.begin(), got.begin() + 12), crdHead);
  // SpaceToDepth undoes DCR DepthToSpace.
  Tensor back = OpRunner("SpaceToDepth").in(dcr).attr("blocksize", int64_t{2}).run1();
  EXPECT_EQ(back.shape(), x.shape());
  EXPECT_EQ(valuesOf(back), valuesOf(x));
  EXPECT_NE(errorOf([] { OpRunner("DepthToSpace").in(arange({1, 6, 2, 2})).attr("blocksize", int64_t{2}).run(); }), "");
  EXPECT_NE(errorOf([] { OpRunner("SpaceToDepth").in(arange({1, 1, 3, 2})).attr("blocksize", int64_t{2}).run(); }), "");
}

TEST(TensorOps, TriluOneHotTopK) {
  Tensor m = f32({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  // numpy: np.triu(m, 1), np.tril(m, -1)
  EXPECT_EQ(valuesOf(OpRunner("Trilu").in(m).in(Tensor::scalarI64(1)).run1()),
            (std::vector<double>{0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12}));
  EXPECT_EQ(valuesOf(OpRunner("Trilu").in(m).in(Tensor::scalarI64(-1)).attr("upper", int64_t{0}).run1()),
            (std::vector<double>{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
  EXPECT_EQ(valuesOf(OpRunner("Trilu").in(m).in(Tensor::scalarI64(kI64Min)).run1()), valuesOf(m));

  // depth 3, values [off=0, on=5]; -1 means 2, 3 is out of range (all off).
  Tensor oh = OpRunner("OneHot").in(i64s({0, -1, 3})).in(Tensor::scalarI64(3)).in(f32({2}, {0, 5})).run1();
  EXPECT_EQ(oh.shape(), (Shape{3, 3}));
  EXPECT_EQ(valuesOf(oh), (std::vector<double>{5, 0, 0, 0, 0, 5, 0, 0, 0}));
  Tensor oh0 = OpRunner("OneHot").in(i64s({1, 0})).in(Tensor::scalarI64(2)).in(i64s({0, 1})).attr("axis", int64_t{0}).run1();
  EXPECT_EQ(oh0.toInt64Vector(), (std::vector<int64_t>{0, 1, 1, 0}));

  Tensor x = f32({2, 4}, {3, 1, 4, 1, 5, 9, 2, 6});
  std::vector<Tensor> top = OpRunner("TopK").in(x).in(i64s({2})).outputs(2).run();
  EXPECT_EQ(valuesOf(top[0]), (std::vector<double>{4, 3, 9, 6}));
  EXPECT_EQ(top[1].dtype(), DType::I64);
  EXPECT_EQ(top[1].toInt64Vector(), (std::vector<int64_t>{2, 0, 1, 3}));
  top = OpRunner("TopK").in(x).in(i64s({1})).attr("axis", int64_t{0}).attr("largest", int64_t{0}).outputs(2).run();
  EXPECT_EQ(top[0].shape(), (Shape{1, 4}));
  EXPECT_EQ(valuesOf(top[0]), (std::vector<double>{3, 1, 2, 1}));
  EXPECT_EQ(top[1].toInt64Vector(), (std::vector<int64_t>{0, 0, 1, 0}));
  // Ties: the lower index comes first.
  top = OpRunner("TopK").in(arange({4}, DType::I32).reshaped({4})).in(i64s({4})).outputs(2).run();
  EXPECT_EQ(top[1].toInt64Vector(), (std::vector<int64_t>{3, 2, 1, 0}));
  top = OpRunner("TopK").in(i64s({1, 3, 1, 3})).in(i64s({3})).outputs(2).run();
  EXPECT_EQ(top[0].toInt64Vector(), (std::vector<int64_t>{3, 3, 1}));
  EXPECT_EQ(top[1].toInt64Vector(), (std::vector<int64_t>{1, 3, 0}));
  EXPECT_NE(errorOf([&] { OpRunner("TopK").in(x).in(i64s({5})).outputs(2).run(); }), "");
}

TEST(TensorOps, MovesEveryDType) {
  // f16 and bool are moved as raw bytes.
  Tensor h = Tensor::fromVector<uint16_t>(DType::F16, {2, 2}, {0x3c00, 0x4000, 0x4200, 0x4400}); // 1, 2, 3, 4
  Tensor ht = OpRunner("Transpose").in(h).run1();
  EXPECT_EQ(ht.dtype(), DType::F16);
  EXPECT_EQ(valuesOf(ht), (std::vector<double>{1, 3, 2, 4}));
  Tensor b = Tensor::fromVector<uint8_t>(DType::Bool, {3}, {1, 0, 1});
  Tensor bs = OpRunner("Slice").in(b).in(i64s({-1})).in(i64s({kI64Min})).in(i64s({0})).in(i64s({-1})).run1();
  EXPECT_EQ(bs.dtype(), DType::Bool);
  EXPECT_EQ(bs.toInt64Vector(), (std::vector<int64_t>{1, 0, 1}));
  Tensor i8 = Tensor::fromVector<int8_t>(DType::I8, {2}, {-5, 7});
  Tensor c = OpRunner("Concat").in(i8).in(i8).attr("axis", int64_t{0}).run1();
  EXPECT_EQ(c.toInt64Vector(), (std::vector<int64_t>{-5, 7, -5, 7}));
  Tensor g = OpRunner("Gather").in(arange({3}, DType::U8)).in(i64s({2, 0})).run1();
  EXPECT_EQ(g.dtype(), DType::U8);
  EXPECT_EQ(g.toInt64Vector(), (std::vector<int64_t>{2, 0}));
}

} // namespace
