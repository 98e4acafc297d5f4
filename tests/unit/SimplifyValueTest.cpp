// The simplification passes keep values: on random graphs and on derivative
// graphs (an MLP's gradient, Hessians, forward and reverse Jacobians), every
// output, update and surviving name evaluates bit for bit as before, output
// names stay, and every pass's result verifies. Derivative graphs shrink.
#include "GradCheck.h"
#include "RandomGraph.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::randomBindings;

namespace {

// Equal elements (NaN equal to NaN); -0.0 equals 0.0 (x + 0 -> x keeps the
// sign of a zero x, documented).
bool sameValues(const Tensor &a, const Tensor &b) {
  if (a.type() != b.type())
    return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    if (!(x == y || (std::isnan(x) && std::isnan(y))))
      return false;
  }
  return true;
}

bool closeValues(const Tensor &a, const Tensor &b, double tol = 1e-12) {
  if (a.type() != b.type())
    return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (!(std::fabs(a.at(i) - b.at(i)) <= tol * std::max(1.0, std::fabs(a.at(i)))))
      return false;
  return true;
}

bool allFinite(const Tensor &t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.at(i)))
      return false;
  return true;
}

// `after` computes what `before` does under `b`: outputs (and their names),
// updated params, and every name of `before` that `after` still has.
void checkSameValues(const Graph &before, const Graph &after, const runtime::Bindings &b) {
  REQUIRE(verify(after).empty());
  REQUIRE(after.outputs().size() == before.outputs().size());
  REQUIRE(after.updates().size() == before.updates().size());
  auto x = runtime::interpretAll(before, b);
  auto y = runtime::interpretAll(after, b);
  for (size_t i = 0; i < before.outputs().size(); ++i) {
    NodeId o = before.outputs()[i], p = after.outputs()[i];
    INFO("output " << i << " " << before.node(o).label(o));
    if (!before.node(o).name.empty())
      CHECK(after.node(p).name == before.node(o).name);
    CHECK(sameValues(x[o], y[p]));
  }
  for (size_t i = 0; i < before.updates().size(); ++i) {
    const ParamUpdate &u = before.updates()[i], &v = after.updates()[i];
    INFO("update of %" << before.node(u.param).name);
    CHECK(after.node(v.param).name == before.node(u.param).name);
    CHECK(sameValues(x[u.value], y[v.value]));
  }
  for (NodeId id = 0; id < before.size(); ++id) {
    const std::string &name = before.node(id).name;
    if (name.empty())
      continue;
    if (auto there = after.find(name)) {
      INFO("value %" << name);
      CHECK(sameValues(x[id], y[*there]));
    }
  }
}

// Each pass alone (verified by runPasses), then the pipeline.
void checkEveryPass(const Graph &g, const runtime::Bindings &b) {
  for (const char *pass : {"fold-constants", "simplify", "cse", "simplify-all"}) {
    INFO("pass " << pass);
    checkSameValues(g, compiler::runPasses(g, {pass}), b);
  }
}

// A two-layer classifier, f64.
Graph mlp() {
  Graph g("mlp");
  Value x = input(g, "x", f64({6, 4}));
  Value labels = input(g, "labels", i32({6}));
  Value W1 = param(g, "W1", f64({4, 5}), {{"init", "normal"}, {"seed", 1}});
  Value b1 = param(g, "b1", f64({5}));
  Value W2 = param(g, "W2", f64({5, 3}), {{"init", "normal"}, {"seed", 2}});
  Value b2 = param(g, "b2", f64({3}));
  Value h = relu(matmul(x, W1) + b1).named("h");
  Value logits = (matmul(h, W2) + b2).named("logits");
  output(crossEntropy(logits, labels).named("loss"));
  return g;
}

// A smooth function of one vector, for Hessians and Jacobians.
Graph smooth() {
  Graph g("smooth");
  Value x = input(g, "x", f64({4}));
  Value A = param(g, "A", f64({4, 3}), {{"init", "normal"}, {"seed", 3}});
  Value y = tanh(matmul(x, A)).named("y");
  Value s = softmax(y * y, -1).named("s");
  output(s);
  output((sum(log(s) * s) + sum(sigmoid(x) * x)).named("f"));
  return g;
}

size_t nodeCount(const Graph &g) { return g.size(); }

} // namespace

TEST_CASE("simplify passes keep the values of random graphs (f64 and f32)") {
  int checked = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    testing::RandomGraphOptions o;
    o.dtype = seed % 4 == 0 ? DType::f32 : DType::f64;
    o.numOps = 8 + static_cast<int>(seed % 10);
    o.updates = seed % 3 == 0;
    Graph g = testing::randomGraph(seed, o);
    runtime::Bindings b = randomBindings(g, static_cast<uint32_t>(seed));
    // Strong zeros change nothing where every value is finite, which the
    // safe domains make likely; skip the rare graph that overflows.
    bool finite = true;
    for (const Tensor &t : runtime::interpretAll(g, b))
      finite = finite && (!isFloat(t.dtype()) || allFinite(t));
    if (!finite)
      continue;
    INFO("random graph, seed " << seed << ":\n" << printGraph(g));
    checkEveryPass(g, b);
    ++checked;
  }
  CHECK(checked >= 150);
}

TEST_CASE("fold-constants and cse are bit-exact, also on nan, inf and -0.0") {
  int folded = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    testing::RandomGraphOptions o;
    o.dtype = seed % 2 ? DType::f64 : DType::f32;
    o.specialFloats = true;
    o.safeDomains = false;
    o.maxConsts = 4;
    Graph g = testing::randomGraph(seed, o);
    runtime::Bindings b = randomBindings(g, static_cast<uint32_t>(seed));
    auto want = runtime::interpret(g, b).outputs;
    for (const char *pass : {"fold-constants", "cse"}) {
      INFO("seed " << seed << ", pass " << pass << ":\n" << printGraph(g));
      Graph s = compiler::runPasses(g, {pass});
      auto got = runtime::interpret(s, b).outputs;
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i)
        CHECK(got[i] == want[i]); // same bytes
      folded += s.size() != g.size() || printGraph(s) != printGraph(g);
    }
  }
  CHECK(folded > 0);
}

TEST_CASE("simplify passes on random graphs with splat and zero consts") {
  // Scalar consts of 0, 1 and -1 in every position: the identities fire.
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    testing::RandomGraphOptions o;
    o.numOps = 10;
    Graph g = testing::randomGraph(seed, o);
    Graph h(g.name());
    std::vector<NodeId> map = compiler::copyPrimal(g, h);
    Value last(h, map[g.outputs()[0]]);
    DType dt = last.dtype();
    if (!isFloat(dt))
      continue;
    Value one = scalar(h, 1.0, dt), zero = scalar(h, 0.0, dt), m1 = scalar(h, -1.0, dt);
    Value v = ((last * one + zero) / m1 - zero) * m1;
    Value w = neg(neg(transpose(transpose(v)))) + zero * v;
    output(where(greater(w, zero), w, w).named("result"));
    for (NodeId o : g.outputs())
      h.addOutput(map[o]);
    runtime::Bindings b = randomBindings(h, static_cast<uint32_t>(seed));
    bool finite = true; // zero * v is a strong zero
    for (const Tensor &t : runtime::interpretAll(h, b))
      finite = finite && (!isFloat(t.dtype()) || allFinite(t));
    if (!finite)
      continue;
    INFO("seed " << seed);
    checkEveryPass(h, b);
    Graph s = compiler::simplifyGraph(h);
    Graph plain = compiler::simplifyGraph(g);
    // Everything added is an identity of the last output: nothing remains of it
    // but (at most) one alias node for the name.
    CHECK(s.size() <= plain.size() + 1);
  }
}

TEST_CASE("simplify keeps the values of gradients and Jacobians of random graphs") {
  int checked = 0;
  size_t rawNodes = 0, simplifiedNodes = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    testing::RandomGraphOptions o;
    o.smoothOnly = true;
    o.scalarOutput = true;
    o.numOps = 6 + static_cast<int>(seed % 6);
    Graph f = testing::randomGraph(seed, o);
    NodeId out = f.outputs()[0];
    if (f.node(out).name.empty())
      f.setNodeName(out, "result");
    std::vector<std::string> wrt;
    for (NodeId i : f.inputs())
      if (isFloat(f.type(i).dtype))
        wrt.push_back(f.node(i).name);
    runtime::Bindings b = randomBindings(f, static_cast<uint32_t>(seed));
    INFO("seed " << seed << ":\n" << printGraph(f));
    const std::string of = f.node(out).name;
    Graph g = compiler::grad(f, of, wrt, /*simplify=*/false);
    Graph j = compiler::jacobian(f, of, wrt[0],
                                 seed % 2 ? compiler::JacobianMode::Forward
                                          : compiler::JacobianMode::Reverse,
                                 /*simplify=*/false);
    for (const Graph *raw : {&g, &j}) {
      Graph s = compiler::simplifyGraph(*raw);
      checkSameValues(*raw, s, b);
      rawNodes += raw->size();
      simplifiedNodes += s.size();
    }
    ++checked;
  }
  MESSAGE("derivatives of random graphs: " << rawNodes << " nodes, simplified "
                                           << simplifiedNodes);
  CHECK(checked == 60);
  CHECK(simplifiedNodes < rawNodes);
}

TEST_CASE("simplify: the gradient of an MLP keeps its values and shrinks") {
  Graph f = mlp();
  runtime::Bindings b = randomBindings(f, 5);
  Graph raw = compiler::grad(f, "loss", {"W1", "b1", "W2", "b2"}, /*simplify=*/false);
  checkEveryPass(raw, b);
  Graph simplified = compiler::grad(f, "loss", {"W1", "b1", "W2", "b2"});
  checkSameValues(raw, simplified, b);
  MESSAGE("grad of the MLP: " << nodeCount(raw) << " nodes, simplified " << nodeCount(simplified));
  CHECK(nodeCount(simplified) < nodeCount(raw));
  // The transforms end with simplify-all: nothing is left to do.
  CHECK(printGraph(compiler::simplifyGraph(simplified)) == printGraph(simplified));
  // And the gradient is still right.
  testing::checkDerivatives(f, b, "loss", {"W1", "b1", "W2", "b2"});
}

TEST_CASE("simplify: Hessians keep their values and shrink") {
  Graph f = smooth();
  runtime::Bindings b = randomBindings(f, 7);
  for (auto mode : {compiler::JacobianMode::Forward, compiler::JacobianMode::Reverse}) {
    INFO("mode " << (mode == compiler::JacobianMode::Forward ? "forward" : "reverse"));
    Graph raw = compiler::jacobian(compiler::grad(f, "f", {"x"}, /*simplify=*/false), "grad.x",
                                   "x", mode, /*simplify=*/false);
    checkEveryPass(raw, b);
    // hessian() differentiates the simplified gradient, whose sums may
    // associate differently from the raw one's: equal to rounding.
    Graph h = compiler::hessian(f, "f", "x", mode);
    auto want = runtime::interpretAll(raw, b);
    auto got = runtime::interpretAll(h, b);
    CHECK(closeValues(want[raw.lookup("jacobian.grad.x.x")], got[h.lookup("hessian.x")]));
    CHECK(sameValues(want[raw.lookup("grad.x")], got[h.lookup("grad.x")]));
    MESSAGE("hessian: " << nodeCount(raw) << " nodes, simplified " << nodeCount(h));
    CHECK(nodeCount(h) < nodeCount(raw));
  }
}

TEST_CASE("simplify: forward and reverse Jacobians keep their values and agree") {
  Graph f = smooth();
  runtime::Bindings b = randomBindings(f, 11);
  std::vector<Tensor> results;
  for (auto mode : {compiler::JacobianMode::Forward, compiler::JacobianMode::Reverse}) {
    for (const char *wrt : {"x", "A"}) {
      INFO("wrt " << wrt);
      Graph raw = compiler::jacobian(f, "s", wrt, mode, /*simplify=*/false);
      checkEveryPass(raw, b);
      Graph j = compiler::jacobian(f, "s", wrt, mode);
      checkSameValues(raw, j, b);
      CHECK(nodeCount(j) <= nodeCount(raw));
      results.push_back(runtime::interpretAll(j, b)[j.lookup(std::string("jacobian.s.") + wrt)]);
    }
  }
  // Forward (results 0, 1) and reverse (2, 3) sum in different orders.
  for (size_t i = 0; i < 2; ++i)
    CHECK(closeValues(results[i], results[i + 2]));
}

TEST_CASE("simplify: vjp and jvp keep every named result") {
  Graph f = mlp();
  Graph v = compiler::vjp(f, "logits", {"W1", "b2"}, 2);
  for (const char *name : {"loss", "logits", "adjoint.W1", "adjoint.b2"})
    CHECK(v.find(name).has_value());
  Graph t = compiler::jvp(f, "loss", {"b1", "b2"}, 2);
  for (const char *name : {"loss", "tangent.loss", "tangent.b1", "tangent.b2"})
    CHECK(t.find(name).has_value());
  testing::checkDerivatives(f, randomBindings(f, 2), "logits", {"W1", "b2"});
}

TEST_CASE("simplify: the backward of relu then max_pool2d masks the pooled values") {
  // max_pool2d_grad(relu(s), g) * cast(s > 0) -> max_pool2d_grad(relu(s), g *
  // cast(max_pool2d(relu(s)) > 0)): the same values, bit for bit, on inputs
  // with many zeros and ties (small integers), on disjoint and on overlapping
  // padded windows; afterwards no comparison is left on the image's shape.
  struct Pool {
    Ints kernel, stride, padding;
    Shape pooled;
  };
  for (const Pool &p :
       {Pool{{2, 2}, {}, {0, 0}, {2, 3, 3, 3}}, Pool{{3, 3}, {2, 2}, {1, 1}, {2, 3, 3, 3}}}) {
    Graph f("relu_pool");
    Value x = input(f, "x", f64({2, 3, 6, 6}));
    Value q = input(f, "q", f64(p.pooled));
    Value w = param(f, "W", f64({3, 3, 3, 3}), {{"init", "normal"}, {"seed", 2}});
    Value s = conv2d(x, w, {1, 1}, {1, 1});
    Value pooled = maxPool2d(relu(s), p.kernel, p.stride, p.padding);
    output(sum(pooled * q).named("loss"));
    runtime::Bindings b = randomBindings(f, 3);
    for (const char *name : {"x", "q"}) // small integers: zeros and ties
      for (int64_t i = 0; i < b.at(name).numel(); ++i)
        b.at(name).set(i, std::round(2 * b.at(name).at(i)));
    Graph raw = compiler::grad(f, "loss", {"x", "W"}, /*simplify=*/false);
    Graph simplified = compiler::grad(f, "loss", {"x", "W"});
    checkSameValues(raw, simplified, b);
    int comparisons = 0;
    for (NodeId id = 0; id < simplified.size(); ++id)
      if (simplified.node(id).kind == OpKind::Greater) {
        ++comparisons;
        CHECK(simplified.type(id).shape == p.pooled);
      }
    CHECK(comparisons == 1);
    testing::checkDerivatives(f, b, "loss", {"W"});
  }
}
