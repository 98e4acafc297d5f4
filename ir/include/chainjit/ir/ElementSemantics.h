// The element-level meaning of the ops whose definition involves a choice
// (NaN, zero, saturation), in one place: the reference interpreter computes
// with these and constant folding reuses them, so a folded value is the value
// the interpreter would have produced, bit for bit.
#pragma once

#include "chainjit/ir/Types.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace chainjit::ir::element {

// sign(0) = 0, as NumPy; NaN stays NaN.
inline double sign(double x) {
  if (std::isnan(x))
    return x;
  return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
}

// NaN propagates (relu of NaN is NaN), so a bad value is never hidden.
inline double relu(double x) { return x > 0 || std::isnan(x) ? x : 0.0; }

// NumPy maximum/minimum: a NaN operand gives NaN.
inline double maximum(double x, double y) {
  return std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::quiet_NaN()
                                        : std::fmax(x, y);
}
inline double minimum(double x, double y) {
  return std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::quiet_NaN()
                                        : std::fmin(x, y);
}

// exp(-|x|) never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below.
inline double sigmoid(double x) {
  double z = std::exp(-std::fabs(x));
  return x >= 0 ? 1.0 / (1.0 + z) : z / (1.0 + z);
}

// log(1+e^x) = max(x,0) + log1p(e^-|x|): exact for large |x|, no overflow.
inline double softplus(double x) {
  return std::fmax(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
}

// cast: to i32 truncates toward zero, saturating at the i32 range (NaN -> 0),
// so the result is defined for every input; other targets keep the value
// (Tensor::set then rounds to f32 or tests != 0 for bool).
inline double castTo(double v, DType to) {
  if (to != DType::i32)
    return v;
  constexpr double lo = std::numeric_limits<int32_t>::min();
  constexpr double hi = std::numeric_limits<int32_t>::max();
  return std::isnan(v) ? 0.0 : std::trunc(std::fmin(std::fmax(v, lo), hi));
}

} // namespace chainjit::ir::element
