// Reading chosen rows of a file at their offsets, and the datasets whose
// features stay in their file (RowReader.h).
#include "chainjit/runtime/RowReader.h"

#include "data/FileBytes.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <unistd.h>

namespace chainjit::runtime {

namespace {

// Rows read with one pread: consecutive indices up to this many bytes, so
// that the staging buffer stays small whatever the batch.
constexpr uint64_t kMaxRunBytes = uint64_t(1) << 20;

template <typename T>
void checkFinite(const T *v, int64_t rows, int64_t perRow, std::span<const int64_t> fileRows,
                 const std::string &path) {
  for (int64_t i = 0; i < rows * perRow; ++i)
    if (!std::isfinite(v[i]))
      detail::failIn(path, "row " + std::to_string(fileRows[i / perRow] + 1) + ", value " +
                               std::to_string(i % perRow + 1) + " is " +
                               (std::isnan(v[i]) ? "NaN" : v[i] > 0 ? "inf" : "-inf") +
                               " (training data must be finite numbers)");
}

} // namespace

RowReader::RowReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

RowReader::~RowReader() {
  if (fd_ >= 0)
    ::close(fd_);
}

void RowReader::checkFileSize(const std::string &whatNeeds) const {
  // rows_ * rowBytes_ is bounded by the caller's declaredTensorBytes check.
  uint64_t need = static_cast<uint64_t>(rows_) * rowBytes_;
  uint64_t have = fileBytes_ - dataOffset_;
  if (have < need)
    detail::failIn(path_, "truncated file: " + whatNeeds + " need " + std::to_string(need) +
                              " data bytes from byte offset " + std::to_string(dataOffset_) +
                              ", the file has " + std::to_string(have));
  if (have > need)
    detail::failIn(path_, "the file has " + std::to_string(have - need) +
                              " bytes after the data " + whatNeeds + " describe (from byte offset " +
                              std::to_string(dataOffset_ + need) + ")");
}

void RowReader::read(std::span<const int64_t> indices, ir::Tensor &out) const {
  auto m = static_cast<int64_t>(indices.size());
  if (out.dtype() != ir::DType::f32 && out.dtype() != ir::DType::f64)
    throw Error("RowReader::read: the rows go into f32 or f64, not " + out.type().str());
  if (out.numel() != m * rowElements_)
    throw Error("RowReader::read: " + std::to_string(m) + " rows of " +
                std::to_string(rowElements_) + " values do not fill " + out.type().str());
  for (int64_t k = 0; k < m; ++k)
    if (indices[k] < 0 || indices[k] >= rows_)
      detail::failIn(path_, "row index " + std::to_string(indices[k]) + " (position " +
                                std::to_string(k) + ") is out of range for " +
                                std::to_string(rows_) + " rows");
  if (m == 0 || rowBytes_ == 0)
    return;
  int64_t maxRunRows = std::max<int64_t>(1, static_cast<int64_t>(kMaxRunBytes / rowBytes_));
  std::vector<unsigned char> staging;
  uint64_t total = 0;
  for (int64_t k = 0; k < m;) {
    int64_t run = 1;
    while (k + run < m && run < maxRunRows && indices[k + run] == indices[k] + run)
      ++run;
    uint64_t bytes = static_cast<uint64_t>(run) * rowBytes_;
    staging.resize(bytes);
    uint64_t offset = dataOffset_ + static_cast<uint64_t>(indices[k]) * rowBytes_;
    for (uint64_t got = 0; got < bytes;) {
      ssize_t r = ::pread(fd_, staging.data() + got, bytes - got,
                          static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        detail::failIn(path_, std::string("cannot read rows: ") + std::strerror(errno));
      if (r == 0)
        detail::failIn(path_, "the file ends at byte offset " + std::to_string(offset + got) +
                                  " inside row " + std::to_string(indices[k] + 1) +
                                  " (did it change while training?)");
      got += static_cast<uint64_t>(r);
    }
    int64_t at = k * rowElements_;
    if (out.dtype() == ir::DType::f32) {
      convert(staging.data(), run * rowElements_, out.as<float>() + at);
      checkFinite(out.as<float>() + at, run, rowElements_, indices.subspan(k), path_);
    } else {
      convert(staging.data(), run * rowElements_, out.as<double>() + at);
      checkFinite(out.as<double>() + at, run, rowElements_, indices.subspan(k), path_);
    }
    total += bytes;
    k += run;
  }
  bytesRead_ += total;
}

// ---- datasets whose features stay in their file ----

namespace {

void checkIndices(const Dataset &data, const std::vector<int64_t> &indices, const char *op) {
  for (size_t k = 0; k < indices.size(); ++k)
    if (indices[k] < 0 || indices[k] >= data.size())
      throw Error(std::string(op) + ": index " + std::to_string(indices[k]) + " (position " +
                  std::to_string(k) + ") is out of range for a dataset of " +
                  std::to_string(data.size()) + " samples");
}

ir::Tensor gatheredLabels(const Dataset &data, const std::vector<int64_t> &indices) {
  ir::checkAlloc(4 * static_cast<uint64_t>(indices.size()), "the labels of a batch");
  ir::Tensor labels(ir::i32({static_cast<int64_t>(indices.size())}));
  for (size_t k = 0; k < indices.size(); ++k)
    labels.as<int32_t>()[k] = data.labels.as<int32_t>()[indices[k]];
  return labels;
}

} // namespace

Dataset selectRows(const Dataset &data, const std::vector<int64_t> &indices) {
  checkIndices(data, indices, "batch");
  auto source = std::make_shared<RowSource>(*data.featureRows);
  source->rows.clear();
  source->rows.reserve(indices.size());
  for (int64_t i : indices)
    source->rows.push_back(data.featureRows->rows[static_cast<size_t>(i)]);
  Dataset out;
  out.features = ir::Tensor({source->dtype, {0, data.numFeatures()}});
  out.labels = gatheredLabels(data, indices);
  out.featureRows = std::move(source);
  return out;
}

void scaleRows(Dataset &data, double factor) {
  auto source = std::make_shared<RowSource>(*data.featureRows);
  source->scales.push_back(factor);
  data.featureRows = std::move(source);
}

void standardizeRows(Dataset &data, const FeatureStats &stats) {
  if (static_cast<int64_t>(stats.mean.size()) != data.numFeatures() ||
      static_cast<int64_t>(stats.std.size()) != data.numFeatures())
    throw Error("standardize: statistics for " + std::to_string(stats.mean.size()) +
                " features, the data has " + std::to_string(data.numFeatures()));
  auto source = std::make_shared<RowSource>(*data.featureRows);
  source->stats = stats;
  data.featureRows = std::move(source);
}

FeatureStats standardizeRows(Dataset &data) {
  if (data.featureRows->stats)
    throw Error("standardize: the dataset is standardized already");
  int64_t n = data.size(), d = data.numFeatures();
  FeatureStats stats;
  stats.mean.assign(static_cast<size_t>(d), 0.0);
  stats.std.assign(static_cast<size_t>(d), 0.0);
  // Chunks of rows in dataset order, so that every sum adds the same values
  // in the same order as DatasetOps.cpp's loops over the rows in memory.
  int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(d * 8, 1));
  auto eachRow = [&](auto f) {
    for (int64_t begin = 0; begin < n; begin += chunk) {
      std::vector<int64_t> rows;
      for (int64_t r = begin; r < std::min(n, begin + chunk); ++r)
        rows.push_back(r);
      Dataset part = gatherRows(data, rows);
      for (int64_t r = 0; r < part.size(); ++r)
        for (int64_t c = 0; c < d; ++c)
          f(c, part.features.at(r * d + c));
    }
  };
  eachRow([&](int64_t c, double x) { stats.mean[c] += x; });
  for (int64_t c = 0; c < d; ++c)
    stats.mean[c] = n ? stats.mean[c] / static_cast<double>(n) : 0.0;
  eachRow([&](int64_t c, double x) {
    double dev = x - stats.mean[c];
    stats.std[c] += dev * dev;
  });
  for (int64_t c = 0; c < d; ++c) {
    double s = n ? std::sqrt(stats.std[c] / static_cast<double>(n)) : 0.0;
    stats.std[c] = s > 0 ? s : 1.0;
  }
  standardizeRows(data, stats);
  return stats;
}

Dataset gatherRows(const Dataset &data, const std::vector<int64_t> &indices) {
  if (!data.featureRows)
    return batch(data, indices);
  checkIndices(data, indices, "batch");
  const RowSource &s = *data.featureRows;
  auto m = static_cast<int64_t>(indices.size());
  int64_t d = data.numFeatures();
  std::vector<int64_t> fileRows;
  fileRows.reserve(indices.size());
  for (int64_t i : indices)
    fileRows.push_back(s.rows[static_cast<size_t>(i)]);
  ir::TensorType type{s.dtype, {m, d}};
  detail::checkAllocIn(s.reader->path(),
                       static_cast<uint64_t>(m) * static_cast<uint64_t>(d) *
                           ir::dtypeSize(s.dtype),
                       "a batch of " + std::to_string(m) + " rows (" + type.str() + ")");
  Dataset out;
  out.features = ir::Tensor(type);
  s.reader->read(fileRows, out.features);
  for (double factor : s.scales)
    scaleFeatures(out.features, factor);
  if (s.stats)
    standardizeFeatures(out.features, *s.stats);
  out.labels = gatheredLabels(data, indices);
  return out;
}

uint64_t rowBytesRead(const std::vector<const Dataset *> &sets) {
  std::vector<const RowReader *> seen;
  uint64_t total = 0;
  for (const Dataset *d : sets) {
    if (!d || !d->featureRows)
      continue;
    const RowReader *r = d->featureRows->reader.get();
    if (std::find(seen.begin(), seen.end(), r) != seen.end())
      continue;
    seen.push_back(r);
    total += r->bytesRead();
  }
  return total;
}

} // namespace chainjit::runtime
