// Gradients within a memory limit (RecomputedGradient.h): the emitted graph
// recomputes exactly the segments the schedule runs again (counted by the
// nodes named recompute.N), its values equal the unlimited gradient on the
// interpreter and the JIT, and the JIT's liveness plan holds no more bytes of
// forward values than the limit.
#include "GradCheck.h"

#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::randomBindings;

namespace {

// x [B, w] -> tanh(h W_l + b_l), L layers -> mean(h * h).
Graph deepMlp(int layers, int64_t width, int64_t batch, DType dt = DType::f64) {
  Graph g("deep_mlp");
  Value h = input(g, "x", TensorType{dt, {batch, width}});
  for (int l = 1; l <= layers; ++l) {
    std::string s = std::to_string(l);
    Value W = param(g, "W" + s, TensorType{dt, {width, width}},
                    {{"init", "normal"}, {"scale", 0.3}, {"seed", int64_t(l)}});
    Value b = param(g, "b" + s, TensorType{dt, {width}});
    h = tanh(matmul(h, W) + b).named("h" + s);
  }
  output(mean(h * h).named("loss"));
  return g;
}

std::vector<std::string> paramNames(const Graph &g) {
  std::vector<std::string> names;
  for (NodeId p : g.params())
    names.push_back(g.node(p).name);
  return names;
}

int countNamed(const Graph &g, const std::string &prefix) {
  int n = 0;
  for (const Node &node : g.nodes())
    n += node.name.rfind(prefix, 0) == 0;
  return n;
}

double fullTape(const compiler::RecomputationChain &rc) {
  double t = 0;
  for (const auto &f : rc.chain.factors)
    t += f.tapeBytes;
  return t;
}

int64_t forwardValuePeak(const Graph &emitted, size_t primalSize) {
  return compiler::jitForwardValuePeak(emitted, primalSize);
}

} // namespace

TEST_CASE("recomputation chain: an MLP is cut between layers, tapes are what the rules read") {
  Graph g = deepMlp(3, 4, 2);
  auto rc = compiler::recomputationChain(g, g.lookup("loss"),
                                         {g.lookup("W1"), g.lookup("b1"), g.lookup("W2"),
                                          g.lookup("b2"), g.lookup("W3"), g.lookup("b3")});
  // Cut after every op (matmul | add | tanh | ...), then a tanh joined to the
  // next matmul (or mul): both adjoints read the tanh's result.
  REQUIRE(rc.cuts.size() == 8);
  CHECK(rc.cuts.back() == g.lookup("loss"));
  CHECK(rc.segments[2].size() == 2);
  const double v = 2 * 4 * 8; // one [2, 4] f64 value
  // matmul(x, W1): its input x is a source (not counted), W1 too: no tape.
  CHECK(rc.chain.factors[0].tapeBytes == 0);
  CHECK(rc.chain.factors[0].inputBytes == 0);
  CHECK(rc.chain.factors[1].tapeBytes == 0); // + b: nothing
  CHECK(rc.chain.factors[2].tapeBytes == v); // tanh and matmul read h1: once
  CHECK(rc.chain.factors[2].inputBytes == v);
  CHECK(rc.chain.factors[2].forwardCost == 2 * 4 + 2 * 4 * 4);
  CHECK(rc.chain.factors[6].tapeBytes == v); // tanh and h * h
  CHECK(rc.chain.factors[7].tapeBytes == 0); // mean
  // Working: tanh-matmul holds h1 and its result at once (its input is
  // read by the tanh alone); the last segment's mean reads h * h.
  CHECK(rc.workingBytes == 2 * v);
}

TEST_CASE("recomputed gradient: node counts follow the schedule and values equal grad") {
  Graph g = deepMlp(8, 6, 3);
  auto wrt = paramNames(g);
  runtime::Bindings b = randomBindings(g, 7);
  Graph reference = compiler::grad(g, "loss", wrt);
  auto want = runtime::interpret(reference, b);
  auto full = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  const double tape = fullTape(full.chain);
  CHECK(full.recomputedNodes == 0);
  CHECK(countNamed(full.graph, "recompute.") == 0);
  int seen = 0;
  for (double fraction : {0.5, 0.25, 0.125, 0.0}) {
    // fraction 0: the least memory that still fits a tape (no checkpoint room).
    double largest = 0;
    for (const auto &f : full.chain.chain.factors)
      largest = std::max(largest, f.tapeBytes);
    double limit = full.chain.workingBytes + std::max(largest, tape * fraction);
    INFO("limit " << limit);
    auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, limit, false);
    // The graph holds one copy of a segment per run beyond the first.
    int expected = 0;
    double cost = 0;
    for (size_t l = 0; l < r.runs.size(); ++l) {
      int runs = 0;
      for (const auto &a : r.actions)
        runs += a.kind != compiler::ReversalAction::Reverse && a.factor == int(l);
      CHECK(runs == r.runs[l]);
      expected += (runs - 1) * int(r.chain.segments[l].size());
      cost += (runs - 1) * r.chain.chain.factors[l].forwardCost;
    }
    CHECK(countNamed(r.graph, "recompute.") == expected);
    CHECK(r.recomputedNodes == expected);
    // ... and the recomputation the tables planned.
    compiler::ReversalTable table(r.chain.chain, r.tapeLimit);
    double once = 0;
    for (const auto &f : r.chain.chain.factors)
      once += f.forwardCost;
    CHECK(cost == doctest::Approx(table.sweepForwardCost(0, int(r.runs.size()) - 1) - once));
    CHECK(r.recomputeCost == doctest::Approx(cost));
    CHECK(r.peakBytes <= r.tapeLimit);
    seen += expected > 0;
    // The same gradient, on the interpreter and (simplified) on the JIT.
    auto got = runtime::interpret(r.graph, b);
    REQUIRE(got.outputs.size() == want.outputs.size());
    for (size_t i = 0; i < want.outputs.size(); ++i)
      testing::checkSameTensor(got.outputs[i], want.outputs[i], "output " + std::to_string(i));
    // Simplified: dead code goes (a recomputed value nothing reads), the rest stays.
    auto simplified = compiler::gradWithMemoryLimit(g, "loss", wrt, limit);
    CHECK(countNamed(simplified.graph, "recompute.") <= expected);
    CHECK(countNamed(simplified.graph, "recompute.") > expected / 2);
    if (fraction == 0.25 || fraction == 0.0) // JIT compiles are the slow part
      testing::checkJitMatchesInterpreter(simplified.graph, b);
  }
  CHECK(seen == 4); // every limit below the full tape recomputes
}

TEST_CASE("recomputed gradient: the JIT's forward values stay within the limit") {
  // f32, 24 layers of 32 units, batch 16: each value 2 KiB.
  Graph g = deepMlp(24, 32, 16, DType::f32);
  auto wrt = paramNames(g);
  auto unlimited = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  // A value two segments read (tanh's result, the next matmul's input) is in
  // both tapes, so the model's full tape is above what the JIT holds.
  const int64_t unlimitedPeak = forwardValuePeak(unlimited.graph, g.size());
  CHECK(unlimitedPeak > 24 * 2048);
  CHECK(unlimitedPeak <= fullTape(unlimited.chain) + unlimited.chain.workingBytes);
  double largest = 0;
  for (const auto &f : unlimited.chain.chain.factors)
    largest = std::max(largest, f.tapeBytes);
  const double least = unlimited.chain.workingBytes + largest;
  for (double fraction : {0.5, 0.25, 0.0}) {
    // The full tape does not fit; 0: the least memory that works.
    double limit = fraction > 0 ? double(unlimitedPeak) * fraction : least;
    INFO("limit " << limit << " of the unlimited peak " << unlimitedPeak);
    auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, limit, false);
    int64_t peak = forwardValuePeak(r.graph, g.size());
    CHECK(peak <= limit);
    CHECK(r.recomputedNodes > 0);
  }
}

TEST_CASE("recomputed gradient: a limit below one segment's needs is an error") {
  Graph g = deepMlp(4, 6, 3);
  auto wrt = paramNames(g);
  CHECK_THROWS_WITH_AS(compiler::gradWithMemoryLimit(g, "loss", wrt, 100), doctest::Contains("too small for %loss"), Error);
  CHECK_THROWS_AS(compiler::gradWithMemoryLimit(g, "loss", wrt, -1), Error);
  CHECK_THROWS_AS(compiler::gradWithMemoryLimit(g, "h2", wrt, 1e6), Error); // not a scalar
}

TEST_CASE("recomputed gradient: with respect to intermediate values and params together") {
  Graph g = deepMlp(6, 5, 2);
  std::vector<std::string> wrt = {"h2", "W4", "h5", "b6"};
  runtime::Bindings b = randomBindings(g, 3);
  auto want = runtime::interpret(compiler::grad(g, "loss", wrt), b);
  auto full = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  double largest = 0;
  for (const auto &f : full.chain.chain.factors)
    largest = std::max(largest, f.tapeBytes);
  auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, full.chain.workingBytes + largest);
  CHECK(r.recomputedNodes > 0);
  auto got = runtime::interpret(r.graph, b);
  REQUIRE(got.outputs.size() == want.outputs.size());
  for (size_t i = 0; i < want.outputs.size(); ++i)
    testing::checkSameTensor(got.outputs[i], want.outputs[i], "output " + std::to_string(i));
}

TEST_CASE("recomputed gradient: the JIT's arena in the backward part stays within the limit") {
  // The limit covers the forward values (checkpoints, tapes, a segment's
  // working values); during the backward part they stay within it. The
  // arena as a whole does too: the parameters' gradients (24 x 4 KiB of
  // weights here, twice the limits below) are written by their kernels
  // straight into the caller's output buffers instead of living in the
  // arena until the final copies, and the running adjoint fits beside the
  // forward values.
  Graph g = deepMlp(24, 32, 16, DType::f32);
  auto wrt = paramNames(g);
  auto unlimited = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  const int64_t unlimitedPeak = forwardValuePeak(unlimited.graph, g.size());
  double largest = 0;
  for (const auto &f : unlimited.chain.chain.factors)
    largest = std::max(largest, f.tapeBytes);
  const double least = unlimited.chain.workingBytes + largest;
  for (double fraction : {0.5, 0.25, 0.125, 0.0}) {
    double limit = fraction > 0 ? double(unlimitedPeak) * fraction : least;
    INFO("limit " << limit);
    for (bool simplify : {false, true}) {
      auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, limit, simplify);
      compiler::DerivativeArena a = compiler::jitDerivativeArena(r.graph, g.size());
      CHECK(a.backwardStart > 0);
      CHECK(a.backwardStart < a.kernels);
      CHECK(a.forwardValues <= limit);
      CHECK(a.forwardValues > 0);
      CHECK(a.results == 0);
      CHECK(a.arena <= limit);
      CHECK(a.arenaBytes <= limit);
    }
  }
}

namespace {

// The recomputed nodes the schedule needs, derived from the actions and the
// MLP's rules alone (not from the emitted graph): in deepMlp only a tanh's
// result is read by the adjoints (its own and the next matmul's, or h * h),
// and no segment's adjoint reads its input cut. A run beyond the first of
// segment l needs
//   - the nodes its adjoint reads, if it is the taping run the Reverse of l
//     reads (the latest Tape of l before it);
//   - its cut, if a run of l + 1 that starts from it (before l runs again)
//     needs anything (every node of a segment depends on its input here);
// and, within the segment, everything those nodes depend on.
int expectedLiveRecomputed(const Graph &f, const compiler::RecomputedGradient &r) {
  const auto &segs = r.chain.segments;
  struct Run {
    int seg;
    bool tape, recomputed;
    size_t at;
  };
  std::vector<Run> runs;
  std::vector<int> count(segs.size(), 0);
  for (size_t i = 0; i < r.actions.size(); ++i)
    if (r.actions[i].kind != compiler::ReversalAction::Reverse) {
      int l = r.actions[i].factor;
      runs.push_back({l, r.actions[i].kind == compiler::ReversalAction::Tape, count[l]++ > 0, i});
    }
  // Which run the Reverse of each segment reads: its latest Tape run.
  std::vector<bool> readByReverse(runs.size(), false);
  for (size_t i = 0; i < r.actions.size(); ++i)
    if (r.actions[i].kind == compiler::ReversalAction::Reverse) {
      for (size_t k = runs.size(); k-- > 0;)
        if (runs[k].at < i && runs[k].seg == r.actions[i].factor && runs[k].tape) {
          readByReverse[k] = true;
          break;
        }
    }
  std::vector<std::vector<bool>> live(runs.size());
  int total = 0;
  for (size_t k = runs.size(); k-- > 0;) {
    const std::vector<NodeId> &seg = segs[runs[k].seg];
    std::vector<bool> need(seg.size(), false);
    if (readByReverse[k])
      for (size_t i = 0; i < seg.size(); ++i)
        need[i] = f.node(seg[i]).kind == OpKind::Tanh;
    // Runs of seg + 1 that start from this run's cut: those after it and
    // before the next run of seg.
    for (size_t m = k + 1; m < runs.size() && runs[m].seg != runs[k].seg; ++m)
      if (runs[m].seg == runs[k].seg + 1 &&
          std::find(live[m].begin(), live[m].end(), true) != live[m].end())
        need.back() = true;
    // Within the segment, what a needed node reads is needed too.
    for (size_t i = seg.size(); i-- > 0;)
      if (need[i])
        for (NodeId o : f.node(seg[i]).operands)
          for (size_t j = 0; j < i; ++j)
            if (seg[j] == o)
              need[j] = true;
    live[k] = need;
    if (runs[k].recomputed)
      total += int(std::count(need.begin(), need.end(), true));
  }
  return total;
}

// Recomputed nodes that the outputs and param updates depend on.
int liveRecomputed(const Graph &g) {
  std::vector<bool> reached(g.size(), false);
  std::vector<NodeId> stack(g.outputs().begin(), g.outputs().end());
  while (!stack.empty()) {
    NodeId n = stack.back();
    stack.pop_back();
    if (reached[n])
      continue;
    reached[n] = true;
    for (NodeId o : g.node(n).operands)
      stack.push_back(o);
  }
  int n = 0;
  for (NodeId id = 0; id < NodeId(g.size()); ++id)
    n += reached[id] && g.node(id).name.rfind("recompute.", 0) == 0;
  return n;
}

} // namespace

TEST_CASE("recomputed gradient: after simplification exactly the needed recomputed nodes remain") {
  // The graph the JIT runs is simplified: a recomputed node nothing reads
  // (the cut of a taping run no later run starts from, a matmul or add the
  // adjoint does not read) is removed. The count that remains equals what
  // the schedule needs, derived from the plan's actions independently.
  Graph g = deepMlp(8, 6, 3);
  auto wrt = paramNames(g);
  auto full = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  double tape = 0, largest = 0;
  for (const auto &f : full.chain.chain.factors) {
    tape += f.tapeBytes;
    largest = std::max(largest, f.tapeBytes);
  }
  int removed = 0;
  for (double fraction : {0.5, 0.25, 0.125, 0.0}) {
    double limit = full.chain.workingBytes + std::max(largest, tape * fraction);
    INFO("limit " << limit);
    auto raw = compiler::gradWithMemoryLimit(g, "loss", wrt, limit, false);
    auto simplified = compiler::gradWithMemoryLimit(g, "loss", wrt, limit);
    REQUIRE(raw.actions == simplified.actions);
    const int expected = expectedLiveRecomputed(g, raw);
    CHECK(expected > 0);
    CHECK(liveRecomputed(raw.graph) == expected);
    CHECK(countNamed(simplified.graph, "recompute.") == expected);
    CHECK(liveRecomputed(simplified.graph) == expected);
    removed += raw.recomputedNodes - expected;
  }
  CHECK(removed > 0); // dead copies do occur, and they are the only ones removed
}
