// Datasets of model inputs: the representative data of calibration (`leip compress
// --rep_dataset`) and the labelled test data of `leip evaluate --test_path`.
//
// A dataset is opened against the model input it feeds, and every sample comes out laid
// out exactly as that input (batch dim 1, the input's dtype), preprocessed. Samples are read
// on demand, one at a time, so memory does not grow with the number of samples.
#pragma once

#include "leip/ir/Tensor.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace leip::data {

/// Per-channel affine preprocessing of raw values v (image pixels 0..255, or the values a
/// .npy holds): x = (v * scale - mean[c]) / std[c]. mean and std hold one value (all
/// channels) or one per channel of the model input.
struct Preprocessor {
  std::string name = "identity"; // the preset it started from, or "custom" (for reports)
  float scale = 1.0f;
  std::vector<float> mean{0.0f};
  std::vector<float> std{1.0f};

  /// True when it leaves values unchanged (scale 1, mean 0, std 1).
  bool isIdentity() const;
  float apply(float value, size_t channel) const {
    size_t m = mean.size() == 1 ? 0 : channel, s = std.size() == 1 ? 0 : channel;
    return static_cast<float>((static_cast<double>(value) * scale - mean[m]) / std[s]);
  }
  /// "imagenet: x = (v * 0.00392157 - [0.485,0.456,0.406]) / [0.229,0.224,0.225]"
  std::string describe() const;
};

/// The named presets:
///   imagenet  scale 1/255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225 (RGB)
///   uint8     raw 0..255 pixel values (for models that take raw pixels, often as uint8)
///   identity  values unchanged: .npy data as stored, image pixels 0..255
/// `name` may be empty (identity). Explicit mean/std/scale override the preset's; the result
/// is then named "custom" unless the preset was identity. Throws BadInputError for an unknown
/// name, an empty/non-finite value, a zero std or mean/std of different per-channel sizes.
Preprocessor makePreprocessor(const std::string &name, const std::vector<float> &mean = {},
                              const std::vector<float> &std = {}, std::optional<float> scale = {});
/// Names makePreprocessor accepts, for help texts: "imagenet, uint8, identity".
std::string preprocessorNames();

struct DatasetOptions {
  Preprocessor preprocessor;
  /// Optional integer 1-D .npy with one label per sample (any dataset kind; an index.txt may
  /// give labels itself instead).
  std::string labelsPath;
  /// Use only the first maxSamples samples (0: all). The subset is deterministic: the first
  /// N in dataset order (file order of a .npy, name order of a folder, line order of an index).
  size_t maxSamples = 0;
};

/// Samples for one model input. Implementations (in src/data/Dataset.cpp) read each
/// sample from disk when asked.
class Dataset {
public:
  virtual ~Dataset() = default;

  virtual size_t size() const = 0;
  /// The type of every sample: the model input's dtype and shape with batch dim 1.
  virtual const ir::TensorType &sampleType() const = 0;
  /// Sample i (0 <= i < size()), read from disk now and preprocessed. Throws BadInputError
  /// naming describe(i) for an unreadable or corrupt file, a wrong shape, NaN/Inf values or
  /// a value that does not fit an integer input. Thread-safe (no shared file position).
  virtual ir::Tensor sample(size_t i) const = 0;
  virtual std::optional<int64_t> label(size_t i) const = 0;
  /// True when every sample has a label.
  virtual bool hasLabels() const = 0;
  /// Where sample i comes from, for messages: "shirt.png", "images.npy[17]".
  virtual std::string describe(size_t i) const = 0;
};

/// Opens `path` as inputs for a model input of type `modelInput` (static shape whose first
/// dim is the batch; the sample shape is the same with batch 1):
///   - a .npy whose first axis is the sample axis: each sample is shaped as the model input
///     without its batch dim, or with a batch dim of 1 ([N,1,28,28] or [N,1,1,28,28] for an
///     input [1,1,28,28]);
///   - a folder of .npy files (one sample each, shaped as above) and/or images
///     (.png, .jpg, .jpeg, .bmp), in name order; subfolders and other files are ignored;
///   - a .txt index with one `path [label]` per line (paths relative to the index's folder;
///     blank lines and lines starting with # are skipped).
/// Images are converted to the input's channel count (1: luminance, 3: RGB), resized
/// (bilinear) to its height and width, and laid out as it is: NCHW when the channel dim
/// (1 or 3) is axis 1, NHWC when it is the last axis.
/// Throws BadInputError naming the file (and line) for a missing path, an empty dataset, a
/// wrong shape, a malformed index line, a bad label or labels file, or a preprocessor whose
/// mean/std sizes do not fit the channel count.
std::unique_ptr<Dataset> openDataset(const std::string &path, const ir::TensorType &modelInput,
                                     const DatasetOptions &options = {});

} // namespace leip::data
