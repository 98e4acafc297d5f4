// Internal to compiler/: emitting a Jacobian by a bracketing plan.
#pragma once

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/Recomputation.h"
#include "chainjit/ir/Builder.h"

namespace chainjit::compiler {

// The dense Jacobian [m_q, n_1] of the chain, computed in `out` (which holds
// the primal graph of `src` at ids `primal`) exactly as `plan` brackets it.
// With `recompute` (the table the plan was made with, given when the
// chain's tape exceeds the limit), each adjoint sweep over a range with tape
// follows its schedule: the runs after a segment's first in the graph are
// new nodes named "recompute.N" (the graph must then be simplified without
// merging common subexpressions).
ir::Value emitPlannedJacobian(const ir::Graph &src, ir::Graph &out,
                              const std::vector<ir::NodeId> &primal, const GraphChain &gc,
                              const BracketingPlan &plan,
                              const ReversalTable *recompute = nullptr);

} // namespace chainjit::compiler
