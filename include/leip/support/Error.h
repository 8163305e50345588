// Error types shared by every leip library. Each carries the process exit code that the
// command line reports for it (see docs/cli.md): 1 usage, 2 bad input, 3 internal error,
// 4 a threshold of a recipe failed.
#pragma once

#include <stdexcept>
#include <string>

namespace leip {

enum class ExitCode : int { Success = 0, Usage = 1, BadInput = 2, Internal = 3, ThresholdFailed = 4 };

/// Base of every error leip throws on purpose. The message is one line that names the
/// file, node or field at fault and says what was expected.
class Error : public std::runtime_error {
public:
  Error(ExitCode code, const std::string &message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

private:
  ExitCode code_;
};

/// The user gave us something we cannot accept: a corrupt model, a wrong shape, a bad .npy.
class BadInputError : public Error {
public:
  explicit BadInputError(const std::string &message) : Error(ExitCode::BadInput, message) {}
};

/// A bug in leip: an invariant that the verifier should have caught did not hold.
class InternalError : public Error {
public:
  explicit InternalError(const std::string &message) : Error(ExitCode::Internal, message) {}
};

/// The command line itself is wrong (unknown flag, missing required option).
class UsageError : public Error {
public:
  explicit UsageError(const std::string &message) : Error(ExitCode::Usage, message) {}
};

/// The work succeeded but its result misses a limit the user set (`leip optimize`: a recipe's
/// accuracy or latency threshold), so that a CI step fails.
class ThresholdError : public Error {
public:
  explicit ThresholdError(const std::string &message) : Error(ExitCode::ThresholdFailed, message) {}
};

} // namespace leip
