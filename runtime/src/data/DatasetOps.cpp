// Standardization, scaling, the seeded train/test split and batches. See
// Dataset.h.
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/RowReader.h"

#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/Error.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>

namespace chainjit::runtime {

using ir::Tensor;

namespace {

// Checks the invariants every operation relies on: features (float [N, D])
// and labels ([N], any dtype) where present, and every named input with N
// along its leading axis.
void checkDataset(const Dataset &data, const char *op) {
  if (data.wholeGraph)
    throw Error(std::string(op) + ": a whole graph is one sample; it cannot be split, "
                                  "batched or scaled row by row");
  int64_t n = data.size();
  const ir::Shape &fs = data.features.shape();
  bool haveFeatures = !fs.empty();
  if (haveFeatures && (fs.size() != 2 || !ir::isFloat(data.features.dtype()) ||
                       (data.featureRows && fs[0] != 0)))
    throw Error(std::string(op) + ": dataset features must be f32 or f64 [N, D], not " +
                data.features.type().str());
  if (!data.labels.shape().empty() &&
      (data.labels.shape().size() != 1 || data.labels.shape()[0] != n))
    throw Error(std::string(op) + ": dataset labels must be [" + std::to_string(n) +
                "], not " + data.labels.type().str());
  if (!haveFeatures && data.inputs.empty())
    throw Error(std::string(op) + ": the dataset has neither features nor named inputs");
  for (const auto &[name, t] : data.inputs)
    if (data.featureRows && data.featureRows->inputs.count(name))
      continue; // [0, ...]: the rows stay in the file (RowReader.h)
    else if (t.shape().empty() || t.shape()[0] != n)
      throw Error(std::string(op) + ": input '" + name + "' is " + t.type().str() + ", but the "
                  "dataset has " + std::to_string(n) + " samples along the leading axis");
}

// Rows `indices` of `t` (rank >= 1) along its leading axis; `n` its length.
Tensor takeRows(const Tensor &t, const std::vector<int64_t> &indices) {
  ir::Shape shape = t.shape();
  int64_t n = shape[0];
  auto m = static_cast<int64_t>(indices.size());
  shape[0] = m;
  Tensor out({t.dtype(), shape});
  size_t rowBytes = n > 0 ? t.numel() / n * ir::dtypeSize(t.dtype()) : 0;
  const auto *src = static_cast<const char *>(t.data());
  auto *dst = static_cast<char *>(out.data());
  for (int64_t k = 0; k < m; ++k) {
    int64_t r = indices[static_cast<size_t>(k)];
    if (r < 0 || r >= n)
      throw Error("batch: index " + std::to_string(r) + " (position " + std::to_string(k) +
                  ") is out of range for a dataset of " + std::to_string(n) + " samples");
    if (rowBytes)
      std::memcpy(dst + k * rowBytes, src + r * rowBytes, rowBytes);
  }
  return out;
}

} // namespace


namespace {

// x -> f(x, entry index) in double, rounded once to the element type.
template <typename F> void transformFeatures(ir::Tensor &features, F f) {
  auto run = [&](auto *v) {
    using T = std::remove_pointer_t<decltype(v)>;
    const int64_t n = features.numel(); // once: it multiplies the shape out
    for (int64_t i = 0; i < n; ++i)
      v[i] = static_cast<T>(f(static_cast<double>(v[i]), i));
  };
  if (features.dtype() == ir::DType::f32)
    run(features.as<float>());
  else if (features.dtype() == ir::DType::f64)
    run(features.as<double>());
  else
    throw Error("features must be f32 or f64, not " + features.type().str());
}

} // namespace

void standardizeFeatures(ir::Tensor &features, const FeatureStats &stats) {
  // Entries per row: the dimensions after the first (also with no rows).
  const ir::Shape &shape = features.shape();
  int64_t d = shape.empty() ? 1 : ir::numElements(ir::Shape(shape.begin() + 1, shape.end()));
  if (static_cast<int64_t>(stats.mean.size()) != d ||
      static_cast<int64_t>(stats.std.size()) != d)
    throw Error("standardize: statistics for " + std::to_string(stats.mean.size()) +
                " features, the data has " + std::to_string(d));
  transformFeatures(features, [&](double x, int64_t i) {
    return (x - stats.mean[i % d]) / stats.std[i % d];
  });
}

void scaleFeatures(ir::Tensor &features, double factor) {
  transformFeatures(features, [&](double x, int64_t) { return x * factor; });
}

void standardize(Dataset &data, const FeatureStats &stats) {
  checkDataset(data, "standardize");
  if (data.featureRows)
    return standardizeRows(data, stats); // applied to each batch as it is read
  standardizeFeatures(data.features, stats);
}

FeatureStats standardize(Dataset &data) {
  checkDataset(data, "standardize");
  if (data.featureRows)
    return standardizeRows(data); // two passes over the file, a chunk at a time
  if (data.features.shape().empty())
    throw Error("standardize: the dataset has no features matrix (named inputs are fed as "
                "given)");
  int64_t n = data.size(), d = data.numFeatures();
  FeatureStats stats;
  stats.mean.assign(static_cast<size_t>(d), 0.0);
  stats.std.assign(static_cast<size_t>(d), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < d; ++c)
      stats.mean[c] += data.features.at(r * d + c);
  for (int64_t c = 0; c < d; ++c)
    stats.mean[c] = n ? stats.mean[c] / static_cast<double>(n) : 0.0;
  // Two passes: the sum of squared deviations, not E[x^2] - E[x]^2.
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < d; ++c) {
      double dev = data.features.at(r * d + c) - stats.mean[c];
      stats.std[c] += dev * dev;
    }
  for (int64_t c = 0; c < d; ++c) {
    double s = n ? std::sqrt(stats.std[c] / static_cast<double>(n)) : 0.0;
    stats.std[c] = s > 0 ? s : 1.0;
  }
  standardize(data, stats);
  return stats;
}

void scale(Dataset &data, double factor) {
  checkDataset(data, "scale");
  if (data.featureRows)
    return scaleRows(data, factor); // applied to each batch as it is read
  if (data.features.shape().empty())
    throw Error("scale: the dataset has no features matrix (named inputs are fed as given)");
  scaleFeatures(data.features, factor);
}

std::vector<int64_t> shuffledIndices(int64_t n, uint64_t seed) {
  if (n < 0)
    throw Error("shuffledIndices: negative count " + std::to_string(n));
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t(0));
  for (int64_t i = n - 1; i > 0; --i) {
    // j uniform in [0, i]: the high 64 bits of a 64 x 64-bit product (bias
    // below (i + 1) / 2^64), the same on every platform.
    uint64_t bits = ir::counterRandomBits(seed, 0, static_cast<uint64_t>(i));
    auto j = static_cast<int64_t>(
        (static_cast<unsigned __int128>(bits) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  return idx;
}

Dataset batch(const Dataset &data, const std::vector<int64_t> &indices) {
  checkDataset(data, "batch");
  if (data.featureRows)
    return selectRows(data, indices); // still on demand: gatherRows() reads
  Dataset out;
  out.sources = data.sources;
  if (!data.features.shape().empty())
    out.features = takeRows(data.features, indices);
  if (!data.labels.shape().empty())
    out.labels = takeRows(data.labels, indices);
  for (const auto &[name, t] : data.inputs)
    out.inputs[name] = takeRows(t, indices);
  return out;
}

TrainTestSplit trainTestSplit(const Dataset &data, double testFraction, uint64_t seed) {
  checkDataset(data, "trainTestSplit");
  if (!(testFraction >= 0.0 && testFraction <= 1.0))
    throw Error("trainTestSplit: the test fraction must lie in [0, 1], not " +
                std::to_string(testFraction));
  int64_t n = data.size();
  auto nTest = static_cast<int64_t>(std::llround(testFraction * static_cast<double>(n)));
  std::vector<int64_t> order = shuffledIndices(n, seed);
  std::vector<int64_t> test(order.begin(), order.begin() + nTest);
  std::vector<int64_t> train(order.begin() + nTest, order.end());
  return {batch(data, train), batch(data, test)};
}

} // namespace chainjit::runtime
