// Derivative rules of reductions and softmax. Axis attributes refer to the
// primal; the direction axis in front shifts them by one.
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

namespace {

Value x0(const RuleContext &c) { return c.operands[0]; }

// Sums direction values over primal axes (shifted past the direction axis).
// An empty list means "no axes" here: the sum op reads it as "all axes",
// which would sum over the directions too (a rank-0 reduction).
Value sumOverAxes(Value dirs, const Ints &primalAxes, int64_t rank, bool keepdims) {
  if (primalAxes.empty())
    return dirs;
  return sum(dirs, shiftAxes(primalAxes, rank), keepdims);
}
int64_t rankOf(const RuleContext &c) { return x0(c).type().rank(); }

// The primal axes a reduction reduces (all when the attribute is empty).
Ints reducedAxes(const RuleContext &c) {
  Ints axes = c.attrs().getInts("axes");
  Ints r;
  if (axes.empty())
    for (int64_t i = 0; i < rankOf(c); ++i)
      r.push_back(i);
  else
    for (int64_t a : axes)
      r.push_back(a < 0 ? a + rankOf(c) : a);
  return r;
}

// The primal shape with the reduced axes kept as 1.
Shape keptShape(const RuleContext &c) {
  Shape s = x0(c).shape();
  for (int64_t a : reducedAxes(c))
    s[a] = 1;
  return s;
}

// y (or a direction value of y) reshaped to keep the reduced axes as 1.
Value keepDims(const RuleContext &c, Value v, bool directions) {
  Shape s = keptShape(c);
  if (directions)
    s.insert(s.begin(), c.directions);
  return v.shape() == s ? v : reshape(v, s);
}

// Spreads a direction value of y back over the reduced axes of x.
Value spread(const RuleContext &c, Value adj) {
  Shape s = x0(c).shape();
  s.insert(s.begin(), c.directions);
  return broadcastTo(keepDims(c, adj, true), s);
}

double reducedCount(const RuleContext &c) {
  double n = 1;
  for (int64_t a : reducedAxes(c))
    n *= double(x0(c).shape()[a]);
  return n;
}

MaybeValue sumJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return sumOverAxes(*t[0], reducedAxes(c), rankOf(c), c.attrs().getBool("keepdims"));
}
std::vector<MaybeValue> sumVjp(const RuleContext &c, Value adj, Wanted) {
  return {spread(c, adj)};
}

MaybeValue meanJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return *sumJvp(c, t) / reducedCount(c);
}
std::vector<MaybeValue> meanVjp(const RuleContext &c, Value adj, Wanted) {
  return {spread(c, adj) / reducedCount(c)};
}

// variance: v = sum((x - m)^2) / (n - c), so dv = 2/(n - c) sum((x - m) dx)
// (the dm term vanishes: sum(x - m) = 0) and x_bar = 2/(n - c) (x - m) v_bar.
// x - m is centred twice: in f32 a row of 1e4 + small noise gets a mean off
// by a few units of 1e4's last place, and x - m would carry that error into
// every element; the mean of the first residual (small numbers, summed
// accurately) removes it.
Value centered(const RuleContext &c) {
  const Ints axes = reducedAxes(c);
  Value r = x0(c) - mean(x0(c), axes, /*keepdims=*/true);
  return r - mean(r, axes, /*keepdims=*/true);
}
double varianceScale(const RuleContext &c) {
  return 2.0 / (reducedCount(c) - double(c.attrs().getInt("correction")));
}
MaybeValue varianceJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return sumOverAxes(*t[0] * centered(c), reducedAxes(c), rankOf(c),
                     c.attrs().getBool("keepdims")) *
         varianceScale(c);
}
std::vector<MaybeValue> varianceVjp(const RuleContext &c, Value adj, Wanted) {
  return {spread(c, adj) * (centered(c) * varianceScale(c))};
}

// max: the derivative is shared equally by the elements that attain the
// maximum (a valid subgradient at ties, and the gradient elsewhere).
Value maxWeights(const RuleContext &c) {
  Value hits = cast(equal(x0(c), keepDims(c, c.result, false)), x0(c).dtype());
  return hits / sum(hits, reducedAxes(c), /*keepdims=*/true);
}
MaybeValue maxJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return sumOverAxes(*t[0] * maxWeights(c), reducedAxes(c), rankOf(c),
                     c.attrs().getBool("keepdims"));
}
std::vector<MaybeValue> maxVjp(const RuleContext &c, Value adj, Wanted) {
  return {spread(c, adj) * maxWeights(c)};
}

MaybeValue noJvp(const RuleContext &, Tangents) { return std::nullopt; }
std::vector<MaybeValue> noVjp(const RuleContext &, Value, Wanted) { return {std::nullopt}; }

int64_t shiftedAxis(const RuleContext &c) {
  int64_t a = c.attrs().getInt("axis");
  return (a < 0 ? a + rankOf(c) : a) + 1;
}

// softmax: dy = y (dx - sum(y dx)); x_bar = y (y_bar - sum(y_bar y)).
MaybeValue softmaxJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  Value y = c.result;
  return y * (*t[0] - sum(y * *t[0], {shiftedAxis(c)}, true));
}
std::vector<MaybeValue> softmaxVjp(const RuleContext &c, Value adj, Wanted) {
  Value y = c.result;
  return {y * (adj - sum(adj * y, {shiftedAxis(c)}, true))};
}

// log_softmax: dy = dx - sum(p dx); x_bar = y_bar - p sum(y_bar), p = e^y.
MaybeValue logSoftmaxJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  Value p = exp(c.result);
  return *t[0] - sum(p * *t[0], {shiftedAxis(c)}, true);
}
std::vector<MaybeValue> logSoftmaxVjp(const RuleContext &c, Value adj, Wanted) {
  Value p = exp(c.result);
  return {adj - p * sum(adj, {shiftedAxis(c)}, true)};
}

} // namespace

std::vector<DerivativeRules> reduceRules() {
  return {
      {OpKind::Sum, sumJvp, sumVjp},
      {OpKind::Mean, meanJvp, meanVjp},
      {OpKind::Variance, varianceJvp, varianceVjp},
      {OpKind::Max, maxJvp, maxVjp, {}, false,
       "at ties the derivative is shared equally by the maximal elements"},
      {OpKind::ArgMax, noJvp, noVjp, {}, true, "an index: no derivative"},
      {OpKind::Softmax, softmaxJvp, softmaxVjp},
      {OpKind::LogSoftmax, logSoftmaxJvp, logSoftmaxVjp},
  };
}

} // namespace chainjit::ir::rules
