// Lowering of normalizations: BatchNormalization (when not folded: its parameters are
// computed at run time), InstanceNormalization, LayerNormalization,
// MeanVarianceNormalization and LRN (kernels/Normalization.cpp).
#include "NNCommon.h"

#include <numeric>

namespace leip::codegen {

namespace {

int64_t lowerBatchNorm(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  if (node.attrs().getInt("training_mode", 0) != 0) L.fail("training_mode=1");
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  int64_t planes = dimProduct(xs, 0, 2), plane = dimProduct(xs, 2, xs.size());
  if (planes == 0 || plane == 0) return emptyNode(L);
  L.callKernel("leip_k_batchnorm_f32",
               {L.address(x), L.address(node.input(1)), L.address(node.input(2)), L.address(node.input(3)),
                L.address(node.input(4)), L.address(y), L.i64(xs[1]), L.i64(plane),
                L.f32(node.attrs().getFloat("epsilon", 1e-5f))});
  return planes;
}

int64_t lowerInstanceNorm(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  int64_t planes = dimProduct(xs, 0, 2), plane = dimProduct(xs, 2, xs.size());
  if (planes == 0 || plane == 0) return emptyNode(L);
  L.callKernel("leip_k_instancenorm_f32",
               {L.address(x), L.address(node.input(1)), L.address(node.input(2)), L.address(L.outputs()[0]),
                L.i64(xs[1]), L.i64(plane), L.f32(node.attrs().getFloat("epsilon", 1e-5f))});
  return planes;
}

/// For a Scale/B that broadcasts to `normalized`: null when it already is the full row,
/// else each row position's element offset (numpy broadcasting).
llvm::Value *broadcastOffsets(NodeLowering &L, const ir::Value *v, const ir::Shape &normalized) {
  if (!v || v->type().shape == normalized) return L.null();
  std::vector<int64_t> strides = broadcastStrides(v->type().shape, normalized.size());
  std::vector<int64_t> offsets(static_cast<size_t>(ir::numElements(normalized)), 0);
  std::vector<int64_t> coord(normalized.size(), 0);
  for (int64_t &off : offsets) {
    for (size_t d = 0; d < coord.size(); ++d) off += coord[d] * strides[d];
    for (size_t d = coord.size(); d-- > 0;) { // compile time only: the kernel reads the table
      if (++coord[d] < normalized[d]) break;
      coord[d] = 0;
    }
  }
  return L.i64Array(offsets);
}

int64_t lowerLayerNorm(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  auto rank = static_cast<int64_t>(xs.size());
  int64_t axis = node.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) L.fail("axis out of range");
  ir::Shape normalized(xs.begin() + axis, xs.end());
  int64_t rows = dimProduct(xs, 0, static_cast<size_t>(axis)), len = ir::numElements(normalized);
  if (rows == 0) return emptyNode(L);
  if (len == 0) L.fail("an empty normalized shape");
  const ir::Value *scale = node.input(1), *bias = node.numInputs() > 2 ? node.input(2) : nullptr;
  auto output = [&](size_t i) -> const ir::Value * {
    return node.numOutputs() > i ? node.output(i) : nullptr;
  };
  L.callKernel("leip_k_layernorm_f32",
               {L.address(x), L.address(scale), L.address(bias), L.address(output(0)), L.address(output(1)),
                L.address(output(2)), broadcastOffsets(L, scale, normalized), broadcastOffsets(L, bias, normalized),
                L.i64(len), L.f32(node.attrs().getFloat("epsilon", 1e-5f))});
  return rows;
}

int64_t lowerMeanVarianceNorm(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  auto rank = static_cast<int64_t>(xs.size());
  if (x->type().numElements() == 0) return emptyNode(L);
  std::vector<bool> reduced(xs.size(), false);
  for (int64_t axis : node.attrs().getInts("axes", {0, 2, 3})) {
    if (axis < -rank || axis >= rank) L.fail("axis " + std::to_string(axis) + " out of range");
    reduced[static_cast<size_t>(axis < 0 ? axis + rank : axis)] = true;
  }
  std::vector<int64_t> strides = ir::stridesOf(xs);
  std::vector<int64_t> keptDims, reducedDims;
  std::vector<std::vector<int64_t>> keptStrides(1), reducedStrides(1);
  for (size_t d = 0; d < xs.size(); ++d) {
    (reduced[d] ? reducedDims : keptDims).push_back(xs[d]);
    (reduced[d] ? reducedStrides : keptStrides)[0].push_back(strides[d]);
  }
  if (!collapseDims(keptDims, keptStrides, 4) || !collapseDims(reducedDims, reducedStrides, 4))
    L.fail("more than 4 kept or reduced dims after merging contiguous ones");
  std::vector<int64_t> geom = keptDims;
  for (const auto &v : {keptStrides[0], reducedDims, reducedStrides[0]}) geom.insert(geom.end(), v.begin(), v.end());
  L.callKernel("leip_k_mvn_f32", {L.address(x), L.address(L.outputs()[0]), L.i64Array(geom)});
  return std::accumulate(keptDims.begin(), keptDims.end(), int64_t{1}, std::multiplies<>());
}

int64_t lowerLrn(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  int64_t size = node.attrs().getInt("size", 1);
  if (size < 1) L.fail("size must be >= 1");
  int64_t planes = dimProduct(xs, 0, 2), plane = dimProduct(xs, 2, xs.size());
  if (planes == 0 || plane == 0) return emptyNode(L);
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  float alpha = node.attrs().getFloat("alpha", 1e-4f);
  L.callKernel("leip_k_lrn_f32",
               {L.address(x), L.address(L.outputs()[0]), L.i64(xs[1]), L.i64(plane), L.i64(before), L.i64(after),
                L.f32(static_cast<float>(alpha / static_cast<double>(size))),
                L.f32(node.attrs().getFloat("beta", 0.75f)), L.f32(node.attrs().getFloat("bias", 1.0f))});
  return planes;
}

} // namespace

void addNormalizationLowerings(LoweringRules &rules) {
  rules["BatchNormalization"] = lowerBatchNorm;
  rules["InstanceNormalization"] = lowerInstanceNorm;
  rules["LayerNormalization"] = lowerLayerNorm;
  rules["MeanVarianceNormalization"] = lowerMeanVarianceNorm;
  rules["LRN"] = lowerLrn;
}

} // namespace leip::codegen
