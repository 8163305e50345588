// The NVIDIA integer kernels (src/codegen/kernels_cuda/Quantized.cu) without a GPU: the
// kernel source compiled as C++ with LEIP_GPU_EMULATION runs under the block/thread
// emulator of cuda_emu/, launched with the grid and block its plan returns (or a variant
// forced by the test). Every output is compared BITWISE with the reference interpreter's
// kernel run on the same single-node graph (leip.QConv, QuantizeLinear, DequantizeLinear,
// MaxPool): QuantizedParams.h promises the interpreter's exact bits. The one exception is
// the transcendental activations (Sigmoid, Tanh, Silu), which the GPU approximates as the
// fp32 kernels do: within 1e-5 relative for float outputs, at most one step for quantized
// ones. The kernel parameters are derived from each node's attributes as the CUDA lowering
// does (src/codegen/cuda/CudaLowering.cpp). A last test runs the linked device bitcode
// through llc and ptxas.
#include "CudaEmu.h"
#include "Params.h"

#include "leip/interp/Interpreter.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/NNGeometry.h"
#include "leip/ir/OpRegistry.h"
#include "leip/passes/ShapeInference.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace leip;
using namespace leip::gpu;

// The kernels, as Quantized.cu defines them.
using QConvFn = void(const QConvParams *, const void *, const int8_t *, const float *, const float *, const float *,
                     void *);
extern "C" {
QConvFn leip_g_qconv2d_64x64, leip_g_qconv2d_32x32s4, leip_g_qconv2d_16x16s4, leip_g_qconv2d_4x16s4,
    leip_g_qconv2d_depthwise;
void leip_g_quantize(const QuantizeParams *, const float *, const float *, const void *, void *);
void leip_g_dequantize(const DequantizeParams *, const void *, const float *, const void *, float *);
void leip_g_maxpool_u8(const PoolParams *, const void *, void *);
void leip_g_maxpool_i8(const PoolParams *, const void *, void *);
}

namespace {

using Ints = std::vector<int64_t>;
using ir::DType;

QConvFn *qconvKernel(const std::string &name) {
  static const std::map<std::string, QConvFn *> kernels = {
      {"leip_g_qconv2d_64x64", leip_g_qconv2d_64x64},     {"leip_g_qconv2d_32x32s4", leip_g_qconv2d_32x32s4},
      {"leip_g_qconv2d_16x16s4", leip_g_qconv2d_16x16s4}, {"leip_g_qconv2d_4x16s4", leip_g_qconv2d_4x16s4},
      {"leip_g_qconv2d_depthwise", leip_g_qconv2d_depthwise}};
  auto it = kernels.find(name);
  return it == kernels.end() ? nullptr : it->second;
}

// ---- data and comparison -----------------------------------------------------------------

/// u8 or i8 values, uniform, about one in eight at the type's bounds, both bounds present.
ir::Tensor randomBytes(DType type, const ir::Shape &shape, std::mt19937 &rng) {
  ir::Tensor t(type, shape);
  const int lo = type == DType::U8 ? 0 : -128, hi = type == DType::U8 ? 255 : 127;
  std::uniform_int_distribution<int> value(lo, hi), pick(0, 15);
  auto *p = static_cast<uint8_t *>(t.rawData());
  for (int64_t i = 0; i < t.numElements(); ++i) {
    const int choice = pick(rng);
    p[i] = static_cast<uint8_t>(choice == 0 ? lo : choice == 1 ? hi : value(rng));
  }
  if (t.numElements() >= 2) {
    p[0] = static_cast<uint8_t>(lo);
    p[t.numElements() - 1] = static_cast<uint8_t>(hi);
  }
  return t;
}

std::string describeElement(DType type, const void *data, int64_t i) {
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

double elementValue(DType type, const void *data, int64_t i) {
  switch (type) {
  case DType::F32: return static_cast<const float *>(data)[i];
  case DType::U8: return static_cast<const uint8_t *>(data)[i];
  default: return static_cast<const int8_t *>(data)[i];
  }
}

/// `got` must hold `want`'s exact bytes; with `approximate`, instead float elements within
/// 1e-5 of want's largest magnitude and integer ones within one step.
void expectSame(const std::vector<uint8_t> &got, const ir::Tensor &want, const std::string &what,
                bool approximate = false) {
  ASSERT_EQ(got.size(), want.byteSize()) << what;
  const DType type = want.dtype();
  const size_t size = ir::dtypeSize(type);
  double scale = 0;
  if (approximate && type == DType::F32) {
    for (int64_t i = 0; i < want.numElements(); ++i)
      scale = std::max(scale, std::fabs(elementValue(type, want.rawData(), i)));
  }
  int64_t bad = 0, first = -1, differ = 0;
  for (int64_t i = 0; i < want.numElements(); ++i) {
    const auto *wantBytes = static_cast<const uint8_t *>(want.rawData());
    if (std::memcmp(got.data() + i * size, wantBytes + i * size, size) == 0) continue;
    ++differ;
    if (approximate) {
      const double g = elementValue(type, got.data(), i), w = elementValue(type, want.rawData(), i);
      const double tolerance = type == DType::F32 ? 1e-5 * scale : 1.0;
      if (std::fabs(g - w) <= tolerance) continue;
    }
    if (bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.numElements() << " elements differ"
                    << (approximate ? " beyond the tolerance" : "") << "; first at " << first << ": got "
                    << (first >= 0 ? describeElement(type, got.data(), first) : "") << ", want "
                    << (first >= 0 ? describeElement(type, want.rawData(), first) : "");
  // The approximation may move a few quantized elements by one step, not many.
  if (approximate && type != DType::F32) {
    EXPECT_LE(differ, want.numElements() / 4 + 1) << what;
  }
}

/// Runs the graph (whose inputs are `inputs`) through the reference interpreter.
std::vector<ir::Tensor> interpret(ir::Graph &graph, const std::vector<ir::Tensor> &inputs) {
  passes::inferShapes(graph);
  return interp::Interpreter(graph).run(inputs);
}

// ---- leip.QConv -------------------------------------------------------------------------------

struct QConvCase {
  std::string name;
  ir::Shape x; // [N, C, H, W]
  ir::Shape w; // [K, C / group, R, S]
  DType xType = DType::U8;
  int64_t xZero = 0;
  Ints strides{1, 1}, pads{0, 0, 0, 0}, dilations{1, 1};
  int64_t group = 1;
  DType yType = DType::F32;
  int64_t yZero = 0;
  bool residual = false;
  std::string activation; // "" for none
  std::vector<float> actParams;
  bool direct = false; // requant_scales... with bounds yMin, yMax
  int64_t yMin = 0, yMax = 0;
  float vStd = 1.0f;  // rough standard deviation of fmaf(acc, scale, bias)
  float yStd = 40.0f; // ... and of v * y_inverse_scale
  float tieScale = 0;  // > 0: every scale this, biases 0, y_inverse_scale 1 (exact ties)

  QConvCase &stride(int64_t s) { return strides = {s, s}, *this; }
  QConvCase &pad(int64_t p) { return pads = {p, p, p, p}, *this; }
  QConvCase &input(DType type, int64_t zero) { return xType = type, xZero = zero, *this; }
  QConvCase &output(DType type, int64_t zero = 0) { return yType = type, yZero = zero, *this; }
  QConvCase &requant(DType type, int64_t zero, int64_t lo, int64_t hi) {
    yType = type, yZero = zero, direct = true, yMin = lo, yMax = hi;
    return *this;
  }
  QConvCase &act(std::string name, std::vector<float> params = {}) {
    activation = std::move(name), actParams = std::move(params);
    return *this;
  }
};

QConvCase qconv(std::string name, ir::Shape x, ir::Shape w) {
  QConvCase c;
  c.name = std::move(name);
  c.x = std::move(x);
  c.w = std::move(w);
  return c;
}

const char *typeName(DType t) { return t == DType::U8 ? "uint8" : t == DType::I8 ? "int8" : "float32"; }

/// The single-node graph of a case, its random inputs and (after interpret) its output.
struct QConvGraph {
  ir::Graph graph;
  std::vector<ir::Tensor> inputs;
  ir::Node *node = nullptr;
  ir::Tensor x, w, residual;
  bool hasResidual = false;
  std::vector<float> scales, biases; // what the kernel gets: requant_* when direct
};

void buildQConv(QConvGraph &m, const QConvCase &s, unsigned seed) {
  std::mt19937 rng(seed);
  m.x = randomBytes(s.xType, s.x, rng);
  m.w = randomBytes(DType::I8, s.w, rng);
  std::vector<ir::Value *> in{m.graph.addInput("x", m.x.type()), m.graph.addConstant("w", m.w)};
  m.inputs.push_back(m.x);
  const int64_t K = s.w[0], taps = s.w[1] * s.w[2] * s.w[3];
  // Scales that give v a standard deviation near vStd (QConvTest.cpp's estimate).
  const double xMean = s.xType == DType::U8 ? 127.5 : -0.5;
  const double xRms = std::sqrt(5461.0 + (xMean - double(s.xZero)) * (xMean - double(s.xZero)));
  const double base = s.vStd / (xRms * 74.0 * std::sqrt(double(taps)));
  std::uniform_real_distribution<float> spread(0.5f, 1.5f), centred(-0.5f, 0.5f);
  std::vector<float> scales(static_cast<size_t>(K)), biases(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    scales[size_t(k)] = float(base) * spread(rng);
    biases[size_t(k)] = s.vStd * centred(rng);
    if (s.tieScale > 0) scales[size_t(k)] = s.tieScale, biases[size_t(k)] = 0.0f;
  }
  ir::Node *n = nullptr;
  if (s.residual) {
    const auto out = [&](int i) {
      const int64_t extent = s.x[size_t(2 + i)] + s.pads[size_t(i)] + s.pads[size_t(2 + i)];
      const int64_t window = (s.w[size_t(2 + i)] - 1) * s.dilations[size_t(i)] + 1;
      return (extent - window) / s.strides[size_t(i)] + 1;
    };
    m.residual = ir::Tensor(DType::F32, {s.x[0], s.w[0], out(0), out(1)});
    m.hasResidual = true;
    std::uniform_real_distribution<float> r(-s.vStd, s.vStd);
    for (float &v : m.residual.values<float>()) v = r(rng);
    in.push_back(m.graph.addInput("residual", m.residual.type()));
    m.inputs.push_back(m.residual);
  }
  n = m.graph.addNode("QConv", s.name, in, {"y"}, ir::kLeipDomain);
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
  a.set("output_type", std::string(typeName(s.yType)));
  m.scales = scales;
  m.biases = biases;
  if (s.yType != DType::F32) {
    const auto inverse = s.tieScale > 0 ? 1.0f : float(1.0 / (s.vStd / s.yStd));
    a.set("y_inverse_scale", inverse);
    a.set("y_zero_point", s.yZero);
    if (s.direct) {
      std::vector<float> multipliers(scales.size()), offsets(biases.size());
      for (size_t k = 0; k < scales.size(); ++k) {
        multipliers[k] = scales[k] * inverse;
        offsets[k] = biases[k] * inverse + float(s.yZero);
      }
      a.set("requant_scales", multipliers);
      a.set("requant_offsets", offsets);
      a.set("y_min", s.yMin);
      a.set("y_max", s.yMax);
      m.scales = multipliers;
      m.biases = offsets;
    }
  }
  m.graph.addOutput(n->output(0));
  m.node = n;
}

QuantizedType quantizedType(DType t) { return t == DType::U8 ? kUint8 : t == DType::I8 ? kInt8 : kFloat32; }

/// QConvParams from the node's attributes, as the CUDA lowering derives them.
QConvParams qconvParams(const ir::Node &node, const ir::Shape &xs, const ir::Shape &ws, DType xType, DType yType) {
  const ir::WindowGeometry g = ir::convGeometry(node, xs, ws);
  const ir::AttributeMap &a = node.attrs();
  QConvParams p{};
  p.n = int32_t(xs[0]), p.c = int32_t(xs[1]), p.h = int32_t(g.input[0]), p.w = int32_t(g.input[1]);
  p.k = int32_t(ws[0]), p.oh = int32_t(g.output[0]), p.ow = int32_t(g.output[1]);
  p.kh = int32_t(g.kernel[0]), p.kw = int32_t(g.kernel[1]);
  p.strideH = int32_t(g.strides[0]), p.strideW = int32_t(g.strides[1]);
  p.padTop = int32_t(g.padBegin[0]), p.padLeft = int32_t(g.padBegin[1]);
  p.dilationH = int32_t(g.dilations[0]), p.dilationW = int32_t(g.dilations[1]);
  p.groups = int32_t(a.getInt("group", 1));
  p.inputType = quantizedType(xType);
  p.xZeroPoint = int32_t(a.getInt("x_zero_point", 0));
  p.outputType = quantizedType(yType);
  p.directRequant = a.has("requant_scales");
  p.yMin = int32_t(a.getInt("y_min", 0));
  p.yMax = int32_t(a.getInt("y_max", 0));
  p.yInverseScale = a.getFloat("y_inverse_scale", 1.0f);
  p.yZeroPoint = int32_t(a.getInt("y_zero_point", 0));
  const ir::FusedActivation act = ir::fusedActivation(node);
  p.act = {int32_t(act.kind), act.alpha, act.beta};
  return p;
}

std::vector<uint8_t> runQConv(const Launch &launch, const QConvParams &p, const QConvGraph &m, size_t outBytes,
                              const int8_t *weights) {
  QConvFn *fn = qconvKernel(launch.kernel);
  EXPECT_NE(fn, nullptr) << "no kernel " << launch.kernel;
  std::vector<uint8_t> y(outBytes, 0xA5); // a pattern no kernel writes by chance everywhere
  if (!fn) return y;
  const float *residual = m.hasResidual ? m.residual.data<float>() : nullptr;
  emu::launch(launch, [&] { fn(&p, m.x.rawData(), weights, m.scales.data(), m.biases.data(), residual, y.data()); });
  return y;
}

bool transcendental(const QConvCase &s) {
  return s.activation == "Sigmoid" || s.activation == "Tanh" || s.activation == "Silu";
}

/// Runs the case through the interpreter and the kernel (the plan's, or variant
/// `variant`; or the launch `custom`), and compares. Returns the kernel that ran.
std::string checkQConv(const QConvCase &s, unsigned seed, int variant = -1, const Launch *custom = nullptr) {
  QConvGraph m;
  buildQConv(m, s, seed);
  const std::vector<ir::Tensor> want = interpret(m.graph, m.inputs);
  const QConvParams p = qconvParams(*m.node, s.x, s.w, s.xType, s.yType);
  const Launch launch = custom ? *custom : variant >= 0 ? qconvLaunch(p, kQConvVariants[variant]) : planQConv(p);
  const std::vector<uint8_t> got = runQConv(launch, p, m, want[0].byteSize(), m.w.data<int8_t>());
  expectSame(got, want[0], s.name + " (" + launch.kernel + ")", transcendental(s));
  // Weights at an odd address: the kernels' word loads must fall back to bytes.
  std::vector<int8_t> shifted(size_t(m.w.numElements()) + 1);
  std::memcpy(shifted.data() + 1, m.w.rawData(), size_t(m.w.numElements()));
  const std::vector<uint8_t> again = runQConv(launch, p, m, want[0].byteSize(), shifted.data() + 1);
  EXPECT_TRUE(again == got) << s.name << " (" << launch.kernel << "): other results with misaligned weights";
  return launch.kernel;
}

int variantIndex(const std::string &kernel) {
  for (int i = 0; i < kQConvVariantCount; ++i)
    if (kernel == kQConvVariants[i].kernel) return i;
  return -1;
}

// Every GEMM variant on shapes that give it several blocks along positions and channels,
// channel counts that are not multiples of 4 or of its tile, and reductions over several of
// its stages, with both input types and zero points 0 and not 0.
TEST(CudaQConv, EveryVariantOnSeveralBlocks) {
  unsigned seed = 100;
  for (int v = 0; v < kQConvVariantCount; ++v) {
    const QConvVariant &cv = kQConvVariants[v];
    SCOPED_TRACE(cv.kernel);
    const int64_t positions = cv.tileM * 5 / 4; // per image, two images: 2.5 tiles
    const int64_t side = std::max<int64_t>(1, int64_t(std::sqrt(double(positions))));
    const int64_t width = (positions + side - 1) / side;
    const int64_t k = cv.tileN * 5 / 2;
    // K = 45 taps per channel group * channels: several stages of every variant.
    const int64_t channels = cv.tileKWords * 4 * 2 / 9 + 5;
    QConvCase a = qconv("3x3_u8", {2, channels, side, width}, {k, channels, 3, 3});
    a.pad(1).input(DType::U8, 131).requant(DType::U8, 3, 0, 255);
    QConvGraph ma;
    buildQConv(ma, a, 0);
    const QConvParams pa = qconvParams(*ma.node, a.x, a.w, a.xType, a.yType);
    const Launch la = qconvLaunch(pa, cv);
    EXPECT_GE(la.grid[0], 2u);
    EXPECT_GE(la.grid[1], 2u);
    EXPECT_EQ(checkQConv(a, seed++, v), cv.kernel);
    QConvCase b = qconv("3x3_i8", {2, channels, side, width}, {k, channels, 3, 3});
    b.pad(1).input(DType::I8, 0).output(DType::F32);
    b.residual = true;
    checkQConv(b, seed++, v);
    QConvCase c = qconv("3x3_i8_zp", {1, channels, side + 2, width}, {k, channels, 3, 2});
    c.stride(2).input(DType::I8, -37).output(DType::I8, -5).act("Relu");
    c.pads = {2, 1, 0, 1};
    checkQConv(c, seed++, v);
    // 1x1 (the pointwise path), C = 70, 4-aligned rows; and C = 37, unaligned rows.
    QConvCase d = qconv("1x1_u8", {2, 70, side, width}, {k, 70, 1, 1});
    d.input(DType::U8, 0).requant(DType::I8, -2, -128, 127);
    checkQConv(d, seed++, v);
    QConvCase e = qconv("1x1_u8_zp", {1, 37, side, width + 1}, {k + 3, 37, 1, 1});
    e.input(DType::U8, 255).output(DType::U8, 17);
    checkQConv(e, seed++, v);
  }
}

// Layers as models have them, through the plan.
TEST(CudaQConv, PlannedShapes) {
  std::vector<QConvCase> cases;
  {
    QConvCase s = qconv("stem_7x7_c3", {1, 3, 23, 21}, {16, 3, 7, 7});
    s.stride(2).pad(3).input(DType::U8, 114).requant(DType::U8, 0, 0, 255);
    cases.push_back(s);
    QConvCase t = qconv("stem_7x7_c3_i8_relu_bounds", {2, 3, 16, 16}, {10, 3, 7, 7});
    t.stride(2).pad(3).input(DType::I8, 5).requant(DType::I8, -20, -20, 100); // Relu folded into y_min
    cases.push_back(t);
  }
  {
    QConvCase s = qconv("3x3_s1", {1, 16, 9, 9}, {24, 16, 3, 3});
    s.pad(1).input(DType::U8, 128).requant(DType::U8, 0, 0, 255);
    cases.push_back(s);
    QConvCase t = qconv("3x3_s2_batch2", {2, 12, 10, 10}, {20, 12, 3, 3});
    t.stride(2).pad(1).input(DType::U8, 77).output(DType::U8, 128).act("Clip", {0.0f, 6.0f});
    cases.push_back(t);
    QConvCase d = qconv("3x3_dilation2", {1, 8, 11, 10}, {12, 8, 3, 3});
    d.pad(2).input(DType::I8, -1).output(DType::F32);
    d.dilations = {2, 2};
    cases.push_back(d);
    QConvCase e = qconv("5x3_dilation_2x1_asymmetric_pads", {1, 6, 12, 9}, {9, 6, 5, 3});
    e.input(DType::U8, 200).output(DType::I8, 0);
    e.dilations = {2, 1};
    e.pads = {3, 0, 1, 2};
    cases.push_back(e);
  }
  {
    QConvCase s = qconv("1x1_s2", {1, 24, 7, 7}, {40, 24, 1, 1});
    s.stride(2).input(DType::U8, 3).requant(DType::U8, 10, 10, 255);
    cases.push_back(s);
    QConvCase t = qconv("fc_1x1_image", {3, 100, 1, 1}, {30, 100, 1, 1});
    t.input(DType::U8, 128).output(DType::F32);
    cases.push_back(t);
    QConvCase l = qconv("late_3x3", {1, 64, 3, 3}, {48, 64, 3, 3});
    l.pad(1).input(DType::U8, 128).output(DType::U8, 0).act("Relu");
    l.residual = true;
    cases.push_back(l);
  }
  {
    QConvCase g = qconv("grouped_2x16", {1, 12, 6, 6}, {32, 6, 3, 3});
    g.group = 2;
    g.pad(1).input(DType::U8, 9).requant(DType::U8, 0, 0, 255);
    cases.push_back(g);
    QConvCase h = qconv("grouped_3x6_direct", {1, 12, 6, 6}, {18, 4, 3, 3});
    h.group = 3;
    h.pad(1).input(DType::I8, 4).output(DType::F32);
    h.residual = true;
    cases.push_back(h);
    QConvCase q = qconv("grouped_1x1_4", {2, 8, 5, 5}, {36, 2, 1, 1});
    q.group = 4;
    q.input(DType::U8, 0).output(DType::I8, 3);
    cases.push_back(q);
  }
  unsigned seed = 300;
  for (const QConvCase &c : cases) {
    SCOPED_TRACE(c.name);
    checkQConv(c, seed++);
  }
}

TEST(CudaQConv, Depthwise) {
  std::vector<QConvCase> cases;
  QConvCase a = qconv("dw3x3_s1_u8", {1, 12, 9, 9}, {12, 1, 3, 3});
  a.group = 12;
  a.pad(1).input(DType::U8, 119).requant(DType::U8, 0, 0, 255);
  cases.push_back(a);
  QConvCase b = qconv("dw3x3_s2_i8_batch2", {2, 7, 11, 10}, {7, 1, 3, 3});
  b.group = 7;
  b.stride(2).pad(1).input(DType::I8, 0).requant(DType::I8, -3, -3, 127);
  cases.push_back(b);
  QConvCase c = qconv("dw5x5_dilation2_float", {1, 5, 13, 12}, {5, 1, 5, 5});
  c.group = 5;
  c.pads = {4, 2, 4, 2};
  c.dilations = {2, 1};
  c.input(DType::U8, 30).output(DType::F32).act("Clip", {0.0f, 6.0f});
  c.residual = true;
  cases.push_back(c);
  QConvCase d = qconv("dw3x3_multiplier2", {1, 6, 7, 7}, {12, 1, 3, 3}); // groups = c, k = 2c
  d.group = 6;
  d.pad(1).input(DType::I8, -100).output(DType::U8, 100).act("HardSwish");
  cases.push_back(d);
  unsigned seed = 500;
  for (const QConvCase &s : cases) {
    SCOPED_TRACE(s.name);
    EXPECT_EQ(checkQConv(s, seed++), "leip_g_qconv2d_depthwise");
  }
  // A grid smaller than the outputs: the grid-stride loop.
  const Launch small{"leip_g_qconv2d_depthwise", {3, 1, 1}, {64, 1, 1}};
  checkQConv(cases[1], 600, -1, &small);
}

/// Float output with a residual under every activation; quantized output with a residual.
TEST(CudaQConv, EveryActivation) {
  const std::vector<std::pair<std::string, std::vector<float>>> acts = {
      {"", {}},          {"Relu", {}},     {"Clip", {-0.3f, 0.4f}}, {"LeakyRelu", {0.1f}}, {"Sigmoid", {}},
      {"HardSigmoid", {0.2f, 0.5f}}, {"HardSwish", {}}, {"Tanh", {}}, {"Silu", {}}};
  unsigned seed = 700;
  for (const auto &[name, params] : acts) {
    SCOPED_TRACE(name.empty() ? "none" : name);
    QConvCase f = qconv("act_float", {1, 5, 6, 5}, {6, 5, 3, 3});
    f.pad(1).input(DType::U8, 100).output(DType::F32).act(name, params);
    f.residual = true;
    f.vStd = 4.0f; // reaches the saturated ranges of Clip, HardSigmoid and HardSwish
    checkQConv(f, seed++);
    QConvCase q = qconv("act_quantized", {1, 5, 6, 5}, {6, 5, 3, 3});
    q.pad(1).input(DType::I8, -9).output(seed % 2 ? DType::U8 : DType::I8, seed % 2 ? 60 : -4).act(name, params);
    q.residual = true;
    q.vStd = 4.0f;
    q.yStd = 20.0f;
    checkQConv(q, seed++);
    QConvCase d = qconv("act_depthwise", {1, 4, 6, 6}, {4, 1, 3, 3});
    d.group = 4;
    d.pad(1).input(DType::U8, 128).output(DType::F32).act(name, params);
    d.residual = seed % 2 == 0;
    d.vStd = 4.0f;
    checkQConv(d, seed++);
  }
}

/// Saturation in both directions and output zero points at the type's bounds.
TEST(CudaQConv, SaturatingOutputs) {
  unsigned seed = 800;
  for (DType y : {DType::U8, DType::I8}) {
    const int64_t lo = y == DType::U8 ? 0 : -128, hi = y == DType::U8 ? 255 : 127;
    for (int64_t zero : {lo, hi}) {
      QConvCase s = qconv("saturating", {1, 9, 6, 6}, {11, 9, 3, 3});
      s.pad(1).input(DType::U8, 50).output(y, zero);
      s.yStd = 400.0f; // most outputs beyond the range
      checkQConv(s, seed++);
      QConvCase d = qconv("saturating_direct", {1, 9, 6, 6}, {11, 9, 3, 3});
      d.pad(1).input(DType::I8, -50).requant(y, zero, lo, hi);
      d.yStd = 400.0f;
      checkQConv(d, seed++);
    }
  }
}

/// Outputs exactly halfway between two integers (acc * 0.5 for odd acc) round to even.
TEST(CudaQConv, RoundsHalfToEven) {
  unsigned seed = 850;
  for (int depthwise = 0; depthwise < 2; ++depthwise)
    for (bool direct : {false, true}) {
      // One tap per output: acc = (x - 3) * w, so the ties can be counted here.
      QConvCase s = qconv(depthwise ? "ties_depthwise" : "ties_dense", {1, depthwise ? 8 : 1, 24, 24},
                          {8, 1, 1, 1});
      if (depthwise) s.group = 8;
      s.input(DType::U8, 3).tieScale = 0.5f;
      if (direct) s.requant(DType::I8, 0, -128, 127);
      else s.output(DType::U8, 128);
      QConvGraph m;
      buildQConv(m, s, seed);
      int ties = 0;
      const int64_t positions = 24 * 24;
      for (int64_t k = 0; k < 8; ++k)
        for (int64_t i = 0; i < positions; ++i) {
          const int64_t c = depthwise ? k : 0;
          const int32_t acc = (int32_t{m.x.data<uint8_t>()[c * positions + i]} - 3) * int32_t{m.w.data<int8_t>()[k]};
          ties += acc % 2 != 0 && acc > -256 && acc < 256;
        }
      EXPECT_GT(ties, 20) << s.name;
      const std::string planned = planQConv(qconvParams(*m.node, s.x, s.w, s.xType, s.yType)).kernel;
      if (depthwise) {
        EXPECT_EQ(planned, "leip_g_qconv2d_depthwise");
      }
      EXPECT_EQ(checkQConv(s, seed++), planned);
    }
}

// The plan: large layers get large tiles, long-K late layers a split-K variant, 1x1 images
// the narrow one, depthwise the direct kernel; grids within CUDA's limits.
TEST(CudaQConv, PlanChoices) {
  auto params = [](int n, int c, int h, int k, int kh, int stride, int groups) {
    QConvParams p{};
    p.n = n, p.c = c, p.h = h, p.w = h, p.k = k, p.kh = kh, p.kw = kh;
    p.strideH = p.strideW = stride;
    p.padTop = p.padLeft = kh / 2;
    p.dilationH = p.dilationW = 1;
    p.oh = p.ow = (h + 2 * (kh / 2) - kh) / stride + 1;
    p.groups = groups;
    p.inputType = kUint8;
    p.outputType = kUint8;
    return p;
  };
  struct Case {
    QConvParams p;
    std::vector<std::string> allowed;
  };
  const Case cases[] = {
      {params(1, 64, 56, 64, 3, 1, 1), {"leip_g_qconv2d_64x64", "leip_g_qconv2d_32x32s4"}},
      {params(8, 64, 56, 64, 3, 1, 1), {"leip_g_qconv2d_64x64"}},
      {params(1, 512, 7, 512, 3, 1, 1), {"leip_g_qconv2d_16x16s4", "leip_g_qconv2d_4x16s4"}},
      {params(1, 512, 1, 1000, 1, 1, 1), {"leip_g_qconv2d_4x16s4", "leip_g_qconv2d_16x16s4"}},
      {params(1, 32, 112, 32, 3, 1, 32), {"leip_g_qconv2d_depthwise"}},
  };
  for (const Case &c : cases) {
    const Launch l = planQConv(c.p);
    bool ok = false;
    for (const std::string &name : c.allowed) ok = ok || name == l.kernel;
    EXPECT_TRUE(ok) << "c" << c.p.c << " " << c.p.h << "x" << c.p.w << " k" << c.p.k << " planned " << l.kernel;
  }
  // Every variant is the plan's choice for some layer of a ResNet-50 at batch 1 or 8 or a
  // fully connected one; every grid is within CUDA's limits.
  std::vector<bool> chosen(kQConvVariantCount, false);
  for (int n : {1, 8})
    for (int h : {56, 28, 14, 7})
      for (int c : {64, 128, 256, 512, 1024, 2048})
        for (int kh : {1, 3}) {
          const Launch l = planQConv(params(n, c, h, c, kh, 1, 1));
          const int v = variantIndex(l.kernel);
          ASSERT_GE(v, 0) << l.kernel;
          chosen[size_t(v)] = true;
          EXPECT_LE(l.grid[1], 65535u);
          EXPECT_EQ(l.block[0], uint32_t(kQConvVariants[v].threads()));
        }
  chosen[size_t(variantIndex(planQConv(params(1, 2048, 1, 1000, 1, 1, 1)).kernel))] = true;
  for (int v = 0; v < kQConvVariantCount; ++v)
    EXPECT_TRUE(chosen[size_t(v)]) << kQConvVariants[v].kernel << " never planned";
  const Launch many = planQConv(params(1, 4096, 8, 8192, 3, 1, 1024));
  EXPECT_LE(many.grid[1], 65535u);
}

// ---- QuantizeLinear / DequantizeLinear ----------------------------------------------------------

struct QdqGraph {
  ir::Graph graph;
  std::vector<ir::Tensor> inputs;
};

/// QuantizeLinear (quantize) or DequantizeLinear of an input x of `shape` with scale and
/// zero point of `channels` elements (1: per tensor, a scalar) along `axis`.
void qdqGraph(QdqGraph &m, bool quantize, const ir::Tensor &x, const std::vector<float> &scale,
              const ir::Tensor *zeroPoint, int64_t axis) {
  ir::Tensor s = scale.size() == 1 ? ir::Tensor::scalar(scale[0])
                                   : ir::Tensor::fromVector(DType::F32, {int64_t(scale.size())}, scale);
  std::vector<ir::Value *> in{m.graph.addInput("x", x.type()), m.graph.addConstant("scale", s)};
  if (zeroPoint) in.push_back(m.graph.addConstant("zero_point", *zeroPoint));
  ir::Node *n = m.graph.addNode(quantize ? "QuantizeLinear" : "DequantizeLinear", "q", in, {"y"});
  if (scale.size() > 1) n->attrs().set("axis", axis);
  m.graph.addOutput(n->output(0));
  m.inputs.push_back(x);
}

/// Zero points of `type`, one per channel (a scalar for one).
ir::Tensor zeroPoints(DType type, const std::vector<int> &values) {
  ir::Tensor t(type, values.size() == 1 ? ir::Shape{} : ir::Shape{int64_t(values.size())});
  for (size_t i = 0; i < values.size(); ++i) static_cast<uint8_t *>(t.rawData())[i] = static_cast<uint8_t>(values[i]);
  return t;
}

/// axisSize and inner of an axis of `shape` (the lowering's view).
std::pair<int64_t, int64_t> axisView(const ir::Shape &shape, size_t channels, int64_t axis) {
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  if (channels == 1) return {1, total};
  int64_t inner = 1;
  for (size_t d = size_t(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  return {shape[size_t(axis)], inner};
}

void checkQuantize(const ir::Tensor &x, DType type, const std::vector<float> &scale, const std::vector<int> &zero,
                   int64_t axis, const std::string &what, const Launch *custom = nullptr) {
  const ir::Tensor zp = zeroPoints(type, zero.empty() ? std::vector<int>(scale.size(), 0) : zero);
  QdqGraph m;
  qdqGraph(m, true, x, scale, &zp, axis);
  const std::vector<ir::Tensor> want = interpret(m.graph, m.inputs);
  const auto [axisSize, inner] = axisView(x.shape(), scale.size(), axis);
  const QuantizeParams p{x.numElements(), axisSize, inner, quantizedType(type)};
  const Launch l = custom ? *custom : planQuantize(p);
  std::vector<uint8_t> got(size_t(x.numElements()), 0xA5);
  // Without zero point values the kernel gets a null pointer (the interpreter a zero tensor).
  const void *zpData = zero.empty() ? nullptr : zp.rawData();
  emu::launch(l, [&] { leip_g_quantize(&p, x.data<float>(), scale.data(), zpData, got.data()); });
  expectSame(got, want[0], what);
}

void checkDequantize(const ir::Tensor &x, const std::vector<float> &scale, const std::vector<int> &zero, int64_t axis,
                     const std::string &what) {
  const ir::Tensor zp = zeroPoints(x.dtype(), zero.empty() ? std::vector<int>(scale.size(), 0) : zero);
  QdqGraph m;
  qdqGraph(m, false, x, scale, &zp, axis);
  const std::vector<ir::Tensor> want = interpret(m.graph, m.inputs);
  const auto [axisSize, inner] = axisView(x.shape(), scale.size(), axis);
  const DequantizeParams p{x.numElements(), axisSize, inner, quantizedType(x.dtype())};
  std::vector<float> y(size_t(x.numElements()), std::nanf(""));
  const void *zpData = zero.empty() ? nullptr : zp.rawData();
  emu::launch(planDequantize(p), [&] { leip_g_dequantize(&p, x.rawData(), scale.data(), zpData, y.data()); });
  std::vector<uint8_t> got(y.size() * 4);
  std::memcpy(got.data(), y.data(), got.size());
  expectSame(got, want[0], what);
}

/// Floats around the quantization grid of `scale`: exact ties (k + 0.5) * scale, values
/// beyond both ends of the range, signed zeros, infinities and NaN.
ir::Tensor quantizeInputs(const ir::Shape &shape, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  ir::Tensor x(DType::F32, shape);
  std::uniform_real_distribution<float> wide(-300.0f, 300.0f);
  std::uniform_int_distribution<int> pick(0, 9), tie(-300, 300);
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f, -0.0f, inf, -inf, std::nanf(""), 1e30f, -1e30f};
  int special = 0;
  for (float &v : x.values<float>()) {
    const int choice = pick(rng);
    if (choice == 0) v = specials[special++ % 7];
    else if (choice < 4) v = (float(tie(rng)) + 0.5f) * scale; // exact for the power-of-two scales below
    else v = wide(rng) * scale;
  }
  return x;
}

TEST(CudaQdq, QuantizePerTensorAndPerAxis) {
  for (DType type : {DType::U8, DType::I8}) {
    SCOPED_TRACE(typeName(type));
    const int zero = type == DType::U8 ? 128 : -7;
    // Per tensor: a power-of-two scale (exact ties), an arbitrary one, no zero point.
    checkQuantize(quantizeInputs({2, 3, 40, 11}, 0.25f, 1), type, {0.25f}, {zero}, 1, "per tensor, scale 1/4");
    checkQuantize(quantizeInputs({2, 3, 40, 11}, 0.0371f, 2), type, {0.0371f}, {zero}, 1, "per tensor, scale 0.0371");
    checkQuantize(quantizeInputs({1000}, 0.5f, 3), type, {0.5f}, {}, 0, "per tensor, no zero point");
    // Per axis 1 of [2, 5, 3, 4] and axis 0 of [6, 7] (a weight-like tensor).
    const std::vector<int> zeros5 = type == DType::U8 ? std::vector<int>{0, 1, 128, 254, 255}
                                                      : std::vector<int>{-128, -1, 0, 1, 127};
    checkQuantize(quantizeInputs({2, 5, 3, 4}, 0.125f, 4), type, {0.125f, 0.5f, 0.0625f, 1.0f, 0.03f}, zeros5, 1,
                  "per axis 1");
    checkQuantize(quantizeInputs({6, 7}, 0.5f, 5), type, {0.5f, 0.25f, 2.0f, 0.1f, 1.0f, 0.5f},
                  {0, 3, 5, 7, 9, 11}, 0, "per axis 0");
    checkQuantize(quantizeInputs({3, 4, 5}, 0.5f, 6), type, {0.5f, 0.25f, 2.0f, 0.1f, 1.0f}, {}, 2,
                  "per last axis, no zero point");
  }
  // Grid-stride: 2 blocks of 32 threads over 1320 elements.
  const Launch small{"leip_g_quantize", {2, 1, 1}, {32, 1, 1}};
  checkQuantize(quantizeInputs({2, 3, 20, 11}, 0.25f, 7), DType::U8, {0.25f, 0.5f, 1.0f}, {10, 20, 30}, 1,
                "grid stride", &small);
}

TEST(CudaQdq, DequantizePerTensorAndPerAxis) {
  std::mt19937 rng(11);
  for (DType type : {DType::U8, DType::I8}) {
    SCOPED_TRACE(typeName(type));
    const std::vector<int> zeros5 = type == DType::U8 ? std::vector<int>{0, 1, 128, 254, 255}
                                                      : std::vector<int>{-128, -1, 0, 1, 127};
    checkDequantize(randomBytes(type, {2, 3, 40, 11}, rng), {0.0371f}, {zeros5[2] + 3}, 1, "per tensor");
    checkDequantize(randomBytes(type, {1000}, rng), {1.7e-3f}, {}, 0, "per tensor, no zero point");
    checkDequantize(randomBytes(type, {2, 5, 3, 4}, rng), {0.125f, 0.3f, 0.0625f, 1.1f, 0.03f}, zeros5, 1,
                    "per axis 1");
    checkDequantize(randomBytes(type, {3, 4, 5}, rng), {0.5f, 0.25f, 2.0f, 0.1f, 7.0f}, {}, 2, "per last axis");
  }
}

// ---- MaxPool --------------------------------------------------------------------------------------

void checkMaxPool(DType type, const ir::Shape &shape, Ints kernel, Ints strides, Ints pads, Ints dilations,
                  int64_t ceilMode, unsigned seed) {
  std::mt19937 rng(seed);
  const ir::Tensor x = randomBytes(type, shape, rng);
  ir::Graph graph;
  ir::Node *n = graph.addNode("MaxPool", "pool", {graph.addInput("x", x.type())}, {"y"});
  n->attrs().set("kernel_shape", kernel);
  n->attrs().set("strides", strides);
  n->attrs().set("pads", pads);
  n->attrs().set("dilations", dilations);
  n->attrs().set("ceil_mode", ceilMode);
  graph.addOutput(n->output(0));
  const std::vector<ir::Tensor> want = interpret(graph, {x});
  const ir::WindowGeometry g = ir::poolGeometry(*n, shape);
  PoolParams p{};
  p.n = int32_t(shape[0]), p.c = int32_t(shape[1]), p.h = int32_t(shape[2]), p.w = int32_t(shape[3]);
  p.oh = int32_t(g.output[0]), p.ow = int32_t(g.output[1]);
  p.kh = int32_t(g.kernel[0]), p.kw = int32_t(g.kernel[1]);
  p.strideH = int32_t(g.strides[0]), p.strideW = int32_t(g.strides[1]);
  p.padTop = int32_t(g.padBegin[0]), p.padLeft = int32_t(g.padBegin[1]);
  p.dilationH = int32_t(g.dilations[0]), p.dilationW = int32_t(g.dilations[1]);
  const Launch l = planIntegerMaxPool(p, quantizedType(type));
  std::vector<uint8_t> got(size_t(want[0].numElements()), 0xA5);
  emu::launch(l, [&] {
    if (type == DType::U8) leip_g_maxpool_u8(&p, x.rawData(), got.data());
    else leip_g_maxpool_i8(&p, x.rawData(), got.data());
  });
  char what[128];
  std::snprintf(what, sizeof what, "%s maxpool %" PRId64 "x%" PRId64 " stride %" PRId64 " pad %" PRId64
                                   " ceil %" PRId64,
                typeName(type), kernel[0], kernel[1], strides[0], pads[0], ceilMode);
  EXPECT_STREQ(l.kernel, type == DType::U8 ? "leip_g_maxpool_u8" : "leip_g_maxpool_i8");
  expectSame(got, want[0], what);
}

TEST(CudaMaxPool, IntegerWindows) {
  unsigned seed = 900;
  for (DType type : {DType::U8, DType::I8}) {
    checkMaxPool(type, {1, 8, 16, 15}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0, seed++); // ResNet's stem pool
    checkMaxPool(type, {2, 3, 9, 8}, {2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 0, seed++);
    checkMaxPool(type, {1, 4, 10, 9}, {3, 2}, {2, 1}, {1, 0, 2, 1}, {2, 1}, 0, seed++); // dilation, asymmetric pads
    checkMaxPool(type, {1, 5, 7, 7}, {3, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, seed++);  // ceil_mode
  }
  // All inputs at the lowest value: the kernel's start value must not win.
  ir::Tensor x(DType::I8, {1, 1, 4, 4});
  std::memset(x.rawData(), 0x80, 16);
  PoolParams p{1, 1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0};
  std::vector<int8_t> y(4, 5);
  emu::launch(planIntegerMaxPool(p, kInt8), [&] { leip_g_maxpool_i8(&p, x.rawData(), y.data()); });
  EXPECT_EQ(y, std::vector<int8_t>(4, -128));
}

// ---- PTX ----------------------------------------------------------------------------------------------

/// The linked device bitcode (every kernels_cuda/*.cu) through llc and ptxas for the oldest
/// and newest architectures leip accepts: every integer kernel is in it, dp4a for both input
/// types is used, and no call leaves the module (there is no libdevice on the device).
TEST(CudaQuantizedPtx, AssemblesForOldestAndNewestArch) {
  const char *ptxas = "/usr/local/cuda/bin/ptxas";
  if (!std::filesystem::exists(ptxas)) GTEST_SKIP() << "no " << ptxas << " (the CUDA toolkit's assembler) here";
  const std::string bitcode = LEIP_CUDA_DEVICE_BITCODE;
  ASSERT_TRUE(std::filesystem::exists(bitcode)) << bitcode << " (build target leip_bitcode)";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("leip_cuda_qptx_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::pair<const char *, const char *> arches[] = {{"sm_75", "ptx63"}, {"sm_90", "ptx78"}};
  for (const auto &[arch, ptx] : arches) {
    const std::string ptxFile = (dir / (std::string(arch) + ".ptx")).string();
    const std::string log = (dir / (std::string(arch) + ".log")).string();
    const std::string llc = "llc-16 -O3 -march=nvptx64 -mcpu=" + std::string(arch) + " -mattr=+" + ptx + " '" +
                            bitcode + "' -o '" + ptxFile + "' > '" + log + "' 2>&1";
    ASSERT_EQ(std::system(llc.c_str()), 0) << llc;
    const std::string as = std::string(ptxas) + " -c -arch=" + arch + " '" + ptxFile + "' -o '" +
                           (dir / (std::string(arch) + ".o")).string() + "' > '" + log + "' 2>&1";
    EXPECT_EQ(std::system(as.c_str()), 0) << as;
    std::ifstream in(ptxFile);
    std::stringstream text;
    text << in.rdbuf();
    const std::string ptxText = text.str();
    for (const char *name : {"leip_g_qconv2d_64x64", "leip_g_qconv2d_32x32s4", "leip_g_qconv2d_16x16s4",
                             "leip_g_qconv2d_4x16s4", "leip_g_qconv2d_depthwise", "leip_g_quantize",
                             "leip_g_dequantize", "leip_g_maxpool_u8", "leip_g_maxpool_i8"})
      EXPECT_NE(ptxText.find(std::string(".func ") + name + "("), std::string::npos) << arch << ": no " << name;
    EXPECT_NE(ptxText.find("dp4a.u32.s32"), std::string::npos) << arch;
    EXPECT_NE(ptxText.find("dp4a.s32.s32"), std::string::npos) << arch;
    EXPECT_EQ(ptxText.find(".extern .func"), std::string::npos) << arch;
  }
  std::filesystem::remove_all(dir);
}

} // namespace
