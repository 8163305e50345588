// Parsing --target and describing the host.
#include "leip/codegen/Target.h"

#include "leip/support/Error.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/Support/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace leip::codegen {

namespace {

bool hostIsX86_64() { return llvm::Triple(llvm::sys::getProcessTriple()).getArch() == llvm::Triple::x86_64; }

std::string hostFeatures() {
  llvm::StringMap<bool> features;
  std::string out;
  if (!llvm::sys::getHostCPUFeatures(features)) return out;
  for (const auto &entry : features) {
    if (!out.empty()) out += ",";
    out += (entry.getValue() ? "+" : "-") + entry.getKey().str();
  }
  return out;
}

Target x86(bool useHost) {
  Target t{"x86_64", "x86_64-linux-gnu", "x86-64", "", "/usr/lib/x86_64-linux-gnu", ""};
  if (useHost) {
    t.cpu = llvm::sys::getHostCPUName().str();
    t.features = hostFeatures();
  }
  return t;
}

Target aarch64() { return Target{"aarch64", "aarch64-linux-gnu", "generic", "+neon", "/usr/aarch64-linux-gnu/lib", ""}; }

} // namespace

std::string Target::hostArch() const {
  if (!isCuda()) return arch;
  return triple.rfind("aarch64", 0) == 0 ? "aarch64" : "x86_64";
}

std::string Target::describe() const {
  if (isCuda()) return "cuda (" + gpuArch + ", host " + hostArch() + ")";
  return arch + " (cpu=" + cpu + ")";
}

const std::vector<std::string> &cudaArchs() {
  static const std::vector<std::string> archs = {"sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90"};
  return archs;
}

Target hostTarget() {
  if (hostIsX86_64()) return x86(true);
  if (llvm::Triple(llvm::sys::getProcessTriple()).getArch() == llvm::Triple::aarch64) {
    Target t = aarch64();
    t.cpu = llvm::sys::getHostCPUName().str();
    t.features = hostFeatures();
    t.libDir = "/usr/lib/aarch64-linux-gnu";
    return t;
  }
  throw UsageError("the host is neither x86_64 nor aarch64: give --target x86_64 or --target aarch64");
}

/// "cuda [-arch=sm_XX] [-host=x86_64|aarch64]": host code for a generic CPU of the host
/// arch (the artifact runs on whatever CPU sits beside the GPU).
static Target cuda(const std::string &text, const std::vector<std::string> &words) {
  Target t = x86(false);
  t.gpuArch = "sm_80";
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string &w = words[i];
    if (w.rfind("-arch=", 0) == 0) {
      t.gpuArch = w.substr(6);
      const auto &archs = cudaArchs();
      if (std::find(archs.begin(), archs.end(), t.gpuArch) == archs.end()) {
        std::string list;
        for (const std::string &a : archs) {
          if (!list.empty()) list += ", ";
          list += a;
        }
        throw UsageError("--target '" + text + "': unsupported arch '" + t.gpuArch + "' (expected one of " + list + ")");
      }
    } else if (w == "-host=x86_64") {
      t = Target{t.arch, "x86_64-linux-gnu", "x86-64", "", "/usr/lib/x86_64-linux-gnu", t.gpuArch};
    } else if (w == "-host=aarch64") {
      Target host = aarch64();
      t = Target{t.arch, host.triple, host.cpu, host.features, host.libDir, t.gpuArch};
    } else {
      throw UsageError("--target '" + text + "': unknown option '" + w +
                       "' (expected -arch=sm_XX or -host=x86_64|aarch64)");
    }
  }
  t.arch = "cuda";
  return t;
}

Target parseTarget(const std::string &text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) return hostTarget();
  if (words[0] == "cuda" || words[0] == "nvptx") return cuda(text, words);

  Target t;
  const std::string &name = words[0];
  if (name == "x86_64" || name == "llvm" || name == "x86-64") t = x86(hostIsX86_64());
  else if (name == "aarch64" || name == "arm64") t = aarch64();
  else
    throw UsageError("--target '" + text + "': unknown target '" + name +
                     "' (expected x86_64, llvm or aarch64, optionally with -mcpu=NAME -mattr=+a,-b, or cuda "
                     "-arch=sm_XX)");
  bool cpuGiven = false;
  std::string mattr;
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string &w = words[i];
    if (w.rfind("-mcpu=", 0) == 0 && w.size() > 6) {
      t.cpu = w.substr(6);
      cpuGiven = true;
    } else if (w.rfind("-mattr=", 0) == 0 && w.size() > 7) {
      mattr += (mattr.empty() ? "" : ",") + w.substr(7);
    } else {
      throw UsageError("--target '" + text + "': unknown option '" + w + "' (expected -mcpu=NAME or -mattr=+a,-b)");
    }
  }
  // A CPU named by the user brings its own features (the host's no longer apply); -mattr
  // adds to whichever base is left.
  if (cpuGiven) t.features = mattr;
  else if (!mattr.empty()) t.features += (t.features.empty() ? "" : ",") + mattr;
  return t;
}

} // namespace leip::codegen
