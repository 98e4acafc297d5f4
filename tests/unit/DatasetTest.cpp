// Datasets: CSV loading (label column, header, .gz, errors with line:col),
// IDX loading (plain and .gz, bad magic, truncation, count mismatch), the
// shipped digits data, standardization, scaling, the seeded split and batches.
#include "chainjit/runtime/Dataset.h"

#include "chainjit/ir/Error.h"

#include "FileTesting.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using namespace chainjit::runtime;
using chainjit::testing::TempFile;
using chainjit::testing::errorOf;
using chainjit::testing::readBytes;

namespace {

std::string digitsPath() { return std::string(CHAINJIT_SOURCE_DIR) + "/examples/data/digits.csv.gz"; }

// IDX files: 3 images of 2 x 2 pixels 0..11, labels 7, 0, 9.
std::string idxImages() {
  std::string s("\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x02", 16);
  for (int i = 0; i < 12; ++i)
    s += static_cast<char>(i);
  return s;
}
std::string idxLabels() { return std::string("\x00\x00\x08\x01\x00\x00\x00\x03\x07\x00\x09", 11); }

// The same two files gzip-compressed (Python's gzip.compress, mtime 0).
const char kImagesGz[] =
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x63\x60\xe0\x60\x66\x60\x60\x00\x61\x26\x30"
    "\x66\x64\x62\x66\x61\x65\x63\xe7\xe0\xe4\xe2\x06\x00\x63\x44\x6f\xc6\x1c\x00\x00\x00";
const char kLabelsGz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x63\x60\xe0\x60\x64\x60"
                         "\x60\x60\x66\x67\xe0\x04\x00\xa5\x12\xd3\x72\x0b\x00\x00\x00";

Dataset tiny() {
  Dataset d;
  d.features = Tensor(f32({4, 2}), {1, 10, 2, 10, 3, 10, 4, 10});
  d.labels = Tensor(i32({4}), {0, 1, 2, 3});
  return d;
}

} // namespace

TEST_CASE("dataset: CSV with the label last, a header, and f64") {
  TempFile f("a.csv", "x,y,label\n1, 2, 0\n3,4,2\n\n# note\n5,6,1\n");
  Dataset d = loadCsvDataset(f.str(), {.labelColumn = -1, .dtype = DType::f64});
  CHECK(d.features == Tensor(f64({3, 2}), {1, 2, 3, 4, 5, 6}));
  CHECK(d.labels == Tensor(i32({3}), {0, 2, 1}));
  CHECK(d.size() == 3);
  CHECK(d.numFeatures() == 2);
}

TEST_CASE("dataset: CSV with the label first") {
  TempFile f("b.csv", "3,0.5,1.5\n1,2.5,3.5\n");
  Dataset d = loadCsvDataset(f.str(), {.labelColumn = 0});
  CHECK(d.features == Tensor(f32({2, 2}), {0.5, 1.5, 2.5, 3.5}));
  CHECK(d.labels == Tensor(i32({2}), {3, 1}));
  Dataset e = loadCsvDataset(f.str(), {.labelColumn = -3});
  CHECK(e.labels == d.labels);
}

TEST_CASE("dataset: CSV errors name the file and line:col") {
  TempFile frac("frac.csv", "1,2,0\n3,4, 1.5\n");
  std::string e = errorOf([&] { loadCsvDataset(frac.str()); });
  CHECK(e.find(frac.str() + ":2:6: error: label 1.5 is not a whole number") != std::string::npos);

  TempFile neg("neg.csv", "1,2,0\n-1,4,7\n");
  e = errorOf([&] { loadCsvDataset(neg.str(), {.labelColumn = 0}); });
  CHECK(e.find(neg.str() + ":2:1: error: label -1 is negative") != std::string::npos);

  TempFile ragged("ragged.csv", "1,2,0\n3,4\n");
  e = errorOf([&] { loadCsvDataset(ragged.str()); });
  CHECK(e.find(ragged.str() + ":2:1: error: row has 2 values, expected 3") != std::string::npos);

  TempFile word("word.csv", "1,2,0\n3,x,1\n");
  e = errorOf([&] { loadCsvDataset(word.str()); });
  CHECK(e.find(word.str() + ":2:3: error: 'x' is not a number") != std::string::npos);

  TempFile one("one.csv", "1\n2\n");
  CHECK(errorOf([&] { loadCsvDataset(one.str()); }).find("at least one feature column") !=
        std::string::npos);
  CHECK(errorOf([&] { loadCsvDataset(frac.str(), {.labelColumn = 3}); })
            .find("label column 3 is out of range for 3 columns") != std::string::npos);
  TempFile empty("empty.csv", "a,b\n");
  CHECK(errorOf([&] { loadCsvDataset(empty.str()); }).find("no data rows") != std::string::npos);
  CHECK(errorOf([&] { loadCsvDataset(frac.str(), {.dtype = DType::i32}); })
            .find("must be f32 or f64") != std::string::npos);
  std::string missing = "/nonexistent/chainjit/x.csv";
  CHECK(errorOf([&] { loadCsvDataset(missing); }) == missing + ": error: no such file");
}

TEST_CASE("dataset: the shipped digits data") {
  Dataset d = loadCsvDataset(digitsPath());
  REQUIRE(d.features.shape() == Shape{1797, 64});
  REQUIRE(d.labels.shape() == Shape{1797});
  CHECK(d.features.dtype() == DType::f32);
  int counts[10] = {};
  for (int64_t i = 0; i < d.size(); ++i) {
    int32_t y = d.labels.as<int32_t>()[i];
    REQUIRE(y >= 0);
    REQUIRE(y <= 9);
    ++counts[y];
  }
  for (int c = 0; c < 10; ++c) {
    CAPTURE(c);
    CHECK(counts[c] >= 170);
    CHECK(counts[c] <= 190);
  }
  double lo = 1e9, hi = -1e9;
  for (int64_t i = 0; i < d.features.numel(); ++i) {
    double v = d.features.at(i);
    CHECK(v == std::floor(v));
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == 0);
  CHECK(hi == 16);
}

TEST_CASE("dataset: corrupt and truncated gzip") {
  std::string gz = readBytes(digitsPath());
  REQUIRE(gz.size() > 1000);
  std::string flipped = gz;
  for (size_t i = 100; i < 140; ++i)
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
  TempFile bad("bad.csv.gz", flipped);
  CHECK(errorOf([&] { loadCsvDataset(bad.str()); }).find(bad.str() + ": error: corrupt gzip data") !=
        std::string::npos);
  TempFile cut("cut.csv.gz", gz.substr(0, gz.size() / 2));
  CHECK(errorOf([&] { loadCsvDataset(cut.str()); }).find(cut.str() + ": error: corrupt gzip data") !=
        std::string::npos);
  TempFile plain("plain.csv.gz", "1,2,0\n");
  CHECK(errorOf([&] { loadCsvDataset(plain.str()); }).find("not a gzip file") != std::string::npos);
}

TEST_CASE("dataset: IDX plain and gzip") {
  TempFile img("img.idx", idxImages()), lab("lab.idx", idxLabels());
  Dataset d = loadIdxDataset(img.str(), lab.str());
  Tensor expected(f32({3, 4}), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(d.features == expected);
  CHECK(d.labels == Tensor(i32({3}), {7, 0, 9}));

  TempFile imgGz("img.idx.gz", std::string(kImagesGz, sizeof kImagesGz - 1));
  TempFile labGz("lab.idx.gz", std::string(kLabelsGz, sizeof kLabelsGz - 1));
  Dataset g = loadIdxDataset(imgGz.str(), labGz.str(), DType::f64);
  CHECK(g.features == Tensor(f64({3, 4}), expected.toDoubles()));
  CHECK(g.labels == d.labels);
}

TEST_CASE("dataset: IDX errors") {
  TempFile img("img.idx", idxImages()), lab("lab.idx", idxLabels());
  // Swapped files: each has the other's magic.
  std::string e = errorOf([&] { loadIdxDataset(lab.str(), img.str()); });
  CHECK(e.find(lab.str() + ": error: bad magic number 0x00000801 for an IDX images file "
                           "(expected 0x00000803") != std::string::npos);
  TempFile shortImg("short.idx", idxImages().substr(0, 20));
  e = errorOf([&] { loadIdxDataset(shortImg.str(), lab.str()); });
  CHECK(e.find(shortImg.str() + ": error: truncated IDX file: dimensions need 12 data bytes, "
                                "the file has 4") != std::string::npos);
  TempFile shortHeader("shorth.idx", idxImages().substr(0, 10));
  CHECK(errorOf([&] { loadIdxDataset(shortHeader.str(), lab.str()); }).find("truncated IDX file") !=
        std::string::npos);
  std::string twoLabels = std::string("\x00\x00\x08\x01\x00\x00\x00\x02\x07\x00", 10);
  TempFile lab2("lab2.idx", twoLabels);
  e = errorOf([&] { loadIdxDataset(img.str(), lab2.str()); });
  CHECK(e.find(lab2.str() + ": error: has 2 labels but " + img.str() + " has 3 images") !=
        std::string::npos);
  CHECK(errorOf([&] { loadIdxDataset("/nonexistent/i.idx", lab.str()); }) ==
        "/nonexistent/i.idx: error: no such file");
}

TEST_CASE("dataset: standardize and scale") {
  Dataset d = tiny();
  FeatureStats s = standardize(d);
  CHECK(s.mean == std::vector<double>{2.5, 10});
  CHECK(s.std[0] == doctest::Approx(std::sqrt(1.25)));
  CHECK(s.std[1] == 1.0); // a constant feature
  double sum = 0, sq = 0;
  for (int r = 0; r < 4; ++r) {
    sum += d.features.at(r * 2);
    sq += d.features.at(r * 2) * d.features.at(r * 2);
    CHECK(d.features.at(r * 2 + 1) == 0);
  }
  CHECK(sum == doctest::Approx(0).epsilon(1e-6));
  CHECK(sq / 4 == doctest::Approx(1).epsilon(1e-6));

  // Applying a training set's statistics to another set.
  Dataset other = tiny();
  standardize(other, s);
  CHECK(other.features == d.features);
  CHECK(errorOf([&] { standardize(other, FeatureStats{{1}, {1}}); }).find("statistics for 1") !=
        std::string::npos);

  Dataset e = tiny();
  scale(e, 0.5);
  CHECK(e.features == Tensor(f32({4, 2}), {0.5, 5, 1, 5, 1.5, 5, 2, 5}));
}

TEST_CASE("dataset: seeded shuffles and the train/test split") {
  std::vector<int64_t> a = shuffledIndices(100, 42), b = shuffledIndices(100, 42),
                       c = shuffledIndices(100, 43);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(std::set<int64_t>(a.begin(), a.end()).size() == 100);
  // Pinned so that a change of the generator or of the shuffle shows up.
  CHECK(shuffledIndices(5, 7) == shuffledIndices(5, 7));
  CHECK(shuffledIndices(0, 1).empty());
  CHECK(shuffledIndices(1, 1) == std::vector<int64_t>{0});

  Dataset digits = loadCsvDataset(digitsPath());
  TrainTestSplit s = trainTestSplit(digits, 0.2, 1);
  CHECK(s.test.size() == 359);
  CHECK(s.train.size() == 1438);
  CHECK(s.train.numFeatures() == 64);
  TrainTestSplit t = trainTestSplit(digits, 0.2, 1);
  CHECK(t.test.features == s.test.features);
  CHECK(t.train.labels == s.train.labels);
  // Rows stay with their labels: the split is a batch of the shuffled order.
  std::vector<int64_t> order = shuffledIndices(1797, 1);
  Dataset first = batch(digits, {order[0], order[1]});
  CHECK(first.features == batch(s.test, {0, 1}).features);
  CHECK(first.labels == batch(s.test, {0, 1}).labels);

  CHECK(trainTestSplit(digits, 0, 1).test.size() == 0);
  CHECK(trainTestSplit(digits, 1, 1).train.size() == 0);
  CHECK(errorOf([&] { trainTestSplit(digits, 1.5, 1); }).find("must lie in [0, 1]") !=
        std::string::npos);
}

TEST_CASE("dataset: batch") {
  Dataset d = tiny();
  Dataset b = batch(d, {3, 0, 3});
  CHECK(b.features == Tensor(f32({3, 2}), {4, 10, 1, 10, 4, 10}));
  CHECK(b.labels == Tensor(i32({3}), {3, 0, 3}));
  CHECK(batch(d, {}).features.shape() == Shape{0, 2});
  CHECK(errorOf([&] { batch(d, {4}); }).find("index 4 (position 0) is out of range") !=
        std::string::npos);
}
