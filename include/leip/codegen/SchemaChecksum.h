// The checksum of a compiled artifact's model_schema.json: written by the compiler
// ("checksum", and compiled into the library) and recomputed by every command that loads an
// artifact, so an edited schema or one from another artifact is refused.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace leip::codegen {

/// The SHA-256 digest of `data` (LLVM's implementation) as 64 lowercase hex digits.
std::string sha256Hex(std::string_view data);

/// sha256Hex of the schema without its "checksum" field, dumped compactly (keys sorted):
/// indifferent to whitespace, sensitive to every value but "source"/"path" (where the model
/// was read from: `leip optimize` rewrites it when it moves the artifact into place).
std::string schemaChecksum(const nlohmann::json &schema);

} // namespace leip::codegen
