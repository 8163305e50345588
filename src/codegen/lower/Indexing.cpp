// Lowering of indexing (kernels/Indexing.cpp): Gather, GatherElements, GatherND, ScatterND,
// ScatterElements, OneHot, TopK, Trilu, ReverseSequence, for every dtype the interpreter
// accepts (float16 only where no arithmetic is needed).
#include "../Lowering.h"

#include "leip/support/Error.h"


namespace leip::codegen {

namespace {

/// The kernels' code for the dtype of an index tensor (IndexType in kernels/Indexing.cpp).
int32_t indexTypeCode(NodeLowering &L, const ir::Value *indices) {
  switch (indices->type().dtype) {
  case ir::DType::I32: return 0;
  case ir::DType::I64: return 1;
  case ir::DType::I8: return 2;
  case ir::DType::U8: return 3;
  case ir::DType::F32: return 4;
  default: break;
  }
  L.fail(std::string("indices of dtype ") + std::string(ir::dtypeName(indices->type().dtype)));
}

/// Index values in a constant tensor are checked now (bad input, as the interpreter would
/// find at run time): the kernels cannot report a bad one.
/// `dimOf(i)` is the size of the dim that element i indexes.
template <typename DimOf> void checkConstantIndices(NodeLowering &L, const ir::Value *indices, DimOf dimOf) {
  if (!indices->isConstant()) return;
  std::vector<int64_t> values = indices->constant()->toInt64Vector();
  for (size_t i = 0; i < values.size(); ++i) {
    int64_t dim = dimOf(static_cast<int64_t>(i));
    if (values[i] < -dim || values[i] >= dim)
      throw BadInputError(L.node().describe() + ": index value " + std::to_string(values[i]) +
                          " is out of range [" + std::to_string(-dim) + ", " + std::to_string(dim - 1) + "]");
  }
}

int64_t lowerGather(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *data = node.input(0), *indices = node.input(1), *y = L.outputs()[0];
  const ir::Shape &ds = data->type().shape;
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 0), static_cast<int64_t>(ds.size()));
  int64_t dim = ds[axis];
  checkConstantIndices(L, indices, [&](int64_t) { return dim; });
  if (y->type().numElements() == 0) return 0;
  int64_t outer = dimProduct(ds, 0, static_cast<size_t>(axis));
  int64_t innerBytes = dimProduct(ds, static_cast<size_t>(axis) + 1, ds.size()) * elementSize(data);
  int64_t count = indices->type().numElements();
  L.callKernel("leip_k_gather_axis", {L.address(data), L.address(indices), L.address(y),
                                      L.i32(indexTypeCode(L, indices)), L.i64(count), L.i64(dim), L.i64(innerBytes)});
  return outer * count;
}

int64_t lowerGatherElements(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *data = node.input(0), *indices = node.input(1), *y = L.outputs()[0];
  const ir::Shape &ds = data->type().shape, &is = indices->type().shape;
  int64_t rank = static_cast<int64_t>(ds.size());
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 0), rank);
  if (static_cast<int64_t>(is.size()) != rank) L.fail("indices must have the rank of data");
  checkConstantIndices(L, indices, [&](int64_t) { return ds[axis]; });
  if (y->type().numElements() == 0) return 0;
  std::vector<int64_t> strides = ir::stridesOf(ds);
  int64_t axisStride = strides[axis];
  strides[axis] = 0; // the index replaces the coordinate along the axis
  L.callKernel(sizedKernelName("leip_k_gather_elements", data->type().dtype),
               {L.address(data), L.address(indices), L.address(y), L.i32(indexTypeCode(L, indices)), L.i64(rank),
                L.i64Array(is), L.i64Array(strides), L.i64(axisStride), L.i64(ds[axis])});
  return dimProduct(is, 0, is.size() - 1);
}

int64_t lowerGatherND(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *data = node.input(0), *indices = node.input(1), *y = L.outputs()[0];
  const ir::Shape &ds = data->type().shape, &is = indices->type().shape;
  auto b = static_cast<size_t>(node.attrs().getInt("batch_dims", 0));
  auto m = static_cast<size_t>(is.back());
  if (b + m > ds.size() || b >= is.size()) L.fail("batch_dims or the index tuple length do not fit the data");
  checkConstantIndices(L, indices, [&](int64_t i) { return ds[b + static_cast<size_t>(i) % m]; });
  if (y->type().numElements() == 0) return 0;
  int64_t size = elementSize(data);
  std::vector<int64_t> dataStrides = ir::stridesOf(ds), dims, strides;
  for (size_t j = 0; j < m; ++j) {
    dims.push_back(ds[b + j]);
    strides.push_back(dataStrides[b + j] * size);
  }
  int64_t tuples = dimProduct(is, 0, is.size() - 1);
  int64_t tuplesPerBatch = dimProduct(is, b, is.size() - 1);
  L.callKernel("leip_k_gather_nd",
               {L.address(data), L.address(indices), L.address(y), L.i32(indexTypeCode(L, indices)),
                L.i64(static_cast<int64_t>(m)), L.i64Array(dims), L.i64Array(strides), L.i64(tuplesPerBatch),
                L.i64(dimProduct(ds, b, ds.size()) * size), L.i64(dimProduct(ds, b + m, ds.size()) * size)});
  return tuples;
}

/// The reduction code of ScatterND / ScatterElements (Reduction in kernels/Indexing.cpp)
/// and the kernel variant for the data's dtype.
std::pair<int32_t, std::string> scatterVariant(NodeLowering &L, const std::string &base, ir::DType dtype) {
  std::string name = L.node().attrs().getString("reduction", "none");
  int32_t code = name == "none" ? 0 : name == "add" ? 1 : name == "mul" ? 2 : name == "max" ? 3 : name == "min" ? 4 : -1;
  if (code < 0) L.fail("reduction " + name);
  switch (dtype) {
  case ir::DType::F32: return {code, base + "_f32"};
  case ir::DType::I8: return {code, base + "_i8"};
  case ir::DType::U8: return {code, base + "_u8"};
  case ir::DType::I32: return {code, base + "_i32"};
  case ir::DType::I64: return {code, base + "_i64"};
  case ir::DType::Bool:
    if (code == 0) return {code, base + "_u8"};
    break;
  case ir::DType::F16:
    if (code == 0) return {code, base + "_b2"};
    break;
  }
  L.fail("reduction " + name + " on " + std::string(ir::dtypeName(dtype)) + " data");
}

int64_t lowerScatterND(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *data = node.input(0), *indices = node.input(1), *updates = node.input(2), *y = L.outputs()[0];
  const ir::Shape &ds = data->type().shape, &is = indices->type().shape;
  auto k = static_cast<size_t>(is.back());
  if (k < 1 || k > ds.size()) L.fail("the index tuple length does not fit the data");
  checkConstantIndices(L, indices, [&](int64_t i) { return ds[static_cast<size_t>(i) % k]; });
  if (data->type().numElements() == 0) return 0;
  auto [reduction, kernel] = scatterVariant(L, "leip_k_scatter_nd", data->type().dtype);
  std::vector<int64_t> dataStrides = ir::stridesOf(ds);
  std::vector<int64_t> dims(ds.begin(), ds.begin() + static_cast<std::ptrdiff_t>(k));
  std::vector<int64_t> strides(dataStrides.begin(), dataStrides.begin() + static_cast<std::ptrdiff_t>(k));
  L.callKernel(kernel, {L.address(data), L.address(indices), L.address(updates), L.address(y),
                        L.i32(indexTypeCode(L, indices)), L.i32(reduction), L.i64(static_cast<int64_t>(k)),
                        L.i64Array(dims), L.i64Array(strides), L.i64(dimProduct(is, 0, is.size() - 1)),
                        L.i64(dimProduct(ds, k, ds.size())), L.i64(dimProduct(ds, 1, ds.size()))});
  return ds[0];
}

int64_t lowerScatterElements(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *data = node.input(0), *indices = node.input(1), *updates = node.input(2), *y = L.outputs()[0];
  const ir::Shape &ds = data->type().shape, &is = indices->type().shape;
  int64_t rank = static_cast<int64_t>(ds.size());
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", 0), rank);
  if (static_cast<int64_t>(is.size()) != rank) L.fail("indices must have the rank of data");
  checkConstantIndices(L, indices, [&](int64_t) { return ds[axis]; });
  if (data->type().numElements() == 0) return 0;
  auto [reduction, kernel] = scatterVariant(L, "leip_k_scatter_elements", data->type().dtype);
  std::vector<int64_t> strides = ir::stridesOf(ds);
  int64_t axisStride = strides[axis];
  strides[axis] = 0;
  L.callKernel(kernel, {L.address(data), L.address(indices), L.address(updates), L.address(y),
                        L.i32(indexTypeCode(L, indices)), L.i32(reduction), L.i64(rank), L.i64Array(is),
                        L.i64Array(strides), L.i64(axis), L.i64(axisStride), L.i64(ds[axis]),
                        L.i64(dimProduct(ds, 1, ds.size()))});
  return ds[0];
}

int64_t lowerTopK(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *values = L.outputs()[0];
  const ir::Value *indices = L.outputs().size() > 1 ? L.outputs()[1] : nullptr;
  const ir::Shape &xs = x->type().shape;
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", -1), static_cast<int64_t>(xs.size()));
  std::string suffix;
  switch (x->type().dtype) {
  case ir::DType::F32: suffix = "f32"; break;
  case ir::DType::I8: suffix = "i8"; break;
  case ir::DType::U8: suffix = "u8"; break;
  case ir::DType::I32: suffix = "i32"; break;
  case ir::DType::I64: suffix = "i64"; break;
  default: L.fail("TopK of " + std::string(ir::dtypeName(x->type().dtype)) + " values");
  }
  if (values->type().numElements() == 0) return 0;
  int64_t outer = dimProduct(xs, 0, static_cast<size_t>(axis));
  int64_t inner = dimProduct(xs, static_cast<size_t>(axis) + 1, xs.size());
  L.callKernel("leip_k_topk_" + suffix,
               {L.address(x), L.address(values), L.address(indices), L.i64(xs[axis]), L.i64(inner),
                L.i64(values->type().shape[axis]), L.i32(node.attrs().getInt("largest", 1) != 0)});
  return outer * inner;
}

int64_t lowerOneHot(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *indices = node.input(0), *values = node.input(2), *y = L.outputs()[0];
  const ir::Shape &is = indices->type().shape, &ys = y->type().shape;
  int64_t axis = normalizedAxis(L, node.attrs().getInt("axis", -1), static_cast<int64_t>(ys.size()));
  if (values->type().numElements() != 2) L.fail("values must hold (off, on)");
  if (y->type().numElements() == 0) return 0;
  int32_t code = indexTypeCode(L, indices);
  L.callKernel(sizedKernelName("leip_k_one_hot", y->type().dtype),
               {L.address(indices), L.address(values), L.address(y), L.i32(code), L.i64(ys[axis]),
                L.i64(dimProduct(is, static_cast<size_t>(axis), is.size()))});
  return dimProduct(is, 0, static_cast<size_t>(axis));
}

int64_t lowerTrilu(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &s = x->type().shape;
  if (s.size() < 2) L.fail("input must have rank >= 2");
  llvm::Value *kInput = L.null();
  int64_t k = 0;
  if (node.numInputs() > 1 && node.input(1)) {
    const ir::Value *kv = node.input(1);
    if (kv->type().dtype != ir::DType::I64 || kv->type().numElements() != 1) L.fail("k must be an int64 scalar");
    if (kv->isConstant()) k = kv->constant()->getAsInt64(0);
    else kInput = L.address(kv);
  }
  if (y->type().numElements() == 0) return 0;
  int64_t rows = s[s.size() - 2], cols = s.back();
  L.callKernel("leip_k_trilu", {L.address(x), L.address(y), kInput, L.i64(k),
                                L.i32(node.attrs().getInt("upper", 1) != 0), L.i64(rows), L.i64(cols),
                                L.i64(elementSize(x))});
  return dimProduct(s, 0, s.size() - 1);
}

int64_t lowerReverseSequence(NodeLowering &L) {
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *lens = node.input(1), *y = L.outputs()[0];
  const ir::Shape &s = x->type().shape;
  if (s.size() < 2) L.fail("input must have rank >= 2");
  bool batchFirst = node.attrs().getInt("batch_axis", 1) == 0;
  int64_t batch = batchFirst ? s[0] : s[1], steps = batchFirst ? s[1] : s[0];
  if (lens->type().dtype != ir::DType::I64 || lens->type().numElements() != batch)
    L.fail("sequence_lens must be int64 with one value per batch element");
  if (lens->isConstant())
    for (int64_t len : lens->constant()->toInt64Vector())
      if (len < 0 || len > steps)
        throw BadInputError(node.describe() + ": sequence length " + std::to_string(len) + " is out of range [0, " +
                            std::to_string(steps) + "]");
  if (y->type().numElements() == 0) return 0;
  L.callKernel("leip_k_reverse_sequence",
               {L.address(x), L.address(lens), L.address(y), L.i32(batchFirst), L.i64(batch), L.i64(steps),
                L.i64(dimProduct(s, 2, s.size()) * elementSize(x))});
  return batch * steps;
}

} // namespace

void addIndexingLowerings(LoweringRules &rules) {
  rules["Gather"] = lowerGather;
  rules["GatherElements"] = lowerGatherElements;
  rules["GatherND"] = lowerGatherND;
  rules["ScatterND"] = lowerScatterND;
  rules["ScatterElements"] = lowerScatterElements;
  rules["TopK"] = lowerTopK;
  rules["OneHot"] = lowerOneHot;
  rules["Trilu"] = lowerTrilu;
  rules["ReverseSequence"] = lowerReverseSequence;
}

} // namespace leip::codegen
