// Memory-limited adjoint sweeps: which forward values to keep and which to
// recompute (checkpointing, as in revolve and Rotor, for heterogeneous
// chains). Used by the chain DP (ChainPlanner.h) for every adjoint step.
//
// The model (docs/cost-model.md, "Recomputation"). An adjoint sweep over the
// factors a..b pulls rows back through F_b, ..., F_a. Pulling through F_l
// needs its tape e_l, made by running F_l forward in taping mode from its
// input (cost f_l). Memory holds checkpoints (a factor's input, x_l bytes,
// from which the forward can restart) and tapes; the working value and the
// chain input are not counted. The cheapest schedules satisfy
//
//   R(a,b,u): reverse a..b, input v_(a-1) kept (restartable), u bytes free
//     = min( min_{a<c<=b} f_a+..+f_(c-1) + L(c,b,u) + R(a,c-1,u),   advance
//            f_a + L(a+1,b,u + x_a - e_a) )                         tape F_a
//   (the tape step is the kept input's last use: its x_a bytes are free
//   again, x_0 = 0 for the chain input; a == b: f_a if e_a <= u + x_a)
//   L(a,b,u): the same with v_(a-1) only in hand (not kept)
//     = min( R(a,b,u - x_a),                                        keep it
//            f_a + L(a+1,b,u - e_a) )  (a < b; a == b: the leaf)    tape F_a
//
// The chain DP charges a sweep over a..b (sweepRecomputation) its forward
// runs beyond one run of a..b: the restart from the chain input to v_(a-1)
// included, nothing for a range without tape. Its plans without
// recomputation are priced the same way with the whole-tape schedule only.
//
// Ranges with equal contents share one table row: a range's values depend
// only on its factors' (f, e, x) and on whether it starts at the chain input
// (whose bytes are free), so ranges are interned into C classes (C <= q(q+1)/2;
// about 3q for a chain of equal layers with a different last factor). Memory
// is counted in K units: exact (the greatest common divisor of the sizes,
// which are integers) when the limit has few enough of them, else the limit
// divided into as many units as the table allows (maxCells / C), sizes
// rounded up: then the plan fits but may recompute more than the optimum.
// The tables take O(C K + q^2) memory and O(sum over classes of the length
// times K) <= O(q^3 K) time: O(q^2 K) for uniform stretches, where K is
// exact (a 1000-step chain of equal layers at 1/16 of its tape: 62 units).
#pragma once

#include "chainjit/compiler/JacobianChain.h"

#include <vector>

namespace chainjit::compiler {

// One sweep's schedule, summarized.
struct ReversalSchedule {
  double forwardCost = 0; // all forward runs of the sweep (tapings included)
  double peakBytes = 0;   // checkpoints and tapes held at once (true bytes)
  int forwardRuns = 0;    // factor evaluations (advances and tapings)
  int checkpoints = 0;    // values kept to restart from
};

// One step of a sweep's schedule, in execution order. Advance: run F_l
// forward keeping only its output v_l (a checkpoint if a later run starts
// from it). Tape: run F_l forward keeping what its adjoint needs. Reverse:
// pull the adjoint back through F_l with the tape of its latest Tape.
// The first run of each factor is the plain forward pass.
struct ReversalAction {
  enum Kind : uint8_t { Advance, Tape, Reverse } kind;
  int factor;
  bool operator==(const ReversalAction &) const = default;
};

class ReversalTable {
public:
  // Plans every range of `chain` for sweeps within `limit` bytes. `maxCells`
  // bounds the table size (ranges x memory units).
  ReversalTable(const JacobianChain &chain, double limit, size_t maxCells = size_t(1) << 22);

  // The cheapest forward cost of an adjoint sweep over a..b that starts from
  // the chain input (a == 0) or runs forward from it to v_(a-1) first;
  // infinity when it does not fit. Never above the sweep that tapes its
  // whole range in one run when that tape fits (in true bytes, also when
  // the units are rounded).
  double sweepForwardCost(int a, int b) const;
  // What the chain DP charges the sweep beyond one run of its range: the
  // forward cost above minus that run, or 0 when the range has no tape
  // (its adjoint reads no forward value, so nothing is run for it).
  double sweepRecomputation(int a, int b) const;
  // Its schedule, with true (unrounded) peak bytes.
  ReversalSchedule sweepSchedule(int a, int b) const;
  // The same schedule as a program (what the emitted graph does).
  std::vector<ReversalAction> sweepActions(int a, int b) const;
  // Bytes per memory unit (1 when exact) and the number of units.
  double unitBytes() const { return unit_; }
  int units() const { return U_; }

private:
  // Both tables are stored by range class first, then by memory unit, so the
  // fill's inner loop over u reads both contiguously.
  int classOf(int a, int b) const { return class_[startBase_[a] + size_t(b - a)]; }
  size_t atR(int a, int b, int u) const { return size_t(classOf(a, b)) * (U_ + 1) + size_t(u); }
  size_t atL(int a, int b, int u) const { return atR(a, b, u); }
  // The range of class `k` the fill computed (recovery works on it, so that
  // it sees the very sums of the fill), shifted to start at a.
  int representative(int a, int b) const { return repStart_[classOf(a, b)]; }
  void internRanges(const JacobianChain &chain);
  void fillClass(int a, int b);
  ReversalSchedule schedule(bool kept, int a, int b, int u) const;
  // The sweep from the chain input that tapes all of a..b in one run, when
  // its tape fits in true bytes and the table (rounded units) has nothing
  // cheaper: its forward cost, else infinity.
  double tapeAllCost(int a, int b) const;
  void actions(bool kept, int a, int b, int u, std::vector<ReversalAction> &out,
               int shift) const;
  double tapeCandidate(bool kept, int a, int b, int u) const;
  // Units a kept input v_(a-1) frees at its last use (the chain input is free).
  int reclaim(int a) const { return a == 0 ? 0 : x_[a]; }
  double fwd(int a, int c) const { return F_[c] - F_[a]; } // f_a + .. + f_(c-1)

  const JacobianChain &c_;
  int q_ = 0, U_ = 0;
  double unit_ = 1;
  std::vector<int> e_, x_;      // tape and input size in units
  std::vector<double> F_;       // prefix sums of forward costs
  std::vector<double> E_;       // prefix sums of tape bytes (true bytes)
  double limit_ = 0;
  size_t classes_ = 0;
  std::vector<size_t> startBase_; // where the ranges starting at a begin in class_
  std::vector<int> class_;        // per range (packed by start): its class
  std::vector<int> repStart_;     // per class: the start of its representative
  std::vector<double> R_, L_;     // atR(a, b, u), atL(a, b, u)
};

} // namespace chainjit::compiler
