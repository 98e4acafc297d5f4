// How long the chain-order DP takes as chains grow (target: a chain of 1000
// segments planned in well under a second). Prints a table; run it from the
// build tree: ./build/bench/chain_planner_bench
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/Recomputation.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

using namespace chainjit::compiler;

int main() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> size(1, 2000), cost(1, 100);
  fmt::print("{:>8} {:>12} {:>14} {:>12} {:>10}\n", "factors", "plan (ms)", "optimum / fwd",
             "tape limit", "chain");
  for (int q : {10, 100, 250, 500, 1000}) {
    for (int variant = 0; variant < 3; ++variant) {
      // 0, 1: dense factors without and with a tape limit; 2: every other
      // factor diagonal (elementwise), like a graph of matmul/tanh layers.
      bool limited = variant == 1, mixed = variant == 2;
      JacobianChain c;
      int64_t n = size(rng);
      double tape = 0;
      for (int l = 0; l < q; ++l) {
        ChainFactor f;
        f.n = n;
        f.m = n = size(rng);
        f.tangentCost = double(cost(rng)) * double(f.m);
        f.adjointCost = double(cost(rng)) * double(f.n);
        f.tapeBytes = 8.0 * double(f.n);
        if (mixed && l % 2 == 1) {
          f.m = n = f.n;
          f.structure = JacobianStructure::Diagonal;
          f.tangentCost = f.adjointCost = double(f.n);
        }
        tape += f.tapeBytes;
        c.factors.push_back(f);
      }
      PlannerOptions o;
      if (limited)
        o.tapeLimit = tape / 4;
      auto t0 = std::chrono::steady_clock::now();
      BracketingPlan p = planChain(c, o);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      double fwd = double(c.factors.front().n);
      double sumT = 0;
      for (const auto &f : c.factors)
        sumT += f.tangentCost;
      fmt::print("{:>8} {:>12.2f} {:>14.3g} {:>12} {:>10}\n", q, ms, p.cost / (fwd * sumT),
                 limited ? "total/4" : "none", mixed ? "mixed" : "dense");
    }
  }

  // With recomputation (Recomputation.h): a gradient through equal layers
  // (as a deep MLP) at a quarter and a sixteenth of the full tape. The
  // tables have one row per class of equal ranges (about 3q here) and K
  // memory units, exact (one layer's 4096 bytes) while K <= 2^22 / classes.
  fmt::print("\nwith recomputation (gradient, equal layers)\n");
  fmt::print("{:>8} {:>12} {:>12} {:>10} {:>8} {:>14} {:>12}\n", "factors", "plan (ms)",
             "cpu (ms)", "memory", "units", "recompute/fwd", "peak/limit");
  for (int q : {10, 100, 250, 500, 1000}) {
    for (double fraction : {0.25, 0.0625}) {
      JacobianChain c;
      for (int l = 0; l < q; ++l) {
        ChainFactor f;
        f.n = 512;
        f.m = l + 1 == q ? 1 : 512;
        f.tangentCost = f.adjointCost = f.forwardCost = 512.0 * f.m;
        f.tapeBytes = f.inputBytes = 8.0 * 512;
        c.factors.push_back(f);
      }
      PlannerOptions o;
      o.tapeLimit = std::max(8.0 * 512 * 2, 8.0 * 512 * q * fraction);
      o.recompute = true;
      o.tangentLeaves = o.tangentSteps = o.multiplySteps = false;
      auto t0 = std::chrono::steady_clock::now();
      std::clock_t c0 = std::clock(); // CPU time: the shared machine's load inflates wall time
      BracketingPlan p = planChain(c, o);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      double cpu = 1000.0 * double(std::clock() - c0) / CLOCKS_PER_SEC;
      int units = ReversalTable(c, *o.tapeLimit).units();
      double once = 0;
      for (const auto &f : c.factors)
        once += f.forwardCost;
      fmt::print("{:>8} {:>12.1f} {:>12.1f} {:>10} {:>8} {:>14.3f} {:>12.3f}\n", q, ms, cpu,
                 fraction == 0.25 ? "1/4" : "1/16", units, p.recomputeCost / once,
                 p.tapeBytes / *o.tapeLimit);
    }
  }
}
