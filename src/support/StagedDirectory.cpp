// See leip/support/StagedDirectory.h.
#include "leip/support/StagedDirectory.h"

#include "leip/support/Error.h"

#include <unistd.h>

namespace leip {

namespace fs = std::filesystem;

StagedDirectory::StagedDirectory(const std::string &finalPath) {
  final_ = fs::absolute(finalPath).lexically_normal();
  if (!final_.has_filename()) final_ = final_.parent_path();
  std::error_code ec;
  if (fs::exists(final_, ec) && !fs::is_directory(final_, ec))
    throw BadInputError(finalPath + ": exists and is not a directory; give a directory path to write into");
  temp_ = final_.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(temp_, ec);
  fs::create_directories(temp_, ec);
  if (ec) throw BadInputError(finalPath + ": cannot create output directory: " + ec.message());
}

StagedDirectory::~StagedDirectory() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_, ec);
}

void StagedDirectory::commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_)) {
    old = final_.string() + ".old-" + std::to_string(::getpid());
    fs::rename(final_, old, ec);
    if (ec) throw BadInputError(final_.string() + ": cannot replace: " + ec.message());
  }
  fs::rename(temp_, final_, ec);
  if (ec) throw BadInputError(final_.string() + ": cannot write: " + ec.message());
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

} // namespace leip
