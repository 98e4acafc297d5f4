// A .npy array read row by row at its offsets (RowReader.h): the header
// says the dtype and shape, the rows follow it in C order.
#include "chainjit/runtime/RowReader.h"

#include "data/FileBytes.h"
#include "data/RowReaderFile.h"

#include "chainjit/runtime/TensorIO.h"

#include <cstring>

namespace chainjit::runtime {

using detail::preadExactly;

namespace {

// NumPy writes headers of a few hundred bytes; a longer one is not read.
constexpr size_t kMaxHeaderBytes = size_t(1) << 20;

class NpyRowReader final : public RowReader {
public:
  NpyRowReader(const std::string &path, int fd, uint64_t fileBytes) : RowReader(path, fd) {
    fileBytes_ = fileBytes;
    // The magic, the version and the header length (4 bytes in 2.0).
    std::string head(12, '\0');
    auto *h = reinterpret_cast<unsigned char *>(head.data());
    size_t prefix = std::min<uint64_t>(fileBytes, 12);
    if (fileBytes < 10 || !preadExactly(fd, h, prefix, 0))
      detail::failIn(path, "not a .npy file (it is shorter than the 10-byte preamble)");
    if (head.compare(0, 6, "\x93NUMPY") != 0)
      detail::failIn(path, "not a .npy file (it does not start with \\x93NUMPY)");
    size_t start = 10, length = h[8] | size_t(h[9]) << 8;
    if (h[6] == 2) {
      if (prefix < 12)
        detail::failIn(path, "truncated .npy header: the file ends inside the 4-byte header "
                             "length of a version 2.0 file");
      start = 12;
      length = 0;
      for (int k = 3; k >= 0; --k)
        length = length << 8 | h[8 + k];
    }
    if (length > kMaxHeaderBytes)
      detail::failIn(path, "the .npy header declares " + std::to_string(length) +
                               " bytes; a header is not that long");
    if (length > fileBytes - start)
      detail::failIn(path, "truncated .npy header: it declares " + std::to_string(length) +
                               " bytes from byte offset " + std::to_string(start) +
                               ", the file has " + std::to_string(fileBytes - start));
    head.resize(start + length);
    h = reinterpret_cast<unsigned char *>(head.data());
    if (!preadExactly(fd, h, start + length, 0))
      detail::failIn(path, "the file changed while its header was read");
    header_ = parseNpyHeader(head, path); // dtype, C order, shape that can exist
    if (header_.shape.empty())
      detail::failIn(path, "holds a scalar (shape ()); rows need an array of rank >= 1");
    rows_ = header_.shape[0];
    rowElements_ = 1;
    for (size_t d = 1; d < header_.shape.size(); ++d)
      rowElements_ *= header_.shape[d]; // bounded by declaredTensorBytes (or a 0 dimension)
    rowBytes_ = static_cast<uint64_t>(rowElements_) * ir::dtypeSize(header_.dtype);
    dataOffset_ = header_.dataOffset;
    checkFileSize("the .npy shape and dtype '" + header_.descr + "'");
  }

private:
  template <typename T> void convertTo(const unsigned char *b, int64_t n, T *to) const {
    switch (header_.dtype) {
    case ir::DType::f32:
      for (int64_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, b + 4 * i, 4);
        to[i] = static_cast<T>(v);
      }
      break;
    case ir::DType::f64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, b + 8 * i, 8);
        to[i] = static_cast<T>(v);
      }
      break;
    case ir::DType::i32:
      for (int64_t i = 0; i < n; ++i) {
        int32_t v;
        std::memcpy(&v, b + 4 * i, 4);
        to[i] = static_cast<T>(v);
      }
      break;
    case ir::DType::boolean:
      for (int64_t i = 0; i < n; ++i) {
        if (b[i] > 1)
          detail::failIn(path_, "a value is " + std::to_string(b[i]) + "; '" + header_.descr +
                                    "' data is read as bool and must be 0 or 1");
        to[i] = static_cast<T>(b[i]);
      }
      break;
    }
  }
  void convert(const unsigned char *b, int64_t n, float *to) const override {
    convertTo(b, n, to);
  }
  void convert(const unsigned char *b, int64_t n, double *to) const override {
    convertTo(b, n, to);
  }

  NpyHeader header_;
};

} // namespace

std::unique_ptr<RowReader> openNpyRowReader(const std::string &path) {
  std::optional<detail::OpenedFile> f = detail::openForRows(path);
  if (!f)
    return nullptr;
  // A header the constructor refuses closes the descriptor in ~RowReader.
  return std::make_unique<NpyRowReader>(path, f->fd, f->bytes);
}

} // namespace chainjit::runtime
