// Loading and preparing the data of a training run (TrainData.h).
#include "chainjit/runtime/train/TrainData.h"

#include "chainjit/ir/Error.h"

#include <numeric>

namespace chainjit::runtime::train {

namespace {

Dataset firstSamples(const Dataset &d, int64_t limit) {
  if (limit <= 0 || limit >= d.size())
    return d;
  std::vector<int64_t> rows(limit);
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return batch(d, rows);
}

bool inUnitInterval(double f) { return f >= 0.0 && f < 1.0; }

} // namespace

void DataSpec::validate() const {
  bool haveIdx = !idxImages.empty() || !idxLabels.empty();
  if (csv.empty() && !haveIdx)
    throw Error("no data: give a CSV file, or IDX images and labels");
  if (!csv.empty() && haveIdx)
    throw Error("give either a CSV file or IDX files, not both");
  if (haveIdx && (idxImages.empty() || idxLabels.empty()))
    throw Error("IDX data needs both the images and the labels file");
  if (idxTestImages.empty() != idxTestLabels.empty())
    throw Error("IDX test data needs both the images and the labels file");
  if (!idxTestImages.empty() && !haveIdx)
    throw Error("IDX test files need IDX training files");
  if (!inUnitInterval(testFraction))
    throw Error("the test fraction must lie in [0, 1), got " + std::to_string(testFraction));
  if (!inUnitInterval(validationFraction))
    throw Error("the validation fraction must lie in [0, 1), got " +
                std::to_string(validationFraction));
  if (scale && standardize)
    throw Error("scale and standardize exclude each other");
}

TrainingData loadTrainingData(const DataSpec &spec, ir::DType dtype) {
  spec.validate();
  TrainingData out;
  if (!spec.csv.empty()) {
    CsvDatasetOptions o;
    o.labelColumn = spec.labelColumn;
    o.dtype = dtype;
    Dataset all = firstSamples(loadCsvDataset(spec.csv, o), spec.limit);
    TrainTestSplit s = trainTestSplit(all, spec.testFraction, spec.seed);
    out.train = std::move(s.train);
    out.test = std::move(s.test);
  } else {
    Dataset all = firstSamples(loadIdxDataset(spec.idxImages, spec.idxLabels, dtype), spec.limit);
    if (!spec.idxTestImages.empty()) {
      out.train = std::move(all);
      out.test = firstSamples(loadIdxDataset(spec.idxTestImages, spec.idxTestLabels, dtype),
                              spec.limit);
    } else {
      TrainTestSplit s = trainTestSplit(all, spec.testFraction, spec.seed);
      out.train = std::move(s.train);
      out.test = std::move(s.test);
    }
  }
  if (spec.validationFraction > 0) {
    TrainTestSplit s = trainTestSplit(out.train, spec.validationFraction, spec.seed + 1);
    out.train = std::move(s.train);
    out.validation = std::move(s.test);
  }
  if (out.train.size() == 0)
    throw Error("no training samples are left after the test and validation splits");
  // Test and validation data are transformed with the training statistics.
  if (spec.standardize) {
    FeatureStats stats = runtime::standardize(out.train);
    runtime::standardize(out.test, stats);
    if (out.validation)
      runtime::standardize(*out.validation, stats);
  } else if (spec.scale) {
    for (Dataset *d : {&out.train, &out.test})
      runtime::scale(*d, *spec.scale);
    if (out.validation)
      runtime::scale(*out.validation, *spec.scale);
  }
  return out;
}

} // namespace chainjit::runtime::train
