// The derivative transforms end to end: gradients against finite
// differences, Hessians (second derivatives through the rules' own ops)
// against finite differences of the gradient, Hessian-vector products
// against the Hessian, and derivative graphs that print and parse back.
#include "GradCheck.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Verifier.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::randomBindings;
using chainjit::testing::relativeError;
using chainjit::testing::valueOf;

namespace {

// A two-layer regression net with a smooth loss, f64.
Graph smallNet() {
  Graph g("net");
  Value x = input(g, "x", f64({5, 3}));
  Value t = input(g, "t", f64({5, 2}));
  Value W1 = param(g, "W1", f64({3, 4}), {{"init", "normal"}, {"seed", 1}});
  Value b1 = param(g, "b1", f64({4}), {{"init", "normal"}, {"seed", 2}});
  Value W2 = param(g, "W2", f64({4, 2}), {{"init", "normal"}, {"seed", 3}});
  Value h = tanh(matmul(x, W1) + b1);
  Value y = softplus(matmul(h, W2));
  output(mse(y, t).named("loss"));
  return g;
}

// d grad / d w by central differences of the gradient graph: [n, n].
std::vector<double> fdHessian(const Graph &g, const runtime::Bindings &b, const std::string &of,
                              const std::string &wrt, double h = 1e-5) {
  Graph gg = compiler::grad(g, of, {wrt});
  int64_t n = b.at(wrt).numel();
  std::vector<double> H(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    runtime::Bindings p = b, m = b;
    p.at(wrt).set(j, p.at(wrt).at(j) + h);
    m.at(wrt).set(j, m.at(wrt).at(j) - h);
    auto gp = valueOf(gg, p, "grad." + wrt).toDoubles();
    auto gm = valueOf(gg, m, "grad." + wrt).toDoubles();
    for (int64_t i = 0; i < n; ++i)
      H[i * n + j] = (gp[i] - gm[i]) / (2 * h);
  }
  return H;
}

} // namespace

TEST_CASE("grad: an MLP's gradient against finite differences, for every param") {
  Graph g = smallNet();
  runtime::Bindings b = randomBindings(g, 3);
  testing::checkDerivatives(g, b, "loss", {"W1", "b1", "W2"});
  Graph gg = compiler::grad(g, "loss", {"W1", "b1", "W2"});
  CHECK(gg.type(gg.lookup("grad.W1")) == f64({3, 4}));
  CHECK(gg.type(gg.lookup("grad.b1")) == f64({4}));
  // The loss is still an output, and the graph verifies and round-trips.
  CHECK(verify(gg).empty());
  std::string text = printGraph(gg);
  CHECK(printGraph(parseGraph(text)) == text);
}

TEST_CASE("hessian: forward, reverse and planned Hessians match finite differences") {
  Graph g = smallNet();
  runtime::Bindings b = randomBindings(g, 4);
  std::vector<double> want = fdHessian(g, b, "loss", "b1");
  for (auto mode : {compiler::JacobianMode::Forward, compiler::JacobianMode::Reverse,
                    compiler::JacobianMode::Optimal}) {
    Graph h = compiler::hessian(g, "loss", "b1", mode);
    auto got = valueOf(h, b, "hessian.b1").toDoubles();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("mode " << int(mode) << ", element " << i);
      CHECK(relativeError(got[i], want[i]) <= 1e-6);
    }
    // Symmetric, as a Hessian must be.
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j)
        CHECK(relativeError(got[i * 4 + j], got[j * 4 + i]) <= 1e-9);
  }
}

TEST_CASE("hessian: third-order closure, the Hessian of a Hessian entry") {
  // f(w) = sum(tanh(w)^3): every derivative exists; differentiate the
  // Hessian graph's trace once more and compare with finite differences.
  Graph g("cubic");
  Value w = input(g, "w", f64({3}));
  output(sum(pow(tanh(w), 3.0)).named("f"));
  Graph h = compiler::hessian(g, "f", "w", compiler::JacobianMode::Reverse);
  Graph h2 = h;
  Value H(h2, h2.lookup("hessian.w"));
  output(sum(H * H).named("s")); // a scalar function of the Hessian
  runtime::Bindings b = randomBindings(g, 9);
  testing::checkDerivatives(h2, b, "s", {"w"}, 1e-6);
}

TEST_CASE("hvp: Hessian-vector products equal the Hessian times the vector") {
  Graph g = smallNet();
  runtime::Bindings b = randomBindings(g, 5);
  Graph hv = compiler::hvp(g, "loss", {"W2"});
  Tensor v(f64({4, 2}), {0.5, -1, 0.25, 2, -0.75, 1.5, 1, -0.5});
  runtime::Bindings bv = b;
  bv["direction.W2"] = v;
  auto got = valueOf(hv, bv, "hvp.W2").toDoubles();
  auto H = valueOf(compiler::hessian(g, "loss", "W2", compiler::JacobianMode::Forward), b,
                   "hessian.W2")
               .toDoubles();
  for (int64_t i = 0; i < 8; ++i) {
    double want = 0;
    for (int64_t j = 0; j < 8; ++j)
      want += H[i * 8 + j] * v.at(j);
    CHECK(relativeError(got[i], want) <= 1e-9);
  }
}

TEST_CASE("transforms: errors name the problem") {
  Graph g = smallNet();
  CHECK_THROWS_WITH_AS(compiler::grad(g, "nope", {"W1"}), doctest::Contains("no value named %nope"),
                       Error);
  Graph v("vec");
  Value x = input(v, "x", f64({3}));
  output(tanh(x).named("y"));
  CHECK_THROWS_WITH_AS(compiler::grad(v, "y", {"x"}), doctest::Contains("grad needs a scalar"), Error);
  Graph l("labels");
  Value z = input(l, "z", f64({2, 3}));
  Value lab = input(l, "lab", i32({2}));
  output(crossEntropy(z, lab).named("loss"));
  CHECK_THROWS_WITH_AS(compiler::grad(l, "loss", {"lab"}), doctest::Contains("derivatives need f32 or f64"),
                       Error);
}
