// A .npy array read row by row at its offsets (RowReader.h): the header
// says the dtype and shape, the rows follow it in C order.
#include "chainjit/runtime/RowReader.h"

#include "data/FileBytes.h"
#include "data/RowReaderFile.h"

#include "chainjit/runtime/TensorIO.h"
#include "chainjit/ir/Error.h"

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
    fileType_ = ir::TensorType{header_.dtype, header_.shape};
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

Dataset openNpyDatasetRows(const std::vector<std::pair<std::string, std::string>> &files) {
  auto source = std::make_shared<RowSource>();
  Dataset d;
  std::string first; // "x=train_x.npy", the file the others are compared with
  int64_t rows = -1;  // its leading axis
  for (const auto &[name, path] : files) {
    if (d.inputs.count(name))
      throw Error("the data names input '" + name + "' twice");
    std::shared_ptr<const RowReader> reader = openNpyRowReader(path);
    ir::Tensor whole; // a vector, or a file without row offsets
    ir::TensorType type;
    if (reader && reader->fileType()->shape.size() >= 2) {
      type = *reader->fileType();
    } else {
      reader.reset();
      whole = readNpy(path);
      if (whole.shape().empty())
        throw Error("holds a scalar; a data input has at least one axis", SourceLoc{path});
      type = whole.type();
    }
    if (rows >= 0 && type.shape[0] != rows)
      throw Error("has " + std::to_string(type.shape[0]) + " samples along its leading axis (" +
                      type.str() + "), but " + first + " has " + std::to_string(rows) +
                      " (the inputs of row-wise data are batched together)",
                  SourceLoc{path});
    if (first.empty()) {
      first = name + "=" + path;
      rows = type.shape[0];
    }
    d.sources[name] = path;
    if (reader) {
      type.shape[0] = 0;
      d.inputs[name] = ir::Tensor(type); // the rows stay in the file
      source->inputs[name] = std::move(reader);
    } else {
      d.inputs[name] = std::move(whole);
    }
  }
  if (source->inputs.empty())
    return d; // all in memory
  // One index a row: checked like every allocation a file's header sizes.
  detail::checkAllocIn(source->inputs.begin()->second->path(),
                       8 * static_cast<uint64_t>(rows), "the row index");
  source->rows.resize(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i)
    source->rows[static_cast<size_t>(i)] = i;
  d.featureRows = std::move(source);
  return d;
}

} // namespace chainjit::runtime
