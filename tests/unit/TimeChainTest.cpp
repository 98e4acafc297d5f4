// The chain-order optimizer through time (compiler/src/chain/TimeChains.cpp,
// docs/cost-model.md "Recurrences"): a scan is one step factor x T in the
// chain; the planner chooses backward in time (BPTT) or forward in time by
// cost; the emitted Jacobian graph runs exactly the chosen scans, and every
// plan gives the same Jacobian.
#include "FileTesting.h"
#include "GradCheck.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/CostReport.h"
#include "chainjit/compiler/JacobianByPlan.h"
#include "chainjit/compiler/TimeChains.h"
#include "chainjit/ir/Parser.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace chainjit;
using namespace chainjit::ir;
using namespace chainjit::compiler;
using chainjit::testing::randomBindings;
using chainjit::testing::valueOf;

namespace {

// An Elman RNN over T steps (state n, input d, ny outputs per step), f64,
// every weight an input so that any of them can be a wrt value.
Graph elman(int T, int n, int d, int ny) {
  return parseGraph(fmt::format(R"(
func cell(%h : f64[1, {n}], %x : f64[1, {d}], %W : f64[{n}, {n}], %U : f64[{d}, {n}],
          %V : f64[{n}, {ny}]) {{
  %hn = tanh(add(matmul(%h, %W), matmul(%x, %U)))
  return %hn, matmul(%hn, %V)
}}
graph rnn {{
  input %xs : f64[{T}, 1, {d}]
  input %h0 : f64[1, {n}]
  input %W : f64[{n}, {n}]
  input %U : f64[{d}, {n}]
  input %V : f64[{n}, {ny}]
  %hT, %ys = scan @cell(%h0 ; %xs ; %W, %U, %V)
  %loss = sum(mul(%ys, %ys))
  output %loss, %ys, %hT
}}
)",
                                fmt::arg("T", T), fmt::arg("n", n), fmt::arg("d", d),
                                fmt::arg("ny", ny)),
                    "elman.cj");
}

// The element-wise (diagonal) recurrence h_t = tanh(a * h_(t-1) + x_t).
Graph diagonal(int T, int n) {
  return parseGraph(fmt::format(R"(
func cell(%h : f64[1, {n}], %x : f64[1, {n}], %a : f64[1, {n}]) {{
  return tanh(add(mul(%a, %h), %x))
}}
graph drnn {{
  input %xs : f64[{T}, 1, {n}]
  input %h0 : f64[1, {n}]
  input %a : f64[1, {n}]
  %hT = scan @cell(%h0 ; %xs ; %a)
  %loss = sum(mul(%hT, %hT))
  output %loss, %hT
}}
)",
                                fmt::arg("T", T), fmt::arg("n", n)),
                    "diagonal.cj");
}

// A batch of B sequences through one Elman cell (state [B, n], shared W).
Graph batchedElman(int T, int B, int n) {
  return parseGraph(fmt::format(R"(
func cell(%h : f64[{B}, {n}], %x : f64[{B}, 2], %W : f64[{n}, {n}], %U : f64[2, {n}]) {{
  return tanh(add(matmul(%h, %W), matmul(%x, %U)))
}}
graph brnn {{
  input %xs : f64[{T}, {B}, 2]
  input %h0 : f64[{B}, {n}]
  input %W : f64[{n}, {n}]
  input %U : f64[2, {n}]
  %hT = scan @cell(%h0 ; %xs ; %W, %U)
  %loss = sum(mul(%hT, %hT))
  output %loss, %hT
}}
)",
                                fmt::arg("T", T), fmt::arg("B", B), fmt::arg("n", n)),
                    "batched.cj");
}

const ChainFactor &recurrence(const JacobianChain &c) {
  for (const ChainFactor &f : c.factors)
    if (f.steps > 1)
      return f;
  FAIL("no recurrence factor in the chain");
  return c.factors.front();
}

// The scans of an emitted Jacobian graph, by what they do.
struct ScanCounts {
  int primal = 0, tangent = 0, tape = 0, adjoint = 0; // adjoint: backward in time
  int64_t tangentDirections = 0, adjointRows = 0;
};
ScanCounts countScans(const Graph &g) {
  ScanCounts s;
  for (NodeId i = 0; i < g.size(); ++i) {
    const Node &n = g.node(i);
    if (n.kind != OpKind::Scan)
      continue;
    const std::string &body = n.attrs.getString("body");
    bool reverse = n.attrs.getBool("reverse");
    // Body names say what they are: cell, cell_jvp<k>_<mask>, cell_tape,
    // cell_vjp<k>_<mask>.
    auto directions = [&](const std::string &tag) {
      size_t at = body.find(tag) + tag.size();
      return std::stoll(body.substr(at, body.find('_', at) - at));
    };
    if (body.find("_jvp") != std::string::npos) {
      CHECK_FALSE(reverse);
      ++s.tangent;
      s.tangentDirections = directions("_jvp");
    } else if (body.find("_vjp") != std::string::npos) {
      CHECK(reverse); // the adjoint of a forward scan runs backward in time
      ++s.adjoint;
      s.adjointRows = directions("_vjp");
    } else if (body.find("_tape") != std::string::npos) {
      ++s.tape;
    } else {
      ++s.primal;
    }
  }
  return s;
}

// Forward mode, reverse mode and the plan give the same Jacobian.
void checkPlansAgree(const Graph &f, const std::string &of, const std::string &wrt,
                     const Graph &planned) {
  runtime::Bindings b = randomBindings(f, 7);
  std::string name = "jacobian." + of + "." + wrt;
  auto fwd = valueOf(jacobian(f, of, wrt, JacobianMode::Forward), b, name).toDoubles();
  auto rev = valueOf(jacobian(f, of, wrt, JacobianMode::Reverse), b, name).toDoubles();
  auto opt = valueOf(planned, b, name).toDoubles();
  REQUIRE(fwd.size() == rev.size());
  REQUIRE(fwd.size() == opt.size());
  double largest = 0;
  for (size_t i = 0; i < fwd.size(); ++i) {
    INFO("element " << i);
    CHECK(testing::relativeError(rev[i], fwd[i]) <= 1e-12);
    CHECK(testing::relativeError(opt[i], fwd[i]) <= 1e-12);
    largest = std::max(largest, std::fabs(fwd[i]));
  }
  CHECK(largest > 1e-3); // not trivially zero
}

// The plan's sweep through time, and the emitted graph doing exactly it:
// forward in time is one tangent scan with the plan's directions and no
// adjoint scan; backward in time is the tape scan and one reverse adjoint
// scan with the plan's rows, and no tangent scan.
TimeSweep checkEmission(const Graph &f, const std::string &of, const std::string &wrt,
                        const PlannerOptions &opts = {}) {
  GraphChain gc = extractChain(f, of, {wrt});
  BracketingPlan plan = planChain(gc.chain, opts);
  std::vector<TimeSweep> sweeps = timeSweeps(gc.chain, plan);
  REQUIRE(sweeps.size() == 1);
  Graph j = plannedJacobian(f, of, wrt, opts, /*simplify=*/false);
  ScanCounts s = countScans(j);
  INFO("plan " << plan.expression(gc.chain));
  CHECK(s.primal == 1);
  if (sweeps[0].direction == TimeDirection::Forward) {
    CHECK(s.tangent == 1);
    CHECK(s.tangentDirections == sweeps[0].directions);
    CHECK(s.adjoint == 0);
    CHECK(s.tape == 0);
  } else {
    CHECK(s.tangent == 0);
    CHECK(s.adjoint == 1);
    CHECK(s.adjointRows == sweeps[0].directions);
    CHECK(s.tape == 1);
  }
  checkPlansAgree(f, of, wrt, j);
  return sweeps[0];
}

} // namespace

TEST_CASE("time chains: a scan is one step factor x T, its costs T times the step's") {
  Graph f = elman(6, 3, 2, 2);
  GraphChain gc = extractChain(f, "loss", {"W"});
  const ChainFactor &r = recurrence(gc.chain);
  CHECK(r.steps == 6);
  CHECK(r.label == "@cell");
  CHECK(r.step.body == "cell");
  CHECK(r.step.state == 3);
  CHECK(r.step.in == 9);  // W enters every step
  CHECK(r.step.out == 2); // y_t
  CHECK(r.step.structure == JacobianStructure::Dense);
  CHECK(r.step.tangentCost > 0);
  CHECK(r.tangentCost == doctest::Approx(6 * r.step.tangentCost));
  CHECK(r.adjointCost == doctest::Approx(6 * r.step.adjointCost));
  CHECK(r.tapeBytes == doctest::Approx(6 * 3 * 8)); // BPTT keeps T states
  // Twice the steps, twice the cost; the step factor stays the same.
  GraphChain longer = extractChain(elman(12, 3, 2, 2), "loss", {"W"});
  CHECK(recurrence(longer.chain).step.tangentCost == doctest::Approx(r.step.tangentCost));
  CHECK(recurrence(longer.chain).tangentCost == doctest::Approx(2 * r.tangentCost));

  // The report shows the step once, with its count, in text and JSON.
  ChainCostSummary s = summarizeChain(gc.chain);
  CostReportInput in{"rnn", &gc.chain, &s, std::nullopt};
  std::string text = costReportText(in);
  CHECK(text.find("= step factor \u00d76 of @cell: 3 x 3 dense, per step t ") != std::string::npos);
  CHECK(text.find("through time: @cell \u00d76 backward in time (BPTT: adjoint scan, 1 row, "
                  "tape 144 bytes)") != std::string::npos);
  std::string json = costReportJson(in);
  CHECK(json.find("\"steps\": 6") != std::string::npos);
  CHECK(json.find("\"direction\": \"backward\"") != std::string::npos);
}

TEST_CASE("time chains: an element-wise recurrence has a diagonal step and a diagonal scan") {
  Graph f = diagonal(5, 4);
  for (const char *wrt : {"a", "h0"}) {
    GraphChain gc = extractChain(f, "hT", {wrt});
    const ChainFactor &r = recurrence(gc.chain);
    CHECK(r.step.structure == JacobianStructure::Diagonal);
    CHECK(r.structure == JacobianStructure::Diagonal); // d hT / d a is diagonal
  }
  // Through the sequence the scan is not square: dense, its step diagonal.
  GraphChain gx = extractChain(f, "hT", {"xs"});
  CHECK(recurrence(gx.chain).step.structure == JacobianStructure::Diagonal);
  CHECK(recurrence(gx.chain).structure == JacobianStructure::Dense);
  // A matmul by W mixes the state: dense.
  CHECK(recurrence(extractChain(elman(5, 4, 2, 1), "hT", {"h0"}).chain).step.structure ==
        JacobianStructure::Dense);
}

TEST_CASE("time chains: the compact step factor plans like its T explicit step factors") {
  // x (p) -G-> h_0 (n) -F-> ... -F-> h_T (n) -H-> y (q), F costing tau per
  // direction: the DP over the T explicit factors finds what the one
  // compact factor with T times the costs gives.
  for (bool diag : {false, true})
    for (int T : {1, 3, 8})
      for (int64_t p : {1, 4, 20})
        for (int64_t q : {1, 6, 30}) {
          const int64_t n = 6;
          const double tau = diag ? double(n) : double(n * n);
          auto factor = [](int64_t in, int64_t out, double t, double e) {
            ChainFactor f;
            f.n = in;
            f.m = out;
            f.tangentCost = f.adjointCost = f.forwardCost = t;
            f.tapeBytes = e;
            f.inputBytes = 8.0 * double(in);
            return f;
          };
          JacobianChain explicitChain, compact;
          explicitChain.factors.push_back(factor(p, n, double(p * n), 8.0 * double(p)));
          compact.factors.push_back(explicitChain.factors.back());
          for (int t = 0; t < T; ++t) {
            explicitChain.factors.push_back(factor(n, n, tau, 8.0 * double(n)));
            if (diag)
              explicitChain.factors.back().structure = JacobianStructure::Diagonal;
          }
          ChainFactor c = factor(n, n, T * tau, T * 8.0 * double(n));
          c.steps = T;
          c.step.state = n;
          if (diag)
            c.structure = c.step.structure = JacobianStructure::Diagonal;
          compact.factors.push_back(c);
          explicitChain.factors.push_back(factor(n, q, double(n * q), 8.0 * double(n)));
          compact.factors.push_back(explicitChain.factors.back());
          INFO("diag " << diag << " T " << T << " p " << p << " q " << q);
          double full = planChain(explicitChain).cost, small = planChain(compact).cost;
          if (!diag) {
            CHECK(small == doctest::Approx(full));
          } else {
            // Diagonal steps: one sweep seeded with ones recovers the whole
            // diagonal product, cheaper than T leaves and T - 1 products.
            CHECK(small <= full);
            CHECK(small >= full - double(T - 1) * double(n) - double(T - 1) * tau);
          }
        }
}

TEST_CASE("time chains: a scalar loss is differentiated backward in time (BPTT)") {
  for (auto [T, n] : {std::pair{3, 2}, {6, 4}, {10, 3}}) {
    Graph f = elman(T, n, 2, 2);
    for (const char *wrt : {"W", "U", "h0", "xs"}) {
      INFO("T " << T << " n " << n << " wrt " << wrt);
      TimeSweep s = checkEmission(f, "loss", wrt);
      CHECK(s.direction == TimeDirection::Backward);
      CHECK(s.directions == 1);
    }
  }
}

TEST_CASE("time chains: the trajectory's Jacobian goes forward in time where that is cheaper") {
  // d ys / d theta: forward in time costs p T tau (p = |theta| directions),
  // backward T ny T a (one adjoint scan per output row). The plan follows
  // the cheaper, and the choice flips with T, the state size, the number of
  // inputs and the number of outputs.
  struct Case {
    int T, n, ny;
    const char *of, *wrt;
    TimeDirection want;
  };
  const Case cases[] = {
      {8, 3, 2, "ys", "h0", TimeDirection::Forward},  // 3 inputs, 16 outputs
      {8, 3, 2, "ys", "W", TimeDirection::Forward},   // 9 inputs, 16 outputs
      {2, 3, 2, "ys", "W", TimeDirection::Backward},  // T: 9 inputs, 4 outputs
      {8, 5, 2, "ys", "W", TimeDirection::Backward},  // state: 25 inputs, 16 outputs
      {8, 5, 2, "ys", "h0", TimeDirection::Forward},  // inputs: 5 inputs
      {8, 3, 2, "hT", "W", TimeDirection::Backward},  // outputs: 3 outputs
      {8, 3, 1, "ys", "U", TimeDirection::Forward},   // 6 inputs, 8 outputs
      {8, 3, 1, "ys", "xs", TimeDirection::Backward}, // 16 inputs, 8 outputs
  };
  int mixed = 0;
  for (const Case &c : cases) {
    Graph f = elman(c.T, c.n, 2, c.ny);
    INFO("T " << c.T << " n " << c.n << " ny " << c.ny << " d " << c.of << " / d " << c.wrt);
    GraphChain gc = extractChain(f, c.of, {c.wrt});
    ChainCostSummary s = summarizeChain(gc.chain);
    // The choice is the cost model's: the cheaper pure sweep through time.
    TimeDirection cheaper = s.pureTangent.cost < s.pureAdjoint.cost ? TimeDirection::Forward
                                                                    : TimeDirection::Backward;
    CHECK(cheaper == c.want);
    TimeSweep sweep = checkEmission(f, c.of, c.wrt);
    CHECK(sweep.direction == c.want);
    // Mixed plans: BPTT through the scan, tangents through the slices after it.
    BracketingPlan p = planChain(gc.chain);
    bool tangents = p.count(PlanStep::TangentLeaf) + p.count(PlanStep::Tangent) > 0;
    bool adjoints = p.count(PlanStep::AdjointLeaf) + p.count(PlanStep::Adjoint) > 0;
    mixed += tangents && adjoints;
    if (c.want == TimeDirection::Forward) {
      CHECK(sweep.tapeBytes == 0);
      CHECK(sweep.directions == recurrence(gc.chain).n);
    }
  }
  CHECK(mixed > 0);
}

TEST_CASE("time chains: an element-wise recurrence is as cheap forward in time as BPTT, "
          "without a tape") {
  const int T = 20, n = 8;
  Graph f = diagonal(T, n);
  GraphChain gc = extractChain(f, "loss", {"a"});
  ChainCostSummary s = summarizeChain(gc.chain);
  // Without a limit BPTT is (barely) cheapest and keeps T states.
  TimeSweep bptt = timeSweeps(gc.chain, s.optimum).front();
  CHECK(bptt.direction == TimeDirection::Backward);
  CHECK(s.optimum.tapeBytes >= double(T * n * 8));
  // With no room for a tape the plan goes forward in time with one
  // direction (the diagonal, seeded with ones) at BPTT's cost plus n.
  PlannerOptions none;
  none.tapeLimit = 0;
  BracketingPlan fwd = planChain(gc.chain, none);
  TimeSweep sweep = timeSweeps(gc.chain, fwd).front();
  CHECK(sweep.direction == TimeDirection::Forward);
  CHECK(sweep.directions == 1);
  CHECK(fwd.tapeBytes == 0);
  CHECK(fwd.cost <= s.optimum.cost + 2 * n);
  checkEmission(f, "loss", "a", none);
  // d hT / d a itself is diagonal: forward in time is the optimum outright.
  TimeSweep own = checkEmission(f, "hT", "a");
  CHECK(own.direction == TimeDirection::Forward);
  CHECK(own.directions == 1);

  // The same without structure (a dense transition h W): forward in time
  // costs about n times BPTT.
  Graph dense = elman(T, n, 2, 1);
  GraphChain dc = extractChain(dense, "loss", {"h0"});
  ChainCostSummary ds = summarizeChain(dc.chain);
  BracketingPlan dfwd = planChain(dc.chain, none);
  CHECK(timeSweeps(dc.chain, dfwd).front().direction == TimeDirection::Forward);
  CHECK(dfwd.cost >= 0.5 * n * ds.optimum.cost);
}

TEST_CASE("time chains: a chain file's xT factor stands for T steps") {
  JacobianChain c = parseChainText("# a scalar loss through 50 steps\n"
                                   "100 16 1600 1600 0\n"
                                   "16 16 256 256 128 x50\n"
                                   "16 1 16 16 \u00d71\n",
                                   "rnn.chain");
  REQUIRE(c.size() == 3);
  const ChainFactor &r = c.factors[1];
  CHECK(r.steps == 50);
  CHECK(r.tangentCost == 50 * 256);
  CHECK(r.adjointCost == 50 * 256);
  CHECK(r.tapeBytes == 50 * 128);
  CHECK(r.step.tangentCost == 256);
  CHECK(r.step.state == 16);
  CHECK(c.factors[2].steps == 1);
  BracketingPlan p = planChain(c);
  CHECK(p.expression(c) == "adj[F1..F3]");
  CHECK(timeSweeps(c, p).front().direction == TimeDirection::Backward);

  CHECK(testing::errorOf([] { parseChainText("4 5 1 1 x3\n", "c.chain"); }) ==
        "c.chain:1:9: error: a step factor repeated 3 times must be square, got n = 4, m = 5");
  CHECK(testing::errorOf([] { parseChainText("4 4 1 1 x0\n", "c.chain"); }) ==
        "c.chain:1:9: error: expected a step count 'xT' with T a positive integer, got 'x0'");
  CHECK(testing::errorOf([] { parseChainText("4 4 1e305 1 x1000000\n", "c.chain"); }) ==
        "c.chain:1:13: error: the costs of 1000000 steps overflow a double; use smaller numbers");
  CHECK(testing::errorOf([] { parseChainText("4 4 1 1 x2.5\n", "c.chain"); }) ==
        "c.chain:1:9: error: expected a step count 'xT' with T a positive integer, got 'x2.5'");
  CHECK(testing::errorOf([] { parseChainText("4 4 1 1 x2 7\n", "c.chain"); }) ==
        "c.chain:1:12: error: nothing may follow the step count 'x2'");
}

TEST_CASE("time chains: a batch of sequences is block-diagonal seen from h_0") {
  const int T = 6, B = 4, n = 3;
  Graph f = batchedElman(T, B, n);
  GraphChain gc = extractChain(f, "hT", {"h0"});
  const ChainFactor &r = recurrence(gc.chain);
  CHECK(r.step.structure == JacobianStructure::Dense); // h W mixes the state
  CHECK(r.structure == JacobianStructure::BlockDiagonal);
  CHECK(r.blocks == B);
  // n compressed directions forward in time instead of B n.
  TimeSweep s = checkEmission(f, "hT", "h0");
  CHECK(s.direction == TimeDirection::Forward);
  CHECK(s.directions == n);
  BracketingPlan p = planChain(gc.chain);
  CHECK(p.cost <= double(n) * r.tangentCost + 1e-9);
  // The shared weight couples the rows: dense with respect to W.
  CHECK(recurrence(extractChain(f, "hT", {"W"}).chain).structure == JacobianStructure::Dense);
  // A scalar loss still goes backward in time.
  CHECK(checkEmission(f, "loss", "h0").direction == TimeDirection::Backward);
}
