#include "TextNumbers.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace chainjit::ir::text {

// fmt prints the shortest form that round-trips ("1", "0.1", "1e-05",
// "1e+20"); an integral value gets ".0" so that it reads back as a float.
template <typename T> static std::string formatFloat(T v) {
  if (std::isnan(v))
    return std::signbit(v) ? "-nan" : "nan";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".en") == std::string::npos) // "n": inf
    s += ".0";
  return s;
}

std::string formatF32(float v) { return formatFloat(v); }
std::string formatF64(double v) { return formatFloat(v); }

bool isNumber(const Token &t) {
  return t.kind == Tok::Int || t.kind == Tok::Float ||
         (t.kind == Tok::Ident && (t.text == "inf" || t.text == "nan"));
}

template <typename T>
static T toInteger(const Token &t, const SourceLoc &loc, const char *type) {
  if (t.kind != Tok::Int)
    throw Error("expected an integer, got " + describe(t), loc);
  T v{};
  const char *b = t.text.data(), *e = b + t.text.size();
  auto r = std::from_chars(b, e, v);
  if (r.ec != std::errc() || r.ptr != e)
    throw Error(fmt::format("integer {} does not fit {}", t.text, type), loc);
  return v;
}

int64_t toInt64(const Token &t, const SourceLoc &loc) {
  return toInteger<int64_t>(t, loc, "in 64 bits");
}
int32_t toInt32(const Token &t, const SourceLoc &loc) {
  return toInteger<int32_t>(t, loc, "i32");
}

// nan and inf are spelled out; from_chars reads the rest in the target type
// directly (reading a double and rounding it to float could round twice).
// Overflow and underflow to zero are both out of range.
template <typename T>
static T toFloat(const Token &t, const SourceLoc &loc, const char *type) {
  if (!isNumber(t))
    throw Error("expected a number, got " + describe(t), loc);
  std::string_view s = t.text;
  bool negative = !s.empty() && s[0] == '-';
  std::string_view body = negative ? s.substr(1) : s;
  if (body == "nan" || body == "inf") {
    T v = body == "nan" ? std::numeric_limits<T>::quiet_NaN()
                        : std::numeric_limits<T>::infinity();
    return negative ? std::copysign(v, T(-1)) : v;
  }
  T v{};
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    throw Error(fmt::format("number {} is out of range for {}", t.text, type),
                loc);
  return v;
}

double toF64(const Token &t, const SourceLoc &loc) {
  return toFloat<double>(t, loc, "f64");
}
float toF32(const Token &t, const SourceLoc &loc) {
  return toFloat<float>(t, loc, "f32");
}

} // namespace chainjit::ir::text
