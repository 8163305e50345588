// Lowering of Gemm and MatMul (kernels/Gemm.cpp).
#include "../Lowering.h"

#include "leip/ir/NNGeometry.h"

#include <algorithm>

namespace leip::codegen {

namespace {

/// Gemm with a constant B and a bias-like C (absent, or N values broadcast over rows):
/// leip_k_gemm_packed_f32 with B packed [N / 2L][K][2L] (alpha folded in) and beta C as the
/// bias. Returns -1 when the node does not qualify.
int64_t lowerPackedGemm(NodeLowering &L, int64_t M, int64_t N, int64_t K) {
  const ir::Node &node = L.node();
  const ir::Value *bv = node.input(1);
  const ir::Value *cv = node.numInputs() > 2 ? node.input(2) : nullptr;
  if (!bv->isConstant() || node.attrs().getInt("transA", 0) != 0) return -1;
  if (cv) {
    const ir::Shape &cs = cv->type().shape;
    const bool perColumn = cv->type().numElements() == 1 || (cs.back() == N && cv->type().numElements() == N);
    if (!cv->isConstant() || !perColumn) return -1;
  }
  const int64_t lanes = L.vectorLanes(), KB = 2 * lanes, blocks = (N + KB - 1) / KB;
  const bool transB = node.attrs().getInt("transB", 0) != 0;
  const float alpha = node.attrs().getFloat("alpha", 1.0f), beta = node.attrs().getFloat("beta", 1.0f);
  const float *b = bv->constant()->data<float>();
  std::vector<float> packed(static_cast<size_t>(blocks * K * KB), 0.0f), bias(static_cast<size_t>(blocks * KB), 0.0f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n)
      packed[((n / KB) * K + k) * KB + n % KB] = alpha * (transB ? b[n * K + k] : b[k * N + n]);
  if (cv) {
    const float *c = cv->constant()->data<float>();
    for (int64_t n = 0; n < N; ++n) bias[n] = beta * c[cv->type().numElements() == 1 ? 0 : n];
  }
  const int64_t rows = laneTileRows(static_cast<int>(lanes), M);
  std::vector<llvm::Value *> args{L.address(node.input(0)), L.derivedConstant(packed), L.derivedConstant(bias),
                                  L.address(L.outputs()[0]), L.i64(M), L.i64(N), L.i64(K), L.i64(lanes), L.i64(rows)};
  L.pushActivation(args);
  L.callKernel("leip_k_gemm_packed_f32", args);
  return (M + rows - 1) / rows * blocks;
}

int64_t lowerGemm(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  const ir::Value *x = node.input(0), *y = L.outputs()[0];
  const ir::Shape &xs = x->type().shape, &ys = y->type().shape;
  const ir::Value *bv = node.input(1);
  const ir::Value *cv = node.numInputs() > 2 ? node.input(2) : nullptr;
  int64_t transA = node.attrs().getInt("transA", 0), transB = node.attrs().getInt("transB", 0);
  int64_t M = ys[0], N = ys[1], K = transA ? xs[0] : xs[1];
  if (M * N == 0) return 0;
  if (int64_t tasks = lowerPackedGemm(L, M, N, K); tasks >= 0) return tasks;
  int64_t cStrideM = 0, cStrideN = 0;
  if (cv) {
    ir::Shape cs = cv->type().shape;
    while (cs.size() < 2) cs.insert(cs.begin(), 1);
    cStrideM = cs[0] == 1 ? 0 : cs[1];
    cStrideN = cs[1] == 1 ? 0 : 1;
  }
  llvm::Value *bAddr = L.address(bv);
  if (transB && bv->isConstant()) {
    // Pre-pack: B [N, K] becomes row-major [K, N], so the kernel's inner loop is contiguous.
    const float *b = bv->constant()->data<float>();
    std::vector<float> packed(static_cast<size_t>(K * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) packed[k * N + n] = b[n * K + k];
    bAddr = L.derivedConstant(packed);
    transB = 0;
  }
  std::vector<llvm::Value *> args{L.address(x),
                                  bAddr,
                                  L.address(cv),
                                  L.address(y),
                                  L.i64(M),
                                  L.i64(N),
                                  L.i64(K),
                                  L.i32(transA),
                                  L.i32(transB),
                                  L.f32(node.attrs().getFloat("alpha", 1.0f)),
                                  L.f32(node.attrs().getFloat("beta", 1.0f)),
                                  L.i64(cStrideM),
                                  L.i64(cStrideN)};
  L.pushActivation(args);
  L.callKernel("leip_k_gemm_f32", args);
  return M;
}

int64_t lowerMatMul(NodeLowering &L) {
  L.requireFloat32();
  const ir::Node &node = L.node();
  if (node.input(0)->type().shape.empty() || node.input(1)->type().shape.empty()) L.fail("scalar operands");
  const ir::MatMulGeometry g = ir::matMulGeometry(node.input(0)->type().shape, node.input(1)->type().shape);
  const int64_t M = g.M, N = g.N, K = g.K, batches = static_cast<int64_t>(g.aOffsets.size());
  L.callKernel("leip_k_matmul_f32", {L.address(node.input(0)), L.address(node.input(1)), L.address(L.outputs()[0]),
                                     L.i64(M), L.i64(N), L.i64(K), L.i64Array(g.aOffsets), L.i64Array(g.bOffsets)});
  return batches * M;
}

} // namespace

void addGemmLowerings(LoweringRules &rules) {
  rules["Gemm"] = lowerGemm;
  rules["MatMul"] = lowerMatMul;
}

} // namespace leip::codegen
