// Datasets (src/data/Dataset.cpp): .npy files read one sample at a time, folders, index files
// of PNG images (written here with stb_image_write), layouts, preprocessing and bad input.
// Expected values are computed by hand from the pixels and formulas, not by the code under test.
#include "leip/data/Dataset.h"
#include "leip/data/Image.h"
#include "leip/data/Npy.h"
#include "leip/support/Error.h"

#include "../codegen/TestWorkDir.h"

#include <gtest/gtest.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace leip;
using namespace leip::ir;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string &name) {
  fs::path dir = test::workRoot() / ("dataset_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string writeFile(const fs::path &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

/// A float tensor whose element k of sample n is n * 100 + k.
Tensor numbered(Shape shape) {
  Tensor t(DType::F32, shape);
  int64_t perSample = t.numElements() / shape[0];
  for (int64_t i = 0; i < t.numElements(); ++i) t.data<float>()[i] = static_cast<float>((i / perSample) * 100 + i % perSample);
  return t;
}

TensorType f32(Shape shape) { return TensorType{DType::F32, std::move(shape), {}}; }

/// An RGB PNG whose pixel (y, x) is rgb(y, x).
struct Rgb {
  unsigned char r, g, b;
};
template <typename F> std::string writeRgbPng(const fs::path &path, int height, int width, F rgb) {
  std::vector<unsigned char> pixels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      Rgb p = rgb(y, x);
      pixels.push_back(p.r);
      pixels.push_back(p.g);
      pixels.push_back(p.b);
    }
  EXPECT_NE(stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3), 0);
  return path.string();
}

std::string writeGrayPng(const fs::path &path, int height, int width, const std::vector<unsigned char> &pixels) {
  EXPECT_NE(stbi_write_png(path.c_str(), width, height, 1, pixels.data(), width), 0);
  return path.string();
}

/// Pixel (y, x) of the test images: distinct values per channel and position.
Rgb testPixel(int y, int x) {
  return {static_cast<unsigned char>(10 + 40 * y + x), static_cast<unsigned char>(100 + 7 * x),
          static_cast<unsigned char>(250 - 30 * y - 5 * x)};
}

/// Runs `f`, expecting a BadInputError whose message contains every fragment.
template <typename F> void expectBadInput(F f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no BadInputError; expected one mentioning " << *fragments.begin();
  } catch (const BadInputError &e) {
    std::string what = e.what();
    for (const std::string &fragment : fragments) EXPECT_NE(what.find(fragment), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
}

} // namespace

TEST(Preprocessor, PresetsAndOverrides) {
  data::Preprocessor imagenet = data::makePreprocessor("imagenet");
  EXPECT_EQ(imagenet.name, "imagenet");
  EXPECT_FLOAT_EQ(imagenet.scale, 1.0f / 255.0f);
  EXPECT_EQ(imagenet.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(imagenet.std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
  EXPECT_TRUE(data::makePreprocessor("identity").isIdentity());
  EXPECT_TRUE(data::makePreprocessor("").isIdentity());
  EXPECT_TRUE(data::makePreprocessor("uint8").isIdentity());

  data::Preprocessor custom = data::makePreprocessor("imagenet", {0.286f}, {0.353f});
  EXPECT_EQ(custom.name, "custom");
  EXPECT_FLOAT_EQ(custom.scale, 1.0f / 255.0f); // kept from the preset
  EXPECT_EQ(custom.mean, std::vector<float>{0.286f});
  // (200 * 0.5 - 10) / 4 = 22.5
  EXPECT_FLOAT_EQ(data::makePreprocessor("", {10.0f}, {4.0f}, 0.5f).apply(200.0f, 0), 22.5f);

  expectBadInput([] { data::makePreprocessor("imagenet_v2"); }, {"unknown preprocessor 'imagenet_v2'", "imagenet"});
  expectBadInput([] { data::makePreprocessor("", {0.0f}, {0.0f}); }, {"std"});
  expectBadInput([] { data::makePreprocessor("", {}, {}, 0.0f); }, {"scale"});
  expectBadInput([] { data::makePreprocessor("", {1, 2, 3}, {1, 2}); }, {"mean has 3 values and std 2"});
  expectBadInput([] { data::makePreprocessor("", {std::numeric_limits<float>::quiet_NaN()}); }, {"mean"});
}

TEST(NpyDataset, SamplesAlongTheFirstAxisInTheInputLayout) {
  fs::path dir = scratch("npy_layout");
  std::string path = (dir / "images.npy").string();
  data::writeNpy(numbered({5, 1, 2, 3}), path);
  for (const Shape &input : {Shape{1, 1, 2, 3}, Shape{4, 1, 2, 3}}) {
    auto dataset = data::openDataset(path, f32(input));
    ASSERT_EQ(dataset->size(), 5u);
    EXPECT_EQ(dataset->sampleType(), f32({1, 1, 2, 3})); // batch 1 whatever the model's batch
    EXPECT_FALSE(dataset->hasLabels());
    EXPECT_FALSE(dataset->label(0).has_value());
    Tensor s = dataset->sample(3);
    EXPECT_EQ(s.type(), f32({1, 1, 2, 3}));
    for (int64_t k = 0; k < 6; ++k) EXPECT_EQ(s.data<float>()[k], 300.0f + k);
    EXPECT_EQ(dataset->describe(3), path + "[3]");
  }
  // Samples that carry their own batch dim of 1: [N, 1, C, H, W].
  std::string batched = (dir / "batched.npy").string();
  data::writeNpy(numbered({2, 1, 1, 2, 3}), batched);
  auto dataset = data::openDataset(batched, f32({1, 1, 2, 3}));
  EXPECT_EQ(dataset->sample(1).toFloatVector(), (std::vector<float>{100, 101, 102, 103, 104, 105}));
}

TEST(NpyDataset, ReadsEachSampleWhenAskedNotAtOpen) {
  fs::path dir = scratch("npy_lazy");
  std::string path = (dir / "images.npy").string();
  data::writeNpy(numbered({4, 3}), path);
  auto dataset = data::openDataset(path, f32({1, 3}));
  // Rewrite sample 2 in place after opening: a lazy reader sees the new values.
  data::writeNpy(Tensor::fromVector<float>(DType::F32, {4, 3}, {0, 1, 2, 100, 101, 102, -7, -8, -9, 300, 301, 302}),
                 path);
  EXPECT_EQ(dataset->sample(2).toFloatVector(), (std::vector<float>{-7, -8, -9}));
  // A file cut short after opening: the read of a missing sample is bad input naming it.
  fs::resize_file(path, fs::file_size(path) - 12);
  EXPECT_EQ(dataset->sample(0).toFloatVector(), (std::vector<float>{0, 1, 2}));
  expectBadInput([&] { dataset->sample(3); }, {path + "[3]", "read failed"});
}

TEST(NpyDataset, VersionTwoHeadersAndFloat64) {
  // numpy writes format 2.0 (4-byte header length) when the header exceeds 64 KiB.
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
  dict.append((64 - (12 + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::string bytes("\x93NUMPY\x02\x00", 8);
  for (int i = 0; i < 4; ++i) bytes += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  bytes += dict;
  double values[6] = {0.5, 1.5, 2.5, 3.5, -4.25, 5.75};
  bytes.append(reinterpret_cast<const char *>(values), sizeof values);
  fs::path dir = scratch("npy_v2");
  std::string path = writeFile(dir / "v2.npy", bytes);
  data::NpyHeader header = data::readNpyHeader(path);
  EXPECT_EQ(header.shape, (Shape{3, 2}));
  EXPECT_EQ(header.dataOffset, 12 + dict.size());
  EXPECT_TRUE(header.storedAsDouble);
  auto dataset = data::openDataset(path, f32({1, 2}));
  Tensor s = dataset->sample(2);
  EXPECT_EQ(s.dtype(), DType::F32);
  EXPECT_EQ(s.toFloatVector(), (std::vector<float>{-4.25f, 5.75f}));
}

TEST(NpyDataset, ConvertsDTypesAndPreprocesses) {
  fs::path dir = scratch("npy_convert");
  std::string path = (dir / "pixels.npy").string();
  data::writeNpy(Tensor::fromVector<uint8_t>(DType::U8, {2, 1, 2}, {0, 51, 255, 102}), path);
  data::DatasetOptions options;
  options.preprocessor = data::makePreprocessor("", {0.2f}, {0.5f}, 1.0f / 255.0f);
  auto dataset = data::openDataset(path, f32({1, 1, 2}), options);
  // (v / 255 - 0.2) / 0.5: 0 -> -0.4, 51 -> 0, 255 -> 1.6, 102 -> 0.4
  std::vector<float> s0 = dataset->sample(0).toFloatVector(), s1 = dataset->sample(1).toFloatVector();
  EXPECT_NEAR(s0[0], -0.4f, 1e-6);
  EXPECT_NEAR(s0[1], 0.0f, 1e-6);
  EXPECT_NEAR(s1[0], 1.6f, 1e-6);
  EXPECT_NEAR(s1[1], 0.4f, 1e-6);
  // Identity on data of the model's own dtype keeps the values exactly, as uint8.
  auto raw = data::openDataset(path, TensorType{DType::U8, {1, 1, 2}, {}});
  Tensor r = raw->sample(1);
  EXPECT_EQ(r.dtype(), DType::U8);
  EXPECT_EQ(r.data<uint8_t>()[0], 255);
  EXPECT_EQ(r.data<uint8_t>()[1], 102);
}

TEST(NpyDataset, LabelsAndTheFirstNLimit) {
  fs::path dir = scratch("npy_labels");
  std::string images = (dir / "images.npy").string(), labels = (dir / "labels.npy").string();
  data::writeNpy(numbered({6, 2}), images);
  data::writeNpy(Tensor::fromVector<int64_t>(DType::I64, {6}, {3, 1, 4, 1, 5, 9}), labels);
  data::DatasetOptions options;
  options.labelsPath = labels;
  options.maxSamples = 4;
  auto dataset = data::openDataset(images, f32({1, 2}), options);
  ASSERT_EQ(dataset->size(), 4u);
  EXPECT_TRUE(dataset->hasLabels());
  EXPECT_EQ(dataset->label(0), 3);
  EXPECT_EQ(dataset->label(3), 1);
  EXPECT_EQ(dataset->sample(3).toFloatVector(), (std::vector<float>{300, 301}));
  options.maxSamples = 100; // more than there are: all
  EXPECT_EQ(data::openDataset(images, f32({1, 2}), options)->size(), 6u);

  std::string shortLabels = (dir / "short.npy").string();
  data::writeNpy(Tensor::fromVector<int32_t>(DType::I32, {5}, {1, 2, 3, 4, 5}), shortLabels);
  options.labelsPath = shortLabels;
  expectBadInput([&] { data::openDataset(images, f32({1, 2}), options); }, {shortLabels, "expected 6 labels"});
  std::string floatLabels = (dir / "float.npy").string();
  data::writeNpy(numbered({6}), floatLabels);
  options.labelsPath = floatLabels;
  expectBadInput([&] { data::openDataset(images, f32({1, 2}), options); }, {floatLabels, "integers"});
}

TEST(NpyDataset, BadFilesNameTheFile) {
  fs::path dir = scratch("npy_bad");
  std::string wrong = (dir / "wrong.npy").string();
  data::writeNpy(numbered({3, 28, 28}), wrong);
  expectBadInput([&] { data::openDataset(wrong, f32({1, 1, 28, 28})); }, {wrong, "[3,28,28]", "[1,1,28,28]"});

  std::string nan = (dir / "nan.npy").string();
  Tensor t = numbered({3, 4});
  t.data<float>()[2 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();
  t.data<float>()[0] = std::numeric_limits<float>::infinity();
  data::writeNpy(t, nan);
  auto dataset = data::openDataset(nan, f32({1, 4}));
  expectBadInput([&] { dataset->sample(2); }, {nan + "[2]", "NaN"});
  expectBadInput([&] { dataset->sample(0); }, {nan + "[0]", "infinite"});
  EXPECT_NO_THROW(dataset->sample(1));

  std::string whole = data::serializeNpy(numbered({3, 4}));
  std::string truncated = writeFile(dir / "truncated.npy", whole.substr(0, whole.size() - 4));
  expectBadInput([&] { data::openDataset(truncated, f32({1, 4})); }, {truncated, "bytes"});
  std::string empty = (dir / "empty.npy").string();
  data::writeNpy(Tensor(DType::F32, {0, 4}), empty);
  expectBadInput([&] { data::openDataset(empty, f32({1, 4})); }, {empty, "no samples"});
  expectBadInput([&] { data::openDataset((dir / "missing.npy").string(), f32({1, 4})); }, {"missing.npy", "no such"});
  expectBadInput([&] { data::openDataset(writeFile(dir / "data.csv", "1,2"), f32({1, 4})); }, {"data.csv"});
  expectBadInput([&] { data::openDataset(nan, f32({-1, 4})); }, {"dynamic"});
}

TEST(FolderDataset, NpyFilesInNameOrder) {
  fs::path dir = scratch("folder");
  for (const char *name : {"b", "a", "c"}) {
    float v = static_cast<float>(name[0]);
    data::writeNpy(Tensor::fromVector<float>(DType::F32, {1, 2}, {v, v}), (dir / (std::string(name) + ".npy")).string());
  }
  writeFile(dir / "notes.md", "not a sample");
  fs::create_directories(dir / "sub");
  auto dataset = data::openDataset(dir.string(), f32({1, 2}));
  ASSERT_EQ(dataset->size(), 3u);
  EXPECT_EQ(dataset->sample(0).toFloatVector()[0], 'a');
  EXPECT_EQ(dataset->sample(2).toFloatVector()[0], 'c');
  EXPECT_EQ(fs::path(dataset->describe(1)).filename(), "b.npy");

  data::writeNpy(numbered({1, 3}), (dir / "d.npy").string());
  auto withBad = data::openDataset(dir.string(), f32({1, 2}));
  expectBadInput([&] { withBad->sample(3); }, {"d.npy", "[1,3]", "[2]"});
  expectBadInput([&] { data::openDataset(scratch("empty_folder").string(), f32({1, 2})); }, {"no samples", "a folder needs"});
}

TEST(ImageDataset, RgbPngInNchwAndNhwc) {
  fs::path dir = scratch("rgb");
  std::string png = writeRgbPng(dir / "shirt.png", 2, 3, testPixel);
  Tensor nchw = data::openDataset(png, f32({1, 3, 2, 3}))->sample(0);
  Tensor nhwc = data::openDataset(png, f32({1, 2, 3, 3}))->sample(0);
  ASSERT_EQ(nchw.shape(), (Shape{1, 3, 2, 3}));
  ASSERT_EQ(nhwc.shape(), (Shape{1, 2, 3, 3}));
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      Rgb p = testPixel(y, x);
      float want[3] = {float(p.r), float(p.g), float(p.b)};
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(nchw.data<float>()[(c * 2 + y) * 3 + x], want[c]) << y << "," << x << "," << c;
        EXPECT_EQ(nhwc.data<float>()[(y * 3 + x) * 3 + c], want[c]) << y << "," << x << "," << c;
      }
    }
}

TEST(ImageDataset, ChannelConversion) {
  fs::path dir = scratch("gray");
  std::string rgb = writeRgbPng(dir / "rgb.png", 2, 3, testPixel);
  Tensor gray = data::openDataset(rgb, f32({1, 1, 2, 3}))->sample(0);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      Rgb p = testPixel(y, x);
      double luma = 0.299 * p.r + 0.587 * p.g + 0.114 * p.b; // ITU-R BT.601, rounded to 8 bits
      EXPECT_NEAR(gray.data<float>()[y * 3 + x], luma, 0.5 + 1e-6) << y << "," << x;
    }
  // Grayscale into an RGB model: the value in every channel.
  std::string g = writeGrayPng(dir / "g.png", 1, 2, {17, 230});
  Tensor spread = data::openDataset(g, f32({1, 3, 1, 2}))->sample(0);
  EXPECT_EQ(spread.toFloatVector(), (std::vector<float>{17, 230, 17, 230, 17, 230}));
}

TEST(ImageDataset, ResizeIsBilinear) {
  fs::path dir = scratch("resize");
  std::string constant = writeGrayPng(dir / "constant.png", 5, 7, std::vector<unsigned char>(35, 123));
  for (const Shape &input : {Shape{1, 1, 13, 4}, Shape{1, 1, 2, 3}, Shape{1, 1, 28, 28}}) {
    Tensor s = data::openDataset(constant, f32(input))->sample(0);
    for (float v : s.toFloatVector()) ASSERT_NEAR(v, 123.0f, 1e-3) << shapeToString(input);
  }
  // [0, 100] to width 4: output centers at source x = 0.25, 0.75, 1.25, 1.75 (half-pixel
  // centers); pixel centers at 0.5 and 1.5, edges clamped -> 0, 25, 75, 100.
  std::string ramp = writeGrayPng(dir / "ramp.png", 1, 2, {0, 100});
  std::vector<float> wide = data::openDataset(ramp, f32({1, 1, 1, 4}))->sample(0).toFloatVector();
  ASSERT_EQ(wide.size(), 4u);
  EXPECT_NEAR(wide[0], 0.0f, 1e-3);
  EXPECT_NEAR(wide[1], 25.0f, 1e-3);
  EXPECT_NEAR(wide[2], 75.0f, 1e-3);
  EXPECT_NEAR(wide[3], 100.0f, 1e-3);
}

TEST(ImageDataset, ImagenetPreprocessing) {
  fs::path dir = scratch("imagenet");
  std::string png = writeRgbPng(dir / "x.png", 2, 2, testPixel);
  data::DatasetOptions options;
  options.preprocessor = data::makePreprocessor("imagenet");
  Tensor s = data::openDataset(png, f32({1, 3, 2, 2}), options)->sample(0);
  const double mean[3] = {0.485, 0.456, 0.406}, stdev[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x) {
        Rgb p = testPixel(y, x);
        double v = c == 0 ? p.r : c == 1 ? p.g : p.b;
        EXPECT_NEAR(s.data<float>()[(c * 2 + y) * 2 + x], (v / 255.0 - mean[c]) / stdev[c], 1e-5);
      }
  // Three means do not fit a one-channel model.
  expectBadInput([&] { data::openDataset(png, f32({1, 1, 2, 2}), options); }, {"imagenet", "3 per-channel"});
}

TEST(ImageDataset, IntegerModelInputs) {
  fs::path dir = scratch("uint8");
  std::string g = writeGrayPng(dir / "g.png", 1, 2, {7, 200});
  data::DatasetOptions options;
  options.preprocessor = data::makePreprocessor("uint8");
  Tensor u8 = data::openDataset(g, TensorType{DType::U8, {1, 1, 1, 2}, {}}, options)->sample(0);
  EXPECT_EQ(u8.dtype(), DType::U8);
  EXPECT_EQ(u8.data<uint8_t>()[0], 7);
  EXPECT_EQ(u8.data<uint8_t>()[1], 200);
  TensorType i8{DType::I8, {1, 1, 1, 2}, {}};
  expectBadInput([&] { data::openDataset(g, i8, options)->sample(0); }, {"g.png", "200", "i8"});
  options.preprocessor = data::makePreprocessor("uint8", {128.0f});
  Tensor shifted = data::openDataset(g, i8, options)->sample(0);
  EXPECT_EQ(shifted.data<int8_t>()[0], 7 - 128);
  EXPECT_EQ(shifted.data<int8_t>()[1], 200 - 128);
}

TEST(IndexDataset, PathsLabelsAndComments) {
  fs::path dir = scratch("index");
  fs::create_directories(dir / "img");
  writeGrayPng(dir / "img" / "a.png", 2, 2, {0, 0, 0, 0});
  writeGrayPng(dir / "img" / "b b.png", 2, 2, {9, 9, 9, 9});
  data::writeNpy(Tensor::fromVector<float>(DType::F32, {1, 1, 2, 2}, {1, 2, 3, 4}), (dir / "c.npy").string());
  std::string index = writeFile(dir / "index.txt", "# test set\n\nimg/a.png 3\n  img/b b.png\t7  \r\nc.npy -2\n");
  auto dataset = data::openDataset(index, f32({1, 1, 2, 2}));
  ASSERT_EQ(dataset->size(), 3u);
  EXPECT_TRUE(dataset->hasLabels());
  EXPECT_EQ(dataset->label(0), 3);
  EXPECT_EQ(dataset->label(1), 7);
  EXPECT_EQ(dataset->label(2), -2);
  EXPECT_EQ(dataset->sample(1).toFloatVector(), (std::vector<float>{9, 9, 9, 9}));
  EXPECT_EQ(dataset->sample(2).toFloatVector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(dataset->describe(0), (dir / "img" / "a.png").string());

  std::string unlabelled = writeFile(dir / "plain.txt", "img/a.png\nc.npy\n");
  auto plain = data::openDataset(unlabelled, f32({1, 1, 2, 2}));
  EXPECT_EQ(plain->size(), 2u);
  EXPECT_FALSE(plain->hasLabels());

  // An index with labels and a labels file too is ambiguous.
  data::DatasetOptions options;
  options.labelsPath = (dir / "labels.npy").string();
  data::writeNpy(Tensor::fromVector<int64_t>(DType::I64, {3}, {1, 2, 3}), options.labelsPath);
  expectBadInput([&] { data::openDataset(index, f32({1, 1, 2, 2}), options); }, {index, "labels"});
}

TEST(IndexDataset, BadLinesNameFileAndLine) {
  fs::path dir = scratch("index_bad");
  writeGrayPng(dir / "a.png", 2, 2, {0, 0, 0, 0});
  TensorType input = f32({1, 1, 2, 2});
  auto expectLine = [&](const std::string &name, const std::string &text, const std::string &fragment) {
    std::string index = writeFile(dir / name, text);
    expectBadInput([&] { data::openDataset(index, input); }, {index + ":2:", fragment});
  };
  expectLine("label.txt", "a.png 1\na.png cat\n", "integer label");
  expectLine("missing.txt", "a.png 1\nnot_there.png 2\n", "does not exist");
  expectLine("mixed.txt", "a.png 1\na.png\n", "label every line or none");
  expectLine("range.txt", "a.png 1\na.png 99999999999999999999\n", "out of range");
  expectLine("kind.txt", "a.png 1\nnotes.gif 2\n", "not a .npy or image");
  expectBadInput([&] { data::openDataset(writeFile(dir / "blank.txt", "# nothing\n\n"), input); }, {"no samples", "path [label]"});
}

TEST(ImageDataset, BadImagesNameTheFile) {
  fs::path dir = scratch("image_bad");
  std::string corrupt = writeFile(dir / "corrupt.png", "\x89PNG\r\n\x1a\n but then garbage");
  auto dataset = data::openDataset(corrupt, f32({1, 1, 28, 28}));
  expectBadInput([&] { dataset->sample(0); }, {corrupt, "cannot read image"});
  std::string notImage = writeFile(dir / "text.jpg", "hello");
  expectBadInput([&] { data::openDataset(notImage, f32({1, 1, 28, 28}))->sample(0); }, {notImage});
  // A truncated PNG (valid start, data cut off).
  std::string good = writeGrayPng(dir / "good.png", 16, 16, std::vector<unsigned char>(256, 40));
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string truncated = writeFile(dir / "truncated.png", bytes.substr(0, bytes.size() / 2));
  expectBadInput([&] { data::openDataset(truncated, f32({1, 1, 16, 16}))->sample(0); }, {truncated});
  // Images need an image-shaped input.
  expectBadInput([&] { data::openDataset(good, f32({1, 256}))->sample(0); }, {good, "[N,C,H,W]", "f32[1,256]"});
}

// stb_image would allocate a chunk's declared length (here 1.5 GB) before finding the file
// too short; the loader names the chunk instead.
TEST(ImageDataset, PngChunkLongerThanTheFileIsNamed) {
  fs::path dir = scratch("image_png_chunk");
  std::string good = writeGrayPng(dir / "good.png", 8, 8, std::vector<unsigned char>(64, 7));
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t idat = bytes.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  bytes.replace(idat - 4, 4, std::string("\x60\x00\x00\x00", 4));
  std::string bad = writeFile(dir / "long_idat.png", bytes);
  expectBadInput([&] { data::readImage(bad, 1); },
                 {bad, "PNG chunk IDAT at byte " + std::to_string(idat - 4), "declares 1610612736 bytes"});
  // The same file with its real length still reads.
  EXPECT_EQ(data::readImage(good, 1).pixels.at(0), 7.0f);
}

// stb_image reads zeros past a BMP's end, so a short file could declare millions of pixels;
// the loader refuses it, whichever way up the rows are stored (a negative height: top-down).
TEST(ImageDataset, BmpShorterThanItsPixelsIsRefused) {
  fs::path dir = scratch("image_bmp_short");
  const std::vector<unsigned char> pixels(8 * 8 * 3, 90);
  const std::string good = (dir / "good.bmp").string();
  ASSERT_NE(stbi_write_bmp(good.c_str(), 8, 8, 3, pixels.data()), 0);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(data::readImage(good, 3).pixels.at(0), 90.0f);
  for (int32_t height : {100000, -100000}) {
    std::string tall = bytes;
    for (int k = 0; k < 4; ++k) tall[22 + k] = static_cast<char>(static_cast<uint32_t>(height) >> (8 * k));
    std::string path = writeFile(dir / ("tall" + std::to_string(height) + ".bmp"), tall);
    expectBadInput([&] { data::readImage(path, 3); },
                   {path, "truncated BMP of 8x100000 pixels at 24 bits", "the file has " + std::to_string(bytes.size())});
  }
}

// stb_image decodes a BMP declaring 0 rows or 0 columns into an empty image; the loader refuses
// it rather than pass nothing on (stb_image_resize divided by its zero size).
TEST(ImageDataset, BmpWithoutPixelsIsRefused) {
  fs::path dir = scratch("image_bmp_empty");
  const std::vector<unsigned char> pixels(4 * 4 * 3, 90);
  const std::string good = (dir / "good.bmp").string();
  ASSERT_NE(stbi_write_bmp(good.c_str(), 4, 4, 3, pixels.data()), 0);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(data::resizeBilinear(data::readImage(good, 3), 7, 5).pixels.at(0), 90.0f);
  // The BITMAPINFOHEADER's width is at byte 18, its height at byte 22.
  for (size_t field : {18, 22}) {
    std::string empty = bytes;
    for (size_t k = 0; k < 4; ++k) empty[field + k] = 0;
    std::string path = writeFile(dir / ("empty" + std::to_string(field) + ".bmp"), empty);
    expectBadInput([&] { data::readImage(path, 3); }, {path, field == 18 ? "0x4 pixels" : "4x0 pixels", "at least 1x1"});
  }
  data::Image none;
  none.channels = 3;
  expectBadInput([&] { data::resizeBilinear(none, 7, 5); }, {"cannot resize an image of 0x0 pixels"});
}
