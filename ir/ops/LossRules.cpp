// Derivative rules of the losses. Each loss is a scalar, so its k directions
// are a [k] vector; the gradient of the loss is formed once and scaled.
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

namespace {

// <dirs, G> over the primal axes: [k, ...S] x [...S] -> [k].
Value contract(Value dirs, Value g) {
  Ints axes;
  for (int64_t i = 1; i < dirs.type().rank(); ++i)
    axes.push_back(i);
  Value p = dirs * g;
  return axes.empty() ? p : sum(p, axes);
}

// A [k] direction of a scalar times a primal gradient G: [k, ...G shape].
Value scale(Value adj, Value g) { return alignDirections(adj, g.type().rank()) * g; }

bool hasLabels(const RuleContext &c) { return c.operands[1].dtype() == DType::i32; }

// d loss / d logits = (softmax(z) * rowsum(t) - t) / N, with t the one-hot
// labels or the probability targets.
Value logitsGradient(const RuleContext &c) {
  Value z = c.operands[0];
  int64_t n = z.shape()[0], classes = z.shape()[1];
  Value p = softmax(z, 1);
  Value g = [&] {
    if (hasLabels(c)) {
      std::vector<double> iota(static_cast<size_t>(classes));
      for (int64_t i = 0; i < classes; ++i)
        iota[i] = double(i);
      Value cls = constant(c.g, Tensor(TensorType{DType::i32, {1, classes}}, iota));
      Value onehot = cast(equal(reshape(c.operands[1], {n, 1}), cls), z.dtype());
      return p - onehot;
    }
    Value t = c.operands[1];
    return p * sum(t, {1}, true) - t;
  }();
  return g / double(n);
}

// d loss / d targets = -log_softmax(z) / N (probability targets only).
Value targetGradient(const RuleContext &c) {
  Value z = c.operands[0];
  return -logSoftmax(z, 1) / double(z.shape()[0]);
}

MaybeValue crossEntropyJvp(const RuleContext &c, Tangents t) {
  MaybeValue r;
  if (t[0])
    r = contract(*t[0], logitsGradient(c));
  if (t.size() > 1 && t[1] && !hasLabels(c))
    r = addMaybe(r, contract(*t[1], targetGradient(c)));
  return r;
}
std::vector<MaybeValue> crossEntropyVjp(const RuleContext &c, Value adj, Wanted w) {
  std::vector<MaybeValue> r(2);
  if (w[0])
    r[0] = scale(adj, logitsGradient(c));
  if (w[1] && !hasLabels(c))
    r[1] = scale(adj, targetGradient(c));
  return r;
}

// mse = mean((a - b)^2): d/da = 2 (a - b) / count, d/db = -d/da.
Value mseGradient(const RuleContext &c) {
  return (c.operands[0] - c.operands[1]) * (2.0 / double(c.operands[0].type().numel()));
}
MaybeValue mseJvp(const RuleContext &c, Tangents t) {
  MaybeValue r;
  if (t[0])
    r = contract(*t[0], mseGradient(c));
  if (t[1])
    r = addMaybe(r, contract(-*t[1], mseGradient(c)));
  return r;
}
std::vector<MaybeValue> mseVjp(const RuleContext &c, Value adj, Wanted w) {
  Value g = scale(adj, mseGradient(c));
  std::vector<MaybeValue> r(2);
  if (w[0])
    r[0] = g;
  if (w[1])
    r[1] = -g;
  return r;
}

} // namespace

std::vector<DerivativeRules> lossRules() {
  return {
      {OpKind::CrossEntropy, crossEntropyJvp, crossEntropyVjp, {}, false,
       "no derivative flows into i32 labels"},
      {OpKind::Mse, mseJvp, mseVjp},
  };
}

} // namespace chainjit::ir::rules
