// The memory cap of `leip --max_memory` (docs/cli.md): how many bytes the tensors a model
// declares may take, so that a hostile model (an initializer or input whose dims say 10^12
// elements, a ConstantOfShape that asks for terabytes) is refused with a clear message
// before anything is allocated, instead of being killed by the kernel halfway through.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace leip {

/// The cap in bytes: setMaxMemory()'s value, else defaultMaxMemory().
uint64_t maxMemory();
void setMaxMemory(uint64_t bytes);
/// 75% of the physical memory (sysconf), or 8 GiB when that is unknown.
uint64_t defaultMaxMemory();

/// "4096", "512K", "64M", "8G", "1.5G", "1T" (powers of 1024; a trailing "B"/"iB" is
/// accepted). Throws UsageError for anything else, zero, or more than 2^63 bytes.
uint64_t parseByteSize(const std::string &text);
/// "1.5 GiB", "12.0 MiB", "300 bytes".
std::string formatBytes(uint64_t bytes);

/// count * elementSize, or nullopt when it does not fit in 63 bits.
std::optional<uint64_t> checkedBytes(int64_t count, uint64_t elementSize);

/// Raises the soft address-space limit (which `leip` lowers to --max_memory plus headroom
/// against hostile models) back to the hard limit: for a CUDA artifact, whose driver reserves
/// address space for unified addressing far beyond the memory it uses.
void liftAddressSpaceCap();

/// Throws BadInputError "WHAT needs N bytes (X GiB), more than --max_memory allows (Y GiB)"
/// when `bytes` > maxMemory().
void checkMemory(uint64_t bytes, const std::string &what);

} // namespace leip
