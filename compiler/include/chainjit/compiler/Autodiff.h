// Symbolic differentiation: derivative graphs built from the per-op rules of
// ir/Derivatives.h. Each transform returns a new IR graph that computes the
// primal outputs and the requested derivative; it can be printed, verified,
// evaluated, and differentiated again.
#pragma once

#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Graph.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::compiler {

// --- sweeps: the building blocks the transforms and the chain planner use ---

// Copies every node of `src` into `out` (which must be empty of them) and
// returns the map from source ids to values of `out`.
std::vector<ir::NodeId> copyPrimal(const ir::Graph &src, ir::Graph &out);

// Tangents of every node of `src` that depends on a seeded node, in `out`.
// `primal` maps src ids to out ids; each seed has shape [k, ...node shape].
// Returns, per src node, its tangent (nullopt where it is zero). Nodes
// outside [first, last] (src ids) are not swept; use the defaults for all.
std::vector<ir::MaybeValue>
tangentSweep(const ir::Graph &src, ir::Graph &out, const std::vector<ir::NodeId> &primal,
             const std::map<ir::NodeId, ir::Value> &seeds, int64_t k);

// Adjoints of every node that a seeded node depends on (restricted to nodes
// marked in `relevant`, if given: typically those on a path from the wrt
// nodes). Each seed has shape [k, ...node shape].
std::vector<ir::MaybeValue>
adjointSweep(const ir::Graph &src, ir::Graph &out, const std::vector<ir::NodeId> &primal,
             const std::map<ir::NodeId, ir::Value> &seeds, int64_t k,
             const std::vector<bool> *relevant = nullptr);

// Nodes that depend on any of `from` (forward reachability, inclusive).
std::vector<bool> dependsOn(const ir::Graph &g, const std::vector<ir::NodeId> &from);
// Nodes that any of `to` depends on (backward reachability, inclusive).
std::vector<bool> dependedOnBy(const ir::Graph &g, const std::vector<ir::NodeId> &to);

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
