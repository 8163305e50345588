// Lowering of data movement: Concat, Transpose, Expand, Slice, Pad and the reshape-like
// ops (kernels/Movement.cpp).
#include "../Lowering.h"

#include <algorithm>

namespace leip::codegen {

namespace {

int64_t lowerConcat(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *y = L.outputs()[0];
  const ir::Shape &ys = y->type().shape;
  int64_t rank = static_cast<int64_t>(ys.size());
  int64_t axis = node.attrs().getInt("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) L.fail("axis out of range");
  int64_t outer = 1, outRow = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= ys[d];
  for (int64_t d = axis; d < rank; ++d) outRow *= ys[d];
  int64_t offset = 0;
  for (const ir::Value *in : node.inputs()) {
    if (!in) continue;
    int64_t inRow = outer == 0 ? 0 : in->type().numElements() / std::max<int64_t>(outer, 1);
    if (inRow > 0)
      L.callKernel("leip_k_concat_f32", {L.address(in), L.address(y), L.i64(inRow), L.i64(outRow), L.i64(offset)});
    offset += inRow;
  }
  return outer;
}

int64_t lowerTranspose(NodeLowering &L) {
  L.requireFloat32();
  const ir::Value *x = L.node().input(0);
  const ir::Shape &xs = x->type().shape;
  size_t rank = xs.size();
  std::vector<int64_t> perm = L.node().attrs().getInts("perm");
  if (perm.empty())
    for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
  if (perm.size() != rank) L.fail("perm has the wrong length");
  std::vector<int64_t> inStrides = ir::stridesOf(xs), strides;
  for (int64_t p : perm) strides.push_back(inStrides.at(static_cast<size_t>(p)));
  return L.emitGather(x, L.outputs()[0], 0, strides);
}

int64_t lowerExpand(NodeLowering &L) {
  L.requireFloat32(1);
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  return L.emitGather(x, y, 0, broadcastStrides(x->type().shape, y->type().shape.size()));
}

int64_t lowerSlice(NodeLowering &L) {
  L.requireFloat32(1);
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  size_t rank = xs.size();
  std::vector<int64_t> starts = L.constantInts(1, "starts"), ends = L.constantInts(2, "ends");
  std::vector<int64_t> axes, steps;
  if (node.numInputs() > 3 && node.input(3)) axes = L.constantInts(3, "axes");
  else
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (node.numInputs() > 4 && node.input(4)) steps = L.constantInts(4, "steps");
  else steps.assign(starts.size(), 1);
  std::vector<int64_t> first(rank, 0), step(rank, 1);
  for (size_t i = 0; i < axes.size() && i < starts.size(); ++i) {
    int64_t axis = axes[i] < 0 ? axes[i] + static_cast<int64_t>(rank) : axes[i];
    if (axis < 0 || axis >= static_cast<int64_t>(rank) || steps.at(i) == 0) L.fail("bad axes/steps");
    int64_t dim = xs[axis], start = starts[i];
    if (start < 0) start += dim;
    start = steps[i] > 0 ? std::clamp<int64_t>(start, 0, dim) : std::clamp<int64_t>(start, 0, dim - 1);
    first[axis] = start;
    step[axis] = steps[i];
  }
  std::vector<int64_t> inStrides = ir::stridesOf(xs), strides(rank);
  int64_t base = 0;
  for (size_t d = 0; d < rank; ++d) {
    base += first[d] * inStrides[d];
    strides[d] = step[d] * inStrides[d];
  }
  if (y->type().numElements() == 0) return 0;
  return L.emitGather(x, y, base, strides);
}

int64_t lowerPad(NodeLowering &L) {
  L.requireFloat32(1);
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  size_t rank = xs.size();
  if (rank > 6) L.fail("more than 6 dims");
  if (node.numInputs() > 3 && node.input(3)) L.fail("the axes input");
  std::vector<int64_t> pads = L.constantInts(1, "pads");
  if (pads.size() != 2 * rank) L.fail("pads must have 2 * rank values");
  float value = 0.0f;
  if (node.numInputs() > 2 && node.input(2)) {
    const ir::Value *cv = node.input(2);
    if (!cv->isConstant() || cv->constant()->numElements() != 1) L.fail("constant_value must be a constant");
    value = static_cast<float>(cv->constant()->getAsDouble(0));
  }
  std::string mode = node.attrs().getString("mode", "constant");
  int32_t modeCode = mode == "constant" ? 0 : mode == "edge" ? 1 : mode == "reflect" ? 2 : -1;
  if (modeCode < 0) L.fail("mode " + mode);
  // dims[0..6): output dims, [6..12): input dims, [12..18): leading pads, rank 6.
  std::vector<int64_t> dims(18, 1);
  size_t lead = 6 - rank;
  for (size_t d = 0; d < 6; ++d) dims[12 + d] = 0;
  for (size_t d = 0; d < rank; ++d) {
    dims[lead + d] = ys[d];
    dims[6 + lead + d] = xs[d];
    dims[12 + lead + d] = pads[d];
  }
  int64_t rows = 1;
  for (size_t d = 0; d < 5; ++d) rows *= dims[d];
  if (y->type().numElements() == 0) return 0;
  if (x->type().numElements() == 0 && modeCode != 0) L.fail("edge/reflect padding of an empty tensor");
  L.callKernel("leip_k_pad_f32", {L.address(x), L.address(y), L.i64Array(dims), L.i32(modeCode), L.f32(value)});
  return rows;
}

/// Reshape-like ops and inference-time Dropout: the same bytes under a new shape.
int64_t lowerCopy(NodeLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  if (y->type().dtype != x->type().dtype) L.fail("output type differs from the input's");
  L.callKernel("leip_k_copy", {L.address(x), L.address(y)});
  return static_cast<int64_t>(y->type().byteSize());
}

} // namespace

void addMovementLowerings(LoweringRules &rules) {
  rules["Concat"] = lowerConcat;
  rules["Transpose"] = lowerTranspose;
  rules["Expand"] = lowerExpand;
  rules["Slice"] = lowerSlice;
  rules["Pad"] = lowerPad;
  for (const char *op : {"Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Dropout"}) rules[op] = lowerCopy;
}

} // namespace leip::codegen
