// The artifact runtime's thread pool, through the C++ wrapper (dlopen): outputs are
// bitwise identical for every thread count (each task writes disjoint outputs), the count
// can change between runs, and several contexts infer concurrently from different threads.
#include "leip/codegen/Compiler.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/runtime.hpp"

#include "TestWorkDir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace leip;

namespace {

using leip::test::workRoot;

/// An example model compiled once per batch size for the host. fmnist_cnn has every
/// kernel family of the first slice (conv, pooling, gemm, relu, reshape); the other two add
/// residual adds, depthwise convs and global pooling.
const fs::path &artifact(const std::string &model, int batch) {
  static std::map<std::pair<std::string, int>, fs::path> built;
  auto it = built.find({model, batch});
  if (it != built.end()) return it->second;
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(std::to_string(batch) + ",1,28,28");
  std::string source = std::string(LEIP_SOURCE_DIR) + "/models/" + model + ".onnx";
  auto graph = frontend::loadModel(source, importOptions);
  fs::path dir = workRoot() / (model + "_b" + std::to_string(batch));
  fs::create_directories(workRoot());
  codegen::CompileOptions options;
  options.target = codegen::hostTarget();
  options.sourcePath = source;
  options.outputDir = dir.string();
  codegen::compileGraph(*graph, options);
  return built[{model, batch}] = dir;
}

const fs::path &artifact(int batch) { return artifact("fmnist_cnn", batch); }

std::vector<float> randomInput(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> values(count);
  for (float &v : values) v = u(rng);
  return values;
}

} // namespace

TEST(Runtime, DefaultIsOneThread) {
  runtime::Model model(artifact(1).string());
  EXPECT_EQ(model.threads(), 1);
  model.setThreads(3);
  EXPECT_EQ(model.threads(), 3);
  EXPECT_THROW(model.setThreads(0), std::runtime_error);
  EXPECT_THROW(model.setThreads(LEIP_MAX_THREADS + 1), std::runtime_error);
  EXPECT_NE(model.lastError().find("thread count"), std::string::npos) << model.lastError();
  EXPECT_EQ(model.threads(), 3);
}

TEST(Runtime, OutputsAreBitwiseIdenticalForAnyThreadCount) {
  const std::pair<const char *, int> cases[] = {
      {"fmnist_cnn", 1}, {"fmnist_cnn", 4}, {"fmnist_resnet", 2}, {"fmnist_mobilenetv2", 2}};
  for (const auto &[name, batch] : cases) {
    SCOPED_TRACE(name);
    runtime::Model model(artifact(name, batch).string());
    std::vector<float> input = randomInput(static_cast<size_t>(batch) * 28 * 28, 7);
    std::vector<std::vector<float>> one = model.infer({input.data()});
    ASSERT_EQ(one.size(), 1u);
    ASSERT_EQ(one[0].size(), static_cast<size_t>(batch) * 10);
    // Changing the count between runs restarts the pool; 7 exceeds some nodes' task counts
    // (a batch-1 Gemm has one row), so some threads get no task for those nodes.
    for (int threads : {2, 4, 1, 7, 2}) {
      model.setThreads(threads);
      for (int repeat = 0; repeat < 3; ++repeat)
        EXPECT_EQ(model.infer({input.data()}), one) << "batch " << batch << ", " << threads << " threads";
    }
  }
}

TEST(Runtime, ContextsInferConcurrentlyFromTwoThreads) {
  runtime::Model model(artifact(4).string());
  std::vector<float> a = randomInput(4 * 28 * 28, 1), b = randomInput(4 * 28 * 28, 2);
  const std::vector<std::vector<float>> wantA = model.infer({a.data()}), wantB = model.infer({b.data()});
  ASSERT_NE(wantA, wantB);

  // Each thread has its own context (one with a pool of 2, one single-threaded) and
  // checks every result; the main thread keeps inferring on the model's own context.
  constexpr int kIterations = 40;
  auto worker = [&](const std::vector<float> &input, const std::vector<std::vector<float>> &want, int threads,
                    int *mismatches) {
    runtime::Model::Context context = model.newContext();
    context.setThreads(threads);
    for (int i = 0; i < kIterations; ++i)
      if (context.infer({input.data()}) != want) ++*mismatches;
  };
  int mismatchesA = 0, mismatchesB = 0, mismatchesMain = 0;
  std::thread first(worker, std::cref(a), std::cref(wantA), 2, &mismatchesA);
  std::thread second(worker, std::cref(b), std::cref(wantB), 1, &mismatchesB);
  for (int i = 0; i < kIterations; ++i)
    if (model.infer({a.data()}) != wantA) ++mismatchesMain;
  first.join();
  second.join();
  EXPECT_EQ(mismatchesA, 0);
  EXPECT_EQ(mismatchesB, 0);
  EXPECT_EQ(mismatchesMain, 0);
}

TEST(Runtime, ManyContextsWithPoolsAreCreatedAndDestroyed) {
  // Pools are started lazily by the first run and joined on destroy, also when parked.
  runtime::Model model(artifact(1).string());
  std::vector<float> input = randomInput(28 * 28, 3);
  const auto want = model.infer({input.data()});
  for (int i = 0; i < 20; ++i) {
    runtime::Model::Context context = model.newContext();
    context.setThreads(1 + i % 4);
    if (i % 3 != 0) {
      EXPECT_EQ(context.infer({input.data()}), want);
    }
  }
}
