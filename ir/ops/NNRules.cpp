// Derivative rules of the layers. bernoulli masks are constant; dropout and
// batch_norm have no rules of their own: their train and eval expansions
// (passes expand-train / expand-eval) are differentiated instead.
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

namespace {

using Wanted = std::span<const bool>;
using Tangents = std::span<const MaybeValue>;

MaybeValue noJvp(const RuleContext &, Tangents) { return std::nullopt; }
std::vector<MaybeValue> noVjp(const RuleContext &, Value, Wanted) { return {std::nullopt}; }

} // namespace

std::vector<DerivativeRules> nnRules() {
  return {
      // Rules for conv2d and the pools come with the unfold/fold ops.
      {OpKind::Conv2d},
      {OpKind::MaxPool2d},
      {OpKind::AvgPool2d},
      {OpKind::Bernoulli, noJvp, noVjp, {false}, true, "a random mask: no derivative"},
      {OpKind::Dropout, nullptr, nullptr, {true, false}, false,
       "expanded by mode before differentiation"},
      {OpKind::BatchNorm, nullptr, nullptr, {}, false,
       "expanded by mode before differentiation"},
  };
}

} // namespace chainjit::ir::rules
