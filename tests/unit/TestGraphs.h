// Helpers shared by the unit tests that build small graphs and compare their function
// before and after a rewrite (PassesTest, EqualizeTest).
#pragma once

#include "leip/ir/Graph.h"
#include "leip/passes/ShapeInference.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace leip::test {

/// f32 values uniform in [lo, hi).
inline ir::Tensor randomTensor(const ir::Shape &shape, std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f) {
  ir::Tensor t(ir::DType::F32, shape);
  std::uniform_real_distribution<float> u(lo, hi);
  for (float &v : t.values<float>()) v = u(rng);
  return t;
}

/// One random tensor per graph input, in [-1, 1).
inline std::vector<ir::Tensor> randomInputs(const ir::Graph &graph, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<ir::Tensor> inputs;
  for (const ir::Value *in : graph.inputs()) inputs.push_back(randomTensor(in->type().shape, rng));
  return inputs;
}

/// max |got - want| / max |want| (infinite when the sizes differ).
inline double relativeError(const ir::Tensor &got, const ir::Tensor &want) {
  auto g = got.values<float>();
  auto w = want.values<float>();
  if (g.size() != w.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(g[i]) - w[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(w[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

/// Builds small graphs: f32 inputs, constants (random or given), nodes; finish() infers the
/// shapes.
class GraphBuilder {
public:
  explicit GraphBuilder(unsigned seed = 3) : rng_(seed) {}
  ir::Value *input(const std::string &name, const ir::Shape &shape) {
    return graph.addInput(name, ir::TensorType{ir::DType::F32, shape, {}});
  }
  ir::Value *constant(ir::Tensor t) { return graph.addConstant(graph.uniqueName("c"), std::move(t)); }
  ir::Value *random(const ir::Shape &shape, float lo = -1.0f, float hi = 1.0f) {
    return constant(randomTensor(shape, rng_, lo, hi));
  }
  ir::Value *scalar(float v) { return constant(ir::Tensor::scalar(v)); }
  ir::Node *node(const std::string &op, std::vector<ir::Value *> inputs,
                 const std::vector<std::pair<std::string, ir::Attribute>> &attrs = {}) {
    ir::Node *n = graph.addNode(op, graph.uniqueName(op), inputs, {graph.uniqueName(op + "_out")});
    for (const auto &[k, v] : attrs) n->attrs().set(k, v);
    return n;
  }
  ir::Graph &finish(const std::vector<ir::Value *> &outputs) {
    for (ir::Value *v : outputs) graph.addOutput(v);
    passes::inferShapes(graph);
    return graph;
  }

  ir::Graph graph;

protected:
  std::mt19937 rng_;
};

} // namespace leip::test
