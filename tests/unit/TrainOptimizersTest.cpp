// The optimizers on problems with known answers: gradient descent's linear
// rate on a strongly convex quadratic, Nesterov against GD on an
// ill-conditioned one, Newton's quadratic convergence on logistic
// regression, Adam and momentum, and optimizer state through checkpoints.
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/train/Newton.h"
#include "chainjit/runtime/train/Optimizers.h"
#include "chainjit/runtime/train/Regularization.h"

#include "TrainTestProblems.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

using namespace chainjit;
using namespace chainjit::runtime::train;
using chainjit::testing::quadraticObjective;
using chainjit::testing::vectorParams;
using chainjit::testing::quadraticValue;
using chainjit::testing::symmetricWithEigenvalues;
using chainjit::testing::times;

namespace {

// f(x_k) - f* of `steps` steps of `config` on 0.5 xᵀAx - bᵀx with b = A x*,
// from x0; element 0 is the initial error. Nesterov's errors are measured
// at its iterates x_k.
std::vector<double> quadraticErrors(const std::vector<double> &a, const std::vector<double> &xStar,
                                    const std::vector<double> &x0, OptimizerConfig config,
                                    int steps) {
  std::vector<double> b = times(a, xStar);
  double fStar = quadraticValue(a, b, xStar);
  auto f = quadraticObjective(a, b);
  Optimizer opt(config);
  ParamSet x = vectorParams(x0);
  std::vector<double> errors{quadraticValue(a, b, x0) - fStar};
  for (int k = 0; k < steps; ++k) {
    opt.step(f, x);
    errors.push_back(quadraticValue(a, b, flatten(opt.currentIterate(x))) - fStar);
  }
  return errors;
}

} // namespace

TEST_CASE("Train optimizers: GD with s = 1/M stays within the linear rate bound (1 - m/M)^k") {
  const double m = 1, M = 10;
  std::vector<double> a = symmetricWithEigenvalues({m, 2, 4, 7, M}, 1);
  OptimizerConfig c;
  c.stepSize.base = 1 / M;
  std::vector<double> e = quadraticErrors(a, {1, -1, 2, 0.5, 3}, {0, 0, 0, 0, 0}, c, 150);
  for (size_t k = 0; k < e.size(); ++k) {
    double bound = std::pow(1 - m / M, static_cast<double>(k)) * e[0];
    CHECK(e[k] <= bound * (1 + 1e-9) + 1e-15);
  }
  MESSAGE("GD: f - f* from " << e[0] << " to " << e[50] << " (50 steps) and " << e[150]
                             << " (150 steps)");
  CHECK(e[150] < 1e-6 * e[0]);
}

TEST_CASE("Train optimizers: Nesterov beats GD on an ill-conditioned quadratic in equal steps") {
  // Condition number 1000; both with s = 1/M.
  std::vector<double> a = symmetricWithEigenvalues({1, 3, 10, 30, 100, 300, 1000}, 4);
  std::vector<double> xStar = {1, 1, 1, 1, 1, 1, 1}, x0(7, 0.0);
  OptimizerConfig gd;
  gd.stepSize.base = 1e-3;
  OptimizerConfig nesterov = gd;
  nesterov.kind = OptimizerKind::Nesterov; // β_k = (k - 1)/(k + 2)
  const int steps = 300;
  std::vector<double> eg = quadraticErrors(a, xStar, x0, gd, steps);
  std::vector<double> en = quadraticErrors(a, xStar, x0, nesterov, steps);
  MESSAGE("after " << steps << " steps: GD " << eg[steps] << ", Nesterov " << en[steps]
                   << " (from " << eg[0] << ")");
  CHECK(en[steps] < 0.05 * eg[steps]);
  CHECK(en[100] < eg[100]);
  // Nesterov's O(1/k²) bound for convex f: f(x_k) - f* <= 2 M ‖x0 - x*‖² / (k + 1)².
  for (int k = 1; k <= steps; ++k)
    CHECK(en[k] <= 2 * 1000.0 * 7 / ((k + 1.0) * (k + 1.0)));
}

TEST_CASE("Train optimizers: Newton's method converges quadratically on logistic regression") {
  auto p = chainjit::testing::logisticProblem(80, 3, 21);
  GraphObjective f(p.graph, {"w", "b"}, p.data);
  OptimizerConfig c;
  c.kind = OptimizerKind::Newton;
  c.stepSize.base = 1; // the pure Newton step
  // x* to machine precision.
  ParamSet star = f.initialParams();
  {
    Optimizer newton(c);
    for (int k = 0; k < 30; ++k)
      newton.step(f, star);
  }
  ParamSet g;
  f.gradient(star, g);
  CHECK(norm(g) < 1e-13);
  auto error = [&](const ParamSet &x) {
    ParamSet d = x;
    axpy(-1, star, d);
    return norm(d);
  };
  Optimizer newton(c);
  ParamSet x = f.initialParams(); // zeros
  std::vector<double> e{error(x)};
  for (int k = 0; k < 8; ++k) {
    StepReport r = newton.step(f, x);
    CHECK(r.damping == 0); // the Hessian is positive definite: plain Cholesky
    e.push_back(error(x));
  }
  std::string trace;
  for (double v : e)
    trace += " " + std::to_string(v);
  MESSAGE("Newton errors:" << trace);
  int quadraticSteps = 0;
  for (size_t k = 0; k + 1 < e.size(); ++k) {
    if (e[k + 1] < 1e-12) // rounding level
      break;
    CHECK(e[k + 1] <= 2.0 * e[k] * e[k]);
    ++quadraticSteps;
  }
  CHECK(quadraticSteps >= 3);
  CHECK(e[7] < 1e-12);
}

TEST_CASE("Train optimizers: the compiled Hessian equals A, and Newton solves it in one step") {
  std::vector<double> a = symmetricWithEigenvalues({1, 2, 3, 4, 5}, 9);
  std::vector<double> b = {1, 0, -1, 2, 1};
  GraphObjective f(chainjit::testing::quadraticGraph(a, b, /*split=*/2), {"x1", "x2"}, {});
  ParamSet x = {ir::Tensor(ir::f64({2}), {0.3, -1}), ir::Tensor(ir::f64({3}), {2, 0, 1})};
  std::vector<double> h = f.hessian(x);
  REQUIRE(h.size() == 25);
  for (size_t i = 0; i < 25; ++i)
    CHECK(h[i] == doctest::Approx(a[i]).epsilon(1e-12).scale(1));
  // One Newton step solves a quadratic exactly.
  OptimizerConfig c;
  c.kind = OptimizerKind::Newton;
  c.stepSize.base = 1;
  Optimizer newton(c);
  newton.step(f, x);
  std::vector<double> ax = times(a, flatten(x));
  for (size_t i = 0; i < b.size(); ++i)
    CHECK(ax[i] == doctest::Approx(b[i]).epsilon(1e-12).scale(1));
}

TEST_CASE("Train optimizers: Newton damps an indefinite Hessian and refuses large models") {
  // H = diag(2, -1): Cholesky fails; H + λI with λ > 1 is used.
  NewtonSolution s = solveNewtonSystem({2, 0, 0, -1}, {1, 1});
  CHECK(s.damping > 1);
  CHECK(s.damping < 10);
  CHECK(s.direction[0] == doctest::Approx(1 / (2 + s.damping)));
  CHECK(s.direction[1] == doctest::Approx(1 / (s.damping - 1)));
  CHECK(s.direction[0] * 1 + s.direction[1] * 1 > 0); // -d descends
  // Positive definite: the plain Cholesky solution.
  NewtonSolution pd = solveNewtonSystem({4, 1, 1, 3}, {1, 2});
  CHECK(pd.damping == 0);
  CHECK(pd.direction[0] == doctest::Approx(1.0 / 11));
  CHECK(pd.direction[1] == doctest::Approx(7.0 / 11));
  CHECK_THROWS_WITH_AS(solveNewtonSystem({1, 0, 0}, {1}), doctest::Contains("not square"), Error);

  OptimizerConfig c;
  c.kind = OptimizerKind::Newton;
  c.newtonMaxParams = 4;
  Optimizer newton(c);
  auto f = quadraticObjective(std::vector<double>(25, 0.0), std::vector<double>(5, 1.0));
  ParamSet x = vectorParams({0, 0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(newton.step(f, x),
                       doctest::Contains("5 parameter entries, more than the limit of 4"), Error);
}

TEST_CASE("Train optimizers: momentum and Adam reduce the loss of logistic regression") {
  auto p = chainjit::testing::logisticProblem(60, 4, 8);
  GraphObjective f(p.graph, {"w", "b"}, p.data);
  double f0 = f.value(f.initialParams());
  CHECK(f0 == doctest::Approx(std::log(2.0)).epsilon(1e-12)); // w = 0, b = 0
  for (OptimizerKind kind : {OptimizerKind::GD, OptimizerKind::Momentum, OptimizerKind::Adam}) {
    OptimizerConfig c;
    c.kind = kind;
    c.stepSize.base = kind == OptimizerKind::Adam ? 0.05 : 0.5;
    Optimizer opt(c);
    ParamSet x = f.initialParams();
    double last = f0;
    for (int k = 0; k < 60; ++k)
      last = opt.step(f, x).loss;
    MESSAGE(optimizerKindName(kind) << ": loss " << f0 << " -> " << last);
    CHECK(last < 0.75 * f0);
  }
}

TEST_CASE("Train optimizers: state round-trips through a checkpoint and resumes bit for bit") {
  auto p = chainjit::testing::logisticProblem(30, 2, 3);
  GraphObjective f(p.graph, {"w", "b"}, p.data);
  std::vector<std::string> names = f.paramNames();
  std::string path = (std::filesystem::temp_directory_path() /
                      ("chainjit_optim_" + std::to_string(::getpid()) + ".ckpt"))
                         .string();
  for (OptimizerKind kind : {OptimizerKind::Momentum, OptimizerKind::Nesterov,
                             OptimizerKind::Adam}) {
    CAPTURE(optimizerKindName(kind));
    OptimizerConfig c;
    c.kind = kind;
    c.stepSize.base = 0.1;
    c.stepSize.schedule = Schedule::InvSqrt; // depends on the step count
    Optimizer first(c);
    ParamSet x = f.initialParams();
    for (int k = 0; k < 5; ++k)
      first.step(f, x);
    runtime::TensorMap saved = first.exportState(names);
    CHECK(saved.at("optimizer.step").at(0) == 5);
    saved["w"] = x[0];
    saved["b"] = x[1];
    runtime::saveCheckpoint(path, saved);

    runtime::TensorMap loaded = runtime::loadCheckpoint(path);
    ParamSet resumed = {loaded.at("w"), loaded.at("b")};
    Optimizer second(c);
    second.importState(loaded, names, resumed);
    CHECK(second.stepCount() == 5);
    for (int k = 0; k < 5; ++k) {
      first.step(f, x);
      second.step(f, resumed);
    }
    CHECK(x[0] == resumed[0]);
    CHECK(x[1] == resumed[1]);
    CHECK(first.exportState(names) == second.exportState(names));
  }
  std::filesystem::remove(path);
}

TEST_CASE("Train optimizers: importing state checks the kind and every tensor") {
  ParamSet x = vectorParams({1, 2});
  OptimizerConfig c;
  c.kind = OptimizerKind::Adam;
  Optimizer adam(c);
  adam.applyGradient(x, vectorParams({0.5, -0.5}));
  runtime::TensorMap state = adam.exportState({"x"});
  CHECK(state.count("optimizer.adam_m.x") == 1);
  CHECK(state.count("optimizer.adam_v.x") == 1);

  OptimizerConfig mc;
  mc.kind = OptimizerKind::Momentum;
  Optimizer momentum(mc);
  CHECK_THROWS_WITH_AS(momentum.importState(state, {"x"}, x),
                       doctest::Contains("saved by adam, but this optimizer is momentum"), Error);
  Optimizer other(c);
  runtime::TensorMap broken = state;
  broken.erase("optimizer.adam_v.x");
  broken["optimizer.adam_m.x"] = ir::Tensor(ir::f32({2}));
  try {
    other.importState(broken, {"x"}, x);
    FAIL("no error");
  } catch (const Error &e) {
    std::string what = e.what();
    CHECK(what.find("missing 'optimizer.adam_v.x'") != std::string::npos);
    CHECK(what.find("'optimizer.adam_m.x' is f32[2], expected f64[2]") != std::string::npos);
  }
  CHECK(other.stepCount() == 0); // nothing changed
}

TEST_CASE("Train optimizers: optimizer names and settings") {
  CHECK(parseOptimizerKind("sgd") == OptimizerKind::GD);
  for (const char *n : {"gd", "momentum", "nesterov", "adam", "newton"})
    CHECK(optimizerKindName(parseOptimizerKind(n)) == n);
  CHECK_THROWS_WITH_AS(parseOptimizerKind("rmsprop"), doctest::Contains("expected gd, sgd"),
                       Error);
  OptimizerConfig c;
  c.kind = OptimizerKind::Adam;
  c.stepSize.lineSearch = LineSearch::Backtracking;
  CHECK_THROWS_WITH_AS(Optimizer{c},
                       doctest::Contains("line search applies to gd, nesterov and newton"), Error);
  c = {};
  c.momentum = 1;
  CHECK_THROWS_WITH_AS(Optimizer{c}, doctest::Contains("momentum β"), Error);
}

TEST_CASE("Train optimizers: applyGradient updates from a given gradient") {
  // Adam's first step moves every entry by s (bias-corrected m / sqrt(v) = sign(g)).
  OptimizerConfig c;
  c.kind = OptimizerKind::Adam;
  c.stepSize.base = 0.1;
  Optimizer adam(c);
  ParamSet x = vectorParams({1, 2, 3});
  double s = adam.applyGradient(x, vectorParams({4, -0.01, 0}));
  CHECK(s == 0.1);
  CHECK(x[0].at(0) == doctest::Approx(0.9).epsilon(1e-7));
  CHECK(x[0].at(1) == doctest::Approx(2.1).epsilon(1e-6));
  CHECK(x[0].at(2) == 3);
  // Momentum: z1 = g, z2 = g + β g.
  OptimizerConfig mc;
  mc.kind = OptimizerKind::Momentum;
  mc.momentum = 0.5;
  mc.stepSize.base = 1;
  Optimizer momentum(mc);
  ParamSet y = vectorParams({0});
  momentum.applyGradient(y, vectorParams({1}));
  momentum.applyGradient(y, vectorParams({1}));
  CHECK(y[0].at(0) == -2.5);
  OptimizerConfig nc;
  nc.kind = OptimizerKind::Newton;
  Optimizer newton(nc);
  CHECK_THROWS_WITH_AS(newton.applyGradient(y, vectorParams({1})),
                       doctest::Contains("use step()"), Error);
}
