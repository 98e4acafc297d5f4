// Tensor files: CSV tables (header detection, reshaping, errors), .npy
// round trips of every dtype, the .npy files NumPy writes, corrupt headers,
// dtype conversion on load, and the readable printout.
#include "chainjit/runtime/TensorIO.h"

#include "chainjit/ir/Error.h"

#include "FileTesting.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using namespace chainjit::runtime;
using chainjit::testing::TempFile;
using chainjit::testing::errorOf;

namespace {

// A .npy file the way NumPy writes it: magic, version, header length, the
// header dict padded with spaces to a multiple of 64 bytes and a newline.
std::string npyWithHeader(std::string header, const std::string &data, int major = 1) {
  size_t pre = major == 1 ? 10 : 12;
  while ((pre + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major == 2) {
    out += '\0';
    out += '\0';
  }
  return out + header + data;
}

std::string numpyFile(const std::string &descr, const std::string &shape,
                      const std::string &data, int major = 1,
                      const std::string &order = "False") {
  return npyWithHeader("{'descr': '" + descr + "', 'fortran_order': " + order +
                           ", 'shape': " + shape + ", }",
                       data, major);
}

template <typename T> std::string bytesOf(std::initializer_list<T> values) {
  std::string s;
  for (T v : values)
    s.append(reinterpret_cast<const char *>(&v), sizeof(T));
  return s;
}

} // namespace

TEST_CASE("csv: rows become a table, a non-numeric first line is a header") {
  CsvTable t = parseCsv("a, b,c\n1,2,3\n4.5, -5e1 ,nan\n", "t.csv");
  CHECK(t.header == std::vector<std::string>{"a", "b", "c"});
  CHECK(t.rows == 2);
  CHECK(t.cols == 3);
  CHECK(t.values[3] == 4.5);
  CHECK(t.values[4] == -50.0);
  CHECK(std::isnan(t.values[5]));
  CHECK(t.lines == std::vector<int>{2, 3});

  CsvTable n = parseCsv("# a comment\n\n1\r\n+2\r\n\r\n3\n", "n.csv");
  CHECK(n.header.empty());
  CHECK(n.rows == 3);
  CHECK(n.cols == 1);
  CHECK(n.values == std::vector<double>{1, 2, 3});

  CHECK(parseCsv("", "e.csv").rows == 0);
  CHECK(parseCsv("x,y\n", "h.csv").rows == 0);
}

TEST_CASE("csv: errors give file:line:col") {
  CHECK(errorOf([] { parseCsv("1,2\n3,x4\n", "bad.csv"); }) ==
        "bad.csv:2:3: error: 'x4' is not a number");
  CHECK(errorOf([] { parseCsv("1,2\n3,,4\n", "bad.csv"); }) ==
        "bad.csv:2:3: error: empty field (expected a number)");
  CHECK(errorOf([] { parseCsv("1,2\n3\n", "bad.csv"); }) ==
        "bad.csv:2:1: error: row has 1 values, expected 2 like line 1");
  CHECK(errorOf([] { readCsv("/nonexistent/x.csv"); })
            .find("/nonexistent/x.csv: error: cannot open file") == 0);
}

TEST_CASE("csv: a table is reshaped to the declared type") {
  TempFile f("x.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n9,10,11,12\n");
  Tensor t = loadTensor(f.str(), f32({3, 2, 2}), "input %x");
  CHECK(t.type() == f32({3, 2, 2}));
  CHECK(t.toDoubles() == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  CHECK(loadTensor(f.str(), i32({12}), "input %x").as<int32_t>()[11] == 12);

  std::string e = errorOf([&] { loadTensor(f.str(), f32({4, 4}), "input %x"); });
  CHECK(e == f.str() + ": error: input %x is f32[4, 4] (16 values) but the file holds "
                       "a table of shape [3, 4] (12 values)");

  TempFile g("g.csv", "1,2.5\n");
  CHECK(errorOf([&] { loadTensor(g.str(), i32({2}), "input %n"); }) ==
        g.str() + ": error: line 1, field 2: input %n is i32 but 2.5 is not a 32-bit integer");
  CHECK(errorOf([&] { loadTensor(g.str(), boolean({2}), "input %m"); }) ==
        g.str() + ": error: line 1, field 2: input %m is bool but 2.5 is not 0 or 1");
}

TEST_CASE("tensor files: read once, the rows a file holds for a type, then the value") {
  TempFile c("rows.csv", "1,2,3,4\n5,6,7,8\n9,10,11,12\n");
  TensorFile csv = readTensorFile(c.str());
  CHECK(csv.rowsFor(f32({5, 4})) == 3);         // rows of 4 values
  CHECK(csv.rowsFor(f32({1, 2, 2})) == 3);      // a row is 2x2
  CHECK(csv.rowsFor(f32({1, 6})) == 2);         // 12 values, rows of 6
  CHECK(!csv.rowsFor(f32({1, 5})).has_value()); // 12 is not a multiple of 5
  CHECK(!csv.rowsFor(Tensor::scalar(DType::f32, 0).type()).has_value());
  CHECK(toTensor(csv, f32({3, 4}), "input %x").toDoubles()[11] == 12);

  TempFile n("rows.npy");
  writeNpy(n.str(), Tensor(f64({3, 2}), {1, 2, 3, 4, 5, 6}));
  TensorFile npy = readTensorFile(n.str());
  CHECK(npy.rowsFor(f32({8, 2})) == 3);
  CHECK(!npy.rowsFor(f32({8, 3})).has_value()); // differs beyond the leading axis
  CHECK(!npy.rowsFor(f32({6})).has_value());    // another rank
  CHECK(toTensor(npy, f32({3, 2}), "input %x") == Tensor(f32({3, 2}), {1, 2, 3, 4, 5, 6}));
  CHECK(errorOf([&] { toTensor(npy, f32({2, 3}), "input %x"); }) ==
        n.str() + ": error: input %x is f32[2, 3] but the file holds an array of shape [3, 2] "
                  "(f64); a .npy array must have the declared shape");
}

TEST_CASE("csv: writing reads back exactly") {
  Tensor t(f32({2, 3}), {0.1, -2.5, 1e-7, 3, NAN, INFINITY});
  TempFile f("w.csv");
  writeCsv(f.str(), t);
  Tensor back = loadTensor(f.str(), f32({2, 3}), "x");
  CHECK(back == t);
  CHECK(formatCsv(Tensor(i32({3}), {1, 2, 3})) == "1\n2\n3\n");
  CHECK(formatCsv(Tensor::scalar(DType::f64, 0.5)) == "0.5\n");
  CHECK(formatCsv(Tensor(boolean({1, 2}), {1, 0})) == "1,0\n");
}

TEST_CASE("npy: every dtype round-trips through the writer and the reader") {
  std::vector<Tensor> tensors = {
      Tensor(f32({2, 3}), {1, -2, 3.5, 0.1, 1e30, NAN}),
      Tensor(f64({4}), {0.1, -1e-300, INFINITY, 42}),
      Tensor(i32({2, 1, 2}), {-7, 0, 2147483647, -2147483648.0}),
      Tensor(boolean({3}), {1, 0, 1}),
      Tensor::scalar(DType::f32, 2.5),
      Tensor(f64({0, 3})),
  };
  for (const Tensor &t : tensors) {
    CAPTURE(t.type().str());
    std::string bytes = formatNpy(t);
    CHECK((bytes.size() - t.byteSize()) % 64 == 0);
    CHECK(parseNpy(bytes, "t.npy") == t);
  }
  TempFile f("r.npy");
  writeNpy(f.str(), tensors[0]);
  CHECK(readNpy(f.str()) == tensors[0]);
  CHECK(loadTensor(f.str(), f32({2, 3}), "input %x") == tensors[0]);
}

TEST_CASE("npy: files as NumPy writes them, versions 1.0 and 2.0") {
  Tensor a = parseNpy(numpyFile("<f4", "(2, 2)", bytesOf<float>({1, 2, 3, 4})), "a.npy");
  CHECK(a == Tensor(f32({2, 2}), {1, 2, 3, 4}));
  Tensor b = parseNpy(numpyFile("<f8", "(3,)", bytesOf<double>({1, 2, 3}), 2), "b.npy");
  CHECK(b == Tensor(f64({3}), {1, 2, 3}));
  Tensor c = parseNpy(numpyFile("<i4", "()", bytesOf<int32_t>({-5})), "c.npy");
  CHECK(c == Tensor::scalar(DType::i32, -5));
  Tensor d = parseNpy(numpyFile("|u1", "(2,)", std::string("\x01\x00", 2)), "d.npy");
  CHECK(d == Tensor(boolean({2}), {1, 0}));
  Tensor e = parseNpy(numpyFile("|b1", "(1, 2)", std::string("\x00\x01", 2)), "e.npy");
  CHECK(e == Tensor(boolean({1, 2}), {0, 1}));
}

TEST_CASE("npy: corrupt or unsupported files are clear errors naming the file") {
  auto err = [](const std::string &bytes) { return errorOf([&] { parseNpy(bytes, "z.npy"); }); };
  std::string good = numpyFile("<f4", "(2,)", bytesOf<float>({1, 2}));
  CHECK(err("hello") == "z.npy: error: not a .npy file (it does not start with \\x93NUMPY)");
  std::string v3 = good;
  v3[6] = 3;
  CHECK(err(v3) == "z.npy: error: unsupported .npy format version 3.0 (supported: 1.0, 2.0)");
  CHECK(err(good.substr(0, 40)).find("z.npy: error: truncated .npy header") == 0);
  CHECK(err(good.substr(0, good.size() - 1)) ==
        "z.npy: error: truncated .npy data: shape (2,) of '<f4' needs 8 bytes from byte "
        "offset 128, the file has 7");
  CHECK(err(good + "x") == "z.npy: error: the .npy file has 1 bytes after the data of shape "
                           "(2,) of '<f4' (from byte offset 136)");
  CHECK(err(numpyFile("<f4", "(2, 2)", bytesOf<float>({1, 2, 3, 4}), 1, "True")) ==
        "z.npy: error: Fortran-order (column-major) arrays are not supported; save a C-order "
        "array (np.ascontiguousarray)");
  CHECK(err(numpyFile("<i8", "(1,)", bytesOf<int64_t>({1}))) ==
        "z.npy: error: unsupported .npy dtype '<i8' (supported: <f4, <f8, <i4, |b1, |u1); "
        "convert with arr.astype(np.int32)");
  CHECK(err(numpyFile(">f4", "(1,)", bytesOf<float>({1}))).find("big-endian") != std::string::npos);
  CHECK(err(numpyFile("|u1", "(1,)", "\x07")) ==
        "z.npy: error: element 0 (byte offset 128) is 7; '|u1' data is read as bool and must "
        "be 0 or 1");
  CHECK(err(numpyFile("<f4", "(2, -1)", "")) ==
        "z.npy: error: invalid .npy header at byte offset 64: shape dimensions must be "
        "non-negative integers");
  CHECK(err(numpyFile("<f4", "[2]", "")) ==
        "z.npy: error: invalid .npy header at byte offset 60: shape must be a tuple like (2, 3)");
  std::string noShape = npyWithHeader("{'descr': '<f4', 'fortran_order': False}", "");
  CHECK(err(noShape) == "z.npy: error: invalid .npy header at byte offset 64: the header has no 'shape'");
  std::string extraKey = numpyFile("<f4", "(1,), 'x': 1", bytesOf<float>({1}));
  CHECK(err(extraKey) == "z.npy: error: invalid .npy header at byte offset 71: unexpected key 'x'");
}

TEST_CASE("npy: dtypes convert to the declared one only without real loss") {
  TempFile f64File("d.npy", numpyFile("<f8", "(2,)", bytesOf<double>({0.1, 2})));
  Tensor asF32 = loadTensor(f64File.str(), f32({2}), "input %x");
  CHECK(asF32 == Tensor(f32({2}), {0.1, 2})); // rounded to f32
  CHECK(errorOf([&] { loadTensor(f64File.str(), i32({2}), "input %n"); }) ==
        f64File.str() + ": error: input %n is i32 but the data is f64: floating-point data "
                        "is not converted to integers");
  CHECK(errorOf([&] { loadTensor(f64File.str(), f64({3}), "input %x"); }) ==
        f64File.str() + ": error: input %x is f64[3] but the file holds an array of shape "
                        "[2] (f64); a .npy array must have the declared shape");

  TempFile intFile("i.npy", numpyFile("<i4", "(2,)", bytesOf<int32_t>({3, -4})));
  CHECK(loadTensor(intFile.str(), f64({2}), "x") == Tensor(f64({2}), {3, -4}));
  CHECK(errorOf([&] { loadTensor(intFile.str(), boolean({2}), "input %m"); })
            .find("only bool data feeds a bool value") != std::string::npos);
  TempFile boolFile("b.npy", numpyFile("|b1", "(2,)", std::string("\x01\x00", 2)));
  CHECK(loadTensor(boolFile.str(), i32({2}), "x") == Tensor(i32({2}), {1, 0}));

  CHECK(errorOf([] { loadTensor("data.txt", f32({2}), "x"); }) ==
        "data.txt: error: unknown tensor file extension '.txt' (expected .csv or .npy)");
  CHECK(tensorFileFormat("dir.v2/X.NPY") == TensorFileFormat::Npy);
}

TEST_CASE("formatTensor: numpy-like, aligned, abbreviated unless full") {
  CHECK(formatTensor(Tensor::scalar(DType::f32, 0.5)) == "0.5");
  CHECK(formatTensor(Tensor(i32({3}), {1, -20, 3})) == "[  1, -20,   3]");
  CHECK(formatTensor(Tensor(boolean({2}), {1, 0})) == "[ true, false]");
  CHECK(formatTensor(Tensor(f64({2, 2}), {1.5, NAN, -INFINITY, 1e-9})) ==
        "[[  1.5,   nan],\n [ -inf, 1e-09]]");
  std::vector<double> v(100);
  for (int i = 0; i < 100; ++i)
    v[i] = i;
  Tensor big(i32({100}), v);
  CHECK(formatTensor(big) == "[ 0,  1,  2, ..., 97, 98, 99]");
  TensorPrintOptions full;
  full.full = true;
  CHECK(formatTensor(big, full).find("50, 51") != std::string::npos);
  Tensor cube(i32({2, 1, 2}), {1, 2, 3, 4});
  CHECK(formatTensor(cube) == "[[[1, 2]],\n\n [[3, 4]]]");
}
