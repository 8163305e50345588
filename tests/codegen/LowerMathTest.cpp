// The math op families of the compiler (lower/Elementwise.cpp, lower/Reduce.cpp,
// lower/Quantize.cpp) on what ONNX's conformance cases leave out: integer and bool
// tensors of every IR dtype, reductions over separated axis groups and long kept rows,
// tiles of the inner-axis kernels cut by thread splits, variadic ops with broadcasting and
// an absorbed activation, Cast between every pair of dtypes, quantization with scales
// computed at run time. Each graph is compiled, run at 1 and 3 threads (bitwise identical)
// and compared with the interpreter: integers and bool exactly, floats within 1e-4 of the
// output's largest magnitude.
#include "leip/codegen/Compiler.h"
#include "leip/interp/Interpreter.h"
#include "leip/passes/ShapeInference.h"
#include "leip/runtime.hpp"
#include "leip/support/Error.h"

#include "CompiledCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

namespace fs = std::filesystem;
using namespace leip;

namespace {

using ir::DType;

/// A graph under construction with random inputs for it.
class Builder {
public:
  ir::Value *input(DType dtype, ir::Shape shape) {
    ir::Tensor t(dtype, shape);
    for (int64_t i = 0; i < t.numElements(); ++i) {
      switch (dtype) {
      case DType::F32:
      case DType::F16: t.setFromDouble(i, real_(rng_)); break;
      case DType::U8: t.setFromDouble(i, small_(rng_) + 20); break;
      case DType::Bool: t.setFromDouble(i, small_(rng_) > 0); break;
      default: t.setFromDouble(i, small_(rng_)); break;
      }
    }
    return input(t);
  }
  ir::Value *input(const ir::Tensor &value) {
    values_.push_back(value);
    return graph_.addInput(graph_.uniqueName("x"), value.type());
  }
  ir::Value *ints(const std::vector<int64_t> &v) {
    return graph_.addConstant(graph_.uniqueName("c"),
                              ir::Tensor::fromVector<int64_t>(DType::I64, {static_cast<int64_t>(v.size())}, v));
  }
  ir::Value *constant(const ir::Tensor &t) { return graph_.addConstant(graph_.uniqueName("c"), t); }
  ir::Node *addNode(const std::string &op, std::vector<ir::Value *> in,
                    std::vector<std::pair<std::string, ir::Attribute>> attrs = {}, int outputs = 1) {
    std::vector<std::string> names;
    for (int i = 0; i < outputs; ++i) names.push_back(graph_.uniqueName(op + "_y" + std::to_string(i)));
    ir::Node *n = graph_.addNode(op, graph_.uniqueName(op), in, names);
    for (auto &[k, v] : attrs) n->attrs().set(k, v);
    return n;
  }
  ir::Value *node(const std::string &op, std::vector<ir::Value *> in,
                  std::vector<std::pair<std::string, ir::Attribute>> attrs = {}) {
    return addNode(op, std::move(in), std::move(attrs))->output(0);
  }
  void output(ir::Value *v) { graph_.addOutput(v); }

  ir::Graph &graph() { return graph_; }
  const std::vector<ir::Tensor> &values() const { return values_; }
  std::mt19937 &rng() { return rng_; }

private:
  ir::Graph graph_;
  std::vector<ir::Tensor> values_;
  std::mt19937 rng_{7};
  std::uniform_real_distribution<float> real_{-3.0f, 3.0f};
  std::uniform_int_distribution<int> small_{-20, 20};
};

/// Compiles the builder's graph, runs it at 1 and 3 threads and compares with the
/// interpreter.
void expectMatchesInterpreter(Builder &b, const std::string &name) {
  ir::Graph &graph = b.graph();
  passes::inferShapes(graph);
  fs::path dir = test::compileForTest(graph, name);
  std::vector<ir::Tensor> want = interp::Interpreter(graph).run(b.values());
  std::vector<std::vector<char>> one = test::runCompiled(dir, b.values(), 1);
  std::vector<std::vector<char>> three = test::runCompiled(dir, b.values(), 3);
  ASSERT_EQ(one.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    std::string what = name + " output " + std::to_string(i) + " (" + graph.outputs()[i]->producer()->describe() + ")";
    EXPECT_TRUE(one[i] == three[i]) << what << " differs between 1 and 3 threads";
    test::expectCloseToInterpreter(one[i], want[i], what);
  }
}

const char *const kReductions[] = {"ReduceSum",       "ReduceSumSquare", "ReduceL1",  "ReduceL2",  "ReduceLogSum",
                                   "ReduceLogSumExp", "ReduceMean",      "ReduceMax", "ReduceMin", "ReduceProd"};

/// Every reduction over axis patterns that give the kernel's two walks: the innermost axis
/// reduced (each output reduces its own elements) and kept (runs of outputs accumulate
/// together; 300 > the kernel's 256-wide tile), with separated groups of reduced axes.
void checkReductions(DType dtype) {
  Builder b;
  ir::Value *x = b.input(dtype, {2, 3, 4, 300});
  const std::vector<std::vector<int64_t>> patterns = {{1, 3}, {0, 2}, {1}, {-1}, {}};
  for (const char *op : kReductions)
    for (const auto &axes : patterns) {
      std::vector<ir::Value *> in{x};
      if (!axes.empty()) in.push_back(b.ints(axes));
      b.output(b.node(op, in, {{"keepdims", int64_t(axes.size() != 1)}}));
    }
  // noop_with_empty_axes: the input itself.
  b.output(b.node("ReduceSum", {x}, {{"noop_with_empty_axes", int64_t{1}}}));
  expectMatchesInterpreter(b, std::string("reduce_") + std::string(ir::dtypeName(dtype)));
}

} // namespace

TEST(CodegenMath, FloatReductionsMatchInterpreter) { checkReductions(DType::F32); }
TEST(CodegenMath, Int32ReductionsMatchInterpreter) { checkReductions(DType::I32); }
TEST(CodegenMath, Uint8ReductionsMatchInterpreter) { checkReductions(DType::U8); }

TEST(CodegenMath, ArgMaxArgMinWithTiesMatchInterpreter) {
  Builder b;
  ir::Tensor ties(DType::I64, {2, 7, 300});
  std::uniform_int_distribution<int> few(0, 3);
  for (int64_t &v : ties.values<int64_t>()) v = few(b.rng());
  ir::Value *xi = b.input(ties);
  ir::Value *xf = b.input(DType::F32, {3, 5, 290});
  for (ir::Value *x : {xi, xf})
    for (const char *op : {"ArgMax", "ArgMin"})
      for (int64_t axis : {1, 2, 0})
        for (int64_t last : {0, 1})
          b.output(b.node(op, {x}, {{"axis", axis}, {"select_last_index", last}, {"keepdims", int64_t(axis != 0)}}));
  expectMatchesInterpreter(b, "argreduce");
}

TEST(CodegenMath, CumSumMatchesInterpreter) {
  Builder b;
  for (DType dtype : {DType::F32, DType::I32, DType::I64}) {
    ir::Value *x = b.input(dtype, {2, 5, 300});
    for (int64_t axis : {1, -1, 0})
      for (int64_t exclusive : {0, 1})
        for (int64_t reverse : {0, 1})
          b.output(b.node("CumSum", {x, b.ints({axis})}, {{"exclusive", exclusive}, {"reverse", reverse}}));
  }
  expectMatchesInterpreter(b, "cumsum");
}

TEST(CodegenMath, SoftmaxFamilyAlongEveryAxisMatchesInterpreter) {
  Builder b;
  ir::Value *x = b.input(DType::F32, {2, 70, 300});
  for (const char *op : {"Softmax", "LogSoftmax", "Hardmax"})
    for (int64_t axis : {0, 1, 2}) b.output(b.node(op, {x}, {{"axis", axis}}));
  // Rows with ties: Hardmax marks the first largest.
  ir::Tensor ties(DType::F32, {4, 200, 3});
  std::uniform_int_distribution<int> few(0, 2);
  for (float &v : ties.values<float>()) v = static_cast<float>(few(b.rng()));
  b.output(b.node("Hardmax", {b.input(ties)}, {{"axis", int64_t{1}}}));
  expectMatchesInterpreter(b, "softmax");
}

TEST(CodegenMath, CastBetweenEveryPairOfDtypesMatchesInterpreter) {
  Builder b;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> special = {nan,    inf,    -inf,    0.5f,   -0.5f, 1.5f,  2.5f,     -2.5f,    127.9f, 128.0f,
                                255.5f, 256.0f, -129.0f, 3e9f,   -3e9f, 1e20f, 65504.0f, 65520.0f, 1e-8f,  6e-8f,
                                -0.0f,  1.0f,   -1.0f,   100.0f, 3e-5f, 7.0f,  -7.0f,    40000.0f, -1e20f, 0.1f};
  auto n = static_cast<int64_t>(special.size());
  ir::Tensor f32 = ir::Tensor::fromVector(DType::F32, {n}, special);
  std::vector<int64_t> bigInts = {(int64_t{1} << 40) + 1,
                                  -(int64_t{1} << 40),
                                  (int64_t{1} << 53) + 1,
                                  255,
                                  256,
                                  -1,
                                  0,
                                  -128,
                                  127,
                                  65505,
                                  -65505,
                                  2147483648LL,
                                  -2147483649LL,
                                  16777217,
                                  3,
                                  -3,
                                  1,
                                  2,
                                  300,
                                  -300,
                                  70000,
                                  -70000,
                                  9,
                                  10,
                                  11,
                                  12,
                                  13,
                                  14,
                                  15,
                                  16};
  ir::Tensor i64 = ir::Tensor::fromVector<int64_t>(DType::I64, {n}, bigInts);
  std::vector<ir::Value *> sources = {b.input(f32),
                                      b.input(f32.castTo(DType::F16)),
                                      b.input(i64),
                                      b.input(i64.castTo(DType::I32)),
                                      b.input(i64.castTo(DType::I8)),
                                      b.input(i64.castTo(DType::U8)),
                                      b.input(i64.castTo(DType::Bool))};
  // ONNX TensorProto codes of the IR's dtypes.
  for (ir::Value *x : sources)
    for (int64_t to : {1, 10, 3, 2, 6, 7, 9}) b.output(b.node("Cast", {x}, {{"to", to}}));
  expectMatchesInterpreter(b, "cast");
}

TEST(CodegenMath, VariadicAndBinaryOpsOnEveryDtypeMatchInterpreter) {
  Builder b;
  // Four inputs broadcasting to [2,3,4,5]; the Sum's Relu is absorbed into its kernel.
  std::vector<ir::Value *> parts = {b.input(DType::F32, {3, 1, 5}), b.input(DType::F32, {4, 1}),
                                    b.input(DType::F32, {1}), b.input(DType::F32, {2, 3, 4, 5})};
  for (const char *op : {"Max", "Min", "Mean"}) b.output(b.node(op, parts));
  b.output(b.node("Relu", {b.node("Sum", parts)}));
  b.output(b.node("Relu", {b.node("Max", {parts[3]})}));
  for (DType dtype : {DType::I8, DType::U8, DType::I32, DType::I64}) {
    ir::Value *x = b.input(dtype, {2, 3, 4, 5}), *y = b.input(dtype, {3, 1, 5}), *z = b.input(dtype, {5});
    for (const char *op : {"Add", "Sub", "Mul", "Max", "Min"}) b.output(b.node(op, {x, y}));
    b.output(b.node("Sum", {x, y, z}));
    b.output(b.node("Relu", {b.node("Add", {x, y})})); // integer Relu absorbed
    b.output(b.node("Clip", {b.node("Mul", {x, z})})); // Clip without bounds absorbed
    for (const char *op : {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"}) b.output(b.node(op, {x, y}));
    for (const char *op : {"Relu", "Abs", "Neg", "Sign"}) b.output(b.node(op, {x}));
    b.output(b.node("Shrink", {x}, {{"lambd", 4.5f}, {"bias", 2.0f}}));
    b.output(b.node("PRelu", {x, y}));
    ir::Tensor lo(dtype, {}), hi(dtype, {});
    lo.setFromDouble(0, dtype == DType::U8 ? 25 : -5);
    hi.setFromDouble(0, dtype == DType::U8 ? 30 : 7);
    b.output(b.node("Clip", {x, b.constant(lo), b.constant(hi)}));
  }
  // Divisors without zeros, of both signs; Mod with Python's and C's sign rule.
  ir::Tensor divisor(DType::I32, {3, 1, 5});
  std::uniform_int_distribution<int> magnitude(1, 7), sign(0, 1);
  for (int32_t &v : divisor.values<int32_t>()) v = magnitude(b.rng()) * (sign(b.rng()) ? 1 : -1);
  ir::Value *xi = b.input(DType::I32, {2, 3, 4, 5}), *di = b.input(divisor);
  b.output(b.node("Div", {xi, di}));
  b.output(b.node("Mod", {xi, di}));
  b.output(b.node("Mod", {xi, di}, {{"fmod", int64_t{1}}}));
  // Pow with mixed operand types.
  ir::Tensor exponent(DType::I32, {5});
  for (int32_t &v : exponent.values<int32_t>()) v = magnitude(b.rng()) - 3;
  ir::Value *e32 = b.input(exponent), *e64 = b.input(exponent.castTo(DType::I64));
  b.output(b.node("Pow", {b.input(DType::F32, {4, 5}), e64}));
  b.output(b.node("Pow", {b.input(DType::I64, {4, 5}), e32}));
  b.output(b.node("Pow", {b.input(DType::I32, {4, 5}), b.input(DType::F32, {5})}));
  // Bool logic and BitShift, shifting by 8 or more included.
  ir::Value *p = b.input(DType::Bool, {3, 4}), *q = b.input(DType::Bool, {4});
  for (const char *op : {"And", "Or", "Xor", "Equal"}) b.output(b.node(op, {p, q}));
  b.output(b.node("Not", {p}));
  ir::Tensor shifts(DType::U8, {12});
  for (int i = 0; i < 12; ++i) shifts.values<uint8_t>()[i] = static_cast<uint8_t>(i);
  ir::Value *bits = b.input(DType::U8, {3, 12}), *by = b.input(shifts);
  for (const char *dir : {"LEFT", "RIGHT"}) b.output(b.node("BitShift", {bits, by}, {{"direction", std::string(dir)}}));
  expectMatchesInterpreter(b, "binary");
}

TEST(CodegenMath, WhereClipAndClassificationMatchInterpreter) {
  Builder b;
  ir::Value *cond = b.input(DType::Bool, {3, 1, 5});
  for (DType dtype : {DType::F32, DType::I64, DType::U8})
    b.output(b.node("Where", {cond, b.input(dtype, {4, 1}), b.input(dtype, {2, 1, 4, 5})}));
  // f16 selection (Where moves elements of any size).
  ir::Value *h1 = b.node("Cast", {b.input(DType::F32, {4, 5})}, {{"to", int64_t{10}}});
  ir::Value *h2 = b.node("Cast", {b.input(DType::F32, {2, 1, 1, 5})}, {{"to", int64_t{10}}});
  b.output(b.node("Cast", {b.node("Where", {cond, h1, h2})}, {{"to", int64_t{1}}}));
  // Clip whose bounds are computed at run time.
  ir::Value *x = b.input(DType::F32, {6, 50});
  ir::Value *lo = b.input(ir::Tensor::fromVector(DType::F32, {}, std::vector<float>{-1.0f}));
  ir::Value *hi = b.input(ir::Tensor::fromVector(DType::F32, {}, std::vector<float>{0.5f}));
  b.output(b.node("Clip", {x, lo, hi}));
  b.output(b.node("Clip", {x, nullptr, hi}));
  ir::Value *i8 = b.input(DType::I8, {40});
  b.output(b.node("Clip", {i8, b.constant(ir::Tensor::fromVector<int8_t>(DType::I8, {}, {-3})),
                           b.constant(ir::Tensor::fromVector<int8_t>(DType::I8, {}, {9}))}));
  const float inf = std::numeric_limits<float>::infinity();
  ir::Value *special = b.input(ir::Tensor::fromVector(
      DType::F32, {6}, std::vector<float>{inf, -inf, std::numeric_limits<float>::quiet_NaN(), 0.0f, 1.0f, -2.0f}));
  b.output(b.node("IsNaN", {special}));
  b.output(b.node("IsInf", {special}));
  b.output(b.node("IsInf", {special}, {{"detect_negative", int64_t{0}}}));
  b.output(b.node("IsInf", {special}, {{"detect_positive", int64_t{0}}}));
  for (const char *op : {"Sign", "Relu", "Abs", "Neg", "Floor", "Round"}) b.output(b.node(op, {special}));
  expectMatchesInterpreter(b, "where_clip");
}

TEST(CodegenMath, QuantizationWithComputedScalesMatchesInterpreter) {
  Builder b;
  ir::Value *x = b.input(DType::F32, {2, 3, 70});
  ir::Value *scale = b.input(ir::Tensor::fromVector(DType::F32, {3}, std::vector<float>{0.02f, 0.05f, 0.011f}));
  ir::Value *zpU8 = b.constant(ir::Tensor::fromVector<uint8_t>(DType::U8, {3}, {128, 0, 255}));
  ir::Value *zpI8 = b.input(ir::Tensor::fromVector<int8_t>(DType::I8, {3}, {-5, 0, 100}));
  ir::Value *qu = b.node("QuantizeLinear", {x, scale, zpU8});
  ir::Value *qi = b.node("QuantizeLinear", {x, scale, zpI8});
  b.output(qu);
  b.output(qi);
  b.output(b.node("DequantizeLinear", {qu, scale, zpU8}));
  b.output(b.node("DequantizeLinear", {qi, scale, zpI8}));
  // Per-tensor without zero point (u8), i32 input with axis 2, i32 dequantization.
  ir::Value *s = b.constant(ir::Tensor::fromVector(DType::F32, {}, std::vector<float>{0.03f}));
  b.output(b.node("QuantizeLinear", {x, s}));
  ir::Value *acc = b.input(DType::I32, {4, 6});
  ir::Value *s6 = b.constant(ir::Tensor::fromVector(DType::F32, {6}, std::vector<float>{1, 0.5f, 0.25f, 2, 3, 4}));
  b.output(b.node("QuantizeLinear", {acc, s6, b.constant(ir::Tensor(DType::I8, {6}))}, {{"axis", int64_t{-1}}}));
  b.output(b.node("DequantizeLinear", {acc, s6, b.constant(ir::Tensor(DType::I32, {6}))}, {{"axis", int64_t{1}}}));
  ir::Node *dq = b.addNode("DynamicQuantizeLinear", {x}, {}, 3);
  for (ir::Value *out : dq->outputs()) b.output(out);
  expectMatchesInterpreter(b, "quantize");
}

// The interpreter reports integer division by zero; compiled code must not trap: the
// element becomes 0 (docs/codegen-design.md).
TEST(CodegenMath, IntegerDivisionByZeroGivesZero) {
  Builder b;
  ir::Value *x =
      b.input(ir::Tensor::fromVector<int32_t>(DType::I32, {4}, {7, -7, std::numeric_limits<int32_t>::min(), 5}));
  ir::Value *d = b.input(ir::Tensor::fromVector<int32_t>(DType::I32, {4}, {0, 2, -1, 0}));
  for (const char *op : {"Div", "Mod"}) b.output(b.node(op, {x, d}));
  passes::inferShapes(b.graph());
  std::vector<std::vector<char>> out = test::runCompiled(test::compileForTest(b.graph(), "div_zero"), b.values(), 1);
  ASSERT_EQ(out.size(), 2u);
  int32_t div[4], mod[4];
  std::memcpy(div, out[0].data(), sizeof div);
  std::memcpy(mod, out[1].data(), sizeof mod);
  // -7 / 2 truncates; INT_MIN / -1 wraps to INT_MIN; Python's -7 % 2 is 1.
  EXPECT_EQ(std::vector<int32_t>(div, div + 4), (std::vector<int32_t>{0, -3, std::numeric_limits<int32_t>::min(), 0}));
  EXPECT_EQ(std::vector<int32_t>(mod, mod + 4), (std::vector<int32_t>{0, 1, 0, 0}));
}

TEST(CodegenMath, Float16ArithmeticIsABadInputErrorNamingTheNode) {
  Builder b;
  ir::Value *x = b.input(DType::F16, {2, 3});
  ir::Node *add = b.addNode("Add", {x, x});
  b.output(add->output(0));
  passes::inferShapes(b.graph());
  try {
    test::compileForTest(b.graph(), "f16");
    FAIL() << "compiling an f16 Add should fail";
  } catch (const BadInputError &e) {
    std::string message = e.what();
    EXPECT_NE(message.find(add->name()), std::string::npos) << message;
    EXPECT_NE(message.find("float16"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(test::workRoot() / "f16")) << "a failed compile must leave no artifact";
}
