// Reading chosen rows of a file at their offsets, and the datasets whose
// features stay in their file (RowReader.h).
#include "chainjit/runtime/RowReader.h"

#include "data/FileBytes.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/IndexBounds.h"

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

template <typename F> void RowReader::forEachRun(std::span<const int64_t> indices, F f) const {
  auto m = static_cast<int64_t>(indices.size());
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
    f(staging.data(), k, run);
    total += bytes;
    k += run;
  }
  bytesRead_ += total;
}

void RowReader::read(std::span<const int64_t> indices, ir::Tensor &out) const {
  auto m = static_cast<int64_t>(indices.size());
  if (out.dtype() != ir::DType::f32 && out.dtype() != ir::DType::f64)
    throw Error("RowReader::read: the rows go into f32 or f64, not " + out.type().str());
  if (out.numel() != m * rowElements_)
    throw Error("RowReader::read: " + std::to_string(m) + " rows of " +
                std::to_string(rowElements_) + " values do not fill " + out.type().str());
  forEachRun(indices, [&](const unsigned char *bytes, int64_t k, int64_t run) {
    int64_t at = k * rowElements_;
    if (out.dtype() == ir::DType::f32) {
      convert(bytes, run * rowElements_, out.as<float>() + at);
      checkFinite(out.as<float>() + at, run, rowElements_, indices.subspan(k), path_);
    } else {
      convert(bytes, run * rowElements_, out.as<double>() + at);
      checkFinite(out.as<double>() + at, run, rowElements_, indices.subspan(k), path_);
    }
  });
}

void RowReader::readRaw(std::span<const int64_t> indices, ir::Tensor &out) const {
  auto m = static_cast<int64_t>(indices.size());
  if (!fileType_ || out.dtype() != fileType_->dtype || out.numel() != m * rowElements_)
    throw Error("RowReader::readRaw: " + std::to_string(m) + " rows of " + path_ +
                " do not go into " + out.type().str() + " as they are");
  auto *to = static_cast<unsigned char *>(out.data());
  forEachRun(indices, [&](const unsigned char *bytes, int64_t k, int64_t run) {
    uint64_t n = static_cast<uint64_t>(run) * rowBytes_;
    std::memcpy(to + static_cast<uint64_t>(k) * rowBytes_, bytes, n);
    if (out.dtype() == ir::DType::boolean)
      for (uint64_t i = 0; i < n; ++i)
        if (bytes[i] > 1)
          detail::failIn(path_, "row " + std::to_string(indices[k + int64_t(i / rowBytes_)] + 1) +
                                    " holds the byte " + std::to_string(bytes[i]) +
                                    "; bool data must be 0 or 1");
  });
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

// The rows `indices` of what `data` holds in memory: its labels and the
// named inputs that are not read on demand (vectors, gzipped files).
Dataset inMemoryRows(const Dataset &data, const std::vector<int64_t> &indices) {
  Dataset out;
  if (!data.labels.shape().empty())
    out.labels = gatheredLabels(data, indices);
  Dataset whole;
  for (const auto &[name, t] : data.inputs)
    if (!data.featureRows->inputs.count(name))
      whole.inputs[name] = t;
  if (!whole.inputs.empty())
    out.inputs = batch(whole, indices).inputs;
  return out;
}

// Rows `fileRows` of a named input, bytes as they are; NaN and infinite
// entries are errors naming the file, the sample and the entry.
ir::Tensor readInputRows(const RowReader &reader, const std::vector<int64_t> &fileRows) {
  const ir::TensorType &file = *reader.fileType();
  ir::TensorType type = file;
  type.shape[0] = static_cast<int64_t>(fileRows.size());
  detail::checkAllocIn(reader.path(),
                       static_cast<uint64_t>(fileRows.size()) * reader.rowBytes(),
                       "a batch of " + std::to_string(fileRows.size()) + " rows (" +
                           type.str() + ")");
  ir::Tensor t(type);
  reader.readRaw(fileRows, t);
  if (ir::isFloat(t.dtype())) {
    int64_t per = reader.rowElements();
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = t.at(i);
      if (std::isfinite(v))
        continue;
      int64_t row = fileRows[static_cast<size_t>(i / per)];
      throw Error("sample " + std::to_string(row + 1) + ": entry " +
                      ir::positionText(file.shape, row * per + i % per) + " is " +
                      (std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf") +
                      " (training data must be finite numbers)",
                  SourceLoc{reader.path()});
    }
  }
  return t;
}

} // namespace

Dataset selectRows(const Dataset &data, const std::vector<int64_t> &indices) {
  checkIndices(data, indices, "batch");
  auto source = std::make_shared<RowSource>(*data.featureRows);
  source->rows.clear();
  source->rows.reserve(indices.size());
  for (int64_t i : indices)
    source->rows.push_back(data.featureRows->rows[static_cast<size_t>(i)]);
  Dataset out = inMemoryRows(data, indices);
  out.sources = data.sources;
  if (!data.features.shape().empty())
    out.features = ir::Tensor({source->dtype, {0, data.numFeatures()}});
  for (const auto &[name, t] : data.inputs)
    if (source->inputs.count(name))
      out.inputs[name] = t; // the placeholder [0, ...]
  out.featureRows = std::move(source);
  return out;
}

int64_t rowsOnDemand(const RowSource &source) { return source.size(); }

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
  std::vector<int64_t> fileRows;
  fileRows.reserve(indices.size());
  for (int64_t i : indices)
    fileRows.push_back(s.rows[static_cast<size_t>(i)]);
  Dataset out = inMemoryRows(data, indices);
  out.sources = data.sources;
  for (const auto &[name, reader] : s.inputs)
    out.inputs[name] = readInputRows(*reader, fileRows);
  if (!s.reader)
    return out;
  int64_t d = data.numFeatures();
  ir::TensorType type{s.dtype, {m, d}};
  detail::checkAllocIn(s.reader->path(),
                       static_cast<uint64_t>(m) * static_cast<uint64_t>(d) *
                           ir::dtypeSize(s.dtype),
                       "a batch of " + std::to_string(m) + " rows (" + type.str() + ")");
  out.features = ir::Tensor(type);
  s.reader->read(fileRows, out.features);
  for (double factor : s.scales)
    scaleFeatures(out.features, factor);
  if (s.stats)
    standardizeFeatures(out.features, *s.stats);
  return out;
}

uint64_t rowBytesRead(const std::vector<const Dataset *> &sets) {
  std::vector<const RowReader *> seen;
  uint64_t total = 0;
  for (const Dataset *d : sets) {
    if (!d || !d->featureRows)
      continue;
    std::vector<const RowReader *> readers{d->featureRows->reader.get()};
    for (const auto &entry : d->featureRows->inputs)
      readers.push_back(entry.second.get());
    for (const RowReader *r : readers) {
      if (!r || std::find(seen.begin(), seen.end(), r) != seen.end())
        continue;
      seen.push_back(r);
      total += r->bytesRead();
    }
  }
  return total;
}

} // namespace chainjit::runtime
