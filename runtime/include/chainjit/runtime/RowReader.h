// Random access to the rows of a data file, for data-parallel training
// (docs/distributed.md): a rank reads the rows of its shard of each batch
// from the file when the batch needs them, and never holds the data set.
//
// Only formats whose rows have a fixed size at a computable offset allow
// it: uncompressed IDX images (16-byte header, then rows of H*W bytes) and
// uncompressed .npy arrays in C order (header, then rows of fixed size).
// Gzip-compressed files (under any name) and CSV have no row offsets; their
// open functions return null and the caller loads the whole file instead.
//
// Every size in a header is checked against the file's real size before
// anything is allocated; every error names the file.
#pragma once

#include "chainjit/ir/Tensor.h"
#include "chainjit/runtime/Dataset.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace chainjit::runtime {

class RowReader {
public:
  virtual ~RowReader();
  RowReader(const RowReader &) = delete;
  RowReader &operator=(const RowReader &) = delete;

  const std::string &path() const { return path_; }
  int64_t rows() const { return rows_; }
  // Values per row (H*W for IDX images; the product of a .npy array's
  // dimensions after the first).
  int64_t rowElements() const { return rowElements_; }
  // Bytes of one row in the file.
  uint64_t rowBytes() const { return rowBytes_; }

  // Reads the rows `indices` (each in [0, rows()), any order, repeats
  // allowed) into `out`, a f32 or f64 tensor of indices.size() *
  // rowElements() values, row k at k * rowElements(). Consecutive indices
  // are read with one pread. Thread-safe (pread at explicit offsets).
  // Values the file holds that a training feature cannot be (NaN, inf) are
  // an error naming the row.
  void read(std::span<const int64_t> indices, ir::Tensor &out) const;

  // The file's element type and dimensions (leading axis first) where its
  // rows can be copied as they are (.npy); nullopt for IDX bytes.
  const std::optional<ir::TensorType> &fileType() const { return fileType_; }

  // Reads the rows `indices` as read() does, but copies their bytes as
  // they are into `out`, a tensor of fileType()'s dtype and indices.size()
  // rows (bool data is checked to be 0 or 1). No finiteness check: the
  // caller names the sample (RowSource::inputs).
  void readRaw(std::span<const int64_t> indices, ir::Tensor &out) const;

  // The bytes of rows this reader has read so far (not the header).
  uint64_t bytesRead() const { return bytesRead_.load(); }

protected:
  RowReader(std::string path, int fd);
  // Converts n values of the file's element type to T.
  virtual void convert(const unsigned char *bytes, int64_t n, float *to) const = 0;
  virtual void convert(const unsigned char *bytes, int64_t n, double *to) const = 0;
  // Checks that the file holds exactly dataOffset_ + rows_ * rowBytes_ bytes.
  void checkFileSize(const std::string &whatNeeds) const;

  std::string path_;
  int fd_ = -1;
  int64_t rows_ = 0, rowElements_ = 0;
  uint64_t rowBytes_ = 0, dataOffset_ = 0, fileBytes_ = 0;
  std::optional<ir::TensorType> fileType_;

private:
  // Calls f(bytes, k, run) for each run of consecutive indices read at once.
  template <typename F> void forEachRun(std::span<const int64_t> indices, F f) const;
  mutable std::atomic<uint64_t> bytesRead_{0};
};

// IDX images (magic 0x00000803: unsigned bytes [N, H, W], MNIST's
// train-images-idx3-ubyte) as rows of H*W values 0..255; null for a
// gzip-compressed file.
std::unique_ptr<RowReader> openIdxImageRowReader(const std::string &path);

// A .npy array of rank >= 1 (f32, f64, i32 or bool; little-endian C order)
// as rows along its first axis; null for a gzip-compressed file.
std::unique_ptr<RowReader> openNpyRowReader(const std::string &path);

// ---- datasets whose features stay in their file ----

// The features of a Dataset read on demand: dataset row i is file row
// rows[i] of the reader, converted to `dtype`, multiplied by each of
// `scales` in turn and then standardized with `stats` when set, exactly as
// an in-memory Dataset's features are converted, scaled and standardized
// (so a batch gathered either way has the same bits).
struct RowSource {
  std::shared_ptr<const RowReader> reader;
  std::vector<int64_t> rows;
  ir::DType dtype = ir::DType::f32;
  std::vector<double> scales;
  std::optional<FeatureStats> stats;
  // Named inputs (.npy, rank >= 2) read the same way, by input name: the
  // dataset's `inputs` entry is then an empty [0, ...] tensor of the file's
  // dtype and per-sample shape; gatherRows() reads the rows `rows` of each,
  // bytes as they are, and checks floats to be finite (naming the file and
  // the sample, as the whole-file loader does).
  std::map<std::string, std::shared_ptr<const RowReader>> inputs;

  int64_t size() const { return static_cast<int64_t>(rows.size()); }
};

// A dataset of the named .npy inputs `files` (name -> path) whose inputs of
// rank >= 2 stay in their files where they can. Vectors (a label or target
// a row) and files without row offsets (a pipe) are read whole, each once;
// featureRows is null when every input was. All leading axes must agree
// (an error names both files). Floats read whole are not checked here.
Dataset openNpyDatasetRows(const std::vector<std::pair<std::string, std::string>> &files);

// An IDX images and labels pair as a Dataset whose features stay in the
// images file (Dataset::featureRows; features is an empty [0, H*W] tensor,
// labels are read whole: a byte a row), or nullopt when the images file
// is gzip-compressed (the caller loads it whole with loadIdxDataset). The
// same checks as loadIdxDataset: magic numbers, dimensions against the
// file sizes, the same number of samples in both files.
std::optional<Dataset> openIdxDatasetRows(const std::string &imagesPath,
                                          const std::string &labelsPath, ir::DType dtype);

// The rows `indices` of a dataset in memory: batch(data, indices) for an
// ordinary one; for one whose features stay in a file, they are read now.
// What the trainer calls for every batch.
Dataset gatherRows(const Dataset &data, const std::vector<int64_t> &indices);

// The bytes of rows the readers behind `sets` have read, each reader counted
// once (the datasets split from one file share its reader; a dataset in
// memory and a null pointer add 0).
uint64_t rowBytesRead(const std::vector<const Dataset *> &sets);

// What batch(), scale() and standardize() do to a dataset whose features
// stay in a file (DatasetOps.cpp calls these): select rows without reading
// them, remember the factor or the statistics. The statistics of the
// dataset's own rows are computed as standardize() computes them in memory
// (the same sums in the same order), from two passes that read the rows a
// chunk at a time: every row is read twice, none is kept.
Dataset selectRows(const Dataset &data, const std::vector<int64_t> &indices);
void scaleRows(Dataset &data, double factor);
FeatureStats standardizeRows(Dataset &data);
void standardizeRows(Dataset &data, const FeatureStats &stats);

} // namespace chainjit::runtime
