// Recurrences in the Jacobian chain (docs/cost-model.md, "Recurrences"): a
// scan of T steps is one compact factor standing for its T identical step
// factors (ChainFactor::steps, ChainFactor::step), and a plan sweeps each
// such factor either forward in time (a tangent scan: RTRL-style forward
// accumulation) or backward in time (an adjoint scan: BPTT).
#pragma once

#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/ir/Graph.h"

#include <vector>

namespace chainjit::compiler {

// What a scan node contributes to the chain, given which of its operands
// are active (carry a derivative): its length T, one step's description
// (costs from OpCosts.cpp's per-op entries of the body), and whether its
// whole Jacobian from the one active operand to its result is diagonal (an
// element-wise recurrence such as h_t = tanh(a * h_(t-1) + x_t) seen from
// h_0 or from a parameter `a` of the state's shape); or block-diagonal, one
// block per row of a batch of sequences whose rows never meet (state
// [B, ...] seen from h_0, the step row-local: fixed weights, element-wise
// ops, softmax or sums within a row).
struct ScanSteps {
  int64_t length = 0;
  ChainFactor::Step step;
  bool diagonal = false;
  int64_t blocks = 1; // > 1: block-diagonal with this many blocks
};
ScanSteps scanSteps(const ir::Graph &g, ir::NodeId scan, const std::vector<bool> &activeOperands);

// How a plan sweeps one recurrence factor: each factor lies in exactly one
// sweep of the plan (a leaf, the range of a TAN step or of an ADJ step).
enum class TimeDirection : uint8_t { Forward, Backward };
struct TimeSweep {
  int factor = 0;            // index of the recurrence factor in the chain
  TimeDirection direction = TimeDirection::Forward;
  int64_t directions = 0;    // tangent directions (forward) or adjoint rows (backward)
  double tapeBytes = 0;      // what the sweep stores through time (BPTT's tape; 0 forward)
};
// One entry per factor with steps > 1, in chain order.
std::vector<TimeSweep> timeSweeps(const JacobianChain &chain, const BracketingPlan &plan);

} // namespace chainjit::compiler
