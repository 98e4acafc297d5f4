// Derivative rules: for every op, a tangent (JVP) rule and an adjoint (VJP)
// rule, written as IR-building code next to the op's family (ir/ops/*Rules.cpp)
// and collected by derivativeRules(kind), like the op definitions.
//
// Directions. A tangent or adjoint carries a leading direction axis: for a
// primal value of shape S, k directions have shape [k, ...S]. A rule handles
// all k at once, so k seeds cost one sweep over k columns rather than k graphs.
// Primal values broadcast against directions on their own (NumPy aligns at the
// right); where two primal shapes differ, alignDirections/unbroadcastDirections
// put the direction axis back in front.
//
// Closure. Rules emit only ops that have rules themselves, so derivative
// graphs can be differentiated again (Hessians, Hessian-vector products).
#pragma once

#include "chainjit/ir/Builder.h"

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace chainjit::ir {

// A tangent or adjoint that may be symbolically zero (nullopt).
using MaybeValue = std::optional<Value>;

struct RuleContext {
  Graph &g;                    // the derivative graph being built
  const Node &node;            // the primal node: kind, attrs, type
  std::vector<Value> operands; // the primal operands, as values of g
  Value result;                // the primal result, as a value of g
  int64_t directions;          // k, the size of the leading direction axis

  const Attrs &attrs() const { return node.attrs; }
};

// The tangent of the result from the operands' tangents; nullopt if zero.
using JvpRule = MaybeValue (*)(const RuleContext &ctx,
                               std::span<const MaybeValue> tangents);
// The adjoint contributions to the operands from the result's adjoint. Only
// operands with wanted[i] need an entry; others may be nullopt.
using VjpRule = std::vector<MaybeValue> (*)(const RuleContext &ctx, Value adjoint,
                                            std::span<const bool> wanted);

struct DerivativeRules {
  OpKind kind;
  JvpRule jvp = nullptr; // nullptr: no rule (the op must be rewritten first)
  VjpRule vjp = nullptr;
  // The operands a derivative can flow through; empty: every float operand.
  // Others (labels, counters, masks) are non-differentiable inputs.
  std::vector<bool> differentiableOperands;
  // Zero derivative wherever one exists (sign, comparisons, argmax...).
  bool piecewiseConstant = false;
  // The convention at points where the op is not differentiable, for docs.
  std::string_view convention;

  bool isDifferentiable(size_t operand, const TensorType &type) const;
};

// The rules of an op. Throws on first use if an op of ops.def has no entry
// (a programming error caught by every test).
const DerivativeRules &derivativeRules(OpKind k);

// --- helpers for writing rules and transforms ---

// [k, ...s]: the shape of k directions of a primal of shape s.
Shape directionShape(int64_t k, const Shape &s);
// The n x n identity of a dtype, built from an iota const (n values, not n^2).
Value identityMatrix(Graph &g, int64_t n, DType dtype);

// A direction value [k, ...s] reshaped to [k, 1, ..., 1, ...s] with
// 1 + rank dimensions, so that it broadcasts like a primal of rank `rank`.
Value alignDirections(Value dirs, int64_t rank);
// Sums a direction value [k, ...r] over the axes that a primal of shape
// `shape` was broadcast along, giving [k, ...shape].
Value unbroadcastDirections(Value dirs, const Shape &shape);
// A primal value broadcast to [k, ...its shape].
Value repeatDirections(Value primal, int64_t k);
// Sum of possibly-zero values; nullopt if all are zero.
MaybeValue addMaybe(MaybeValue a, MaybeValue b);
// Shifts axis attributes of a primal op by one for the direction axis.
Ints shiftAxes(const Ints &axes, int64_t rank);

} // namespace chainjit::ir
