// The checkpointing tables R and L of Recomputation.h, filled by start and
// end; a schedule is recovered from the same candidate functions.
#include "chainjit/compiler/Recomputation.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace chainjit::compiler {

static constexpr double kInf = std::numeric_limits<double>::infinity();

namespace {
bool integral(double v) { return v == std::floor(v); }
} // namespace

ReversalTable::ReversalTable(const JacobianChain &chain, double limit, size_t maxCells)
    : c_(chain), q_(static_cast<int>(chain.size())), limit_(limit) {
  if (!(limit >= 0) || !std::isfinite(limit))
    throw Error("the memory limit must be a finite non-negative number of bytes");
  internRanges(chain);
  const double maxUnits =
      std::max<double>(1.0, double(maxCells / std::max<size_t>(classes_, 1)) - 1);
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
  R_.assign(classes_ * (U_ + 1), kInf);
  L_.assign(classes_ * (U_ + 1), kInf);
  // By start descending, then end ascending: a range needs L of later starts
  // and R of the same start with earlier ends. Each class is filled at its
  // first range in this order (its representative); the ranges it needs
  // come earlier, so their classes are filled.
  std::vector<bool> filled(classes_, false);
  for (int a = q_ - 1; a >= 0; --a)
    for (int b = a; b < q_; ++b) {
      int k = classOf(a, b);
      if (filled[k])
        continue;
      filled[k] = true;
      repStart_[k] = a;
      fillClass(a, b);
    }
}

// Ranges a..b and a'..b' are in one class when their factors have equal
// (forward cost, tape bytes, input bytes) in order and both or neither start
// at the chain input: every value of R and L for them is then equal. A class
// is the class of the range one shorter plus the last factor's kind, so
// interning is O(q^2) hash lookups.
void ReversalTable::internRanges(const JacobianChain &chain) {
  struct Kind {
    double f, e, x;
    bool operator==(const Kind &) const = default;
  };
  std::vector<Kind> kinds;
  std::vector<int> kindOf(q_);
  for (int l = 0; l < q_; ++l) {
    const ChainFactor &f = chain.factors[l];
    Kind k{f.forwardCost, f.tapeBytes, f.inputBytes};
    auto it = std::find(kinds.begin(), kinds.end(), k); // O(q^2) at worst, like the rest
    if (it == kinds.end())
      it = kinds.insert(kinds.end(), k);
    kindOf[l] = static_cast<int>(it - kinds.begin());
  }
  startBase_.assign(q_ + 1, 0);
  for (int a = 0; a < q_; ++a)
    startBase_[a + 1] = startBase_[a] + size_t(q_ - a);
  class_.assign(startBase_[q_], 0);
  if (kinds.size() == size_t(q_)) { // no factor repeats: no two ranges are equal
    std::iota(class_.begin(), class_.end(), 0);
    classes_ = class_.size();
    repStart_.assign(classes_, -1);
    return;
  }
  std::unordered_map<uint64_t, int> intern;
  intern.reserve(std::min<size_t>(startBase_[q_], size_t(1) << 20));
  auto classFor = [&](int64_t prev, int kind) { // prev: a class, or -1/-2 for none
    uint64_t key = (uint64_t(prev + 2) << 32) | uint32_t(kind);
    auto [it, added] = intern.try_emplace(key, static_cast<int>(intern.size()));
    return it->second;
  };
  for (int a = 0; a < q_; ++a) {
    int k = classFor(a == 0 ? -2 : -1, kindOf[a]);
    class_[startBase_[a]] = k;
    for (int b = a + 1; b < q_; ++b)
      class_[startBase_[a] + size_t(b - a)] = k = classFor(k, kindOf[b]);
  }
  classes_ = intern.size();
  repStart_.assign(classes_, -1);
}

// R and L of one range for every u. The advance candidates, min over
// a < c <= b of running to v_(c-1), reversing c..b from it, then a..c-1
// from v_(a-1), are the hot loop of the fill (O(length K) per class):
// contiguous in u for each c. The sum is formed as in schedule() and
// actions(), which must find the same value exactly.
void ReversalTable::fillClass(int a, int b) {
  const int n = U_ + 1;
  double *R = &R_[atR(a, b, 0)];
  for (int u = 0; u < n; ++u)
    R[u] = tapeCandidate(true, a, b, u);
  const double Fa = F_[a];
  for (int c = a + 1; c <= b; ++c) {
    const double d = F_[c] - Fa;
    const double *Lc = &L_[atL(c, b, 0)];     // L(c..b, u)
    const double *Re = &R_[atR(a, c - 1, 0)]; // R(a..c-1, u)
    for (int u = 0; u < n; ++u) {
      double v = (d + Lc[u]) + Re[u];
      R[u] = v < R[u] ? v : R[u];
    }
  }
  double *L = &L_[atL(a, b, 0)];
  for (int u = 0; u < n; ++u) {
    double best = tapeCandidate(false, a, b, u);
    if (x_[a] <= u)
      best = std::min(best, R[u - x_[a]]);
    L[u] = best;
  }
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
  if (int ra = representative(a, b); ra != a) // equal contents: its schedule
    return schedule(kept, ra, ra + (b - a), u);
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
  actions(a == 0, a, b, U_, out, 0);
  return out;
}

// The choices of schedule(), in the same order, written out as actions.
// A range is replaced by its class's representative; `shift` maps the
// representative's factors back to the range's.
void ReversalTable::actions(bool kept, int a, int b, int u, std::vector<ReversalAction> &out,
                            int shift) const {
  if (int ra = representative(a, b); ra != a)
    return actions(kept, ra, ra + (b - a), u, out, shift + (a - ra));
  const double target = kept ? R_[atR(a, b, u)] : L_[atL(a, b, u)];
  if (tapeCandidate(kept, a, b, u) == target) {
    int room = kept ? std::min(U_, u + reclaim(a)) : u;
    out.push_back({ReversalAction::Tape, a + shift});
    if (a < b)
      actions(false, a + 1, b, room - e_[a], out, shift);
    out.push_back({ReversalAction::Reverse, a + shift});
    return;
  }
  if (kept) {
    for (int c = a + 1; c <= b; ++c)
      if (fwd(a, c) + L_[atL(c, b, u)] + R_[atR(a, c - 1, u)] == target) {
        for (int l = a; l < c; ++l)
          out.push_back({ReversalAction::Advance, l + shift});
        actions(false, c, b, u, out, shift);
        actions(true, a, c - 1, u, out, shift);
        return;
      }
  } else if (x_[a] <= u && R_[atR(a, b, u - x_[a])] == target) {
    actions(true, a, b, u - x_[a], out, shift);
    return;
  }
  throw Error("internal: the recomputation schedule could not be recovered");
}

} // namespace chainjit::compiler
