// .npy arrays and IDX images read a chunk of rows at a time
// (runtime/RowChunks.h, what `chainjit predict` streams): the rows in order
// whatever the chunk size, version 2.0 headers, and the errors for a file
// that ends early, has bytes after its data, holds a scalar or a '|u1' byte
// that is no bool. cli.weights.predict_streams runs the same through predict.
#include "FileTesting.h"

#include "chainjit/runtime/RowChunks.h"
#include "chainjit/runtime/TensorIO.h"

#include <doctest/doctest.h>

#include <cstring>

using namespace chainjit;
using chainjit::testing::errorOf;
using chainjit::testing::TempFile;

namespace {

// A .npy file: version 1.0 or 2.0 header, padded so the data starts at a
// multiple of 64 bytes (128 for the headers below).
std::string npyFile(const std::string &descr, const std::string &shape, const std::string &data,
                    int major = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t pre = major == 1 ? 10 : 12;
  size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;
  dict += std::string(total - pre - dict.size() - 1, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  size_t len = dict.size();
  for (size_t k = 0; k < (major == 1 ? 2u : 4u); ++k)
    out += static_cast<char>((len >> (8 * k)) & 0xff);
  return out + dict + data;
}

std::vector<double> readAll(runtime::RowChunkReader &r, int64_t chunk, std::vector<int64_t> &sizes) {
  std::vector<double> all, part;
  while (int64_t n = r.next(chunk, part)) {
    sizes.push_back(n);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

} // namespace

TEST_CASE("row chunks: a .npy file row by row, in chunks of any size") {
  ir::Tensor t(ir::f32({5, 2, 2}));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.as<float>()[i] = static_cast<float>(i) * 0.5f;
  TempFile f("rows.npy", runtime::formatNpy(t));
  for (int64_t chunk : {1, 2, 3, 5, 100}) {
    auto r = runtime::openNpyRows(f.str());
    CHECK(r->rows() == 5);
    CHECK(r->rowElements() == 4);
    CHECK(r->type() == ir::f32({5, 2, 2}));
    std::vector<int64_t> sizes;
    std::vector<double> all = readAll(*r, chunk, sizes);
    REQUIRE(all.size() == 20);
    for (size_t i = 0; i < all.size(); ++i)
      CHECK(all[i] == 0.5 * static_cast<double>(i));
    CHECK(sizes.front() == std::min<int64_t>(chunk, 5));
  }
  // Version 2.0, int32, and no rows at all.
  int32_t values[] = {-3, 7};
  TempFile v2("v2.npy", npyFile("<i4", "(2, 1)", std::string(reinterpret_cast<char *>(values), 8), 2));
  auto r = runtime::openNpyRows(v2.str());
  std::vector<int64_t> sizes;
  CHECK(readAll(*r, 10, sizes) == std::vector<double>{-3, 7});
  TempFile empty("empty.npy", npyFile("<f8", "(0, 3)", ""));
  r = runtime::openNpyRows(empty.str());
  CHECK(r->rows() == 0);
  std::vector<double> part;
  CHECK(r->next(10, part) == 0);
  CHECK(r->next(10, part) == 0);
}

TEST_CASE("row chunks: a .npy file that ends early, goes on, holds a scalar or bad bools") {
  std::string data(3 * 4, '\0');
  TempFile shortFile("short.npy", npyFile("<f4", "(4,)", data));
  std::string path = shortFile.str();
  auto r = runtime::openNpyRows(path);
  std::vector<double> part;
  CHECK(r->next(2, part) == 2); // what is there is read
  CHECK(errorOf([&] { r->next(2, part); }) ==
        path + ": error: truncated .npy data: shape (4,) of '<f4' needs 16 bytes from byte "
               "offset 128, the file ends at byte offset 140");
  TempFile longFile("long.npy", npyFile("<f4", "(3,)", data + "!"));
  r = runtime::openNpyRows(longFile.str());
  CHECK(r->next(3, part) == 3);
  CHECK(errorOf([&] { r->next(3, part); }) ==
        longFile.str() + ": error: the .npy file has bytes after the data of shape (3,) of "
                         "'<f4' (from byte offset 140)");
  TempFile scalar("scalar.npy", npyFile("<f4", "()", data.substr(0, 4)));
  CHECK(errorOf([&] { runtime::openNpyRows(scalar.str()); }) ==
        scalar.str() + ": error: holds a scalar (shape ()); rows need an array of rank >= 1");
  TempFile bools("bools.npy", npyFile("|u1", "(2, 2)", std::string("\x01\x00\x00\x02", 4)));
  r = runtime::openNpyRows(bools.str());
  CHECK(errorOf([&] { r->next(1, part); }) == "(no error)");
  CHECK(errorOf([&] { r->next(1, part); }) ==
        bools.str() + ": error: element 3 (byte offset 131) is 2; '|u1' data is read as bool "
                      "and must be 0 or 1");
  TempFile notNpy("not.npy", "just text, and long enough");
  CHECK(errorOf([&] { runtime::openNpyRows(notNpy.str()); }) ==
        notNpy.str() + ": error: not a .npy file (it does not start with \\x93NUMPY)");
}

TEST_CASE("row chunks: IDX images without labels") {
  std::string idx("\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x01", 16);
  TempFile images("images.idx", idx + std::string("\x01\x02\x03\x04\xff\x00", 6));
  auto r = runtime::openIdxImageRows(images.str());
  CHECK(r->rows() == 3);
  CHECK(r->rowElements() == 2);
  std::vector<int64_t> sizes;
  CHECK(readAll(*r, 2, sizes) == std::vector<double>{1, 2, 3, 4, 255, 0});
  CHECK(sizes == std::vector<int64_t>{2, 1});
  TempFile labels("labels.idx", std::string("\x00\x00\x08\x01\x00\x00\x00\x01\x07", 9));
  CHECK(errorOf([&] { runtime::openIdxImageRows(labels.str()); }) ==
        labels.str() + ": error: bad magic number 0x00000801 for an IDX images file (expected "
                       "0x00000803, unsigned bytes, 3 dimensions)");
  TempFile cut("cut.idx", idx + "\x01\x02\x03");
  r = runtime::openIdxImageRows(cut.str());
  std::vector<double> part;
  CHECK(errorOf([&] { r->next(5, part); }) ==
        cut.str() + ": error: truncated IDX file: dimensions 3 x 2 x 1 need 6 data bytes after "
                    "the 16-byte header, the file ends at byte offset 19");
}
