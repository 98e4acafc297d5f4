// Internal to compiler/: emitting a Jacobian by a bracketing plan.
#pragma once

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/ir/Builder.h"

namespace chainjit::compiler {

// The dense Jacobian [m_q, n_1] of the chain, computed in `out` (which holds
// the primal graph of `src` at ids `primal`) exactly as `plan` brackets it.
ir::Value emitPlannedJacobian(const ir::Graph &src, ir::Graph &out,
                              const std::vector<ir::NodeId> &primal, const GraphChain &gc,
                              const BracketingPlan &plan);

} // namespace chainjit::compiler
