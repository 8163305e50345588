// Compiled leip.QConv (src/codegen/lower/QConv.cpp, kernels/QConv.cpp) against the
// reference interpreter, BITWISE: the op's semantics (src/ir/ops/Internal.cpp) fix every
// float operation, so the compiled kernels must give the interpreter's exact bits. Graphs
// hold several QConv nodes built directly (random i8 weights with -128 and 127, u8/i8
// inputs with their extremes, per-channel scales and biases) that pick each kernel path:
// leip_k_qconv2d (dense and grouped, row and channel blocks), leip_k_qconv_depthwise
// (group = C = K) and leip_k_qgemm (1x1 convolution of 1x1 images). Each graph is compiled
// for each dot-product path the lowering picks from the target (VNNI at 16 and 8 lanes,
// vpmaddwd at 8 lanes with and without AVX-512, plain arithmetic at 4 lanes) and run at 1
// and 2 threads. The interpreter itself is first checked against the formula written out
// here, so the oracle is not taken on trust.
#include "leip/codegen/Compiler.h"
#include "leip/interp/Interpreter.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/NNGeometry.h"
#include "leip/ir/OpRegistry.h"
#include "leip/passes/ShapeInference.h"
#include "leip/support/Error.h"

#include "CompiledCheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace leip;

namespace {

using Ints = std::vector<int64_t>;
using ir::DType;

// ---- targets -------------------------------------------------------------------------

struct Target {
  const char *tag;
  const char *triple; // "" is the host
  std::vector<const char *> cpuFlags; // /proc/cpuinfo flags the code may use
  bool avx2Dot = false;               // the lowering picks vpmaddwd (AVX2 without VNNI); the host: see usesAvx2Dot
};

/// One target per dot-product path and lane count of the lowering (tileFor in
/// lower/QConv.cpp).
const Target kTargets[] = {
    {"host", "", {}}, // AVX-512 VNNI on the development machines: 16 lanes
    {"haswell", "x86_64 -mcpu=haswell", {"avx2", "fma", "bmi2", "f16c", "movbe"}, true},    // vpmaddwd, 8 lanes
    {"alderlake", "x86_64 -mcpu=alderlake", {"avx2", "fma", "bmi2", "f16c", "avx_vnni"}},   // AVX-VNNI, 8 lanes
    {"x86_64", "x86_64 -mcpu=x86-64", {}},                                                  // generic, 4 lanes
    {"skylake_avx512", "x86_64 -mcpu=skylake-avx512",                                       // vpmaddwd, AVX-512
     {"avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"}, true},
};

std::set<std::string> hostCpuFlags() {
  std::set<std::string> flags;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  return flags;
}

/// The flags `target` needs that this host lacks (empty: it can run the target's code).
std::string missingFlags(const Target &target) {
  static const std::set<std::string> host = hostCpuFlags();
  std::string missing;
  for (const char *flag : target.cpuFlags)
    if (!host.count(flag)) missing += std::string(missing.empty() ? "" : " ") + flag;
  return missing;
}

/// Whether the lowering's dot product for `target` is AVX2's (Compiler.cpp, int8Dot): where
/// it is, inputs known to lie in 0..127 take vpmaddubsw instead.
bool usesAvx2Dot(const Target &target) {
  if (target.triple[0]) return target.avx2Dot;
  static const std::set<std::string> host = hostCpuFlags();
  return host.count("avx2") && !host.count("avx512_vnni") && !host.count("avx_vnni");
}

// ---- random data -----------------------------------------------------------------------

/// u8 or i8 values, uniform, with about one in eight at the type's bounds.
ir::Tensor randomBytes(DType type, const ir::Shape &shape, std::mt19937 &rng) {
  ir::Tensor t(type, shape);
  const int lo = type == DType::U8 ? 0 : -128, hi = type == DType::U8 ? 255 : 127;
  std::uniform_int_distribution<int> value(lo, hi), pick(0, 15);
  auto *p = static_cast<uint8_t *>(t.rawData());
  for (int64_t i = 0; i < t.numElements(); ++i) {
    const int choice = pick(rng);
    const int v = choice == 0 ? lo : choice == 1 ? hi : value(rng);
    p[i] = static_cast<uint8_t>(v); // two's complement for i8
  }
  // Both bounds at least once, whatever the draw.
  if (t.numElements() >= 2) {
    p[0] = static_cast<uint8_t>(lo);
    p[t.numElements() - 1] = static_cast<uint8_t>(hi);
  }
  return t;
}

// ---- the QConv nodes ---------------------------------------------------------------------

/// One leip.QConv node: shapes, attributes and how the random data is scaled.
struct QConvSpec {
  std::string name;
  ir::Shape x; // [N, C, H, W]
  ir::Shape w; // [K, C / group, R, S]
  DType xType = DType::U8;
  int64_t xZero = 128;
  Ints strides{1, 1}, pads{0, 0, 0, 0}, dilations{1, 1};
  int64_t group = 1;
  std::string outputType = "float32";
  int64_t yZero = 0;
  bool residual = false;
  /// With `residual`: F32, a float graph input; U8 or I8, an 8-bit input read through a
  /// per-tensor DequantizeLinear (which the compiler folds into the QConv's epilogue).
  DType residualType = DType::F32;
  std::string activation;     // "" for none
  std::vector<float> actParams;
  float vStd = 1.0f;  // rough standard deviation of fmaf(acc, scale, bias)
  float yStd = 40.0f; // rough standard deviation of v * y_inverse_scale (quantized outputs)
  /// Direct requantization (requant_scales...) with these bounds instead of the general form.
  bool direct = false;
  int64_t yMin = 0, yMax = 0;
  /// Weights in -127..127 (a symmetric quantizer's), both ends present: on AVX2 without
  /// VNNI, input that may be negative then takes vpsignb + vpmaddubsw (Avx2Signs).
  bool symmetricWeights = false;
};

/// Graph inputs with their random values and the QConv outputs with their names.
struct QConvModel {
  ir::Graph graph;
  std::vector<ir::Tensor> inputs;
  std::vector<ir::Value *> outputs;
  std::vector<std::string> names;
  /// The float values of the DequantizeLinear outputs, for the formula.
  std::map<const ir::Value *, ir::Tensor> dequantized;
  std::mt19937 rng;

  explicit QConvModel(unsigned seed) : rng(seed) {}

  ir::Value *input(const std::string &name, ir::Tensor value) {
    ir::Value *v = graph.addInput(name, value.type());
    inputs.push_back(std::move(value));
    return v;
  }

  /// Adds the QConv `s` on a new random input, or on `from` (of type s.xType and shape s.x).
  ir::Node *add(const QConvSpec &s, ir::Value *from = nullptr) {
    ir::Value *x = from ? from : input(s.name + "_x", randomBytes(s.xType, s.x, rng));
    ir::Tensor weights = randomBytes(DType::I8, s.w, rng);
    if (s.symmetricWeights)
      for (int8_t &v : weights.values<int8_t>()) v = v == -128 ? -127 : v;
    ir::Value *w = graph.addConstant(s.name + "_w", std::move(weights));
    const int64_t K = s.w[0], taps = s.w[1] * s.w[2] * s.w[3];
    // Scales that give v a standard deviation near vStd: (x - z) has mean square
    // var(x) + (mean(x) - z)^2, the weights about 74^2.
    const double xMean = s.xType == DType::U8 ? 127.5 : -0.5;
    const double xRms = std::sqrt(5461.0 + (xMean - static_cast<double>(s.xZero)) * (xMean - s.xZero));
    const double base = s.vStd / (xRms * 74.0 * std::sqrt(static_cast<double>(taps)));
    std::uniform_real_distribution<float> spread(0.5f, 1.5f), centred(-0.5f, 0.5f);
    std::vector<float> scales(static_cast<size_t>(K)), biases(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      scales[k] = static_cast<float>(base) * spread(rng);
      biases[k] = s.vStd * centred(rng);
    }
    std::vector<ir::Value *> in{x, w};
    if (s.residual && s.residualType == DType::F32) {
      ir::Shape out = outputShape(s);
      std::uniform_real_distribution<float> r(-s.vStd, s.vStd);
      ir::Tensor t(DType::F32, out);
      for (float &v : t.values<float>()) v = r(rng);
      in.push_back(input(s.name + "_residual", std::move(t)));
    } else if (s.residual) {
      ir::Tensor q = randomBytes(s.residualType, outputShape(s), rng);
      const float scale = s.vStd / 50.0f;
      const int64_t zero = s.residualType == DType::U8 ? 131 : -7;
      ir::Tensor zeroTensor(s.residualType, {});
      if (s.residualType == DType::U8) zeroTensor.values<uint8_t>()[0] = static_cast<uint8_t>(zero);
      else zeroTensor.values<int8_t>()[0] = static_cast<int8_t>(zero);
      ir::Tensor values(DType::F32, q.shape());
      for (int64_t i = 0; i < q.numElements(); ++i) {
        const int64_t v = s.residualType == DType::U8 ? int64_t{q.data<uint8_t>()[i]} : int64_t{q.data<int8_t>()[i]};
        values.values<float>()[i] = static_cast<float>(v - zero) * scale;
      }
      ir::Value *rq = input(s.name + "_residual_q", std::move(q));
      ir::Node *dq = graph.addNode("DequantizeLinear", s.name + "_residual_dq",
                                   {rq, graph.addConstant(s.name + "_residual_scale", ir::Tensor::scalar(scale)),
                                    graph.addConstant(s.name + "_residual_zero", std::move(zeroTensor))},
                                   {s.name + "_residual"});
      dequantized.emplace(dq->output(0), std::move(values));
      in.push_back(dq->output(0));
    }
    ir::Node *n = graph.addNode("QConv", s.name, in, {s.name + "_y"}, ir::kLeipDomain);
    ir::AttributeMap &a = n->attrs();
    a.set("kernel_shape", Ints{s.w[2], s.w[3]});
    a.set("strides", s.strides);
    a.set("pads", s.pads);
    a.set("dilations", s.dilations);
    a.set("group", s.group);
    a.set("x_zero_point", s.xZero);
    a.set("scales", scales);
    a.set("biases", biases);
    if (!s.activation.empty()) {
      a.set("activation", s.activation);
      if (!s.actParams.empty()) a.set("activation_params", s.actParams);
    }
    a.set("output_type", s.outputType);
    if (s.outputType != "float32") {
      const auto inverse = static_cast<float>(1.0 / (s.vStd / s.yStd));
      a.set("y_inverse_scale", inverse);
      a.set("y_zero_point", s.yZero);
      if (s.direct) {
        std::vector<float> multipliers(scales.size()), offsets(biases.size());
        for (size_t k = 0; k < scales.size(); ++k) {
          multipliers[k] = scales[k] * inverse;
          offsets[k] = biases[k] * inverse + static_cast<float>(s.yZero);
        }
        a.set("requant_scales", multipliers);
        a.set("requant_offsets", offsets);
        a.set("y_min", s.yMin);
        a.set("y_max", s.yMax);
      }
    }
    outputs.push_back(n->output(0));
    names.push_back(s.name);
    return n;
  }

  static ir::Shape outputShape(const QConvSpec &s) {
    auto out = [&](int i) {
      const int64_t extent = s.x[2 + i] + s.pads[i] + s.pads[2 + i], window = (s.w[2 + i] - 1) * s.dilations[i] + 1;
      return (extent - window) / s.strides[i] + 1;
    };
    return {s.x[0], s.w[0], out(0), out(1)};
  }
};

// ---- the formula, written out -------------------------------------------------------------

template <typename Q> Q quantize(float v, float inverse, float zero) {
  const float lo = static_cast<float>(std::numeric_limits<Q>::lowest());
  const float hi = static_cast<float>(std::numeric_limits<Q>::max());
  const float t = std::nearbyintf(v * inverse) + zero;
  if (std::isnan(t)) return static_cast<Q>(lo);
  return static_cast<Q>(t < lo ? lo : t > hi ? hi : t);
}

/// leip.QConv as the op's specification states it, one output element at a time.
ir::Tensor referenceQConv(const ir::Node &node, const ir::Tensor &x, const ir::Tensor &w, const ir::Tensor *residual,
                          const ir::TensorType &outType) {
  const ir::Shape &xs = x.shape(), &ws = w.shape();
  const ir::WindowGeometry g = ir::convGeometry(node, xs, ws);
  const ir::AttributeMap &a = node.attrs();
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], K = ws[0], Cg = ws[1], R = ws[2], S = ws[3];
  const int64_t Kg = K / a.getInt("group", 1), OH = g.output[0], OW = g.output[1];
  const auto zero = static_cast<int32_t>(a.getInt("x_zero_point", 0));
  const std::vector<float> scales = a.getFloats("scales"), biases = a.getFloats("biases");
  const ir::FusedActivation act = ir::fusedActivation(node);
  const float inverse = a.getFloat("y_inverse_scale", 1.0f);
  const auto yZero = static_cast<float>(a.getInt("y_zero_point", 0));
  auto xAt = [&](int64_t i) {
    return x.dtype() == DType::U8 ? static_cast<int32_t>(x.data<uint8_t>()[i])
                                  : static_cast<int32_t>(x.data<int8_t>()[i]);
  };
  const int8_t *wd = w.data<int8_t>();
  ir::Tensor y(outType);
  int64_t i = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow, ++i) {
          int32_t acc = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                const int64_t ih = oh * g.strides[0] - g.padBegin[0] + r * g.dilations[0];
                const int64_t iw = ow * g.strides[1] - g.padBegin[1] + s * g.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t ci = (k / Kg) * Cg + c;
                acc += (xAt(((n * C + ci) * H + ih) * W + iw) - zero) * int32_t{wd[((k * Cg + c) * R + r) * S + s]};
              }
          if (a.has("requant_scales")) { // direct requantization
            float t = std::nearbyintf(std::fmaf(static_cast<float>(acc), a.getFloats("requant_scales")[k],
                                                a.getFloats("requant_offsets")[k]));
            t = std::min(std::max(t, static_cast<float>(a.getInt("y_min", 0))), static_cast<float>(a.getInt("y_max", 0)));
            if (outType.dtype == DType::U8) y.data<uint8_t>()[i] = static_cast<uint8_t>(t);
            else y.data<int8_t>()[i] = static_cast<int8_t>(t);
            continue;
          }
          float v = std::fmaf(static_cast<float>(acc), scales[k], biases[k]);
          if (residual) v = v + residual->data<float>()[i];
          v = act.apply(v);
          switch (outType.dtype) {
          case DType::F32: y.data<float>()[i] = v; break;
          case DType::U8: y.data<uint8_t>()[i] = quantize<uint8_t>(v, inverse, yZero); break;
          default: y.data<int8_t>()[i] = quantize<int8_t>(v, inverse, yZero); break;
          }
        }
  return y;
}

// ---- bitwise comparison -------------------------------------------------------------------

std::string elementName(const ir::Shape &shape, int64_t i) {
  std::string s = "]";
  for (size_t d = shape.size(); d-- > 0;) {
    s = (d ? ", " : "") + std::to_string(i % shape[d]) + s;
    i /= shape[d];
  }
  return "[" + s;
}

std::string describeValue(DType type, const void *data, int64_t i) {
  char text[64];
  if (type == DType::F32) {
    float v;
    uint32_t bits;
    std::memcpy(&v, static_cast<const float *>(data) + i, 4);
    std::memcpy(&bits, &v, 4);
    std::snprintf(text, sizeof text, "%.9g (0x%08" PRIx32 ")", static_cast<double>(v), bits);
  } else if (type == DType::U8) {
    std::snprintf(text, sizeof text, "%d", static_cast<const uint8_t *>(data)[i]);
  } else {
    std::snprintf(text, sizeof text, "%d", static_cast<const int8_t *>(data)[i]);
  }
  return text;
}

/// `got` must hold `want`'s exact bytes; on a mismatch: how many elements differ, the first
/// one (index, got, want) and, for f32, the largest difference in units in the last place.
void expectBitwise(const void *got, size_t gotBytes, const ir::Tensor &want, const std::string &what) {
  ASSERT_EQ(gotBytes, want.byteSize()) << what;
  const size_t size = ir::dtypeSize(want.dtype());
  const auto *g = static_cast<const uint8_t *>(got), *w = static_cast<const uint8_t *>(want.rawData());
  int64_t mismatches = 0, first = -1, maxUlp = 0, worst = -1;
  for (int64_t i = 0; i < want.numElements(); ++i) {
    if (std::memcmp(g + i * size, w + i * size, size) == 0) continue;
    if (mismatches++ == 0) first = i;
    if (want.dtype() == DType::F32) {
      int32_t a, b;
      std::memcpy(&a, g + i * size, 4);
      std::memcpy(&b, w + i * size, 4);
      // Sign and magnitude to a monotone integer: neighbouring floats differ by 1.
      auto ordered = [](int32_t bits) { return bits >= 0 ? int64_t{bits} : int64_t{INT32_MIN} - bits; };
      const int64_t ulp = std::abs(ordered(a) - ordered(b));
      if (ulp > maxUlp) maxUlp = ulp, worst = i;
    }
  }
  if (mismatches == 0) return;
  auto element = [&](int64_t i) {
    return elementName(want.shape(), i) + " (flat " + std::to_string(i) + ") is " +
           describeValue(want.dtype(), got, i) + ", want " + describeValue(want.dtype(), w, i);
  };
  ADD_FAILURE() << what << ": " << mismatches << " of " << want.numElements() << " elements differ; first "
                << element(first)
                << (worst >= 0 ? "; largest difference " + std::to_string(maxUlp) + " ulp at " + element(worst) : "");
}

int64_t countEqual(const ir::Tensor &t, double value) {
  int64_t count = 0;
  for (int64_t i = 0; i < t.numElements(); ++i) {
    const double v = t.dtype() == DType::F32  ? t.data<float>()[i]
                     : t.dtype() == DType::U8 ? t.data<uint8_t>()[i]
                                              : t.data<int8_t>()[i];
    count += v == value;
  }
  return count;
}

// ---- the fixture ---------------------------------------------------------------------------

class QConvCodegen : public ::testing::TestWithParam<Target> {
protected:
  /// Runs the interpreter (checked against referenceQConv), compiles `m` for the test's
  /// target and requires the interpreter's bits at 1 and 2 threads. Returns the
  /// interpreter's outputs.
  std::vector<ir::Tensor> expectBitwiseAcrossThreads(QConvModel &m, const std::string &name) {
    const Target &target = GetParam();
    for (ir::Value *out : m.outputs) m.graph.addOutput(out);
    passes::inferShapes(m.graph);
    const std::vector<ir::Tensor> want = interp::Interpreter(m.graph).run(m.inputs);
    EXPECT_EQ(want.size(), m.outputs.size());

    // The oracle against the formula (a QConv's input made by another node is that node's
    // output here, checked on its own).
    for (size_t o = 0; o < m.outputs.size(); ++o) {
      const ir::Node &node = *m.outputs[o]->producer();
      if (node.opType() != "QConv") continue;
      auto tensorOf = [&](const ir::Value *v) -> const ir::Tensor * {
        if (!v) return nullptr;
        if (v->isConstant()) return v->constant();
        for (size_t i = 0; i < m.graph.inputs().size(); ++i)
          if (m.graph.inputs()[i] == v) return &m.inputs[i];
        for (size_t i = 0; i < m.outputs.size(); ++i)
          if (m.outputs[i] == v) return &want[i];
        auto made = m.dequantized.find(v);
        return made == m.dequantized.end() ? nullptr : &made->second;
      };
      const ir::Tensor ref = referenceQConv(node, *tensorOf(node.input(0)), *tensorOf(node.input(1)),
                                            tensorOf(node.input(2)), m.outputs[o]->type());
      expectBitwise(want[o].rawData(), want[o].byteSize(), ref, m.names[o] + ": interpreter against the formula");
    }

    fs::path dir = test::compileForTest(m.graph, "qconv_" + name + "_" + target.tag, target.triple);
    for (int threads : {1, 2}) {
      std::vector<std::vector<char>> got = test::runCompiled(dir, m.inputs, threads);
      EXPECT_EQ(got.size(), want.size());
      for (size_t o = 0; o < std::min(got.size(), want.size()); ++o)
        expectBitwise(got[o].data(), got[o].size(), want[o],
                      m.names[o] + " (" + std::string(target.tag) + ", " + std::to_string(threads) + " thread(s))");
    }
    fs::remove_all(dir);
    return want;
  }

  void SetUp() override {
    const std::string missing = missingFlags(GetParam());
    if (!missing.empty()) GTEST_SKIP() << "this host lacks " << missing << " for " << GetParam().triple;
  }
};

QConvSpec conv(std::string name, ir::Shape x, ir::Shape w) {
  QConvSpec s;
  s.name = std::move(name);
  s.x = std::move(x);
  s.w = std::move(w);
  return s;
}

const Ints kPad1{1, 1, 1, 1};

// ---- leip_k_qconv2d --------------------------------------------------------------------------

TEST_P(QConvCodegen, DenseGeometries) {
  QConvModel m(101);
  QConvSpec s;
  s = conv("k3s1p1", {1, 16, 12, 12}, {24, 16, 3, 3});
  s.pads = kPad1;
  m.add(s);
  s = conv("k3s2p1_odd", {1, 8, 15, 17}, {16, 8, 3, 3});
  s.pads = kPad1, s.strides = {2, 2};
  m.add(s);
  s = conv("stem7x7s2p3_c3", {1, 3, 32, 30}, {16, 3, 7, 7}); // C = 3: one partial channel quad
  s.pads = {3, 3, 3, 3}, s.strides = {2, 2}, s.xType = DType::I8, s.xZero = -5;
  m.add(s);
  s = conv("k1s1", {1, 20, 9, 9}, {12, 20, 1, 1});
  m.add(s);
  s = conv("k1s2", {1, 20, 10, 11}, {12, 20, 1, 1});
  s.strides = {2, 2}, s.xZero = 3;
  m.add(s);
  s = conv("dilation2", {1, 8, 14, 13}, {16, 8, 3, 3});
  s.dilations = {2, 2}, s.pads = {2, 2, 2, 2};
  m.add(s);
  s = conv("asym_pads_k3x2", {1, 6, 11, 13}, {8, 6, 3, 2}); // pads top 0, left 2, bottom 1, right 0
  s.pads = {0, 2, 1, 0};
  m.add(s);
  s = conv("strides2x1_dil1x2", {1, 7, 12, 12}, {9, 7, 3, 3});
  s.strides = {2, 1}, s.dilations = {1, 2}, s.pads = {1, 2, 0, 1}, s.xType = DType::I8, s.xZero = 0;
  m.add(s);
  s = conv("k10", {1, 8, 10, 10}, {10, 8, 3, 3});
  s.pads = kPad1;
  m.add(s);
  s = conv("k20_c5", {1, 5, 10, 10}, {20, 5, 3, 3});
  s.pads = kPad1, s.xZero = 0;
  m.add(s);
  s = conv("batch2", {2, 8, 9, 9}, {12, 8, 3, 3});
  s.pads = kPad1, s.xType = DType::I8, s.xZero = -5;
  m.add(s);
  expectBitwiseAcrossThreads(m, "dense");
}

TEST_P(QConvCodegen, GroupsTinyImagesAndWideRows) {
  QConvModel m(202);
  QConvSpec s;
  s = conv("group2_k10", {1, 12, 10, 10}, {10, 6, 3, 3}); // 5 output and 6 input channels per group
  s.group = 2, s.pads = kPad1;
  m.add(s);
  s = conv("group4_s2", {1, 8, 9, 9}, {16, 2, 3, 3});
  s.group = 4, s.pads = kPad1, s.strides = {2, 2}, s.xType = DType::I8, s.xZero = -5;
  m.add(s);
  s = conv("depth_multiplier2", {1, 4, 8, 8}, {8, 1, 3, 3}); // group = C but K = 2C: not depthwise
  s.group = 4, s.pads = kPad1;
  m.add(s);
  s = conv("group2_1x1_on_1x1", {1, 8, 1, 1}, {6, 4, 1, 1}); // grouped: not the gemm path
  s.group = 2;
  m.add(s);
  s = conv("image1x1_k3", {2, 8, 1, 1}, {12, 8, 3, 3});
  s.pads = kPad1;
  m.add(s);
  s = conv("image1x1_k1_padded", {1, 8, 1, 1}, {5, 8, 1, 1}); // 3x3 output of padding and one pixel
  s.pads = kPad1, s.xZero = 3;
  m.add(s);
  s = conv("image2x3", {1, 5, 2, 3}, {7, 5, 3, 3});
  s.pads = kPad1;
  m.add(s);
  s = conv("image7x7", {1, 16, 7, 7}, {32, 16, 3, 3});
  s.pads = kPad1, s.xType = DType::I8, s.xZero = 0;
  m.add(s);
  s = conv("wide100", {1, 12, 6, 100}, {20, 12, 3, 3});
  s.pads = kPad1;
  m.add(s);
  s = conv("wide100_s2", {1, 4, 5, 100}, {8, 4, 3, 3}); // OW 50
  s.pads = kPad1, s.strides = {2, 2};
  m.add(s);
  expectBitwiseAcrossThreads(m, "grouped_tiny_wide");
}

TEST_P(QConvCodegen, LargeConvsSplitIntoRowAndChannelBlocks) {
  QConvModel m(303);
  QConvSpec s;
  // 29 M multiply-adds, all rows in one block: cut into channel blocks for the threads.
  s = conv("c64k64_28x28", {1, 64, 28, 28}, {64, 64, 3, 3});
  s.pads = kPad1;
  m.add(s);
  // Rows of 102 packed positions: several row blocks and channel blocks, u8 output.
  s = conv("c32k24_24x100", {1, 32, 24, 100}, {24, 32, 3, 3});
  s.pads = kPad1, s.outputType = "uint8", s.yZero = 128, s.xType = DType::I8, s.xZero = -5;
  m.add(s);
  // Two images, 5x5 stride 2, i8 output with a residual.
  s = conv("n2_c16k32_5x5s2", {2, 16, 30, 30}, {32, 16, 5, 5});
  s.pads = {2, 2, 2, 2}, s.strides = {2, 2}, s.outputType = "int8", s.yZero = -3, s.residual = true;
  m.add(s);
  expectBitwiseAcrossThreads(m, "large");
}

// ---- leip_k_qconv_depthwise --------------------------------------------------------------------

/// Depthwise convolutions (group = C = K) for both kernels.
void addDepthwiseCases(QConvModel &m) {
  QConvSpec s;
  for (int64_t C : {32, 3}) {
    const std::string c = "c" + std::to_string(C);
    s = conv("dw" + c + "_k3s1", {1, C, 14, 15}, {C, 1, 3, 3});
    s.group = C, s.pads = kPad1;
    m.add(s);
    s = conv("dw" + c + "_k3s2", {2, C, 15, 16}, {C, 1, 3, 3});
    s.group = C, s.pads = kPad1, s.strides = {2, 2}, s.xType = DType::I8, s.xZero = -5;
    m.add(s);
    s = conv("dw" + c + "_k5", {1, C, 12, 11}, {C, 1, 5, 5});
    s.group = C, s.pads = {2, 2, 2, 2}, s.outputType = "uint8", s.yZero = 128, s.xZero = 3;
    m.add(s);
  }
  s = conv("dw8_dil2_asym", {1, 8, 13, 13}, {8, 1, 3, 3});
  s.group = 8, s.dilations = {2, 2}, s.pads = {2, 1, 0, 2};
  m.add(s);
  s = conv("dw4_64x120", {1, 4, 64, 120}, {4, 1, 3, 3}); // several row blocks per plane
  s.group = 4, s.pads = kPad1, s.activation = "Relu";
  m.add(s);
  s = conv("dw16_residual_i8_clip", {1, 16, 9, 10}, {16, 1, 3, 3});
  s.group = 16, s.pads = kPad1, s.residual = true, s.outputType = "int8", s.yZero = -4, s.activation = "Clip",
  s.actParams = {0.0f, 6.0f}, s.vStd = 3.0f, s.yStd = 60.0f;
  m.add(s);
  s = conv("dw3_image1x1", {1, 3, 1, 1}, {3, 1, 3, 3});
  s.group = 3, s.pads = kPad1;
  m.add(s);
}

TEST_P(QConvCodegen, Depthwise) {
  QConvModel m(404);
  addDepthwiseCases(m);
  expectBitwiseAcrossThreads(m, "depthwise");
}

/// Sets an environment variable for a scope (the compiler reads LEIP_DEPTHWISE_KERNEL).
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char *n, const char *value) : name(n) { ::setenv(n, value, 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

// The same convolutions with channels in the lanes replaced by the per-plane kernel, which
// the compiler keeps for rows too wide for the other one.
TEST_P(QConvCodegen, DepthwisePlaneKernel) {
  const ScopedEnv planes("LEIP_DEPTHWISE_KERNEL", "planes");
  QConvModel m(404);
  addDepthwiseCases(m);
  expectBitwiseAcrossThreads(m, "depthwise_planes");
}

// qconvDepthwiseLanes (channels in the vector lanes) at the shapes of mobilenet_v2
// and around them: channel counts that leave a partial block of 16, 8 or 4 lanes, planes
// with fewer than 16 positions (no transposed blocks) and with 16, 32, 64 or more, strides
// 1 and 2, asymmetric pads, dilation, kernels wider than 4 taps, rows entirely in the
// padding, several row blocks, two images; direct requantization with clamps and the
// general epilogue (float with residual, quantized with an activation).
TEST_P(QConvCodegen, DepthwiseChannelLanes) {
  QConvModel m(505);
  struct Case {
    const char *name;
    ir::Shape x, w;
    Ints strides, pads, dilations;
    DType xType;
    int64_t xZero;
    const char *out;
    int64_t yZero, yMin, yMax; // yMin = yMax: the general epilogue
  };
  const Ints s1{1, 1}, s2{2, 2}, d1{1, 1};
  const Case cases[] = {
      {"lanes_c20_7x7_u8", {1, 20, 7, 7}, {20, 1, 3, 3}, s1, kPad1, d1, DType::U8, 3, "uint8", 0, 0, 160},
      {"lanes_c37_14x14_s2_i8", {1, 37, 14, 14}, {37, 1, 3, 3}, s2, kPad1, d1, DType::I8, -5, "int8", -2, -128, 127},
      {"lanes_c24_8x8_s2", {1, 24, 8, 8}, {24, 1, 3, 3}, s2, kPad1, d1, DType::I8, 0, "int8", 0, -20, 100},
      {"lanes_c19_3x3", {1, 19, 3, 3}, {19, 1, 3, 3}, s1, kPad1, d1, DType::U8, 128, "uint8", 128, 0, 255},
      {"lanes_c40_28x28", {1, 40, 28, 28}, {40, 1, 3, 3}, s1, kPad1, d1, DType::I8, -1, "uint8", 128, 0, 255},
      {"lanes_c33_11x9", {1, 33, 11, 9}, {33, 1, 3, 3}, s1, kPad1, d1, DType::U8, 200, "int8", 5, -60, 127},
      {"lanes_c17_dil2", {1, 17, 11, 12}, {17, 1, 3, 3}, s1, {2, 2, 2, 2}, {2, 2}, DType::I8, 7, "int8", 0, -128, 127},
      {"lanes_c9_k5x3_asym", {1, 9, 13, 11}, {9, 1, 5, 3}, {2, 1}, {0, 1, 2, 0}, d1, DType::U8, 3, "uint8", 9, 9, 250},
      {"lanes_c18_k7", {1, 18, 12, 12}, {18, 1, 7, 7}, s1, {3, 3, 3, 3}, d1, DType::U8, 128, "uint8", 128, 0, 255},
      {"lanes_c8_pad2", {1, 8, 4, 4}, {8, 1, 3, 3}, s1, {2, 2, 2, 2}, d1, DType::U8, 17, "uint8", 50, 0, 255},
      {"lanes_c48_56x56", {1, 48, 56, 56}, {48, 1, 3, 3}, s1, kPad1, d1, DType::I8, 0, "int8", 0, 0, 127},
      {"lanes_c24_57x57_s2", {1, 24, 57, 57}, {24, 1, 3, 3}, s2, kPad1, d1, DType::I8, 4, "uint8", 128, 0, 255},
      {"lanes_n2_c21_s2", {2, 21, 10, 9}, {21, 1, 3, 3}, s2, {1, 0, 0, 1}, d1, DType::U8, 128, "uint8", 100, 0, 200},
      // The general epilogue.
      {"lanes_n2_c33_f32", {2, 33, 10, 9}, {33, 1, 3, 3}, s1, kPad1, d1, DType::U8, 128, "float32", 0, 0, 0},
      {"lanes_c16_i8_clip", {1, 16, 12, 12}, {16, 1, 3, 3}, s1, kPad1, d1, DType::I8, -5, "int8", -4, 0, 0},
      {"lanes_c26_u8_s2", {1, 26, 15, 15}, {26, 1, 3, 3}, s2, kPad1, d1, DType::U8, 0, "uint8", 128, 0, 0},
  };
  for (const Case &c : cases) {
    QConvSpec s = conv(c.name, c.x, c.w);
    s.group = c.x[1], s.strides = c.strides, s.pads = c.pads, s.dilations = c.dilations;
    s.xType = c.xType, s.xZero = c.xZero, s.outputType = c.out, s.yZero = c.yZero;
    if (c.yMin != c.yMax) {
      s.direct = true, s.yMin = c.yMin, s.yMax = c.yMax;
      s.yStd = 120.0f; // wide enough to reach the bounds
    } else if (std::string(c.out) == "float32") {
      s.residual = true, s.activation = "Relu";
    } else if (std::string(c.out) == "int8") {
      s.residual = true, s.activation = "Clip", s.actParams = {0.0f, 6.0f}, s.vStd = 3.0f, s.yStd = 60.0f;
    } else {
      s.activation = "LeakyRelu", s.actParams = {0.1f};
    }
    m.add(s);
  }
  expectBitwiseAcrossThreads(m, "depthwise_lanes");
}

// Rows of 600 and 301 outputs: one output row per task in the channel-lane kernel.
TEST_P(QConvCodegen, DepthwiseWideRows) {
  QConvModel m(606);
  QConvSpec s = conv("dw5_4x600", {1, 5, 4, 600}, {5, 1, 3, 3});
  s.group = 5, s.pads = kPad1, s.outputType = "uint8", s.yZero = 128, s.direct = true, s.yMin = 0, s.yMax = 255;
  s.yStd = 120.0f;
  m.add(s);
  s = conv("dw3_3x601_s2_f32", {1, 3, 3, 601}, {3, 1, 3, 3});
  s.group = 3, s.pads = kPad1, s.strides = {2, 2}, s.xType = DType::I8, s.xZero = -5;
  m.add(s);
  expectBitwiseAcrossThreads(m, "depthwise_wide");
}

/// Compiles `graph` for `target` (into a scratch directory, removed after) for the counts
/// the compiler reports (which dot products it picked).
codegen::CompileResult compileCounts(const ir::Graph &graph, const Target &target, const std::string &name) {
  codegen::CompileOptions options;
  options.target = target.triple[0] ? codegen::parseTarget(target.triple) : codegen::hostTarget();
  options.outputDir = (test::workRoot() / (name + "_" + target.tag)).string();
  codegen::CompileResult result = codegen::compileGraph(graph, options);
  fs::remove_all(options.outputDir);
  return result;
}

// ---- leip_k_qgemm -----------------------------------------------------------------------------

QConvSpec fullyConnected(std::string name, int64_t N, int64_t K, int64_t M) {
  return conv(std::move(name), {N, K, 1, 1}, {M, K, 1, 1});
}

TEST_P(QConvCodegen, FullyConnected) {
  QConvModel m(505);
  QConvSpec s;
  s = fullyConnected("fc_n1_k512_m1000", 1, 512, 1000);
  m.add(s);
  s = fullyConnected("fc_n3_k512_m1000_u8_relu", 3, 512, 1000);
  s.xType = DType::I8, s.xZero = -5, s.outputType = "uint8", s.yZero = 0, s.activation = "Relu";
  m.add(s);
  s = fullyConnected("fc_n3_k10_m7_i8", 3, 10, 7);
  s.xZero = 3, s.outputType = "int8", s.yZero = 5;
  m.add(s);
  s = fullyConnected("fc_n1_k10_m7_clip", 1, 10, 7);
  s.activation = "Clip", s.actParams = {0.0f, 6.0f}, s.vStd = 4.0f;
  m.add(s);
  s = fullyConnected("fc_n3_k512_m7_hardswish", 3, 512, 7);
  s.xType = DType::I8, s.xZero = 0, s.activation = "HardSwish", s.vStd = 4.0f;
  m.add(s);
  s = fullyConnected("fc_n1_k10_m1000_leaky_u8", 1, 10, 1000);
  s.activation = "LeakyRelu", s.actParams = {0.1f}, s.outputType = "uint8", s.yZero = 100;
  m.add(s);
  expectBitwiseAcrossThreads(m, "fc");
}

TEST_P(QConvCodegen, FullyConnectedWithResidual) {
  QConvModel m(606);
  QConvSpec s;
  s = fullyConnected("fc_residual_n3_k512_m1000", 3, 512, 1000);
  s.residual = true;
  m.add(s);
  s = fullyConnected("fc_residual_n1_k10_m7_u8", 1, 10, 7);
  s.residual = true, s.outputType = "uint8", s.yZero = 128;
  m.add(s);
  expectBitwiseAcrossThreads(m, "fc_residual");
}

// A residual that arrives as 8 bits through a per-tensor DequantizeLinear (the blocks of an
// int8 mobilenet_v2): the compiler reads the bytes and dequantizes them in the epilogue, with
// the interpreter's bits, in the convolution and the fully connected kernels.
TEST_P(QConvCodegen, ResidualThroughDequantizeLinear) {
  QConvModel m(607);
  QConvSpec s = conv("project_u8_residual", {1, 96, 14, 13}, {32, 96, 1, 1});
  s.residual = true, s.residualType = DType::U8;
  m.add(s);
  s = conv("conv3x3_i8_residual_i8_out", {2, 24, 9, 11}, {20, 24, 3, 3});
  s.pads = kPad1, s.residual = true, s.residualType = DType::I8, s.outputType = "int8", s.yZero = -3;
  s.activation = "Relu";
  m.add(s);
  s = fullyConnected("fc_i8_residual", 3, 64, 40);
  s.residual = true, s.residualType = DType::I8;
  m.add(s);
  expectBitwiseAcrossThreads(m, "residual_dequantize");
  // That compile read every residual's bytes: no DequantizeLinear was left to run.
  const Target &target = GetParam();
  codegen::CompileOptions options;
  options.target = target.triple[0] ? codegen::parseTarget(target.triple) : codegen::hostTarget();
  options.outputDir = (test::workRoot() / ("qconv_residual_dq_count_" + std::string(target.tag))).string();
  EXPECT_EQ(codegen::compileGraph(m.graph, options).residualDequantizesFolded, 3);
}

// ---- inputs whose bytes are known to lie in 0..127 ---------------------------------------------

/// Producers whose outputs the compiler can bound (a ReLU, a Clip or direct requantization
/// to int8 at zero point 0; a MaxPool of one; a float residual that is itself a QConv's
/// output), each read by a convolution that can then multiply bytes with vpmaddubsw, and
/// one producer (uint8 ReLU, up to 255) whose reader must not. The producers saturate
/// often (yStd 250), so the readers see 127 (or 255) next to 127 in pairs of channels, where
/// a saturating 16-bit pair sum would show.
void addBoundedInputCases(QConvModel &m) {
  auto producer = [&](const char *name, ir::Shape x, ir::Shape w) {
    QConvSpec s = conv(name, std::move(x), std::move(w));
    if (s.w[2] == 3) s.pads = kPad1;
    s.xType = DType::I8, s.xZero = 0, s.outputType = "int8", s.yZero = 0, s.activation = "Relu";
    s.yStd = 250.0f;
    return s;
  };
  // A reader of `from` (shape x, the type its producer writes).
  auto reader = [&](const char *name, ir::Value *from, DType type, ir::Shape x, ir::Shape w, int64_t group = 1) {
    QConvSpec s = conv(name, std::move(x), std::move(w));
    if (s.w[2] == 3) s.pads = kPad1;
    s.group = group, s.xType = type, s.xZero = 0;
    m.add(s, from);
  };
  // The general form with a ReLU: a dense 3x3 reader, and a 1x1 one behind a MaxPool.
  QConvSpec s = producer("relu_i8", {1, 16, 10, 12}, {24, 16, 3, 3});
  ir::Value *relu = m.add(s)->output(0);
  reader("dense_after_relu", relu, DType::I8, QConvModel::outputShape(s), {20, 24, 3, 3});
  ir::Node *pool = m.graph.addNode("MaxPool", "pool", {relu}, {"pool_y"});
  pool->attrs().set("kernel_shape", Ints{2, 2});
  pool->attrs().set("strides", Ints{2, 2});
  m.outputs.push_back(pool->output(0));
  m.names.push_back("pool");
  reader("pointwise_after_pool", pool->output(0), DType::I8, {1, 24, 5, 6}, {12, 24, 1, 1});
  // Direct requantization to [0, 127] (a folded ReLU): a depthwise reader.
  s = producer("direct_i8", {1, 8, 9, 11}, {16, 8, 3, 3});
  s.direct = true, s.yMin = 0, s.yMax = 127, s.activation = "";
  reader("depthwise_after_direct", m.add(s)->output(0), DType::I8, QConvModel::outputShape(s), {16, 1, 3, 3}, 16);
  // A Clip(0, 6) at int8 with a float residual made by a QConv: a fully connected reader.
  ir::Value *residual = m.add(fullyConnected("fc_f32", 2, 64, 48))->output(0);
  s = producer("fc_clip_residual", {2, 40, 1, 1}, {48, 40, 1, 1});
  s.activation = "Clip", s.actParams = {0.0f, 6.0f}, s.vStd = 6.0f;
  ir::Node *clip = m.add(s);
  clip->addInput(residual);
  reader("fc_after_clip", clip->output(0), DType::I8, QConvModel::outputShape(s), {30, 48, 1, 1});
  // uint8 after a ReLU reaches 255: its reader keeps vpmaddwd.
  s = producer("relu_u8", {1, 8, 9, 11}, {16, 8, 3, 3});
  s.outputType = "uint8";
  reader("dense_after_relu_u8", m.add(s)->output(0), DType::U8, QConvModel::outputShape(s), {12, 16, 3, 3});
}

TEST_P(QConvCodegen, InputsKnownInZeroTo127) {
  for (const char *depthwise : {"lanes", "planes"}) {
    ScopedEnv kernel("LEIP_DEPTHWISE_KERNEL", depthwise);
    QConvModel m(1001);
    addBoundedInputCases(m);
    const std::vector<ir::Tensor> want = expectBitwiseAcrossThreads(m, std::string("bounded_") + depthwise);
    // The producers' outputs hold both ends of 0..127, so the readers met the worst pairs.
    for (size_t o = 0; o < want.size(); ++o) {
      if (m.names[o] != "relu_i8" && m.names[o] != "direct_i8" && m.names[o] != "fc_clip_residual") continue;
      EXPECT_GT(countEqual(want[o], 0), 0) << m.names[o];
      EXPECT_GT(countEqual(want[o], 127), want[o].numElements() / 50) << m.names[o];
    }
    const Target &target = GetParam();
    const codegen::CompileResult result = compileCounts(m.graph, target, "qconv_bounded_count");
    // Four readers qualify; the uint8 one and the producers (random int8 inputs) do not.
    EXPECT_EQ(result.byteDotConvs, usesAvx2Dot(target) ? 4 : 0) << depthwise;
  }
}

// Input that may be negative (or above 127) times weights without -128, as a symmetric
// quantizer makes them: on AVX2 without VNNI the kernels multiply |x| by the weights with
// x's signs (vpsignb, vpmaddubsw), whose pairs of products cannot saturate 16 bits. Each
// kernel's worst pairs occur (both input bounds, weights -127 and 127); a layer with a -128
// weight keeps vpmaddwd.
TEST_P(QConvCodegen, SignedInputOnSymmetricWeights) {
  for (const char *depthwise : {"lanes", "planes"}) {
    ScopedEnv kernel("LEIP_DEPTHWISE_KERNEL", depthwise);
    QConvModel m(1301);
    auto add = [&](QConvSpec s) {
      s.symmetricWeights = true;
      m.add(s);
    };
    QConvSpec s = conv("stem7x7s2_c3_i8", {1, 3, 32, 30}, {16, 3, 7, 7});
    s.pads = {3, 3, 3, 3}, s.strides = {2, 2}, s.xType = DType::I8, s.xZero = -5;
    add(s);
    s = conv("k3s1_i8_zero0", {2, 16, 12, 12}, {24, 16, 3, 3});
    s.pads = kPad1, s.xType = DType::I8, s.xZero = 0, s.outputType = "int8", s.activation = "Relu";
    add(s);
    s = conv("k1_u8_zero128", {1, 20, 9, 9}, {12, 20, 1, 1}); // u8 above 127: flipped to signed
    add(s);
    s = conv("depthwise_i8", {1, 24, 13, 13}, {24, 1, 3, 3});
    s.pads = kPad1, s.group = 24, s.xType = DType::I8, s.xZero = 3;
    add(s);
    s = conv("depthwise_s2_u8", {1, 16, 14, 15}, {16, 1, 3, 3});
    s.pads = kPad1, s.strides = {2, 2}, s.group = 16;
    add(s);
    s = fullyConnected("fc_i8", 3, 64, 40);
    s.xType = DType::I8, s.xZero = -1;
    add(s);
    s = conv("k3_with_minus128", {1, 8, 9, 9}, {8, 8, 3, 3}); // random weights: -128 present
    s.pads = kPad1, s.xType = DType::I8, s.xZero = 0;
    m.add(s);
    expectBitwiseAcrossThreads(m, std::string("signed_") + depthwise);

    const Target &target = GetParam();
    const codegen::CompileResult result = compileCounts(m.graph, target, "qconv_signs_count");
    EXPECT_EQ(result.signDotConvs, usesAvx2Dot(target) ? 6 : 0) << depthwise;
    EXPECT_EQ(result.byteDotConvs, 0) << depthwise;
  }
}

// Every kernel must be inlined into its node function, where the node's constant shapes
// specialize it: a helper left out of line that takes the shape struct by reference stops
// every shape from folding (the packer's row lambda once did: two divisions per tap in every
// tile, mobilenet_v2 int8 17 % slower). The library of integer convolutions may define only
// what a one-Relu library defines, plus its node functions.
TEST_P(QConvCodegen, KernelsAreInlinedIntoTheNodeFunctions) {
  const Target &target = GetParam();
  const std::set<std::string> runtime = test::runtimeFunctions(target.triple);
  if (runtime.empty()) GTEST_SKIP() << "nm (binutils) cannot list the library's functions";
  for (const char *depthwise : {"lanes", "planes"}) {
    ScopedEnv kernel("LEIP_DEPTHWISE_KERNEL", depthwise);
    QConvModel m(1201);
    addBoundedInputCases(m);
    m.add(conv("stem7x7s2", {1, 3, 30, 30}, {16, 3, 7, 7})); // one quad per tap
    for (ir::Value *out : m.outputs) m.graph.addOutput(out);
    passes::inferShapes(m.graph);
    const fs::path dir =
        test::compileForTest(m.graph, std::string("qconv_inlined_") + depthwise + "_" + target.tag, target.triple);
    int nodes = 0;
    for (const std::string &name : test::functionsBesideNodes(dir / "modelLibrary.so", runtime, nodes))
      ADD_FAILURE() << name << " is a function of its own (" << depthwise << ")";
    EXPECT_GE(nodes, 10) << depthwise;
    fs::remove_all(dir);
  }
}

// The dense kernel keeps a table of its taps' offsets (kMaxTaps): a larger kernel is a clear
// compile error naming the limit, not a stack overrun.
TEST(QConvLimits, KernelsOfMoreThan1024TapsAreRejected) {
  QConvModel m(1101);
  m.add(conv("taps_33x33", {1, 4, 40, 40}, {4, 4, 33, 32})); // 1056 taps
  for (ir::Value *out : m.outputs) m.graph.addOutput(out);
  passes::inferShapes(m.graph);
  codegen::CompileOptions options;
  options.target = codegen::hostTarget();
  options.outputDir = (test::workRoot() / "qconv_taps_limit").string();
  try {
    codegen::compileGraph(m.graph, options);
    ADD_FAILURE() << "a 33 x 32 integer kernel compiled";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("more than 1024 taps"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("taps_33x33"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(options.outputDir)) << "no partial artifact";
}

// ---- epilogues: output types, activations, zero points, saturation ------------------------------

struct Act {
  const char *name; // "" for none
  std::vector<float> params;
};

TEST_P(QConvCodegen, OutputTypesActivationsAndZeroPoints) {
  QConvModel m(707);
  const Act acts[] = {{"", {}}, {"Relu", {}}, {"Clip", {0.0f, 6.0f}}, {"LeakyRelu", {0.1f}}, {"HardSwish", {}}};
  const std::pair<DType, int64_t> xs[] = {
      {DType::U8, 128}, {DType::U8, 3}, {DType::I8, -5}, {DType::U8, 0}, {DType::I8, 0}};
  const std::pair<const char *, int64_t> outs[] = {{"float32", 0}, {"uint8", 128}, {"int8", -3}};
  int i = 0;
  for (const auto &[out, yZero] : outs)
    for (const Act &act : acts) {
      QConvSpec s = conv(std::string(out) + "_" + (act.name[0] ? act.name : "none"), {1, 8, 9, 11}, {12, 8, 3, 3});
      s.pads = kPad1;
      s.outputType = out, s.yZero = yZero;
      s.activation = act.name, s.actParams = act.params;
      s.xType = xs[i % 5].first, s.xZero = xs[i % 5].second;
      s.residual = i % 2 == 1;
      s.vStd = 4.0f; // Clip(0, 6) meets both bounds
      if (s.residual) s.name += "_residual";
      m.add(s);
      ++i;
    }
  expectBitwiseAcrossThreads(m, "epilogues");
}

TEST_P(QConvCodegen, DirectRequantization) {
  QConvModel m(909);
  // Dense 3x3, 1x1 stride 2, depthwise stride 1 and 2, fully connected; u8 and i8 outputs;
  // bounds at the type's range and narrowed (a folded Relu or Clip), with outputs that reach them.
  struct Case {
    const char *name;
    ir::Shape x, w;
    int64_t group, stride;
    const char *out;
    int64_t yZero, yMin, yMax;
  };
  const Case cases[] = {
      {"direct_dense_u8", {1, 8, 9, 11}, {12, 8, 3, 3}, 1, 1, "uint8", 128, 0, 255},
      {"direct_dense_i8_clip", {2, 5, 9, 11}, {10, 5, 3, 3}, 1, 1, "int8", -3, -40, 50},
      {"direct_1x1_s2_u8_relu", {1, 16, 14, 14}, {24, 16, 1, 1}, 1, 2, "uint8", 10, 10, 255},
      {"direct_depthwise_u8", {1, 16, 12, 12}, {16, 1, 3, 3}, 16, 1, "uint8", 128, 0, 200},
      {"direct_depthwise_s2_i8", {1, 8, 13, 13}, {8, 1, 3, 3}, 8, 2, "int8", 0, -128, 127},
      {"direct_fc_u8", {3, 40, 1, 1}, {21, 40, 1, 1}, 1, 1, "uint8", 128, 5, 250},
      // 1x1 at stride 1: whole planes packed at once, also with channels not a multiple of 4
      // and with top/bottom padding only (rows outside the image in the run).
      {"direct_1x1_c6", {2, 6, 5, 7}, {9, 6, 1, 1}, 1, 1, "int8", 4, -128, 127},
      {"direct_1x1_c13_padded_rows", {1, 13, 6, 5}, {7, 13, 1, 1}, 1, 1, "uint8", 128, 0, 255},
  };
  for (const Case &c : cases) {
    QConvSpec s = conv(c.name, c.x, c.w);
    s.group = c.group, s.strides = {c.stride, c.stride};
    if (c.w[2] == 3) s.pads = kPad1;
    if (std::string(c.name) == "direct_1x1_c13_padded_rows") s.pads = {1, 0, 2, 0};
    s.outputType = c.out, s.yZero = c.yZero, s.direct = true, s.yMin = c.yMin, s.yMax = c.yMax;
    s.yStd = 120.0f; // wide enough to reach the bounds
    m.add(s);
  }
  expectBitwiseAcrossThreads(m, "direct requantization");
}

TEST_P(QConvCodegen, EpiloguesOfEveryRunLength) {
  // 1x1 layers write each task's rows as one run of positions per channel: runs under 32,
  // exactly 32, and longer ones whose last 32 values overlap the step before (the x86
  // epilogues convert 32 at a time), for each output form.
  QConvModel m(911);
  const std::pair<int64_t, int64_t> planes[] = {{1, 1}, {3, 5}, {4, 8}, {5, 7}, {7, 9}, {2, 33}};
  struct Form {
    const char *name, *out;
    bool direct, residual;
    int64_t yZero, yMin, yMax;
  };
  const Form forms[] = {{"direct_u8", "uint8", true, false, 128, 0, 255},
                        {"direct_i8_clip", "int8", true, false, -3, -100, 90},
                        {"general_i8_residual", "int8", false, true, 5, 0, 0},
                        {"general_u8", "uint8", false, false, 128, 0, 0},
                        {"float_residual", "float32", false, true, 0, 0, 0}};
  for (const auto &[h, w] : planes)
    for (const Form &f : forms) {
      QConvSpec s = conv(std::string(f.name) + "_" + std::to_string(h) + "x" + std::to_string(w), {1, 12, h, w},
                         {10, 12, 1, 1});
      s.outputType = f.out, s.yZero = f.yZero, s.direct = f.direct, s.yMin = f.yMin, s.yMax = f.yMax;
      s.residual = f.residual, s.xType = DType::I8, s.xZero = 2;
      s.yStd = 120.0f; // the quantized forms reach their bounds
      m.add(s);
    }
  expectBitwiseAcrossThreads(m, "epilogue runs");
}

TEST_P(QConvCodegen, SaturatesAtBothBounds) {
  QConvModel m(808);
  std::vector<std::pair<double, double>> bounds; // per output: the values that must both occur
  QConvSpec s;
  s = conv("sat_u8_dense", {1, 8, 10, 10}, {16, 8, 3, 3});
  s.pads = kPad1, s.outputType = "uint8", s.yZero = 128, s.yStd = 250.0f;
  m.add(s);
  bounds.push_back({0, 255});
  s = conv("sat_i8_dense_residual_leaky", {1, 8, 10, 10}, {16, 8, 3, 3});
  s.pads = kPad1, s.outputType = "int8", s.yZero = 0, s.yStd = 250.0f, s.residual = true, s.activation = "LeakyRelu",
  s.actParams = {0.9f}, s.xType = DType::I8, s.xZero = -5;
  m.add(s);
  bounds.push_back({-128, 127});
  s = conv("sat_i8_clip", {1, 8, 10, 10}, {16, 8, 3, 3}); // Clip(-6, 6) at 30 steps per unit: both bounds
  s.pads = kPad1, s.outputType = "int8", s.yZero = 0, s.activation = "Clip", s.actParams = {-6.0f, 6.0f},
  s.vStd = 6.0f, s.yStd = 180.0f;
  m.add(s);
  bounds.push_back({-128, 127});
  s = conv("sat_u8_depthwise", {1, 16, 10, 10}, {16, 1, 3, 3});
  s.group = 16, s.pads = kPad1, s.outputType = "uint8", s.yZero = 128, s.yStd = 250.0f;
  m.add(s);
  bounds.push_back({0, 255});
  s = conv("sat_i8_depthwise_residual", {1, 16, 10, 10}, {16, 1, 3, 3});
  s.group = 16, s.pads = kPad1, s.outputType = "int8", s.yZero = 10, s.yStd = 250.0f, s.residual = true;
  m.add(s);
  bounds.push_back({-128, 127});
  s = fullyConnected("sat_u8_fc", 2, 64, 100);
  s.outputType = "uint8", s.yZero = 128, s.yStd = 250.0f;
  m.add(s);
  bounds.push_back({0, 255});
  s = fullyConnected("sat_i8_fc", 2, 64, 100);
  s.outputType = "int8", s.yZero = -1, s.yStd = 250.0f, s.xType = DType::I8, s.xZero = 7;
  m.add(s);
  bounds.push_back({-128, 127});
  s = conv("sat_f32_clip", {1, 8, 10, 10}, {16, 8, 3, 3});
  s.pads = kPad1, s.activation = "Clip", s.actParams = {0.0f, 6.0f}, s.vStd = 6.0f;
  m.add(s);
  bounds.push_back({0, 6});

  // Non-finite residuals (the quantized result of NaN is the lowest value).
  for (size_t i = 0; i < m.inputs.size(); ++i)
    if (m.graph.inputs()[i]->name() == "sat_i8_dense_residual_leaky_residual" ||
        m.graph.inputs()[i]->name() == "sat_i8_depthwise_residual_residual") {
      float *r = m.inputs[i].data<float>();
      r[3] = std::numeric_limits<float>::quiet_NaN();
      r[20] = std::numeric_limits<float>::infinity();
      r[41] = -std::numeric_limits<float>::infinity();
    }

  const std::vector<ir::Tensor> want = expectBitwiseAcrossThreads(m, "saturation");
  ASSERT_EQ(want.size(), bounds.size());
  for (size_t o = 0; o < want.size(); ++o) {
    // The data must exercise what the test claims: both bounds and values between them.
    const int64_t lo = countEqual(want[o], bounds[o].first), hi = countEqual(want[o], bounds[o].second);
    EXPECT_GT(lo, 0) << m.names[o] << " never reaches " << bounds[o].first;
    EXPECT_GT(hi, 0) << m.names[o] << " never reaches " << bounds[o].second;
    EXPECT_LT(lo + hi, want[o].numElements()) << m.names[o] << " is all saturated";
  }
  // The NaN residual gives the lowest value.
  EXPECT_EQ(want[1].data<int8_t>()[3], -128);
  EXPECT_EQ(want[4].data<int8_t>()[3], -128);
}

TEST_P(QConvCodegen, HardSigmoidActivation) {
  // alpha * v + beta: the interpreter rounds the product, then the sum; a kernel that
  // contracts them into one fma differs (most near 0, where the sum cancels).
  QConvModel m(909);
  for (const char *out : {"float32", "uint8"}) {
    QConvSpec s = conv(std::string("HardSigmoid_") + out, {1, 8, 9, 11}, {12, 8, 3, 3});
    s.pads = kPad1, s.activation = "HardSigmoid", s.actParams = {0.2f, 0.5f}, s.vStd = 4.0f;
    s.outputType = out, s.yStd = 100.0f; // values in [0, 1]: 100 steps per unit
    m.add(s);
  }
  expectBitwiseAcrossThreads(m, "hard_sigmoid");
}

TEST_P(QConvCodegen, ExpActivations) {
  // Sigmoid, Tanh and Silu: expf and tanhf of the compiled code against the interpreter's.
  QConvModel m(910);
  for (const char *act : {"Sigmoid", "Tanh", "Silu"})
    for (const char *out : {"float32", "uint8"}) {
      QConvSpec s = conv(std::string(act) + "_" + out, {1, 8, 9, 11}, {12, 8, 3, 3});
      s.pads = kPad1, s.activation = act, s.vStd = 4.0f;
      s.outputType = out, s.yStd = 100.0f;
      m.add(s);
    }
  expectBitwiseAcrossThreads(m, "exp_activations");
}

/// gtest prints the target by its tag.
void PrintTo(const Target &target, std::ostream *os) { *os << target.tag; }

INSTANTIATE_TEST_SUITE_P(Targets, QConvCodegen, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target> &info) { return std::string(info.param.tag); });

} // namespace
