// Executes a whole graph with the reference kernels.
#pragma once

#include "leip/ir/Graph.h"

#include <functional>
#include <vector>

namespace leip::interp {

class Interpreter {
public:
  /// Checks that every node has a kernel; throws BadInputError listing those that do not.
  explicit Interpreter(const ir::Graph &graph);

  /// Called after each node with its outputs (for calibration and per-layer comparison).
  using NodeObserver = std::function<void(const ir::Node &, const std::vector<ir::Tensor> &)>;

  /// Runs the graph on `inputs`, given in graph-input order. Each input must have the
  /// graph input's dtype and static shape (BadInputError naming the input otherwise).
  /// Intermediate tensors are released after their last use. Returns outputs in
  /// graph-output order.
  std::vector<ir::Tensor> run(const std::vector<ir::Tensor> &inputs, const NodeObserver &observer = {}) const;

private:
  const ir::Graph &graph_;
  std::vector<ir::Node *> order_;
};

} // namespace leip::interp
