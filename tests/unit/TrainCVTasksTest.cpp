// K-fold cross-validation reports the task's metric (docs/training.md,
// "Cross-validation"): the mean squared error for a regression, the
// perplexity for sequence labels, the loss alone for an autoencoder; every
// metric's mean and std over the folds, and the table's column to match.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/train/CrossValidation.h"
#include "chainjit/runtime/train/TrainData.h"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

std::string fixture(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/tests/cli/data/train/" + name;
}

// y = 2 x0 - x1 + 0.5, fitted by a linear model with an mse loss.
ir::Graph linearRegression() {
  ir::Graph g("linreg");
  ir::Value x = ir::input(g, "x", ir::f64({8, 2}));
  ir::Value y = ir::input(g, "y", ir::f64({8}));
  ir::Value w = ir::param(g, "w", ir::f64({2}));
  ir::Value b = ir::param(g, "b", ir::f64({}));
  ir::Value pred = (ir::matmul(x, w) + b).named("pred");
  ir::output(ir::mse(pred, y).named("loss"));
  ir::output(pred);
  return g;
}

runtime::Dataset linearData() {
  runtime::Dataset d;
  ir::Tensor x(ir::f64({48, 2})), y(ir::f64({48}));
  for (int64_t i = 0; i < 48; ++i) {
    double a = std::sin(1.3 * i), c = std::cos(0.7 * i);
    x.set(2 * i, a), x.set(2 * i + 1, c);
    y.set(i, 2 * a - c + 0.5);
  }
  d.inputs["x"] = x;
  d.inputs["y"] = y;
  return d;
}

// Mean and sample standard deviation of one metric over a row's folds.
std::pair<double, double> overFolds(const CvRow &row, double Metrics::*field) {
  double sum = 0, sq = 0;
  for (const Metrics &m : row.folds)
    sum += m.*field;
  double mean = sum / double(row.folds.size());
  for (const Metrics &m : row.folds)
    sq += (m.*field - mean) * (m.*field - mean);
  return {mean, std::sqrt(sq / double(row.folds.size() - 1))};
}

std::string lineOf(const std::string &table, size_t index) {
  size_t at = 0;
  for (size_t i = 0; i < index; ++i)
    at = table.find('\n', at) + 1;
  return table.substr(at, table.find('\n', at) - at);
}

} // namespace

TEST_CASE("cross-validation of a regression: the table shows the mse, mean and std over folds") {
  TrainConfig base;
  base.backend = runtime::Backend::Interp;
  base.batch = 8;
  base.epochs = 6;
  CvConfig cv;
  cv.folds = 3;
  cv.lrGrid = {1e-6, 0.3};
  CvResult r = crossValidate(linearRegression(), base, linearData(), cv);
  CHECK(r.target == TargetKind::Regression);
  REQUIRE(r.rows.size() == 2);
  for (const CvRow &row : r.rows) {
    auto [mean, sd] = overFolds(row, &Metrics::mse);
    CHECK(row.mean.mse == doctest::Approx(mean));
    CHECK(row.std.mse == doctest::Approx(sd));
    CHECK(row.mean.mse == doctest::Approx(row.mean.loss)); // the loss is an mse op
    CHECK(std::isnan(row.mean.accuracy));
    CHECK(std::isnan(row.mean.perplexity));
  }
  // lr 1e-6 leaves the params at their start: the mse of predicting 0,
  // the mean of y² (about 3); lr 0.3 fits the linear rule.
  CHECK(r.rows[0].mean.mse > 2);
  CHECK(r.rows[1].mean.mse < 0.05);
  CHECK(r.best == 1);
  std::string table = formatCvTable(r);
  INFO(table);
  CHECK(lineOf(table, 0).find("val loss (mean ± std)   val mse (mean ± std)") !=
        std::string::npos);
  CHECK(table.find("val acc") == std::string::npos);
  std::string best = lineOf(table, 2);
  CHECK(best.rfind("*        0.3", 0) == 0);
  CHECK(best.find(fmt::format("{:.4g} ± {:.4g}", r.rows[1].mean.mse, r.rows[1].std.mse)) !=
        std::string::npos);
  // The progress line of a fold shows the same metric.
  const Metrics &fold = r.rows[1].folds[2];
  CHECK(formatCvFold(1, 2, fold) ==
        fmt::format("setting 2 fold 3: val loss {:.6g} mse {:.4g}", fold.loss, fold.mse));
}

TEST_CASE("cross-validation of sequence labels: per-token loss and perplexity per fold") {
  DataSpec spec;
  spec.npy = {{"tokens", fixture("seq_tokens.npy")},
              {"labels", fixture("seq_labels.npy")},
              {"mask", fixture("seq_mask.npy")}};
  TrainingData data = loadTrainingData(spec, ir::DType::f32);
  TrainConfig base;
  base.backend = runtime::Backend::Interp;
  base.optimizer.kind = OptimizerKind::Adam;
  base.batch = 16;
  base.epochs = 4;
  CvConfig cv;
  cv.folds = 2;
  cv.lrGrid = {1e-5, 0.05};
  CvResult r = crossValidate(ir::parseGraphFile(fixture("seq_tag.cj")), base, data.train, cv);
  CHECK(r.target == TargetKind::Sequence);
  for (const CvRow &row : r.rows) {
    for (const Metrics &m : row.folds)
      CHECK(m.perplexity == doctest::Approx(std::exp(m.loss)));
    auto [mean, sd] = overFolds(row, &Metrics::perplexity);
    CHECK(row.mean.perplexity == doctest::Approx(mean));
    CHECK(row.std.perplexity == doctest::Approx(sd));
  }
  CHECK(r.rows[0].mean.perplexity > 3); // five classes, hardly trained
  CHECK(r.rows[1].mean.perplexity < 1.5);
  CHECK(r.best == 1);
  std::string table = formatCvTable(r);
  INFO(table);
  CHECK(lineOf(table, 0).find("val ppl (mean ± std)") != std::string::npos);
  CHECK(lineOf(table, 2).find(fmt::format("{:.4f} ± {:.4f}", r.rows[1].mean.perplexity,
                                          r.rows[1].std.perplexity)) != std::string::npos);
}

TEST_CASE("cross-validation of an autoencoder: the loss is the one column") {
  DataSpec spec;
  spec.csv = fixture("ae.csv");
  spec.labelDType = std::nullopt;
  TrainingData data = loadTrainingData(spec, ir::DType::f32);
  TrainConfig base;
  base.backend = runtime::Backend::Interp;
  base.optimizer.kind = OptimizerKind::Adam;
  base.batch = 20;
  base.epochs = 5;
  CvConfig cv;
  cv.folds = 2;
  cv.lrGrid = {1e-5, 0.02};
  CvResult r = crossValidate(ir::parseGraphFile(fixture("ae.cj")), base, data.train, cv);
  CHECK(r.target == TargetKind::None);
  CHECK(r.rows[1].mean.loss < r.rows[0].mean.loss / 2);
  CHECK(std::isnan(r.rows[1].mean.mse));
  std::string table = formatCvTable(r);
  INFO(table);
  std::string header = lineOf(table, 0);
  CHECK(header.size() >= std::string("val loss (mean ± std)").size());
  CHECK(header.substr(header.size() - std::string("val loss (mean ± std)").size()) ==
        "val loss (mean ± std)");
  CHECK(r.best == 1);
}
