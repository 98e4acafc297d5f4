// The tangent and adjoint rules of the indexing ops against central finite
// differences of the interpreter (f64, relative error <= 1e-6, two
// directions at once; the harness also runs f, its JVP and its VJP on the
// JIT), and second derivatives: Hessians in every mode against differences
// of gradients, on both backends. gather's adjoint is scatter_add and the
// other way round, so the rules are closed.
#include "GradCheck.h"

#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <functional>
#include <limits>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkDerivatives;
using chainjit::testing::checkHessian;
using chainjit::testing::checkJitMatchesInterpreter;
using chainjit::testing::randomBindings;
using chainjit::testing::relativeError;
using chainjit::testing::valueOf;

namespace {

Value ids(Graph &g, Shape s, std::vector<double> v) {
  return constant(g, Tensor(i32(std::move(s)), v));
}

// y = build(g, x) for an f64 input x of `shape`, checked with respect to x.
void check(const Shape &shape, const std::function<Value(Graph &, Value)> &build,
           uint32_t seed = 3) {
  Graph g("index");
  Value x = input(g, "x", f64(shape));
  output(build(g, x).named("y"));
  checkDerivatives(g, randomBindings(g, seed), "y", {"x"});
}

} // namespace

TEST_CASE("index rules: gather along every axis, with repeated and multi-axis indices") {
  check({5, 3}, [](Graph &g, Value x) { return gather(x, ids(g, {4}, {4, 0, 4, 2})); });
  check({5, 3}, [](Graph &g, Value x) { return gather(x, ids(g, {2, 2}, {1, 2, 2, 0}), 1); });
  check({2, 3, 4}, [](Graph &g, Value x) { return gather(x, ids(g, {3}, {3, 3, 0}), -1); });
  check({2, 3, 4}, [](Graph &g, Value x) { return gather(x, ids(g, {}, {2}), 1); });
  // Nonlinear around the gather, so the rules meet real directions.
  check({6, 2}, [](Graph &g, Value x) {
    return tanh(gather(exp(x), ids(g, {3, 2}, {5, 0, 1, 5, 5, 3})));
  });
}

TEST_CASE("index rules: scatter_add along every axis, and segmentSum") {
  check({4, 3}, [](Graph &g, Value x) { return scatterAdd(x, ids(g, {4}, {2, 0, 2, 2}), 3); });
  check({2, 3, 2}, [](Graph &g, Value x) {
    return scatterAdd(x, ids(g, {3, 2}, {0, 1, 1, 1, 3, 0}), 4, 1);
  });
  check({2, 3}, [](Graph &g, Value x) { return scatterAdd(x, ids(g, {3}, {1, 1, 0}), 2, -1); });
  check({3}, [](Graph &g, Value x) { return scatterAdd(x, ids(g, {}, {1}), 2, 0); }); // new axis
  check({5, 2}, [](Graph &g, Value x) {
    return sigmoid(segmentSum(x * x, ids(g, {5}, {0, 3, 0, 1, 3}), 4));
  });
}

TEST_CASE("index rules: an embedding lookup and a segment sum in one model") {
  Graph g("embed");
  Value table = input(g, "table", f64({7, 3}));
  Value W = input(g, "W", f64({3, 2}));
  Value tokens = ids(g, {4, 2}, {6, 1, 1, 0, 3, 6, 2, 2});
  Value emb = gather(table, tokens);                        // [4, 2, 3]
  Value h = tanh(matmul(reshape(emb, {8, 3}), W));           // [8, 2]
  Value pooled = segmentSum(h, ids(g, {8}, {0, 0, 1, 1, 2, 2, 3, 3}), 4); // per sentence
  output(sum(pooled * pooled).named("loss"));
  checkDerivatives(g, randomBindings(g, 7), "loss", {"table", "W"});
}

TEST_CASE("index rules: derivatives go through gather and scatter_add, not dense one-hot products") {
  Graph g("sparse_grad");
  Value table = input(g, "table", f64({1000, 4}));
  output(sum(gather(table, ids(g, {3}, {5, 999, 5}))).named("y"));
  Graph dg = compiler::grad(g, "y", {"table"});
  int scatters = 0;
  for (const Node &n : dg.nodes()) {
    scatters += n.kind == OpKind::ScatterAdd;
    CHECK(n.kind != OpKind::MatMul);
    CHECK(n.kind != OpKind::OneHot);
  }
  CHECK(scatters == 1);
  Tensor grad = valueOf(dg, {{"table", Tensor(f64({1000, 4}))}}, "grad.table");
  CHECK(grad.at(5 * 4) == 2.0); // row 5 is taken twice
  CHECK(grad.at(999 * 4 + 3) == 1.0);
  CHECK(grad.at(0) == 0.0);
}

TEST_CASE("index rules: iota and one_hot have zero derivatives and no differentiable operand") {
  for (OpKind k : {OpKind::Iota, OpKind::OneHot}) {
    CAPTURE(opName(k));
    const DerivativeRules &r = derivativeRules(k);
    CHECK(r.piecewiseConstant);
    CHECK((r.jvp != nullptr));
    CHECK((r.vjp != nullptr));
  }
  CHECK(!derivativeRules(OpKind::Gather).isDifferentiable(1, i32({3})));
  CHECK(!derivativeRules(OpKind::ScatterAdd).isDifferentiable(1, i32({3})));
  CHECK(derivativeRules(OpKind::Gather).isDifferentiable(0, f64({3})));
  // Used as constant factors, they pass derivatives on unchanged.
  check({3, 4}, [](Graph &g, Value x) {
    Value hot = oneHot(ids(g, {3}, {3, 0, 1}), 4, DType::f64);
    return x * x * hot + x * iota(g, {3, 4}, 1, DType::f64);
  });
  // A causal mask in attention: the masked scores get no derivative.
  check({4, 4}, [](Graph &g, Value x) {
    Value negInf = scalar(g, -std::numeric_limits<double>::infinity(), DType::f64);
    return softmax(where(causalMask(g, 4), x, negInf), 1);
  });
}

TEST_CASE("index rules: Hessians through gather and scatter_add match differences of gradients") {
  Graph g("second");
  Value x = input(g, "x", f64({4, 2}));
  Value picked = gather(x, ids(g, {3}, {3, 0, 3}));                 // [3, 2]
  Value spread = scatterAdd(tanh(picked), ids(g, {3}, {1, 1, 0}), 2); // [2, 2]
  Value cols = gather(x, ids(g, {2}, {1, 1}), 1);                   // [4, 2]
  output((sum(spread * spread * spread) + sum(cols * cols * sigmoid(cols))).named("f"));
  auto b = randomBindings(g, 5);
  checkHessian(g, b, "f", "x", /*onJit=*/true);
}

TEST_CASE("index rules: the gradient graph of a lookup differentiates again") {
  Graph g("closure");
  Value table = input(g, "table", f64({5, 3}));
  Value e = gather(table, ids(g, {2, 2}, {4, 1, 1, 2}));
  Value s = segmentSum(tanh(e) * e, ids(g, {2}, {2, 0}), 3); // [3, 2, 3]
  output(sum(s * s).named("f"));
  Graph gg = compiler::grad(g, "f", {"table"});
  checkDerivatives(gg, randomBindings(gg, 4), "grad.table", {"table"});
}
