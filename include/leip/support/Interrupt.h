// What happens to staged output when leip is interrupted: SIGINT/SIGTERM remove every
// registered temporary directory and exit with 128 + the signal (130, 143), so an
// interrupted command leaves either the old output or the new one, never a mix
// (docs/reliability.md, "Interrupted runs"). StagedDirectory registers its temporary
// directory here; nothing else needs to.
#pragma once

#include <string>

namespace leip {

/// Installs the SIGINT and SIGTERM handlers, once per process. A signal whose disposition
/// is not the default (an embedding program's handler, or SIG_IGN as under nohup) is left
/// alone.
void installInterruptHandlers();

/// Registers `path` (absolute) for removal by the handlers; returns a slot for
/// unregisterInterruptCleanup, or -1 when every slot is taken (the directory is then left
/// to removeStaleStagedDirectories at the next run).
int registerInterruptCleanup(const std::string &path);
void unregisterInterruptCleanup(int slot);

/// Removes "<dir>/<name>.partial-<pid>..." siblings left by leip processes that no longer
/// exist (killed with SIGKILL, or a machine that went down). Returns how many it removed.
int removeStaleStagedDirectories(const std::string &dir, const std::string &name);

} // namespace leip
