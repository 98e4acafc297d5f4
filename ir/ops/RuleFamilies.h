// Internal to ir/: the derivative rules of each op family.
#pragma once

#include "chainjit/ir/Derivatives.h"

#include <vector>

namespace chainjit::ir::rules {

std::vector<DerivativeRules> sourceRules();
std::vector<DerivativeRules> elementwiseRules();
std::vector<DerivativeRules> shapeRules();
std::vector<DerivativeRules> linalgRules();
std::vector<DerivativeRules> reduceRules();
std::vector<DerivativeRules> lossRules();
std::vector<DerivativeRules> nnRules();
std::vector<DerivativeRules> indexRules();
std::vector<DerivativeRules> sparseRules();
std::vector<DerivativeRules> controlRules();

using Wanted = std::span<const bool>;
using Tangents = std::span<const MaybeValue>;

// A scalar constant of v's dtype.
Value scalarLike(Value v, double c);
// A direction value broadcast to [k, ...result shape] if it is smaller.
Value fitToResult(const RuleContext &ctx, Value dirs);
// The tangent, or zeros of the right shape when it is symbolically zero.
Value tangentOrZeros(const RuleContext &ctx, const MaybeValue &t, size_t operand);

} // namespace chainjit::ir::rules
