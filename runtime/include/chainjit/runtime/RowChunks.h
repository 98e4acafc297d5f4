// The rows of a .npy array [N, ...] or of IDX images [N, H, W], read a chunk
// of rows at a time (`chainjit predict`), as CsvChunks.h does for CSV: the
// header is read and checked first, then only the rows asked for are in
// memory, so files larger than memory work. Plain and gzip-compressed files
// are read alike (zlib's gz* functions). Every error names the file; a file
// that ends early or has bytes after its data is an error when it is found.
#pragma once

#include "chainjit/ir/Types.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chainjit::runtime {

class RowChunkReader {
public:
  virtual ~RowChunkReader();
  RowChunkReader(const RowChunkReader &) = delete;
  RowChunkReader &operator=(const RowChunkReader &) = delete;

  // The file's type: a .npy array's dtype and shape, IDX images as
  // f64 [N, H, W] (values 0..255).
  const ir::TensorType &type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t rowElements() const { return rowElements_; }
  const std::string &path() const { return path_; }

  // The next up to `maxRows` rows (row-major, rowElements() values each) as
  // doubles into `values`; returns how many rows, 0 at the end.
  int64_t next(int64_t maxRows, std::vector<double> &values);

protected:
  explicit RowChunkReader(const std::string &path);
  // Reads exactly n bytes, or fails saying what ended (`what`).
  void readExactly(char *to, size_t n, const std::string &what);
  // Converts `rows` rows of raw bytes; fails for values the dtype forbids.
  virtual void convert(const char *bytes, int64_t rows, std::vector<double> &values) = 0;
  // The error for a file that ends inside its data.
  virtual std::string truncated(uint64_t endsAt) const = 0;
  // The error for bytes after the data.
  virtual std::string trailing(uint64_t from) const = 0;

  std::string path_;
  ir::TensorType type_;
  int64_t rows_ = 0, rowElements_ = 0;
  uint64_t rowBytes_ = 0, dataOffset_ = 0;

private:
  struct File;
  std::unique_ptr<File> file_;
  int64_t done_ = 0;
  bool finished_ = false;
  uint64_t offset_ = 0; // bytes read (of the uncompressed data)
};

// A .npy file (NumPy 1.0 or 2.0 format, the dtypes of TensorIO.h's
// parseNpy) of rank >= 1, row by row along its first axis.
std::unique_ptr<RowChunkReader> openNpyRows(const std::string &path);

// An IDX file of unsigned-byte images with 3 dimensions (MNIST's
// train-images-idx3-ubyte), image by image, without labels.
std::unique_ptr<RowChunkReader> openIdxImageRows(const std::string &path);

} // namespace chainjit::runtime
