// What each step of a bracketing plan costs under a time model
// (TimeModel.h): multiply-adds, bytes, kernel calls and predicted seconds,
// per node and in total. The chain DP's time objective uses the same rules
// (compiler/src/chain/ChainTimeCosts.h), so the optimum's predicted time is
// what this evaluation of its plan gives.
#pragma once

#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/TimeModel.h"

#include <vector>

namespace chainjit::compiler {

// Directions of a leaf sweep through f seeded with the identity: n (tangent)
// or m (adjoint) for a dense factor, one seed of ones for a diagonal, n/B or
// m/B compressed seeds for B blocks, none for an identity or permutation.
double leafDirections(const ChainFactor &f, bool tangent);

// The structure (and block count) of the product F'_last ... F'_first.
JacobianStructure rangeStructure(const JacobianChain &chain, int first, int last,
                                 int64_t *blocks = nullptr);

// Each node's own cost (not its subtree's), in the plan's node order.
std::vector<StepCost> planStepCosts(const JacobianChain &chain, const BracketingPlan &plan,
                                    const TimeModel &model);
// The sum over the plan's nodes.
StepCost planTotalCost(const JacobianChain &chain, const BracketingPlan &plan,
                       const TimeModel &model);
// Sets plan.seconds and every node's `seconds` (its subtree's) from the model.
void annotatePlanTime(const JacobianChain &chain, BracketingPlan &plan, const TimeModel &model);

} // namespace chainjit::compiler
