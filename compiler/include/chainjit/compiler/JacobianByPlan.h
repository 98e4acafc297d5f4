// The Jacobian graph of the optimal plan under planner options (a tape
// limit, the steps allowed): what jacobian(..., JacobianMode::Optimal) emits
// for the unconstrained plan, for any PlannerOptions. Outputs as jacobian():
// "<of>" and "jacobian.<of>.<wrt>".
#pragma once

#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/ir/Graph.h"

#include <string>

namespace chainjit::compiler {

ir::Graph plannedJacobian(const ir::Graph &f, const std::string &of, const std::string &wrt,
                          const PlannerOptions &opts, bool simplify = true);

} // namespace chainjit::compiler
