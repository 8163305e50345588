// leip: make trained neural networks small and fast for edge devices.
#include "Commands.h"

#include "leip/support/Error.h"
#include "leip/support/Interrupt.h"
#include "leip/support/Logging.h"
#include "leip/support/MemoryLimit.h"

#include <sys/resource.h>

#include <iostream>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LEIP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define LEIP_SANITIZED 1
#endif
#endif

namespace {

/// A backstop under the declared-tensor checks: the address space is capped at --max_memory
/// plus 4 GiB (code, LLVM, thread stacks: `leip compile` of resnet18 peaks at 0.6 GiB of
/// address space and works under a 512 MiB cap), so that an allocation no check foresaw
/// fails as "out of memory" (exit 2) instead of drawing the kernel's OOM killer. Only the
/// soft limit moves, so a later --max_memory can raise it again. Not under sanitizers, whose
/// shadow memory reserves terabytes of address space.
void capAddressSpace(uint64_t maxMemory) {
#ifndef LEIP_SANITIZED
  constexpr uint64_t kHeadroom = uint64_t{4} << 30;
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0) return;
  rlim_t wanted = maxMemory > RLIM_INFINITY - kHeadroom ? RLIM_INFINITY : static_cast<rlim_t>(maxMemory + kHeadroom);
  if (limit.rlim_max != RLIM_INFINITY && wanted > limit.rlim_max) wanted = limit.rlim_max;
  limit.rlim_cur = wanted;
  ::setrlimit(RLIMIT_AS, &limit);
#else
  (void)maxMemory;
#endif
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"leip: optimize ONNX models into small, fast, self-contained libraries.\n"
               "Run `leip COMMAND --help` for the options of a command."};
  app.name("leip");
  app.set_version_flag("--version", std::string("leip ") + LEIP_VERSION);
  leip::initLogging(false);
  capAddressSpace(leip::maxMemory());
  // SIGINT/SIGTERM exit with 130/143 after removing any staged output (docs/reliability.md).
  leip::installInterruptHandlers();
  // Option callbacks run before the subcommand's callback, so -v takes effect in time.
  app.add_flag_callback("-v,--verbose", [] { spdlog::set_level(spdlog::level::debug); },
                        "Print debug logs to stderr");
  // Hostile models (docs/reliability.md): a model whose tensors need more is refused (exit 2)
  // naming the tensor, before anything is allocated.
  app.add_option_function<std::string>(
      "--max_memory",
      [](const std::string &text) {
        try {
          leip::setMaxMemory(leip::parseByteSize(text));
          capAddressSpace(leip::maxMemory());
        } catch (const leip::UsageError &e) {
          throw CLI::ValidationError(e.what());
        }
      },
      "Most memory the tensors of a model may take, in bytes with an optional K, M, G or T suffix "
      "(default: 75% of physical memory, " + leip::formatBytes(leip::defaultMaxMemory()) + " here)");
  app.fallthrough(); // accept -v after the subcommand too: `leip run ... -v`
  app.require_subcommand(1);
  leip::cli::addInspectCommand(app);
  leip::cli::addRunCommand(app);
  leip::cli::addCompressCommand(app);
  leip::cli::addCompileCommand(app);
  leip::cli::addBenchmarkCommand(app);
  leip::cli::addEvaluateCommand(app);
  leip::cli::addOptimizeCommand(app);
  leip::cli::addRecipesCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // Usage errors (and --help/--version, which CLI11 reports as "errors" with code 0).
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(leip::ExitCode::Usage);
  } catch (const leip::Error &e) {
    std::cerr << "leip: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc &) {
    std::cerr << "leip: error: out of memory\n";
    return static_cast<int>(leip::ExitCode::BadInput);
  } catch (const std::exception &e) {
    std::cerr << "leip: internal error: " << e.what() << "\n";
    return static_cast<int>(leip::ExitCode::Internal);
  }
  return 0;
}
