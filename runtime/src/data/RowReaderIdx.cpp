// IDX images read row by row at their offsets, and an IDX images/labels
// pair as a dataset whose features stay in the images file (RowReader.h).
#include "chainjit/runtime/RowReader.h"

#include "data/FileBytes.h"
#include "data/RowReaderFile.h"

#include <cstdio>

namespace chainjit::runtime {

using detail::openForRows;
using detail::OpenedFile;
using detail::preadExactly;

namespace {

uint32_t bigEndian32(const unsigned char *b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

class IdxImageRowReader final : public RowReader {
public:
  IdxImageRowReader(const std::string &path, int fd, uint64_t fileBytes)
      : RowReader(path, fd) {
    fileBytes_ = fileBytes;
    unsigned char h[16];
    if (fileBytes < 4 || !preadExactly(fd, h, 4, 0))
      detail::failIn(path, "truncated IDX file: " + std::to_string(fileBytes) +
                               " bytes, too short for the magic number");
    uint32_t magic = bigEndian32(h);
    if (magic != 0x00000803u)
      detail::failIn(path, "bad magic number " + hex32(magic) +
                               " for an IDX images file (expected 0x00000803, unsigned bytes, "
                               "3 dimensions)");
    if (fileBytes < 16 || !preadExactly(fd, h + 4, 12, 4))
      detail::failIn(path, "truncated IDX file: the header needs 16 bytes, the file has " +
                               std::to_string(fileBytes));
    uint64_t n = bigEndian32(h + 4), height = bigEndian32(h + 8), width = bigEndian32(h + 12);
    std::string dims =
        std::to_string(n) + " x " + std::to_string(height) + " x " + std::to_string(width);
    // Each dimension is below 2^32, so height * width fits in 64 bits; the
    // whole must be a tensor that can exist before the file size is compared.
    ir::Shape shape{static_cast<int64_t>(n), static_cast<int64_t>(height),
                    static_cast<int64_t>(width)};
    if (!detail::declaredTensorBytes(ir::DType::f64, shape))
      detail::failIn(path, "IDX dimensions " + dims + " are too large to exist");
    rows_ = shape[0];
    rowElements_ = shape[1] * shape[2];
    rowBytes_ = static_cast<uint64_t>(rowElements_);
    dataOffset_ = 16;
    checkFileSize("the IDX dimensions " + dims);
  }

private:
  void convert(const unsigned char *b, int64_t n, float *to) const override {
    for (int64_t i = 0; i < n; ++i)
      to[i] = b[i];
  }
  void convert(const unsigned char *b, int64_t n, double *to) const override {
    for (int64_t i = 0; i < n; ++i)
      to[i] = b[i];
  }
};

// The labels of an IDX labels file (magic 0x00000801), gzip or not: a byte
// a row, so they are read whole.
ir::Tensor idxLabels(const std::string &path) {
  std::string b = detail::readFileBytes(path);
  if (detail::isGzip(b))
    b = detail::gunzip(b, path);
  const auto *u = reinterpret_cast<const unsigned char *>(b.data());
  if (b.size() < 4)
    detail::failIn(path, "truncated IDX file: " + std::to_string(b.size()) +
                             " bytes, too short for the magic number");
  if (bigEndian32(u) != 0x00000801u)
    detail::failIn(path, "bad magic number " + hex32(bigEndian32(u)) +
                             " for an IDX labels file (expected 0x00000801, unsigned bytes, 1 "
                             "dimension)");
  if (b.size() < 8)
    detail::failIn(path, "truncated IDX file: the header needs 8 bytes, the file has " +
                             std::to_string(b.size()));
  uint64_t n = bigEndian32(u + 4), have = b.size() - 8;
  if (have != n)
    detail::failIn(path, have < n ? "truncated IDX file: dimensions need " + std::to_string(n) +
                                        " data bytes, the file has " + std::to_string(have) +
                                        " after its 8-byte header"
                                  : "IDX file has " + std::to_string(have - n) +
                                        " bytes after the data its dimensions describe (from "
                                        "byte offset " +
                                        std::to_string(8 + n) + ")");
  ir::Tensor labels(ir::i32({static_cast<int64_t>(n)}));
  for (uint64_t i = 0; i < n; ++i)
    labels.as<int32_t>()[i] = u[8 + i];
  return labels;
}

} // namespace

std::unique_ptr<RowReader> openIdxImageRowReader(const std::string &path) {
  std::optional<OpenedFile> f = openForRows(path);
  if (!f)
    return nullptr;
  // A header the constructor refuses closes the descriptor in ~RowReader
  // (the base is constructed by then).
  return std::make_unique<IdxImageRowReader>(path, f->fd, f->bytes);
}

std::optional<Dataset> openIdxDatasetRows(const std::string &imagesPath,
                                          const std::string &labelsPath, ir::DType dtype) {
  if (dtype != ir::DType::f32 && dtype != ir::DType::f64)
    detail::failIn(imagesPath, "features are read as f32 or f64, not " +
                                   std::string(ir::dtypeName(dtype)));
  std::shared_ptr<const RowReader> reader = openIdxImageRowReader(imagesPath);
  if (!reader)
    return std::nullopt;
  ir::Tensor labels = idxLabels(labelsPath);
  if (labels.numel() != reader->rows())
    detail::failIn(labelsPath, "has " + std::to_string(labels.numel()) + " labels but " +
                                   imagesPath + " has " + std::to_string(reader->rows()) +
                                   " images");
  // One index a row: checked like every allocation a file's header sizes.
  detail::checkAllocIn(imagesPath, 8 * static_cast<uint64_t>(reader->rows()), "the row index");
  auto source = std::make_shared<RowSource>();
  source->reader = reader;
  source->dtype = dtype;
  source->rows.resize(static_cast<size_t>(reader->rows()));
  for (int64_t i = 0; i < reader->rows(); ++i)
    source->rows[static_cast<size_t>(i)] = i;
  Dataset d;
  d.features = ir::Tensor({dtype, {0, reader->rowElements()}});
  d.labels = std::move(labels);
  d.featureRows = std::move(source);
  return d;
}

} // namespace chainjit::runtime
