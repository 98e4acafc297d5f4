// Derivative rules of the elementwise ops. Unary rules scale by f'(x);
// binary rules align each operand's directions to the result's rank and sum
// adjoints back over broadcast axes.
#include "RuleFamilies.h"

#include <cmath>
#include <numbers>

namespace chainjit::ir::rules {

namespace {

// --- unary ops: y = f(x), dy = f'(x) dx, x_bar = y_bar f'(x) ---

// Each unary op defines f'(x) from the context (x = operand 0, y = result).
template <Value (*Slope)(const RuleContext &)> MaybeValue unaryJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return *t[0] * Slope(c);
}
template <Value (*Slope)(const RuleContext &)>
std::vector<MaybeValue> unaryVjp(const RuleContext &c, Value adj, Wanted) {
  return {adj * Slope(c)};
}
template <Value (*Slope)(const RuleContext &)> DerivativeRules unary(OpKind k, std::string_view conv = {}) {
  return {k, unaryJvp<Slope>, unaryVjp<Slope>, {}, false, conv};
}

Value x0(const RuleContext &c) { return c.operands[0]; }
Value expSlope(const RuleContext &c) { return c.result; }
Value logSlope(const RuleContext &c) { return 1.0 / x0(c); }
Value sqrtSlope(const RuleContext &c) { return 0.5 / c.result; }
Value absSlope(const RuleContext &c) { return sign(x0(c)); }
Value powSlope(const RuleContext &c) {
  double e = c.attrs().getFloat("exponent");
  return e * pow(x0(c), e - 1.0);
}
Value reluSlope(const RuleContext &c) {
  return cast(greater(x0(c), scalarLike(x0(c), 0.0)), x0(c).dtype());
}
Value sigmoidSlope(const RuleContext &c) { return c.result * (1.0 - c.result); }
Value tanhSlope(const RuleContext &c) { return 1.0 - c.result * c.result; }
Value softplusSlope(const RuleContext &c) { return sigmoid(x0(c)); }
// erf'(x) = 2/sqrt(pi) e^(-x^2).
Value erfSlope(const RuleContext &c) {
  return (2.0 / std::sqrt(std::numbers::pi)) * exp(-(x0(c) * x0(c)));
}
// gelu, exact: y = x Phi(x), y' = Phi(x) + x phi(x) with Phi(x) = (1 + erf(x/sqrt 2))/2
// and phi(x) = e^(-x^2/2)/sqrt(2 pi). tanh form: 0.5x(1 + tanh u) = x s with
// s = sigmoid(2u), u = sqrt(2/pi)(x + 0.044715x^3), so y' = s + 2x s(1 - s) u'.
// Both are written with ops that have rules (erf, exp, sigmoid, mul), so
// second derivatives work.
Value geluSlope(const RuleContext &c) {
  Value x = x0(c);
  Value x2 = x * x;
  if (c.attrs().getString("approximate") == "tanh") {
    const double k = std::sqrt(2.0 / std::numbers::pi), a = 0.044715;
    Value s = sigmoid((2.0 * k) * (x + a * (x2 * x)));
    Value du = k * (1.0 + (3.0 * a) * x2);
    return s + (2.0 * x) * (s * (1.0 - s)) * du;
  }
  Value cdf = 0.5 * (1.0 + erf(x * (1.0 / std::numbers::sqrt2)));
  Value pdf = (1.0 / std::sqrt(2.0 * std::numbers::pi)) * exp(-0.5 * x2);
  return cdf + x * pdf;
}

MaybeValue negJvp(const RuleContext &, Tangents t) {
  return t[0] ? MaybeValue(-*t[0]) : std::nullopt;
}
std::vector<MaybeValue> negVjp(const RuleContext &, Value adj, Wanted) { return {-adj}; }

// cast between floats passes directions through; other casts are constant.
MaybeValue castJvp(const RuleContext &c, Tangents t) {
  if (!t[0] || !isFloat(c.node.type.dtype))
    return std::nullopt;
  return cast(*t[0], c.node.type.dtype);
}
std::vector<MaybeValue> castVjp(const RuleContext &c, Value adj, Wanted) {
  if (!isFloat(c.operands[0].dtype()))
    return {std::nullopt};
  return {cast(adj, c.operands[0].dtype())};
}

MaybeValue zeroJvp(const RuleContext &, Tangents) { return std::nullopt; }
std::vector<MaybeValue> zeroVjp(const RuleContext &c, Value, Wanted) {
  return std::vector<MaybeValue>(c.operands.size());
}
DerivativeRules piecewiseConstant(OpKind k, std::string_view conv) {
  return {k, zeroJvp, zeroVjp, {}, true, conv};
}

// --- binary ops: dy = da * dy/da + db * dy/db with directions aligned ---

Value aligned(const RuleContext &c, Value dirs) {
  return alignDirections(dirs, c.node.type.rank());
}
Value a0(const RuleContext &c) { return c.operands[0]; }
Value b0(const RuleContext &c) { return c.operands[1]; }

MaybeValue addJvp(const RuleContext &c, Tangents t) {
  MaybeValue r = addMaybe(t[0] ? MaybeValue(aligned(c, *t[0])) : std::nullopt,
                          t[1] ? MaybeValue(aligned(c, *t[1])) : std::nullopt);
  return r ? MaybeValue(fitToResult(c, *r)) : std::nullopt;
}
std::vector<MaybeValue> addVjp(const RuleContext &c, Value adj, Wanted) {
  return {unbroadcastDirections(adj, a0(c).shape()),
          unbroadcastDirections(adj, b0(c).shape())};
}

MaybeValue subJvp(const RuleContext &c, Tangents t) {
  MaybeValue r = addMaybe(t[0] ? MaybeValue(aligned(c, *t[0])) : std::nullopt,
                          t[1] ? MaybeValue(-aligned(c, *t[1])) : std::nullopt);
  return r ? MaybeValue(fitToResult(c, *r)) : std::nullopt;
}
std::vector<MaybeValue> subVjp(const RuleContext &c, Value adj, Wanted) {
  return {unbroadcastDirections(adj, a0(c).shape()),
          unbroadcastDirections(-adj, b0(c).shape())};
}

MaybeValue mulJvp(const RuleContext &c, Tangents t) {
  MaybeValue r = addMaybe(t[0] ? MaybeValue(aligned(c, *t[0]) * b0(c)) : std::nullopt,
                          t[1] ? MaybeValue(a0(c) * aligned(c, *t[1])) : std::nullopt);
  return r ? MaybeValue(fitToResult(c, *r)) : std::nullopt;
}
std::vector<MaybeValue> mulVjp(const RuleContext &c, Value adj, Wanted w) {
  std::vector<MaybeValue> r(2);
  if (w[0])
    r[0] = unbroadcastDirections(adj * b0(c), a0(c).shape());
  if (w[1])
    r[1] = unbroadcastDirections(adj * a0(c), b0(c).shape());
  return r;
}

// y = a / b: dy = (da - y db) / b.
MaybeValue divJvp(const RuleContext &c, Tangents t) {
  MaybeValue r = addMaybe(t[0] ? MaybeValue(aligned(c, *t[0]) / b0(c)) : std::nullopt,
                          t[1] ? MaybeValue(-(aligned(c, *t[1]) * c.result) / b0(c))
                               : std::nullopt);
  return r ? MaybeValue(fitToResult(c, *r)) : std::nullopt;
}
std::vector<MaybeValue> divVjp(const RuleContext &c, Value adj, Wanted w) {
  std::vector<MaybeValue> r(2);
  Value scaled = adj / b0(c);
  if (w[0])
    r[0] = unbroadcastDirections(scaled, a0(c).shape());
  if (w[1])
    r[1] = unbroadcastDirections(-(scaled * c.result), b0(c).shape());
  return r;
}

// maximum/minimum pass each direction from the operand that wins; a tie goes
// to the first operand.
template <bool IsMax> Value firstWins(const RuleContext &c) {
  return IsMax ? greaterEqual(a0(c), b0(c)) : lessEqual(a0(c), b0(c));
}
template <bool IsMax> MaybeValue extremumJvp(const RuleContext &c, Tangents t) {
  if (!t[0] && !t[1])
    return std::nullopt;
  Value da = aligned(c, tangentOrZeros(c, t[0], 0));
  Value db = aligned(c, tangentOrZeros(c, t[1], 1));
  return fitToResult(c, where(firstWins<IsMax>(c), da, db));
}
template <bool IsMax> std::vector<MaybeValue> extremumVjp(const RuleContext &c, Value adj, Wanted w) {
  Value zero = scalarLike(adj, 0.0);
  Value cond = firstWins<IsMax>(c);
  std::vector<MaybeValue> r(2);
  if (w[0])
    r[0] = unbroadcastDirections(where(cond, adj, zero), a0(c).shape());
  if (w[1])
    r[1] = unbroadcastDirections(where(cond, zero, adj), b0(c).shape());
  return r;
}

// where(cond, a, b): directions follow the condition.
MaybeValue whereJvp(const RuleContext &c, Tangents t) {
  if (!t[1] && !t[2])
    return std::nullopt;
  Value da = aligned(c, tangentOrZeros(c, t[1], 1));
  Value db = aligned(c, tangentOrZeros(c, t[2], 2));
  return fitToResult(c, where(c.operands[0], da, db));
}
std::vector<MaybeValue> whereVjp(const RuleContext &c, Value adj, Wanted w) {
  Value zero = scalarLike(adj, 0.0);
  std::vector<MaybeValue> r(3);
  if (w[1])
    r[1] = unbroadcastDirections(where(c.operands[0], adj, zero), c.operands[1].shape());
  if (w[2])
    r[2] = unbroadcastDirections(where(c.operands[0], zero, adj), c.operands[2].shape());
  return r;
}

} // namespace

std::vector<DerivativeRules> elementwiseRules() {
  const std::string_view cmp = "comparisons produce masks: no derivative";
  return {
      {OpKind::Neg, negJvp, negVjp},
      unary<expSlope>(OpKind::Exp),
      unary<logSlope>(OpKind::Log),
      unary<sqrtSlope>(OpKind::Sqrt, "sqrt'(0) = inf"),
      unary<absSlope>(OpKind::Abs, "abs'(0) = 0"),
      piecewiseConstant(OpKind::Sign, "sign' = 0 (also at 0)"),
      unary<powSlope>(OpKind::Pow),
      unary<reluSlope>(OpKind::Relu, "relu'(0) = 0"),
      unary<sigmoidSlope>(OpKind::Sigmoid),
      unary<tanhSlope>(OpKind::Tanh),
      unary<softplusSlope>(OpKind::Softplus),
      unary<erfSlope>(OpKind::Erf),
      unary<geluSlope>(OpKind::Gelu),
      {OpKind::Cast, castJvp, castVjp, {}, false, "casts to i32 or bool have no derivative"},
      {OpKind::Add, addJvp, addVjp},
      {OpKind::Sub, subJvp, subVjp},
      {OpKind::Mul, mulJvp, mulVjp},
      {OpKind::Div, divJvp, divVjp},
      {OpKind::Maximum, extremumJvp<true>, extremumVjp<true>, {}, false,
       "at a tie the derivative follows the first operand"},
      {OpKind::Minimum, extremumJvp<false>, extremumVjp<false>, {}, false,
       "at a tie the derivative follows the first operand"},
      piecewiseConstant(OpKind::Less, cmp),
      piecewiseConstant(OpKind::LessEqual, cmp),
      piecewiseConstant(OpKind::Greater, cmp),
      piecewiseConstant(OpKind::GreaterEqual, cmp),
      piecewiseConstant(OpKind::Equal, cmp),
      piecewiseConstant(OpKind::NotEqual, cmp),
      {OpKind::Where, whereJvp, whereVjp, {false, true, true}, false,
       "directions follow the condition; none flows into it"},
  };
}

} // namespace chainjit::ir::rules
