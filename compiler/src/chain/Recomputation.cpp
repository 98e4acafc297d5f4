// The checkpointing tables R and L of Recomputation.h, filled by range
// length; a schedule is recovered from the same candidate functions.
#include "chainjit/compiler/Recomputation.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace chainjit::compiler {

static constexpr double kInf = std::numeric_limits<double>::infinity();

namespace {
bool integral(double v) { return v == std::floor(v); }
} // namespace

ReversalTable::ReversalTable(const JacobianChain &chain, double limit, size_t maxCells)
    : c_(chain), q_(static_cast<int>(chain.size())) {
  if (!(limit >= 0) || !std::isfinite(limit))
    throw Error("the memory limit must be a finite non-negative number of bytes");
  const size_t ranges = size_t(q_) * (q_ + 1) / 2;
  const double maxUnits = std::max<double>(1.0, double(maxCells / std::max<size_t>(ranges, 1)) - 1);
  // Exact units: the greatest common divisor of the integer sizes (layers of
  // equal width make it large and the tables small).
  bool integers = true;
  int64_t g = 0;
  for (const ChainFactor &f : chain.factors) {
    integers = integers && integral(f.tapeBytes) && integral(f.inputBytes) &&
               f.tapeBytes < 1e15 && f.inputBytes < 1e15;
    if (integers)
      g = std::gcd(std::gcd(g, int64_t(f.tapeBytes)), int64_t(f.inputBytes));
  }
  if (integers && g == 0)
    g = 1;
  if (integers && std::floor(limit / double(g)) <= maxUnits) {
    unit_ = double(g);
    U_ = static_cast<int>(std::floor(limit / double(g)));
  } else {
    U_ = static_cast<int>(maxUnits);
    unit_ = limit > 0 ? limit / U_ : 1;
  }
  // Sizes in units, rounded up (a plan in units then fits in true bytes);
  // a size beyond the limit can never be held.
  auto units = [&](double bytes) {
    double k = std::ceil(bytes / unit_ - 1e-9);
    return k > U_ ? U_ + 1 : static_cast<int>(std::max(0.0, k));
  };
  F_.assign(q_ + 1, 0);
  for (int l = 0; l < q_; ++l) {
    const ChainFactor &f = chain.factors[l];
    e_.push_back(units(f.tapeBytes));
    x_.push_back(units(f.inputBytes));
    F_[l + 1] = F_[l] + f.forwardCost;
  }
  R_.assign(ranges * (U_ + 1), kInf);
  L_.assign(ranges * (U_ + 1), kInf);
  for (int len = 1; len <= q_; ++len)
    for (int a = 0; a + len - 1 < q_; ++a) {
      int b = a + len - 1;
      for (int u = 0; u <= U_; ++u) {
        double best = tapeCandidate(true, a, b, u);
        // Advance to v_(c-1), reverse c..b from it, then a..c-1 from v_(a-1).
        for (int c = a + 1; c <= b; ++c)
          best = std::min(best, fwd(a, c) + L_[at(c, b, u)] + R_[at(a, c - 1, u)]);
        R_[at(a, b, u)] = best;
      }
      for (int u = 0; u <= U_; ++u) {
        double best = tapeCandidate(false, a, b, u);
        if (x_[a] <= u)
          best = std::min(best, R_[at(a, b, u - x_[a])]);
        L_[at(a, b, u)] = best;
      }
    }
}

// Tape F_a and reverse the rest from v_a in hand, then pull back through
// F_a. A kept input is not needed again: its bytes are free from here on.
double ReversalTable::tapeCandidate(bool kept, int a, int b, int u) const {
  int room = kept ? std::min(U_, u + reclaim(a)) : u;
  if (e_[a] > room)
    return kInf;
  const double fa = c_.factors[a].forwardCost;
  return a == b ? fa : fa + L_[at(a + 1, b, room - e_[a])];
}

double ReversalTable::sweepForwardCost(int a, int b) const {
  if (a < 0 || b >= q_ || a > b)
    throw Error("internal: a sweep range outside the chain");
  return a == 0 ? R_[at(0, b, U_)] : fwd(0, a) + L_[at(a, b, U_)];
}

ReversalSchedule ReversalTable::sweepSchedule(int a, int b) const {
  if (sweepForwardCost(a, b) == kInf)
    throw Error("internal: the schedule of an infeasible sweep");
  ReversalSchedule s = schedule(a == 0, a, b, U_);
  s.forwardCost += fwd(0, a);
  s.forwardRuns += a;
  return s;
}

// Recovers the choice that attains the table's value, in the order of the
// fill (tape first, then advances by c ascending), and sums up the schedule.
// The peak counts the kept input (if any) while it is held.
ReversalSchedule ReversalTable::schedule(bool kept, int a, int b, int u) const {
  const double target = kept ? R_[at(a, b, u)] : L_[at(a, b, u)];
  const double input = kept && a > 0 ? c_.factors[a].inputBytes : 0;
  if (tapeCandidate(kept, a, b, u) == target) {
    int room = kept ? std::min(U_, u + reclaim(a)) : u;
    ReversalSchedule s;
    if (a < b)
      s = schedule(false, a + 1, b, room - e_[a]);
    s.forwardCost += c_.factors[a].forwardCost;
    s.forwardRuns += 1;
    s.peakBytes = std::max(input, c_.factors[a].tapeBytes + s.peakBytes);
    return s;
  }
  if (kept) {
    for (int c = a + 1; c <= b; ++c)
      if (fwd(a, c) + L_[at(c, b, u)] + R_[at(a, c - 1, u)] == target) {
        ReversalSchedule later = schedule(false, c, b, u), earlier = schedule(true, a, c - 1, u);
        ReversalSchedule s;
        s.forwardCost = fwd(a, c) + later.forwardCost + earlier.forwardCost;
        s.forwardRuns = (c - a) + later.forwardRuns + earlier.forwardRuns;
        s.peakBytes = std::max(input + later.peakBytes, earlier.peakBytes);
        s.checkpoints = later.checkpoints + earlier.checkpoints;
        return s;
      }
  } else if (x_[a] <= u && R_[at(a, b, u - x_[a])] == target) {
    ReversalSchedule s = schedule(true, a, b, u - x_[a]); // its peak counts v_(a-1)
    s.checkpoints += 1;
    return s;
  }
  throw Error("internal: the recomputation schedule could not be recovered");
}

std::vector<ReversalAction> ReversalTable::sweepActions(int a, int b) const {
  if (sweepForwardCost(a, b) == kInf)
    throw Error("internal: the actions of an infeasible sweep");
  std::vector<ReversalAction> out;
  for (int l = 0; l < a; ++l) // to v_(a-1) from the chain input
    out.push_back({ReversalAction::Advance, l});
  actions(a == 0, a, b, U_, out);
  return out;
}

// The choices of schedule(), in the same order, written out as actions.
void ReversalTable::actions(bool kept, int a, int b, int u,
                            std::vector<ReversalAction> &out) const {
  const double target = kept ? R_[at(a, b, u)] : L_[at(a, b, u)];
  if (tapeCandidate(kept, a, b, u) == target) {
    int room = kept ? std::min(U_, u + reclaim(a)) : u;
    out.push_back({ReversalAction::Tape, a});
    if (a < b)
      actions(false, a + 1, b, room - e_[a], out);
    out.push_back({ReversalAction::Reverse, a});
    return;
  }
  if (kept) {
    for (int c = a + 1; c <= b; ++c)
      if (fwd(a, c) + L_[at(c, b, u)] + R_[at(a, c - 1, u)] == target) {
        for (int l = a; l < c; ++l)
          out.push_back({ReversalAction::Advance, l});
        actions(false, c, b, u, out);
        actions(true, a, c - 1, u, out);
        return;
      }
  } else if (x_[a] <= u && R_[at(a, b, u - x_[a])] == target) {
    actions(true, a, b, u - x_[a], out);
    return;
  }
  throw Error("internal: the recomputation schedule could not be recovered");
}

} // namespace chainjit::compiler
