// scan (Scan.h, ir/ops/ControlOps.cpp): the builder helper and its layout,
// the type rule's messages, the interpreter in both directions against
// plain loops, the text form (sugar, raw form, round trip, functions printed
// before the graph) and the cost entry (the JIT: JitScanTest.cpp).
#include "FileTesting.h"
#include "GradCheck.h"
#include "RoundTrip.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Rebuild.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::errorOf;
using chainjit::testing::finiteDifference;
using chainjit::testing::randomLike;

namespace {

constexpr int64_t kN = 3, kD = 2, kT = 4;

// Elman step: h' = tanh(h W + x U), y = 2 h' (f64, row vectors).
Function elmanStep() {
  Graph body("elman");
  Value h = input(body, "h", f64({1, kN}));
  Value x = input(body, "x", f64({1, kD}));
  Value W = input(body, "W", f64({kN, kN}));
  Value U = input(body, "U", f64({kD, kN}));
  Value hn = tanh(matmul(h, W) + matmul(x, U)).named("hn");
  output(hn);
  output((hn * 2.0).named("y"));
  return Function("elman", std::move(body));
}

Tensor ramp(TensorType t, double scale, double shift) {
  Tensor r(t);
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, scale * std::sin(1.3 * double(i) + shift));
  return r;
}

struct Rnn {
  Graph g{"rnn"};
  std::vector<Value> results;
};

Rnn elmanGraph(bool reverse) {
  Rnn r;
  Value h0 = input(r.g, "h0", f64({1, kN}));
  Value xs = input(r.g, "xs", f64({kT, 1, kD}));
  Value W = input(r.g, "W", f64({kN, kN}));
  Value U = input(r.g, "U", f64({kD, kN}));
  r.results = scan(elmanStep(), {h0}, {xs}, {W, U}, reverse);
  output(r.results[0].named("hT"));
  output(r.results[1].named("ys"));
  return r;
}

runtime::Bindings elmanBindings() {
  return {{"h0", ramp(f64({1, kN}), 0.5, 0.1)},
          {"xs", ramp(f64({kT, 1, kD}), 1.0, 0.7)},
          {"W", ramp(f64({kN, kN}), 0.8, 0.3)},
          {"U", ramp(f64({kD, kN}), 0.9, 1.1)}};
}

// The same recurrence with plain loops.
std::pair<std::vector<double>, std::vector<double>> elmanByHand(bool reverse) {
  runtime::Bindings b = elmanBindings();
  std::vector<double> h = b["h0"].toDoubles(), xs = b["xs"].toDoubles(),
                      W = b["W"].toDoubles(), U = b["U"].toDoubles();
  std::vector<double> ys(kT * kN);
  for (int64_t s = 0; s < kT; ++s) {
    int64_t t = reverse ? kT - 1 - s : s;
    std::vector<double> hn(kN);
    for (int64_t j = 0; j < kN; ++j) {
      double z = 0;
      for (int64_t i = 0; i < kN; ++i)
        z += h[i] * W[i * kN + j];
      for (int64_t i = 0; i < kD; ++i)
        z += xs[t * kD + i] * U[i * kN + j];
      hn[j] = std::tanh(z);
      ys[t * kN + j] = 2 * hn[j];
    }
    h = hn;
  }
  return {h, ys};
}

void checkClose(const Tensor &got, const std::vector<double> &want) {
  REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    CHECK(got.at(static_cast<int64_t>(i)) == doctest::Approx(want[i]).epsilon(1e-12));
}

const char *kElmanText = R"(func elman(%h : f64[1, 3], %x : f64[1, 2], %W : f64[3, 3], %U : f64[2, 3]) {
  const %two : f64[] = 2.0
  %hn = tanh(add(matmul(%h, %W), matmul(%x, %U)))
  return %hn, mul(%hn, %two)
}

graph rnn {
  input %h0 : f64[1, 3]
  input %xs : f64[4, 1, 2]
  input %W : f64[3, 3]
  input %U : f64[2, 3]
  %hT, %ys = scan @elman(%h0 ; %xs ; %W, %U)
  output %hT, %ys
}
)";

} // namespace

TEST_CASE("scan: the builder returns the final carries and the stacked ys") {
  Rnn r = elmanGraph(false);
  verifyOrThrow(r.g);
  REQUIRE(r.results.size() == 2);
  CHECK(r.results[0].type() == f64({1, kN}));
  CHECK(r.results[1].type() == f64({kT, 1, kN}));
  // One scan node, its body in the graph's table.
  int scans = 0;
  for (const Node &n : r.g.nodes())
    scans += n.kind == OpKind::Scan;
  CHECK(scans == 1);
  REQUIRE(r.g.findFunction("elman") != nullptr);
  CHECK(r.g.functions().size() == 1);
  // The flat result: 3 carry elements, then 4 x 3 ys.
  for (const Node &n : r.g.nodes())
    if (n.kind == OpKind::Scan)
      CHECK(n.type == f64({kN + kT * kN}));
}

TEST_CASE("scan: the interpreter runs the body step by step, in both directions") {
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    Rnn r = elmanGraph(reverse);
    runtime::EvalResult e = runtime::interpret(r.g, elmanBindings());
    auto [h, ys] = elmanByHand(reverse);
    checkClose(e.output("hT"), h);
    checkClose(e.output("ys"), ys);
  }
}

TEST_CASE("scan: reverse stores step t's y at position t (a running sum)") {
  Graph body("acc");
  Value c = input(body, "c", f64({}));
  Value x = input(body, "x", f64({}));
  Value s = (c + x).named("s");
  output(s);
  output(s * 1.0);
  Function acc("acc", std::move(body));
  for (bool reverse : {false, true}) {
    Graph g("sums");
    Value c0 = input(g, "c0", f64({}));
    Value xs = input(g, "xs", f64({4}));
    auto r = scan(acc, {c0}, {xs}, {}, reverse);
    output(r[0].named("total"));
    output(r[1].named("partial"));
    runtime::EvalResult e = runtime::interpret(
        g, {{"c0", Tensor::scalar(DType::f64, 0.5)}, {"xs", Tensor(f64({4}), {1, 2, 3, 4})}});
    CHECK(e.output("total").at(0) == 10.5);
    std::vector<double> want = reverse ? std::vector<double>{10.5, 9.5, 7.5, 4.5}
                                       : std::vector<double>{1.5, 3.5, 6.5, 10.5};
    CHECK(e.output("partial").toDoubles() == want);
  }
}

TEST_CASE("scan: without sequences the length attribute gives T") {
  Graph body("twice");
  Value c = input(body, "c", f64({2}));
  output((c * 2.0).named("d"));
  Function twice("twice", std::move(body));
  Graph g("powers");
  Value c0 = input(g, "c0", f64({2}));
  auto r = scan(twice, {c0}, {}, {}, false, 5);
  output(r[0].named("out"));
  runtime::EvalResult e = runtime::interpret(g, {{"c0", Tensor(f64({2}), {1, -3})}});
  CHECK(e.output("out").toDoubles() == std::vector<double>{32, -96});
  CHECK(errorOf([&] { scan(twice, {c0}, {}, {}); })
            .find("a scan without sequences needs length = T >= 1") != std::string::npos);
}

TEST_CASE("scan: the type rule names what does not fit") {
  Graph g("bad");
  Value h0 = input(g, "h0", f64({1, kN}));
  Value xs = input(g, "xs", f64({kT, 1, kD}));
  Value xs5 = input(g, "xs5", f64({kT + 1, 1, kD}));
  Value W = input(g, "W", f64({kN, kN}));
  Value U = input(g, "U", f64({kD, kN}));
  Function step = elmanStep();
  CHECK(errorOf([&] { scan(step, {h0}, {xs}, {W}); })
            .find("body @elman takes 4 parameters, the scan passes 3 (1 carries, 1 "
                  "sequences, 1 invariants)") != std::string::npos);
  CHECK(errorOf([&] { scan(step, {h0}, {xs, xs5}, {W}); })
            .find("sequence #1 f64[5, 1, 2] has length 5, expected 4 (the length of "
                  "sequence #0)") != std::string::npos);
  CHECK(errorOf([&] { scan(step, {h0}, {W}, {xs, U}); })
            .find("parameter #1 is f64[1, 2], but a step of sequence #0 f64[3, 3] is f64[3]") !=
        std::string::npos);

  // A body whose carry comes back with another shape.
  Graph body("grow");
  Value h = input(body, "h", f64({2}));
  output(concat({h, h}).named("h2"));
  Function grow("grow", std::move(body));
  Value c0 = input(g, "c0", f64({2}));
  CHECK(errorOf([&] { scan(grow, {c0}, {}, {}, false, 3); })
            .find("body @grow changes carry #0 from f64[2] to f64[4]: a carry keeps its type") !=
        std::string::npos);
}

TEST_CASE("scan: the verifier resolves the body in the graph's table") {
  Rnn r = elmanGraph(false);
  Graph copy("rnn");
  // A graph rebuilt node by node without the table no longer verifies.
  for (NodeId i = 0; i < r.g.size(); ++i)
    copy.appendUnchecked(r.g.node(i));
  CHECK(errorOf([&] { verifyOrThrow(copy); }).find("scan: unknown body function @elman") !=
        std::string::npos);
  // GraphRebuilder carries the table over.
  GraphRebuilder rb(r.g);
  for (NodeId i = 0; i < r.g.size(); ++i)
    rb.copy(i);
  Graph rebuilt = rb.finish();
  CHECK_NOTHROW(verifyOrThrow(rebuilt));
  // Another function under a taken name is refused.
  Graph other("elman");
  Value a = input(other, "a", f64({}));
  output(a * 3.0);
  CHECK(errorOf([&] { r.g.addFunction(std::make_shared<const Function>("elman", other)); })
            .find("another function named 'elman'") != std::string::npos);
}

TEST_CASE("scan: text form sugar, functions printed first, round trip") {
  Graph g = parseGraph(kElmanText, "rnn.cj");
  runtime::EvalResult e = runtime::interpret(g, elmanBindings());
  auto [h, ys] = elmanByHand(false);
  checkClose(e.output("hT"), h);
  checkClose(e.output("ys"), ys);
  std::string text = chainjit::testing::checkRoundTrip(g);
  CHECK(text.find("func elman(") == 0);
  CHECK(text.find("graph rnn {") != std::string::npos);
  CHECK(text.find("scan(%h0, %xs, %W, %U) {body = \"elman\", sequences = 1} : f64[15]") !=
        std::string::npos);
  // The builder's graph round-trips as well.
  chainjit::testing::checkRoundTrip(elmanGraph(false).g);
  // reverse and a named raw scan round-trip too.
  Graph rev = parseGraph(std::string(kElmanText).replace(
                             std::string(kElmanText).find("%W, %U)"), 7, "%W, %U) {reverse = true}"),
                         "rev.cj");
  checkClose(runtime::interpret(rev, elmanBindings()).output("ys"), elmanByHand(true).second);
  chainjit::testing::checkRoundTrip(rev);
}

TEST_CASE("scan: a function body may scan another function") {
  const char *ok = R"(func inc(%c : f64[], %x : f64[]) {
  return add(%c, %x)
}

func total(%xs : f64[3]) {
  const %z : f64[] = 0.0
  %s = scan @inc(%z ; %xs)
  return %s
}

graph g {
  input %rows : f64[2, 3]
  %r = scan @total(; %rows)
  output %r
}
)";
  Graph g = parseGraph(ok, "nested.cj");
  runtime::EvalResult e = runtime::interpret(g, {{"rows", Tensor(f64({2, 3}), {1, 2, 3, 4, 5, 6})}});
  CHECK(e.outputs[0].toDoubles() == std::vector<double>{6, 15});
  std::string printed = chainjit::testing::checkRoundTrip(g);
  CHECK(printed.find("func inc(") < printed.find("func total("));
}

TEST_CASE("scan: the cost is the step's cost times T") {
  Rnn r = elmanGraph(false);
  NodeId scanId = 0;
  for (NodeId i = 0; i < r.g.size(); ++i)
    if (r.g.node(i).kind == OpKind::Scan)
      scanId = i;
  const Graph &body = r.g.findFunction("elman")->body();
  double tangent = 0, adjoint = 0;
  for (NodeId b = 0; b < body.size(); ++b) {
    if (isSource(body.node(b).kind))
      continue;
    std::vector<bool> act; // inputs and computed values; consts are not active
    for (NodeId o : body.node(b).operands)
      act.push_back(!isSource(body.node(o).kind) || body.node(o).kind == OpKind::Input);
    compiler::OpCost c = compiler::opCost(body, b, act);
    tangent += c.tangent;
    adjoint += c.adjoint;
  }
  compiler::OpCost c = compiler::opCost(r.g, scanId, {true, true, true, true});
  CHECK(tangent > 0);
  CHECK(c.tangent == doctest::Approx(kT * tangent));
  CHECK(c.adjoint == doctest::Approx(kT * adjoint));
  CHECK(c.tapeBytes == doctest::Approx(kT * kN * 8.0));
}

// --- derivatives: first and second, against central finite differences ---

namespace {

// An LSTM cell: carries h, c [1, 2]; step input x [1, 3]; invariants W
// [5, 8] (gates from [h, x]) and b [8]; per-step result h'.
Function lstmCell() {
  Graph body("lstm");
  Value h = input(body, "h", f64({1, 2}));
  Value c = input(body, "c", f64({1, 2}));
  Value x = input(body, "x", f64({1, 3}));
  Value W = input(body, "W", f64({5, 8}));
  Value b = input(body, "b", f64({8}));
  Value z = matmul(concat({h, x}, 1), W) + b;
  Value i = sigmoid(slice(z, {0, 0}, {1, 2}));
  Value f = sigmoid(slice(z, {0, 2}, {1, 4}));
  Value o = sigmoid(slice(z, {0, 4}, {1, 6}));
  Value g = tanh(slice(z, {0, 6}, {1, 8}));
  Value cn = (f * c + i * g).named("cn");
  Value hn = (o * tanh(cn)).named("hn");
  output(hn);
  output(cn);
  output(hn * 1.0);
  return Function("lstm", std::move(body));
}

Graph lstmLoss(bool reverse) {
  Graph g("lstm_loss");
  Value h0 = input(g, "h0", f64({1, 2}));
  Value c0 = input(g, "c0", f64({1, 2}));
  Value xs = input(g, "xs", f64({3, 1, 3}));
  Value W = input(g, "W", f64({5, 8}));
  Value b = input(g, "b", f64({8}));
  auto r = scan(lstmCell(), {h0, c0}, {xs}, {W, b}, reverse);
  // A scalar that mixes every piece: final h and c, and the stacked ys.
  output((sum(r[0] * r[1]) + sum(r[2] * r[2])).named("loss"));
  return g;
}

Graph elmanLoss() {
  Rnn r = elmanGraph(false);
  output((sum(r.results[0]) + sum(r.results[1] * r.results[1])).named("loss"));
  return std::move(r.g);
}

runtime::Bindings randomInputs(const Graph &g, uint32_t seed) {
  std::mt19937 rng(seed);
  runtime::Bindings b;
  for (NodeId id : g.inputs())
    b[g.node(id).name] = randomLike(g.type(id), rng);
  return b;
}

double relErr(double got, double want) {
  return std::fabs(got - want) / std::max(1.0, std::fabs(want));
}

// JVP (k = 2 directions) and VJP of the scalar `loss` against central
// differences, on the interpreter.
void checkFirstDerivatives(const Graph &f, const std::vector<std::string> &wrt) {
  runtime::Bindings b = randomInputs(f, 7);
  std::mt19937 rng(11);
  const int64_t k = 2;
  runtime::Bindings jb = b;
  std::map<std::string, std::vector<Tensor>> dirs;
  for (const std::string &w : wrt) {
    TensorType t = f.type(f.lookup(w));
    Tensor stacked({t.dtype, directionShape(k, t.shape)});
    for (int64_t d = 0; d < k; ++d) {
      Tensor one = randomLike(t, rng);
      for (int64_t i = 0; i < one.numel(); ++i)
        stacked.set(d * one.numel() + i, one.at(i));
      dirs[w].push_back(one);
    }
    jb["tangent." + w] = stacked;
  }
  Graph jg = compiler::jvp(f, "loss", wrt, k);
  std::vector<double> tangent =
      runtime::interpretAll(jg, jb).at(jg.lookup("tangent.loss")).toDoubles();
  Graph vg = compiler::vjp(f, "loss", wrt, 1);
  runtime::Bindings vb = b;
  vb["adjoint.loss"] = Tensor(f64({1}), {1.0});
  auto all = runtime::interpretAll(vg, vb);
  for (int64_t d = 0; d < k; ++d) {
    std::map<std::string, Tensor> v;
    for (const std::string &w : wrt)
      v[w] = dirs[w][d];
    double fd = finiteDifference(f, b, "loss", v)[0];
    INFO("direction " << d);
    CHECK(relErr(tangent[d], fd) <= 1e-6);
    double rhs = 0;
    for (const std::string &w : wrt) {
      std::vector<double> a = all.at(vg.lookup("adjoint." + w)).toDoubles();
      for (int64_t i = 0; i < v[w].numel(); ++i)
        rhs += a[i] * v[w].at(i);
    }
    CHECK(relErr(rhs, fd) <= 1e-6);
  }
}

// A Hessian-vector product (a tangent of the adjoint: scans of scans)
// against central differences of the gradient.
void checkSecondDerivatives(const Graph &f, const std::vector<std::string> &wrt) {
  runtime::Bindings b = randomInputs(f, 3);
  std::mt19937 rng(5);
  Graph hg = compiler::hvp(f, "loss", wrt);
  Graph gg = compiler::grad(f, "loss", wrt);
  runtime::Bindings hb = b;
  std::map<std::string, Tensor> v;
  for (const std::string &w : wrt) {
    v[w] = randomLike(f.type(f.lookup(w)), rng);
    hb["direction." + w] = v[w];
  }
  auto all = runtime::interpretAll(hg, hb);
  for (const std::string &w : wrt) {
    std::vector<double> got = all.at(hg.lookup("hvp." + w)).toDoubles();
    std::vector<double> fd = finiteDifference(gg, b, "grad." + w, v);
    REQUIRE(got.size() == fd.size());
    for (size_t i = 0; i < fd.size(); ++i) {
      INFO("hvp." << w << "[" << i << "]");
      CHECK(relErr(got[i], fd[i]) <= 1e-6);
    }
  }
}

} // namespace

TEST_CASE("scan derivatives: an Elman RNN's JVP and VJP equal finite differences") {
  checkFirstDerivatives(elmanLoss(), {"h0", "xs", "W", "U"});
}

TEST_CASE("scan derivatives: an LSTM cell's JVP and VJP, both directions in time") {
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    checkFirstDerivatives(lstmLoss(reverse), {"h0", "c0", "xs", "W", "b"});
  }
}

TEST_CASE("scan derivatives: second derivatives (Hessian-vector products) of scans") {
  checkSecondDerivatives(elmanLoss(), {"h0", "xs", "W"});
  checkSecondDerivatives(lstmLoss(false), {"c0", "W", "b"});
}

TEST_CASE("scan derivatives: the derivative graphs are scans that print and parse back") {
  Graph vg = compiler::vjp(elmanLoss(), "loss", {"W"}, 1);
  int scans = 0;
  for (const Node &n : vg.nodes())
    scans += n.kind == OpKind::Scan;
  CHECK(scans >= 2); // the tape and the reverse sweep (the primal may be shared)
  std::string text = chainjit::testing::checkRoundTrip(vg);
  CHECK(text.find("func elman_tape(") != std::string::npos);
  CHECK(text.find("func elman_vjp1_") != std::string::npos);
}
