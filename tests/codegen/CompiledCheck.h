// What the per-op-family codegen tests share: compile a graph into a scratch directory, run
// the artifact through include/leip/runtime.hpp at a given thread count, and compare an
// output with the interpreter's tensor.
#pragma once

#include "leip/codegen/Compiler.h"
#include "leip/ir/Graph.h"
#include "leip/passes/ShapeInference.h"
#include "leip/runtime.hpp"

#include "TestWorkDir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace leip::test {

/// Compiles `graph` for `target` ("" is the host) into a fresh scratch directory `name`.
inline std::filesystem::path compileForTest(const ir::Graph &graph, const std::string &name,
                                            const std::string &target = "") {
  std::filesystem::path dir = workRoot() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir.parent_path());
  codegen::CompileOptions options;
  options.target = target.empty() ? codegen::hostTarget() : codegen::parseTarget(target);
  options.sourcePath = name;
  options.outputDir = dir.string();
  codegen::compileGraph(graph, options);
  return dir;
}

/// The names of the functions `library` defines (nm), or an empty set when nm fails. Every
/// kernel is meant to be inlined into its node function, where the node's constant shapes
/// specialize it: a library defines its node functions, the runtime's, and nothing else.
inline std::set<std::string> definedFunctions(const std::filesystem::path &library) {
  std::set<std::string> names;
  FILE *pipe = ::popen(("nm --defined-only '" + library.string() + "' 2>/dev/null").c_str(), "r");
  if (!pipe) return names;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::istringstream fields(line);
    std::string address, type, name;
    if (fields >> address >> type >> name && (type == "t" || type == "T")) names.insert(name);
  }
  if (::pclose(pipe) != 0) names.clear();
  return names;
}

/// The functions every library defines whatever its nodes (the runtime's): those of a
/// one-Relu library compiled for `target` ("" is the host); empty when nm cannot list them.
inline std::set<std::string> runtimeFunctions(const std::string &target = "") {
  ir::Graph relu;
  ir::Value *x = relu.addInput("x", ir::TensorType{ir::DType::F32, {1, 8}, {}});
  relu.addOutput(relu.addNode("Relu", "relu", {x}, {"y"})->output(0));
  passes::inferShapes(relu);
  const std::filesystem::path dir = compileForTest(relu, "runtime_functions", target);
  std::set<std::string> names = definedFunctions(dir / "modelLibrary.so");
  std::filesystem::remove_all(dir);
  return names;
}

/// The functions `library` defines besides its node functions and `runtime`'s: kernels or
/// helpers left out of line. `nodes` counts its node functions.
inline std::vector<std::string> functionsBesideNodes(const std::filesystem::path &library,
                                                     const std::set<std::string> &runtime, int &nodes) {
  std::vector<std::string> stray;
  nodes = 0;
  for (const std::string &name : definedFunctions(library)) {
    if (name.rfind("leip_node_", 0) == 0) ++nodes;
    else if (!runtime.count(name)) stray.push_back(name);
  }
  return stray;
}

/// Runs the artifact in `dir` on `inputs` with `threads` threads; the outputs' bytes. Every
/// node runs split across the threads (LEIP_SPLIT_EVERY_NODE), however small, so that the
/// kernels' task ranges are tested, not only the single-thread path small nodes take.
inline std::vector<std::vector<char>> runCompiled(const std::filesystem::path &dir,
                                                  const std::vector<ir::Tensor> &inputs, int threads) {
  ::setenv("LEIP_SPLIT_EVERY_NODE", "1", 1);
  runtime::Model model(dir.string());
  model.setThreads(threads);
  std::vector<const void *> in;
  for (const ir::Tensor &t : inputs) in.push_back(t.rawData());
  std::vector<std::vector<char>> out;
  model.inferRaw(in, out);
  return out;
}

/// A compiled output against the interpreter's: non-float tensors byte for byte; float32
/// within 1e-4 of the largest finite magnitude (at least `floor`), NaN where NaN is
/// expected, infinities exact.
inline void expectCloseToInterpreter(const std::vector<char> &got, const ir::Tensor &want, const std::string &what,
                                     double floor = 1e-30) {
  ASSERT_EQ(got.size(), want.byteSize()) << what;
  if (want.dtype() != ir::DType::F32) {
    EXPECT_EQ(std::memcmp(got.data(), want.rawData(), got.size()), 0)
        << what << " (" << want.type().toString() << ") differs";
    return;
  }
  std::vector<float> g(static_cast<size_t>(want.numElements()));
  std::memcpy(g.data(), got.data(), got.size());
  const float *w = want.data<float>();
  double scale = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (std::isfinite(w[i])) scale = std::max(scale, std::fabs(static_cast<double>(w[i])));
  const double tolerance = std::max(1e-4 * scale, floor);
  for (size_t i = 0; i < g.size(); ++i) {
    const bool same = std::isnan(w[i])   ? std::isnan(g[i])
                      : std::isinf(w[i]) ? g[i] == w[i]
                                         : std::fabs(static_cast<double>(g[i]) - w[i]) <= tolerance;
    if (!same) {
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", the interpreter gives " << w[i];
      return;
    }
  }
}

} // namespace leip::test
