// The contract between the NVIDIA kernels (kernels_cuda/*.cu, device code) and the compiler
// that launches them (src/codegen/cuda/, host code). Plain C++ that both sides compile:
// no CUDA, no C++ library.
//
// Every kernel is a device function
//     extern "C" __device__ void leip_g_<name>(const <Op>Params *p, <tensor pointers>...)
// that computes its part of the output from blockIdx/threadIdx. For each node the compiler
// generates a __global__ entry that calls it with a pointer to a constant <Op>Params (its
// bytes are this struct's, so the layout must stay the same on both sides: only int32_t,
// int64_t and float fields, no pointers) and the tensors' device addresses. After inlining,
// every field is a constant, as the CPU kernels' shapes are. The plan<Op>() functions below
// choose the kernel variant, grid and block for a given shape; the compiler calls them, so
// a kernel and its launch geometry change together, here.
// See docs/cuda.md.
#pragma once

#include <stdint.h>

namespace leip::gpu {

/// The most dims an elementwise or copy kernel walks (the compiler collapses contiguous
/// dims first).
constexpr int kMaxRank = 6;

/// A fused activation: kind numbers of include/leip/ir/FusedActivation.h (0 none, 1 Relu,
/// 2 Clip [alpha=min, beta=max], 3 LeakyRelu [alpha], 4 Sigmoid, 5 HardSigmoid [alpha, beta],
/// 6 HardSwish, 7 Tanh, 8 Silu).
struct Activation {
  int32_t kind;
  float alpha;
  float beta;
};

/// How a kernel is launched.
struct Launch {
  const char *kernel; // the device function, "leip_g_..."
  uint32_t grid[3];
  uint32_t block[3];
};

/// 2-D convolution, NCHW, weights in ONNX layout [K][C/groups][KH][KW] (fp32):
///   y[n,k,oy,ox] = act(bias[k] + sum_{c,r,s} x[n, g*C/groups + c, oy*sh - pt + r*dh, ox*sw - pl + s*dw]
///                                   * w[k,c,r,s] + residual[n,k,oy,ox])
/// (out-of-range input positions read 0; bias and residual may be null). Also Gemm/MatMul
/// with a constant right side, as a 1x1 convolution over [M,K,1,1].
struct ConvParams {
  int32_t n, c, h, w; // input
  int32_t k, oh, ow;  // output channels and size
  int32_t kh, kw, strideH, strideW, padTop, padLeft, dilationH, dilationW;
  int32_t groups;
  Activation act;
};
// leip_g_conv2d_f32_<variant>(const ConvParams *p, const float *x, const float *w,
//                             const float *bias, const float *residual, float *y)
// leip_g_depthwise_f32(same arguments): groups == c == k.
Launch planConv2d(const ConvParams &p);

/// MaxPool (kind 0) / AveragePool (kind 1) over NCHW; padded positions are skipped by max
/// and counted by average only when countIncludePad. GlobalAveragePool is kind 1 with a
/// window of the whole plane.
struct PoolParams {
  int32_t n, c, h, w, oh, ow;
  int32_t kh, kw, strideH, strideW, padTop, padLeft, dilationH, dilationW;
  int32_t kind;
  int32_t countIncludePad;
};
// leip_g_pool2d_f32(const PoolParams *p, const float *x, float *y)
Launch planPool2d(const PoolParams &p);

/// y = act(a op b) with ONNX broadcasting: dims of y (rank <= kMaxRank, leading dims 1
/// when fewer), element strides of a and b (0 along broadcast dims).
/// op: 0 Add, 1 Sub, 2 Mul, 3 Div, 4 Max, 5 Min, 6 Pow.
struct BinaryParams {
  int32_t op;
  int32_t rank;
  int64_t count; // elements of y
  int64_t dims[kMaxRank];
  int64_t strideA[kMaxRank];
  int64_t strideB[kMaxRank];
  Activation act;
};
// leip_g_binary_f32(const BinaryParams *p, const float *a, const float *b, float *y)
Launch planBinary(const BinaryParams &p);

/// y = act(f(x)) elementwise over `count` elements.
/// op: 0 identity (a standalone activation), 1 Exp, 2 Log, 3 Sqrt, 4 Neg, 5 Abs,
/// 6 Reciprocal, 7 Floor, 8 Ceil, 9 Erf, 10 Softplus.
struct UnaryParams {
  int32_t op;
  int64_t count;
  Activation act;
};
// leip_g_unary_f32(const UnaryParams *p, const float *x, float *y)
Launch planUnary(const UnaryParams &p);

/// Softmax (or LogSoftmax when logSoftmax) along one axis of a tensor viewed as
/// [outer, axis, inner].
struct SoftmaxParams {
  int64_t outer, axis, inner;
  int32_t logSoftmax;
};
// leip_g_softmax_f32(const SoftmaxParams *p, const float *x, float *y)
Launch planSoftmax(const SoftmaxParams &p);

/// dst[dstBase + sum_d i_d * dstStrides[d]] = src[srcBase + sum_d i_d * srcStrides[d]] for
/// every index i over dims (rank <= kMaxRank, leading dims 1 when fewer); strides and bases
/// in elements of elementBytes (1, 2, 4 or 8) bytes. Reshape/Flatten/Identity (plain copies),
/// Transpose, Slice, Concat (one copy per input into a strided view of y).
struct CopyParams {
  int32_t elementBytes;
  int32_t rank;
  int64_t count; // product of dims
  int64_t srcBase, dstBase;
  int64_t dims[kMaxRank];
  int64_t srcStrides[kMaxRank];
  int64_t dstStrides[kMaxRank];
};
// leip_g_copy(const CopyParams *p, const void *src, void *dst)
Launch planCopy(const CopyParams &p);

} // namespace leip::gpu

#include "QuantizedParams.h" // the integer kernels' contract

#include "Plans.h"          // the plan functions' inline definitions
#include "QuantizedPlans.h" // and the integer kernels' ones
