// Compiled artifacts against the reference interpreter, through the C++ runtime wrapper
// (dlopen): outputs within 1e-4 relative, bad inputs rejected with codes, two compiles in
// one process, and a clear error for ops without a kernel.
#include "leip/codegen/Compiler.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/interp/Interpreter.h"
#include "leip/passes/ShapeInference.h"
#include "leip/runtime.hpp"
#include "leip/support/Error.h"

#include "CompiledCheck.h"
#include "TestWorkDir.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>

namespace fs = std::filesystem;
using namespace leip;

namespace {

using leip::test::workRoot;

fs::path workDir(const std::string &name) {
  fs::path dir = workRoot() / name;
  fs::remove_all(dir);
  fs::create_directories(dir.parent_path());
  return dir;
}

/// The first `count` Fashion-MNIST test images as float [count,1,28,28] in [0,1]; random
/// values when the dataset package is absent (the comparison is what matters).
std::vector<float> fashionImages(int count) {
  std::vector<float> pixels(static_cast<size_t>(count) * 28 * 28);
  gzFile f = gzopen("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "rb");
  std::vector<unsigned char> raw(16 + pixels.size());
  if (f && gzread(f, raw.data(), static_cast<unsigned>(raw.size())) == static_cast<int>(raw.size())) {
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = raw[16 + i] / 255.0f;
  } else {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (float &p : pixels) p = u(rng);
  }
  if (f) gzclose(f);
  return pixels;
}

double relativeError(const std::vector<float> &got, const ir::Tensor &want) {
  double diff = 0, scale = 0;
  auto w = want.values<float>();
  if (got.size() != w.size()) return INFINITY;
  for (size_t i = 0; i < w.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - w[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(w[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

std::unique_ptr<ir::Graph> loadExample(const std::string &name, const std::string &shapes = "") {
  frontend::ImportOptions options;
  options.inputShapes = frontend::parseInputShapes(shapes);
  return frontend::loadModel(std::string(LEIP_SOURCE_DIR) + "/models/" + name + ".onnx", options);
}

codegen::CompileResult compile(const ir::Graph &graph, const fs::path &dir, const std::string &model) {
  codegen::CompileOptions options;
  options.target = codegen::hostTarget();
  options.sourcePath = std::string(LEIP_SOURCE_DIR) + "/models/" + model + ".onnx";
  options.outputDir = dir.string();
  return codegen::compileGraph(graph, options);
}

/// Compiles an example model at batch `batch`, runs it on Fashion-MNIST images and
/// compares with the interpreter.
void checkAgainstInterpreter(const std::string &model, int batch) {
  auto graph = loadExample(model, std::to_string(batch) + ",1,28,28");
  fs::path dir = workDir(model + "_b" + std::to_string(batch));
  codegen::CompileResult result = compile(*graph, dir, model);
  ASSERT_TRUE(fs::exists(result.libraryPath));
  ASSERT_TRUE(fs::exists(result.schemaPath));

  runtime::Model compiled(dir.string());
  ASSERT_EQ(compiled.inputs().size(), 1u);
  EXPECT_EQ(compiled.inputs()[0].shape, (std::vector<int64_t>{batch, 1, 28, 28}));
  compiled.setThreads(2);
  compiled.warmUp();

  std::vector<float> images = fashionImages(batch);
  ir::Tensor input = ir::Tensor::fromVector(ir::DType::F32, {batch, 1, 28, 28}, images);
  std::vector<ir::Tensor> want = interp::Interpreter(*graph).run({input});
  std::vector<std::vector<float>> got = compiled.infer({images.data()});
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_LE(relativeError(got[i], want[i]), 1e-4) << model << " output " << i;
}

} // namespace

TEST(Codegen, FmnistCnnMatchesInterpreter) { checkAgainstInterpreter("fmnist_cnn", 1); }

TEST(Codegen, FmnistCnnBatch4MatchesInterpreter) { checkAgainstInterpreter("fmnist_cnn", 4); }

// BatchNormalization folding, Conv + ReLU fusion, residual Add + ReLU, Gemm.
TEST(Codegen, FmnistResnetMatchesInterpreter) { checkAgainstInterpreter("fmnist_resnet", 1); }
TEST(Codegen, FmnistResnetBatch4MatchesInterpreter) { checkAgainstInterpreter("fmnist_resnet", 4); }

// Depthwise and 1x1 convolutions, Clip (ReLU6) fused into Conv.
TEST(Codegen, FmnistMobilenetV2MatchesInterpreter) { checkAgainstInterpreter("fmnist_mobilenetv2", 1); }
TEST(Codegen, FmnistMobilenetV2Batch4MatchesInterpreter) { checkAgainstInterpreter("fmnist_mobilenetv2", 4); }

// The ops the example models do not use, on a small graph with random data: Transpose,
// Slice (negative step), Pad (constant, reflect), Concat, Expand, MatMul (broadcast batch),
// broadcasting binary ops with a fused activation, unary ops, Softmax, LogSoftmax.
TEST(Codegen, DataMovementAndElementwiseOpsMatchInterpreter) {
  ir::Graph graph;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto constant = [&](ir::Shape shape) {
    ir::Tensor t(ir::DType::F32, shape);
    for (float &v : t.values<float>()) v = u(rng);
    return graph.addConstant(graph.uniqueName("c"), t);
  };
  auto ints = [&](std::vector<int64_t> v) {
    return graph.addConstant(graph.uniqueName("i"),
                             ir::Tensor::fromVector<int64_t>(ir::DType::I64, {static_cast<int64_t>(v.size())}, v));
  };
  auto node = [&](const std::string &op, std::vector<ir::Value *> in,
                  std::vector<std::pair<std::string, ir::Attribute>> attrs = {}) {
    ir::Node *n = graph.addNode(op, graph.uniqueName(op), in, {graph.uniqueName(op + "_y")});
    for (auto &[k, v] : attrs) n->attrs().set(k, v);
    return n->output(0);
  };
  ir::Value *x = graph.addInput("x", ir::TensorType{ir::DType::F32, {2, 3, 4, 5}, {}});
  ir::Value *t = node("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}});            // [2,4,5,3]
  ir::Value *sl = node("Slice", {t, ints({3, 0}), ints({0, 5}), ints({1, 2}), ints({-1, 2})});     // [2,3,3,3]
  ir::Value *pad = node("Pad", {sl, ints({0, 0, 1, 0, 0, 0, 0, 2})}, {{"mode", std::string("reflect")}}); // [2,3,4,5]
  ir::Value *pad2 = node("Pad", {x, ints({0, 1, 0, 2, 0, 0, 1, -1})});                              // [2,4,5,6]
  ir::Value *cat = node("Concat", {pad, pad}, {{"axis", int64_t{1}}});                             // [2,6,4,5]
  ir::Value *add = node("Add", {cat, constant({6, 1, 5})});
  ir::Value *relu = node("Relu", {add});
  ir::Value *mm = node("MatMul", {relu, constant({5, 4})});                                        // [2,6,4,4]
  ir::Value *mm2 = node("MatMul", {constant({6, 2, 4}), mm});                                      // [2,6,2,4]
  ir::Value *ex = node("Expand", {constant({1, 6, 1, 1}), ints({2, 6, 2, 4})});
  ir::Value *mx = node("Max", {mm2, ex});
  ir::Value *th = node("Tanh", {mx});
  ir::Value *sm = node("Softmax", {th}, {{"axis", int64_t{1}}});
  ir::Value *lsm = node("LogSoftmax", {pad2});
  ir::Value *hs = node("HardSwish", {node("Sub", {lsm, constant({6})})});
  graph.addOutput(sm);
  graph.addOutput(hs);
  passes::inferShapes(graph);

  fs::path dir = workDir("ops");
  compile(graph, dir, "none");
  runtime::Model compiled(dir.string());
  std::vector<float> input(2 * 3 * 4 * 5);
  for (float &v : input) v = u(rng);
  std::vector<ir::Tensor> want =
      interp::Interpreter(graph).run({ir::Tensor::fromVector(ir::DType::F32, {2, 3, 4, 5}, input)});
  std::vector<std::vector<float>> got = compiled.infer({input.data()});
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_LE(relativeError(got[i], want[i]), 1e-5) << "output " << i;
}

TEST(Codegen, ArtifactNeedsOnlyLibcLibmLibpthread) {
  auto graph = loadExample("fmnist_cnn");
  fs::path dir = workDir("needed");
  compile(*graph, dir, "fmnist_cnn");
  std::string command = "readelf -d '" + (dir / "modelLibrary.so").string() + "'";
  FILE *pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) text += line;
  ASSERT_EQ(::pclose(pipe), 0) << "readelf failed";
  int needed = 0;
  for (size_t pos = 0; (pos = text.find("(NEEDED)", pos)) != std::string::npos; ++pos) {
    size_t open = text.find('[', pos), close = text.find(']', pos);
    std::string lib = text.substr(open + 1, close - open - 1);
    EXPECT_TRUE(lib == "libc.so.6" || lib == "libm.so.6" || lib == "libpthread.so.0") << lib;
    ++needed;
  }
  EXPECT_GE(needed, 1);
}

// Every kernel is inlined into its node function, where the node's constant shapes
// specialize it (a helper left out of line with the shapes behind a reference once kept
// the integer kernels from folding any: QConvCodegen.KernelsAreInlinedIntoTheNodeFunctions).
// The example models' libraries define only what a one-Relu library does, plus their
// node functions.
TEST(Codegen, KernelsAreInlinedIntoTheNodeFunctions) {
  const std::set<std::string> runtime = test::runtimeFunctions();
  if (runtime.empty()) GTEST_SKIP() << "nm (binutils) cannot list the library's functions";
  for (const char *model : {"fmnist_cnn", "fmnist_mobilenetv2", "fmnist_resnet"}) {
    auto graph = loadExample(model);
    fs::path dir = workDir(std::string("inlined_") + model);
    compile(*graph, dir, model);
    int nodes = 0;
    for (const std::string &name : test::functionsBesideNodes(dir / "modelLibrary.so", runtime, nodes))
      ADD_FAILURE() << model << ": " << name << " is a function of its own";
    EXPECT_GE(nodes, 5) << model;
  }
}

TEST(Codegen, TwoCompilesInOneProcess) {
  auto graph = loadExample("fmnist_cnn");
  fs::path first = workDir("first"), second = workDir("second");
  compile(*graph, first, "fmnist_cnn");
  compile(*graph, second, "fmnist_cnn");
  // Compiling again into the same directory replaces the artifact.
  compile(*graph, second, "fmnist_cnn");
  runtime::Model a(first.string()), b(second.string());
  std::vector<float> image = fashionImages(1);
  EXPECT_EQ(a.infer({image.data()}), b.infer({image.data()}));
}

TEST(Codegen, BadInputsAreRejectedWithCodes) {
  auto graph = loadExample("fmnist_cnn");
  fs::path dir = workDir("bad_inputs");
  compile(*graph, dir, "fmnist_cnn");
  runtime::Model model(dir.string());
  std::vector<float> image(28 * 28), logits(10);
  const void *in[] = {image.data()};
  void *out[] = {logits.data()};
  int64_t inBytes[] = {28 * 28 * 4}, outBytes[] = {40};
  int64_t wrongBytes[] = {28 * 28};
  // Through dlsym: the test does not link the artifact.
  auto leip_context_run = model.symbol<decltype(&::leip_context_run)>("leip_context_run");
  auto leip_context_set_threads = model.symbol<decltype(&::leip_context_set_threads)>("leip_context_set_threads");
  auto leip_model_check_input = model.symbol<decltype(&::leip_model_check_input)>("leip_model_check_input");
  EXPECT_EQ(leip_context_run(model.context(), in, wrongBytes, out, outBytes), LEIP_ERROR_SHAPE);
  EXPECT_NE(model.lastError().find("input"), std::string::npos);
  const void *nullIn[] = {nullptr};
  EXPECT_EQ(leip_context_run(model.context(), nullIn, inBytes, out, outBytes), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(leip_context_run(model.context(), in, inBytes, out, outBytes), LEIP_OK);
  EXPECT_EQ(leip_context_set_threads(model.context(), 0), LEIP_ERROR_INVALID_ARGUMENT);
  int64_t dims[] = {1, 1, 28, 28}, wrongDims[] = {1, 1, 28, 27};
  EXPECT_EQ(leip_model_check_input(model.model(), 0, LEIP_DTYPE_FLOAT32, 4, dims), LEIP_OK);
  EXPECT_EQ(leip_model_check_input(model.model(), 0, LEIP_DTYPE_INT64, 4, dims), LEIP_ERROR_DTYPE);
  EXPECT_EQ(leip_model_check_input(model.model(), 0, LEIP_DTYPE_FLOAT32, 4, wrongDims), LEIP_ERROR_SHAPE);
  EXPECT_EQ(leip_model_check_input(model.model(), 3, LEIP_DTYPE_FLOAT32, 4, dims), LEIP_ERROR_INVALID_ARGUMENT);
}

TEST(Codegen, NodeTheCompilerCannotLowerIsABadInputErrorNamingIt) {
  // A 3-D convolution: the interpreter runs it, the compiler has no kernel for it yet.
  ir::Graph graph;
  ir::Value *x = graph.addInput("x", ir::TensorType{ir::DType::F32, {1, 2, 5, 5, 5}, {}});
  ir::Value *w = graph.addConstant("w", ir::Tensor(ir::DType::F32, {4, 2, 3, 3, 3}));
  ir::Node *node = graph.addNode("Conv", "squash", {x, w}, {"y"});
  node->outputs()[0]->setType(ir::TensorType{ir::DType::F32, {1, 4, 3, 3, 3}, {}});
  graph.addOutput(node->outputs()[0]);
  fs::path dir = workDir("unsupported");
  try {
    compile(graph, dir, "none");
    FAIL() << "compiling a 3-D Conv should fail";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("squash"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("op Conv cannot be compiled yet (only 1-D and 2-D convolution"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST(Codegen, TargetParsing) {
  EXPECT_EQ(codegen::parseTarget("aarch64").triple, "aarch64-linux-gnu");
  codegen::Target t = codegen::parseTarget("llvm -mcpu=skylake-avx512");
  EXPECT_EQ(t.arch, "x86_64");
  EXPECT_EQ(t.cpu, "skylake-avx512");
  EXPECT_EQ(t.features, "");
  EXPECT_EQ(codegen::parseTarget("x86_64 -mcpu=haswell -mattr=+avx2,+fma").features, "+avx2,+fma");
  EXPECT_THROW(codegen::parseTarget("riscv"), UsageError);
  EXPECT_THROW(codegen::parseTarget("x86_64 -O3"), UsageError);
}
