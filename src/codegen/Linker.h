// In-process linking with lld (a library, not a subprocess).
#pragma once

#include "leip/codegen/Target.h"

#include <string>

namespace leip::codegen {

/// Links `objectPath` into the shared library `outputPath` against the target's libc and
/// libm (and libpthread where it is a separate library). Throws InternalError with lld's
/// messages on failure.
void linkSharedLibrary(const Target &target, const std::string &objectPath, const std::string &outputPath);

} // namespace leip::codegen
