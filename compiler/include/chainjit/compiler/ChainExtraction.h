// From a graph to a Jacobian chain: cut the part of the graph between the
// wrt values and the output at the vertices every path passes through (the
// dominators of the output, found with Boost.Graph's Lengauer-Tarjan), and
// describe each segment by its sizes, costs, tape and structure.
#pragma once

#include "chainjit/compiler/JacobianChain.h"
#include "chainjit/ir/Graph.h"

#include <string>
#include <vector>

namespace chainjit::compiler {

struct GraphChain {
  JacobianChain chain;            // factor l maps cuts[l-1] (or wrt) to cuts[l]
  std::vector<ir::NodeId> wrt;    // the chain's input values, concatenated
  std::vector<ir::NodeId> cuts;   // cut vertices in order; cuts.back() is `of`
  // The nodes of each segment (those the segment's sweeps go through).
  std::vector<std::vector<ir::NodeId>> segments;
};

// Throws chainjit::Error if a name is unknown, a value is not a float, or
// `of` does not depend on the wrt values.
GraphChain extractChain(const ir::Graph &g, ir::NodeId of, const std::vector<ir::NodeId> &wrt);
GraphChain extractChain(const ir::Graph &g, const std::string &of,
                        const std::vector<std::string> &wrt);

// Per-direction cost, in fused multiply-adds, of one op's tangent and
// adjoint sweep; the bytes its adjoint needs from the forward pass; and the
// structure of its Jacobian with respect to one active operand. Defined once
// per op (compiler/src/chain/OpCosts.cpp), for every op.
struct OpCost {
  double tangent = 0;
  double adjoint = 0;
  double tapeBytes = 0;
  JacobianStructure structure = JacobianStructure::Dense;
};
OpCost opCost(const ir::Graph &g, ir::NodeId id, const std::vector<bool> &activeOperands);

} // namespace chainjit::compiler
