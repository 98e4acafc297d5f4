// Reading chosen rows of IDX and .npy files at their offsets (RowReader.h),
// the datasets whose features stay in their file, and crafted headers.
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/train/TrainData.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace chainjit;
using namespace chainjit::runtime;

namespace {

// One scratch directory per test process, removed when the process exits.
const std::filesystem::path &tempDir() {
  static const struct ScratchDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("chainjit_rowreader_" + std::to_string(::getpid()));
    ScratchDir() { std::filesystem::create_directories(path); }
    ~ScratchDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } dir;
  return dir.path;
}

void writeBytes(const std::filesystem::path &p, const std::string &bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// n images of h x w pixels (pixel (i, j) of image r: (r * 7 + j * 3) mod 256)
// and labels r mod 10.
std::pair<std::string, std::string> idxPair(uint32_t n, uint32_t h, uint32_t w) {
  std::string images = be32(0x803) + be32(n) + be32(h) + be32(w);
  for (uint32_t r = 0; r < n; ++r)
    for (uint32_t j = 0; j < h * w; ++j)
      images += char((r * 7 + j * 3) % 256);
  std::string labels = be32(0x801) + be32(n);
  for (uint32_t r = 0; r < n; ++r)
    labels += char(r % 10);
  return {images, labels};
}

std::string idxFiles(const std::string &name, uint32_t n = 40, uint32_t h = 3, uint32_t w = 4) {
  auto [images, labels] = idxPair(n, h, w);
  std::string base = (tempDir() / name).string();
  writeBytes(base + ".images", images);
  writeBytes(base + ".labels", labels);
  return base;
}

bool sameBits(const ir::Tensor &a, const ir::Tensor &b) {
  return a.type() == b.type() && std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

} // namespace

TEST_CASE("row reader: IDX rows read at their offsets are the loaded file's rows, bytes counted") {
  std::string base = idxFiles("plain");
  Dataset all = loadIdxDataset(base + ".images", base + ".labels");
  std::unique_ptr<RowReader> r = openIdxImageRowReader(base + ".images");
  REQUIRE(r);
  CHECK(r->rows() == 40);
  CHECK(r->rowElements() == 12);
  CHECK(r->bytesRead() == 0);
  // Out of order, repeated and consecutive (7, 8, 9: one pread).
  std::vector<int64_t> rows = {5, 0, 39, 7, 8, 9, 5};
  for (ir::DType dt : {ir::DType::f32, ir::DType::f64}) {
    ir::Tensor out({dt, {7, 12}});
    r->read(rows, out);
    Dataset expect = batch(all, rows);
    for (int64_t i = 0; i < out.numel(); ++i)
      CHECK(out.at(i) == expect.features.at(i));
  }
  CHECK(r->bytesRead() == 2 * 7 * 12);
  ir::Tensor wrong(ir::f32({2, 12}));
  CHECK_THROWS_WITH_AS(r->read(std::vector<int64_t>{0, 40}, wrong),
                       doctest::Contains("row index 40 (position 1) is out of range for 40 rows"),
                       Error);
}

TEST_CASE("row reader: .npy rows of f32, f64 and i32 arrays, a non-finite value names its row") {
  std::filesystem::path d = tempDir();
  ir::Tensor f32(ir::f32({5, 2, 3})), f64(ir::f64({4, 3})), i32(ir::i32({3, 2}));
  for (ir::Tensor *t : {&f32, &f64, &i32})
    for (int64_t i = 0; i < t->numel(); ++i)
      t->set(i, double(i) * (t->dtype() == ir::DType::i32 ? 3.0 : 0.25) - 2.0);
  writeNpy((d / "a.npy").string(), f32);
  writeNpy((d / "b.npy").string(), f64);
  writeNpy((d / "c.npy").string(), i32);
  struct Case {
    const char *file;
    const ir::Tensor *t;
  };
  for (Case c : {Case{"a.npy", &f32}, Case{"b.npy", &f64}, Case{"c.npy", &i32}}) {
    std::unique_ptr<RowReader> r = openNpyRowReader((d / c.file).string());
    REQUIRE(r);
    int64_t per = c.t->numel() / c.t->shape()[0];
    CHECK(r->rows() == c.t->shape()[0]);
    CHECK(r->rowElements() == per);
    std::vector<int64_t> rows = {2, 0, 1};
    ir::Tensor out(ir::f64({3, per}));
    r->read(rows, out);
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t e = 0; e < per; ++e)
        CHECK(out.at(k * per + e) == c.t->at(rows[k] * per + e));
    CHECK(r->bytesRead() == uint64_t(3 * per) * ir::dtypeSize(c.t->dtype()));
  }
  f64.set(7, std::numeric_limits<double>::quiet_NaN()); // row 3 (1-based), value 2
  writeNpy((d / "nan.npy").string(), f64);
  std::unique_ptr<RowReader> r = openNpyRowReader((d / "nan.npy").string());
  ir::Tensor one(ir::f32({1, 3}));
  r->read(std::vector<int64_t>{1}, one); // a row without the NaN reads
  CHECK_THROWS_WITH_AS(r->read(std::vector<int64_t>{2}, one),
                       doctest::Contains("row 3, value 2 is NaN"), Error);
}

TEST_CASE("row reader: gzip files and pipes have no row offsets: null, the caller loads them whole") {
  std::filesystem::path d = tempDir();
  writeBytes(d / "gz.images", std::string("\x1f\x8b\x08\x00", 4) + std::string(20, '\0'));
  CHECK(!openIdxImageRowReader((d / "gz.images").string()));
  CHECK(!openNpyRowReader((d / "gz.images").string()));
  CHECK(!openIdxDatasetRows((d / "gz.images").string(), "unused", ir::DType::f32));
  std::string base = idxFiles("mismatch", 5);
  writeBytes(d / "four.labels", be32(0x801) + be32(4) + std::string(4, '\1'));
  CHECK_THROWS_WITH_AS(openIdxDatasetRows(base + ".images", (d / "four.labels").string(),
                                          ir::DType::f32),
                       doctest::Contains("has 4 labels but"), Error);
  CHECK_THROWS_WITH_AS(openIdxImageRowReader((d / "missing").string()),
                       doctest::Contains("cannot open the file"), Error);
}

TEST_CASE("row reader: crafted headers are errors naming the file, checked before allocating") {
  std::filesystem::path d = tempDir();
  auto idxError = [&](const std::string &bytes) -> std::string {
    writeBytes(d / "bad.idx", bytes);
    try {
      openIdxImageRowReader((d / "bad.idx").string());
    } catch (const Error &e) {
      return e.what();
    }
    return "no error";
  };
  std::string head = be32(0x803) + be32(2) + be32(2) + be32(2);
  CHECK(idxError("ab").find("too short for the magic number") != std::string::npos);
  CHECK(idxError(be32(0x801) + be32(2)).find("bad magic number 0x00000801") != std::string::npos);
  CHECK(idxError(be32(0x803) + be32(2)).find("the header needs 16 bytes") != std::string::npos);
  CHECK(idxError(head + std::string(7, 'x')).find("truncated file") != std::string::npos);
  CHECK(idxError(head + std::string(9, 'x')).find("1 bytes after the data") != std::string::npos);
  // 2^32-1 cubed is no tensor: refused from the header, nothing allocated.
  CHECK(idxError(be32(0x803) + be32(0xffffffff) + be32(0xffffffff) + be32(0xffffffff))
            .find("too large to exist") != std::string::npos);
  // Dimensions that fit a tensor but not this file.
  CHECK(idxError(be32(0x803) + be32(60000) + be32(28) + be32(28) + "x")
            .find("need 47040000 data bytes") != std::string::npos);
  CHECK(idxError(head + std::string(8, 'x')).find("no error") != std::string::npos);
  CHECK(idxError("ab").find("bad.idx") != std::string::npos);

  auto npyError = [&](const std::string &bytes) -> std::string {
    writeBytes(d / "bad.npy", bytes);
    try {
      openNpyRowReader((d / "bad.npy").string());
    } catch (const Error &e) {
      return e.what();
    }
    return "no error";
  };
  auto npy = [](const std::string &dict, size_t dataBytes, size_t declared = 0) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64)
      h += ' ';
    h += '\n';
    size_t len = declared ? declared : h.size();
    return std::string("\x93NUMPY\x01\x00", 8) + char(len & 0xff) + char(len >> 8) + h +
           std::string(dataBytes, '\0');
  };
  std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  CHECK(npyError(npy(f4, 24)).find("no error") != std::string::npos);
  CHECK(npyError(npy(f4, 20)).find("truncated file") != std::string::npos);
  CHECK(npyError(npy(f4, 28)).find("4 bytes after the data") != std::string::npos);
  CHECK(npyError(npy(f4, 0, 60000)).find("truncated .npy header") != std::string::npos);
  CHECK(npyError("\x93NUMP").find("shorter than the 10-byte preamble") != std::string::npos);
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }",
                     0))
            .find("too large to exist") != std::string::npos);
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", 24))
            .find("Fortran-order") != std::string::npos);
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4))
            .find("rows need an array of rank >= 1") != std::string::npos);
}

TEST_CASE("on-demand data: splits, limit and scale select rows unread, batches have the same bits") {
  std::string base = idxFiles("split", 60, 2, 3);
  train::DataSpec spec;
  spec.idxImages = base + ".images";
  spec.idxLabels = base + ".labels";
  spec.testFraction = 0.25;
  spec.validationFraction = 0.2;
  spec.limit = 50;
  spec.scale = 1.0 / 255.0;
  spec.seed = 7;
  for (ir::DType dt : {ir::DType::f32, ir::DType::f64}) {
    train::TrainingData memory = train::loadTrainingData(spec, dt);
    train::DataSpec lazySpec = spec;
    lazySpec.rowsOnDemand = true;
    train::TrainingData lazy = train::loadTrainingData(lazySpec, dt);
    REQUIRE(lazy.train.featureRows);
    CHECK(!memory.train.featureRows);
    CHECK(lazy.train.features.numel() == 0); // nothing read yet
    CHECK(rowBytesRead({&lazy.train, &lazy.test, &*lazy.validation}) == 0);
    CHECK(lazy.train.numFeatures() == 6);
    const Dataset *pairs[3][2] = {{&memory.train, &lazy.train},
                                  {&memory.test, &lazy.test},
                                  {&*memory.validation, &*lazy.validation}};
    for (auto &p : pairs) {
      REQUIRE(p[0]->size() == p[1]->size());
      std::vector<int64_t> rows(static_cast<size_t>(p[0]->size()));
      for (size_t i = 0; i < rows.size(); ++i)
        rows[i] = static_cast<int64_t>(rows.size() - 1 - i);
      Dataset a = gatherRows(*p[0], rows), b = gatherRows(*p[1], rows);
      CHECK(sameBits(a.features, b.features));
      CHECK(sameBits(a.labels, b.labels));
    }
    // Every row of the 50 was read once (the three sets share the reader).
    CHECK(rowBytesRead({&lazy.train, &lazy.test, &*lazy.validation}) == 50 * 6);
    CHECK(rowBytesRead({&lazy.train, &lazy.train, nullptr}) == 50 * 6);
  }
  // Standardized with the training rows' statistics, computed from two
  // passes over the file: the same statistics, the same bits.
  spec.scale.reset();
  spec.standardize = true;
  train::TrainingData memory = train::loadTrainingData(spec, ir::DType::f32);
  spec.rowsOnDemand = true;
  train::TrainingData lazy = train::loadTrainingData(spec, ir::DType::f32);
  REQUIRE(lazy.train.featureRows);
  CHECK(rowBytesRead({&lazy.train}) == uint64_t(2 * lazy.train.size() * 6));
  REQUIRE(lazy.preparation.standardize);
  CHECK(lazy.preparation.standardize->mean == memory.preparation.standardize->mean);
  CHECK(lazy.preparation.standardize->std == memory.preparation.standardize->std);
  for (auto [a, b] : {std::pair{&memory.train, &lazy.train}, std::pair{&memory.test, &lazy.test}}) {
    std::vector<int64_t> rows(static_cast<size_t>(a->size()));
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i] = static_cast<int64_t>(i);
    CHECK(sameBits(gatherRows(*a, rows).features, gatherRows(*b, rows).features));
  }
}

TEST_CASE("on-demand data: named .npy inputs of rank >= 2 stay in their file, batches have the same bits") {
  std::filesystem::path d = tempDir();
  ir::Tensor x(ir::f32({30, 2, 3})), y(ir::i32({30})), m(ir::boolean({30, 2}));
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, double(i) * 0.37 - 5.0);
  for (int64_t i = 0; i < 30; ++i)
    y.set(i, double(i % 4));
  for (int64_t i = 0; i < m.numel(); ++i)
    m.set(i, double(i % 3 == 0));
  writeNpy((d / "nx.npy").string(), x);
  writeNpy((d / "ny.npy").string(), y);
  writeNpy((d / "nm.npy").string(), m);
  train::DataSpec spec;
  spec.npy = {{"x", (d / "nx.npy").string()}, {"y", (d / "ny.npy").string()},
              {"m", (d / "nm.npy").string()}};
  spec.testFraction = 0.2;
  spec.validationFraction = 0.25;
  spec.limit = 28;
  train::TrainingData memory = train::loadTrainingData(spec, ir::DType::f32);
  spec.rowsOnDemand = true;
  train::TrainingData lazy = train::loadTrainingData(spec, ir::DType::f32);
  REQUIRE(lazy.train.featureRows);
  CHECK(lazy.train.featureRows->inputs.size() == 2); // x and m; the vector y is read whole
  CHECK(lazy.train.inputs.at("x").shape() == ir::Shape{0, 2, 3});
  CHECK(lazy.train.inputs.at("y").shape() == ir::Shape{lazy.train.size()});
  CHECK(rowBytesRead({&lazy.train}) == 0); // nothing read yet
  REQUIRE(lazy.validation);
  std::vector<std::pair<const Dataset *, const Dataset *>> sets = {
      {&memory.train, &lazy.train}, {&memory.test, &lazy.test},
      {&*memory.validation, &*lazy.validation}};
  for (auto [whole, rows] : sets) {
    REQUIRE(whole->size() == rows->size());
    std::vector<int64_t> pick = {rows->size() - 1, 0, 1, 2};
    Dataset a = gatherRows(*whole, pick), b = gatherRows(*rows, pick);
    for (const char *name : {"x", "y", "m"})
      CHECK(sameBits(a.inputs.at(name), b.inputs.at(name)));
  }
  // The three sets share the files' readers: 4 rows of each, 24 + 2 bytes a row.
  CHECK(rowBytesRead({&lazy.train, &lazy.test}) == 3 * 4 * (24 + 2));

  // A NaN is an error naming the file, the sample and the entry, as the
  // whole-file loader names it; here when the batch that holds it is read.
  x.set(7 * 6 + 4, std::numeric_limits<double>::quiet_NaN()); // sample 8, entry [7, 1, 1]
  writeNpy((d / "nx.npy").string(), x);
  spec.testFraction = spec.validationFraction = 0;
  spec.limit = 0;
  CHECK_THROWS_WITH_AS(
      (void)train::loadTrainingData(
          [&] { auto s = spec; s.rowsOnDemand = false; return s; }(), ir::DType::f32),
      doctest::Contains("nx.npy: error: sample 8: entry [7, 1, 1] is NaN"), Error);
  train::TrainingData nan = train::loadTrainingData(spec, ir::DType::f32);
  const std::vector<int64_t> &fileRows = nan.train.featureRows->rows; // shuffled
  auto at = [&](int64_t fileRow) {
    return int64_t(std::find(fileRows.begin(), fileRows.end(), fileRow) - fileRows.begin());
  };
  (void)gatherRows(nan.train, {at(6), at(8)}); // rows without the NaN read
  CHECK_THROWS_WITH_AS((void)gatherRows(nan.train, {at(6), at(7)}),
                       doctest::Contains("nx.npy: error: sample 8: entry [7, 1, 1] is NaN"),
                       Error);

  // Leading axes that disagree name both files; a byte other than 0/1 in
  // bool data names its row.
  writeNpy((d / "short.npy").string(), ir::Tensor(ir::f32({29, 2})));
  CHECK_THROWS_WITH_AS((void)openNpyDatasetRows({{"x", (d / "nx.npy").string()},
                                           {"z", (d / "short.npy").string()}}),
                       doctest::Contains("has 29 samples along its leading axis"), Error);
  std::string bad = formatNpy(m);
  bad[bad.size() - 2 * 30 + 2 * 4] = 7; // row 5
  writeBytes(d / "badm.npy", bad);
  Dataset badSet = openNpyDatasetRows({{"m", (d / "badm.npy").string()}});
  REQUIRE(badSet.featureRows);
  CHECK_THROWS_WITH_AS((void)gatherRows(badSet, {4}),
                       doctest::Contains("row 5 holds the byte 7"), Error);
  // Vectors alone are read whole: nothing stays in a file.
  Dataset vectors = openNpyDatasetRows({{"y", (d / "ny.npy").string()}});
  CHECK(!vectors.featureRows);
  CHECK(sameBits(vectors.inputs.at("y"), y));
}
