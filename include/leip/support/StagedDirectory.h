// An output directory that appears all at once: commands write into a temporary sibling
// and rename it into place when everything succeeded, so a failure never leaves a partial
// artifact (DESIGN.md: "no half-written output").
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
  /// Renames the temporary directory to the final path, replacing what was there.
  void commit();

private:
  std::filesystem::path final_, temp_;
  bool committed_ = false;
};

} // namespace leip
