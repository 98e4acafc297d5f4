// The data of a training run as the CLI describes it: a CSV file (split
// into train and test) or IDX files (MNIST format; a separate test pair
// optional), scaled or standardized with the training set's statistics,
// optionally cut to the first samples and with a validation split.
#pragma once

#include "chainjit/ir/Types.h"
#include "chainjit/runtime/Dataset.h"

#include <cstdint>
#include <optional>
#include <string>

namespace chainjit::runtime::train {

struct DataSpec {
  std::string csv;        // one sample per line, features and a label column
  int labelColumn = -1;   // CSV: 0-based, negative counts from the end
  std::string idxImages, idxLabels;         // IDX training (or all) data
  std::string idxTestImages, idxTestLabels; // IDX test data (optional)
  double testFraction = 0.2;       // split off the data when no test files are given
  double validationFraction = 0;   // split off the training part for per-epoch validation
  std::optional<double> scale;     // multiply every feature
  bool standardize = false;        // mean 0, std 1 per feature (training statistics)
  int64_t limit = 0;               // > 0: use only the first `limit` samples of each file
  uint64_t seed = 0;               // the splits

  // Throws chainjit::Error naming the first inconsistent setting.
  void validate() const;
};

struct TrainingData {
  Dataset train;
  std::optional<Dataset> validation; // when validationFraction > 0
  Dataset test;
};

// Loads and prepares the data with features of `dtype` (the model's).
// Errors name the file and the problem.
TrainingData loadTrainingData(const DataSpec &spec, ir::DType dtype);

} // namespace chainjit::runtime::train
