// Recomputation through recurrences (ScanCheckpointing.h): a scan nested
// into windows computes what the plain scan does, its gradient equals the
// plain one (interpreter and JIT), the steps it runs again are those the
// plan counts, and under gradWithMemoryLimit the JIT's forward values with
// the scans' tapes stay within the limit.
#include "GradCheck.h"

#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/compiler/ScanCheckpointing.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::randomBindings;

namespace {

// An LSTM over T steps whose step takes x_t itself (the input projection
// inside the step, so the tape is the carries alone), and loss =
// mean((h_T V)^2). reverse: the scan runs from the last step back.
Function lstmStep(int64_t B, int64_t n, int64_t d, DType dt, const std::string &name = "lstm_step") {
  Graph s(name);
  Value h = input(s, "h", TensorType{dt, {B, n}});
  Value c = input(s, "c", TensorType{dt, {B, n}});
  Value x = input(s, "x", TensorType{dt, {B, d}});
  Value Wx = input(s, "Wx", TensorType{dt, {d, 4 * n}});
  Value U = input(s, "U", TensorType{dt, {n, 4 * n}});
  Value b = input(s, "b", TensorType{dt, {4 * n}});
  Value z = matmul(x, Wx) + matmul(h, U) + b;
  auto gate = [&](int64_t i) { return slice(z, {0, i * n}, {B, (i + 1) * n}); };
  Value cn = sigmoid(gate(1)) * c + sigmoid(gate(0)) * tanh(gate(2));
  Value hn = sigmoid(gate(3)) * tanh(cn);
  s.addOutput(hn.id());
  s.addOutput(cn.id());
  s.addOutput(hn.id()); // y_t: stacked over the steps
  return Function(name, std::move(s));
}

Graph lstm(int64_t T, int64_t B, int64_t n, int64_t d, DType dt, bool reverse = false) {
  Function step = lstmStep(B, n, d, dt); // its y_t: nothing reads it below
  Graph g("long_lstm");
  Value xs = input(g, "xs", TensorType{dt, {T, B, d}});
  Value h0 = input(g, "h0", TensorType{dt, {B, n}});
  Value c0 = input(g, "c0", TensorType{dt, {B, n}});
  auto init = [](int64_t seed) {
    return Attrs{{"init", "normal"}, {"scale", 0.5}, {"seed", seed}};
  };
  Value pWx = param(g, "Wx", TensorType{dt, {d, 4 * n}}, init(1));
  Value pU = param(g, "U", TensorType{dt, {n, 4 * n}}, init(2));
  Value pb = param(g, "b", TensorType{dt, {4 * n}});
  Value V = param(g, "V", TensorType{dt, {n, 2}}, init(3));
  std::vector<Value> r = scan(step, {h0, c0}, {xs}, {pWx, pU, pb}, reverse);
  Value logits = matmul(r[0], V);
  output(mean(logits * logits).named("loss"));
  return g;
}

std::vector<std::string> paramNames(const Graph &g) {
  std::vector<std::string> names;
  for (NodeId p : g.params())
    names.push_back(g.node(p).name);
  return names;
}

NodeId theScan(const Graph &g) {
  for (NodeId id = 0; id < g.size(); ++id)
    if (g.node(id).kind == OpKind::Scan)
      return id;
  FAIL("no scan");
  return 0;
}

void checkSameOutputs(const runtime::EvalResult &got, const runtime::EvalResult &want) {
  REQUIRE(got.outputs.size() == want.outputs.size());
  for (size_t i = 0; i < want.outputs.size(); ++i)
    testing::checkSameTensor(got.outputs[i], want.outputs[i], "output " + std::to_string(i));
}

} // namespace

TEST_CASE("scan checkpointing: tape and recomputation of a nesting, and the plan for a limit") {
  using compiler::nestedRecomputedSteps;
  using compiler::nestedTapeCarries;
  // Plain: the tape scan's result (the final carries and the T entering the
  // steps) and the JIT's copy of those T.
  CHECK(nestedTapeCarries(1000, {}) == 2001);
  CHECK(nestedRecomputedSteps(1000, {}) == 0);
  // 10 steps in windows of 3: 3 window carries held while one window's
  // tape (7) is made; the step left over is a scan of its own (at another time).
  CHECK(nestedTapeCarries(10, {3}) == 10);
  CHECK(nestedRecomputedSteps(10, {3}) == 9); // each windowed step once more
  // 1000 = 31 * 32 + 8: 31 + 65 carries, 992 steps again.
  CHECK(nestedTapeCarries(1000, {32}) == 96);
  CHECK(nestedRecomputedSteps(1000, {32}) == 992);
  // Three levels: 10 + 10 + 21 carries, every step twice more.
  CHECK(nestedTapeCarries(1000, {100, 10}) == 41);
  CHECK(nestedRecomputedSteps(1000, {100, 10}) == 2000);

  auto full = compiler::planScanNesting(1000, 2001);
  REQUIRE(full);
  CHECK(full->windows.empty());
  // Fewer slots: two levels while they fit (one recomputation per step) ...
  for (int64_t slots : {1000, 200, 90}) {
    auto p = compiler::planScanNesting(1000, slots);
    REQUIRE(p);
    CHECK(p->windows.size() == 1);
    CHECK(p->tapeCarries <= slots);
    CHECK(p->tapeCarries == nestedTapeCarries(1000, p->windows));
    CHECK(p->recomputedSteps <= 1000);
  }
  // ... then three (the least: 38 carries) and more (21 at 6 levels).
  auto three = compiler::planScanNesting(1000, 60);
  REQUIRE(three);
  CHECK(three->windows.size() == 2);
  CHECK(three->tapeCarries <= 60);
  CHECK(three->recomputedSteps > 1000);
  CHECK(three->recomputedSteps <= 2000);
  auto deep = compiler::planScanNesting(1000, 30);
  REQUIRE(deep);
  CHECK(deep->windows.size() == 3);
  CHECK(deep->tapeCarries <= 30);
  CHECK(compiler::planScanNesting(1000, 21)->windows.size() == 5);
  CHECK_FALSE(compiler::planScanNesting(1000, 20));
}

TEST_CASE("scan checkpointing: a nested scan computes the plain scan's values and gradients") {
  // T = 13 is not a multiple of any window tried: the steps left over run
  // as a scan of their own, after the windows (forward) or before (reverse).
  for (bool reverse : {false, true}) {
    Graph g = lstm(13, 2, 3, 2, DType::f64, reverse);
    auto wrt = paramNames(g);
    wrt.push_back("h0");
    wrt.push_back("xs");
    runtime::Bindings b = randomBindings(g, 5);
    auto want = runtime::interpret(g, b);
    auto wantGrad = runtime::interpret(compiler::grad(g, "loss", wrt), b);
    for (std::vector<int64_t> windows : {std::vector<int64_t>{4}, {5, 2}, {6, 4, 3}}) {
      INFO("reverse " << reverse << ", windows " << windows.size() << " levels");
      Graph nested = compiler::nestScan(g, theScan(g), windows, /*dropYs=*/true);
      checkSameOutputs(runtime::interpret(nested, b), want);
      Graph dg = compiler::pruneScanBodies(compiler::grad(nested, "loss", wrt));
      auto got = runtime::interpret(dg, b);
      checkSameOutputs(got, wantGrad);
      if (windows.size() == 2)
        testing::checkJitMatchesInterpreter(dg, b);
    }
  }
}

TEST_CASE("scan checkpointing: gradWithMemoryLimit nests the scan and recomputes the planned steps") {
  // 30 steps, so that windows can divide them (no slices of the sequence).
  Graph g = lstm(30, 2, 3, 1, DType::f64);
  auto wrt = paramNames(g);
  runtime::Bindings b = randomBindings(g, 11);
  auto want = runtime::interpret(compiler::grad(g, "loss", wrt), b);
  auto unlimited = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  const Graph plainGrad = compiler::pruneScanBodies(unlimited.graph);
  const int64_t plainSigmoids = compiler::countOpRuns(plainGrad, OpKind::Sigmoid);
  // The primal forward pass runs the 3 sigmoids of every step once, the
  // plain adjoint twice more (tape, backward step).
  CHECK(plainSigmoids == 3 * 30 * 3);
  const double carry = 2 * 2 * 3 * 8; // h and c, [2, 3] f64
  const double fullTape = 61 * carry;  // 2 T + 1 carries
  // What the rest of the gradient holds (the head; the scan's unread ys
  // left out), all of it kept.
  Graph noYs = compiler::nestScan(g, theScan(g), {}, true);
  auto rest = compiler::recomputationChain(noYs, noYs.lookup("loss"),
                                           {noYs.lookup("Wx"), noYs.lookup("U"),
                                            noYs.lookup("b"), noYs.lookup("V")});
  double restBytes = rest.workingBytes;
  for (const auto &fc : rest.chain.factors)
    restBytes += fc.tapeBytes;
  int levelsSeen = 0;
  for (double fraction : {0.5, 0.37, 0.3}) {
    const double limit = restBytes + fullTape * fraction;
    INFO("limit " << limit);
    auto cs = compiler::checkpointScans(g, "loss", wrt, limit);
    REQUIRE(cs);
    REQUIRE(cs->plans.size() == 1);
    const compiler::ScanCheckpointPlan &p = cs->plans[0];
    MESSAGE(p.describe());
    CHECK(p.steps == 30);
    CHECK(p.carryBytes == carry);
    CHECK(p.droppedYs);
    REQUIRE_FALSE(p.nesting.windows.empty());
    CHECK(p.tapeBytes() <= fullTape * fraction);
    CHECK(cs->chainLimit == limit - p.tapeBytes());
    levelsSeen = std::max<int>(levelsSeen, int(p.nesting.windows.size()));
    auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, limit, false);
    CHECK(r.recomputedNodes == 0); // the head's tape fits: only the scan recomputes
    // Recomputed steps: 3 sigmoids each, beyond the plain gradient's.
    CHECK(compiler::countOpRuns(r.graph, OpKind::Sigmoid) - plainSigmoids ==
          3 * p.nesting.recomputedSteps);
    checkSameOutputs(runtime::interpret(r.graph, b), want);
    if (fraction == 0.3)
      testing::checkJitMatchesInterpreter(compiler::gradWithMemoryLimit(g, "loss", wrt, limit).graph, b);
  }
  CHECK(levelsSeen >= 2);
  // Far too little: an error that names the scan and the least that works.
  CHECK_THROWS_WITH_AS(compiler::gradWithMemoryLimit(g, "loss", wrt, 500),
                       doctest::Contains("the tape of scan"), Error);
}

TEST_CASE("scan checkpointing: the JIT's forward values with the scan tapes stay within the limit") {
  // f32, 300 steps, 16 units, batch 4: one step's carries 512 B.
  Graph g = lstm(300, 4, 16, 3, DType::f32);
  auto wrt = paramNames(g);
  auto unlimited = compiler::gradWithMemoryLimit(g, "loss", wrt, 1e12, false);
  const int64_t full = compiler::jitForwardValuePeakWithScanTapes(unlimited.graph, g.size());
  // Most of it is the tape: 301 carries of 512 B (and the unread stacked ys).
  CHECK(full >= 301 * 512);
  for (double fraction : {0.5, 0.25, 0.125}) {
    const double limit = double(full) * fraction;
    INFO("limit " << limit << " of " << full);
    auto cs = compiler::checkpointScans(g, "loss", wrt, limit);
    REQUIRE(cs);
    auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, limit, false);
    const int64_t peak = compiler::jitForwardValuePeakWithScanTapes(r.graph, cs->graph.size());
    MESSAGE(cs->plans[0].describe() << ": measured " << peak << " B");
    CHECK(peak <= limit);
    CHECK(peak >= cs->plans[0].tapeBytes()); // the tape is counted
  }
  // Below what even 6 levels of windows need: an error saying so.
  CHECK_THROWS_WITH_AS(compiler::gradWithMemoryLimit(g, "loss", wrt, double(full) / 64),
                       doctest::Contains("even when nested 6 levels deep"), Error);
}

TEST_CASE("scan checkpointing: the training step of an LSTM over 1000 steps nests its scan") {
  // The model of cli.train.memory_limit_scan (which checks that training
  // gives the unlimited run's params): 4 units, batch 4, f32.
  Graph model = parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) +
                               "/tests/cli/data/train/lstm_adding_t1000.cj");
  runtime::train::ModelSignature sig = runtime::train::inspectModel(model);
  auto nestedFunctions = [](const Graph &g) {
    int n = 0;
    for (const auto &f : g.functions())
      n += f->name().find("_ckpt_w") != std::string::npos;
    return n;
  };
  runtime::train::StepGraphOptions so;
  CHECK(nestedFunctions(runtime::train::buildStepGraph(model, sig, so)) == 0);
  so.memoryLimit = 40000;
  CHECK(nestedFunctions(runtime::train::buildStepGraph(model, sig, so)) > 0);
  // The gradient the step holds: its forward values with the tapes, as the
  // JIT plans them, within the limit (the full tape alone is 250 KiB).
  auto cs = compiler::checkpointScans(model, "loss", sig.trainable, 40000);
  REQUIRE(cs);
  MESSAGE(cs->plans[0].describe());
  CHECK(cs->plans[0].fullTapeBytes == 2001 * 128);
  auto r = compiler::gradWithMemoryLimit(model, "loss", sig.trainable, 40000, false);
  CHECK(compiler::jitForwardValuePeakWithScanTapes(r.graph, cs->graph.size()) <= 40000);
}

TEST_CASE("scan checkpointing: two stacked LSTM layers, the first one's ys read by the second") {
  // Both scans are nested; the first keeps its per-step results (the
  // second layer's sequence), the second leaves its unread ones out.
  const int64_t T = 24, B = 2, n = 3;
  Graph g("stacked");
  Value xs = input(g, "xs", TensorType{DType::f64, {T, B, 2}});
  Value h0 = input(g, "h0", TensorType{DType::f64, {B, n}});
  auto weights = [&](const std::string &l, int64_t d, int64_t seed) {
    Attrs init{{"init", "normal"}, {"scale", 0.5}, {"seed", seed}};
    return std::vector<Value>{param(g, "Wx" + l, TensorType{DType::f64, {d, 4 * n}}, init),
                              param(g, "U" + l, TensorType{DType::f64, {n, 4 * n}}, init),
                              param(g, "b" + l, TensorType{DType::f64, {4 * n}})};
  };
  std::vector<Value> first = scan(lstmStep(B, n, 2, DType::f64, "layer1"), {h0, h0}, {xs},
                                  weights("1", 2, 1));
  std::vector<Value> second = scan(lstmStep(B, n, n, DType::f64, "layer2"), {h0, h0}, {first[2]},
                                   weights("2", n, 2));
  output(mean(second[0] * second[0]).named("loss"));
  auto wrt = paramNames(g);
  runtime::Bindings b = randomBindings(g, 9);
  auto want = runtime::interpret(compiler::grad(g, "loss", wrt), b);
  // 49 carries of 96 B plain per scan (4.6 KiB); the rest, 3.5 KiB, holds
  // the first layer's ys (24 * 48 B) among others.
  auto cs = compiler::checkpointScans(g, "loss", wrt, 6500);
  REQUIRE(cs);
  REQUIRE(cs->plans.size() == 2);
  CHECK_FALSE(cs->plans[0].droppedYs);
  CHECK(cs->plans[1].droppedYs);
  for (const auto &p : cs->plans) {
    MESSAGE(p.describe());
    CHECK_FALSE(p.nesting.windows.empty());
  }
  auto r = compiler::gradWithMemoryLimit(g, "loss", wrt, 6500);
  checkSameOutputs(runtime::interpret(r.graph, b), want);
  testing::checkJitMatchesInterpreter(r.graph, b);
}
