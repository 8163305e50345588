// An output directory that appears all at once: commands write into a temporary sibling
// and rename it into place when everything succeeded, so a failure never leaves a partial
// artifact (DESIGN.md: "no half-written output"). Replacing an existing directory is one
// atomic swap (renameat2 RENAME_EXCHANGE), and SIGINT/SIGTERM remove the temporary
// directory (leip/support/Interrupt.h), so an interrupted command leaves the old output or
// the new one, never a mix.
#pragma once

#include <filesystem>
#include <string>

namespace leip {

class StagedDirectory {
public:
  /// Creates an empty "<final>.partial-<pid>" next to `finalPath` (BadInputError naming
  /// `finalPath` when it cannot).
  explicit StagedDirectory(const std::string &finalPath);
  /// Removes the temporary directory unless commit() succeeded.
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory &) = delete;
  StagedDirectory &operator=(const StagedDirectory &) = delete;

  /// Where to write the files.
  const std::filesystem::path &path() const { return temp_; }
  /// Renames the temporary directory to the final path, replacing what was there (swapped
  /// in atomically, then the old output removed).
  void commit();

private:
  std::filesystem::path final_, temp_;
  bool committed_ = false;
  int cleanupSlot_ = -1; // registerInterruptCleanup
};

} // namespace leip
