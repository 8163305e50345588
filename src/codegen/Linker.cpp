// lld as a library. lld keeps global state, so CommonLinkerContext::destroy() runs after
// every link: with it, several links in one process work (x86_64 and aarch64 alike).
#include "Linker.h"

#include "leip/support/Error.h"

#include <lld/Common/CommonLinkerContext.h>
#include <lld/Common/Driver.h>
#include <llvm/Support/raw_ostream.h>

#include <filesystem>
#include <mutex>
#include <vector>

namespace leip::codegen {

void linkSharedLibrary(const Target &target, const std::string &objectPath, const std::string &outputPath) {
  // lld is not reentrant: one link at a time per process.
  static std::mutex lldMutex;
  std::lock_guard<std::mutex> lock(lldMutex);

  std::vector<std::string> args = {"ld.lld", "-shared", "-o", outputPath, "-soname", "modelLibrary.so",
                                   "-z", "noexecstack", "-z", "relro", "-z", "now", "--hash-style=both",
                                   "--gc-sections", objectPath, "-L" + target.libDir, "--as-needed", "-lm"};
  // glibc >= 2.34 moved pthreads into libc and ships libpthread only as a stub .so.0.
  if (std::filesystem::exists(target.libDir + "/libpthread.so")) args.push_back("-lpthread");
  args.push_back("-lc");
  std::vector<const char *> argv;
  for (const std::string &a : args) argv.push_back(a.c_str());

  std::string messages;
  llvm::raw_string_ostream errs(messages);
  std::string outText;
  llvm::raw_string_ostream outs(outText);
  bool ok = lld::elf::link(argv, outs, errs, /*exitEarly=*/false, /*disableOutput=*/false);
  lld::CommonLinkerContext::destroy();
  errs.flush();
  if (!ok) throw InternalError("lld failed to link " + outputPath + ": " + messages);
}

} // namespace leip::codegen
