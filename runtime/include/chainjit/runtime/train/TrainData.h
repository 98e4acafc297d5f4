// The data of a training run as the CLI describes it: a CSV file (split
// into train and test), IDX files (MNIST format; a separate test pair
// optional) or .npy files by model input name (separate test and validation
// files optional), scaled or standardized with the training set's
// statistics (CSV and IDX), optionally cut to the first samples and with a
// validation split. With node masks the .npy files are one whole graph
// (transductive training) and the masks say which nodes each split is.
#pragma once

#include "chainjit/ir/Types.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/IndexedInputs.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  int64_t classes = 0;             // > 0: every label must lie in [0, classes) (the model's C)
  // CSV: the label column's dtype (the model's target: i32 class labels or
  // float regression targets); nullopt: no label column (a model without a
  // target, every column a feature).
  std::optional<ir::DType> labelDType = ir::DType::i32;

  // .npy files by model input name (`--data x=train_x.npy,y=train_y.npy`):
  // the training data (or all of it, split like CSV data), and optionally
  // the test and validation data. Row-wise, every file holds the samples
  // along its leading axis, the same number in each.
  using NamedFiles = std::vector<std::pair<std::string, std::string>>;
  NamedFiles npy, testNpy, validationNpy;
  // Whole-graph (transductive) training: the .npy files are one graph and
  // these name its nodes per split (`--masks train=F,validation=F,test=F`):
  // .npy bool/u8 or i32 0/1 masks of one entry per node, or i32 lists of
  // node indices. "train" and "test" are required, "validation" optional.
  std::map<std::string, std::string> masks;
  // The input whose leading axis counts the nodes (the model's target, else
  // its features); "" for the first file's.
  std::string nodeInput;
  // Leave the features in files that allow it (uncompressed IDX images)
  // and read each batch's rows when it is computed: data-parallel ranks
  // then read only their rows (RowReader.h).
  bool rowsOnDemand = false;
  // Inputs that an indexing op of the model reads straight from the data
  // (token ids, a graph's column indices), with the ranges their entries
  // must lie in (indexLimitsOf in IndexedInputs.h): checked as each .npy
  // file is read, so a bad index is named with its file and sample rather
  // than found by the kernel inside a batch. Not for rows read on demand.
  using IndexLimits = std::map<std::string, std::vector<IndexRange>>;
  IndexLimits indexLimits;

  // Throws chainjit::Error naming the first inconsistent setting.
  void validate() const;
};

struct TrainingData {
  Dataset train;
  std::optional<Dataset> validation; // when validationFraction > 0
  Dataset test;
  // What was done to every set's features (the training set's statistics
  // for standardization), for the checkpoint and for prediction.
  DataPreparation preparation;
};

// Loads and prepares the data with features of `dtype` (the model's).
// Errors name the file and the problem; every file's samples are checked
// with checkSamples as they are loaded, before any split or scaling.
TrainingData loadTrainingData(const DataSpec &spec, ir::DType dtype);

// Throws chainjit::Error naming `source` and the first bad sample (1-based,
// in the order of `data`): a NaN or infinite feature, or, with classes > 0,
// a label outside [0, classes). Bad data found here is found before a
// training run diverges or a loss kernel meets the label.
void checkSamples(const Dataset &data, int64_t classes, const std::string &source);

// The .npy part of loadTrainingData (NamedTrainingData.cpp).
TrainingData loadNamedTrainingData(const DataSpec &spec);

// A node mask from a .npy file for a graph of `nodes` nodes: bool/u8 or
// i32 0/1 with one entry per node, or an i32 list of distinct node indices.
// Errors name the file and the entry.
ir::Tensor loadNodeMask(const std::string &path, int64_t nodes, const std::string &nodesFrom);

} // namespace chainjit::runtime::train
