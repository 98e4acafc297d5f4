// The memory sweep of a model's gradient (MemorySweep.h) in train's bytes:
// each limit is planned exactly as gradWithMemoryLimit plans it.
#include "chainjit/compiler/CostReport.h"
#include "chainjit/compiler/MemorySweep.h"
#include "chainjit/compiler/Recomputation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace chainjit::compiler {

namespace {

// The schedule gradWithMemoryLimit emits for `tapeLimit` bytes of
// checkpoints and tapes: the whole tape when it fits, else the tables'.
std::optional<ReversalSchedule> planned(const JacobianChain &chain, double tapeLimit) {
  double full = 0, largest = 0;
  for (const ChainFactor &f : chain.factors) {
    full += f.tapeBytes;
    largest = std::max(largest, f.tapeBytes);
  }
  if (chain.factors.empty() || tapeLimit < largest)
    return std::nullopt;
  const int q = static_cast<int>(chain.size());
  if (full <= tapeLimit) {
    ReversalSchedule s;
    s.peakBytes = full;
    s.forwardRuns = q;
    for (const ChainFactor &f : chain.factors)
      s.forwardCost += f.forwardCost;
    return s;
  }
  ReversalTable table(chain, tapeLimit);
  if (table.sweepForwardCost(0, q - 1) == std::numeric_limits<double>::infinity())
    return std::nullopt;
  return table.sweepSchedule(0, q - 1);
}

} // namespace

GradientSweep gradientMemorySweep(const ir::Graph &f, ir::NodeId of,
                                  const std::vector<ir::NodeId> &wrt) {
  GradientSweep sweep;
  sweep.chain = recomputationChain(f, of, wrt);
  const JacobianChain &chain = sweep.chain.chain;
  const double working = sweep.chain.workingBytes;
  double full = 0;
  for (const ChainFactor &fc : chain.factors) {
    full += fc.tapeBytes;
    sweep.forwardCost += fc.forwardCost;
  }
  auto add = [&](double tapeLimit, const ReversalSchedule &s) {
    sweep.points.push_back({tapeLimit + working, s.forwardCost - sweep.forwardCost,
                            s.peakBytes + working, s.checkpoints});
  };
  std::optional<ReversalSchedule> s = planned(chain, full);
  if (!s)
    return sweep; // no segment: nothing to plan
  add(full, *s);
  // The least feasible tape limit, by bisection over whole bytes (`hi`
  // always feasible), then the halvings above it.
  double lo = 0, hi = full;
  while (hi - lo > 1) {
    double mid = std::floor((lo + hi) / 2);
    (planned(chain, mid) ? hi : lo) = mid;
  }
  for (double m = std::floor(full / 2); m > hi && sweep.points.size() < 40; m = std::floor(m / 2))
    if (std::optional<ReversalSchedule> at = planned(chain, m))
      add(m, *at);
  if (hi < full)
    add(hi, *planned(chain, hi));
  return sweep;
}

std::string gradientSweepText(const GradientSweep &sweep) {
  std::string out = fmt::format(
      "  {:>14} {:>14} {:>14} {:>14} {:>12}\n", "limit (bytes)", "recompute", "/ forward",
      "peak (bytes)", "checkpoints");
  for (const GradientSweepPoint &p : sweep.points)
    out += fmt::format("  {:>14} {:>14} {:>14} {:>14} {:>12}\n", formatCount(p.limit),
                       formatCount(p.recomputeCost),
                       sweep.forwardCost > 0
                           ? fmt::format("{:.3f}", p.recomputeCost / sweep.forwardCost)
                           : "0",
                       formatCount(p.peakBytes), p.checkpoints);
  return out;
}

std::string gradientSweepSvg(const GradientSweep &sweep) {
  std::vector<MemorySweepPoint> points;
  for (const GradientSweepPoint &p : sweep.points) {
    MemorySweepPoint m;
    m.limit = p.limit;
    m.plan.cost = sweep.forwardCost + p.recomputeCost;
    points.push_back(m);
  }
  return memorySweepSvg(points);
}

} // namespace chainjit::compiler
