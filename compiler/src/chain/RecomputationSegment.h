// Internal to compiler/: one segment of a recomputation chain as a graph of
// its own, so that its adjoint stops at its boundary. Every value the
// segment reads from outside (the cut before it, params, inputs, values
// computed from them alone) is an input of the segment graph; a sweep then
// gives those inputs their adjoint contributions without going through the
// ops that made them.
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Derivatives.h"

#include <utility>
#include <vector>

namespace chainjit::compiler {

struct SegmentGraph {
  ir::Graph graph;
  std::vector<ir::NodeId> source; // per node of graph: the node of f it stands for
};
SegmentGraph segmentGraph(const ir::Graph &f, const std::vector<ir::NodeId> &segment);

// The adjoint of the segment's last node `seed` ([r, ...shape] for r
// `directions`, rows pulled back at once) pulled back through it, emitted
// into `out`, which holds f's values at valueOf[id].
// Returns the contributions to the outside values marked in `wanted` (f ids)
// and the adjoints of the segment's own nodes marked there (a wrt value
// inside the segment; its last node's is `seed`).
std::vector<std::pair<ir::NodeId, ir::Value>>
segmentAdjoint(const SegmentGraph &s, ir::Graph &out, const std::vector<ir::NodeId> &valueOf,
               ir::Value seed, const std::vector<bool> &wanted, int64_t directions = 1);

} // namespace chainjit::compiler
