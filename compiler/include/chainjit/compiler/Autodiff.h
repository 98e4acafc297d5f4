// Symbolic differentiation: derivative graphs built from the per-op rules of
// ir/Derivatives.h. Each transform returns a new IR graph that computes the
// primal outputs and the requested derivative; it can be printed, verified,
// evaluated, and differentiated again.
#pragma once

#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Sweeps.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::compiler {

// --- sweeps: the building blocks the transforms and the chain planner use
// (in ir/, where scan's derivative rules use them too; see ir/Sweeps.h) ---
using ir::adjointSweep;
using ir::copyPrimal;
using ir::dependedOnBy;
using ir::dependsOn;
using ir::tangentSweep;

// --- transforms ---

// Names of the values a transform adds, so callers and tests find them:
//   jvp:      inputs "tangent.<wrt>" [k, ...], outputs "<of>" and "tangent.<of>"
//   vjp:      inputs "adjoint.<of>" [k, ...], outputs "<of>" and "adjoint.<wrt>"
//   grad:     outputs "<of>" and "grad.<wrt>" (the shape of wrt)
//   jacobian: outputs "<of>" and "jacobian.<of>.<wrt>" [...of shape, ...wrt shape]
//   hessian:  outputs "<of>", "grad.<wrt>", "hessian.<wrt>" [...wrt, ...wrt]
//   hvp:      inputs "direction.<wrt>", outputs "<of>", "grad.<wrt>", "hvp.<wrt>"
// `of` names a value; `wrt` names inputs or params (or any values).
ir::Graph jvp(const ir::Graph &f, const std::string &of, const std::vector<std::string> &wrt,
              int64_t directions = 1);
ir::Graph vjp(const ir::Graph &f, const std::string &of, const std::vector<std::string> &wrt,
              int64_t directions = 1);
// `simplify = false` (here and for jacobian) keeps the graph as emitted.
ir::Graph grad(const ir::Graph &f, const std::string &of, const std::vector<std::string> &wrt,
               bool simplify = true);

enum class JacobianMode { Forward, Reverse, Optimal };
// `simplify = false` keeps the graph exactly as emitted (for tests that
// count the sweeps and products of a plan).
ir::Graph jacobian(const ir::Graph &f, const std::string &of, const std::string &wrt,
                   JacobianMode mode = JacobianMode::Optimal, bool simplify = true);
ir::Graph hessian(const ir::Graph &f, const std::string &of, const std::string &wrt,
                  JacobianMode mode = JacobianMode::Optimal);
ir::Graph hvp(const ir::Graph &f, const std::string &of, const std::vector<std::string> &wrt);

} // namespace chainjit::compiler
