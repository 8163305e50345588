// A scratch directory per test program (named after the program and its pid), removed when
// the program ends, for the artifacts the codegen and runtime tests compile.
#pragma once

#include <gtest/gtest.h>

#include <cerrno> // program_invocation_short_name (glibc)
#include <filesystem>
#include <string>
#include <unistd.h>

namespace leip::test {

inline std::filesystem::path workRoot() {
  return std::filesystem::temp_directory_path() /
         (std::string(program_invocation_short_name) + "_" + std::to_string(::getpid()));
}

class RemoveWorkRoot : public ::testing::Environment {
public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(workRoot(), ec);
  }
};

inline const auto *const removeWorkRoot = ::testing::AddGlobalTestEnvironment(new RemoveWorkRoot);

} // namespace leip::test
