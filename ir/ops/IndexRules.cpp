// Derivative rules of the indexing ops. gather and scatter_add are linear in
// their float operand and each other's transpose:
//   gather:      dY = gather(dX, idx),            dX = scatter_add(dY, idx, size = X's axis)
//   scatter_add: dY = scatter_add(dU, idx, size), dU = gather(dY, idx)
// with the axis shifted by one for the leading direction axis. The i32
// indices are not differentiable; iota (no operands) and one_hot (i32
// operand, a 0/1 result) have zero derivatives.
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

namespace {

// The op's axis, non-negative, in a primal of rank `rank`, plus one for the
// direction axis.
int64_t directionAxis(const RuleContext &c, int64_t rank) {
  int64_t a = c.attrs().getInt("axis");
  return (a < 0 ? a + rank : a) + 1;
}

Value indices(const RuleContext &c) { return c.operands[1]; }

int64_t gatherAxis(const RuleContext &c) { return directionAxis(c, c.operands[0].type().rank()); }

MaybeValue gatherJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return gather(*t[0], indices(c), gatherAxis(c));
}
std::vector<MaybeValue> gatherVjp(const RuleContext &c, Value adj, Wanted) {
  int64_t axis = gatherAxis(c);
  return {scatterAdd(adj, indices(c), c.operands[0].shape()[axis - 1], axis), std::nullopt};
}

int64_t scatterAxis(const RuleContext &c) { return directionAxis(c, c.node.type.rank()); }

MaybeValue scatterAddJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return scatterAdd(*t[0], indices(c), c.attrs().getInt("size"), scatterAxis(c));
}
std::vector<MaybeValue> scatterAddVjp(const RuleContext &c, Value adj, Wanted) {
  return {gather(adj, indices(c), scatterAxis(c)), std::nullopt};
}

MaybeValue zeroJvp(const RuleContext &, Tangents) { return std::nullopt; }
std::vector<MaybeValue> zeroVjp(const RuleContext &c, Value, Wanted) {
  return std::vector<MaybeValue>(c.operands.size());
}

} // namespace

std::vector<DerivativeRules> indexRules() {
  return {
      {OpKind::Gather, gatherJvp, gatherVjp, {true, false}, false,
       "no derivative flows into the i32 indices"},
      {OpKind::ScatterAdd, scatterAddJvp, scatterAddVjp, {true, false}, false,
       "no derivative flows into the i32 indices"},
      {OpKind::Iota, zeroJvp, zeroVjp, {}, true, "no operands: a constant"},
      {OpKind::OneHot, zeroJvp, zeroVjp, {false}, true, "an i32 operand: no derivative"},
  };
}

} // namespace chainjit::ir::rules
