#include "leip/data/Npy.h"
#include "leip/support/Error.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace leip;
using namespace leip::ir;

namespace {
// A .npy file as numpy writes it (version 1 header), for hand-made corruptions.
std::string npyBytes(const std::string &dict, const std::string &payload) {
  std::string header = dict;
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}
} // namespace

TEST(Npy, RoundTripsEveryDType) {
  for (DType dtype : {DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool}) {
    Tensor t(dtype, {2, 3});
    for (int64_t i = 0; i < 6; ++i) t.setFromDouble(i, static_cast<double>(i % 2));
    Tensor back = data::parseNpy(data::serializeNpy(t), "mem");
    EXPECT_EQ(back.type(), t.type()) << dtypeName(dtype);
    EXPECT_EQ(std::memcmp(back.rawData(), t.rawData(), t.byteSize()), 0) << dtypeName(dtype);
  }
}

TEST(Npy, ScalarsAndOneDimensionalShapes) {
  Tensor scalar = Tensor::scalar(3.5f);
  EXPECT_EQ(data::parseNpy(data::serializeNpy(scalar), "mem").shape(), Shape{});
  Tensor vec = Tensor::fromVector<float>(DType::F32, {3}, {1, 2, 3});
  std::string bytes = data::serializeNpy(vec);
  EXPECT_NE(bytes.find("'shape': (3,)"), std::string::npos); // numpy's one-tuple spelling
  EXPECT_EQ(data::parseNpy(bytes, "mem").shape(), Shape{3});
  EXPECT_EQ(bytes.size() % 64, 12u); // data starts on a 64-byte boundary: header is 64*k, data 12 bytes
}

TEST(Npy, DoubleIsConvertedToFloat) {
  double values[2] = {1.25, -3.5};
  std::string payload(reinterpret_cast<const char *>(values), sizeof values);
  Tensor t = data::parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", payload), "mem");
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.toFloatVector(), (std::vector<float>{1.25f, -3.5f}));
}

TEST(Npy, BadFilesAreBadInputNamingTheFile) {
  std::string four(16, '\0');
  auto expectBad = [](const std::string &bytes, const std::string &fragment) {
    try {
      data::parseNpy(bytes, "x.npy");
      FAIL() << "accepted: " << fragment;
    } catch (const BadInputError &e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind("x.npy: ", 0), 0u) << what;
      EXPECT_NE(what.find(fragment), std::string::npos) << what;
    }
  };
  expectBad("", "bad magic");
  expectBad("PK\x03\x04 not numpy at all", "bad magic");
  expectBad(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", four.substr(0, 12)), "needs 16");
  expectBad(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four), "Fortran");
  expectBad(npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", four), "unsupported dtype");
  expectBad(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", four), "big-endian");
  expectBad(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", four), "bad shape");
  expectBad(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 8), }", four),
            "64 bits");
  expectBad(npyBytes("{'descr': '<f4', 'fortran_order': False, }", four), "'shape'");
  std::string truncatedHeader = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "");
  expectBad(truncatedHeader.substr(0, 20), "truncated");
}

TEST(Npy, MissingFileIsBadInput) {
  EXPECT_THROW(data::readNpy("/nonexistent/dir/x.npy"), BadInputError);
}
