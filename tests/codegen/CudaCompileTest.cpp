// The cuda target on a machine without a GPU: `--target cuda` parsing, the example models
// compiled for every supported arch with their PTX checked by ptxas (skipped, with the
// reason, when the CUDA toolkit is absent), a library that needs no CUDA library at link
// time, that describes its model and reports the missing driver cleanly, and clear errors
// for what the target cannot compile. The kernels' arithmetic is tested by
// leip_cuda_kernel_tests (emulated) and on a GPU by tools/gpu-check.sh.
#include "leip/codegen/Compiler.h"
#include "leip/codegen/Target.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/runtime.h"
#include "leip/support/Error.h"

#include "TestWorkDir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;
using namespace leip;

namespace {

const char *const kPtxas = "/usr/local/cuda/bin/ptxas";
const char *const kExampleModels[] = {"fmnist_cnn", "fmnist_resnet", "fmnist_mobilenetv2"};

fs::path workDir(const std::string &name) {
  fs::path dir = leip::test::workRoot() / name;
  fs::remove_all(dir);
  fs::create_directories(dir.parent_path());
  return dir;
}

codegen::CompileResult compileForCuda(const ir::Graph &graph, const fs::path &dir, const std::string &target) {
  codegen::CompileOptions options;
  options.target = codegen::parseTarget(target);
  options.outputDir = dir.string();
  return codegen::compileGraph(graph, options);
}

std::unique_ptr<ir::Graph> exampleModel(const std::string &name) {
  frontend::ImportOptions options;
  options.inputShapes = frontend::parseInputShapes("input:1,1,28,28");
  return frontend::loadModel(std::string(LEIP_SOURCE_DIR) + "/models/" + name + ".onnx", options);
}

/// Runs `command`, returning its exit status and its combined output.
std::pair<int, std::string> run(const std::string &command) {
  std::array<char, 4096> buffer{};
  std::string output;
  FILE *pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

nlohmann::json readJson(const fs::path &path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(CudaTarget, ParsesArchAndHost) {
  codegen::Target t = codegen::parseTarget("cuda");
  EXPECT_TRUE(t.isCuda());
  EXPECT_EQ(t.gpuArch, "sm_80");
  EXPECT_EQ(t.hostArch(), "x86_64");
  t = codegen::parseTarget("cuda -arch=sm_90");
  EXPECT_EQ(t.gpuArch, "sm_90");
  EXPECT_EQ(t.describe(), "cuda (sm_90, host x86_64)");
  t = codegen::parseTarget("cuda -arch=sm_87 -host=aarch64");
  EXPECT_EQ(t.hostArch(), "aarch64");
  EXPECT_EQ(t.triple, "aarch64-linux-gnu");
  EXPECT_FALSE(codegen::parseTarget("x86_64").isCuda());
}

TEST(CudaTarget, RejectsUnknownArchsAndOptionsNamingThem) {
  try {
    codegen::parseTarget("cuda -arch=sm_61");
    FAIL() << "sm_61 is older than leip supports";
  } catch (const UsageError &e) {
    EXPECT_NE(std::string(e.what()).find("unsupported arch 'sm_61'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sm_75"), std::string::npos) << e.what();
  }
  EXPECT_THROW(codegen::parseTarget("cuda -mcpu=sm_80"), UsageError);
  EXPECT_THROW(codegen::parseTarget("cuda -host=riscv64"), UsageError);
}

TEST(CudaCompile, ExampleModelsGivePtxThatPtxasAcceptsForEveryArch) {
  const bool havePtxas = fs::exists(kPtxas);
  for (const std::string &arch : codegen::cudaArchs()) {
    for (const char *name : kExampleModels) {
      SCOPED_TRACE(std::string(name) + " " + arch);
      std::unique_ptr<ir::Graph> graph = exampleModel(name);
      fs::path dir = workDir(std::string("ptx_") + name + "_" + arch);
      compileForCuda(*graph, dir, "cuda -arch=" + arch);
      ASSERT_TRUE(fs::exists(dir / "modelLibrary.so"));
      nlohmann::json schema = readJson(dir / "model_schema.json");
      EXPECT_EQ(schema["target"]["arch"], "cuda");
      EXPECT_EQ(schema["gpu"]["arch"], arch);
      EXPECT_GT(schema["gpu"]["kernel_launches"].get<int>(), 3);
      std::ifstream ptxFile(dir / "kernels.ptx");
      std::stringstream ptx;
      ptx << ptxFile.rdbuf();
      EXPECT_NE(ptx.str().find(".target " + arch), std::string::npos);
      EXPECT_NE(ptx.str().find(".entry leip_gpu_0"), std::string::npos);
      if (!havePtxas) continue;
      auto [status, output] = run(std::string(kPtxas) + " -arch=" + arch + " " + (dir / "kernels.ptx").string() +
                                  " -o " + (dir / "kernels.cubin").string());
      EXPECT_EQ(status, 0) << output;
    }
  }
  if (!havePtxas) GTEST_SKIP() << kPtxas << " is absent (no CUDA toolkit): the PTX was generated but not assembled";
}

TEST(CudaCompile, LibraryNeedsNoCudaLibraryAndReportsTheMissingDriver) {
  std::unique_ptr<ir::Graph> graph = exampleModel("fmnist_resnet");
  fs::path dir = workDir("no_driver");
  compileForCuda(*graph, dir, "cuda -arch=sm_80");

  auto [status, dynamic] = run("readelf -d " + (dir / "modelLibrary.so").string());
  ASSERT_EQ(status, 0) << dynamic;
  std::istringstream lines(dynamic);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("(NEEDED)") == std::string::npos) continue;
    const bool allowed = line.find("[libc.so.6]") != std::string::npos || line.find("[libm.so.6]") != std::string::npos ||
                         line.find("[libpthread.so.0]") != std::string::npos ||
                         line.find("[libdl.so.2]") != std::string::npos;
    EXPECT_TRUE(allowed) << "unexpected dependency: " << line;
  }

  // Whether this machine has a driver decides which error the context reports.
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver) {
    dlclose(driver);
    GTEST_SKIP() << "this machine has an NVIDIA driver (libcuda.so.1): the missing-driver path cannot be checked";
  }
  void *library = dlopen((dir / "modelLibrary.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  auto modelGet = reinterpret_cast<const leip_model *(*)()>(dlsym(library, "leip_model_get"));
  auto numInputs = reinterpret_cast<int32_t (*)(const leip_model *)>(dlsym(library, "leip_model_num_inputs"));
  auto inputDims = reinterpret_cast<const int64_t *(*)(const leip_model *, int32_t)>(
      dlsym(library, "leip_model_input_dims"));
  auto create = reinterpret_cast<leip_status (*)(const leip_model *, leip_context **)>(
      dlsym(library, "leip_context_create"));
  auto lastError = reinterpret_cast<const char *(*)()>(dlsym(library, "leip_last_error"));
  ASSERT_TRUE(modelGet && numInputs && inputDims && create && lastError);
  const leip_model *model = modelGet();
  ASSERT_EQ(numInputs(model), 1);
  EXPECT_EQ(inputDims(model, 0)[3], 28);
  leip_context *context = nullptr;
  EXPECT_EQ(create(model, &context), LEIP_ERROR_DEVICE);
  EXPECT_EQ(context, nullptr);
  EXPECT_NE(std::string(lastError()).find("libcuda.so.1"), std::string::npos) << lastError();
  dlclose(library);
}

/// x [1,4,6,6] -> Conv 3x3 pad 1 (+ optional Relu attribute) -> Add(conv, x) -> Relu -> y.
std::unique_ptr<ir::Graph> convAddRelu(bool convHasActivation) {
  auto graph = std::make_unique<ir::Graph>();
  const ir::TensorType type{ir::DType::F32, {1, 4, 6, 6}, {}};
  ir::Value *x = graph->addInput("x", type);
  ir::Tensor weights(ir::DType::F32, {4, 4, 3, 3});
  for (size_t i = 0; i < weights.values<float>().size(); ++i) weights.values<float>()[i] = 0.01f * static_cast<float>(i % 7);
  ir::Value *w = graph->addConstant("w", std::move(weights));
  ir::Node *conv = graph->addNode("Conv", "conv", {x, w}, {"c"});
  conv->attrs().set("pads", std::vector<int64_t>{1, 1, 1, 1});
  if (convHasActivation) conv->attrs().set("activation", std::string("Relu"));
  conv->outputs()[0]->setType(type);
  ir::Node *add = graph->addNode("Add", "add", {conv->outputs()[0], x}, {"s"});
  add->outputs()[0]->setType(type);
  ir::Node *relu = graph->addNode("Relu", "relu", {add->outputs()[0]}, {"y"});
  relu->outputs()[0]->setType(type);
  graph->addOutput(relu->outputs()[0]);
  return graph;
}

TEST(CudaCompile, ResidualAddAndItsActivationFoldIntoTheConvolution) {
  fs::path dir = workDir("residual");
  compileForCuda(*convAddRelu(false), dir, "cuda");
  EXPECT_EQ(readJson(dir / "model_schema.json")["gpu"]["kernel_launches"], 1);
  // A convolution with its own activation keeps the Add (the sum comes after that activation).
  compileForCuda(*convAddRelu(true), dir, "cuda");
  EXPECT_EQ(readJson(dir / "model_schema.json")["gpu"]["kernel_launches"], 2);
}

TEST(CudaCompile, OpWithoutACudaKernelIsABadInputErrorNamingTheNode) {
  ir::Graph graph;
  ir::Value *x = graph.addInput("x", ir::TensorType{ir::DType::F32, {1, 8}, {}});
  ir::Node *node = graph.addNode("Cos", "wave", {x}, {"y"});
  node->outputs()[0]->setType(ir::TensorType{ir::DType::F32, {1, 8}, {}});
  graph.addOutput(node->outputs()[0]);
  fs::path dir = workDir("unsupported");
  try {
    compileForCuda(graph, dir, "cuda");
    FAIL() << "Cos has no cuda kernel";
  } catch (const BadInputError &e) {
    EXPECT_NE(std::string(e.what()).find("wave"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("op Cos cannot be compiled for cuda yet"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir)) << "a failed compile must leave no output directory";
}

} // namespace
