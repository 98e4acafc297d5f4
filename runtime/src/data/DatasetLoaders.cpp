// Loading datasets from CSV and IDX files, plain or gzip-compressed. See
// Dataset.h.
#include "chainjit/runtime/Dataset.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/TensorIO.h"
#include "data/FileBytes.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

namespace chainjit::runtime {

using ir::DType;
using ir::Tensor;

namespace {

[[noreturn]] void fail(const std::string &path, std::string message, int line = 0,
                       int col = 0) {
  detail::failIn(path, std::move(message), line, col);
}

bool endsWithGz(const std::string &path) {
  if (path.size() < 3)
    return false;
  std::string ext = path.substr(path.size() - 3);
  for (char &c : ext)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".gz";
}

// The file's bytes, decompressed if they are gzip (whatever the name); a
// name ending in .gz must hold gzip data.
std::string decompressed(std::string bytes, const std::string &name) {
  if (detail::isGzip(bytes))
    return detail::gunzip(bytes, name);
  if (endsWithGz(name))
    fail(name, "not a gzip file (the name ends in .gz)");
  return bytes;
}

std::string readDataFile(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail(path, "no such file");
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory, not a data file");
  return detail::readFileBytes(path);
}

void checkFloatDType(DType dtype, const std::string &path) {
  if (!ir::isFloat(dtype))
    fail(path, "dataset features must be f32 or f64, not " +
                   std::string(ir::dtypeName(dtype)));
}

// The 1-based character column of field `field` (0-based) on line `lineNo`.
int fieldColumn(std::string_view text, int lineNo, int64_t field) {
  size_t pos = 0;
  for (int l = 1; l < lineNo && pos < text.size(); ++l) {
    size_t nl = text.find('\n', pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
  }
  size_t lineStart = pos;
  for (int64_t f = 0; f < field; ++f) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos)
      break;
    pos = comma + 1;
  }
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t'))
    ++pos;
  return static_cast<int>(pos - lineStart + 1);
}

uint32_t bigEndian32(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

std::string shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// An IDX file of unsigned bytes with `rank` dimensions: its dims and the
// offset of the data.
struct IdxFile {
  std::string bytes;
  std::vector<uint64_t> dims;
  size_t dataOffset = 0;
};

std::string dimsText(const std::vector<uint64_t> &dims) {
  std::string r;
  for (size_t i = 0; i < dims.size(); ++i)
    r += (i ? " x " : "") + std::to_string(dims[i]);
  return r;
}

IdxFile parseIdxU8(std::string raw, const std::string &path, int rank, const char *what) {
  IdxFile idx;
  idx.bytes = decompressed(std::move(raw), path);
  const std::string &b = idx.bytes;
  uint32_t expectedMagic = 0x00000800u | static_cast<uint32_t>(rank);
  if (b.size() < 4)
    fail(path, "truncated IDX file: " + std::to_string(b.size()) +
                   " bytes, too short for the magic number");
  uint32_t magic = bigEndian32(b, 0);
  if (magic != expectedMagic)
    fail(path, "bad magic number " + hex32(magic) + " for an IDX " + what +
                   " file (expected " + hex32(expectedMagic) + ", unsigned bytes, " +
                   std::to_string(rank) + " dimension" + (rank == 1 ? "" : "s") + ")");
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (b.size() < header)
    fail(path, "truncated IDX file: the header needs " + std::to_string(header) +
                   " bytes, the file has " + std::to_string(b.size()));
  for (int d = 0; d < rank; ++d)
    idx.dims.push_back(bigEndian32(b, 4 + 4 * static_cast<size_t>(d)));
  idx.dataOffset = header;
  // The dimensions must describe exactly the data bytes the file has. The
  // product is computed with an overflow check: dimensions such as
  // 2 x 2147549185 x 4294836226 wrap a 64-bit product to 4. (Only the last
  // factor can overflow, as two factors below 2^32 fit in 64 bits, so an
  // overflowing product is never 0.)
  uint64_t have = b.size() - header;
  uint64_t count = 1;
  for (uint64_t dim : idx.dims)
    if (__builtin_mul_overflow(count, dim, &count))
      fail(path, "truncated IDX file: dimensions " + dimsText(idx.dims) +
                     " need more than 2^64 data bytes, the file has " + std::to_string(have) +
                     " after its " + std::to_string(header) + "-byte header");
  if (have < count)
    fail(path, "truncated IDX file: dimensions need " + std::to_string(count) +
                   " data bytes, the file has " + std::to_string(have) + " after its " +
                   std::to_string(header) + "-byte header");
  if (have > count)
    fail(path, "IDX file has " + std::to_string(have - count) +
                   " bytes after the data its dimensions describe (from byte offset " +
                   std::to_string(header + count) + ")");
  return idx;
}

} // namespace

Dataset loadCsvDataset(const std::string &path, const CsvDatasetOptions &opts) {
  checkFloatDType(opts.dtype, path);
  return parseCsvDataset(readDataFile(path), path, opts);
}

Dataset parseCsvDataset(std::string_view bytes, const std::string &path,
                        const CsvDatasetOptions &opts) {
  checkFloatDType(opts.dtype, path);
  std::string text = decompressed(std::string(bytes), path);
  CsvTable table = parseCsv(text, path);
  if (table.rows == 0)
    fail(path, "no data rows");
  bool hasLabel = opts.labelDType.has_value();
  if (hasLabel && *opts.labelDType != DType::i32)
    checkFloatDType(*opts.labelDType, path);
  if (table.cols < (hasLabel ? 2 : 1))
    fail(path, "a dataset needs a label column and at least one feature column, "
               "the rows have " + std::to_string(table.cols) + " column" +
                   (table.cols == 1 ? "" : "s"));
  // Without a label column (a model without targets) every column is a feature.
  int64_t label = !hasLabel                ? -1
                  : opts.labelColumn < 0 ? table.cols + opts.labelColumn
                                         : opts.labelColumn;
  if (hasLabel && (label < 0 || label >= table.cols))
    fail(path, "label column " + std::to_string(opts.labelColumn) + " is out of range for " +
                   std::to_string(table.cols) + " columns");
  int64_t n = table.rows, d = table.cols - (hasLabel ? 1 : 0);
  Dataset data;
  // Both are no larger than the table already in memory; checked all the
  // same, with the file named.
  detail::checkAllocIn(path, static_cast<uint64_t>(n) * (ir::dtypeSize(opts.dtype) * d + 8),
                       "the dataset");
  data.features = Tensor({opts.dtype, {n, d}});
  bool classLabels = hasLabel && *opts.labelDType == DType::i32;
  if (hasLabel)
    data.labels = Tensor({*opts.labelDType, {n}});
  for (int64_t r = 0; r < n; ++r) {
    const double *row = table.values.data() + r * table.cols;
    if (classLabels) {
      double y = row[label];
      if (!(y >= 0) || std::floor(y) != y || y > std::numeric_limits<int32_t>::max()) {
        int line = table.lines[static_cast<size_t>(r)];
        fail(path,
             "label " + shortNumber(y) +
                 (y < 0 ? " is negative" : " is not a whole number in 0..2147483647") +
                 " (class labels are 0, 1, 2, ...)",
             line, fieldColumn(text, line, label));
      }
      data.labels.as<int32_t>()[r] = static_cast<int32_t>(y);
    } else if (hasLabel) {
      // A regression target: any number (a NaN is reported by checkSamples
      // with the sample's position, as a feature's is).
      data.labels.set(r, row[label]);
    }
    int64_t c = 0;
    for (int64_t k = 0; k < table.cols; ++k)
      if (k != label)
        data.features.set(r * d + c++, row[k]);
  }
  return data;
}

Dataset loadIdxDataset(const std::string &imagesPath, const std::string &labelsPath,
                       DType dtype) {
  checkFloatDType(dtype, imagesPath);
  std::string images = readDataFile(imagesPath);
  std::string labels = readDataFile(labelsPath);
  return parseIdxDataset(images, imagesPath, labels, labelsPath, dtype);
}

Dataset parseIdxDataset(std::string_view imagesBytes, const std::string &imagesPath,
                        std::string_view labelsBytes, const std::string &labelsPath,
                        DType dtype) {
  checkFloatDType(dtype, imagesPath);
  IdxFile images = parseIdxU8(std::string(imagesBytes), imagesPath, 3, "images");
  IdxFile labels = parseIdxU8(std::string(labelsBytes), labelsPath, 1, "labels");
  uint64_t n = images.dims[0];
  if (labels.dims[0] != n)
    fail(labelsPath, "has " + std::to_string(labels.dims[0]) + " labels but " +
                         imagesPath + " has " + std::to_string(n) + " images");
  // Dimensions are below 2^32, so rows * cols fits in 64 bits; with no images
  // it is not bounded by the file, so the shape is checked as every file's is.
  uint64_t d = images.dims[1] * images.dims[2];
  ir::Shape shape{static_cast<int64_t>(n), d > uint64_t(INT64_MAX) ? -1 : int64_t(d)};
  if (!detail::declaredTensorBytes(dtype, shape))
    fail(imagesPath, "images of " + std::to_string(images.dims[1]) + " x " +
                         std::to_string(images.dims[2]) + " pixels are too large to exist as " +
                         std::string(ir::dtypeName(dtype)) + " features");
  ir::TensorType featuresType{dtype, shape};
  detail::checkAllocIn(imagesPath, n * d * ir::dtypeSize(dtype),
                       "the features (" + featuresType.str() + ")");
  Dataset data;
  data.features = Tensor(featuresType);
  data.labels = Tensor(ir::i32({static_cast<int64_t>(n)}));
  const auto *px = reinterpret_cast<const uint8_t *>(images.bytes.data() + images.dataOffset);
  if (dtype == DType::f32) {
    float *out = data.features.as<float>();
    for (uint64_t i = 0; i < n * d; ++i)
      out[i] = px[i];
  } else {
    double *out = data.features.as<double>();
    for (uint64_t i = 0; i < n * d; ++i)
      out[i] = px[i];
  }
  const auto *lb = reinterpret_cast<const uint8_t *>(labels.bytes.data() + labels.dataOffset);
  int32_t *outLabels = data.labels.as<int32_t>();
  for (uint64_t i = 0; i < n; ++i)
    outLabels[i] = lb[i];
  return data;
}

} // namespace chainjit::runtime
