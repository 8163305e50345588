// A stand-alone program that runs a leip artifact through include/leip/runtime.hpp, for
// targets where `leip` itself does not run: built by a cross compiler at test time
//
//   aarch64-linux-gnu-g++ -std=c++17 -O2 -Iinclude tests/codegen/aarch64_harness.cpp -o harness -ldl
//   qemu-aarch64 -L /usr/aarch64-linux-gnu ./harness DIR/modelLibrary.so OUT_DIR in0.npy [in1.npy ...]
//
// (tests/e2e/test_artifacts.py does this for an aarch64 artifact and compares with the
// x86_64 one). It also builds for the host (g++), which is handy for timing an artifact on
// a machine without leip's dependencies.
//
// Inputs: one .npy per model input, in order (little-endian, C order, dtype matching the
// model: float32 '<f4' etc.). Outputs: OUT_DIR/<output name>.npy. Options:
//   --threads T   context threads (default 1)
//   --repeat N    run N more times after the first and print min/median milliseconds
// Exit codes: 0 ok, 1 usage, 2 bad input (file, shape, dtype), 3 runtime failure.
#include "leip/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct NpyArray {
  std::string descr; // e.g. "<f4"
  std::vector<int64_t> shape;
  std::vector<char> data;
};

const char *npyDescr(int32_t dtype) {
  switch (dtype) {
  case LEIP_DTYPE_FLOAT32: return "<f4";
  case LEIP_DTYPE_FLOAT16: return "<f2";
  case LEIP_DTYPE_INT8: return "|i1";
  case LEIP_DTYPE_UINT8: return "|u1";
  case LEIP_DTYPE_INT32: return "<i4";
  case LEIP_DTYPE_INT64: return "<i8";
  case LEIP_DTYPE_BOOL: return "|b1";
  default: return "?";
  }
}

[[noreturn]] void fail(int code, const std::string &message) {
  std::cerr << "harness: error: " << message << "\n";
  std::exit(code);
}

/// The value of `'key': VALUE` in a .npy header dict (VALUE up to the next ',' or ')' pair).
std::string headerField(const std::string &header, const std::string &key, const std::string &path) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) fail(2, path + ": .npy header has no '" + key + "'");
  at = header.find(':', at);
  if (at == std::string::npos) fail(2, path + ": malformed .npy header");
  size_t begin = header.find_first_not_of(' ', at + 1);
  size_t end = header[begin] == '(' ? header.find(')', begin) + 1 : header.find(',', begin);
  if (begin == std::string::npos || end == std::string::npos || end <= begin)
    fail(2, path + ": malformed .npy header");
  return header.substr(begin, end - begin);
}

NpyArray readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(2, path + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) fail(2, path + ": not a .npy file");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t headerLength, offset;
  if (major == 1) {
    headerLength = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    offset = 10;
  } else {
    if (bytes.size() < 12) fail(2, path + ": truncated .npy header");
    headerLength = 0;
    for (int i = 3; i >= 0; --i) headerLength = headerLength << 8 | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  }
  if (offset + headerLength > bytes.size()) fail(2, path + ": truncated .npy header");
  std::string header = bytes.substr(offset, headerLength);
  NpyArray array;
  std::string descr = headerField(header, "descr", path);
  array.descr = descr.substr(1, descr.size() - 2); // drop the quotes
  if (headerField(header, "fortran_order", path) != "False") fail(2, path + ": Fortran-order arrays are not supported");
  std::string shape = headerField(header, "shape", path);
  std::stringstream dims(shape.substr(1, shape.size() - 2));
  for (std::string dim; std::getline(dims, dim, ',');)
    if (dim.find_first_not_of(' ') != std::string::npos) array.shape.push_back(std::stoll(dim));
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset + headerLength), bytes.end());
  return array;
}

void writeNpy(const std::string &path, int32_t dtype, const std::vector<int64_t> &shape, const std::vector<char> &data) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();
  std::string header = std::string("{'descr': '") + npyDescr(dtype) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes; end with a newline.
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  char length[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  out.write(length, 2);
  out << header;
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) fail(2, path + ": cannot write");
}

std::string fileNameFor(std::string name) {
  for (char &c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (name.empty() || name[0] == '.') name = "_" + name;
  return name;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> positional;
  int threads = 1, repeat = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--threads" || arg == "--repeat") && i + 1 < argc) {
      (arg == "--threads" ? threads : repeat) = std::atoi(argv[++i]);
    } else if (arg.rfind("--", 0) == 0) {
      fail(1, "unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 2)
    fail(1, "usage: harness LIB.so OUT_DIR in0.npy [in1.npy ...] [--threads T] [--repeat N]");

  try {
    leip::runtime::Model model(positional[0]);
    const auto &inputs = model.inputs();
    if (positional.size() - 2 != inputs.size())
      fail(1, "the model has " + std::to_string(inputs.size()) + " inputs, " + std::to_string(positional.size() - 2) +
                  " .npy files given");
    auto check = model.symbol<decltype(&::leip_model_check_input)>("leip_model_check_input");
    auto lastError = model.symbol<decltype(&::leip_last_error)>("leip_last_error");
    std::vector<NpyArray> arrays;
    std::vector<const void *> in;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string &path = positional[i + 2];
      arrays.push_back(readNpy(path));
      const NpyArray &a = arrays.back();
      int32_t dtype = -1;
      for (int32_t d = LEIP_DTYPE_FLOAT32; d <= LEIP_DTYPE_BOOL; ++d)
        if (a.descr == npyDescr(d)) dtype = d;
      if (dtype < 0) fail(2, path + ": unsupported .npy dtype " + a.descr);
      if (check(model.model(), static_cast<int32_t>(i), dtype, static_cast<int32_t>(a.shape.size()), a.shape.data()) !=
          LEIP_OK)
        fail(2, path + ": " + lastError());
      if (static_cast<int64_t>(a.data.size()) != inputs[i].bytes) fail(2, path + ": truncated data");
      in.push_back(a.data.data());
    }
    model.setThreads(threads);
    std::vector<std::vector<char>> out;
    model.inferRaw(in, out);
    if (repeat > 0) {
      std::vector<double> ms;
      for (int r = 0; r < repeat; ++r) {
        auto start = std::chrono::steady_clock::now();
        model.inferRaw(in, out);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
      std::sort(ms.begin(), ms.end());
      std::printf("threads %d: min %.3f ms, median %.3f ms over %d runs\n", model.threads(), ms.front(),
                  ms[ms.size() / 2], repeat);
    }
    for (size_t i = 0; i < out.size(); ++i) {
      const auto &info = model.outputs()[i];
      std::string path = positional[1] + "/" + fileNameFor(info.name) + ".npy";
      writeNpy(path, info.dtype, info.shape, out[i]);
      std::printf("%s -> %s\n", info.name.c_str(), path.c_str());
    }
  } catch (const std::exception &e) {
    fail(3, e.what());
  }
  return 0;
}
