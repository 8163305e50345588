// Lowering of data movement for every dtype (kernels/Movement.cpp): Concat, Split,
// Transpose, Expand, Tile, Slice, Pad, DepthToSpace, SpaceToDepth, the reshape-like ops and
// Dropout; and the ops whose output the compiler knows from shapes and constants alone
// (Shape, Size, ConstantOfShape, Range, EyeLike), usually folded before lowering.
#include "../Lowering.h"

#include "leip/interp/Kernels.h"

#include <algorithm>

namespace leip::codegen {

namespace {

/// How many byte ranges each of `rows` rows is cut into for leip_k_copy_rows, so that a
/// few long rows (Concat or Split on an outer axis) still give the threads work: about 16
/// tasks in all, none under 16 KiB.
int64_t rowPieces(int64_t rows, int64_t rowBytes) {
  if (rows >= 16) return 1;
  return std::clamp<int64_t>(rowBytes / 16384, 1, (16 + rows - 1) / std::max<int64_t>(rows, 1));
}

int64_t lowerConcat(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *y = L.outputs()[0];
  const ir::Shape &ys = y->type().shape;
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 0), static_cast<int64_t>(ys.size()));
  int64_t size = elementSize(y);
  int64_t outer = dimProduct(ys, 0, static_cast<size_t>(axis));
  int64_t outRow = dimProduct(ys, static_cast<size_t>(axis), ys.size()) * size;
  if (outer == 0 || outRow == 0) return 0;
  int64_t pieces = rowPieces(outer, outRow);
  int64_t offset = 0;
  for (const ir::Value *in : node.inputs()) {
    if (!in) continue;
    if (in->type().dtype != y->type().dtype) L.fail("inputs of different dtypes");
    int64_t inRow = in->type().numElements() / outer * size;
    if (inRow > 0)
      L.callKernel("leip_k_copy_rows", {L.address(in), L.address(y), L.i64(inRow), L.i64(inRow), L.i64(0),
                                        L.i64(outRow), L.i64(offset), L.i64(pieces)});
    offset += inRow;
  }
  return outer * pieces;
}

int64_t lowerSplit(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0);
  const ir::Shape &xs = x->type().shape;
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 0), static_cast<int64_t>(xs.size()));
  int64_t size = elementSize(x);
  int64_t outer = dimProduct(xs, 0, static_cast<size_t>(axis));
  int64_t inRow = dimProduct(xs, static_cast<size_t>(axis), xs.size()) * size;
  if (outer == 0 || inRow == 0) return 0;
  int64_t pieces = rowPieces(outer, inRow);
  int64_t offset = 0;
  for (const ir::Value *out : L.outputs()) {
    if (!out) continue;
    int64_t outRow = out->type().numElements() / outer * size;
    if (outRow > 0)
      L.callKernel("leip_k_copy_rows", {L.address(x), L.address(out), L.i64(outRow), L.i64(inRow), L.i64(offset),
                                        L.i64(outRow), L.i64(0), L.i64(pieces)});
    offset += outRow;
  }
  return outer * pieces;
}

int64_t lowerTranspose(NodeLowering &L) {
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
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  return L.emitGather(x, y, 0, broadcastStrides(x->type().shape, y->type().shape.size()));
}

/// Tile: y viewed as [r0, d0, r1, d1, ...] reads x at stride 0 along each repeat.
int64_t lowerTile(NodeLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  std::vector<int64_t> inStrides = ir::stridesOf(xs), dims, strides;
  for (size_t d = 0; d < xs.size(); ++d) {
    if (xs[d] == 0) return 0;
    dims.insert(dims.end(), {ys[d] / xs[d], xs[d]});
    strides.insert(strides.end(), {0, inStrides[d]});
  }
  return L.emitGather(x, y, 0, dims, strides);
}

/// DepthToSpace: y viewed as [N, C', H, b1, W, b2] reads input channel (b1*b + b2)*C' + c
/// (DCR) or c*b*b + b1*b + b2 (CRD).
int64_t lowerDepthToSpace(NodeLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  const ir::Shape &s = x->type().shape;
  if (s.size() != 4) L.fail("input must be 4-D");
  int64_t b = L.node().attrs().getInt("blocksize", 1);
  std::string mode = L.node().attrs().getString("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") L.fail("mode " + mode);
  bool crd = mode == "CRD";
  int64_t c = y->type().shape[1];
  int64_t sN = s[1] * s[2] * s[3], sC = s[2] * s[3], sH = s[3];
  return L.emitGather(x, y, 0, {s[0], c, s[2], b, s[3], b},
                      {sN, crd ? b * b * sC : sC, sH, crd ? b * sC : b * c * sC, 1, crd ? sC : c * sC});
}

/// SpaceToDepth: y viewed as [N, b1, b2, C, H/b, W/b]; output channel (b1*b + b2)*C + c.
int64_t lowerSpaceToDepth(NodeLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  const ir::Shape &s = x->type().shape;
  if (s.size() != 4) L.fail("input must be 4-D");
  int64_t b = L.node().attrs().getInt("blocksize", 1);
  if (b < 1) L.fail("blocksize must be positive");
  int64_t sN = s[1] * s[2] * s[3], sC = s[2] * s[3], sH = s[3];
  return L.emitGather(x, y, 0, {s[0], b, b, s[1], s[2] / b, s[3] / b}, {sN, sH, 1, sC, b * sH, b});
}

int64_t lowerSlice(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  size_t rank = xs.size();
  std::vector<int64_t> starts = L.constantInts(1, "starts");
  std::vector<int64_t> axes, steps;
  if (node.numInputs() > 3 && node.input(3)) axes = L.constantInts(3, "axes");
  else
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (node.numInputs() > 4 && node.input(4)) steps = L.constantInts(4, "steps");
  else steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) L.fail("starts, axes and steps differ in length");
  std::vector<int64_t> first(rank, 0), step(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t axis = normalizedAxis(L, axes[i], static_cast<int64_t>(rank));
    if (steps[i] == 0) L.fail("a step is 0");
    int64_t dim = xs[axis], start = starts[i];
    if (start < 0) start += dim;
    // ONNX clamping, as the shape rule: [0, dim] for positive steps, [0, dim - 1] otherwise.
    first[axis] = steps[i] > 0 ? std::clamp<int64_t>(start, 0, dim) : std::clamp<int64_t>(start, 0, dim - 1);
    step[axis] = steps[i];
  }
  std::vector<int64_t> inStrides = ir::stridesOf(xs), strides(rank);
  int64_t base = 0;
  for (size_t d = 0; d < rank; ++d) {
    base += first[d] * inStrides[d];
    strides[d] = step[d] * inStrides[d];
  }
  return L.emitGather(x, y, base, strides);
}

/// Pad: per output axis a table of input offsets (-1: the constant), as the interpreter
/// builds them; short runs of unpadded axes merge into one.
int64_t lowerPad(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  int64_t rank = static_cast<int64_t>(xs.size());
  std::string mode = node.attrs().getString("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect") L.fail("mode " + mode);
  std::vector<int64_t> pads = L.constantInts(1, "pads");
  std::vector<int64_t> axes;
  if (node.numInputs() > 3 && node.input(3)) {
    for (int64_t a : L.constantInts(3, "axes")) axes.push_back(normalizedAxis(L, a, rank));
  } else {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  if (pads.size() != 2 * axes.size()) L.fail("pads must have 2 values per padded axis");
  std::vector<int64_t> begins(static_cast<size_t>(rank), 0), ends(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begins[axes[i]] = pads[i];
    ends[axes[i]] = pads[i + axes.size()];
  }
  llvm::Value *fill = L.null(); // zero
  if (node.numInputs() > 2 && node.input(2)) {
    const ir::Value *value = node.input(2);
    if (value->type().dtype != x->type().dtype) L.fail("constant_value has another dtype than the data");
    if (value->type().numElements() > 1) L.fail("constant_value must be a scalar");
    if (value->type().numElements() == 1) fill = L.address(value);
  }
  if (y->type().numElements() == 0) return 0;

  // Constant padding of the two spatial axes of an NCHW tensor (what insertConvPadding
  // adds): whole rows, ordered as the convolution that reads them splits its work.
  if (rank == 4 && mode == "constant" && begins[0] == 0 && ends[0] == 0 && begins[1] == 0 && ends[1] == 0 &&
      std::all_of(begins.begin(), begins.end(), [](int64_t p) { return p >= 0; }) &&
      std::all_of(ends.begin(), ends.end(), [](int64_t p) { return p >= 0; })) {
    const std::vector<ir::Node *> &readers = y->users();
    const bool rowsOuter = readers.size() == 1 && directConvSplitsRows(*readers[0], L.vectorLanes());
    L.callKernel(sizedKernelName("leip_k_pad_planes", x->type().dtype),
                 {L.address(x), L.address(y), L.i64(xs[1]), L.i64(xs[2]), L.i64(xs[3]), L.i64(ys[2]), L.i64(ys[3]),
                  L.i64(begins[2]), L.i64(begins[3]), L.i32(rowsOuter), fill});
    return ys[0] * ys[1] * ys[2];
  }

  std::vector<int64_t> inStrides = ir::stridesOf(xs);
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> tables;
  bool lastUnpadded = false;
  for (int64_t a = 0; a < rank; ++a) {
    bool unpadded = begins[a] == 0 && ends[a] == 0;
    std::vector<int64_t> table(static_cast<size_t>(ys[a]));
    for (int64_t o = 0; o < ys[a]; ++o) {
      int64_t src = interp::padSourceIndex(o, xs[a], begins[a], ends[a], mode);
      table[o] = src < 0 ? -1 : src * inStrides[a];
    }
    // An unpadded axis after another is contiguous with it: merge them while the table
    // (the product of the two) stays small.
    if (unpadded && lastUnpadded && dims.back() * ys[a] <= 4096) {
      std::vector<int64_t> merged;
      for (int64_t outer : tables.back())
        for (int64_t inner : table) merged.push_back(outer + inner);
      tables.back() = std::move(merged);
      dims.back() *= ys[a];
    } else {
      tables.push_back(std::move(table));
      dims.push_back(ys[a]);
    }
    lastUnpadded = unpadded;
  }
  if (dims.empty()) { // a scalar
    dims.push_back(1);
    tables.push_back({0});
  }
  if (dims.size() > 16) L.fail("more than 16 dims after merging unpadded ones");
  // The longest run of the last axis that reads consecutive input elements.
  const std::vector<int64_t> &last = tables.back();
  int64_t lo = 0, hi = 0;
  for (int64_t j = 0; j < static_cast<int64_t>(last.size());) {
    int64_t k = j + 1;
    if (last[j] >= 0)
      while (k < static_cast<int64_t>(last.size()) && last[k] == last[j] + (k - j)) ++k;
    if (last[j] >= 0 && k - j > hi - lo) lo = j, hi = k;
    j = k;
  }
  std::vector<int64_t> flat;
  for (const auto &t : tables) flat.insert(flat.end(), t.begin(), t.end());
  L.callKernel(sizedKernelName("leip_k_pad", x->type().dtype),
               {L.address(x), L.address(y), L.i64(static_cast<int64_t>(dims.size())), L.i64Array(dims),
                L.i64Array(flat), L.i64(lo), L.i64(hi), fill});
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < dims.size(); ++d) rows *= dims[d];
  return rows;
}

/// Reshape-like ops: the same bytes under a new shape.
int64_t lowerCopy(NodeLowering &L) {
  const ir::Value *x = L.node().input(0), *y = L.outputs()[0];
  if (y->type().dtype != x->type().dtype) L.fail("output type differs from the input's");
  L.callKernel("leip_k_copy", {L.address(x), L.address(y)});
  return static_cast<int64_t>(y->type().byteSize());
}

/// Inference-mode Dropout: y = x and an all-true mask, as the interpreter.
int64_t lowerDropout(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  if (node.numInputs() > 2 && node.input(2)) {
    const ir::Value *training = node.input(2);
    if (!training->isConstant()) L.fail("training_mode must be a constant");
    if (training->constant()->numElements() == 1 && training->constant()->getAsDouble(0) != 0) {
      const ir::Value *ratio = node.numInputs() > 1 ? node.input(1) : nullptr;
      if (!ratio || !ratio->isConstant() || ratio->constant()->numElements() != 1 ||
          ratio->constant()->getAsDouble(0) != 0)
        L.fail("Dropout in training mode (random masking)");
    }
  }
  if (y->type().dtype != x->type().dtype) L.fail("output type differs from the input's");
  const ir::Value *mask = L.outputs().size() > 1 ? L.outputs()[1] : nullptr;
  L.callKernel("leip_k_dropout", {L.address(x), L.address(y), L.address(mask), L.i64(elementSize(x))});
  return y->type().numElements();
}

/// Ops whose output follows from shapes and constant inputs alone: the interpreter computes
/// it at compile time and the node copies it from a constant. Shape, Size and EyeLike do
/// not read their input's values; ConstantOfShape and Range need constant inputs.
int64_t lowerKnownAtCompileTime(NodeLowering &L) {
  const ir::Node &node = L.node();
  bool readsValues = node.opType() == "ConstantOfShape" || node.opType() == "Range";
  std::vector<ir::Tensor> placeholders;
  placeholders.reserve(node.numInputs());
  std::vector<const ir::Tensor *> inputs;
  for (size_t i = 0; i < node.numInputs(); ++i) {
    const ir::Value *v = node.input(i);
    if (!v) {
      inputs.push_back(nullptr);
    } else if (v->isConstant()) {
      inputs.push_back(v->constant());
    } else {
      if (readsValues) L.fail("input '" + v->name() + "' must be a constant");
      inputs.push_back(&placeholders.emplace_back(v->type().dtype, v->type().shape));
    }
  }
  std::vector<ir::Tensor> results = interp::evaluateNode(node, inputs);
  int64_t tasks = 0;
  for (size_t i = 0; i < results.size() && i < L.outputs().size(); ++i) {
    const ir::Tensor &t = results[i];
    if (t.byteSize() == 0) continue;
    if (tasks != 0) L.fail("more than one output");
    L.callKernel("leip_k_copy", {L.derivedConstant(t.rawData(), t.byteSize()), L.address(L.outputs()[i])});
    tasks = static_cast<int64_t>(t.byteSize());
  }
  return tasks;
}

} // namespace

void addMovementLowerings(LoweringRules &rules) {
  rules["Concat"] = lowerConcat;
  rules["Split"] = lowerSplit;
  rules["Transpose"] = lowerTranspose;
  rules["Expand"] = lowerExpand;
  rules["Tile"] = lowerTile;
  rules["DepthToSpace"] = lowerDepthToSpace;
  rules["SpaceToDepth"] = lowerSpaceToDepth;
  rules["Slice"] = lowerSlice;
  rules["Pad"] = lowerPad;
  for (const char *op : {"Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze"}) rules[op] = lowerCopy;
  rules["Dropout"] = lowerDropout;
  for (const char *op : {"Shape", "Size", "ConstantOfShape", "Range", "EyeLike"}) rules[op] = lowerKnownAtCompileTime;
}

} // namespace leip::codegen
