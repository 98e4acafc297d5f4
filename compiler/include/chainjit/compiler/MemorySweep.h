// The time-memory trade-off of a chain: the optimal plan (with
// recomputation, Recomputation.h) at memory limits from the full tape of one
// adjoint sweep down to the smallest memory, as a table and an SVG plot.
#pragma once

#include "chainjit/compiler/ChainPlanner.h"

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

} // namespace chainjit::compiler
