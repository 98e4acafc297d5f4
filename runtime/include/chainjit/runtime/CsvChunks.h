// A CSV file read a chunk of rows at a time, so that files larger than
// memory can be processed (`chainjit predict`). Plain and gzip-compressed
// files are read alike (zlib's gz* functions). Each chunk is parsed by
// parseCsv (TensorIO.h), with the dialect described there; the line numbers
// in chunks and errors are the file's.
#pragma once

#include "chainjit/runtime/TensorIO.h"

#include <cstdint>
#include <memory>
#include <string>

namespace chainjit::runtime {

class CsvChunkReader {
public:
  // Throws chainjit::Error naming the file when it cannot be opened.
  explicit CsvChunkReader(const std::string &path);
  ~CsvChunkReader();
  CsvChunkReader(const CsvChunkReader &) = delete;
  CsvChunkReader &operator=(const CsvChunkReader &) = delete;

  // The next up to `maxRows` rows (blank and '#' lines do not count);
  // false at the end of the file. A header is recognized in the first chunk
  // only (CsvTable::header); a field that is not a number later is an error.
  // Every chunk must have the first chunk's number of columns.
  bool next(int64_t maxRows, CsvTable &chunk);

  const std::string &path() const { return path_; }

private:
  bool readLine(std::string &line);

  std::string path_;
  struct File;
  std::unique_ptr<File> file_;
  int line_ = 0;
  bool first_ = true;
  bool sawLine_ = false; // a line that is not blank or a comment was read
  int64_t cols_ = -1;
};

} // namespace chainjit::runtime
