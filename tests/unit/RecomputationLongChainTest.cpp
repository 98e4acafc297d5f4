// Memory-limited adjoint sweeps on long chains (1000 factors): the tables of
// Recomputation.h share one row among ranges of equal contents, so a chain
// of equal layers is planned with exact memory units and gets revolve's
// binomial optimum, not a rounded approximation of it.
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/Recomputation.h"

#include "RevolveReference.h"

#include <doctest/doctest.h>

#include <cstdint>

using namespace chainjit::compiler;
using chainjit::testing::revolveSteps;
using chainjit::testing::uniformChain;

namespace {

PlannerOptions gradientOnly(double limit) {
  PlannerOptions o;
  o.tapeLimit = limit;
  o.recompute = true;
  o.tangentLeaves = o.tangentSteps = o.multiplySteps = false;
  return o;
}

} // namespace

TEST_CASE("recomputation on long chains: 1000 equal steps take revolve's binomial optimum") {
  // Stated factor: 1. Before the tables shared rows, a 1000-factor chain had
  // at most 7 memory units (rounded), and these plans recomputed up to
  // several times revolve's count.
  const int l = 1000;
  for (int s : {1, 3, 10, 40}) {
    INFO("s = " << s);
    JacobianChain c = uniformChain(l, s);
    double limit = (s - 1) + s;
    ReversalTable table(c, limit);
    REQUIRE(table.unitBytes() == 1);
    CHECK(table.units() == 2 * s - 1);
    ReversalSchedule sched = table.sweepSchedule(0, l - 1);
    CHECK(sched.forwardRuns - l == revolveSteps(l, s));
    CHECK(sched.peakBytes <= limit);
    // The program of the schedule (ranges of one class replay their
    // representative's choices shifted): every factor pulled back once, in
    // reverse order, after as many runs as the schedule counts.
    std::vector<ReversalAction> acts = table.sweepActions(0, l - 1);
    int runs = 0, next = l - 1;
    bool ordered = true;
    for (const ReversalAction &act : acts) {
      if (act.kind == ReversalAction::Reverse)
        ordered = ordered && act.factor == next--;
      else
        ++runs;
    }
    CHECK(ordered);
    CHECK(next == -1);
    CHECK(runs == sched.forwardRuns);

    BracketingPlan p = planChain(c, gradientOnly(limit));
    CHECK(p.recomputeCost == revolveSteps(l, s));
    CHECK(p.tapeBytes <= limit);
  }
}

TEST_CASE("recomputation on long chains: equal layers of 4096 bytes plan in exact units") {
  // As bench/chain_planner_bench's deep MLP: 1000 layers whose tape and
  // input are 4096 bytes, the last one (the loss) cheaper to run, at 1/4 and
  // 1/16 of the whole tape. A tape and a checkpoint both take one unit, so
  // revolve's schedule with s = K slots (K - 1 checkpoints besides the
  // input, and one tape) is one of the tables' schedules: the plan
  // recomputes at most revolveSteps(l, K) layers (factor 1). The tables may do
  // better by holding several tapes, but a held tape of step i is no better
  // than a checkpoint of v_(i-1) plus a later taping run, which revolve's
  // count leaves out (l of them): so at least revolveSteps(l, K + 1) - l.
  // (1 layer of slack each way for the cheap loss factor.)
  const int l = 1000;
  JacobianChain c;
  for (int i = 0; i < l; ++i) {
    ChainFactor f;
    f.n = 512;
    f.m = i + 1 == l ? 1 : 512;
    f.tangentCost = f.adjointCost = f.forwardCost = i + 1 == l ? 1 : 512;
    f.tapeBytes = f.inputBytes = 4096;
    c.factors.push_back(f);
  }
  for (int denominator : {4, 16}) {
    INFO("1/" << denominator);
    int K = l / denominator;
    double limit = 4096.0 * K;
    ReversalTable table(c, limit);
    CHECK(table.unitBytes() == 4096);
    CHECK(table.units() == K);
    BracketingPlan p = planChain(c, gradientOnly(limit));
    double steps = p.recomputeCost / 512; // in layer runs (the loss's is below one)
    INFO("1/" << denominator << ": " << steps << " recomputed layers, revolve "
                 << revolveSteps(l, K));
    CHECK(steps <= double(revolveSteps(l, K)) + 1);
    CHECK(steps >= double(revolveSteps(l, K + 1) - l) - 1);
    CHECK(p.tapeBytes <= limit);
  }
}
