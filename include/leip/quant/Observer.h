// Observers: streaming calibration statistics for one tensor, in memory that does not grow
// with the number of values, and the clipping range each calibration method derives from
// them. docs/quantization.md describes every method and the histogram.
#pragma once

#include "leip/quant/Quantizer.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace leip::quant {

/// The `--calibration` choices.
enum class ObserverKind { MinMax, Average, Percentile, Entropy, Mse };

/// Command-line names: minmax, average, percentile, entropy, mse.
std::string_view observerName(ObserverKind kind);
/// Throws BadInputError listing the valid names for anything else.
ObserverKind parseObserverKind(std::string_view name);

struct ObserverOptions {
  /// Percentile observer: keep this percentage of the values inside the range, in (50, 100].
  double percentile = 99.99;
  /// Histogram bins on each side of zero (so |x| gets this many, as TensorRT's 2048), in
  /// [256, 16384].
  int64_t histogramBins = 2048;

  /// Throws BadInputError naming the option that is out of range.
  void validate() const;
};

/// A histogram of signed values with a fixed number of equal-width bins, symmetric around 0:
/// `binsPerSide` bins cover [-binsPerSide * w, 0) and as many cover [0, binsPerSide * w), so
/// 0 is always a bin edge and the histogram of |x| is exact (foldedCounts). When a value falls
/// outside, the bin width is multiplied by the smallest integer k that covers it and each run
/// of k adjacent bins (counted outward from 0) is merged into one: exact, no interpolation,
/// and the memory stays 2 * binsPerSide counts. The exact min and max are kept as well.
class Histogram {
public:
  explicit Histogram(int64_t binsPerSide = 2048);

  /// Adds values; throws BadInputError for NaN or Inf (then nothing is added).
  void add(std::span<const float> values);

  int64_t binsPerSide() const { return binsPerSide_; }
  /// 0 until a non-zero value has been seen.
  double binWidth() const { return width_; }
  /// Bin j covers [(j - binsPerSide) * w, (j - binsPerSide + 1) * w); size 2 * binsPerSide.
  std::span<const uint64_t> counts() const { return counts_; }
  /// Bin k covers |x| in [k * w, (k + 1) * w); size binsPerSide.
  std::vector<uint64_t> foldedCounts() const;
  uint64_t total() const { return total_; }
  /// How many of the values were exactly 0 (they are in the bin [0, w) too).
  uint64_t zeros() const { return zeros_; }
  /// Exact extremes of everything added (0 when empty).
  float min() const { return min_; }
  float max() const { return max_; }

  /// The value below which `percent` of the values lie (linear within a bin, clamped to
  /// [min, max]); of |x| when `magnitude`. 0 when empty.
  double percentile(double percent, bool magnitude) const;

private:
  void grow(double maxAbs);

  int64_t binsPerSide_;
  double width_ = 0;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t zeros_ = 0;
  float min_ = 0, max_ = 0;
};

/// Collects the statistics of one tensor over calibration and gives its clipping range.
class Observer {
public:
  virtual ~Observer() = default;
  /// Called once per sample or batch with all values of the tensor. NaN or Inf: BadInputError
  /// (the caller adds the tensor name). Empty spans are ignored.
  virtual void observe(std::span<const float> values) = 0;
  /// The clipping range [lo, hi] to quantize with for `scheme` (per-channel schemes are
  /// treated as their per-tensor counterpart). lo <= 0 <= hi always; [0, 0] before any data.
  virtual std::pair<float, float> range(const QuantScheme &scheme) const = 0;
  virtual ObserverKind kind() const = 0;
};

/// minmax, average, percentile, entropy or mse. Throws BadInputError for invalid options.
std::unique_ptr<Observer> makeObserver(ObserverKind kind, const ObserverOptions &options = {});

} // namespace leip::quant
