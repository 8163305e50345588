// Node attributes: the ONNX attribute kinds leip supports (graphs/subgraphs are not).
#pragma once

#include "leip/ir/Tensor.h"

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace leip::ir {

using Attribute = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, Tensor>;

/// Ordered so that printing is deterministic.
class AttributeMap {
public:
  bool has(const std::string &name) const { return map_.count(name) != 0; }
  void set(const std::string &name, Attribute value) { map_[name] = std::move(value); }
  void erase(const std::string &name) { map_.erase(name); }
  const std::map<std::string, Attribute> &all() const { return map_; }

  /// Typed getters. The versions without a default throw BadInputError naming the
  /// attribute when it is missing or of another kind; `owner` (e.g. "node 'conv1' (Conv)")
  /// goes into that message.
  int64_t getInt(const std::string &name, const std::string &owner) const;
  int64_t getInt(const std::string &name, int64_t fallback) const;
  float getFloat(const std::string &name, float fallback) const;
  std::string getString(const std::string &name, const std::string &fallback) const;
  std::vector<int64_t> getInts(const std::string &name, const std::vector<int64_t> &fallback = {}) const;
  std::vector<float> getFloats(const std::string &name, const std::vector<float> &fallback = {}) const;
  const Tensor &getTensor(const std::string &name, const std::string &owner) const;

private:
  std::map<std::string, Attribute> map_;
};

/// "3", "0.5", "\"NOTSET\"", "[1,1]", "tensor f32[2]".
std::string attributeToString(const Attribute &attr);

} // namespace leip::ir
