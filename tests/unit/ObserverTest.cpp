// Observers and the streaming histogram (src/quant/Observer.cpp). Expectations come from hand
// computation, sorted samples, analytic Gaussian quantiles, and brute-force searches that
// fake-quantize the data with the test's own implementation of the formulas of
// docs/quantization.md.
#include "leip/quant/Observer.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace leip {
namespace {

using ir::DType;
using quant::Histogram;
using quant::ObserverKind;
using quant::QuantizerKind;
using quant::QuantScheme;

constexpr ObserverKind kAllKinds[] = {ObserverKind::MinMax, ObserverKind::Average, ObserverKind::Percentile,
                                      ObserverKind::Entropy, ObserverKind::Mse};

std::vector<float> gaussian(size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float &x : v) x = dist(rng);
  return v;
}

/// Feeds `values` in batches, as calibration feeds one tensor per sample.
void observeInBatches(quant::Observer &observer, const std::vector<float> &values, size_t batch = 10000) {
  for (size_t i = 0; i < values.size(); i += batch)
    observer.observe(std::span(values).subspan(i, std::min(batch, values.size() - i)));
}

std::pair<float, float> rangeOf(ObserverKind kind, const std::vector<float> &values, const QuantScheme &scheme,
                                const quant::ObserverOptions &options = {}) {
  auto observer = quant::makeObserver(kind, options);
  observeInBatches(*observer, values);
  return observer->range(scheme);
}

/// Mean squared error of fake quantization with the clipping range [lo, hi], written out
/// independently of the library: symmetric int8 scale a / (2^(b-1) - 1), zero point 0,
/// saturation to [-2^(b-1), 2^(b-1) - 1]; asymmetric uint8 scale (hi - lo) / (2^b - 1),
/// zero point round(-lo / scale), saturation to [0, 2^b - 1].
double fakeQuantMse(const std::vector<float> &x, double lo, double hi, int bits, bool symmetric) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  double scale, zeroPoint = 0, qlo, qhi;
  if (symmetric) {
    scale = std::max(-lo, hi) / ((1 << (bits - 1)) - 1);
    qlo = -(1 << (bits - 1));
    qhi = (1 << (bits - 1)) - 1;
  } else {
    scale = (hi - lo) / ((1 << bits) - 1);
    zeroPoint = std::nearbyint(-lo / scale);
    qlo = 0;
    qhi = (1 << bits) - 1;
  }
  double sum = 0;
  for (float v : x) {
    double q = std::clamp(std::nearbyint(v / scale) + zeroPoint, qlo, qhi);
    double d = v - (q - zeroPoint) * scale;
    sum += d * d;
  }
  return sum / static_cast<double>(x.size());
}

/// Sample quantile of the sorted values (the value below which `percent` of them lie).
double sortedQuantile(const std::vector<float> &sorted, double percent) {
  auto index = static_cast<size_t>(std::ceil(percent / 100.0 * static_cast<double>(sorted.size()))) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

TEST(QuantObserver, NamesAndOptions) {
  for (ObserverKind kind : kAllKinds) {
    EXPECT_EQ(quant::parseObserverKind(quant::observerName(kind)), kind);
    EXPECT_EQ(quant::makeObserver(kind)->kind(), kind);
  }
  EXPECT_EQ(quant::parseObserverKind("entropy"), ObserverKind::Entropy);
  try {
    quant::parseObserverKind("kl");
    FAIL() << "accepted an unknown observer";
  } catch (const BadInputError &e) {
    std::string what = e.what();
    for (const char *name : {"'kl'", "minmax", "average", "percentile", "entropy", "mse"})
      EXPECT_NE(what.find(name), std::string::npos) << what;
  }
  for (double bad : {50.0, 100.5, -1.0, std::nan("")})
    EXPECT_THROW(quant::makeObserver(ObserverKind::Percentile, {bad, 2048}), BadInputError) << bad;
  EXPECT_THROW(quant::makeObserver(ObserverKind::Entropy, {99.99, 16}), BadInputError);
  EXPECT_NO_THROW(quant::makeObserver(ObserverKind::Percentile, {100.0, 256}));
}

TEST(QuantObserver, MinMaxIsExact) {
  auto observer = quant::makeObserver(ObserverKind::MinMax);
  EXPECT_EQ(observer->range({}), (std::pair<float, float>{0, 0})); // nothing seen yet
  observer->observe(std::vector<float>{-1.0f, 2.0f});
  observer->observe(std::vector<float>{0.5f, 3.25f});
  observer->observe(std::vector<float>{});
  observer->observe(std::vector<float>{-4.125f, 1.0f});
  EXPECT_EQ(observer->range({}), (std::pair<float, float>{-4.125f, 3.25f}));
  auto positive = quant::makeObserver(ObserverKind::MinMax);
  positive->observe(std::vector<float>{2.0f, 5.0f});
  EXPECT_EQ(positive->range({}), (std::pair<float, float>{0.0f, 5.0f})); // widened to include 0
}

TEST(QuantObserver, AverageIsTheMeanOfPerCallMinAndMax) {
  auto observer = quant::makeObserver(ObserverKind::Average);
  observer->observe(std::vector<float>{-1.0f, 0.0f, 3.0f});
  observer->observe(std::vector<float>{-2.0f, 5.0f});
  observer->observe(std::vector<float>{}); // ignored: not a call with data
  observer->observe(std::vector<float>{-6.0f, 1.0f, 0.5f});
  // mins -1, -2, -6 -> -3; maxs 3, 5, 1 -> 3.
  EXPECT_EQ(observer->range({}), (std::pair<float, float>{-3.0f, 3.0f}));
  auto positive = quant::makeObserver(ObserverKind::Average);
  positive->observe(std::vector<float>{1.0f, 4.0f});
  positive->observe(std::vector<float>{2.0f, 6.0f});
  // mins 1, 2 -> 1.5, widened to 0; maxs 4, 6 -> 5.
  EXPECT_EQ(positive->range({}), (std::pair<float, float>{0.0f, 5.0f}));
}

TEST(QuantObserver, HistogramGrowthMergesBinsExactly) {
  // First batch spans [-1, 1], the second [-3, 3]: the width triples, and merging runs of 3
  // bins gives exactly the histogram built from all values at the final width.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> first = {-1.0f, 1.0f}, second = {3.0f, -2.5f};
  while (first.size() < 20000) {
    float v = dist(rng);
    // Values on an edge of the first width would make the comparison depend on rounding.
    if (std::floor(v * 2048.0f) != v * 2048.0f) first.push_back(v);
  }
  for (int i = 0; i < 20000; ++i) second.push_back(3.0f * dist(rng));
  Histogram streamed(2048), whole(2048);
  streamed.add(first);
  EXPECT_EQ(streamed.binWidth(), 1.0 / 2048);
  streamed.add(second);
  std::vector<float> all = first;
  all.insert(all.end(), second.begin(), second.end());
  whole.add(all);
  EXPECT_EQ(streamed.binWidth(), 3.0 / 2048);
  EXPECT_EQ(whole.binWidth(), streamed.binWidth());
  EXPECT_EQ(streamed.total(), all.size());
  ASSERT_EQ(streamed.counts().size(), 4096u);
  EXPECT_TRUE(std::equal(streamed.counts().begin(), streamed.counts().end(), whole.counts().begin()));
  EXPECT_EQ(streamed.min(), *std::min_element(all.begin(), all.end()));
  EXPECT_EQ(streamed.max(), 3.0f);
}

TEST(QuantObserver, HistogramGrowthConservesCountsInConstantMemory) {
  // Chunks of growing range (sigma 1, 2, 4, ... 512) fed one after the other, against the
  // same values fed at once.
  std::vector<float> all;
  Histogram streamed(2048);
  for (int k = 0; k < 10; ++k) {
    std::vector<float> chunk = gaussian(20000, 100 + k, static_cast<float>(1 << k));
    chunk.push_back(0.0f);
    streamed.add(chunk);
    EXPECT_EQ(streamed.counts().size(), 4096u); // memory does not grow with the data
    all.insert(all.end(), chunk.begin(), chunk.end());
    EXPECT_EQ(streamed.total(), all.size());
    uint64_t sum = 0;
    for (uint64_t c : streamed.counts()) sum += c;
    EXPECT_EQ(sum, all.size()) << "after chunk " << k;
  }
  Histogram whole(2048);
  whole.add(all);
  std::vector<float> sorted = all, magnitudes(all.size());
  std::sort(sorted.begin(), sorted.end());
  std::transform(all.begin(), all.end(), magnitudes.begin(), [](float v) { return std::fabs(v); });
  std::sort(magnitudes.begin(), magnitudes.end());
  const double tolerance = std::max(streamed.binWidth(), whole.binWidth()) * 1.0001;
  const double bin = streamed.binWidth() * 1.0001;
  for (double p : {50.0, 90.0, 99.0, 99.99}) {
    EXPECT_NEAR(streamed.percentile(p, true), whole.percentile(p, true), tolerance) << p;
    EXPECT_NEAR(streamed.percentile(p, true), sortedQuantile(magnitudes, p), bin) << p;
    EXPECT_NEAR(streamed.percentile(100 - p, false), sortedQuantile(sorted, 100 - p), bin) << p;
    EXPECT_NEAR(streamed.percentile(p, false), sortedQuantile(sorted, p), bin) << p;
  }
  std::vector<uint64_t> folded = streamed.foldedCounts();
  ASSERT_EQ(folded.size(), 2048u);
  uint64_t foldedSum = 0;
  for (uint64_t c : folded) foldedSum += c;
  EXPECT_EQ(foldedSum, all.size());
}

TEST(QuantObserver, HistogramOfZerosThenData) {
  Histogram h(256);
  h.add(std::vector<float>{0.0f, 0.0f, 0.0f});
  EXPECT_EQ(h.binWidth(), 0.0);
  EXPECT_EQ(h.percentile(99, true), 0.0);
  h.add(std::vector<float>{-2.0f, 1.0f});
  EXPECT_EQ(h.total(), 5u);
  EXPECT_EQ(h.binWidth(), 2.0 / 256);
  EXPECT_EQ(h.counts()[256], 3u);       // the zeros: [0, w)
  EXPECT_EQ(h.counts()[256 + 128], 1u); // 1.0 = 128 w
  EXPECT_EQ(h.counts()[0], 1u);         // -2.0, the lowest edge, in the lowest bin
}

TEST(QuantObserver, PercentileOnAGaussianSample) {
  std::vector<float> x = gaussian(1000000, 42);
  std::vector<float> sorted = x, magnitudes(x.size());
  std::sort(sorted.begin(), sorted.end());
  std::transform(x.begin(), x.end(), magnitudes.begin(), [](float v) { return std::fabs(v); });
  std::sort(magnitudes.begin(), magnitudes.end());
  Histogram h(2048);
  h.add(x);
  const double w = h.binWidth();
  quant::ObserverOptions options;
  options.percentile = 99.0;
  auto [lo, hi] = rangeOf(ObserverKind::Percentile, x, QuantScheme{QuantizerKind::Symmetric}, options);
  EXPECT_EQ(lo, -hi);
  EXPECT_NEAR(hi, sortedQuantile(magnitudes, 99.0), w);
  // Analytic: P(|X| <= 2.5758) = 0.99 for N(0, 1); the sampling error of that quantile with
  // 10^6 values is about 0.004.
  EXPECT_NEAR(hi, 2.5758, 0.02);
  auto [alo, ahi] = rangeOf(ObserverKind::Percentile, x, QuantScheme{QuantizerKind::Asymmetric}, options);
  EXPECT_NEAR(alo, sortedQuantile(sorted, 1.0), w);
  EXPECT_NEAR(ahi, sortedQuantile(sorted, 99.0), w);
  EXPECT_NEAR(alo, -2.3263, 0.02);
  EXPECT_NEAR(ahi, 2.3263, 0.02);
  // The default 99.99 on |x|: 3.8906 analytically (sampling error about 0.025).
  EXPECT_NEAR(rangeOf(ObserverKind::Percentile, x, QuantScheme{QuantizerKind::Symmetric}).second, 3.8906, 0.08);
  // 100 keeps everything.
  options.percentile = 100.0;
  EXPECT_EQ(rangeOf(ObserverKind::Percentile, x, QuantScheme{QuantizerKind::Asymmetric}, options),
            (std::pair<float, float>{sorted.front(), sorted.back()}));
}

TEST(QuantObserver, EntropyOnAGaussianClipsNearFourSigma) {
  // TensorRT's KL calibration of N(0, 1) at 8 bits clips the tail a little before the
  // sample's extreme: between the 99.99th percentile of |x| (3.89) and the maximum.
  std::vector<float> x = gaussian(1000000, 7);
  float maxAbs = 0;
  for (float v : x) maxAbs = std::max(maxAbs, std::fabs(v));
  auto [lo, hi] = rangeOf(ObserverKind::Entropy, x, QuantScheme{QuantizerKind::Symmetric});
  EXPECT_EQ(lo, -hi);
  EXPECT_GT(hi, 3.5f);
  EXPECT_LT(hi, std::min(5.0f, maxAbs));
  // At 4 bits (8 levels for |x|) it clips harder.
  auto [lo4, hi4] = rangeOf(ObserverKind::Entropy, x, QuantScheme{QuantizerKind::Symmetric, 4});
  EXPECT_LT(hi4, hi);
  EXPECT_GT(hi4, 2.0f);
}

TEST(QuantObserver, EntropyIgnoresTheSpikeOfExactZeros) {
  // A ReLU output: |N(0, 1)| plus as many exact zeros. The zeros quantize exactly whatever the
  // threshold, so the entropy threshold should stay that of the non-zero part alone (the
  // spike in the first bin used to pull it below 1).
  std::vector<float> positive = gaussian(400000, 11);
  for (float &v : positive) v = std::fabs(v);
  std::vector<float> relu = positive;
  relu.insert(relu.end(), positive.size(), 0.0f);
  std::shuffle(relu.begin(), relu.end(), std::mt19937(3));
  for (QuantizerKind kind : {QuantizerKind::Symmetric, QuantizerKind::Asymmetric}) {
    QuantScheme scheme{kind};
    float alone = rangeOf(ObserverKind::Entropy, positive, scheme).second;
    float withZeros = rangeOf(ObserverKind::Entropy, relu, scheme).second;
    EXPECT_GT(alone, 3.0f) << quant::quantizerName(kind);
    EXPECT_NEAR(withZeros, alone, 0.1f * alone) << quant::quantizerName(kind);
  }
}

TEST(QuantObserver, EntropyMatchesAReferenceImplementation) {
  // Deterministic data (exact floats): u^2 for u on a grid of [0, 1), alternating signs,
  // every 100th value tripled. The expected windows come from a numpy transcription of
  // MXNet's / ONNX Runtime's _get_optimal_threshold run on np.histogram(|x|, 2048 bins,
  // range (0, max|x|)) with 128 and 8 levels (TensorRT's one-sided form).
  std::vector<float> x(40000);
  for (size_t k = 0; k < x.size(); ++k) {
    auto u = static_cast<float>(k % 4096);
    float v = u * u / 16777216.0f;
    if (k % 2) v = -v;
    if (k % 100 == 7) v *= 3.0f;
    x[k] = v;
  }
  float maxAbs = 0;
  for (float v : x) maxAbs = std::max(maxAbs, std::fabs(v));
  const double w = maxAbs / 2048.0;
  auto observer = quant::makeObserver(ObserverKind::Entropy);
  observer->observe(x);
  // The tripled values are negative, so the threshold shows on the negative side; the
  // positive side stops at the data's maximum.
  auto [lo8, hi8] = observer->range(QuantScheme{QuantizerKind::Symmetric, 8});
  EXPECT_NEAR(lo8, -728 * w, 1e-5);
  EXPECT_EQ(hi8, *std::max_element(x.begin(), x.end()));
  EXPECT_NEAR(observer->range(QuantScheme{QuantizerKind::Symmetric, 4}).first, -703 * w, 1e-5);
}

TEST(QuantObserver, EntropyAndMseClipOutliersAndLowerTheError) {
  // 10^6 values of N(0, 1) and three outliers near +-100. Minmax spends the 8-bit range on
  // the outliers: error (100/127)^2/12 = 0.052. Clipping near the Gaussian's tail pays
  // (100 - t)^2 for 3 values in 10^6 (about 0.027 at t = 5) but rounds the rest finely.
  std::vector<float> x = gaussian(1000000, 9);
  x.push_back(100.0f);
  x.push_back(-90.0f);
  x.push_back(95.0f);
  std::shuffle(x.begin(), x.end(), std::mt19937(1));
  const QuantScheme int8{QuantizerKind::Symmetric, 8, DType::I8};
  auto [mlo, mhi] = rangeOf(ObserverKind::MinMax, x, int8);
  ASSERT_EQ(mhi, 100.0f);
  const double minmaxError = fakeQuantMse(x, mlo, mhi, 8, true);
  EXPECT_NEAR(minmaxError, std::pow(100.0 / 127, 2) / 12, 0.005);

  // Entropy's minima fall on windows of a multiple of 128 bins (256 or 512 bins of 100/2048
  // here, t about 12.5 or 25, depending on the sample), where the groups of bins are even.
  auto [elo, ehi] = rangeOf(ObserverKind::Entropy, x, int8);
  EXPECT_LT(ehi, 30.0f);
  EXPECT_LT(fakeQuantMse(x, elo, ehi, 8, true), 0.45 * minmaxError);

  // MSE balances t^2 / (127^2 * 12) against 3e-6 * (~95 - t)^2: the optimum is near t = 35.
  auto [slo, shi] = rangeOf(ObserverKind::Mse, x, int8);
  EXPECT_GT(shi, 25.0f);
  EXPECT_LT(shi, 45.0f);
  EXPECT_LT(fakeQuantMse(x, slo, shi, 8, true), 0.5 * minmaxError);
  // At 4 bits the rounding error dominates and MSE clips into the Gaussian itself.
  const QuantScheme int4{QuantizerKind::Symmetric, 4, DType::I8};
  auto [slo4, shi4] = rangeOf(ObserverKind::Mse, x, int4);
  EXPECT_LT(shi4, 4.0f);
  EXPECT_LT(fakeQuantMse(x, slo4, shi4, 4, true), 0.1 * fakeQuantMse(x, mlo, mhi, 4, true));
}

TEST(QuantObserver, MseMatchesABruteForceSearchSymmetric) {
  std::vector<float> x = gaussian(100000, 21);
  for (int bits : {8, 4}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    const QuantScheme scheme{QuantizerKind::Symmetric, bits, DType::I8};
    auto [lo, hi] = rangeOf(ObserverKind::Mse, x, scheme);
    EXPECT_EQ(lo, -hi);
    double bestT = 0, bestError = INFINITY;
    for (double t = 1.0; t < 6.0; t *= 1.004)
      if (double e = fakeQuantMse(x, -t, t, bits, true); e < bestError) {
        bestError = e;
        bestT = t;
      }
    EXPECT_NEAR(hi, bestT, 0.03 * bestT);
    EXPECT_LT(fakeQuantMse(x, lo, hi, bits, true), 1.01 * bestError);
  }
}

TEST(QuantObserver, MseMatchesABruteForceSearchAsymmetric) {
  // A skewed distribution (shifted log-normal): the best uint8 range is not symmetric.
  std::vector<float> x = gaussian(20000, 5);
  for (float &v : x) v = std::exp(0.8f * v) - 1.3f;
  const float dataMin = *std::min_element(x.begin(), x.end()), dataMax = *std::max_element(x.begin(), x.end());
  for (int bits : {8, 4}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    const QuantScheme scheme{QuantizerKind::Asymmetric, bits, DType::U8};
    auto [lo, hi] = rangeOf(ObserverKind::Mse, x, scheme);
    double bestError = INFINITY, bestLo = 0, bestHi = 0;
    for (int i = 0; i <= 20; ++i)
      for (double h = 0.5; h < dataMax * 1.001; h *= 1.04) {
        double l = dataMin * i / 20.0;
        if (double e = fakeQuantMse(x, l, std::min<double>(h, dataMax), bits, false); e < bestError) {
          bestError = e;
          bestLo = l;
          bestHi = h;
        }
      }
    EXPECT_LT(fakeQuantMse(x, lo, hi, bits, false), 1.02 * bestError)
        << "brute force: [" << bestLo << ", " << bestHi << "]";
    EXPECT_LT(hi, dataMax); // clips the long tail
    EXPECT_LT(fakeQuantMse(x, lo, hi, bits, false), fakeQuantMse(x, dataMin, dataMax, bits, false));
  }
}

TEST(QuantObserver, RangesIncludeZeroAndStayInsideTheData) {
  std::vector<float> positive = gaussian(50000, 13);
  for (float &v : positive) v = std::fabs(v) + 2.0f;
  std::vector<float> negative = positive;
  for (float &v : negative) v = -v;
  for (ObserverKind kind : kAllKinds)
    for (QuantizerKind quantizer : {QuantizerKind::Symmetric, QuantizerKind::Asymmetric, QuantizerKind::PowerOfTwo}) {
      SCOPED_TRACE(std::string(quant::observerName(kind)) + " " + std::string(quant::quantizerName(quantizer)));
      const QuantScheme scheme{quantizer, 8, DType::U8};
      auto [lo, hi] = rangeOf(kind, positive, scheme);
      EXPECT_EQ(lo, 0.0f);
      EXPECT_GT(hi, 2.0f);
      EXPECT_LE(hi, *std::max_element(positive.begin(), positive.end()));
      auto [nlo, nhi] = rangeOf(kind, negative, scheme);
      EXPECT_EQ(nhi, 0.0f);
      EXPECT_LT(nlo, -2.0f);
      auto empty = quant::makeObserver(kind);
      EXPECT_EQ(empty->range(scheme), (std::pair<float, float>{0, 0}));
      auto zeros = quant::makeObserver(kind);
      zeros->observe(std::vector<float>(100, 0.0f));
      EXPECT_EQ(zeros->range(scheme), (std::pair<float, float>{0, 0}));
    }
}

TEST(QuantObserver, NonFiniteValuesAreBadInput) {
  for (ObserverKind kind : kAllKinds)
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      auto observer = quant::makeObserver(kind);
      observer->observe(std::vector<float>{-1.0f, 2.0f});
      try {
        observer->observe(std::vector<float>{0.5f, bad, 1.0f});
        FAIL() << quant::observerName(kind) << " accepted " << bad;
      } catch (const BadInputError &e) {
        std::string what = e.what();
        EXPECT_NE(what.find("index 1"), std::string::npos) << what;
        EXPECT_NE(what.find(std::isnan(bad) ? "NaN" : "infinite"), std::string::npos) << what;
      }
      // The bad batch left no trace.
      auto clean = quant::makeObserver(kind);
      clean->observe(std::vector<float>{-1.0f, 2.0f});
      const QuantScheme scheme{QuantizerKind::Asymmetric};
      EXPECT_EQ(observer->range(scheme), clean->range(scheme)) << quant::observerName(kind);
    }
}

} // namespace
} // namespace leip
