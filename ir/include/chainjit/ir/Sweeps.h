// Tangent and adjoint sweeps: a whole graph differentiated by applying the
// per-op rules of Derivatives.h node by node. The transforms of compiler/
// (jvp, vjp, grad, jacobian) and scan's own rules (which differentiate the
// scan's body) are built on them.
#pragma once

#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Graph.h"

#include <map>
#include <vector>

namespace chainjit::ir {

// Copies every node of `src` into `out` (which must be empty of them), and
// src's function table, and returns the map from source ids to ids of `out`.
std::vector<NodeId> copyPrimal(const Graph &src, Graph &out);

// Tangents of every node of `src` that depends on a seeded node, in `out`.
// `primal` maps src ids to out ids; each seed has shape [k, ...node shape].
// Returns, per src node, its tangent (nullopt where it is zero).
std::vector<MaybeValue> tangentSweep(const Graph &src, Graph &out,
                                     const std::vector<NodeId> &primal,
                                     const std::map<NodeId, Value> &seeds, int64_t k);

// Adjoints of every node that a seeded node depends on (restricted to nodes
// marked in `relevant`, if given: typically those on a path from the wrt
// nodes). Each seed has shape [k, ...node shape].
std::vector<MaybeValue> adjointSweep(const Graph &src, Graph &out,
                                     const std::vector<NodeId> &primal,
                                     const std::map<NodeId, Value> &seeds, int64_t k,
                                     const std::vector<bool> *relevant = nullptr);

// Nodes that depend on any of `from` (forward reachability, inclusive).
std::vector<bool> dependsOn(const Graph &g, const std::vector<NodeId> &from);
// Nodes that any of `to` depends on (backward reachability, inclusive).
std::vector<bool> dependedOnBy(const Graph &g, const std::vector<NodeId> &to);

} // namespace chainjit::ir
