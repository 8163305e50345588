// Lowering of pooling over 1 to 3 spatial dims and the global pools (kernels/Pool.cpp).
// The window geometry (pads, auto_pad, ceil_mode) comes from ir::poolGeometry, the function
// the shape rule and the reference kernel use.
#include "NNCommon.h"

#include "../kernels/WindowGeometry.h"

namespace leip::codegen {

namespace {

/// The kernels' geometry table (lower/Window.h) and the strides of MaxPool's flat Indices
/// (row-major, or column-major for storage_order 1).
std::vector<int64_t> poolTable(const ir::WindowGeometry &g, bool columnMajor) {
  std::vector<int64_t> t = windowTable3d(g);
  t.resize(25, 0);
  t[21] = t[4]; // MaxPool's stored output planes: unpadded unless lowerPool pads them
  t[22] = t[5];
  size_t lead = 3 - g.rank();
  int64_t rowStride = 1, columnStride = 1;
  for (size_t d = g.rank(); d-- > 0;) {
    t[18 + lead + d] = rowStride;
    rowStride *= g.input[d];
  }
  if (columnMajor)
    for (size_t d = 0; d < g.rank(); ++d) {
      t[18 + lead + d] = columnStride;
      columnStride *= g.input[d];
    }
  return t;
}

/// AveragePool's divisors per dim and output coordinate: the taps inside the input, or with
/// count_include_pad those inside the padded input (the reference's PoolTable).
std::vector<int64_t> averageDivisors(const ir::WindowGeometry &g, bool includePad) {
  std::vector<int64_t> counts(3 - g.rank(), 1);
  for (size_t d = 0; d < g.rank(); ++d)
    for (int64_t o = 0; o < g.output[d]; ++o) {
      int64_t count = 0;
      for (int64_t k = 0; k < g.kernel[d]; ++k) {
        int64_t pos = o * g.strides[d] - g.padBegin[d] + k * g.dilations[d];
        count += includePad ? pos >= -g.padBegin[d] && pos < g.input[d] + g.padEnd[d] : pos >= 0 && pos < g.input[d];
      }
      counts.push_back(count);
    }
  return counts;
}

int64_t lowerPool(NodeLowering &L) {
  const ir::Node &node = L.node();
  const std::string &op = node.opType();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, ys = unpaddedOutputShape(node);
  ir::DType dtype = x->type().dtype;
  if (op != "MaxPool") L.requireFloat32();
  else if (dtype != ir::DType::F32 && dtype != ir::DType::I8 && dtype != ir::DType::U8)
    L.fail("MaxPool of " + std::string(ir::dtypeName(dtype)));
  if (xs.size() < 3 || xs.size() > 5) L.fail("only 1-D, 2-D and 3-D pooling");
  ir::WindowGeometry g = ir::poolGeometry(node, xs);
  std::vector<int64_t> table = poolTable(g, node.attrs().getInt("storage_order", 0) == 1);
  if (y->type().numElements() == 0) return emptyNode(L);
  int64_t rows = 1; // output rows (tasks), the border of a padded output aside
  for (size_t d = 0; d + 1 < ys.size(); ++d) rows *= ys[d];
  if (const std::array<int64_t, 4> pads = outputPads(node); pads != std::array<int64_t, 4>{0, 0, 0, 0}) {
    // A MaxPool writing the padded input of the direct convolutions after it
    // (insertConvPadding). Its tasks stay planes-outer: rows-outer ones, which would match
    // those convolutions' split, lost the reuse of input rows between neighbouring output
    // rows (resnet18 at 2 threads: 128-132 -> 166-176 µs) and the convolution gained nothing.
    const ir::Shape &stored = y->type().shape;
    table[21] = stored[2];
    table[22] = stored[3];
    table[23] = pads[0];
    table[24] = pads[1];
  }
  if (op == "MaxPool") {
    const ir::Value *indices = node.numOutputs() > 1 ? node.output(1) : nullptr;
    std::string suffix = dtype == ir::DType::F32 ? "f32" : dtype == ir::DType::I8 ? "i8" : "u8";
    L.callKernel("leip_k_maxpool_" + suffix, {L.address(x), L.address(y), L.address(indices), L.i64Array(table)});
  } else if (op == "AveragePool") {
    bool includePad = node.attrs().getInt("count_include_pad", 0) != 0;
    L.callKernel("leip_k_avgpool_f32", {L.address(x), L.address(y), L.i64Array(table),
                                        L.i64Array(averageDivisors(g, includePad))});
  } else {
    L.callKernel("leip_k_lppool_f32",
                 {L.address(x), L.address(y), L.i64Array(table), L.i64(node.attrs().getInt("p", 2))});
  }
  return rows;
}

int64_t lowerGlobalPool(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape;
  if (xs.size() < 2) L.fail("input of rank < 2");
  int64_t planes = xs[0] * xs[1];
  if (planes == 0) return emptyNode(L);
  int32_t op = node.opType() == "GlobalAveragePool" ? 0 : node.opType() == "GlobalMaxPool" ? 1 : 2;
  L.callKernel("leip_k_global_pool_f32", {L.address(x), L.address(y), L.i64(x->type().numElements() / planes),
                                          L.i32(op), L.i64(node.attrs().getInt("p", 2))});
  return planes;
}

} // namespace

bool maxPoolWritesPaddedOutputs(const ir::Node &pool) {
  const ir::Value *x = pool.input(0);
  if (pool.opType() != "MaxPool" || !pool.domain().empty() || pool.numOutputs() != 1 || !x ||
      x->type().dtype != ir::DType::F32 || x->type().shape.size() != 4)
    return false;
  std::vector<int64_t> table = poolTable(ir::poolGeometry(pool, x->type().shape), false);
  return kernels::maxPoolRowsFit(kernels::WindowGeometry{table.data()});
}

void addPoolLowerings(LoweringRules &rules) {
  for (const char *op : {"MaxPool", "AveragePool", "LpPool"}) rules[op] = lowerPool;
  for (const char *op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) rules[op] = lowerGlobalPool;
}

} // namespace leip::codegen
