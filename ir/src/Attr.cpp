#include "chainjit/ir/Attr.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cstring>

namespace chainjit::ir {

std::string_view attrKindName(AttrKind k) {
  switch (k) {
  case AttrKind::Bool: return "bool";
  case AttrKind::Int: return "int";
  case AttrKind::Float: return "float";
  case AttrKind::String: return "string";
  case AttrKind::Ints: return "int list";
  case AttrKind::Floats: return "float list";
  case AttrKind::DType: return "dtype";
  }
  return "?";
}

std::string attrKindPhrase(AttrKind k) {
  std::string_view name = attrKindName(k);
  return (name.front() == 'i' ? "an " : "a ") + std::string(name);
}

AttrKind kindOf(const AttrValue &v) { return static_cast<AttrKind>(v.index()); }

const AttrValue *Attrs::find(std::string_view name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

template <typename T>
static const T &getAs(const Attrs &a, std::string_view name, AttrKind kind) {
  const AttrValue *v = a.find(name);
  if (!v)
    throw Error("missing attribute '" + std::string(name) + "'");
  if (const T *p = std::get_if<T>(v))
    return *p;
  throw Error("attribute '" + std::string(name) + "' must be " +
              attrKindPhrase(kind) + ", got " + attrKindPhrase(kindOf(*v)));
}

bool Attrs::getBool(std::string_view n) const { return getAs<bool>(*this, n, AttrKind::Bool); }
int64_t Attrs::getInt(std::string_view n) const { return getAs<int64_t>(*this, n, AttrKind::Int); }
double Attrs::getFloat(std::string_view n) const {
  if (const AttrValue *v = find(n))
    if (const int64_t *i = std::get_if<int64_t>(v))
      return static_cast<double>(*i);
  return getAs<double>(*this, n, AttrKind::Float);
}
const std::string &Attrs::getString(std::string_view n) const {
  return getAs<std::string>(*this, n, AttrKind::String);
}
const Ints &Attrs::getInts(std::string_view n) const { return getAs<Ints>(*this, n, AttrKind::Ints); }
const Floats &Attrs::getFloats(std::string_view n) const {
  return getAs<Floats>(*this, n, AttrKind::Floats);
}
DType Attrs::getDType(std::string_view n) const { return getAs<DType>(*this, n, AttrKind::DType); }

static bool sameBits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

static bool sameValue(const AttrValue &a, const AttrValue &b) {
  if (const double *x = std::get_if<double>(&a))
    return b.index() == a.index() && sameBits(*x, std::get<double>(b));
  if (const Floats *x = std::get_if<Floats>(&a)) {
    const Floats *y = std::get_if<Floats>(&b);
    return y && x->size() == y->size() &&
           std::equal(x->begin(), x->end(), y->begin(), sameBits);
  }
  return a == b;
}

bool Attrs::operator==(const Attrs &o) const {
  return map_.size() == o.map_.size() &&
         std::equal(map_.begin(), map_.end(), o.map_.begin(),
                    [](const auto &a, const auto &b) {
                      return a.first == b.first && sameValue(a.second, b.second);
                    });
}

} // namespace chainjit::ir
