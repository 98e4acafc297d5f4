// Op attributes: small named constants attached to a node (axes, strides,
// exponents, seeds...).
#pragma once

#include "chainjit/ir/Types.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chainjit::ir {

using Ints = std::vector<int64_t>;
using Floats = std::vector<double>;
using AttrValue =
    std::variant<bool, int64_t, double, std::string, Ints, Floats, DType>;

enum class AttrKind : uint8_t { Bool, Int, Float, String, Ints, Floats, DType };
std::string_view attrKindName(AttrKind k);
// The kind with its article, for messages: "an int", "a float list".
std::string attrKindPhrase(AttrKind k);
AttrKind kindOf(const AttrValue &v);

// A name -> value map, iterated in name order so that printing is canonical.
class Attrs {
public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init)
      : map_(init) {}

  Attrs &set(std::string name, AttrValue v) {
    map_[std::move(name)] = std::move(v);
    return *this;
  }
  bool has(std::string_view name) const { return map_.find(name) != map_.end(); }
  const AttrValue *find(std::string_view name) const;

  // Typed getters; throw chainjit::Error if missing or of another kind.
  bool getBool(std::string_view name) const;
  int64_t getInt(std::string_view name) const;
  double getFloat(std::string_view name) const; // an Int is accepted too
  const std::string &getString(std::string_view name) const;
  const Ints &getInts(std::string_view name) const;
  const Floats &getFloats(std::string_view name) const;
  DType getDType(std::string_view name) const;

  auto begin() const { return map_.begin(); }
  auto end() const { return map_.end(); }
  size_t size() const { return map_.size(); }
  // Same names and values; floats compare by their bits, so that an
  // attribute holding nan equals itself (and 0.0 differs from -0.0).
  bool operator==(const Attrs &o) const;

private:
  std::map<std::string, AttrValue, std::less<>> map_;
};

} // namespace chainjit::ir
