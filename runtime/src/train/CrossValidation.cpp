// K-fold cross-validation over a grid of settings (see CrossValidation.h).
#include "chainjit/runtime/train/CrossValidation.h"

#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/distributed/Communicator.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <limits>

namespace chainjit::runtime::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The fold assignment's own stream of the seed, apart from the batches'.
constexpr uint64_t kFoldStream = 0x666f6c6473ULL;

std::vector<double> orDefault(const std::vector<double> &grid, double value) {
  return grid.empty() ? std::vector<double>{value} : grid;
}

// Mean and sample standard deviation; NaN if any value is NaN.
std::pair<double, double> meanStd(const std::vector<double> &v) {
  double sum = 0;
  for (double x : v)
    sum += x;
  double mean = sum / static_cast<double>(v.size()), sq = 0;
  for (double x : v)
    sq += (x - mean) * (x - mean);
  double sd = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
  return {mean, sd};
}

// Whether row a beats row b (NaN losses never win); equal losses are
// decided by the task's metric (higher accuracy, lower mse).
bool better(const CvRow &a, const CvRow &b) {
  if (std::isnan(b.mean.loss))
    return !std::isnan(a.mean.loss);
  if (std::isnan(a.mean.loss) || a.mean.loss > b.mean.loss)
    return false;
  if (a.mean.loss < b.mean.loss)
    return true;
  if (!std::isnan(a.mean.mse))
    return a.mean.mse < b.mean.mse;
  return a.mean.accuracy > b.mean.accuracy;
}

// The four metrics of a fold, in the order the ranks sum them.
constexpr size_t kMetricCount = 4;
std::array<double *, kMetricCount> fields(Metrics &m) {
  return {&m.loss, &m.accuracy, &m.mse, &m.perplexity};
}

// "mean ± std" of one metric column, each written by `one`; `ifNaN` for a
// mean that is NaN (a diverged setting, a metric the task lacks).
template <class Format>
std::string meanPlusMinus(double mean, double sd, const char *ifNaN, Format one) {
  if (std::isnan(mean))
    return ifNaN;
  return one(mean) + " ± " + one(sd);
}

std::string percent(double v) { return fmt::format("{:.2f}%", 100 * v); }
std::string fixed4(double v) { return fmt::format("{:.4f}", v); }
std::string general4(double v) { return fmt::format("{:.4g}", v); }

} // namespace

std::vector<GridSetting> gridSettings(const TrainConfig &base, const CvConfig &cv) {
  std::vector<GridSetting> out;
  for (double lr : orDefault(cv.lrGrid, base.optimizer.stepSize.base))
    for (double l2 : orDefault(cv.l2Grid, base.regularization.l2))
      for (double l1 : orDefault(cv.l1Grid, base.regularization.l1))
        out.push_back({lr, l2, l1});
  return out;
}

TrainConfig withSetting(const TrainConfig &base, const GridSetting &s) {
  TrainConfig c = base;
  c.optimizer.stepSize.base = s.lr;
  c.regularization.l2 = s.l2;
  c.regularization.l1 = s.l1;
  c.regularization.l2PerParam.clear();
  c.regularization.l1PerParam.clear();
  return c;
}

CvResult crossValidate(const ir::Graph &model, const TrainConfig &base, const Dataset &train,
                       const CvConfig &cv, const CvProgress &progress) {
  int64_t n = train.size(), k = cv.folds;
  if (k < 2 || k > n)
    throw Error("cross-validation needs 2 <= K <= " + std::to_string(n) +
                " (the training samples), got K = " + std::to_string(k));
  std::vector<int64_t> order = shuffledIndices(n, ir::mix64(base.seed ^ kFoldStream));
  CvResult result;
  // The task, and so the metric the table shows, as every fold's Trainer
  // will see it (this also refuses a model the trainer cannot feed early).
  result.target = inspectModel(model, cv.inspect).target;
  // Data-parallel: the (setting, fold) pairs are dealt out to the ranks in
  // turn, each trained by one rank alone, and the metrics gathered after.
  std::shared_ptr<distributed::Communicator> comm =
      base.communicator ? base.communicator : distributed::singleProcess();
  int64_t pair = -1;
  for (const GridSetting &s : gridSettings(base, cv)) {
    CvRow row;
    row.setting = s;
    TrainConfig config = withSetting(base, s);
    config.checkpointPath.clear();
    config.resume = config.overwrite = false;
    config.communicator = nullptr;
    for (int64_t f = 0; f < k; ++f) {
      if (++pair % comm->size() != comm->rank()) {
        row.folds.push_back({0, 0, 0, 0}); // another rank's: added in below
        continue;
      }
      int64_t begin = f * n / k, end = (f + 1) * n / k;
      std::vector<int64_t> fit, held;
      for (int64_t i = 0; i < n; ++i)
        (i >= begin && i < end ? held : fit).push_back(order[i]);
      Dataset fitData = batch(train, fit), heldData = batch(train, held);
      TrainConfig foldConfig = config;
      foldConfig.batch = std::min<int64_t>(config.batch, fitData.size());
      Metrics m{kNaN, kNaN, kNaN, kNaN};
      try {
        Trainer t(model, foldConfig, cv.inspect);
        t.fit(fitData);
        m = t.evaluate(heldData);
      } catch (const TrainingDiverged &) {
      }
      if (!std::isfinite(m.loss))
        m = {kNaN, kNaN, kNaN, kNaN};
      row.folds.push_back(m);
      if (progress)
        progress(result.rows.size(), f, m);
    }
    result.rows.push_back(row);
  }
  if (comm->size() > 1) {
    // Every pair has one owner and zeros elsewhere, so the sum is the table
    // (a NaN of a diverged run stays NaN).
    std::vector<double> all;
    for (CvRow &row : result.rows)
      for (Metrics &m : row.folds)
        for (double *v : fields(m))
          all.push_back(*v);
    comm->allreduceSum(std::span<double>(all));
    size_t at = 0;
    for (CvRow &row : result.rows)
      for (Metrics &m : row.folds)
        for (double *v : fields(m))
          *v = all[at++];
  }
  for (CvRow &row : result.rows)
    for (size_t k = 0; k < kMetricCount; ++k) {
      std::vector<double> values;
      for (Metrics &m : row.folds)
        values.push_back(*fields(m)[k]);
      std::tie(*fields(row.mean)[k], *fields(row.std)[k]) = meanStd(values);
    }
  for (size_t i = 1; i < result.rows.size(); ++i)
    if (better(result.rows[i], result.rows[result.best]))
      result.best = i;
  if (std::isnan(result.rows[result.best].mean.loss))
    throw Error("cross-validation: training diverged for every setting of the grid (try "
                "smaller learning rates)");
  return result;
}

std::string formatCvTable(const CvResult &r) {
  // The metric column the task calls for (docs/training.md): accuracy for
  // class labels, the mean squared error for regression targets, the
  // perplexity for sequence labels (the loss column is then per token),
  // none for a model without a target (its loss is the measure).
  std::string header;
  switch (r.target) {
  case TargetKind::Classes: header = "val acc (mean ± std)"; break;
  case TargetKind::Regression: header = "val mse (mean ± std)"; break;
  case TargetKind::Sequence: header = "val ppl (mean ± std)"; break;
  case TargetKind::None: break;
  }
  auto metric = [&](const CvRow &row) -> std::string {
    switch (r.target) {
    case TargetKind::Classes:
      return meanPlusMinus(row.mean.accuracy, row.std.accuracy, "-", percent);
    case TargetKind::Regression:
      return meanPlusMinus(row.mean.mse, row.std.mse, "-", general4);
    case TargetKind::Sequence:
      return meanPlusMinus(row.mean.perplexity, row.std.perplexity, "-", fixed4);
    case TargetKind::None: break;
    }
    return "";
  };
  std::string s = fmt::format("  {:>10} {:>10} {:>10}   {:>21}", "lr", "l2", "l1",
                              "val loss (mean ± std)");
  if (!header.empty())
    s += fmt::format("   {:>19}", header);
  s += "\n";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const CvRow &row = r.rows[i];
    std::string loss = meanPlusMinus(row.mean.loss, row.std.loss, "diverged", fixed4);
    s += fmt::format("{} {:>10g} {:>10g} {:>10g}   {:>21}", i == r.best ? '*' : ' ',
                     row.setting.lr, row.setting.l2, row.setting.l1, loss);
    if (!header.empty())
      s += fmt::format("   {:>19}", metric(row));
    s += "\n";
  }
  return s;
}

std::string formatCvFold(size_t row, int64_t fold, const Metrics &m) {
  std::string s = fmt::format("setting {} fold {}: val loss {:.6g}", row + 1, fold + 1, m.loss);
  if (!std::isnan(m.accuracy))
    s += fmt::format(" acc {:.2f}%", 100 * m.accuracy);
  if (!std::isnan(m.mse))
    s += fmt::format(" mse {:.4g}", m.mse);
  if (!std::isnan(m.perplexity))
    s += fmt::format(" ppl {:.4g}", m.perplexity);
  return s;
}

} // namespace chainjit::runtime::train
