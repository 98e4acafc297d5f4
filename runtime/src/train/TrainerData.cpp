// Loading and preparing the data of a training run (TrainData.h).
#include "chainjit/runtime/train/TrainData.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/RowReader.h"

#include <cmath>
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

Dataset checked(Dataset d, int64_t classes, const std::string &source) {
  checkSamples(d, classes, source);
  return d;
}

// IDX data, left in the images file when the spec asks for it and the file
// allows it (RowReader.h); else loaded whole.
Dataset idxData(const DataSpec &spec, const std::string &images, const std::string &labels,
                ir::DType dtype) {
  if (spec.rowsOnDemand)
    if (std::optional<Dataset> d = openIdxDatasetRows(images, labels, dtype))
      return std::move(*d);
  return loadIdxDataset(images, labels, dtype);
}

} // namespace

// The flat index of the first non-finite value, or -1.
template <typename T> int64_t firstNonFinite(const T *v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      return i;
  return -1;
}

void checkSamples(const Dataset &data, int64_t classes, const std::string &source) {
  const ir::Tensor &f = data.features;
  int64_t bad = f.shape().empty()              ? -1
                : f.dtype() == ir::DType::f32 ? firstNonFinite(f.as<float>(), f.numel())
                : f.dtype() == ir::DType::f64 ? firstNonFinite(f.as<double>(), f.numel())
                                              : -1;
  int64_t n = data.size(), d = n > 0 ? f.numel() / n : 1;
  if (bad >= 0) {
    double v = f.at(bad);
    throw Error("sample " + std::to_string(bad / d + 1) + ": feature " +
                    std::to_string(bad % d + 1) + " is " +
                    (std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf") +
                    " (training data must be finite numbers)",
                SourceLoc{source});
  }
  if (!data.labels.shape().empty() && ir::isFloat(data.labels.dtype()))
    for (int64_t r = 0; r < data.labels.numel(); ++r)
      if (!std::isfinite(data.labels.at(r)))
        throw Error("sample " + std::to_string(r + 1) + ": the target is " +
                        (std::isnan(data.labels.at(r)) ? "NaN" : "infinite") +
                        " (training data must be finite numbers)",
                    SourceLoc{source});
  if (classes <= 0 || data.labels.shape().empty() || data.labels.dtype() != ir::DType::i32)
    return;
  const int32_t *labels = data.labels.as<int32_t>();
  for (int64_t r = 0; r < n; ++r)
    if (labels[r] < 0 || labels[r] >= classes)
      throw Error("sample " + std::to_string(r + 1) + " has label " + std::to_string(labels[r]) +
                      ", but the model has " + std::to_string(classes) + " classes (labels 0.." +
                      std::to_string(classes - 1) + ")",
                  SourceLoc{source});
}

void DataSpec::validate() const {
  bool haveIdx = !idxImages.empty() || !idxLabels.empty();
  int sources = !csv.empty() + haveIdx + !npy.empty();
  if (sources == 0)
    throw Error("no data: give a CSV file, IDX images and labels, or .npy files by input name");
  if (sources > 1)
    throw Error("give one kind of data: a CSV file, IDX files or .npy files, not several");
  if (npy.empty() && (!testNpy.empty() || !validationNpy.empty()))
    throw Error("test and validation .npy files need training .npy files");
  if (npy.empty() && !masks.empty())
    throw Error("node masks need the graph's inputs from .npy files");
  if (!npy.empty() && (scale || standardize))
    throw Error("scale and standardize apply to CSV and IDX features; prepare .npy inputs "
                "before training");
  if (!masks.empty()) {
    for (const auto &[split, path] : masks)
      if (split != "train" && split != "validation" && split != "test")
        throw Error("unknown mask split '" + split + "' (train, validation or test)");
    if (!masks.count("train") || !masks.count("test"))
      throw Error("whole-graph training needs a train and a test mask");
    if (!testNpy.empty() || !validationNpy.empty())
      throw Error("whole-graph training uses one graph; the masks choose the test and "
                  "validation nodes (no separate test or validation files)");
  }
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
  if (!spec.npy.empty())
    return loadNamedTrainingData(spec);
  TrainingData out;
  if (!spec.csv.empty()) {
    CsvDatasetOptions o;
    o.labelColumn = spec.labelColumn;
    o.dtype = dtype;
    o.labelDType = spec.labelDType;
    Dataset all = firstSamples(checked(loadCsvDataset(spec.csv, o), spec.classes, spec.csv),
                               spec.limit);
    TrainTestSplit s = trainTestSplit(all, spec.testFraction, spec.seed);
    out.train = std::move(s.train);
    out.test = std::move(s.test);
  } else {
    Dataset all = firstSamples(checked(idxData(spec, spec.idxImages, spec.idxLabels, dtype),
                                       spec.classes, spec.idxLabels),
                               spec.limit);
    if (!spec.idxTestImages.empty()) {
      out.train = std::move(all);
      out.test = firstSamples(
          checked(idxData(spec, spec.idxTestImages, spec.idxTestLabels, dtype), spec.classes,
                  spec.idxTestLabels),
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
    out.preparation.standardize = std::move(stats);
  } else if (spec.scale) {
    for (Dataset *d : {&out.train, &out.test})
      runtime::scale(*d, *spec.scale);
    if (out.validation)
      runtime::scale(*out.validation, *spec.scale);
    out.preparation.scale = spec.scale;
  }
  return out;
}

} // namespace chainjit::runtime::train
