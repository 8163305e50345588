// Lowering of reductions: Reduce*, ArgMax/ArgMin, CumSum (kernels/Reduce.cpp).
#include "Typed.h"

namespace leip::codegen {

namespace {

/// ReduceOp codes of kernels/Reduce.cpp.
const std::map<std::string, int32_t> &reduceOps() {
  static const std::map<std::string, int32_t> ops = {
      {"ReduceSum", 0},       {"ReduceSumSquare", 1}, {"ReduceL1", 2},  {"ReduceL2", 3},  {"ReduceLogSum", 4},
      {"ReduceLogSumExp", 5}, {"ReduceMean", 6},      {"ReduceMax", 7}, {"ReduceMin", 8}, {"ReduceProd", 9}};
  return ops;
}

int64_t lowerReduce(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  auto rank = static_cast<int64_t>(xs.size());
  std::string suffix = kernelSuffix(L, x);
  std::vector<int64_t> axes =
      node.numInputs() > 1 && node.input(1) ? L.constantInts(1, "axes") : node.attrs().getInts("axes");
  if (axes.empty()) {
    if (node.attrs().getInt("noop_with_empty_axes", 0) != 0) {
      L.callKernel("leip_k_copy", {L.address(x), L.address(y)});
      return static_cast<int64_t>(y->type().byteSize());
    }
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  std::vector<bool> reduced(xs.size(), false);
  int64_t count = 1;
  for (int64_t axis : axes) {
    int64_t a = normalizedAxis(L, axis, rank);
    if (reduced[a]) L.fail("axis " + std::to_string(axis) + " appears more than once");
    reduced[a] = true;
    count *= xs[a];
  }

  // Neighbouring dims of one kind merge (the input is contiguous); size-1 dims drop out.
  std::vector<int64_t> strides = ir::stridesOf(xs);
  std::vector<int64_t> kept, keptStrides, red, redStrides;
  bool lastReduced = false;
  for (size_t d = 0; d < xs.size(); ++d) {
    if (xs[d] == 1) continue;
    std::vector<int64_t> &sizes = reduced[d] ? red : kept;
    std::vector<int64_t> &st = reduced[d] ? redStrides : keptStrides;
    if (!sizes.empty() && lastReduced == reduced[d]) {
      sizes.back() *= xs[d];
      st.back() = strides[d];
    } else {
      sizes.push_back(xs[d]);
      st.push_back(strides[d]);
    }
    lastReduced = reduced[d];
  }
  if (kept.size() > 3 || red.size() > 3) L.fail("more than 3 separate groups of reduced or kept dims");
  while (kept.size() < 3) kept.insert(kept.begin(), 1), keptStrides.insert(keptStrides.begin(), 0);
  while (red.size() < 3) red.insert(red.begin(), 1), redStrides.insert(redStrides.begin(), 0);
  std::vector<int64_t> geometry = kept;
  for (const auto *part : {&keptStrides, &red, &redStrides})
    geometry.insert(geometry.end(), part->begin(), part->end());
  geometry.push_back(count);
  L.callKernel("leip_k_reduce_" + suffix,
               {L.address(x), L.address(y), L.i64Array(geometry), L.i32(reduceOps().at(node.opType()))});
  return y->type().numElements();
}

int64_t lowerArgReduce(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 0), static_cast<int64_t>(xs.size()));
  int64_t n = xs[axis], inner = dimProduct(xs, axis + 1, xs.size());
  if (n == 0) L.fail("axis " + std::to_string(axis) + " has size 0");
  L.callKernel("leip_k_argreduce_" + kernelSuffix(L, x),
               {L.address(x), L.address(y), L.i64(n), L.i64(inner), L.i32(node.opType() == "ArgMax"),
                L.i32(node.attrs().getInt("select_last_index", 0) != 0)});
  return x->type().numElements() / n;
}

int64_t lowerCumSum(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  std::string suffix = kernelSuffix(L, x);
  if (suffix != "f32" && suffix != "i32" && suffix != "i64") L.fail("CumSum of " + suffix);
  std::vector<int64_t> axisValue = L.constantInts(1, "axis");
  if (axisValue.size() != 1) L.fail("axis must be a scalar");
  int64_t axis = normalizedAxis(L, axisValue[0], static_cast<int64_t>(xs.size()));
  int64_t len = xs[axis], inner = dimProduct(xs, axis + 1, xs.size());
  L.callKernel("leip_k_cumsum_" + suffix,
               {L.address(x), L.address(y), L.i64(len), L.i64(inner), L.i32(node.attrs().getInt("exclusive", 0) != 0),
                L.i32(node.attrs().getInt("reverse", 0) != 0)});
  return len == 0 ? 0 : x->type().numElements() / len;
}

} // namespace

void addReduceLowerings(LoweringRules &rules) {
  for (const auto &entry : reduceOps()) rules[entry.first] = lowerReduce;
  rules["ArgMax"] = lowerArgReduce;
  rules["ArgMin"] = lowerArgReduce;
  rules["CumSum"] = lowerCumSum;
}

} // namespace leip::codegen
