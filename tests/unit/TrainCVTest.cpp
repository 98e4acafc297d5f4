// K-fold cross-validation on a problem whose best setting is known: a
// separable two-class problem for logistic regression, where a tiny
// learning rate cannot learn and a strong L2 penalty holds the weights down.
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/train/CrossValidation.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

ir::Graph logistic() {
  ir::Graph g("logistic");
  ir::Value x = ir::input(g, "x", ir::f64({8, 2}));
  ir::Value y = ir::input(g, "labels", ir::i32({8}));
  ir::Value w = ir::param(g, "w", ir::f64({2, 2}));
  ir::Value b = ir::param(g, "b", ir::f64({2}));
  ir::Value logits = (ir::matmul(x, w) + b).named("logits");
  ir::output(ir::crossEntropy(logits, y).named("loss"));
  ir::output(logits);
  return g;
}

// 60 points: class 1 when x0 + x1 > 0, at distance >= 0.5 from the boundary.
runtime::Dataset separable() {
  std::vector<double> f, l;
  for (int i = 0; i < 60; ++i) {
    double a = std::sin(i * 1.7) * 2, c = std::cos(i * 0.9) * 2;
    double side = (i % 2) ? 1 : -1;
    double shift = side * (0.5 + 0.1 * (i % 5));
    f.push_back(a + shift);
    f.push_back(-a + shift);
    l.push_back(i % 2);
    (void)c;
  }
  return {ir::Tensor(ir::f64({60, 2}), f), ir::Tensor(ir::i32({60}), l)};
}

} // namespace

TEST_CASE("cross-validation: the table has mean and std per setting and picks the known best") {
  TrainConfig base;
  base.batch = 8;
  base.epochs = 5;
  base.seed = 3;
  CvConfig cv;
  cv.folds = 3;
  cv.lrGrid = {1e-6, 0.5};
  cv.l2Grid = {0.0, 1.0};
  int calls = 0;
  CvResult r = crossValidate(logistic(), base, separable(), cv,
                             [&](size_t, int64_t, const Metrics &) { ++calls; });
  CHECK(calls == 12);
  REQUIRE(r.rows.size() == 4);
  // lr 1e-6: the weights barely leave 0, every fold's loss stays log 2.
  for (size_t i : {0u, 1u}) {
    CHECK(r.rows[i].setting.lr == 1e-6);
    CHECK(r.rows[i].mean.loss == doctest::Approx(std::log(2.0)).epsilon(1e-3));
    CHECK(r.rows[i].std.loss < 1e-3);
    CHECK(r.rows[i].folds.size() == 3);
  }
  // lr 0.5 without penalty separates the classes; with l2 = 1 it cannot
  // push the loss as low.
  CHECK(r.rows[2].setting.l2 == 0.0);
  CHECK(r.rows[2].mean.loss < 0.3);
  CHECK(r.rows[2].mean.accuracy > 0.95);
  CHECK(r.rows[3].mean.loss > r.rows[2].mean.loss);
  CHECK(r.best == 2);
  std::string table = formatCvTable(r);
  CHECK(table.find("val loss (mean ± std)") != std::string::npos);
  CHECK(table.find("*        0.5          0          0") != std::string::npos);

  TrainConfig best = withSetting(base, r.rows[r.best].setting);
  CHECK(best.optimizer.stepSize.base == 0.5);
  CHECK(best.regularization.l2 == 0.0);
}

TEST_CASE("cross-validation: a diverging setting scores NaN and is never chosen") {
  TrainConfig base;
  base.batch = 8;
  base.epochs = 3;
  CvConfig cv;
  cv.folds = 2;
  cv.lrGrid = {0.5};
  cv.l2Grid = {0.0, 1e60}; // w -= 0.5 * 1e60 * w: overflows within a few steps
  CvResult r = crossValidate(logistic(), base, separable(), cv);
  CHECK(std::isnan(r.rows[1].mean.loss));
  CHECK(r.best == 0);
  CHECK(formatCvTable(r).find("diverged") != std::string::npos);
}
