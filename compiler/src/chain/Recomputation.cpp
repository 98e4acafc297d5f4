// The checkpointing tables R and L of Recomputation.h, filled by start and
// end; a schedule is recovered from the same candidate functions.
#include "chainjit/compiler/Recomputation.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace chainjit::compiler {

static constexpr double kInf = std::numeric_limits<double>::infinity();

namespace {
bool integral(double v) { return v == std::floor(v); }
} // namespace

ReversalTable::ReversalTable(const JacobianChain &chain, double limit, size_t maxCells)
    : c_(chain), q_(static_cast<int>(chain.size())), limit_(limit) {
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
  E_.assign(q_ + 1, 0);
  for (int l = 0; l < q_; ++l) {
    const ChainFactor &f = chain.factors[l];
    e_.push_back(units(f.tapeBytes));
    x_.push_back(units(f.inputBytes));
    F_[l + 1] = F_[l] + f.forwardCost;
    E_[l + 1] = E_[l] + f.tapeBytes;
  }
  ranges_ = ranges;
  startBase_.assign(q_ + 1, 0);
  for (int a = 0; a < q_; ++a)
    startBase_[a + 1] = startBase_[a] + size_t(q_ - a);
  R_.assign(ranges * (U_ + 1), kInf);
  L_.assign(ranges * (U_ + 1), kInf);
  // By start descending, then end ascending: a cell needs L of later starts
  // and R of the same start with earlier ends. The R row of `a` stays in the
  // cache while its ends are filled; only the L rows stream from memory.
  for (int a = q_ - 1; a >= 0; --a)
    for (int b = a; b < q_; ++b) {
      for (int u = 0; u <= U_; ++u)
        R_[atR(a, b, u)] = std::min(tapeCandidate(true, a, b, u), advanceMin(a, b, u));
      for (int u = 0; u <= U_; ++u) {
        double best = tapeCandidate(false, a, b, u);
        if (x_[a] <= u)
          best = std::min(best, R_[atR(a, b, u - x_[a])]);
        L_[atL(a, b, u)] = best;
      }
    }
}

// min over a < c <= b of the advance candidate: run to v_(c-1), reverse
// c..b from it, then a..c-1 from v_(a-1). The hot loop of the fill (O(q^3 K)):
// both table rows are contiguous in c, read two lanes at a time with four
// running minima. The sum is formed as in
// schedule() and actions(), which must find the same value exactly.
double ReversalTable::advanceMin(int a, int b, int u) const {
  const double *F = F_.data();
  const double *L = &L_[atL(0, b, u)];         // L[c]: range c..b
  const double *R = &R_[atR(a, a, u)] - a;     // R[e]: range a..e
  const double Fa = F[a];
  // Two lanes per vector (SSE2 is the baseline), two vectors per step; each
  // lane computes exactly the scalar expression.
  using V2 = double __attribute__((vector_size(16)));
  auto load = [](const double *p) {
    V2 v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  const V2 fa = {Fa, Fa};
  V2 v0m = {kInf, kInf}, v1m = {kInf, kInf};
  int c = a + 1;
  for (; c + 3 <= b; c += 4) {
    V2 v0 = ((load(F + c) - fa) + load(L + c)) + load(R + c - 1);
    V2 v1 = ((load(F + c + 2) - fa) + load(L + c + 2)) + load(R + c + 1);
    v0m = v0 < v0m ? v0 : v0m;
    v1m = v1 < v1m ? v1 : v1m;
  }
  double m0 = v0m[0], m1 = v0m[1], m2 = v1m[0], m3 = v1m[1];
  for (; c <= b; ++c) {
    double v = ((F[c] - Fa) + L[c]) + R[c - 1];
    m0 = v < m0 ? v : m0;
  }
  return std::min(std::min(m0, m1), std::min(m2, m3));
}

// Tape F_a and reverse the rest from v_a in hand, then pull back through
// F_a. A kept input is not needed again: its bytes are free from here on.
double ReversalTable::tapeCandidate(bool kept, int a, int b, int u) const {
  int room = kept ? std::min(U_, u + reclaim(a)) : u;
  if (e_[a] > room)
    return kInf;
  const double fa = c_.factors[a].forwardCost;
  return a == b ? fa : fa + L_[atL(a + 1, b, room - e_[a])];
}

double ReversalTable::sweepForwardCost(int a, int b) const {
  if (a < 0 || b >= q_ || a > b)
    throw Error("internal: a sweep range outside the chain");
  double table = a == 0 ? R_[atR(0, b, U_)] : fwd(0, a) + L_[atL(a, b, U_)];
  return std::min(table, tapeAllCost(a, b));
}

// With exact units the table already holds this schedule; with rounded
// units a tape that fits in bytes may not fit in units.
double ReversalTable::tapeAllCost(int a, int b) const {
  if (E_[b + 1] - E_[a] > limit_)
    return kInf;
  double all = fwd(0, a) + fwd(a, b + 1);
  double table = a == 0 ? R_[atR(0, b, U_)] : fwd(0, a) + L_[atL(a, b, U_)];
  return all < table ? all : kInf;
}

double ReversalTable::sweepRecomputation(int a, int b) const {
  double f = sweepForwardCost(a, b);
  if (E_[b + 1] - E_[a] == 0)
    return 0;
  return f == kInf ? kInf : std::max(0.0, f - fwd(a, b + 1));
}

ReversalSchedule ReversalTable::sweepSchedule(int a, int b) const {
  if (sweepForwardCost(a, b) == kInf)
    throw Error("internal: the schedule of an infeasible sweep");
  if (tapeAllCost(a, b) < kInf) {
    ReversalSchedule s;
    s.forwardCost = tapeAllCost(a, b);
    s.forwardRuns = b + 1;
    s.peakBytes = E_[b + 1] - E_[a];
    return s;
  }
  ReversalSchedule s = schedule(a == 0, a, b, U_);
  s.forwardCost += fwd(0, a);
  s.forwardRuns += a;
  return s;
}

// Recovers the choice that attains the table's value, in the order of the
// fill (tape first, then advances by c ascending), and sums up the schedule.
// The peak counts the kept input (if any) while it is held.
ReversalSchedule ReversalTable::schedule(bool kept, int a, int b, int u) const {
  const double target = kept ? R_[atR(a, b, u)] : L_[atL(a, b, u)];
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
      if (fwd(a, c) + L_[atL(c, b, u)] + R_[atR(a, c - 1, u)] == target) {
        ReversalSchedule later = schedule(false, c, b, u), earlier = schedule(true, a, c - 1, u);
        ReversalSchedule s;
        s.forwardCost = fwd(a, c) + later.forwardCost + earlier.forwardCost;
        s.forwardRuns = (c - a) + later.forwardRuns + earlier.forwardRuns;
        s.peakBytes = std::max(input + later.peakBytes, earlier.peakBytes);
        s.checkpoints = later.checkpoints + earlier.checkpoints;
        return s;
      }
  } else if (x_[a] <= u && R_[atR(a, b, u - x_[a])] == target) {
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
  if (tapeAllCost(a, b) < kInf) {
    for (int l = a; l <= b; ++l)
      out.push_back({ReversalAction::Tape, l});
    for (int l = b; l >= a; --l)
      out.push_back({ReversalAction::Reverse, l});
    return out;
  }
  actions(a == 0, a, b, U_, out);
  return out;
}

// The choices of schedule(), in the same order, written out as actions.
void ReversalTable::actions(bool kept, int a, int b, int u,
                            std::vector<ReversalAction> &out) const {
  const double target = kept ? R_[atR(a, b, u)] : L_[atL(a, b, u)];
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
      if (fwd(a, c) + L_[atL(c, b, u)] + R_[atR(a, c - 1, u)] == target) {
        for (int l = a; l < c; ++l)
          out.push_back({ReversalAction::Advance, l});
        actions(false, c, b, u, out);
        actions(true, a, c - 1, u, out);
        return;
      }
  } else if (x_[a] <= u && R_[atR(a, b, u - x_[a])] == target) {
    actions(true, a, b, u - x_[a], out);
    return;
  }
  throw Error("internal: the recomputation schedule could not be recovered");
}

} // namespace chainjit::compiler
