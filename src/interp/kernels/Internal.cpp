// Reference kernels of the ops leip adds itself (domain "leip"): leip.QConv, whose
// semantics src/ir/ops/Internal.cpp states. This kernel is the oracle the compiled integer
// kernels are compared with bitwise, so it computes exactly those float operations: the
// exact int32 sum, then fmaf with the channel's scale and bias, the residual, the
// activation and the quantization, in that order.
#include "leip/interp/Kernels.h"

#include "KernelUtil.h"
#include "leip/ir/FusedActivation.h"
#include "leip/ir/NNGeometry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace leip::interp {

void registerInternalKernels(KernelTable &table);

namespace {

using ir::DType;
using ir::Tensor;

/// ceil(a / b) for b > 0 and any sign of a.
int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// x - zeroPoint as int32, so that the inner loop is one multiply-add per tap.
template <typename X> std::vector<int32_t> centred(const Tensor &x, int32_t zeroPoint) {
  std::vector<int32_t> out(static_cast<size_t>(x.numElements()));
  const X *p = x.data<X>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int32_t>(p[i]) - zeroPoint;
  return out;
}

/// Writes one output row from the float values (already through the activation).
void storeRow(DType type, const float *v, int64_t count, float inverseScale, float zeroPoint, void *out) {
  switch (type) {
  case DType::F32: std::copy(v, v + count, static_cast<float *>(out)); return;
  case DType::U8: {
    auto *y = static_cast<uint8_t *>(out);
    for (int64_t i = 0; i < count; ++i) y[i] = detail::quantizeScaled<uint8_t>(v[i] * inverseScale, zeroPoint);
    return;
  }
  case DType::I8: {
    auto *y = static_cast<int8_t *>(out);
    for (int64_t i = 0; i < count; ++i) y[i] = detail::quantizeScaled<int8_t>(v[i] * inverseScale, zeroPoint);
    return;
  }
  default: return; // the shape rule admits no other output type
  }
}

void qConvKernel(KernelContext &ctx) {
  const Tensor &x = ctx.input(0);
  const Tensor &w = ctx.input(1);
  const float *residual = ctx.hasInput(2) ? ctx.input(2).data<float>() : nullptr;
  Tensor &y = ctx.output(0);
  ir::WindowGeometry g = ir::convGeometry(ctx.node(), x.shape(), w.shape());
  const ir::AttributeMap &attrs = ctx.attrs();

  const int64_t batch = x.shape()[0], channels = x.shape()[1], height = x.shape()[2], width = x.shape()[3];
  const int64_t outC = w.shape()[0], inCg = w.shape()[1], kh = w.shape()[2], kw = w.shape()[3];
  const int64_t outCg = outC / attrs.getInt("group", 1);
  const int64_t outH = g.output[0], outW = g.output[1];
  const int64_t strideH = g.strides[0], strideW = g.strides[1], dilH = g.dilations[0], dilW = g.dilations[1];
  const int64_t padH = g.padBegin[0], padW = g.padBegin[1];

  auto xZeroPoint = static_cast<int32_t>(attrs.getInt("x_zero_point", int64_t{0}));
  std::vector<int32_t> xc = x.dtype() == DType::U8 ? centred<uint8_t>(x, xZeroPoint) : centred<int8_t>(x, xZeroPoint);
  const int8_t *wData = w.data<int8_t>();
  const std::vector<float> scales = attrs.getFloats("scales");
  const std::vector<float> biases = attrs.getFloats("biases");
  const ir::FusedActivation act = ir::fusedActivation(ctx.node());
  const float inverseScale = attrs.getFloat("y_inverse_scale", 1.0f);
  const auto yZeroPoint = static_cast<float>(attrs.getInt("y_zero_point", int64_t{0}));
  const DType outType = y.dtype();
  const bool direct = attrs.has("requant_scales");
  const std::vector<float> requantScales = attrs.getFloats("requant_scales", {});
  const std::vector<float> requantOffsets = attrs.getFloats("requant_offsets", {});
  const auto yMin = static_cast<float>(attrs.getInt("y_min", int64_t{0}));
  const auto yMax = static_cast<float>(attrs.getInt("y_max", int64_t{0}));
  const size_t elementSize = ir::dtypeSize(outType);
  auto *out = static_cast<std::byte *>(y.rawData());

  // Per kernel column s: the output columns [lo, hi) whose input column lies inside x
  // (padding contributes nothing).
  std::vector<int64_t> colLo(static_cast<size_t>(kw)), colHi(static_cast<size_t>(kw));
  for (int64_t s = 0; s < kw; ++s) {
    int64_t offset = s * dilW - padW;
    colLo[s] = std::clamp<int64_t>(ceilDiv(-offset, strideW), 0, outW);
    colHi[s] = std::clamp<int64_t>(ceilDiv(width - offset, strideW), colLo[s], outW);
  }

  std::vector<int32_t> acc(static_cast<size_t>(outW));
  std::vector<float> row(static_cast<size_t>(outW));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t k = 0; k < outC; ++k) {
      const int64_t firstC = (k / outCg) * inCg;
      const float scale = scales[k], bias = biases[k];
      for (int64_t oh = 0; oh < outH; ++oh) {
        std::fill(acc.begin(), acc.end(), 0);
        for (int64_t c = 0; c < inCg; ++c) {
          const int32_t *plane = xc.data() + ((n * channels + firstC + c) * height) * width;
          const int8_t *wk = wData + ((k * inCg + c) * kh) * kw;
          for (int64_t r = 0; r < kh; ++r) {
            int64_t ih = oh * strideH - padH + r * dilH;
            if (ih < 0 || ih >= height) continue;
            const int32_t *src = plane + ih * width;
            for (int64_t s = 0; s < kw; ++s) {
              const int32_t wv = wk[r * kw + s];
              const int64_t lo = colLo[s], hi = colHi[s];
              if (wv == 0 || lo >= hi) continue;
              const int32_t *in = src + lo * strideW + s * dilW - padW; // input column of output lo
              int32_t *a = acc.data() + lo;
              if (strideW == 1) {
                for (int64_t j = 0; j < hi - lo; ++j) a[j] += in[j] * wv;
              } else {
                for (int64_t j = 0; j < hi - lo; ++j) a[j] += in[j * strideW] * wv;
              }
            }
          }
        }
        const int64_t base = ((n * outC + k) * outH + oh) * outW;
        if (direct) {
          for (int64_t ow = 0; ow < outW; ++ow) {
            float t = std::nearbyintf(std::fmaf(static_cast<float>(acc[ow]), requantScales[k], requantOffsets[k]));
            t = std::min(std::max(t, yMin), yMax);
            if (outType == DType::U8) reinterpret_cast<uint8_t *>(out)[base + ow] = static_cast<uint8_t>(t);
            else reinterpret_cast<int8_t *>(out)[base + ow] = static_cast<int8_t>(t);
          }
          continue;
        }
        for (int64_t ow = 0; ow < outW; ++ow) {
          float v = std::fmaf(static_cast<float>(acc[ow]), scale, bias);
          if (residual) v = v + residual[base + ow];
          row[ow] = act.apply(v);
        }
        storeRow(outType, row.data(), outW, inverseScale, yZeroPoint, out + base * elementSize);
      }
    }
}

} // namespace

void registerInternalKernels(KernelTable &table) { table["QConv"] = qConvKernel; }

} // namespace leip::interp
