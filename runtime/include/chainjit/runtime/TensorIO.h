// Tensors in files and in text: CSV and NumPy .npy files for the values fed
// to a graph and read back from it, and a readable printout for people.
//
// Every error is a chainjit::Error that names the file and the problem.
// docs/cli.md describes the formats and the conversion rules.
#pragma once

#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/Types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::runtime {

// ---- CSV ----

// A CSV file as a table of numbers: `rows` x `cols` values, row-major.
// Fields are separated by commas and may be padded with blanks; blank lines
// and lines starting with '#' are skipped. The first line is a header (kept
// in `header`) when one of its fields is not a number. Numbers are what
// strtod reads, nan and inf included.
struct CsvTable {
  std::vector<std::string> header;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> values;
  std::vector<int> lines; // the file's line number of each row, for messages
};

// `filename` is used in error messages only.
CsvTable parseCsv(std::string_view text, const std::string &filename);
CsvTable readCsv(const std::string &path);

// One number per line for rank <= 1, one row per line for rank 2, and rows of
// shape[0] x (the rest flattened) for higher ranks. Floats are written in the
// shortest form that reads back to the same value; no header. A tensor with
// no elements is an empty file.
std::string formatCsv(const ir::Tensor &t);
void writeCsv(const std::string &path, const ir::Tensor &t);

// ---- NumPy .npy ----

// Reads format versions 1.0 and 2.0, C order, little-endian dtypes <f4, <f8,
// <i4 and |b1 (|u1 is read as bool and must hold only 0 and 1). The tensor
// has the file's dtype and shape.
ir::Tensor parseNpy(std::string_view bytes, const std::string &filename);
ir::Tensor readNpy(const std::string &path);

// The header of a .npy file, as parseNpy reads it, for readers that stream
// the data (NpyChunks.h): `bytes` may be just a prefix of the file that
// holds the header. Every check of parseNpy up to the data is made here.
struct NpyHeader {
  ir::DType dtype;
  bool bytesAsBool = false; // '|u1': bytes read as bool, each must be 0 or 1
  std::string descr;        // '<f4', ...
  ir::Shape shape;
  uint64_t dataOffset = 0;  // where the data starts
  uint64_t dataBytes = 0;   // what the shape needs
};
NpyHeader parseNpyHeader(std::string_view bytes, const std::string &filename);

// Version 1.0, dtypes <f4, <f8, <i4, |b1; the header is padded to 64 bytes.
std::string formatNpy(const ir::Tensor &t);
void writeNpy(const std::string &path, const ir::Tensor &t);

// ---- files for graph values ----

enum class TensorFileFormat { Csv, Npy };
// From the extension (.csv or .npy, any case); throws for any other.
TensorFileFormat tensorFileFormat(const std::string &path);

// Converts a .npy file's tensor to the dtype of the value it feeds, when
// that is lossless or a plain rounding: f32 <-> f64 (f64 to f32 rounds to
// nearest), i32 or bool to a float, bool to i32. Float to i32 and anything
// but bool to bool are refused. Errors name `what` (e.g. "input %x") and
// both dtypes.
ir::Tensor convertDType(const ir::Tensor &t, ir::DType dtype,
                        std::string_view what);

// A tensor file as read, before it meets the type of the value it feeds: a
// .npy file's tensor or a CSV table. Reading once and converting after lets
// a caller look at the file (its rows, say) without reading it twice.
struct TensorFile {
  std::string path;
  std::optional<ir::Tensor> npy; // set for .npy files
  CsvTable csv;                  // the table of a .csv file
  // The leading axis the file holds for a value of type `type` when only the
  // leading axis may differ: the .npy array's, or the CSV table's values
  // divided by the size of one row of `type`. nullopt when it does not fit.
  std::optional<int64_t> rowsFor(const ir::TensorType &type) const;
};
// Reads .csv or .npy by extension.
TensorFile readTensorFile(const std::string &path);
// The file's content as a value of `type`; the checks and messages of
// loadTensor.
ir::Tensor toTensor(const TensorFile &file, const ir::TensorType &type,
                    std::string_view valueName);

// Loads the value of graph value `valueName` (without the '%') of declared
// type `type` from a .csv or .npy file (by extension):
// toTensor(readTensorFile(path), type, valueName).
// CSV: the table is reshaped to the declared shape when the element counts
// agree; for an i32 value every number must be a whole number in range, for
// a bool value 0 or 1. .npy: the shape must be the declared one; the dtype
// is converted with convertDType.
ir::Tensor loadTensor(const std::string &path, const ir::TensorType &type,
                      std::string_view valueName);
// Writes .csv or .npy according to the extension.
void saveTensor(const std::string &path, const ir::Tensor &t);

// ---- text for people ----

struct TensorPrintOptions {
  // Print every element. Otherwise tensors with more than `threshold`
  // elements show `edgeItems` elements at each end of every dimension.
  bool full = false;
  int64_t threshold = 64;
  int64_t edgeItems = 3;
  int precision = 6; // significant digits of floats
};

// NumPy-style nested brackets: "[[1, 2], [3, 4]]", a scalar as one number,
// "..." where elements are left out; rows of matrices on their own lines; a
// tensor with no elements as "[]", whatever its shape.
std::string formatTensor(const ir::Tensor &t, const TensorPrintOptions &opts = {});

} // namespace chainjit::runtime
