// See leip/codegen/SchemaChecksum.h.
#include "leip/codegen/SchemaChecksum.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

namespace leip::codegen {

std::string sha256Hex(std::string_view data) {
  llvm::SHA256 hasher;
  hasher.update(llvm::StringRef(data.data(), data.size()));
  return llvm::toHex(hasher.final(), /*LowerCase=*/true);
}

std::string schemaChecksum(const nlohmann::json &schema) {
  nlohmann::json canonical = nlohmann::json::parse(schema.dump()); // same number types as a file read back
  if (canonical.is_object()) canonical.erase("checksum");
  if (canonical.is_object() && canonical.contains("source") && canonical["source"].is_object())
    canonical["source"].erase("path");
  return sha256Hex(canonical.dump());
}

} // namespace leip::codegen
