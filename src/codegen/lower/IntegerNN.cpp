// Lowering of the integer NN ops QLinearConv, ConvInteger (1 to 3 spatial dims),
// QLinearMatMul and MatMulInteger (kernels/IntegerNN.cpp). Scales and zero points may be
// constants or computed at run time; the kernels read them through pointers.
#include "NNCommon.h"

namespace leip::codegen {

namespace {

bool isInt8(const ir::Value *v) { return v && (v->type().dtype == ir::DType::I8 || v->type().dtype == ir::DType::U8); }

/// The kernels' signedness flag of a u8/i8 value; fails for other dtypes.
llvm::Constant *signedFlag(NodeLowering &L, const ir::Value *v, const char *what) {
  if (!isInt8(v)) L.fail(std::string(what) + " must be u8 or i8");
  return L.i32(v->type().dtype == ir::DType::I8);
}

const ir::Value *optionalInput(NodeLowering &L, size_t i) {
  const ir::Value *v = L.node().input(i);
  return v && v->type().numElements() > 0 ? v : nullptr;
}

int64_t count(const ir::Value *v) { return v ? std::max<int64_t>(v->type().numElements(), 1) : 1; }

void requireF32(NodeLowering &L, const ir::Value *v, const char *what) {
  if (v->type().dtype != ir::DType::F32) L.fail(std::string(what) + " must be float32");
}

/// ConvInteger (x 0, x_zero_point 2, w 1, w_zero_point 3) and QLinearConv (x 0, x_scale 1,
/// x_zero_point 2, w 3, w_scale 4, w_zero_point 5, y_scale 6, y_zero_point 7, bias 8).
int64_t lowerIntegerConv(NodeLowering &L) {
  const ir::Node &node = L.node();
  bool qlinear = node.opType() == "QLinearConv";
  const ir::Value *x = node.input(0), *w = node.input(qlinear ? 3 : 1), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ws = w->type().shape;
  if (xs.size() < 3 || xs.size() > 5) L.fail("only 1-D, 2-D and 3-D convolutions");
  ir::WindowGeometry g = ir::convGeometry(node, xs, ws);
  int64_t group = node.attrs().getInt("group", 1);
  const ir::Value *xZero = optionalInput(L, 2), *wZero = optionalInput(L, qlinear ? 5 : 3);
  std::vector<llvm::Value *> args{L.address(x)};
  if (qlinear) {
    for (size_t i : {1, 4, 6}) requireF32(L, node.input(i), "scales");
    const ir::Value *bias = node.numInputs() > 8 ? node.input(8) : nullptr;
    args.insert(args.end(), {L.address(node.input(1)), L.address(xZero), L.address(w), L.address(node.input(4)),
                             L.address(wZero), L.address(node.input(6)), L.address(node.input(7)), L.address(bias),
                             L.address(y), L.i64Array(windowTable3d(g)), L.i64(xs[1]), L.i64(ws[0]), L.i64(group),
                             L.i64(count(node.input(4))), L.i64(count(wZero)), signedFlag(L, x, "x"),
                             signedFlag(L, w, "w"), signedFlag(L, y, "y")});
  } else {
    if (y->type().dtype != ir::DType::I32) L.fail("output must be int32");
    args.insert(args.end(), {L.address(xZero), L.address(w), L.address(wZero), L.address(y),
                             L.i64Array(windowTable3d(g)), L.i64(xs[1]), L.i64(ws[0]), L.i64(group),
                             L.i64(count(wZero)), signedFlag(L, x, "x"), signedFlag(L, w, "w")});
  }
  int64_t rows = y->type().numElements() / std::max<int64_t>(y->type().shape.back(), 1);
  if (y->type().numElements() == 0) return emptyNode(L);
  L.callKernel(qlinear ? "leip_k_qlinear_conv" : "leip_k_conv_integer", args);
  return rows;
}

/// MatMulInteger (a 0, b 1, a_zero_point 2, b_zero_point 3) and QLinearMatMul (a 0,
/// a_scale 1, a_zero_point 2, b 3, b_scale 4, b_zero_point 5, y_scale 6, y_zero_point 7).
int64_t lowerIntegerMatMul(NodeLowering &L) {
  const ir::Node &node = L.node();
  bool qlinear = node.opType() == "QLinearMatMul";
  const ir::Value *a = node.input(0), *b = node.input(qlinear ? 3 : 1), *y = L.outputs()[0];
  const ir::MatMulGeometry geometry = ir::matMulGeometry(a->type().shape, b->type().shape);
  const int64_t M = geometry.M, N = geometry.N, K = geometry.K;
  const std::vector<int64_t> &aOffsets = geometry.aOffsets, &bOffsets = geometry.bOffsets;
  const ir::Value *aZero = optionalInput(L, 2), *bZero = optionalInput(L, qlinear ? 5 : 3);
  std::vector<llvm::Value *> args{L.address(a)};
  if (qlinear) {
    for (size_t i : {1, 4, 6}) requireF32(L, node.input(i), "scales");
    std::vector<int64_t> counts{count(node.input(1)), count(aZero),  count(node.input(6)),
                                count(node.input(7)), count(bZero), count(node.input(4))};
    args.insert(args.end(), {L.address(node.input(1)), L.address(aZero), L.address(b), L.address(node.input(4)),
                             L.address(bZero), L.address(node.input(6)), L.address(node.input(7)), L.address(y),
                             L.i64(M), L.i64(N), L.i64(K), L.i64Array(aOffsets), L.i64Array(bOffsets),
                             L.i64Array(counts), signedFlag(L, a, "a"), signedFlag(L, b, "b"),
                             signedFlag(L, y, "y")});
  } else {
    if (y->type().dtype != ir::DType::I32) L.fail("output must be int32");
    args.insert(args.end(), {L.address(aZero), L.address(b), L.address(bZero), L.address(y), L.i64(M), L.i64(N),
                             L.i64(K), L.i64Array(aOffsets), L.i64Array(bOffsets), L.i64(count(aZero)),
                             L.i64(count(bZero)), signedFlag(L, a, "a"), signedFlag(L, b, "b")});
  }
  int64_t rows = static_cast<int64_t>(aOffsets.size()) * M;
  if (y->type().numElements() == 0) return emptyNode(L);
  L.callKernel(qlinear ? "leip_k_qlinear_matmul" : "leip_k_matmul_integer", args);
  return rows;
}

} // namespace

void addIntegerNNLowerings(LoweringRules &rules) {
  rules["ConvInteger"] = lowerIntegerConv;
  rules["QLinearConv"] = lowerIntegerConv;
  rules["MatMulInteger"] = lowerIntegerMatMul;
  rules["QLinearMatMul"] = lowerIntegerMatMul;
}

} // namespace leip::codegen
