// CSV read chunk by chunk (CsvChunks.h).
#include "chainjit/runtime/CsvChunks.h"

#include "FileBytes.h"

#include "chainjit/ir/Error.h"

#include <zlib.h>

namespace chainjit::runtime {

struct CsvChunkReader::File {
  gzFile gz = nullptr;
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
  char buf[8192];
  while (gzgets(file_->gz, buf, sizeof buf)) {
    line += buf;
    if (line.back() == '\n') {
      line.pop_back();
      return true;
    }
  }
  int err = Z_OK;
  const char *msg = gzerror(file_->gz, &err);
  if (err == Z_BUF_ERROR)
    detail::failIn(path_, "the compressed data is truncated");
  if (err != Z_OK)
    detail::failIn(path_, std::string("cannot read the file: ") + msg);
  return !line.empty();
}

bool CsvChunkReader::next(int64_t maxRows, CsvTable &chunk) {
  std::string text, line;
  int firstLine = line_ + 1;
  int64_t rows = 0;
  while (rows < maxRows && readLine(line)) {
    ++line_;
    size_t start = line.find_first_not_of(" \t\r");
    if (start != std::string::npos && line[start] != '#')
      ++rows;
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
