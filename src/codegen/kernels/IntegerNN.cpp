// Integer NN ops of the QOperator format: ConvInteger and QLinearConv (1 to 3 spatial dims,
// padded to 3 by the compiler), MatMulInteger and QLinearMatMul (numpy.matmul batching by
// per-batch offsets). u8 or i8 operands (flags say which), zero points per tensor or per
// channel/row/column (`count` values, element c % count, as the reference's PerChannel).
// Products of zero-point-centred values are exact in int32 and summed in int64, as in the
// reference (src/interp/kernels/NN.cpp); ConvInteger/MatMulInteger keep the low 32 bits,
// QLinear* requantize: saturate(round_half_even(float(acc) * (x_scale * w_scale / y_scale))
// + y_zero_point). Simple loops: correct first, a later issue makes them fast.
#include "Kernels.h"
#include "WindowGeometry.h"

using namespace leip::kernels;

namespace {

constexpr int64_t kChunk = 256; // output columns accumulated at once on the stack

/// Element i of a u8 (isSigned 0) or i8 (1) tensor.
inline int32_t load8(const void *p, int64_t i, int32_t isSigned) {
  return isSigned ? static_cast<int32_t>(static_cast<const int8_t *>(p)[i])
                  : static_cast<int32_t>(static_cast<const uint8_t *>(p)[i]);
}

/// A zero point: 0 when absent, else element c % count.
inline int32_t zeroPoint(const void *p, int64_t count, int64_t c, int32_t isSigned) {
  return p ? load8(p, c % count, isSigned) : 0;
}

/// saturate(rint(scaled) + zeroPoint) to u8/i8 (NaN gives the lowest value), as
/// leip::interp::detail::quantizeScaled.
inline void storeQuantized(void *y, int64_t i, float scaled, float zeroPoint, int32_t isSigned) {
  const float lo = isSigned ? -128.0f : 0.0f, hi = isSigned ? 127.0f : 255.0f;
  float v = nearbyintf(scaled) + zeroPoint;
  v = v >= lo ? v : lo; // NaN fails the comparison: lo
  v = v <= hi ? v : hi;
  if (isSigned) static_cast<int8_t *>(y)[i] = static_cast<int8_t>(v);
  else static_cast<uint8_t *>(y)[i] = static_cast<uint8_t>(v);
}

/// Operand types and zero points of one integer convolution or matmul.
struct Operands {
  const void *x, *xZero, *w, *wZero;
  int64_t xZeroCount, wZeroCount;
  int32_t xSigned, wSigned;
};

/// acc[0, len) = the convolution sums of output row `task` = (n, m, od, oh), columns
/// [j0, j0 + len). x [N, C, D, H, W], w [M, C / group, KD, KH, KW].
void convRow(const Operands &o, const WindowGeometry &g, int64_t C, int64_t M, int64_t group, int64_t task, int64_t j0,
             int64_t len, int64_t *__restrict acc) {
  const int64_t D = g.in(0), H = g.in(1), W = g.in(2), OD = g.out(0), OH = g.out(1);
  const int64_t KD = g.kernel(0), KH = g.kernel(1), KW = g.kernel(2);
  const int64_t sW = g.stride(2), dW = g.dilation(2), pW = g.pad(2);
  const int64_t oh = task % OH, od = task / OH % OD, m = task / (OH * OD) % M, n = task / (OH * OD * M);
  const int64_t Cg = C / group, c0 = m / (M / group) * Cg;
  const int32_t zx = zeroPoint(o.xZero, o.xZeroCount, 0, o.xSigned);
  const int32_t zw = zeroPoint(o.wZero, o.wZeroCount, m, o.wSigned);
  for (int64_t j = 0; j < len; ++j) acc[j] = 0;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kd = 0; kd < KD; ++kd) {
      const int64_t id = od * g.stride(0) - g.pad(0) + kd * g.dilation(0);
      if (id < 0 || id >= D) continue;
      for (int64_t kh = 0; kh < KH; ++kh) {
        const int64_t ih = oh * g.stride(1) - g.pad(1) + kh * g.dilation(1);
        if (ih < 0 || ih >= H) continue;
        const int64_t rowStart = (((n * C + c0 + c) * D + id) * H + ih) * W;
        for (int64_t kw = 0; kw < KW; ++kw) {
          const int32_t wv = load8(o.w, (((m * Cg + c) * KD + kd) * KH + kh) * KW + kw, o.wSigned) - zw;
          // Columns j with 0 <= j * sW + offset < W, within [j0, j0 + len).
          const int64_t offset = kw * dW - pW;
          int64_t lo = offset >= 0 ? 0 : (-offset + sW - 1) / sW;
          int64_t hi = W - 1 - offset < 0 ? 0 : (W - 1 - offset) / sW + 1;
          lo = lo > j0 ? lo : j0;
          hi = hi < j0 + len ? hi : j0 + len;
          for (int64_t j = lo; j < hi; ++j)
            acc[j - j0] += static_cast<int64_t>((load8(o.x, rowStart + j * sW + offset, o.xSigned) - zx) * wv);
        }
      }
    }
}

/// acc[0, len) = row m of batch `batch`, columns [j0, j0 + len): a [.., M, K], b [.., K, N].
void matMulRow(const Operands &o, int64_t M, int64_t N, int64_t K, const int64_t *aOffsets,
               const int64_t *bOffsets, int64_t task, int64_t j0, int64_t len, int64_t *__restrict acc) {
  const int64_t batch = task / M, m = task % M;
  const int64_t aRow = aOffsets[batch] + m * K, bBase = bOffsets[batch];
  const int32_t za = zeroPoint(o.xZero, o.xZeroCount, m, o.xSigned);
  int32_t zb[kChunk];
  for (int64_t j = 0; j < len; ++j) {
    zb[j] = zeroPoint(o.wZero, o.wZeroCount, j0 + j, o.wSigned);
    acc[j] = 0;
  }
  for (int64_t k = 0; k < K; ++k) {
    const int32_t av = load8(o.x, aRow + k, o.xSigned) - za;
    const int64_t bRow = bBase + k * N + j0;
    for (int64_t j = 0; j < len; ++j)
      acc[j] += static_cast<int64_t>(av * (load8(o.w, bRow + j, o.wSigned) - zb[j]));
  }
}

} // namespace

/// ConvInteger: y [N, M, OD, OH, OW] int32. Tasks are output rows (n, m, od, oh).
extern "C" void leip_k_conv_integer(const void *x, const void *xZero, const void *w, const void *wZero,
                                    int32_t *__restrict y, const int64_t *geom, int64_t C, int64_t M, int64_t group,
                                    int64_t wZeroCount, int32_t xSigned, int32_t wSigned, int64_t begin,
                                    int64_t end) {
  const Operands o{x, xZero, w, wZero, 1, wZeroCount, xSigned, wSigned};
  const WindowGeometry g{geom};
  const int64_t OW = g.out(2);
  int64_t acc[kChunk];
  for (int64_t task = begin; task < end; ++task)
    for (int64_t j0 = 0; j0 < OW; j0 += kChunk) {
      const int64_t len = OW - j0 < kChunk ? OW - j0 : kChunk;
      convRow(o, g, C, M, group, task, j0, len, acc);
      for (int64_t j = 0; j < len; ++j) y[task * OW + j0 + j] = static_cast<int32_t>(static_cast<uint32_t>(acc[j]));
    }
}

/// QLinearConv: x_scale, y_scale and y_zero_point per tensor, w_scale per tensor or per
/// output channel (wScaleCount), bias int32 [M] or null.
extern "C" void leip_k_qlinear_conv(const void *x, const float *xScale, const void *xZero, const void *w,
                                    const float *wScale, const void *wZero, const float *yScale, const void *yZero,
                                    const int32_t *bias, void *y, const int64_t *geom, int64_t C, int64_t M,
                                    int64_t group, int64_t wScaleCount, int64_t wZeroCount, int32_t xSigned,
                                    int32_t wSigned, int32_t ySigned, int64_t begin, int64_t end) {
  const Operands o{x, xZero, w, wZero, 1, wZeroCount, xSigned, wSigned};
  const WindowGeometry g{geom};
  const int64_t OW = g.out(2), OD = g.out(0), OH = g.out(1);
  const float zy = static_cast<float>(load8(yZero, 0, ySigned));
  int64_t acc[kChunk];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t m = task / (OH * OD) % M;
    const float multiplier = xScale[0] * wScale[m % wScaleCount] / yScale[0];
    const int64_t b = bias ? bias[m] : 0;
    for (int64_t j0 = 0; j0 < OW; j0 += kChunk) {
      const int64_t len = OW - j0 < kChunk ? OW - j0 : kChunk;
      convRow(o, g, C, M, group, task, j0, len, acc);
      for (int64_t j = 0; j < len; ++j)
        storeQuantized(y, task * OW + j0 + j, static_cast<float>(acc[j] + b) * multiplier, zy, ySigned);
    }
  }
}

/// MatMulInteger: y [batches, M, N] int32; tasks are rows of all batches (batches * M).
extern "C" void leip_k_matmul_integer(const void *a, const void *aZero, const void *b, const void *bZero,
                                      int32_t *__restrict y, int64_t M, int64_t N, int64_t K,
                                      const int64_t *aOffsets, const int64_t *bOffsets, int64_t aZeroCount,
                                      int64_t bZeroCount, int32_t aSigned, int32_t bSigned, int64_t begin,
                                      int64_t end) {
  const Operands o{a, aZero, b, bZero, aZeroCount, bZeroCount, aSigned, bSigned};
  int64_t acc[kChunk];
  for (int64_t task = begin; task < end; ++task)
    for (int64_t j0 = 0; j0 < N; j0 += kChunk) {
      const int64_t len = N - j0 < kChunk ? N - j0 : kChunk;
      matMulRow(o, M, N, K, aOffsets, bOffsets, task, j0, len, acc);
      for (int64_t j = 0; j < len; ++j) y[task * N + j0 + j] = static_cast<int32_t>(static_cast<uint32_t>(acc[j]));
    }
}

/// QLinearMatMul: a_scale, a_zero_point, y_scale, y_zero_point per tensor or per row (of
/// M), b_zero_point and b_scale per tensor or per column (of N); `counts` holds the number
/// of values of each, in that order.
extern "C" void leip_k_qlinear_matmul(const void *a, const float *aScale, const void *aZero, const void *b,
                                      const float *bScale, const void *bZero, const float *yScale, const void *yZero,
                                      void *y, int64_t M, int64_t N, int64_t K, const int64_t *aOffsets,
                                      const int64_t *bOffsets, const int64_t *counts, int32_t aSigned,
                                      int32_t bSigned, int32_t ySigned, int64_t begin, int64_t end) {
  const Operands o{a, aZero, b, bZero, counts[1], counts[4], aSigned, bSigned};
  int64_t acc[kChunk];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t m = task % M;
    const float as = aScale[m % counts[0]], ys = yScale[m % counts[2]];
    const float zy = static_cast<float>(load8(yZero, m % counts[3], ySigned));
    for (int64_t j0 = 0; j0 < N; j0 += kChunk) {
      const int64_t len = N - j0 < kChunk ? N - j0 : kChunk;
      matMulRow(o, M, N, K, aOffsets, bOffsets, task, j0, len, acc);
      for (int64_t j = 0; j < len; ++j)
        storeQuantized(y, task * N + j0 + j, static_cast<float>(acc[j]) * (as * bScale[(j0 + j) % counts[5]] / ys), zy,
                       ySigned);
    }
  }
}
