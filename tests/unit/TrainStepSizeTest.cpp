// Step sizes: the schedules' values and names, M by power iteration against
// LAPACK's eigenvalues, the exact line search against the closed-form step
// of a quadratic, and backtracking's sufficient-decrease condition.
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/LineSearch.h"
#include "chainjit/runtime/train/Newton.h"
#include "chainjit/runtime/train/Optimizers.h"
#include "chainjit/runtime/train/StepSize.h"

#include "TrainTestProblems.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::runtime::train;
using chainjit::testing::quadraticObjective;
using chainjit::testing::vectorParams;
using chainjit::testing::symmetricWithEigenvalues;

TEST_CASE("Train step size: schedules c, c/k, c/sqrt(k) and step decay") {
  StepSizeConfig c;
  c.schedule = Schedule::Const;
  CHECK(scheduledStep(c, 0.5, 7, 3) == 0.5);
  c.schedule = Schedule::Inv;
  CHECK(scheduledStep(c, 0.5, 1, 0) == 0.5);
  CHECK(scheduledStep(c, 0.5, 4, 0) == 0.125);
  c.schedule = Schedule::InvSqrt;
  CHECK(scheduledStep(c, 0.5, 4, 0) == 0.25);
  CHECK(scheduledStep(c, 0.5, 9, 0) == doctest::Approx(0.5 / 3).epsilon(1e-15));
  c.schedule = Schedule::Step;
  c.decayEvery = 3;
  c.decayFactor = 0.1;
  CHECK(scheduledStep(c, 2.0, 1, 0) == 2.0);
  CHECK(scheduledStep(c, 2.0, 50, 2) == 2.0);
  CHECK(scheduledStep(c, 2.0, 50, 3) == doctest::Approx(0.2).epsilon(1e-15));
  CHECK(scheduledStep(c, 2.0, 50, 5) == doctest::Approx(0.2).epsilon(1e-15));
  CHECK(scheduledStep(c, 2.0, 50, 6) == doctest::Approx(0.02).epsilon(1e-15));
  CHECK_THROWS_AS(scheduledStep(c, 2.0, 0, 0), Error);
}

TEST_CASE("Train step size: names parse and print, and bad settings are errors") {
  for (const char *n : {"const", "inv", "invsqrt", "step"})
    CHECK(scheduleName(parseSchedule(n)) == n);
  for (const char *n : {"none", "backtracking", "exact"})
    CHECK(lineSearchName(parseLineSearch(n)) == n);
  CHECK_THROWS_WITH_AS(parseSchedule("cosine"),
                       doctest::Contains("expected const, inv, invsqrt or step"), Error);
  CHECK_THROWS_WITH_AS(parseLineSearch("wolfe"),
                       doctest::Contains("expected none, backtracking or exact"), Error);
  StepSizeConfig c;
  c.backtrackFactor = 1.0;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("backtracking factor"), Error);
  c = {};
  c.base = -1;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("learning rate"), Error);
}

TEST_CASE("Train step size: power iteration finds the top Hessian eigenvalue within 1 percent") {
  // A random SPD matrix (eigenvalues 1..9 and a top one of 12).
  std::vector<double> a =
      symmetricWithEigenvalues({1, 2, 3, 5, 7, 9, 12}, /*seed=*/3);
  std::vector<double> b(7, 1.0);
  auto f = quadraticObjective(a, b);
  double lapackMax = symmetricEigenvalues(a).back();
  CHECK(lapackMax == doctest::Approx(12).epsilon(1e-12));
  ParamSet x = vectorParams({0.1, -0.2, 0.3, 0, 1, 2, -1});
  double m = estimateLipschitz(f, x, 50, /*seed=*/7);
  MESSAGE("power iteration: M = " << m << ", LAPACK dsyev: " << lapackMax);
  CHECK(std::abs(m - lapackMax) <= 0.01 * lapackMax);
  CHECK(m <= lapackMax * (1 + 1e-12)); // a Rayleigh quotient never exceeds λmax
}

TEST_CASE("Train step size: power iteration on logistic regression's Hessian") {
  auto p = chainjit::testing::logisticProblem(40, 3, 5);
  GraphObjective f(p.graph, {"w", "b"}, p.data);
  ParamSet x = {ir::Tensor(ir::f64({3}), {0.2, -0.1, 0.4}), ir::Tensor(ir::f64({}), {0.1})};
  double lapackMax = symmetricEigenvalues(f.hessian(x)).back();
  double m = estimateLipschitz(f, x, 100, 1);
  MESSAGE("logistic: M = " << m << ", dsyev " << lapackMax);
  CHECK(std::abs(m - lapackMax) <= 0.01 * lapackMax);
}

TEST_CASE("Train step size: exact line search on a quadratic equals the closed-form step") {
  std::vector<double> a = symmetricWithEigenvalues({1, 4, 10}, 11);
  std::vector<double> b = {1, -2, 0.5};
  auto f = quadraticObjective(a, b);
  ParamSet x = vectorParams({2, 1, -3});
  ParamSet g;
  double fx = f.gradient(x, g);
  std::vector<double> gv = flatten(g);
  std::vector<double> ag = chainjit::testing::times(a, gv);
  double gg = 0, gag = 0;
  for (size_t i = 0; i < gv.size(); ++i)
    gg += gv[i] * gv[i], gag += gv[i] * ag[i];
  double closedForm = gg / gag;
  ParamSet p = g;
  scale(p, -1);
  StepSizeConfig config;
  for (double s0 : {1e-4, 0.05, 3.0}) { // brackets found by doubling and by halving
    LineSearchResult r = exactLineSearch(f, x, fx, p, s0, config);
    MESSAGE("s0 = " << s0 << ": s = " << r.step << " (closed form " << closedForm << ") in "
                    << r.evaluations << " evaluations");
    CHECK(r.step == doctest::Approx(closedForm).epsilon(1e-7));
    CHECK(r.value == doctest::Approx(fx - 0.5 * gg * gg / gag).epsilon(1e-12));
  }
  // Through the optimizer: gradient descent with exact line search.
  OptimizerConfig oc;
  oc.stepSize.base = 1;
  oc.stepSize.lineSearch = LineSearch::Exact;
  Optimizer gd(oc);
  StepReport rep = gd.step(f, x);
  CHECK(rep.stepSize == doctest::Approx(closedForm).epsilon(1e-7));
}

TEST_CASE("Train step size: backtracking satisfies sufficient decrease at every accepted step") {
  std::vector<double> a = symmetricWithEigenvalues({0.5, 2, 20}, 5);
  std::vector<double> b = {1, 1, 1};
  auto f = quadraticObjective(a, b);
  ParamSet x = vectorParams({3, -2, 1});
  OptimizerConfig oc;
  oc.stepSize.base = 1.0; // far above 1/M = 0.05: must backtrack
  oc.stepSize.lineSearch = LineSearch::Backtracking;
  oc.stepSize.backtrackFactor = 0.5;
  Optimizer gd(oc);
  int backtracked = 0;
  double previous = f.value(x);
  for (int k = 0; k < 40; ++k) {
    ParamSet before = x;
    StepReport r = gd.step(f, x);
    double fNext = f.value(x);
    CHECK(r.loss == doctest::Approx(previous).epsilon(1e-14));
    // The condition at the accepted step ...
    CHECK(fNext <= r.loss - 0.5 * r.stepSize * r.gradNorm * r.gradNorm);
    // Every s <= 1/M passes, so backtracking never goes below factor / M.
    CHECK(r.stepSize >= 0.5 / 20);
    // ... and it is the first one tried that passes: twice it fails.
    if (r.stepSize < 1.0) {
      ++backtracked;
      ParamSet g, longer = before;
      f.gradient(before, g);
      axpy(-2 * r.stepSize, g, longer);
      CHECK(f.value(longer) > r.loss - 0.5 * 2 * r.stepSize * r.gradNorm * r.gradNorm);
    }
    previous = fNext;
  }
  CHECK(backtracked == 40);
  // f* = -½ bᵀA⁻¹b; the gap has shrunk by three orders of magnitude.
  std::vector<double> aInvB = solveNewtonSystem(a, b).direction;
  double fStar = -0.5 * (aInvB[0] + aInvB[1] + aInvB[2]);
  double gap0 = f.value(vectorParams({3, -2, 1})) - fStar;
  MESSAGE("backtracking: f - f* from " << gap0 << " to " << previous - fStar);
  CHECK(previous - fStar < 1e-3 * gap0);
}

TEST_CASE("Train step size: backtracking along an ascent direction is an error") {
  std::vector<double> a = {1, 0, 0, 1};
  auto f = quadraticObjective(a, {0, 0});
  ParamSet x = vectorParams({1, 1});
  ParamSet g;
  double fx = f.gradient(x, g);
  CHECK_THROWS_WITH_AS(backtrackingLineSearch(f, x, fx, g, dot(g, g), 1.0, StepSizeConfig{}),
                       doctest::Contains("not a descent direction"), Error);
}

TEST_CASE("Train step size: s = 1/M with M estimated at the first step") {
  std::vector<double> a = symmetricWithEigenvalues({1, 3, 8}, 2);
  auto f = quadraticObjective(a, {1, 2, 3});
  ParamSet x = vectorParams({0, 0, 0});
  OptimizerConfig oc;
  oc.stepSize.inverseLipschitz = true;
  Optimizer gd(oc);
  StepReport r = gd.step(f, x);
  REQUIRE(gd.lipschitz());
  CHECK(*gd.lipschitz() == doctest::Approx(8).epsilon(0.01));
  CHECK(r.stepSize == doctest::Approx(1 / *gd.lipschitz()).epsilon(1e-15));
}
