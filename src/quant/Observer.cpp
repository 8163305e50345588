#include "leip/quant/Observer.h"

#include "QuantUtil.h"

#include "leip/support/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace leip::quant {

namespace {

struct KindName {
  ObserverKind kind;
  std::string_view name;
};
constexpr KindName kObserverNames[] = {
    {ObserverKind::MinMax, "minmax"},   {ObserverKind::Average, "average"}, {ObserverKind::Percentile, "percentile"},
    {ObserverKind::Entropy, "entropy"}, {ObserverKind::Mse, "mse"},
};

/// [lo, hi] narrowed to the data's extremes and widened to include 0.
std::pair<float, float> clampToData(double lo, double hi, float dataMin, float dataMax) {
  return {std::min(static_cast<float>(std::max(lo, static_cast<double>(dataMin))), 0.0f),
          std::max(static_cast<float>(std::min(hi, static_cast<double>(dataMax))), 0.0f)};
}

class MinMaxObserver final : public Observer {
public:
  void observe(std::span<const float> values) override {
    if (values.empty()) return;
    detail::checkFinite(values);
    auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    min_ = std::min(min_, *lo);
    max_ = std::max(max_, *hi);
  }
  std::pair<float, float> range(const QuantScheme &) const override { return {min_, max_}; }
  ObserverKind kind() const override { return ObserverKind::MinMax; }

private:
  float min_ = 0, max_ = 0; // starting at 0 includes 0 in the range
};

/// The mean over observe() calls of each call's min and of each call's max.
class AverageObserver final : public Observer {
public:
  void observe(std::span<const float> values) override {
    if (values.empty()) return;
    detail::checkFinite(values);
    auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    sumMin_ += *lo;
    sumMax_ += *hi;
    ++calls_;
  }
  std::pair<float, float> range(const QuantScheme &) const override {
    if (calls_ == 0) return {0.0f, 0.0f};
    return {std::min(static_cast<float>(sumMin_ / calls_), 0.0f), std::max(static_cast<float>(sumMax_ / calls_), 0.0f)};
  }
  ObserverKind kind() const override { return ObserverKind::Average; }

private:
  double sumMin_ = 0, sumMax_ = 0;
  int64_t calls_ = 0;
};

class HistogramObserver : public Observer {
public:
  explicit HistogramObserver(const ObserverOptions &options) : options_(options), histogram_(options.histogramBins) {}
  void observe(std::span<const float> values) override { histogram_.add(values); }

protected:
  std::pair<float, float> toData(double lo, double hi) const {
    return clampToData(lo, hi, histogram_.min(), histogram_.max());
  }

  ObserverOptions options_;
  Histogram histogram_;
};

class PercentileObserver final : public HistogramObserver {
public:
  using HistogramObserver::HistogramObserver;
  std::pair<float, float> range(const QuantScheme &scheme) const override {
    const double p = options_.percentile;
    if (scheme.symmetric()) {
      double t = histogram_.percentile(p, true);
      return toData(-t, t);
    }
    return toData(histogram_.percentile(100.0 - p, false), histogram_.percentile(p, false));
  }
  ObserverKind kind() const override { return ObserverKind::Percentile; }
};

// ---------------------------------------------------------------------------------------
// Entropy (KL divergence) calibration

/// MXNet's and ONNX Runtime's smoothing: zero entries get eps, the others give up as much in
/// total, so that KL(P || Q) stays finite. False when every entry is zero.
bool smoothDistribution(std::vector<double> &v) {
  constexpr double kEps = 1e-4;
  auto nonZero = static_cast<double>(std::count_if(v.begin(), v.end(), [](double x) { return x != 0; }));
  if (nonZero == 0) return false;
  double eps1 = kEps * (static_cast<double>(v.size()) - nonZero) / nonZero;
  for (double &x : v)
    x = x == 0 ? kEps : std::max(x - eps1, kEps);
  return true;
}

/// KL(P || Q) of TensorRT's calibration: P is `window` with the counts outside it added to
/// its first and last bin; Q quantizes the window (without those outliers) into `levels`
/// groups of adjacent bins and spreads each group's count evenly over the bins where P is
/// non-zero. window.size() >= levels.
double quantizationKl(std::span<const double> window, double leftOutliers, double rightOutliers, int64_t levels) {
  const size_t n = window.size();
  std::vector<double> p(window.begin(), window.end());
  p.front() += leftOutliers;
  p.back() += rightOutliers;
  std::vector<double> q(n, 0.0);
  const size_t merged = n / static_cast<size_t>(levels);
  for (size_t level = 0; level < static_cast<size_t>(levels); ++level) {
    size_t start = level * merged, stop = level + 1 == static_cast<size_t>(levels) ? n : start + merged;
    double sum = 0, nonZero = 0;
    for (size_t i = start; i < stop; ++i) {
      sum += window[i];
      nonZero += p[i] != 0;
    }
    if (nonZero == 0) continue;
    for (size_t i = start; i < stop; ++i)
      if (p[i] != 0) q[i] = sum / nonZero;
  }
  if (!smoothDistribution(p) || !smoothDistribution(q)) return std::numeric_limits<double>::infinity();
  double pSum = std::accumulate(p.begin(), p.end(), 0.0), qSum = std::accumulate(q.begin(), q.end(), 0.0);
  double kl = 0;
  for (size_t i = 0; i < n; ++i) {
    double pi = p[i] / pSum;
    kl += pi * std::log(pi / (q[i] / qSum));
  }
  return kl;
}

/// Exact zeros (half of every ReLU output) are left out of the distributions: zero is
/// always representable, so they carry no error whatever the threshold, but as a spike in the
/// first bin they dominate KL(P || Q) and drive the search to the smallest window (on
/// fmnist_mobilenetv2 it clipped ReLU6 outputs at 0.75-1.3 and lost 66 points of top-1).
/// Symmetric schemes: TensorRT's algorithm on the histogram of |x| with 2^(bits-1) levels,
/// windows [0, i * w) for i from 2^(bits-1) bins up to all occupied bins; threshold i * w.
/// Asymmetric: windows [-a * w, b * w) of the signed histogram with 2^bits levels, shrinking
/// both ends toward 0 in the proportion of the occupied bins on each side.
class EntropyObserver final : public HistogramObserver {
public:
  using HistogramObserver::HistogramObserver;
  std::pair<float, float> range(const QuantScheme &scheme) const override {
    scheme.validate();
    const double w = histogram_.binWidth();
    if (w == 0) return {0.0f, 0.0f};
    return scheme.symmetric() ? symmetricRange(int64_t{1} << (scheme.bits - 1), w)
                              : asymmetricRange(int64_t{1} << scheme.bits, w);
  }
  ObserverKind kind() const override { return ObserverKind::Entropy; }

private:
  std::pair<float, float> symmetricRange(int64_t levels, double w) const {
    std::vector<uint64_t> folded = histogram_.foldedCounts();
    std::vector<double> bins(folded.begin(), folded.end());
    bins[0] -= static_cast<double>(histogram_.zeros()); // exact zeros cost nothing (see above)
    auto occupied = static_cast<int64_t>(bins.rend() - std::find_if(bins.rbegin(), bins.rend(), [](double c) {
                                           return c != 0;
                                         }));
    if (occupied <= levels) return toData(histogram_.min(), histogram_.max());
    std::vector<double> suffix(bins.size() + 1, 0.0); // suffix[i] = sum of bins[i:]
    for (size_t i = bins.size(); i-- > 0;)
      suffix[i] = suffix[i + 1] + bins[i];
    int64_t best = occupied;
    double bestKl = std::numeric_limits<double>::infinity();
    for (int64_t i = levels; i <= occupied; ++i) {
      double kl = quantizationKl(std::span(bins).first(static_cast<size_t>(i)), 0.0, suffix[static_cast<size_t>(i)],
                                 levels);
      if (kl < bestKl) {
        bestKl = kl;
        best = i;
      }
    }
    double t = static_cast<double>(best) * w;
    return toData(-t, t);
  }

  std::pair<float, float> asymmetricRange(int64_t levels, double w) const {
    std::span<const uint64_t> counts = histogram_.counts();
    const int64_t half = histogram_.binsPerSide();
    auto first = std::find_if(counts.begin(), counts.end(), [](uint64_t c) { return c != 0; }) - counts.begin();
    auto last = counts.rend() - std::find_if(counts.rbegin(), counts.rend(), [](uint64_t c) { return c != 0; });
    const int64_t negative = std::max<int64_t>(half - first, 0), positive = std::max<int64_t>(last - half, 0);
    const int64_t occupied = negative + positive;
    if (occupied <= levels) return toData(histogram_.min(), histogram_.max());
    std::vector<double> bins(counts.begin() + (half - negative), counts.begin() + (half + positive));
    if (positive > 0) bins[static_cast<size_t>(negative)] -= static_cast<double>(histogram_.zeros());
    std::vector<double> prefix(bins.size() + 1, 0.0);
    std::partial_sum(bins.begin(), bins.end(), prefix.begin() + 1);
    int64_t bestA = negative, bestB = positive;
    double bestKl = std::numeric_limits<double>::infinity();
    for (int64_t n = levels; n <= occupied; ++n) {
      auto a = static_cast<int64_t>(std::llround(static_cast<double>(n * negative) / static_cast<double>(occupied)));
      int64_t b = n - a;
      auto begin = static_cast<size_t>(negative - a), end = static_cast<size_t>(negative + b);
      double kl = quantizationKl(std::span(bins).subspan(begin, end - begin), prefix[begin],
                                 prefix.back() - prefix[end], levels);
      if (kl < bestKl) {
        bestKl = kl;
        bestA = a;
        bestB = b;
      }
    }
    return toData(-static_cast<double>(bestA) * w, static_cast<double>(bestB) * w);
  }
};

// ---------------------------------------------------------------------------------------
// MSE calibration

/// An antiderivative of (u - round(u))^2, continuous: each unit period adds 1/12.
double sawtoothSquareIntegral(double u) {
  double n = std::nearbyint(u), r = u - n;
  return n / 12.0 + r * r * r / 3.0;
}

/// Squared error of fake quantization with step `scale` (grid: multiples of scale) and
/// saturation to [lo, hi] (grid points), integrated over x in [a, b].
double integratedError(double a, double b, double scale, double lo, double hi) {
  auto clipped = [](double from, double to, double edge) { // integral of (x - edge)^2
    return (std::pow(to - edge, 3) - std::pow(from - edge, 3)) / 3.0;
  };
  double error = 0;
  if (a < lo) error += clipped(a, std::min(b, lo), lo);
  if (b > hi) error += clipped(std::max(a, hi), b, hi);
  double from = std::max(a, lo), to = std::min(b, hi);
  if (from < to)
    error += scale * scale * scale * (sawtoothSquareIntegral(to / scale) - sawtoothSquareIntegral(from / scale));
  return error;
}

/// The range whose fake quantization has the least expected squared error, the values being
/// taken as uniform within each histogram bin (the outermost bins cut at the exact min/max).
/// Candidates lie on bin edges: every edge for symmetric schemes, every power-of-two scale
/// for power_of_two, and for asymmetric ones a 33 x 33 grid of (lo, hi) edges refined by
/// coordinate descent over single edges.
class MseObserver final : public HistogramObserver {
public:
  using HistogramObserver::HistogramObserver;
  std::pair<float, float> range(const QuantScheme &scheme) const override {
    const QuantScheme tensorScheme = scheme.perTensor();
    tensorScheme.validate();
    const double w = histogram_.binWidth();
    if (w == 0) return {0.0f, 0.0f};
    Data data = occupiedBins();
    auto error = [&](double lo, double hi) { return expectedError(data, lo, hi, tensorScheme); };
    const double dataMin = histogram_.min(), dataMax = histogram_.max();
    if (tensorScheme.kind == QuantizerKind::PowerOfTwo) {
      // Each halving of the scale halves the threshold; the largest covers the data.
      auto widest = static_cast<double>(paramsFromRange(histogram_.min(), histogram_.max(), tensorScheme).scales[0]);
      const double halfLevels = static_cast<double>(tensorScheme.qmax() - tensorScheme.qmin()) / 2;
      double bestT = std::max(-dataMin, dataMax), bestError = std::numeric_limits<double>::infinity();
      for (int e = 0; e < 40 && widest * halfLevels * std::ldexp(1.0, -e) >= w; ++e) {
        double t = std::min(widest * halfLevels * std::ldexp(1.0, -e), std::max(-dataMin, dataMax));
        if (double err = error(-t, t); err < bestError) {
          bestError = err;
          bestT = t;
        }
      }
      return toData(-bestT, bestT);
    }
    if (tensorScheme.symmetric()) {
      const double maxAbs = std::max(-dataMin, dataMax);
      auto edges = static_cast<int64_t>(std::ceil(maxAbs / w));
      double bestT = maxAbs, bestError = error(-maxAbs, maxAbs);
      for (int64_t i = 1; i < edges; ++i) {
        double t = static_cast<double>(i) * w;
        if (double err = error(-t, t); err < bestError) {
          bestError = err;
          bestT = t;
        }
      }
      return toData(-bestT, bestT);
    }
    // Asymmetric: lo = -i * w for i in [0, negative] (the last one is the data min), hi likewise.
    const double lowest = std::min(dataMin, 0.0), highest = std::max(dataMax, 0.0);
    const auto negative = static_cast<int64_t>(std::ceil(-lowest / w));
    const auto positive = static_cast<int64_t>(std::ceil(highest / w));
    auto loAt = [&](int64_t i) { return i == negative ? lowest : -static_cast<double>(i) * w; };
    auto hiAt = [&](int64_t j) { return j == positive ? highest : static_cast<double>(j) * w; };
    const int64_t strideNeg = std::max<int64_t>(1, (negative + 31) / 32);
    const int64_t stridePos = std::max<int64_t>(1, (positive + 31) / 32);
    int64_t bestI = negative, bestJ = positive;
    double bestError = error(lowest, highest);
    auto consider = [&](int64_t i, int64_t j) {
      if (double err = error(loAt(i), hiAt(j)); err < bestError) {
        bestError = err;
        bestI = i;
        bestJ = j;
      }
    };
    for (int64_t i = 0;; i = std::min(i + strideNeg, negative)) {
      for (int64_t j = 0;; j = std::min(j + stridePos, positive)) {
        consider(i, j);
        if (j == positive) break;
      }
      if (i == negative) break;
    }
    for (int round = 0; round < 16; ++round) {
      const int64_t startI = bestI, startJ = bestJ;
      for (int64_t i = std::max<int64_t>(0, startI - strideNeg); i <= std::min(negative, startI + strideNeg); ++i)
        consider(i, startJ);
      const int64_t midI = bestI;
      for (int64_t j = std::max<int64_t>(0, startJ - stridePos); j <= std::min(positive, startJ + stridePos); ++j)
        consider(midI, j);
      if (bestI == startI && bestJ == startJ) break;
    }
    return toData(loAt(bestI), hiAt(bestJ));
  }
  ObserverKind kind() const override { return ObserverKind::Mse; }

private:
  struct Bin {
    double lo, hi, count;
  };
  using Data = std::vector<Bin>;

  Data occupiedBins() const {
    std::span<const uint64_t> counts = histogram_.counts();
    const double w = histogram_.binWidth();
    const int64_t half = histogram_.binsPerSide();
    Data data;
    for (size_t j = 0; j < counts.size(); ++j)
      if (counts[j] != 0) {
        double lo = static_cast<double>(static_cast<int64_t>(j) - half) * w;
        data.push_back({std::max(lo, static_cast<double>(histogram_.min())),
                        std::min(lo + w, static_cast<double>(histogram_.max())), static_cast<double>(counts[j])});
      }
    return data;
  }

  static double expectedError(const Data &data, double lo, double hi, const QuantScheme &scheme) {
    ir::QuantParams params = paramsFromRange(static_cast<float>(lo), static_cast<float>(hi), scheme);
    const double scale = params.scales[0];
    const auto zeroPoint = static_cast<double>(params.zeroPoints[0]);
    const double satLo = (static_cast<double>(scheme.intMin()) - zeroPoint) * scale;
    const double satHi = (static_cast<double>(scheme.intMax()) - zeroPoint) * scale;
    double total = 0;
    for (const Bin &bin : data) {
      if (bin.hi > bin.lo) {
        total += bin.count * integratedError(bin.lo, bin.hi, scale, satLo, satHi) / (bin.hi - bin.lo);
      } else { // all values of the bin at one point (a single distinct value)
        double x = bin.lo;
        double q = std::clamp(std::nearbyint(x / scale) * scale, satLo, satHi);
        total += bin.count * (x - q) * (x - q);
      }
    }
    return total;
  }
};

} // namespace

// ---------------------------------------------------------------------------------------
// Histogram

Histogram::Histogram(int64_t binsPerSide) : binsPerSide_(binsPerSide) {
  if (binsPerSide < 1) throw InternalError("Histogram needs at least one bin per side");
  counts_.assign(static_cast<size_t>(2 * binsPerSide), 0);
}

void Histogram::add(std::span<const float> values) {
  if (values.empty()) return;
  detail::checkFinite(values);
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  min_ = total_ == 0 ? *lo : std::min(min_, *lo);
  max_ = total_ == 0 ? *hi : std::max(max_, *hi);
  total_ += values.size();
  zeros_ += static_cast<uint64_t>(std::count(values.begin(), values.end(), 0.0f));
  const double maxAbs = std::max(-static_cast<double>(*lo), static_cast<double>(*hi));
  if (maxAbs == 0 && width_ == 0) { // only zeros so far: they go to the bin [0, w) whatever w becomes
    counts_[static_cast<size_t>(binsPerSide_)] += values.size();
    return;
  }
  if (width_ == 0)
    width_ = maxAbs / static_cast<double>(binsPerSide_);
  else if (maxAbs > width_ * static_cast<double>(binsPerSide_))
    grow(maxAbs);
  const double inverse = 1.0 / width_;
  const int64_t last = binsPerSide_ - 1;
  uint64_t *zero = counts_.data() + binsPerSide_; // bin [0, w); bin [-w, 0) is zero[-1]
  for (float v : values) {
    auto offset = std::min(static_cast<int64_t>(std::fabs(static_cast<double>(v)) * inverse), last);
    if (v >= 0)
      ++zero[offset];
    else
      ++zero[-1 - offset];
  }
}

void Histogram::grow(double maxAbs) {
  const auto n = static_cast<double>(binsPerSide_);
  auto factor = static_cast<int64_t>(std::ceil(maxAbs / (width_ * n)));
  factor = std::max<int64_t>(factor, 2);
  while (width_ * static_cast<double>(factor) * n < maxAbs)
    ++factor;
  // Merge runs of `factor` bins counted outward from 0 on each side; reads run ahead of writes.
  uint64_t *zero = counts_.data() + binsPerSide_;
  for (int sign : {1, -1}) {
    auto at = [&](int64_t k) -> uint64_t & { return sign > 0 ? zero[k] : zero[-1 - k]; };
    for (int64_t k = 0; k < binsPerSide_; ++k) {
      uint64_t sum = 0;
      for (int64_t i = k * factor; i < std::min((k + 1) * factor, binsPerSide_); ++i)
        sum += at(i);
      at(k) = sum;
    }
  }
  width_ *= static_cast<double>(factor);
}

std::vector<uint64_t> Histogram::foldedCounts() const {
  std::vector<uint64_t> folded(static_cast<size_t>(binsPerSide_));
  for (int64_t k = 0; k < binsPerSide_; ++k)
    folded[static_cast<size_t>(k)] =
        counts_[static_cast<size_t>(binsPerSide_ + k)] + counts_[static_cast<size_t>(binsPerSide_ - 1 - k)];
  return folded;
}

double Histogram::percentile(double percent, bool magnitude) const {
  if (total_ == 0 || width_ == 0) return 0;
  std::vector<uint64_t> folded;
  std::span<const uint64_t> bins = counts_;
  double firstEdge = -static_cast<double>(binsPerSide_) * width_;
  double lowest = min_, highest = max_;
  if (magnitude) {
    folded = foldedCounts();
    bins = folded;
    firstEdge = 0;
    lowest = 0;
    highest = std::max(-static_cast<double>(min_), static_cast<double>(max_));
  }
  const double target = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(total_);
  double below = 0;
  for (size_t j = 0; j < bins.size(); ++j) {
    auto count = static_cast<double>(bins[j]);
    if (count != 0 && below + count >= target) {
      double value = firstEdge + (static_cast<double>(j) + (target - below) / count) * width_;
      return std::clamp(value, lowest, highest);
    }
    below += count;
  }
  return highest;
}

// ---------------------------------------------------------------------------------------

std::string_view observerName(ObserverKind kind) {
  for (const auto &entry : kObserverNames)
    if (entry.kind == kind) return entry.name;
  throw InternalError("unknown ObserverKind");
}

ObserverKind parseObserverKind(std::string_view name) {
  std::string valid;
  for (const auto &entry : kObserverNames) {
    if (entry.name == name) return entry.kind;
    valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw BadInputError("unknown calibration method '" + std::string(name) + "'; expected one of " + valid);
}

void ObserverOptions::validate() const {
  if (!(percentile > 50.0 && percentile <= 100.0))
    throw BadInputError("percentile must be in (50, 100], got " + std::to_string(percentile));
  // Entropy and MSE searches cost O(bins^2): 16384 bins take seconds per tensor.
  if (histogramBins < 256 || histogramBins > 16384)
    throw BadInputError("histogram bins must be between 256 and 16384, got " + std::to_string(histogramBins));
}

std::unique_ptr<Observer> makeObserver(ObserverKind kind, const ObserverOptions &options) {
  options.validate();
  switch (kind) {
  case ObserverKind::MinMax: return std::make_unique<MinMaxObserver>();
  case ObserverKind::Average: return std::make_unique<AverageObserver>();
  case ObserverKind::Percentile: return std::make_unique<PercentileObserver>(options);
  case ObserverKind::Entropy: return std::make_unique<EntropyObserver>(options);
  case ObserverKind::Mse: return std::make_unique<MseObserver>(options);
  }
  throw InternalError("unknown ObserverKind");
}

} // namespace leip::quant
