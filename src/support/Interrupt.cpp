// See leip/support/Interrupt.h.
//
// The handler may run at any point, on any thread, while another thread holds the malloc
// lock: it only uses async-signal-safe system calls (renameat, openat, getdents64,
// unlinkat, write, _exit) on paths prepared when they were registered.
#include "leip/support/Interrupt.h"

#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace leip {

namespace {

constexpr int kSlots = 16;
constexpr size_t kPathBytes = 4096;

struct Slot {
  std::atomic<int> used{0}; // 0 free, 1 being written, 2 registered
  char path[kPathBytes];
  char dying[kPathBytes]; // path + ".dead": moved there first, see removeRegistered
};
Slot gSlots[kSlots];

/// struct linux_dirent64, as getdents64 fills it.
struct DirEntry64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[1];
};

/// Removes `name` under `parentFd` (a file, or a directory tree at most `depth` deep).
/// Async-signal-safe: no allocation, no stdio, no readdir.
void removeTree(int parentFd, const char *name, int depth) {
  if (::unlinkat(parentFd, name, 0) == 0 || errno == ENOENT) return;
  if (depth <= 0) return;
  int fd = ::openat(parentFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buffer[2048];
  // Deleting while reading may make getdents skip entries: read again until a pass
  // finds nothing left to delete (a few passes at most).
  for (int pass = 0; pass < 8; ++pass) {
    bool removedAny = false;
    ::lseek(fd, 0, SEEK_SET);
    for (;;) {
      long n = ::syscall(SYS_getdents64, fd, buffer, sizeof buffer);
      if (n <= 0) break;
      for (long at = 0; at < n;) {
        auto *entry = reinterpret_cast<DirEntry64 *>(buffer + at);
        at += entry->reclen;
        if (!std::strcmp(entry->name, ".") || !std::strcmp(entry->name, "..")) continue;
        removeTree(fd, entry->name, depth - 1);
        removedAny = true;
      }
    }
    if (!removedAny) break;
  }
  ::close(fd);
  ::unlinkat(parentFd, name, AT_REMOVEDIR);
}

void removeRegistered() {
  for (Slot &slot : gSlots) {
    if (slot.used.load(std::memory_order_acquire) != 2) continue;
    // Move it aside first: a thread still writing into it by path then fails instead of
    // recreating files in a directory being deleted.
    const char *target = ::rename(slot.path, slot.dying) == 0 ? slot.dying : slot.path;
    removeTree(AT_FDCWD, target, 16);
  }
}

void onSignal(int signal) {
  removeRegistered();
  const char *message = signal == SIGINT ? "leip: interrupted (SIGINT); partial output removed\n"
                                         : "leip: terminated (SIGTERM); partial output removed\n";
  ssize_t ignored = ::write(2, message, std::strlen(message));
  (void)ignored;
  ::_exit(128 + signal);
}

std::once_flag gInstalled;

} // namespace

void installInterruptHandlers() {
  std::call_once(gInstalled, [] {
    for (int signal : {SIGINT, SIGTERM}) {
      struct sigaction current {};
      if (::sigaction(signal, nullptr, &current) != 0) continue;
      if (current.sa_handler != SIG_DFL || (current.sa_flags & SA_SIGINFO)) continue;
      struct sigaction action {};
      action.sa_handler = onSignal;
      sigemptyset(&action.sa_mask);
      // A second signal while the first one cleans up waits (and never runs: _exit).
      sigaddset(&action.sa_mask, SIGINT);
      sigaddset(&action.sa_mask, SIGTERM);
      ::sigaction(signal, &action, nullptr);
    }
  });
}

int registerInterruptCleanup(const std::string &path) {
  if (path.size() + 6 >= kPathBytes) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!gSlots[i].used.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(gSlots[i].path, path.c_str(), path.size() + 1);
    std::memcpy(gSlots[i].dying, path.c_str(), path.size());
    std::memcpy(gSlots[i].dying + path.size(), ".dead", 6);
    gSlots[i].used.store(2, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregisterInterruptCleanup(int slot) {
  if (slot >= 0 && slot < kSlots) gSlots[slot].used.store(0, std::memory_order_release);
}

int removeStaleStagedDirectories(const std::string &dir, const std::string &name) {
  namespace fs = std::filesystem;
  const std::string prefixes[] = {name + ".partial-", name + ".old-"}; // .old-: older leip versions
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    for (const std::string &prefix : prefixes) {
      if (entry.compare(0, prefix.size(), prefix) != 0) continue;
      // "<pid>" or "<pid>.dead"
      size_t digits = 0;
      while (prefix.size() + digits < entry.size() && std::isdigit((unsigned char)entry[prefix.size() + digits]))
        ++digits;
      if (digits == 0 || digits > 9) continue;
      const std::string rest = entry.substr(prefix.size() + digits);
      if (!rest.empty() && rest != ".dead") continue;
      const pid_t pid = static_cast<pid_t>(std::stol(entry.substr(prefix.size(), digits)));
      // Alive (or not ours to signal): leave it. Our own pid: a directory this process
      // stages right now.
      if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
      std::error_code removeError;
      if (fs::remove_all(it->path(), removeError) != static_cast<std::uintmax_t>(-1) && !removeError) ++removed;
    }
  }
  return removed;
}

} // namespace leip
