// Labelled data for training: a features matrix and a vector of class labels,
// loaded from CSV or IDX (MNIST) files, plain or gzip-compressed, and the
// preprocessing every training run needs: standardization, scaling, a seeded
// train/test split and gathering a batch of rows.
//
// Every error is a chainjit::Error that names the file (and line:col for
// CSV) and the problem.
#pragma once

#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/Types.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::runtime {

struct RowSource; // RowReader.h
int64_t rowsOnDemand(const RowSource &source); // its rows (RowReader.cpp)

// N samples. From CSV and IDX files: `features` f32 or f64 [N, D] and
// `labels` [N] (i32 class labels, or float targets of a regression; absent,
// rank 0, for a model without targets). From .npy files (docs/training.md):
// `inputs`, tensors by the name of the model input they feed, each with the
// samples along its leading axis (all the same N). Full-graph (transductive)
// data is one sample, the whole graph: `inputs` are fed as they are and
// `nodeMask` (bool [nodes]) names the nodes this set is about.
struct Dataset {
  ir::Tensor features;
  ir::Tensor labels;
  // Set when the features stay in their file and are read a batch at a
  // time (RowReader.h: what data-parallel ranks do); `features` is then an
  // empty [0, D] tensor, batch() selects rows without reading them and
  // gatherRows() reads them.
  std::shared_ptr<const RowSource> featureRows;
  std::map<std::string, ir::Tensor> inputs;
  // The file each of `inputs` came from (for messages); may be empty.
  std::map<std::string, std::string> sources;
  bool wholeGraph = false;
  ir::Tensor nodeMask;

  // The samples: 1 for a whole graph, else the leading axis.
  int64_t size() const {
    if (wholeGraph)
      return 1;
    if (featureRows) // features [0, D] or inputs [0, ...]: the rows it names
      return rowsOnDemand(*featureRows);
    for (const ir::Tensor *t : {&features, &labels})
      if (!t->shape().empty())
        return t->shape()[0];
    for (const auto &entry : inputs)
      if (!entry.second.shape().empty())
        return entry.second.shape()[0];
    return 0;
  }
  int64_t numFeatures() const {
    return features.shape().size() == 2 ? features.shape()[1] : 0;
  }
  // Where input `name` came from: its file, else "training data" etc.
  std::string sourceOf(const std::string &name, const std::string &fallback) const {
    auto it = sources.find(name);
    return it == sources.end() ? fallback : it->second;
  }
};

// ---- loaders ----
//
// A path ending in ".gz" must be gzip-compressed; other paths are read as
// they are (a gzip file under another name is decompressed too). Gzip files
// may hold several members; anything else after the compressed data is an
// error. Decompressed data larger than the allocation limit (ir/AllocLimit.h)
// is an error as soon as it passes the limit.

struct CsvDatasetOptions {
  // The column holding the class label: 0-based, or negative to count from
  // the end (-1 is the last column). Every other column is a feature.
  int labelColumn = -1;
  // f32 or f64.
  ir::DType dtype = ir::DType::f32;
  // The label column's values: i32 class labels (whole numbers), f32 or f64
  // regression targets, or nullopt: no label column, every column is a
  // feature (a model without targets, e.g. an autoencoder).
  std::optional<ir::DType> labelDType = ir::DType::i32;
};

// One sample per line, fields separated by commas (the CSV dialect of
// readCsv: blank lines and '#' lines skipped, a first line with a field that
// is not a number is a header). Labels must be whole numbers in 0..2^31-1.
Dataset loadCsvDataset(const std::string &path, const CsvDatasetOptions &opts = {});
// The same for a file's bytes already in memory (gzip or not); `filename` is
// used in error messages and for the .gz rule only.
Dataset parseCsvDataset(std::string_view bytes, const std::string &filename,
                        const CsvDatasetOptions &opts = {});

// IDX files as MNIST ships them: big-endian; images magic 0x00000803
// (unsigned bytes, [N, rows, cols]), labels magic 0x00000801 (unsigned
// bytes, [N]). The features are the pixel values 0..255 as floats,
// [N, rows * cols], in `dtype` (f32 or f64).
// The dimensions must describe exactly the data bytes each file has, and
// the two files the same number of samples.
Dataset loadIdxDataset(const std::string &imagesPath, const std::string &labelsPath,
                       ir::DType dtype = ir::DType::f32);
// The same for the files' bytes already in memory (gzip or not); the names
// are used in error messages and for the .gz rule only.
Dataset parseIdxDataset(std::string_view imagesBytes, const std::string &imagesName,
                        std::string_view labelsBytes, const std::string &labelsName,
                        ir::DType dtype = ir::DType::f32);

// ---- preprocessing ----

// Per-feature statistics: mean and (population) standard deviation, with a
// standard deviation of 0 replaced by 1 so that constant features map to 0.
struct FeatureStats {
  std::vector<double> mean;
  std::vector<double> std;
};

// Standardizes every feature of `data` to mean 0 and standard deviation 1
// and returns the statistics used, so that a test set can be standardized
// with the training set's statistics by the second overload.
FeatureStats standardize(Dataset &data);
void standardize(Dataset &data, const FeatureStats &stats);

// Multiplies every feature by `factor` (e.g. 1/16 for the digits data).
void scale(Dataset &data, double factor);

// The same on a features tensor alone (f32 or f64, [N, ...] with the
// statistics per flattened row entry): what prediction applies to new data,
// so that it is prepared exactly as the training data was.
void standardizeFeatures(ir::Tensor &features, const FeatureStats &stats);
void scaleFeatures(ir::Tensor &features, double factor);

// A permutation of 0..n-1, the same on every platform for a given seed:
// Fisher-Yates driven by ir::counterRandomBits(seed, 0, i).
std::vector<int64_t> shuffledIndices(int64_t n, uint64_t seed);

struct TrainTestSplit {
  Dataset train;
  Dataset test;
};

// Shuffles with shuffledIndices(size, seed); the first round(testFraction *
// size) samples of that order are the test set, the rest the training set
// (both keep the shuffled order). testFraction must lie in [0, 1].
TrainTestSplit trainTestSplit(const Dataset &data, double testFraction, uint64_t seed);

// The rows `indices` of `data`, in that order (repeats allowed).
Dataset batch(const Dataset &data, const std::vector<int64_t> &indices);

} // namespace chainjit::runtime
