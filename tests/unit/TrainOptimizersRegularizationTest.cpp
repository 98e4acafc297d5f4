// L1 and L2 penalties: soft-thresholding and its exact zeros, the proximal
// gradient method on a lasso problem against its closed-form solution,
// coefficients per param group, and the L2 term of RegularizedObjective.
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/Optimizers.h"
#include "chainjit/runtime/train/Regularization.h"

#include "TrainTestProblems.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::runtime::train;

TEST_CASE("Train regularization: soft-thresholding gives exact zeros") {
  CHECK(softThreshold(0.3, 0.1) == doctest::Approx(0.2).epsilon(1e-15));
  CHECK(softThreshold(-0.3, 0.1) == doctest::Approx(-0.2).epsilon(1e-15));
  CHECK(softThreshold(0.1, 0.1) == 0.0);
  CHECK(softThreshold(-0.05, 0.1) == 0.0);
  CHECK(softThreshold(2, 0) == 2);

  // Per param: threshold step * l1[p]; the second param is not penalized.
  ParamSet x = {ir::Tensor(ir::f64({5}), {-0.3, -0.05, 0, 0.02, 0.5}),
                ir::Tensor(ir::f32({2}), {0.01, -0.01})};
  proximalL1(x, {0.5, 0}, 0.1); // t = 0.05
  CHECK(x[0].at(0) == doctest::Approx(-0.25).epsilon(1e-15));
  CHECK(x[0].at(1) == 0.0);
  CHECK(x[0].at(2) == 0.0);
  CHECK(x[0].at(3) == 0.0);
  CHECK(x[0].at(4) == doctest::Approx(0.45).epsilon(1e-15));
  CHECK(x[1].at(0) == doctest::Approx(0.01f));
  CHECK(x[1].at(1) == doctest::Approx(-0.01f));
  CHECK(l1Penalty(x, {2, 0}) == doctest::Approx(2 * 0.7).epsilon(1e-14));
}

TEST_CASE("Train regularization: proximal GD on a lasso problem reaches soft(c, λ), exact zeros") {
  std::vector<double> identity(36, 0.0);
  for (int i = 0; i < 6; ++i)
    identity[i * 7] = 1;
  std::vector<double> c = {2.0, -0.25, 0.1, -1.5, 0.29, 0.0};
  const double lambda = 0.3;
  auto f = chainjit::testing::quadraticObjective(identity, c);
  OptimizerConfig oc;
  oc.stepSize.base = 0.5;
  oc.l1 = {lambda};
  Optimizer gd(oc);
  ParamSet x = {ir::Tensor(ir::f64({6}), {1, 1, 1, 1, 1, 1})};
  for (int k = 0; k < 80; ++k)
    gd.step(f, x);
  for (size_t i = 0; i < c.size(); ++i) {
    double expected = softThreshold(c[i], lambda);
    CAPTURE(i);
    if (expected == 0)
      CHECK(x[0].at(static_cast<int64_t>(i)) == 0.0); // exactly
    else
      CHECK(x[0].at(static_cast<int64_t>(i)) == doctest::Approx(expected).epsilon(1e-10));
  }
}

TEST_CASE("Train regularization: coefficients per param group") {
  RegularizationConfig r;
  r.l1 = 0.01;
  r.l1PerParam = {{"b1", 0.0}};
  r.l2PerParam = {{"W2", 0.5}};
  std::vector<std::string> names = {"W1", "b1", "W2"};
  CHECK(r.l1For(names) == std::vector<double>{0.01, 0.0, 0.01});
  CHECK(r.l2For(names) == std::vector<double>{0.0, 0.0, 0.5});
  r.l2PerParam["W3"] = 1;
  CHECK_THROWS_WITH_AS(r.l2For(names), doctest::Contains("'W3', which is no trainable param"),
                       Error);
  r = {};
  r.l1 = -1;
  CHECK_THROWS_WITH_AS(r.l1For(names), doctest::Contains("must be finite and >= 0"), Error);
}

TEST_CASE("Train regularization: L2 in the value, gradient, Hessian-vector products and Hessian") {
  // f(x) = 0.5 xᵀAx - bᵀx with A = diag(1, 2, 3) in two params; L2 only on x2.
  std::vector<double> a = {1, 0, 0, 0, 2, 0, 0, 0, 3};
  GraphObjective inner(chainjit::testing::quadraticGraph(a, {1, 1, 1}, 1), {"x1", "x2"}, {});
  RegularizedObjective f(inner, {0, 0.5});
  ParamSet x = {ir::Tensor(ir::f64({1}), {2}), ir::Tensor(ir::f64({2}), {1, -1})};
  // 0.5 (4 + 2 + 3) - (2 + 1 - 1) = 2.5, plus 0.25 (1 + 1) = 0.5.
  CHECK(f.value(x) == doctest::Approx(3.0).epsilon(1e-14));
  ParamSet g;
  CHECK(f.gradient(x, g) == doctest::Approx(3.0).epsilon(1e-14));
  CHECK(flatten(g) == std::vector<double>{1, 1 + 0.5, -4 - 0.5});
  ParamSet hv;
  f.hessianVector(x, {ir::Tensor(ir::f64({1}), {1}), ir::Tensor(ir::f64({2}), {1, 1})}, hv);
  CHECK(flatten(hv) == std::vector<double>{1, 2.5, 3.5});
  std::vector<double> h = f.hessian(x);
  CHECK(h == std::vector<double>{1, 0, 0, 0, 2.5, 0, 0, 0, 3.5});
}
