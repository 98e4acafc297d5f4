// The time-memory trade-off of a chain: the optimal plan (with
// recomputation, Recomputation.h) at memory limits from the full tape of one
// adjoint sweep down to the smallest memory, as a table and an SVG plot.
#pragma once

#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/RecomputedGradient.h"

#include <string>
#include <vector>

namespace chainjit::compiler {

struct MemorySweepPoint {
  double limit = 0;   // bytes
  BracketingPlan plan; // the optimum within `limit`, recomputation included
};

// Limits: the full tape of one adjoint sweep (sum of e), halved while it
// stays above the largest single tape, then that tape (the least memory
// that still lets an adjoint sweep through every factor), then 0.
std::vector<MemorySweepPoint> memorySweep(const JacobianChain &chain);

std::string memorySweepText(const JacobianChain &chain,
                            const std::vector<MemorySweepPoint> &points);
// A line plot of cost (FMA) against the memory limit, hand-written SVG.
std::string memorySweepSvg(const std::vector<MemorySweepPoint> &points);

// The trade-off of a model's gradient in the bytes that `train
// --memory-limit` and gradWithMemoryLimit count: the forward values of the
// recomputed gradient (its chain of checkpointable segments, RecomputedGradient.h),
// checkpoints and tapes plus one segment's working values. Each point is
// planned as gradWithMemoryLimit plans it (one adjoint sweep, the same
// tables), so every limit listed is one train accepts. Limits: the whole
// tape plus the working bytes, halved while feasible, then the least
// feasible limit (found by bisection over whole bytes).
struct GradientSweepPoint {
  double limit = 0;         // bytes, as train's --memory-limit
  double recomputeCost = 0; // FMA of forward runs beyond the first
  double peakBytes = 0;     // checkpoints and tapes held at once, plus the working bytes
  int checkpoints = 0;
};
struct GradientSweep {
  RecomputationChain chain;
  double forwardCost = 0; // one forward pass (FMA)
  std::vector<GradientSweepPoint> points;
};
GradientSweep gradientMemorySweep(const ir::Graph &f, ir::NodeId of,
                                  const std::vector<ir::NodeId> &wrt);
std::string gradientSweepText(const GradientSweep &sweep);
// The same plot as memorySweepSvg: forward cost (one pass plus the
// recomputation) against train's memory limit.
std::string gradientSweepSvg(const GradientSweep &sweep);

} // namespace chainjit::compiler
