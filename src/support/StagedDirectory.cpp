// See leip/support/StagedDirectory.h.
#include "leip/support/StagedDirectory.h"

#include "leip/support/Error.h"
#include "leip/support/Interrupt.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace leip {

namespace fs = std::filesystem;

StagedDirectory::StagedDirectory(const std::string &finalPath) {
  final_ = fs::absolute(finalPath).lexically_normal();
  if (!final_.has_filename()) final_ = final_.parent_path();
  std::error_code ec;
  if (fs::exists(final_, ec) && !fs::is_directory(final_, ec))
    throw BadInputError(finalPath + ": exists and is not a directory; give a directory path to write into");
  installInterruptHandlers();
  // Leftovers of runs that were killed outright (SIGKILL, a crash): no handler ran for them.
  removeStaleStagedDirectories(final_.parent_path().string(), final_.filename().string());
  temp_ = final_.string() + ".partial-" + std::to_string(::getpid());
  // Registered before it exists, so that no moment leaves it behind after a signal.
  cleanupSlot_ = registerInterruptCleanup(temp_.string());
  fs::remove_all(temp_, ec);
  fs::create_directories(temp_, ec);
  if (ec) {
    unregisterInterruptCleanup(cleanupSlot_);
    throw BadInputError(finalPath + ": cannot create output directory: " + ec.message());
  }
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
  unregisterInterruptCleanup(cleanupSlot_);
}

void StagedDirectory::commit() {
  std::error_code ec;
  if (fs::exists(final_, ec)) {
    // One atomic swap: at every moment the final path holds the complete old output or the
    // complete new one. The old one is then at the temporary path, which the interrupt
    // handler still removes if a signal comes before the remove_all below.
    if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;
      fs::remove_all(temp_, ec);
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      throw BadInputError(final_.string() + ": cannot replace: " + std::strerror(errno));
    // A file system without RENAME_EXCHANGE: move the old output aside, then the new one in
    // (an interruption between the two leaves the old one at <final>.old-<pid>).
    const fs::path old = final_.string() + ".old-" + std::to_string(::getpid());
    fs::rename(final_, old, ec);
    if (ec) throw BadInputError(final_.string() + ": cannot replace: " + ec.message());
    fs::rename(temp_, final_, ec);
    if (ec) {
      std::error_code restore;
      fs::rename(old, final_, restore);
      throw BadInputError(final_.string() + ": cannot write: " + ec.message());
    }
    committed_ = true;
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(temp_, final_, ec);
  if (ec) throw BadInputError(final_.string() + ": cannot write: " + ec.message());
  committed_ = true;
}

} // namespace leip
