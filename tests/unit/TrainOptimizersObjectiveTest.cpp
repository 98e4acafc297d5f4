// Objectives: GraphObjective's modes (dropout compiled for train and eval),
// f32 params, its errors, the JIT backend against the interpreter, and the
// Hessian that the Objective base class assembles from Hessian-vector
// products.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/GraphObjective.h"
#include "chainjit/runtime/train/Optimizers.h"

#include "TrainTestProblems.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using namespace chainjit::runtime::train;

namespace {

// loss = sum(dropout(w * x, c, 0.5)): linear in w, so the gradient is the
// (scaled) mask times x and loss = gradient · w.
Graph dropoutGraph() {
  Graph g("dropout_loss");
  Value x = input(g, "x", f32({64}));
  Value c = input(g, "c", i32());
  Value w = param(g, "w", f32({64}), {{"init", "ones"}});
  output(sum(dropout(w * x, c, 0.5, 3)).named("loss"));
  return g;
}

runtime::Bindings dropoutData() {
  std::vector<double> xs;
  for (int i = 0; i < 64; ++i)
    xs.push_back(1 + i % 5);
  return {{"x", Tensor(f32({64}), xs)}, {"c", Tensor::scalar(DType::i32, 7)}};
}

// f(x) = Σ_i (i + 1) x_i² / 2 + x_0 x_1, with hand-written derivatives.
class DiagonalPlusCoupling : public Objective {
public:
  double value(const ParamSet &x) override {
    std::vector<double> v = flatten(x);
    double f = v[0] * v[1];
    for (size_t i = 0; i < v.size(); ++i)
      f += 0.5 * static_cast<double>(i + 1) * v[i] * v[i];
    return f;
  }
  double gradient(const ParamSet &x, ParamSet &g) override {
    ParamSet h;
    hessianVector(x, x, h); // f is quadratic: ∇f(x) = H x
    g = h;
    return value(x);
  }
  void hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) override {
    std::vector<double> d = flatten(v), r(d.size());
    for (size_t i = 0; i < d.size(); ++i)
      r[i] = static_cast<double>(i + 1) * d[i];
    r[0] += d[1];
    r[1] += d[0];
    hv = zerosLike(x);
    unflatten(r, hv);
  }
};

} // namespace

TEST_CASE("Train objective: GraphObjective compiles dropout for train and for eval") {
  GraphObjective train(dropoutGraph(), {"w"}, dropoutData());
  GraphObjective eval(dropoutGraph(), {"w"}, dropoutData(), {runtime::Backend::Interp,
                                                             compiler::Mode::Eval});
  ParamSet w = train.initialParams();
  CHECK(w[0].dtype() == DType::f32);
  CHECK(w[0].at(5) == 1);
  std::vector<double> x = dropoutData().at("x").toDoubles();

  ParamSet g;
  double f = eval.gradient(w, g); // eval: the identity, f = Σ x_i
  double sum = 0;
  for (double v : x)
    sum += v;
  CHECK(f == doctest::Approx(sum).epsilon(1e-6));
  CHECK(flatten(g) == x);

  f = train.gradient(w, g);
  int kept = 0;
  double value = 0;
  for (int i = 0; i < 64; ++i) {
    double gi = g[0].at(i);
    CHECK((gi == 0 || gi == 2 * x[i])); // dropped, or kept and scaled by 1/(1 - 0.5)
    kept += gi != 0;
    value += gi; // w = 1
  }
  CHECK(f == doctest::Approx(value).epsilon(1e-6));
  CHECK(kept > 16);
  CHECK(kept < 48);
  // The same counter draws the same mask; value() agrees with gradient().
  CHECK(train.value(w) == doctest::Approx(f).epsilon(1e-6));
}

TEST_CASE("Train objective: f32 params train with every first-order method") {
  for (OptimizerKind kind : {OptimizerKind::GD, OptimizerKind::Momentum,
                             OptimizerKind::Nesterov, OptimizerKind::Adam}) {
    CAPTURE(optimizerKindName(kind));
    // loss = mean((w - t)²) over f32, minimum 0 at w = t.
    Graph g("f32_quadratic");
    Value w = param(g, "w", f32({4}));
    Value t = constant(g, Tensor(f32({4}), {1, -2, 3, 0.5}));
    output(mean((w - t) * (w - t)).named("loss"));
    GraphObjective f(g, {"w"}, {});
    OptimizerConfig c;
    c.kind = kind;
    c.stepSize.base = kind == OptimizerKind::Adam ? 0.1 : 0.5;
    Optimizer opt(c);
    ParamSet x = f.initialParams();
    double f0 = f.value(x);
    for (int k = 0; k < 200; ++k)
      opt.step(f, x);
    CHECK(x[0].dtype() == DType::f32);
    CHECK(f.value(opt.currentIterate(x)) < 1e-3 * f0);
  }
}

TEST_CASE("Train objective: GraphObjective errors name the problem") {
  Graph g("bad");
  Value x = param(g, "x", f64({3}));
  Value n = input(g, "n", i32({3}));
  output(x * 2.0);
  output(cast(n, DType::f64));
  CHECK_THROWS_WITH_AS(GraphObjective(g, {"x"}, {}),
                       doctest::Contains("must be a float scalar, not f64[3]"), Error);
  Graph h("int_param");
  Value y = param(h, "y", f64({2}));
  Value k = input(h, "k", i32({2}));
  output(sum(y * cast(k, DType::f64)).named("loss"));
  CHECK_THROWS_WITH_AS(GraphObjective(h, {"k"}, {}), doctest::Contains("only f32 and f64"),
                       Error);
  CHECK_THROWS_WITH_AS(GraphObjective(h, {"nope"}, {}), doctest::Contains("nope"), Error);
}

TEST_CASE("Train objective: the default Hessian is assembled from Hessian-vector products") {
  DiagonalPlusCoupling f;
  ParamSet x = {Tensor(f64({2}), {0.5, 1}), Tensor(f64({}), {2})};
  std::vector<double> h = f.hessian(x);
  CHECK(h == std::vector<double>{1, 1, 0, 1, 2, 0, 0, 0, 3});
  // And Newton solves it in one step.
  OptimizerConfig c;
  c.kind = OptimizerKind::Newton;
  c.stepSize.base = 1;
  Optimizer newton(c);
  newton.step(f, x);
  for (double v : flatten(x))
    CHECK(v == doctest::Approx(0).scale(1).epsilon(1e-15));
}

TEST_CASE("Train objective: the JIT backend gives the interpreter's derivatives") {
  auto p = chainjit::testing::logisticProblem(40, 3, 13);
  GraphObjective interp(p.graph, {"w", "b"}, p.data);
  GraphObjective jit(p.graph, {"w", "b"}, p.data, {runtime::Backend::Jit});
  ParamSet x = {Tensor(f64({3}), {0.3, -0.2, 0.1}), Tensor(f64({}), {0.05})};
  ParamSet v = {Tensor(f64({3}), {1, 2, -1}), Tensor(f64({}), {0.5})};
  CHECK(jit.value(x) == doctest::Approx(interp.value(x)).epsilon(1e-12));
  ParamSet gi, gj, hi, hj;
  interp.gradient(x, gi);
  jit.gradient(x, gj);
  interp.hessianVector(x, v, hi);
  jit.hessianVector(x, v, hj);
  std::vector<double> Hi = interp.hessian(x), Hj = jit.hessian(x);
  auto close = [](const std::vector<double> &a, const std::vector<double> &b) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i)
      CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-12).scale(1e-12));
  };
  close(flatten(gi), flatten(gj));
  close(flatten(hi), flatten(hj));
  close(Hi, Hj);
}
