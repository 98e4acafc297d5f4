// Collects the per-family derivative rules into one table indexed by OpKind,
// and the helpers that rules share for the leading direction axis.
#include "RuleFamilies.h"

#include <array>
#include <memory>

namespace chainjit::ir {

bool DerivativeRules::isDifferentiable(size_t operand, const TensorType &type) const {
  if (!isFloat(type.dtype))
    return false;
  if (differentiableOperands.empty())
    return true;
  return operand < differentiableOperands.size() && differentiableOperands[operand];
}

namespace {
struct RuleTable {
  std::array<std::unique_ptr<DerivativeRules>, kNumOpKinds> rules;

  RuleTable() {
    for (auto family : {rules::sourceRules, rules::elementwiseRules, rules::shapeRules,
                        rules::linalgRules, rules::reduceRules, rules::lossRules,
                        rules::nnRules, rules::indexRules, rules::sparseRules,
                        rules::controlRules})
      for (DerivativeRules &r : family()) {
        auto &slot = rules.at(static_cast<size_t>(r.kind));
        if (slot)
          throw Error("op '" + std::string(opName(r.kind)) +
                      "' has two entries in the derivative rule table");
        slot = std::make_unique<DerivativeRules>(std::move(r));
      }
    for (size_t i = 0; i < kNumOpKinds; ++i)
      if (!rules[i])
        throw Error("op '" + std::string(opName(static_cast<OpKind>(i))) +
                    "' has no entry in the derivative rule table");
  }
};
} // namespace

const DerivativeRules &derivativeRules(OpKind k) {
  static const RuleTable table;
  return *table.rules.at(static_cast<size_t>(k));
}

Shape directionShape(int64_t k, const Shape &s) {
  Shape r{k};
  r.insert(r.end(), s.begin(), s.end());
  return r;
}

Value identityMatrix(Graph &g, int64_t n, DType dtype) {
  std::vector<double> iota(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    iota[i] = double(i);
  Value idx = constant(g, Tensor(TensorType{DType::i32, {n}}, iota));
  return cast(equal(reshape(idx, {n, 1}), reshape(idx, {1, n})), dtype);
}

Value alignDirections(Value dirs, int64_t rank) {
  const Shape s = dirs.shape();
  int64_t have = static_cast<int64_t>(s.size()) - 1;
  if (have >= rank)
    return dirs;
  Shape t{s[0]};
  for (int64_t i = have; i < rank; ++i)
    t.push_back(1);
  t.insert(t.end(), s.begin() + 1, s.end());
  return reshape(dirs, t);
}

Value unbroadcastDirections(Value dirs, const Shape &shape) {
  const Shape s = dirs.shape();
  int64_t r = static_cast<int64_t>(s.size()) - 1; // primal rank of dirs
  int64_t lead = r - static_cast<int64_t>(shape.size());
  Ints axes;
  for (int64_t i = 0; i < r; ++i) {
    bool leading = i < lead;
    if (leading || (shape[i - lead] == 1 && s[i + 1] != 1))
      axes.push_back(i + 1);
  }
  Value v = axes.empty() ? dirs : sum(dirs, axes, /*keepdims=*/true);
  Shape target{s[0]};
  target.insert(target.end(), shape.begin(), shape.end());
  return v.shape() == target ? v : reshape(v, target);
}

Value repeatDirections(Value primal, int64_t k) {
  const Shape s = primal.shape(); // by value: begin and end of one copy
  Shape t{k};
  t.insert(t.end(), s.begin(), s.end());
  return broadcastTo(primal, t);
}

MaybeValue addMaybe(MaybeValue a, MaybeValue b) {
  if (!a)
    return b;
  if (!b)
    return a;
  return *a + *b;
}

Ints shiftAxes(const Ints &axes, int64_t rank) {
  Ints r;
  for (int64_t a : axes)
    r.push_back((a < 0 ? a + rank : a) + 1);
  return r;
}

namespace rules {

Value scalarLike(Value v, double c) { return scalar(v.graph(), c, v.dtype()); }

Value fitToResult(const RuleContext &ctx, Value dirs) {
  Shape s{ctx.directions};
  s.insert(s.end(), ctx.node.type.shape.begin(), ctx.node.type.shape.end());
  if (dirs.shape() == s)
    return dirs;
  return broadcastTo(alignDirections(dirs, ctx.node.type.rank()), s);
}

Value tangentOrZeros(const RuleContext &ctx, const MaybeValue &t, size_t operand) {
  if (t)
    return *t;
  const TensorType pt = ctx.operands.at(operand).type();
  Shape s{ctx.directions};
  s.insert(s.end(), pt.shape.begin(), pt.shape.end());
  return broadcastTo(scalar(ctx.g, 0.0, pt.dtype), s);
}

std::vector<DerivativeRules> sourceRules() {
  // Sources have no operands: their tangents are seeds, not rule outputs.
  return {{OpKind::Input}, {OpKind::Param}, {OpKind::Const}};
}

} // namespace rules
} // namespace chainjit::ir
