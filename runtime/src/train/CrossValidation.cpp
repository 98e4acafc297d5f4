// K-fold cross-validation over a grid of settings (see CrossValidation.h).
#include "chainjit/runtime/train/CrossValidation.h"

#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/distributed/Communicator.h"

#include <fmt/format.h>

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

// Whether row a beats row b (NaN losses never win).
bool better(const CvRow &a, const CvRow &b) {
  if (std::isnan(b.mean.loss))
    return !std::isnan(a.mean.loss);
  if (std::isnan(a.mean.loss) || a.mean.loss > b.mean.loss)
    return false;
  if (a.mean.loss < b.mean.loss)
    return true;
  return a.mean.accuracy > b.mean.accuracy;
}

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
  // Data-parallel: the (setting, fold) pairs are dealt out to the ranks in
  // turn, each trained by one rank alone, and the metrics gathered after.
  std::shared_ptr<distributed::Communicator> comm =
      base.communicator ? base.communicator : distributed::singleProcess();
  CvResult result;
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
        row.folds.push_back({0, 0}); // another rank's: added in below
        continue;
      }
      int64_t begin = f * n / k, end = (f + 1) * n / k;
      std::vector<int64_t> fit, held;
      for (int64_t i = 0; i < n; ++i)
        (i >= begin && i < end ? held : fit).push_back(order[i]);
      Dataset fitData = batch(train, fit), heldData = batch(train, held);
      TrainConfig foldConfig = config;
      foldConfig.batch = std::min<int64_t>(config.batch, fitData.size());
      Metrics m{kNaN, kNaN};
      try {
        Trainer t(model, foldConfig, cv.inspect);
        t.fit(fitData);
        m = t.evaluate(heldData);
      } catch (const TrainingDiverged &) {
      }
      if (!std::isfinite(m.loss))
        m = {kNaN, kNaN};
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
    for (const CvRow &row : result.rows)
      for (const Metrics &m : row.folds)
        all.insert(all.end(), {m.loss, m.accuracy});
    comm->allreduceSum(std::span<double>(all));
    size_t at = 0;
    for (CvRow &row : result.rows)
      for (Metrics &m : row.folds)
        m = {all[at], all[at + 1]}, at += 2;
  }
  for (CvRow &row : result.rows) {
    std::vector<double> losses, accuracies;
    for (const Metrics &m : row.folds) {
      losses.push_back(m.loss);
      accuracies.push_back(m.accuracy);
    }
    std::tie(row.mean.loss, row.std.loss) = meanStd(losses);
    std::tie(row.mean.accuracy, row.std.accuracy) = meanStd(accuracies);
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
  std::string s = fmt::format("  {:>10} {:>10} {:>10}   {:>21}   {:>19}\n", "lr", "l2", "l1",
                              "val loss (mean ± std)", "val acc (mean ± std)");
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const CvRow &row = r.rows[i];
    std::string acc = std::isnan(row.mean.accuracy)
                          ? std::string("-")
                          : fmt::format("{:.2f}% ± {:.2f}%", 100 * row.mean.accuracy,
                                        100 * row.std.accuracy);
    std::string loss = std::isnan(row.mean.loss)
                           ? std::string("diverged")
                           : fmt::format("{:.4f} ± {:.4f}", row.mean.loss, row.std.loss);
    s += fmt::format("{} {:>10g} {:>10g} {:>10g}   {:>21}   {:>19}\n", i == r.best ? '*' : ' ',
                     row.setting.lr, row.setting.l2, row.setting.l1, loss, acc);
  }
  return s;
}

} // namespace chainjit::runtime::train
