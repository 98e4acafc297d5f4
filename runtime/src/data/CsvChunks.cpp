// CSV read chunk by chunk (CsvChunks.h).
#include "chainjit/runtime/CsvChunks.h"

#include "FileBytes.h"

#include "chainjit/ir/Error.h"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <vector>

namespace chainjit::runtime {

// gzread into a buffer of our own rather than gzgets: gzgets stops copying
// at a NUL byte, which would silently lose the rest of the line.
struct CsvChunkReader::File {
  gzFile gz = nullptr;
  std::vector<char> buffer = std::vector<char>(size_t(1) << 16);
  size_t pos = 0, end = 0;
};

CsvChunkReader::CsvChunkReader(const std::string &path)
    : path_(path), file_(std::make_unique<File>()) {
  file_->gz = gzopen(path.c_str(), "rb");
  if (!file_->gz)
    detail::failIn(path, "cannot open the file");
}

CsvChunkReader::~CsvChunkReader() {
  if (file_->gz)
    gzclose(file_->gz);
}

bool CsvChunkReader::readLine(std::string &line) {
  line.clear();
  File &f = *file_;
  int lineNo = line_ + 1;
  while (true) {
    if (f.pos == f.end) {
      int n = gzread(f.gz, f.buffer.data(), static_cast<unsigned>(f.buffer.size()));
      int err = Z_OK;
      const char *msg = gzerror(f.gz, &err);
      if (err == Z_BUF_ERROR)
        detail::failIn(path_, "the compressed data is truncated");
      if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
        detail::failIn(path_, std::string("cannot read the file: ") + msg);
      if (n == 0)
        return !line.empty();
      f.pos = 0;
      f.end = static_cast<size_t>(n);
    }
    const char *start = f.buffer.data() + f.pos;
    size_t left = f.end - f.pos;
    const char *newline = static_cast<const char *>(std::memchr(start, '\n', left));
    size_t take = newline ? static_cast<size_t>(newline - start) : left;
    if (std::memchr(start, '\0', take))
      detail::failIn(path_, "a NUL byte (this is not a text file)", lineNo);
    // One line of a file larger than memory must still fit.
    detail::checkAllocIn(path_, line.size() + take, "line " + std::to_string(lineNo));
    line.append(start, take);
    f.pos += take + (newline ? 1 : 0);
    if (newline)
      return true;
  }
}

// Whether a first line is a header (a field that is not a number); a line
// parseCsv rejects is not, and the chunk's parse reports it with its place.
static bool isHeaderLine(const std::string &line) {
  try {
    return !parseCsv(line, "").header.empty();
  } catch (const Error &) {
    return false;
  }
}

bool CsvChunkReader::next(int64_t maxRows, CsvTable &chunk) {
  std::string text, line;
  int firstLine = line_ + 1;
  int64_t rows = 0;
  while (rows < maxRows) {
    if (line_ == std::numeric_limits<int>::max())
      detail::failIn(path_, "more than 2147483647 lines");
    if (!readLine(line))
      break;
    ++line_;
    size_t start = line.find_first_not_of(" \t\r");
    // The file's first line is a header when parseCsv says so; it is not
    // one of the chunk's rows.
    bool header = first_ && !sawLine_ && start != std::string::npos && line[start] != '#' &&
                  isHeaderLine(line);
    if (start != std::string::npos && line[start] != '#') {
      sawLine_ = true;
      rows += header ? 0 : 1;
    }
    detail::checkAllocIn(path_, text.size() + line.size() + 1,
                         "a chunk of " + std::to_string(rows) + " rows");
    text += line;
    text += '\n';
  }
  if (rows == 0)
    return false;
  try {
    chunk = parseCsv(text, path_);
  } catch (const Error &e) {
    std::vector<Diagnostic> d = e.diagnostics();
    for (Diagnostic &x : d)
      if (x.loc.line > 0)
        x.loc.line += firstLine - 1;
    throw Error(d);
  }
  for (int &l : chunk.lines)
    l += firstLine - 1;
  if (!chunk.header.empty() && !first_)
    detail::failIn(path_, "a field that is not a number", firstLine);
  first_ = false;
  if (chunk.rows == 0) // the chunk was a header only
    return next(maxRows, chunk);
  if (cols_ >= 0 && chunk.cols != cols_)
    detail::failIn(path_, "this row has " + std::to_string(chunk.cols) +
                              " fields, the rows before it " + std::to_string(cols_),
                   chunk.lines.front());
  cols_ = chunk.cols;
  return true;
}

} // namespace chainjit::runtime
