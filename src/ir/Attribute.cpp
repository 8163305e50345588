#include "leip/ir/Attribute.h"

#include "leip/support/Error.h"

#include <sstream>

namespace leip::ir {

namespace {
template <typename T> const T *lookup(const std::map<std::string, Attribute> &map, const std::string &name) {
  auto it = map.find(name);
  if (it == map.end()) return nullptr;
  return std::get_if<T>(&it->second);
}

template <typename T> std::string joinList(const std::vector<T> &values) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < values.size(); ++i) os << (i ? "," : "") << values[i];
  os << "]";
  return os.str();
}
} // namespace

int64_t AttributeMap::getInt(const std::string &name, const std::string &owner) const {
  if (const auto *v = lookup<int64_t>(map_, name)) return *v;
  throw BadInputError(owner + ": attribute '" + name + "' must be an integer" +
                      (has(name) ? " (it has another type)" : " (it is missing)"));
}

int64_t AttributeMap::getInt(const std::string &name, int64_t fallback) const {
  const auto *v = lookup<int64_t>(map_, name);
  return v ? *v : fallback;
}

float AttributeMap::getFloat(const std::string &name, float fallback) const {
  if (const auto *v = lookup<float>(map_, name)) return *v;
  if (const auto *i = lookup<int64_t>(map_, name)) return static_cast<float>(*i);
  return fallback;
}

std::string AttributeMap::getString(const std::string &name, const std::string &fallback) const {
  const auto *v = lookup<std::string>(map_, name);
  return v ? *v : fallback;
}

std::vector<int64_t> AttributeMap::getInts(const std::string &name, const std::vector<int64_t> &fallback) const {
  const auto *v = lookup<std::vector<int64_t>>(map_, name);
  return v ? *v : fallback;
}

std::vector<float> AttributeMap::getFloats(const std::string &name, const std::vector<float> &fallback) const {
  const auto *v = lookup<std::vector<float>>(map_, name);
  return v ? *v : fallback;
}

const Tensor &AttributeMap::getTensor(const std::string &name, const std::string &owner) const {
  if (const auto *v = lookup<Tensor>(map_, name)) return *v;
  throw BadInputError(owner + ": attribute '" + name + "' must be a tensor");
}

std::string attributeToString(const Attribute &attr) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(float v) const {
      std::ostringstream os;
      os << v;
      return os.str();
    }
    std::string operator()(const std::string &v) const { return "\"" + v + "\""; }
    std::string operator()(const std::vector<int64_t> &v) const { return joinList(v); }
    std::string operator()(const std::vector<float> &v) const { return joinList(v); }
    std::string operator()(const std::vector<std::string> &v) const { return joinList(v); }
    std::string operator()(const Tensor &t) const { return "tensor " + t.type().toString(); }
  };
  return std::visit(Visitor{}, attr);
}

} // namespace leip::ir
