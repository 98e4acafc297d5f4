// The planning half of scan's lowering. A scan becomes one loop over its T
// steps that calls the body's own function (planned and built like any
// graph: its own LoweringPlan, its own internal LLVM function with the
// entry's ABI), so the code does not grow with T:
//
//   scratch = [ body arena | carries A | carries B ]   (one arena buffer)
//   copy the initial carries into A
//   for s in 0..T-1:  t = reverse ? T-1-s : s
//     body(carries in = s odd ? B : A, sequence slices at t, invariants,
//          carries out = s odd ? A : B, ys at step t of the stacked result)
//   copy the final carries (T odd ? B : A) to the front of the result
//
// Node ids in the failed-node slot are numbered over the whole module
// (flatNodes), so a run-time error inside a body (an index out of range)
// names the body's node, as the interpreter does.
#pragma once

#include "LoweringPlan.h"

#include "chainjit/ir/Scan.h"

#include <string>
#include <vector>

namespace chainjit::compiler::jit {

struct ScanBody {
  std::string function;        // the body function's name, for symbols and listings
  const ir::Graph *graph;      // its body graph (in the planned graph's table)
  ir::ScanLayout layout;
  LoweringPlan plan;           // the body's own plan, nodeBase set
  int64_t arenaBytes = 0;      // scratch offset of carries A (the body arena, aligned)
  std::vector<int64_t> carryA, carryB; // scratch offsets of each carry's two buffers
  int64_t scratchBytes = 0;
};

// The body of scan node `id` of g, planned with the module-wide number
// `nodeBase` for the body's node 0.
ScanBody planScanBody(const ir::Graph &g, ir::NodeId id, const JitOptions &options,
                      int64_t nodeBase);

// One node of the module-wide numbering: g's nodes first, then, for each
// scan node of g in order, its body's flat numbering (recursively).
struct FlatNode {
  const ir::Graph *graph;
  ir::NodeId id;
};
std::vector<FlatNode> flatNodes(const ir::Graph &g);
int64_t flatNodeCount(const ir::Graph &g);

// The body graph of scan node `id` (throws chainjit::Error naming the node
// if the body is not in g's table).
const ir::Graph &scanBodyGraph(const ir::Graph &g, ir::NodeId id);

} // namespace chainjit::compiler::jit
