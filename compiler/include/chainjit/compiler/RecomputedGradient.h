// Gradients within a memory limit: the forward pass is cut into a chain of
// segments that can be restarted from one value (checkpointable positions),
// the recomputation tables (Recomputation.h) choose which segment outputs
// to keep and which segments to run again, and the emitted gradient graph
// does exactly that: values of segments the schedule does not tape on the
// first forward pass are dropped (nothing in the backward part reads them,
// so the JIT's liveness-based arena frees them), and each segment is run
// again, as new nodes named "recompute.N", from the nearest kept value just
// before the backward sweep needs its tape (docs/cost-model.md,
// "Recomputation in the emitted graph").
#pragma once

#include "chainjit/compiler/JacobianChain.h"
#include "chainjit/compiler/Recomputation.h"
#include "chainjit/ir/Graph.h"

#include <string>
#include <vector>

namespace chainjit::compiler {

// The forward pass from the wrt values to a scalar `of` as a chain. A
// segment ends at a cut: a value that, with the values that do not depend
// on the wrt values (inputs, params, consts and what is computed from them
// alone), is all that later nodes read of the earlier ones. Factor l's
// fields: forwardCost f (FMA of one run), tapeBytes e (the forward values its
// adjoint reads: its own nodes and its input), inputBytes x (the cut before
// it; 0 for the first segment, whose inputs are always at hand).
struct RecomputationChain {
  JacobianChain chain;
  std::vector<ir::NodeId> cuts;                  // cuts.back() == of
  std::vector<std::vector<ir::NodeId>> segments; // the nodes of each, in order
  // Bytes of forward values live besides checkpoints and tapes while one
  // segment runs (the most over segments and their nodes: a node's result
  // and the values of its segment that it or a later node reads), plus
  // values computed from the side alone that segments read (a dropout mask).
  double workingBytes = 0;
};
RecomputationChain recomputationChain(const ir::Graph &f, ir::NodeId of,
                                      const std::vector<ir::NodeId> &wrt);

struct RecomputedGradient {
  ir::Graph graph;  // as grad(): outputs of f, `of`, grad.<wrt>
  RecomputationChain chain;
  double tapeLimit = 0;                 // the limit the schedule was planned for
  std::vector<ReversalAction> actions;  // the schedule the graph follows
  std::vector<int> runs;                // per segment: forward runs (1: none again)
  int recomputedNodes = 0;              // nodes named recompute.N
  double recomputeCost = 0;             // FMA of the runs beyond the first
  double peakBytes = 0;                 // checkpoints and tapes the schedule holds
};

// The gradient of scalar `of` with respect to `wrt` whose forward values
// (checkpoints, tapes and the working values of one segment) take at most
// `memoryLimit` bytes: the schedule is planned for memoryLimit minus the
// working bytes. Throws chainjit::Error when the limit is below what one
// segment needs. `simplify` folds constants and algebraic identities (not
// common subexpressions, which would merge recomputed nodes into the
// originals); false keeps the graph as emitted, for tests that count.
RecomputedGradient gradWithMemoryLimit(const ir::Graph &f, const std::string &of,
                                       const std::vector<std::string> &wrt, double memoryLimit,
                                       bool simplify = true);

// The JIT's measured peak of forward values in an emitted gradient
// (gradWithMemoryLimit with simplify = false, whose first `primalSize` nodes
// are f's): the most bytes that arena buffers of f's values and of
// recompute.N nodes hold at one kernel position of the liveness plan.
int64_t jitForwardValuePeak(const ir::Graph &emitted, size_t primalSize);

// The JIT's arena during an emitted gradient's backward part (from the
// first kernel of an adjoint node, one neither f's nor a recompute.N, to the
// end), from the liveness plan the JIT compiles. The memory limit covers
// the forward values (checkpoints, tapes, a segment's working values):
// `forwardValues` is their most bytes live at one position of that part.
// The adjoint values (the running adjoint, the parameters' gradients, which
// are results and so live to the end) are not in the limit; `arena` is
// every buffer's most at one position of that part, `results` what is live
// at the end (results written by a kernel straight into the caller's
// buffers, the gradients among them, hold no arena bytes).
struct DerivativeArena {
  int backwardStart = 0; // kernel position
  int kernels = 0;
  int64_t forwardValues = 0;
  int64_t arena = 0;
  int64_t results = 0;
  int64_t arenaBytes = 0; // the arena the JIT allocates (alignment, fragmentation)
};
DerivativeArena jitDerivativeArena(const ir::Graph &emitted, size_t primalSize);

} // namespace chainjit::compiler
