// K-fold cross-validation over a grid of learning rates and regularization
// coefficients (the lecture notes' model selection): every setting is
// trained K times, each time on K-1 folds of the training data and
// evaluated on the fold left out; the setting with the lowest mean
// validation loss wins, and the caller retrains it on all training data.
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/train/Trainer.h"

#include <functional>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

// One point of the grid. l1 and l2 apply to every trainable param (they
// replace the base config's coefficients, per-param ones included).
struct GridSetting {
  double lr = 0;
  double l2 = 0;
  double l1 = 0;
};

struct CvConfig {
  int64_t folds = 5; // K >= 2
  // Each empty grid means "the base config's value only".
  std::vector<double> lrGrid, l2Grid, l1Grid;
  // How every fold's Trainer reads the model (its target).
  InspectOptions inspect;
};

struct CvRow {
  GridSetting setting;
  std::vector<Metrics> folds; // validation metrics per fold (loss NaN: diverged)
  Metrics mean, std;          // over folds; std is the sample standard deviation
};

struct CvResult {
  std::vector<CvRow> rows; // lr-major, then l2, then l1, in grid order
  size_t best = 0;         // index into rows
  // The model's task (CvConfig::inspect applied): which metric the table
  // shows next to the loss.
  TargetKind target = TargetKind::Classes;
};

// The settings of the grid, in CvResult::rows order.
std::vector<GridSetting> gridSettings(const TrainConfig &base, const CvConfig &cv);
// `base` with the setting's learning rate and coefficients.
TrainConfig withSetting(const TrainConfig &base, const GridSetting &s);

// Called after each fold's training: (row, fold, its validation metrics).
using CvProgress = std::function<void(size_t row, int64_t fold, const Metrics &)>;

// Folds come from shuffledIndices with base.seed; fold k holds samples
// [k n / K, (k+1) n / K) of that order. Checkpointing is off in the fold
// runs. A run whose loss diverges scores NaN (never the best); the best
// row has the lowest mean validation loss (ties: lower mean mse for a
// regression, else higher mean accuracy, then the earlier row). Every
// metric of Metrics gets its mean and std (NaN where it does not apply). Throws if every setting diverged.
// With base.communicator of N ranks, pair p (setting-major, fold-minor) is
// trained by rank p mod N alone, `progress` is called for that rank's pairs
// only, and every rank returns the whole table.
CvResult crossValidate(const ir::Graph &model, const TrainConfig &base, const Dataset &train,
                       const CvConfig &cv, const CvProgress &progress = {});

// The table as text: one row per setting with mean ± std of the validation
// loss and of the task's metric (accuracy for class labels, mse for
// regression targets, perplexity for sequence labels, none without a
// target), the best marked with '*'.
std::string formatCvTable(const CvResult &r);

// One fold's line of progress: "setting 2 fold 3: val loss 0.3027 mse
// 0.3027" (row and fold 0-based here, 1-based in the text), with the
// metrics of `m` that apply (accuracy, mse, perplexity).
std::string formatCvFold(size_t row, int64_t fold, const Metrics &m);

} // namespace chainjit::runtime::train
