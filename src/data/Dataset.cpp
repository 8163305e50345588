#include "leip/data/Dataset.h"

#include "leip/data/Image.h"
#include "leip/data/Npy.h"
#include "leip/support/Error.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace leip::data {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// Preprocessor

namespace {

struct Preset {
  const char *name;
  float scale;
  std::vector<float> mean, std;
};

const std::vector<Preset> &presets() {
  static const std::vector<Preset> kPresets = {
      {"imagenet", 1.0f / 255.0f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
      {"uint8", 1.0f, {0.0f}, {1.0f}},
      {"identity", 1.0f, {0.0f}, {1.0f}},
  };
  return kPresets;
}

std::string listToString(const std::vector<float> &values) {
  std::ostringstream out;
  if (values.size() == 1) {
    out << values[0];
    return out.str();
  }
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? "," : "") << values[i];
  out << "]";
  return out.str();
}

} // namespace

bool Preprocessor::isIdentity() const {
  auto all = [](const std::vector<float> &v, float x) {
    return std::all_of(v.begin(), v.end(), [x](float e) { return e == x; });
  };
  return scale == 1.0f && all(mean, 0.0f) && all(std, 1.0f);
}

std::string Preprocessor::describe() const {
  std::ostringstream out;
  out << name << ": x = (v * " << scale << " - " << listToString(mean) << ") / " << listToString(std);
  return out.str();
}

std::string preprocessorNames() {
  std::string names;
  for (const Preset &p : presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
  return names;
}

Preprocessor makePreprocessor(const std::string &name, const std::vector<float> &mean, const std::vector<float> &std,
                              std::optional<float> scale) {
  std::string preset = name.empty() ? "identity" : name;
  auto it = std::find_if(presets().begin(), presets().end(), [&](const Preset &p) { return preset == p.name; });
  if (it == presets().end())
    throw BadInputError("unknown preprocessor '" + name + "' (expected one of: " + preprocessorNames() + ")");
  Preprocessor p;
  p.name = it->name;
  p.scale = scale.value_or(it->scale);
  p.mean = mean.empty() ? it->mean : mean;
  p.std = std.empty() ? it->std : std;
  bool overridden = !mean.empty() || !std.empty() || scale.has_value();
  if (overridden && p.name != "identity") p.name = "custom";
  if (overridden && p.name == "identity" && !p.isIdentity()) p.name = "custom";

  if (!std::isfinite(p.scale) || p.scale == 0.0f)
    throw BadInputError("preprocessor scale must be a finite, non-zero number, not " + std::to_string(p.scale));
  for (float m : p.mean)
    if (!std::isfinite(m)) throw BadInputError("preprocessor mean " + listToString(p.mean) + " is not finite");
  for (float s : p.std)
    if (!std::isfinite(s) || s == 0.0f)
      throw BadInputError("preprocessor std " + listToString(p.std) + " must be finite and non-zero");
  if (p.mean.size() > 1 && p.std.size() > 1 && p.mean.size() != p.std.size())
    throw BadInputError("preprocessor mean has " + std::to_string(p.mean.size()) + " values and std " +
                        std::to_string(p.std.size()) + "; give one value or one per channel for each");
  return p;
}

// ---------------------------------------------------------------------------------------
// Datasets

namespace {

/// The channel axis of an image-like input: [1,C,H,W] or [1,H,W,C] with C 1 or 3.
std::optional<size_t> imageChannelAxis(const ir::Shape &shape) {
  if (shape.size() != 4) return std::nullopt;
  if (shape[1] == 1 || shape[1] == 3) return 1;
  if (shape[3] == 1 || shape[3] == 3) return 3;
  return std::nullopt;
}

std::string lowerExtension(const fs::path &path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

/// Everything the implementations share: checking a loaded sample's shape, preprocessing
/// it into the model input's dtype, labels, and the first-N limit.
class DatasetBase : public Dataset {
public:
  DatasetBase(std::string path, const ir::TensorType &modelInput, const Preprocessor &preprocessor)
      : path_(std::move(path)), preprocessor_(preprocessor) {
    if (!modelInput.isStatic())
      throw BadInputError(path_ + ": the model input " + modelInput.toString() +
                          " has dynamic dims; bind them (--input_shapes) before reading data");
    if (modelInput.rank() < 1)
      throw BadInputError(path_ + ": the model input " + modelInput.toString() +
                          " has no batch dim; datasets need an input of shape [batch, ...]");
    if (modelInput.dtype == ir::DType::Bool)
      throw BadInputError(path_ + ": the model input is " + modelInput.toString() + "; datasets feed numbers, not bool");
    rest_.assign(modelInput.shape.begin() + 1, modelInput.shape.end());
    type_.dtype = modelInput.dtype;
    type_.shape = modelInput.shape;
    type_.shape[0] = 1;
    checkPreprocessorFits();
  }

  size_t size() const override { return count_; }
  const ir::TensorType &sampleType() const override { return type_; }
  std::optional<int64_t> label(size_t i) const override {
    return i < labels_.size() ? labels_[i] : std::nullopt;
  }
  bool hasLabels() const override {
    return !labels_.empty() && std::all_of(labels_.begin(), labels_.end(), [](const auto &l) { return l.has_value(); });
  }

  ir::Tensor sample(size_t i) const override {
    if (i >= count_)
      throw InternalError(path_ + ": sample " + std::to_string(i) + " of " + std::to_string(count_) + " requested");
    return preprocess(load(i), i);
  }

  /// Sets the labels (one per sample before the limit), then keeps the first maxSamples.
  void finish(std::vector<std::optional<int64_t>> labels, const DatasetOptions &options, size_t total) {
    if (!options.labelsPath.empty()) {
      if (!labels.empty())
        throw BadInputError(path_ + ": gives labels itself; do not also give a labels file (" + options.labelsPath +
                            ")");
      labels = readLabels(options.labelsPath, total);
    }
    labels_ = std::move(labels);
    if (total == 0)
      throw BadInputError(path_ + ": no samples" +
                          (std::filesystem::is_directory(path_) ? " (a folder needs .npy or image files: .png .jpg .jpeg .bmp)"
                           : path_.ends_with(".txt")            ? " (an index needs 'path [label]' lines)"
                                                                : " (the first axis, the sample axis, has length 0)"));
    count_ = options.maxSamples ? std::min(total, options.maxSamples) : total;
    if (labels_.size() > count_) labels_.resize(count_);
  }

protected:
  /// Sample i as stored, of shape rest_ or [1] + rest_ (any dtype).
  virtual ir::Tensor load(size_t i) const = 0;

  /// "holds shape [28,28]; the model input f32[1,1,28,28] needs [1,28,28] (or [1,1,28,28])".
  std::string shapeMismatch(const ir::Shape &got) const {
    return "holds shape " + ir::shapeToString(got) + "; the model input " + inputText() + " needs " +
           ir::shapeToString(rest_) + " (or " + ir::shapeToString(type_.shape) + ")";
  }
  bool fitsSample(const ir::Shape &shape) const { return shape == rest_ || shape == type_.shape; }
  std::string inputText() const { return ir::TensorType{type_.dtype, type_.shape, {}}.toString(); }

  /// Decodes an image, converts and resizes it to the input's channels, H and W, and lays it
  /// out as the input is (NCHW or NHWC), as floats 0..255.
  ir::Tensor loadImage(const std::string &file) const {
    std::optional<size_t> axis = imageChannelAxis(type_.shape);
    if (!axis)
      throw BadInputError(file + ": images need a model input of shape [N,C,H,W] or [N,H,W,C] with C = 1 or 3; the "
                                 "model input is " +
                          inputText());
    const bool nchw = *axis == 1;
    const int64_t channels = type_.shape[*axis];
    const int64_t height = nchw ? type_.shape[2] : type_.shape[1];
    const int64_t width = nchw ? type_.shape[3] : type_.shape[2];
    Image image = resizeBilinear(readImage(file, static_cast<int>(channels)), height, width);
    ir::Tensor out(ir::DType::F32, type_.shape);
    float *dst = out.data<float>();
    if (!nchw) {
      std::copy(image.pixels.begin(), image.pixels.end(), dst);
      return out;
    }
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x) dst[(c * height + y) * width + x] = image.at(y, x, c);
    return out;
  }

  std::string path_;
  std::vector<std::optional<int64_t>> labels_; // empty: no labels

private:
  /// mean/std with several values need a channel axis of that size.
  void checkPreprocessorFits() {
    size_t perChannel = std::max(preprocessor_.mean.size(), preprocessor_.std.size());
    if (perChannel <= 1) return;
    const ir::Shape &s = type_.shape;
    std::optional<size_t> axis = imageChannelAxis(s);
    if (!axis || s[*axis] != static_cast<int64_t>(perChannel)) {
      if (s.size() >= 2 && s[1] == static_cast<int64_t>(perChannel)) axis = 1;
      else if (s.size() >= 2 && s.back() == static_cast<int64_t>(perChannel)) axis = s.size() - 1;
      else
        throw BadInputError("preprocessor '" + preprocessor_.name + "' has " + std::to_string(perChannel) +
                            " per-channel values, but the model input " + inputText() +
                            " has no channel axis of that size (axis 1 or last); give --mean/--std with 1 value or " +
                            "one per channel");
    }
    channelAxis_ = *axis;
    channelStride_ = 1;
    for (size_t d = *axis + 1; d < s.size(); ++d) channelStride_ *= s[d];
    channelCount_ = s[*axis];
  }

  size_t channelOf(int64_t element) const {
    return channelAxis_ ? static_cast<size_t>((element / channelStride_) % channelCount_) : 0;
  }

  [[noreturn]] void notFinite(size_t i, int64_t element, double value, bool raw) const {
    throw BadInputError(describe(i) + ": element " + std::to_string(element) + " is " +
                        (std::isnan(value) ? "NaN" : "infinite") + (raw ? "" : " after preprocessing") +
                        "; datasets must hold finite numbers");
  }

  ir::Tensor preprocess(ir::Tensor raw, size_t i) const {
    if (!fitsSample(raw.shape())) throw BadInputError(describe(i) + ": " + shapeMismatch(raw.shape()));
    const int64_t n = raw.numElements();
    if (raw.dtype() == ir::DType::Bool)
      throw BadInputError(describe(i) + ": holds bool values; datasets feed numbers");
    if (preprocessor_.isIdentity() && raw.dtype() == type_.dtype) {
      if (raw.dtype() == ir::DType::F32) {
        for (int64_t k = 0; k < n; ++k)
          if (float v = raw.data<float>()[k]; !std::isfinite(v)) notFinite(i, k, v, true);
      } else if (ir::isFloat(raw.dtype())) {
        for (int64_t k = 0; k < n; ++k)
          if (double v = raw.getAsDouble(k); !std::isfinite(v)) notFinite(i, k, v, true);
      }
      return raw.reshaped(type_.shape);
    }
    ir::Tensor out(type_);
    const bool floatIn = raw.dtype() == ir::DType::F32, floatOut = type_.dtype == ir::DType::F32;
    for (int64_t k = 0; k < n; ++k) {
      float v = floatIn ? raw.data<float>()[k] : static_cast<float>(raw.getAsDouble(k));
      if (!std::isfinite(v)) notFinite(i, k, v, true);
      float x = preprocessor_.apply(v, channelOf(k));
      if (!std::isfinite(x)) notFinite(i, k, x, false);
      if (floatOut) {
        out.data<float>()[k] = x;
      } else if (ir::isFloat(type_.dtype)) {
        out.setFromDouble(k, x);
      } else {
        // Integer inputs (raw uint8 pixels, int8 models): round, and refuse what does not fit.
        double r = std::nearbyint(static_cast<double>(x));
        out.setFromDouble(k, r);
        if (out.getAsDouble(k) != r)
          throw BadInputError(describe(i) + ": element " + std::to_string(k) + " is " + std::to_string(x) +
                              " after preprocessing, which does not fit the model input " + inputText() +
                              " (adjust --mean/--scale)");
      }
    }
    return out;
  }

  std::vector<std::optional<int64_t>> readLabels(const std::string &file, size_t total) const {
    ir::Tensor t = readNpy(file);
    if (!ir::isInteger(t.dtype()))
      throw BadInputError(file + ": labels must be integers, the file holds " + std::string(ir::dtypeName(t.dtype())));
    if (t.rank() != 1 || t.shape()[0] != static_cast<int64_t>(total))
      throw BadInputError(file + ": expected " + std::to_string(total) + " labels (shape [" + std::to_string(total) +
                          "], one per sample of " + path_ + "), found shape " + ir::shapeToString(t.shape()));
    std::vector<std::optional<int64_t>> labels;
    labels.reserve(total);
    for (int64_t k = 0; k < t.numElements(); ++k) labels.push_back(t.getAsInt64(k));
    return labels;
  }

  ir::TensorType type_;
  ir::Shape rest_; // the sample shape without a batch dim
  Preprocessor preprocessor_;
  size_t count_ = 0;
  size_t channelAxis_ = 0; // 0: mean/std are the same for every element
  int64_t channelStride_ = 1, channelCount_ = 1;
};

/// One .npy whose first axis is the sample axis, read one sample at a time with pread.
class NpyFileDataset : public DatasetBase {
public:
  NpyFileDataset(const std::string &path, const ir::TensorType &modelInput, const DatasetOptions &options)
      : DatasetBase(path, modelInput, options.preprocessor), header_(readNpyHeader(path)) {
    const ir::Shape &shape = header_.shape;
    ir::Shape sampleShape(shape.empty() ? shape.begin() : shape.begin() + 1, shape.end());
    if (shape.empty() || !fitsSample(sampleShape))
      throw BadInputError(path + ": holds shape " + ir::shapeToString(shape) +
                          ", samples along the first axis; the model input " + inputText() + " needs [N]+" +
                          ir::shapeToString(sampleType().shape) + " or [N]+" +
                          ir::shapeToString(ir::Shape(sampleType().shape.begin() + 1, sampleType().shape.end())));
    sampleShape_ = sampleShape;
    sampleBytes_ = static_cast<size_t>(ir::numElements(sampleShape)) * header_.storedElementSize();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw BadInputError(path + ": cannot open (" + std::strerror(errno) + ")");
    finish({}, options, static_cast<size_t>(shape[0]));
  }
  ~NpyFileDataset() override {
    if (fd_ >= 0) ::close(fd_);
  }
  NpyFileDataset(const NpyFileDataset &) = delete;
  NpyFileDataset &operator=(const NpyFileDataset &) = delete;

  std::string describe(size_t i) const override { return path_ + "[" + std::to_string(i) + "]"; }

protected:
  ir::Tensor load(size_t i) const override {
    std::string bytes(sampleBytes_, '\0');
    size_t done = 0;
    auto offset = static_cast<off_t>(header_.dataOffset + i * sampleBytes_);
    while (done < sampleBytes_) {
      ssize_t got = ::pread(fd_, bytes.data() + done, sampleBytes_ - done, offset + static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw BadInputError(describe(i) + ": read failed (" + (got < 0 ? std::strerror(errno) : "file shrank") + ")");
      done += static_cast<size_t>(got);
    }
    return decodeNpyData(header_, bytes.data(), sampleShape_);
  }

private:
  NpyHeader header_;
  ir::Shape sampleShape_;
  size_t sampleBytes_ = 0;
  int fd_ = -1;
};

/// A list of files, one sample each (.npy or image): a folder, an index, or one image.
class FileListDataset : public DatasetBase {
public:
  struct Entry {
    std::string file;
    std::optional<int64_t> label;
  };

  FileListDataset(const std::string &path, const ir::TensorType &modelInput, const DatasetOptions &options,
                  std::vector<Entry> entries)
      : DatasetBase(path, modelInput, options.preprocessor) {
    std::vector<std::optional<int64_t>> labels;
    if (std::any_of(entries.begin(), entries.end(), [](const Entry &e) { return e.label.has_value(); }))
      for (const Entry &e : entries) labels.push_back(e.label);
    for (Entry &e : entries) files_.push_back(std::move(e.file));
    finish(std::move(labels), options, files_.size());
    files_.resize(size());
  }

  std::string describe(size_t i) const override { return files_.at(i); }

protected:
  ir::Tensor load(size_t i) const override {
    const std::string &file = files_[i];
    if (isImageFile(file)) return loadImage(file);
    ir::Tensor t = readNpy(file);
    if (!fitsSample(t.shape())) throw BadInputError(file + ": " + shapeMismatch(t.shape()));
    return t;
  }

private:
  std::vector<std::string> files_;
};

bool isSampleFile(const fs::path &path) { return lowerExtension(path) == ".npy" || isImageFile(path.string()); }

std::vector<FileListDataset::Entry> listFolder(const std::string &folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code typeError;
    if (it->is_regular_file(typeError) && isSampleFile(it->path())) files.push_back(it->path());
  }
  if (ec) throw BadInputError(folder + ": cannot list the folder (" + ec.message() + ")");
  std::sort(files.begin(), files.end(), [](const fs::path &a, const fs::path &b) {
    return a.filename().string() < b.filename().string();
  });
  std::vector<FileListDataset::Entry> entries;
  for (const fs::path &f : files) entries.push_back({f.string(), std::nullopt});
  return entries;
}

/// Reads `path label` lines. The label is the last word when it is an integer; the path is
/// the rest of the line (so paths may hold spaces).
std::vector<FileListDataset::Entry> readIndex(const std::string &indexPath) {
  std::ifstream in(indexPath);
  if (!in) throw BadInputError(indexPath + ": cannot open the index file");
  fs::path base = fs::path(indexPath).parent_path();
  std::vector<FileListDataset::Entry> entries;
  std::string line;
  bool anyLabel = false, anyUnlabelled = false;
  for (size_t number = 1; std::getline(in, line); ++number) {
    std::string where = indexPath + ":" + std::to_string(number);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    size_t last = line.find_last_not_of(" \t");
    std::string text = line.substr(first, last - first + 1);

    std::optional<int64_t> label;
    std::string file = text;
    size_t space = text.find_last_of(" \t");
    if (space != std::string::npos) {
      std::string word = text.substr(space + 1);
      int64_t value = 0;
      auto [end, err] = std::from_chars(word.data(), word.data() + word.size(), value);
      if (err == std::errc::result_out_of_range)
        throw BadInputError(where + ": label '" + word + "' is out of range (it must fit a 64-bit integer)");
      if (err != std::errc() || end != word.data() + word.size())
        throw BadInputError(where + ": expected 'path [label]' with an integer label, got '" + text + "'");
      label = value;
      file = text.substr(0, text.find_last_not_of(" \t", space) + 1);
    }
    fs::path resolved = fs::path(file).is_absolute() ? fs::path(file) : base / file;
    if (!isSampleFile(resolved))
      throw BadInputError(where + ": '" + file + "' is not a .npy or image file (.png .jpg .jpeg .bmp)");
    std::error_code ec;
    if (!fs::is_regular_file(resolved, ec))
      throw BadInputError(where + ": '" + resolved.string() + "' does not exist");
    (label ? anyLabel : anyUnlabelled) = true;
    if (anyLabel && anyUnlabelled)
      throw BadInputError(where + ": some lines have a label and some do not; label every line or none");
    entries.push_back({resolved.lexically_normal().string(), label});
  }
  if (in.bad()) throw BadInputError(indexPath + ": read error");
  return entries;
}

} // namespace

std::unique_ptr<Dataset> openDataset(const std::string &path, const ir::TensorType &modelInput,
                                     const DatasetOptions &options) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw BadInputError(path + ": no such file or folder");
  if (fs::is_directory(status))
    return std::make_unique<FileListDataset>(path, modelInput, options, listFolder(path));
  std::string ext = lowerExtension(path);
  if (ext == ".npy") return std::make_unique<NpyFileDataset>(path, modelInput, options);
  if (ext == ".txt") return std::make_unique<FileListDataset>(path, modelInput, options, readIndex(path));
  if (isImageFile(path))
    return std::make_unique<FileListDataset>(path, modelInput, options,
                                             std::vector<FileListDataset::Entry>{{path, std::nullopt}});
  throw BadInputError(path + ": not a dataset (expected a .npy file, a folder of .npy or image files, or an index "
                             ".txt of 'path [label]' lines)");
}

} // namespace leip::data
