#include "chainjit/runtime/RowChunks.h"

#include "FileBytes.h"
#include "chainjit/runtime/TensorIO.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>

namespace chainjit::runtime {

struct RowChunkReader::File {
  gzFile gz = nullptr;
  std::vector<char> chunk;
};

RowChunkReader::RowChunkReader(const std::string &path)
    : path_(path), file_(std::make_unique<File>()) {
  file_->gz = gzopen(path.c_str(), "rb");
  if (!file_->gz)
    detail::failIn(path, "cannot open the file");
}

RowChunkReader::~RowChunkReader() {
  if (file_->gz)
    gzclose(file_->gz);
}

void RowChunkReader::readExactly(char *to, size_t n, const std::string &what) {
  size_t got = 0;
  while (got < n) {
    unsigned ask = static_cast<unsigned>(std::min<size_t>(n - got, size_t(1) << 30));
    int r = gzread(file_->gz, to + got, ask);
    int err = Z_OK;
    const char *msg = gzerror(file_->gz, &err);
    if (err == Z_BUF_ERROR)
      detail::failIn(path_, "the compressed data is truncated");
    if (r < 0 || (err != Z_OK && err != Z_STREAM_END))
      detail::failIn(path_, std::string("cannot read the file: ") + msg);
    if (r == 0)
      detail::failIn(path_, what.empty() ? truncated(offset_ + got) : what);
    got += static_cast<size_t>(r);
  }
  offset_ += n;
}

int64_t RowChunkReader::next(int64_t maxRows, std::vector<double> &values) {
  values.clear();
  int64_t rows = std::min(maxRows, rows_ - done_);
  if (rows <= 0) {
    if (!finished_) { // the end: nothing may follow the data
      finished_ = true;
      char extra;
      int r = gzread(file_->gz, &extra, 1);
      int err = Z_OK;
      gzerror(file_->gz, &err);
      if (err == Z_BUF_ERROR)
        detail::failIn(path_, "the compressed data is truncated");
      if (r > 0)
        detail::failIn(path_, trailing(offset_));
    }
    return 0;
  }
  // rows * rowBytes_ <= the file's declared data, which declaredTensorBytes
  // bounded; the limit is checked all the same before allocating.
  uint64_t bytes = static_cast<uint64_t>(rows) * rowBytes_;
  detail::checkAllocIn(path_, bytes + static_cast<uint64_t>(rows * rowElements_) * 8,
                       "a chunk of " + std::to_string(rows) + " rows");
  file_->chunk.resize(bytes);
  readExactly(file_->chunk.data(), bytes, "");
  values.reserve(static_cast<size_t>(rows * rowElements_));
  convert(file_->chunk.data(), rows, values);
  done_ += rows;
  return rows;
}

namespace {

std::string shapeTuple(const ir::Shape &s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i)
    r += std::to_string(s[i]) + (s.size() == 1 ? "," : i + 1 < s.size() ? ", " : "");
  return r + ")";
}

uint32_t bigEndian32(const unsigned char *b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}

class NpyRows final : public RowChunkReader {
public:
  explicit NpyRows(const std::string &path) : RowChunkReader(path) {
    // The magic, the version and the header length, then the header.
    std::string prefix(10, '\0');
    readExactly(prefix.data(), 10, "not a .npy file (it is shorter than the 10-byte preamble)");
    if (prefix.compare(0, 6, "\x93NUMPY") != 0)
      detail::failIn(path, "not a .npy file (it does not start with \\x93NUMPY)");
    size_t headerLen = static_cast<unsigned char>(prefix[8]) |
                       static_cast<size_t>(static_cast<unsigned char>(prefix[9])) << 8;
    if (prefix[6] == 2) {
      prefix.resize(12);
      readExactly(prefix.data() + 10, 2,
                  "truncated .npy header: the file ends inside the 4-byte header length of "
                  "a version 2.0 file");
      headerLen = 0;
      for (int k = 3; k >= 0; --k)
        headerLen = headerLen << 8 | static_cast<unsigned char>(prefix[8 + k]);
    }
    if (headerLen > (size_t(1) << 20)) // NumPy writes a few hundred bytes
      detail::failIn(path, "the .npy header declares " + std::to_string(headerLen) +
                               " bytes; a header is not that long");
    size_t start = prefix.size();
    prefix.resize(start + headerLen);
    readExactly(prefix.data() + start, headerLen,
                "truncated .npy header: it declares " + std::to_string(headerLen) +
                    " bytes from byte offset " + std::to_string(start));
    header_ = parseNpyHeader(prefix, path);
    if (header_.shape.empty())
      detail::failIn(path, "holds a scalar (shape ()); rows need an array of rank >= 1");
    type_ = {header_.dtype, header_.shape};
    rows_ = header_.shape[0];
    rowElements_ = 1;
    for (size_t d = 1; d < header_.shape.size(); ++d)
      rowElements_ *= header_.shape[d]; // bounded by declaredTensorBytes (or a 0 dimension)
    rowBytes_ = static_cast<uint64_t>(rowElements_) * ir::dtypeSize(header_.dtype);
    dataOffset_ = header_.dataOffset;
  }

private:
  void convert(const char *bytes, int64_t rows, std::vector<double> &values) override {
    int64_t n = rows * rowElements_;
    for (int64_t i = 0; i < n; ++i) {
      switch (header_.dtype) {
      case ir::DType::f32: {
        float v;
        std::memcpy(&v, bytes + 4 * i, 4);
        values.push_back(v);
        break;
      }
      case ir::DType::f64: {
        double v;
        std::memcpy(&v, bytes + 8 * i, 8);
        values.push_back(v);
        break;
      }
      case ir::DType::i32: {
        int32_t v;
        std::memcpy(&v, bytes + 4 * i, 4);
        values.push_back(v);
        break;
      }
      case ir::DType::boolean: {
        auto v = static_cast<unsigned char>(bytes[i]);
        if (v > 1) {
          uint64_t at = dataOffset_ + static_cast<uint64_t>(first_ + i);
          detail::failIn(path_, "element " + std::to_string(first_ + i) + " (byte offset " +
                                    std::to_string(at) + ") is " + std::to_string(v) + "; '" +
                                    header_.descr + "' data is read as bool and must be 0 or 1");
        }
        values.push_back(v);
        break;
      }
      }
    }
    first_ += n;
  }
  std::string truncated(uint64_t endsAt) const override {
    return "truncated .npy data: shape " + shapeTuple(header_.shape) + " of '" + header_.descr +
           "' needs " + std::to_string(header_.dataBytes) + " bytes from byte offset " +
           std::to_string(header_.dataOffset) + ", the file ends at byte offset " +
           std::to_string(endsAt);
  }
  std::string trailing(uint64_t from) const override {
    return "the .npy file has bytes after the data of shape " + shapeTuple(header_.shape) +
           " of '" + header_.descr + "' (from byte offset " + std::to_string(from) + ")";
  }

  NpyHeader header_;
  int64_t first_ = 0; // elements converted so far
};

class IdxImageRows final : public RowChunkReader {
public:
  explicit IdxImageRows(const std::string &path) : RowChunkReader(path) {
    unsigned char h[16];
    readExactly(reinterpret_cast<char *>(h), 4,
                "truncated IDX file: too short for the magic number");
    uint32_t magic = bigEndian32(h);
    if (magic != 0x00000803u) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08x", magic);
      detail::failIn(path, std::string("bad magic number ") + hex +
                               " for an IDX images file (expected 0x00000803, unsigned "
                               "bytes, 3 dimensions)");
    }
    readExactly(reinterpret_cast<char *>(h) + 4, 12,
                "truncated IDX file: the header needs 16 bytes");
    uint64_t n = bigEndian32(h + 4), height = bigEndian32(h + 8), width = bigEndian32(h + 12);
    dims_ = std::to_string(n) + " x " + std::to_string(height) + " x " + std::to_string(width);
    // Each dimension is below 2^32: a row (height * width) fits in 64 bits,
    // and the whole must fit a tensor.
    ir::Shape shape{static_cast<int64_t>(n), static_cast<int64_t>(height),
                    static_cast<int64_t>(width)};
    if (!detail::declaredTensorBytes(ir::DType::f64, shape))
      detail::failIn(path, "IDX dimensions " + dims_ + " are too large to exist");
    type_ = {ir::DType::f64, shape};
    rows_ = shape[0];
    rowElements_ = shape[1] * shape[2];
    rowBytes_ = static_cast<uint64_t>(rowElements_);
    dataOffset_ = 16;
  }

private:
  void convert(const char *bytes, int64_t rows, std::vector<double> &values) override {
    for (int64_t i = 0; i < rows * rowElements_; ++i)
      values.push_back(static_cast<unsigned char>(bytes[i]));
  }
  std::string truncated(uint64_t endsAt) const override {
    return "truncated IDX file: dimensions " + dims_ + " need " +
           std::to_string(static_cast<uint64_t>(rows_) * rowBytes_) +
           " data bytes after the 16-byte header, the file ends at byte offset " +
           std::to_string(endsAt);
  }
  std::string trailing(uint64_t from) const override {
    return "IDX file has bytes after the data its dimensions describe (from byte offset " +
           std::to_string(from) + ")";
  }

  std::string dims_;
};

} // namespace

std::unique_ptr<RowChunkReader> openNpyRows(const std::string &path) {
  return std::make_unique<NpyRows>(path);
}

std::unique_ptr<RowChunkReader> openIdxImageRows(const std::string &path) {
  return std::make_unique<IdxImageRows>(path);
}

} // namespace chainjit::runtime
