// CSV and .npy files, dtype conversion on load, and the readable printout of
// tensors. See TensorIO.h and docs/cli.md.
#include "chainjit/runtime/TensorIO.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "data/FileBytes.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace chainjit::runtime {

static_assert(std::endian::native == std::endian::little,
              ".npy reading and writing assume a little-endian host");

using ir::DType;
using ir::Tensor;
using ir::TensorType;

namespace {

SourceLoc fileLoc(const std::string &path) {
  SourceLoc loc;
  loc.file = path;
  return loc;
}

[[noreturn]] void fail(const std::string &path, std::string message) {
  throw Error(std::move(message), fileLoc(path));
}

// The whole file; sizes are checked before anything is allocated.
std::string readFileWhole(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory, not a tensor file");
  return detail::readFileBytes(path);
}

void writeFileBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    fail(path, std::string("cannot write file: ") + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out)
    fail(path, "cannot write file");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// A whole field as a number: what from_chars reads (decimal, exponent, nan,
// inf), with an optional leading '+'.
std::optional<double> parseNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  if (s.empty())
    return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) // 1e999: keep strtod's answer
    return std::strtod(std::string(s).c_str(), nullptr);
  if (ec != std::errc() || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::vector<std::string_view> splitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return fields;
}

// The shortest text that reads back to the same value of the element type.
std::string exactNumber(const Tensor &t, int64_t i) {
  char buf[64];
  std::to_chars_result r{};
  switch (t.dtype()) {
  case DType::f32: r = std::to_chars(buf, buf + sizeof buf, t.as<float>()[i]); break;
  case DType::f64: r = std::to_chars(buf, buf + sizeof buf, t.as<double>()[i]); break;
  case DType::i32: r = std::to_chars(buf, buf + sizeof buf, t.as<int32_t>()[i]); break;
  case DType::boolean: return t.as<uint8_t>()[i] ? "1" : "0";
  }
  return std::string(buf, r.ptr);
}

std::string lower(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

// ---------------------------------------------------------------- CSV ----

CsvTable parseCsv(std::string_view text, const std::string &filename) {
  CsvTable table;
  int lineNo = 0;
  bool sawFirstLine = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    // Line numbers are ints in SourceLoc: a file of 2^31 lines (2 GiB of
    // newlines at least) is refused before the count could overflow.
    if (lineNo == std::numeric_limits<int>::max())
      fail(filename, "more than " + std::to_string(lineNo) + " lines");
    ++lineNo;
    std::string_view content = trim(line);
    if (content.empty() || content.front() == '#')
      continue;
    std::vector<std::string_view> fields = splitFields(content);
    std::vector<double> row;
    row.reserve(fields.size());
    bool numeric = true;
    for (std::string_view f : fields) {
      std::optional<double> v = parseNumber(f);
      if (!v) {
        numeric = false;
        break;
      }
      row.push_back(*v);
    }
    if (!numeric && !sawFirstLine) {
      for (std::string_view f : fields)
        table.header.emplace_back(f);
      sawFirstLine = true;
      continue;
    }
    sawFirstLine = true;
    if (!numeric) {
      // Say which field, with its column in the line.
      size_t start = 0;
      for (std::string_view f : fields) {
        size_t comma = line.find(',', start);
        if (!parseNumber(f)) {
          size_t col = line.find(f, start);
          SourceLoc loc = fileLoc(filename);
          loc.line = lineNo;
          loc.col = static_cast<int>((col == std::string_view::npos ? start : col) + 1);
          throw Error(f.empty() ? std::string("empty field (expected a number)")
                                : "'" + std::string(f) + "' is not a number", loc);
        }
        start = comma + 1;
      }
    }
    int64_t cols = static_cast<int64_t>(row.size());
    if (table.rows == 0) {
      table.cols = cols;
    } else if (cols != table.cols) {
      SourceLoc loc = fileLoc(filename);
      loc.line = lineNo;
      loc.col = 1;
      throw Error("row has " + std::to_string(cols) + " values, expected " +
                      std::to_string(table.cols) + " like line " +
                      std::to_string(table.lines.front()),
                  loc);
    }
    table.values.insert(table.values.end(), row.begin(), row.end());
    table.lines.push_back(lineNo);
    ++table.rows;
  }
  return table;
}

CsvTable readCsv(const std::string &path) { return parseCsv(readFileWhole(path), path); }

std::string formatCsv(const Tensor &t) {
  // No elements, no lines: a shape such as [2^40, 0] would otherwise be 2^40
  // empty lines, and an empty file reads back as the same (empty) table.
  if (t.numel() == 0)
    return "";
  int64_t rows = 1, cols = 1;
  const ir::Shape &s = t.shape();
  if (s.size() == 1) {
    rows = s[0];
  } else if (s.size() >= 2) {
    rows = s[0];
    cols = rows == 0 ? 0 : t.numel() / rows;
  }
  std::string out;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (c)
        out += ',';
      out += exactNumber(t, r * cols + c);
    }
    out += '\n';
  }
  return out;
}

void writeCsv(const std::string &path, const Tensor &t) { writeFileBytes(path, formatCsv(t)); }

// ---------------------------------------------------------------- .npy ----

namespace {

constexpr std::string_view kNpyMagic = "\x93NUMPY";
// NumPy 2 allows 64 dimensions (NumPy 1: 32); checkpoints allow as many.
constexpr size_t kMaxNpyRank = 64;

// The Python dict literal of a .npy header: {'descr': '<f4',
// 'fortran_order': False, 'shape': (2, 3), }
class NpyHeaderReader {
public:
  // `base` is the header's byte offset in the file, for messages.
  NpyHeaderReader(std::string_view text, size_t base, const std::string &file)
      : s_(text), base_(base), file_(file) {}

  void read(std::string &descr, bool &fortran, ir::Shape &shape) {
    bool haveDescr = false, haveOrder = false, haveShape = false;
    expect('{');
    while (true) {
      skipSpace();
      if (peek() == '}')
        break;
      std::string key = readString();
      expect(':');
      skipSpace();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          bad("structured dtypes are not supported (descr must be a string like '<f4')");
        descr = readString();
        haveDescr = true;
      } else if (key == "fortran_order") {
        fortran = readBool();
        haveOrder = true;
      } else if (key == "shape") {
        shape = readShape();
        haveShape = true;
      } else {
        bad("unexpected key '" + key + "'");
      }
      skipSpace();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}')
        bad("expected ',' or '}'");
    }
    ++i_;
    skipSpace();
    if (i_ != s_.size())
      bad("unexpected text after the header dictionary");
    if (!haveDescr)
      bad("the header has no 'descr'");
    if (!haveOrder)
      bad("the header has no 'fortran_order'");
    if (!haveShape)
      bad("the header has no 'shape'");
  }

private:
  [[noreturn]] void bad(const std::string &what) {
    fail(file_, "invalid .npy header at byte offset " + std::to_string(base_ + i_) + ": " + what);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])))
      ++i_;
  }
  void expect(char c) {
    skipSpace();
    if (peek() != c)
      bad(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string readString() {
    skipSpace();
    char q = peek();
    if (q != '\'' && q != '"')
      bad("expected a quoted string");
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos)
      bad("unterminated string");
    std::string r(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return r;
  }
  bool readBool() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    bad("fortran_order must be True or False");
  }
  ir::Shape readShape() {
    if (peek() != '(')
      bad("shape must be a tuple like (2, 3)");
    ++i_;
    ir::Shape shape;
    while (true) {
      skipSpace();
      if (peek() == ')')
        break;
      int64_t d = 0;
      auto [end, ec] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), d);
      if (ec == std::errc::result_out_of_range)
        bad("a shape dimension is too large");
      if (ec != std::errc() || d < 0)
        bad("shape dimensions must be non-negative integers");
      if (shape.size() == kMaxNpyRank)
        bad("more than " + std::to_string(kMaxNpyRank) + " dimensions");
      i_ = static_cast<size_t>(end - s_.data());
      if (peek() == 'L') // Python 2 long
        ++i_;
      shape.push_back(d);
      skipSpace();
      if (peek() == ',')
        ++i_;
      else if (peek() != ')')
        bad("expected ',' or ')' in the shape");
    }
    ++i_;
    return shape;
  }

  std::string_view s_;
  size_t base_;
  const std::string &file_;
  size_t i_ = 0;
};

struct NpyDType {
  DType dtype;
  bool bytesAsBool; // |u1: read as bool, must hold only 0 and 1
};

NpyDType npyDType(const std::string &descr, const std::string &file) {
  if (descr == "<f4") return {DType::f32, false};
  if (descr == "<f8") return {DType::f64, false};
  if (descr == "<i4") return {DType::i32, false};
  if (descr == "|b1") return {DType::boolean, false};
  if (descr == "|u1") return {DType::boolean, true};
  if (!descr.empty() && descr[0] == '>')
    fail(file, "big-endian data ('" + descr +
                   "') is not supported; save it little-endian (arr.astype('<" +
                   descr.substr(1) + "'))");
  std::string hint;
  if (descr == "<i8" || descr == "<i2" || descr == "|i1" || descr == "<u4")
    hint = "; convert with arr.astype(np.int32)";
  else if (descr == "<f2")
    hint = "; convert with arr.astype(np.float32)";
  fail(file, "unsupported .npy dtype '" + descr +
                 "' (supported: <f4, <f8, <i4, |b1, |u1)" + hint);
}

std::string shapeTuple(const ir::Shape &s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i)
    r += std::to_string(s[i]) + (s.size() == 1 ? "," : i + 1 < s.size() ? ", " : "");
  return r + ")";
}

} // namespace

NpyHeader parseNpyHeader(std::string_view bytes, const std::string &filename) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kNpyMagic)
    fail(filename, "not a .npy file (it does not start with \\x93NUMPY)");
  auto major = static_cast<unsigned char>(bytes[6]);
  auto minor = static_cast<unsigned char>(bytes[7]);
  size_t headerLen = 0, headerStart = 0;
  if (major == 1 && minor == 0) {
    headerLen = static_cast<unsigned char>(bytes[8]) |
                static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    headerStart = 10;
  } else if (major == 2 && minor == 0) {
    if (bytes.size() < 12)
      fail(filename, "truncated .npy header: the file ends at byte offset " +
                         std::to_string(bytes.size()) +
                         " inside the 4-byte header length of a version 2.0 file");
    for (int k = 3; k >= 0; --k)
      headerLen = headerLen << 8 | static_cast<unsigned char>(bytes[8 + k]);
    headerStart = 12;
  } else {
    fail(filename, "unsupported .npy format version " + std::to_string(major) +
                       "." + std::to_string(minor) + " (supported: 1.0, 2.0)");
  }
  // Every length is compared with the bytes that remain, never added to an
  // offset first, so no sum can wrap.
  if (headerLen > bytes.size() - headerStart)
    fail(filename, "truncated .npy header: it declares " + std::to_string(headerLen) +
                       " bytes from byte offset " + std::to_string(headerStart) +
                       ", the file has " + std::to_string(bytes.size() - headerStart));
  std::string descr;
  bool fortran = false;
  ir::Shape shape;
  NpyHeaderReader(bytes.substr(headerStart, headerLen), headerStart, filename)
      .read(descr, fortran, shape);
  NpyDType dt = npyDType(descr, filename);
  if (fortran)
    fail(filename, "Fortran-order (column-major) arrays are not supported; "
                   "save a C-order array (np.ascontiguousarray)");
  std::optional<uint64_t> need = detail::declaredTensorBytes(dt.dtype, shape);
  if (!need)
    fail(filename, "shape " + shapeTuple(shape) + " of '" + descr +
                       "' is too large to exist (more than " +
                       ir::formatBytes(ir::kMaxTensorBytes) + "); the file has " +
                       std::to_string(bytes.size() - headerStart - headerLen) +
                       " data bytes");
  return NpyHeader{dt.dtype, dt.bytesAsBool, descr, shape, headerStart + headerLen, *need};
}

Tensor parseNpy(std::string_view bytes, const std::string &filename) {
  NpyHeader h = parseNpyHeader(bytes, filename);
  const std::string &descr = h.descr;
  const ir::Shape &shape = h.shape;
  NpyDType dt{h.dtype, h.bytesAsBool};

  size_t dataStart = h.dataOffset;
  size_t have = bytes.size() - dataStart;
  std::optional<uint64_t> need = h.dataBytes;
  if (have < *need)
    fail(filename, "truncated .npy data: shape " + shapeTuple(shape) + " of '" + descr +
                       "' needs " + std::to_string(*need) + " bytes from byte offset " +
                       std::to_string(dataStart) + ", the file has " + std::to_string(have));
  if (have > *need)
    fail(filename, "the .npy file has " + std::to_string(have - *need) +
                       " bytes after the data of shape " + shapeTuple(shape) + " of '" +
                       descr + "' (from byte offset " + std::to_string(dataStart + *need) +
                       ")");

  // The data is in memory already, so this allocation is no larger than the
  // file; the limit is checked all the same, with the file named.
  TensorType type{dt.dtype, shape};
  detail::checkAllocIn(filename, *need, "a tensor of type " + type.str());
  Tensor t(type);
  if (*need)
    std::memcpy(t.data(), bytes.data() + dataStart, *need);
  if (dt.dtype == DType::boolean) {
    const auto *b = t.as<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (b[i] > 1)
        fail(filename, "element " + std::to_string(i) + " (byte offset " +
                           std::to_string(dataStart + static_cast<size_t>(i)) + ") is " +
                           std::to_string(b[i]) + "; '" + descr +
                           "' data is read as bool and must be 0 or 1");
  }
  return t;
}

Tensor readNpy(const std::string &path) { return parseNpy(readFileWhole(path), path); }

std::string formatNpy(const Tensor &t) {
  std::string_view descr;
  switch (t.dtype()) {
  case DType::f32: descr = "<f4"; break;
  case DType::f64: descr = "<f8"; break;
  case DType::i32: descr = "<i4"; break;
  case DType::boolean: descr = "|b1"; break;
  }
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': " + shapeTuple(t.shape()) +
                       ", }";
  // Pad with spaces so that magic + version + length + header is a multiple
  // of 64 bytes, ending in a newline, as NumPy writes it.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 0xffff)
    throw Error("shape " + shapeTuple(t.shape()) + " is too long for a .npy 1.0 header");
  std::string out(kNpyMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char *>(t.data()), t.byteSize());
  return out;
}

void writeNpy(const std::string &path, const Tensor &t) { writeFileBytes(path, formatNpy(t)); }

// ------------------------------------------------- files for graph values ----

TensorFileFormat tensorFileFormat(const std::string &path) {
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  std::string ext = dot == std::string::npos || (slash != std::string::npos && dot < slash)
                        ? ""
                        : lower(path.substr(dot));
  if (ext == ".csv")
    return TensorFileFormat::Csv;
  if (ext == ".npy")
    return TensorFileFormat::Npy;
  fail(path, ext.empty() ? "cannot tell the tensor file format: the name has no "
                           "extension (expected .csv or .npy)"
                         : "unknown tensor file extension '" + ext +
                               "' (expected .csv or .npy)");
}

Tensor convertDType(const Tensor &t, DType dtype, std::string_view what) {
  DType from = t.dtype();
  if (from == dtype)
    return t;
  bool ok = (ir::isFloat(dtype)) || (dtype == DType::i32 && from == DType::boolean);
  if (!ok) {
    std::string why = dtype == DType::i32
                          ? "floating-point data is not converted to integers"
                          : "only bool data feeds a bool value";
    throw Error(std::string(what) + " is " + std::string(ir::dtypeName(dtype)) +
                " but the data is " + std::string(ir::dtypeName(from)) + ": " + why);
  }
  Tensor r(TensorType{dtype, t.shape()});
  for (int64_t i = 0; i < t.numel(); ++i)
    r.set(i, t.at(i));
  return r;
}

TensorFile readTensorFile(const std::string &path) {
  TensorFile f;
  f.path = path;
  if (tensorFileFormat(path) == TensorFileFormat::Npy)
    f.npy = readNpy(path);
  else
    f.csv = readCsv(path);
  return f;
}

std::optional<int64_t> TensorFile::rowsFor(const TensorType &type) const {
  if (type.rank() < 1)
    return std::nullopt;
  if (npy) {
    if (npy->type().rank() != type.rank() ||
        !std::equal(type.shape.begin() + 1, type.shape.end(), npy->shape().begin() + 1))
      return std::nullopt;
    return npy->shape()[0];
  }
  int64_t rest = 1;
  for (size_t i = 1; i < type.shape.size(); ++i)
    rest *= type.shape[i];
  int64_t total = csv.rows * csv.cols;
  if (rest <= 0 || total % rest != 0)
    return std::nullopt;
  return total / rest;
}

Tensor loadTensor(const std::string &path, const TensorType &type,
                  std::string_view valueName) {
  return toTensor(readTensorFile(path), type, valueName);
}

Tensor toTensor(const TensorFile &file, const TensorType &type, std::string_view valueName) {
  const std::string &path = file.path;
  std::string what = std::string(valueName);
  if (file.npy) {
    const Tensor &t = *file.npy;
    if (t.shape() != type.shape)
      fail(path, what + " is " + type.str() + " but the file holds an array of shape " +
                     ir::shapeStr(t.shape()) + " (" + std::string(ir::dtypeName(t.dtype())) +
                     "); a .npy array must have the declared shape");
    try {
      return convertDType(t, type.dtype, what);
    } catch (const Error &e) {
      fail(path, e.diagnostics().front().message);
    }
  }

  const CsvTable &table = file.csv;
  if (static_cast<int64_t>(table.values.size()) != type.numel())
    fail(path, what + " is " + type.str() + " (" + std::to_string(type.numel()) +
                   " values) but the file holds a table of shape " +
                   ir::shapeStr({table.rows, table.cols}) + " (" +
                   std::to_string(table.values.size()) + " values)");
  Tensor t(type);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = table.values[i];
    auto where = [&] {
      int64_t row = i / table.cols;
      return "line " + std::to_string(table.lines[row]) + ", field " +
             std::to_string(i % table.cols + 1) + ": ";
    };
    if (type.dtype == DType::i32 &&
        (!std::isfinite(v) || v != std::trunc(v) || v < std::numeric_limits<int32_t>::min() ||
         v > std::numeric_limits<int32_t>::max())) {
      fail(path, where() + what + " is i32 but " +
                     exactNumber(Tensor::scalar(DType::f64, v), 0) +
                     " is not a 32-bit integer");
    }
    if (type.dtype == DType::boolean && v != 0.0 && v != 1.0)
      fail(path, where() + what + " is bool but " +
                     exactNumber(Tensor::scalar(DType::f64, v), 0) + " is not 0 or 1");
    t.set(i, v);
  }
  return t;
}

void saveTensor(const std::string &path, const Tensor &t) {
  if (tensorFileFormat(path) == TensorFileFormat::Npy)
    writeNpy(path, t);
  else
    writeCsv(path, t);
}

// -------------------------------------------------------- text for people ----

namespace {

class TensorPrinter {
public:
  TensorPrinter(const Tensor &t, const TensorPrintOptions &o)
      : t_(t), o_(o), strides_(ir::stridesOf(t.shape())),
        summarize_(!o.full && t.numel() > o.threshold) {}

  std::string print() {
    if (t_.shape().empty())
      return element(0);
    // As NumPy prints it: a shape such as [1000000000, 0] or [6, 6, ..., 6,
    // 0] has nothing to show, and walking its empty rows could take forever.
    if (t_.numel() == 0)
      return "[]";
    // First pass: the widest element shown, so that columns line up.
    visit(0, 0, [&](int64_t i) { width_ = std::max(width_, element(i).size()); });
    std::string out;
    emit(out, 0, 0);
    return out;
  }

private:
  std::string element(int64_t i) const {
    switch (t_.dtype()) {
    case DType::boolean: return t_.as<uint8_t>()[i] ? "true" : "false";
    case DType::i32: return std::to_string(t_.as<int32_t>()[i]);
    default: break;
    }
    double v = t_.at(i);
    if (std::isnan(v))
      return "nan";
    if (std::isinf(v))
      return v < 0 ? "-inf" : "inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", o_.precision, v);
    return buf;
  }

  // The indices shown along dimension `dim`; -1 stands for "...".
  std::vector<int64_t> shown(size_t dim) const {
    int64_t n = t_.shape()[dim];
    std::vector<int64_t> idx;
    if (summarize_ && n > 2 * o_.edgeItems) {
      for (int64_t k = 0; k < o_.edgeItems; ++k)
        idx.push_back(k);
      idx.push_back(-1);
      for (int64_t k = n - o_.edgeItems; k < n; ++k)
        idx.push_back(k);
    } else {
      for (int64_t k = 0; k < n; ++k)
        idx.push_back(k);
    }
    return idx;
  }

  void visit(size_t dim, int64_t offset, const std::function<void(int64_t)> &f) const {
    if (dim == t_.shape().size()) {
      f(offset);
      return;
    }
    for (int64_t k : shown(dim))
      if (k >= 0)
        visit(dim + 1, offset + k * strides_[dim], f);
  }

  void emit(std::string &out, size_t dim, int64_t offset) const {
    size_t rank = t_.shape().size();
    out += '[';
    std::string sep = dim + 1 == rank
                          ? ", "
                          : "," + std::string(rank - dim - 1, '\n') + std::string(dim + 1, ' ');
    bool first = true;
    for (int64_t k : shown(dim)) {
      if (!first)
        out += sep;
      first = false;
      if (k < 0) {
        out += "...";
      } else if (dim + 1 == rank) {
        std::string e = element(offset + k * strides_[dim]);
        out.append(width_ - e.size(), ' ');
        out += e;
      } else {
        emit(out, dim + 1, offset + k * strides_[dim]);
      }
    }
    out += ']';
  }

  const Tensor &t_;
  const TensorPrintOptions &o_;
  std::vector<int64_t> strides_;
  bool summarize_;
  size_t width_ = 0;
};

} // namespace

std::string formatTensor(const Tensor &t, const TensorPrintOptions &opts) {
  return TensorPrinter(t, opts).print();
}

} // namespace chainjit::runtime
