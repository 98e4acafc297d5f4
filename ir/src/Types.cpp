#include "chainjit/ir/Types.h"

#include "chainjit/ir/Error.h"

#include <algorithm>

namespace chainjit::ir {

std::string_view dtypeName(DType t) {
  switch (t) {
  case DType::f32: return "f32";
  case DType::f64: return "f64";
  case DType::i32: return "i32";
  case DType::boolean: return "bool";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view name) {
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::boolean})
    if (dtypeName(t) == name)
      return t;
  return std::nullopt;
}

bool isFloat(DType t) { return t == DType::f32 || t == DType::f64; }

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::f32: return 4;
  case DType::f64: return 8;
  case DType::i32: return 4;
  case DType::boolean: return 1;
  }
  return 0;
}

int64_t numElements(const Shape &s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw Error("the element count of shape " + shapeStr(s) + " overflows int64");
  return n;
}

std::optional<uint64_t> checkedByteSize(const TensorType &t) {
  uint64_t bytes = dtypeSize(t.dtype);
  for (int64_t d : t.shape)
    if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      return std::nullopt;
  // As in numElements, an overflowing partial product is rejected even when
  // a later dimension is 0.
  if (bytes > kMaxTensorBytes)
    return std::nullopt;
  return bytes;
}

std::string shapeStr(const Shape &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

std::vector<int64_t> stridesOf(const Shape &s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i)
    st[i] = st[i + 1] * s[i + 1];
  return st;
}

std::string TensorType::str() const {
  return std::string(dtypeName(dtype)) + shapeStr(shape);
}

std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

} // namespace chainjit::ir
