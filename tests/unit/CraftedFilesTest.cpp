// Crafted files (issue 9): every count and length a file declares is checked
// against the bytes the file has, without overflow, before anything is
// allocated or indexed, and the error names the file, the byte offset and the
// problem. A checksum is no defence: the crafted checkpoints here have valid
// ones. The fuzz targets (fuzz/, docs/fuzzing.md) search for more such files;
// these are the classes of bad input found or reasoned out, one check each.
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/train/Trainer.h"

#include "FileTesting.h"

#include <doctest/doctest.h>

#include <zlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>

using namespace chainjit;
using namespace chainjit::ir;
using namespace chainjit::runtime;
using chainjit::testing::TempFile;
using chainjit::testing::errorOf;

namespace {

// ---- checkpoints, byte by byte (the format of Checkpoint.h) ----

template <typename T> std::string le(T v) {
  return std::string(reinterpret_cast<const char *>(&v), sizeof v);
}

// One tensor record with whatever fields a test wants, consistent or not.
std::string record(const std::string &name, uint8_t dtype, std::vector<int64_t> dims,
                   uint64_t byteLen, const std::string &data) {
  std::string r = le<uint32_t>(static_cast<uint32_t>(name.size())) + name + le<uint8_t>(dtype) +
                  le<uint32_t>(static_cast<uint32_t>(dims.size()));
  for (int64_t d : dims)
    r += le<int64_t>(d);
  return r + le<uint64_t>(byteLen) + data;
}

// A whole checkpoint around `records`, with the right total size and a valid
// CRC-32: what an attacker would write.
std::string craftedCheckpoint(uint64_t count, const std::string &records) {
  std::string b = "CJCKPT01" + le<uint32_t>(1) + le<uint64_t>(0) + le<uint64_t>(count) + records;
  uint64_t total = b.size() + 4;
  std::memcpy(b.data() + 12, &total, sizeof total);
  uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef *>(b.data()), static_cast<uInt>(b.size())));
  return b + le<uint32_t>(crc);
}

std::string checkpointError(const std::string &bytes) {
  return errorOf([&] { parseCheckpoint(bytes, "c.ckpt"); });
}

// ---- IDX ----

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string idx(uint32_t rank, std::vector<uint32_t> dims, const std::string &data) {
  std::string s = be32(0x800 | rank);
  for (uint32_t d : dims)
    s += be32(d);
  return s + data;
}

std::string idxError(const std::string &images, const std::string &labels) {
  return errorOf([&] { parseIdxDataset(images, "i.idx", labels, "l.idx"); });
}

// ---- .npy ----

std::string npy(const std::string &header, const std::string &data) {
  std::string h = header + "\n";
  return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size() & 0xff) +
         static_cast<char>(h.size() >> 8) + h + data;
}

std::string npyError(const std::string &bytes) {
  return errorOf([&] { parseNpy(bytes, "z.npy"); });
}

// Sets the allocation limit for one test and restores the default after it.
struct AllocLimitScope {
  explicit AllocLimitScope(uint64_t bytes) { setAllocLimit(bytes); }
  ~AllocLimitScope() { setAllocLimit(0); }
};

std::string gz(const std::string &data) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

} // namespace

// ------------------------------------------------------------ checkpoints ----

TEST_CASE("crafted checkpoint: f64[2^61] with 0 data bytes and a valid CRC (issue 9, defect 2)") {
  // 2^61 elements of 8 bytes wrap a 64-bit byte count to 0, which matched the
  // recorded 0 bytes; now the type itself is refused.
  std::string b = craftedCheckpoint(1, record("w", 1, {int64_t(1) << 61}, 0, ""));
  CHECK(checkpointError(b) ==
        "c.ckpt: error: corrupt checkpoint at byte offset 34: tensor 'w' has type "
        "f64[2305843009213693952], too large to exist (more than 256.0 TiB)");

  // The same through `train --resume`: an error naming the file, no crash.
  TempFile file("crafted_resume.ckpt", b);
  ir::Graph model =
      ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + "/examples/digits_mlp.cj");
  Dataset data;
  data.features = Tensor(f32({4, 64}));
  data.labels = Tensor(i32({4}), {0, 1, 2, 3});
  train::TrainConfig c;
  c.batch = 2;
  c.epochs = 1;
  c.checkpointPath = file.str();
  c.resume = true;
  std::string e = errorOf([&] { train::Trainer(model, c).fit(data); });
  CHECK(e.find(file.str() + ": error: corrupt checkpoint at byte offset 34: tensor 'w' has "
                            "type f64[2305843009213693952], too large to exist") == 0);
}

TEST_CASE("crafted checkpoint: every count and length is checked against the bytes left") {
  SUBCASE("a tensor count larger than the records could hold") {
    CHECK(checkpointError(craftedCheckpoint(uint64_t(1) << 60, "")) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 20: the header says "
          "1152921504606846976 tensors, but the 0 bytes that follow hold at most 0");
  }
  SUBCASE("a name length past the end") {
    std::string r = record("w", 0, {}, 4, le<float>(1));
    r.replace(0, 4, le<uint32_t>(60000));
    CHECK(checkpointError(craftedCheckpoint(1, r)) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 32: tensor name needs 60000 bytes, "
          "only 18 remain before the checksum");
  }
  SUBCASE("a zero-length name") {
    CHECK(checkpointError(craftedCheckpoint(1, record("", 0, {}, 4, le<float>(1)))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 28: tensor record 0 has a name of 0 "
          "bytes");
  }
  SUBCASE("an unknown dtype code") {
    CHECK(checkpointError(craftedCheckpoint(1, record("w", 9, {}, 4, le<float>(1)))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 33: tensor 'w' has unknown dtype "
          "code 9");
  }
  SUBCASE("a rank past the limit") {
    CHECK(checkpointError(craftedCheckpoint(1, record("w", 0, std::vector<int64_t>(65, 1), 4,
                                                      le<float>(1)))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 34: tensor 'w' has rank 65 (at most "
          "64)");
  }
  SUBCASE("a rank whose dimensions run past the end") {
    std::string r = le<uint32_t>(1) + "w" + le<uint8_t>(0) + le<uint32_t>(64) + le<int64_t>(1);
    CHECK(checkpointError(craftedCheckpoint(1, r)).find(
              "corrupt checkpoint at byte offset 46: dimension needs 8 bytes, only 0 remain") !=
          std::string::npos);
  }
  SUBCASE("a negative dimension") {
    CHECK(checkpointError(craftedCheckpoint(1, record("w", 0, {2, -3}, 0, ""))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 46: tensor 'w' has negative "
          "dimension -3");
  }
  SUBCASE("a byte length that disagrees with the type") {
    CHECK(checkpointError(craftedCheckpoint(1, record("w", 0, {2}, 4, le<float>(1)))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 46: tensor 'w' of type f32[2] "
          "records 4 data bytes, its type needs 8");
  }
  SUBCASE("a byte length past the end of the file") {
    CHECK(checkpointError(craftedCheckpoint(1, record("w", 1, {int64_t(1) << 40}, uint64_t(1) << 43,
                                                      ""))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 54: tensor data needs 8796093022208 "
          "bytes, only 0 remain before the checksum");
  }
  SUBCASE("an empty tensor with an absurd dimension") {
    CHECK(checkpointError(craftedCheckpoint(1, record("w", 0, {0, int64_t(1) << 62}, 0, ""))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 34: tensor 'w' has type f32[0, "
          "4611686018427387904], too large to exist (more than 256.0 TiB)");
  }
  SUBCASE("bool data that is not 0 or 1") {
    CHECK(checkpointError(craftedCheckpoint(1, record("m", 3, {2}, 2, std::string("\x01\x02", 2)))) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 55: tensor 'm' is bool, but its "
          "element 1 is 2 (not 0 or 1)");
  }
  SUBCASE("records out of order or repeated") {
    std::string a = record("a", 0, {}, 4, le<float>(1)), b = record("b", 0, {}, 4, le<float>(2));
    CHECK(checkpointError(craftedCheckpoint(2, b + a)) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 50: tensor 'a' comes after 'b' "
          "(records are in increasing byte order of their names)");
    CHECK(checkpointError(craftedCheckpoint(2, a + a)) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 50: tensor 'a' appears twice");
  }
  SUBCASE("bytes after the last record") {
    CHECK(checkpointError(craftedCheckpoint(1, record("a", 0, {}, 4, le<float>(1)) + "xyz")) ==
          "c.ckpt: error: corrupt checkpoint at byte offset 50: 3 bytes after the last tensor");
  }
  SUBCASE("a tensor over the allocation limit") {
    AllocLimitScope limit(1000);
    std::string data(4096, '\0');
    CHECK(checkpointError(craftedCheckpoint(1, record("big", 0, {1024}, 4096, data))) ==
          "c.ckpt: error: tensor 'big' of type f32[1024] needs 4.0 KiB, more than the "
          "allocation limit of 1000 B (raise it with --alloc-limit or $CHAINJIT_ALLOC_LIMIT)");
  }
  SUBCASE("a valid crafted file reads, and writes back to the same bytes") {
    std::string b = craftedCheckpoint(
        2, record("a", 2, {2}, 8, le<int32_t>(-1) + le<int32_t>(7)) + record("b", 3, {0, 5}, 0, ""));
    TensorMap m = parseCheckpoint(b, "c.ckpt");
    CHECK(m.at("a") == Tensor(i32({2}), {-1, 7}));
    CHECK(m.at("b").shape() == Shape{0, 5});
    CHECK(formatCheckpoint(m) == b);
  }
}

// ------------------------------------------------------------------- IDX ----

TEST_CASE("crafted IDX: dimensions whose product wraps (issue 9, defect 3)") {
  // 2 x 0x80010001 x 0xfffe0002 wraps a 64-bit product; rows x cols overflowed
  // int64 and the error named no file and a negative dimension.
  std::string images = idx(3, {2, 0x80010001u, 0xfffe0002u}, std::string(8, '\0'));
  std::string labels = idx(1, {2}, std::string("\x00\x01", 2));
  CHECK(idxError(images, labels) ==
        "i.idx: error: truncated IDX file: dimensions 2 x 2147549185 x 4294836226 need more "
        "than 2^64 data bytes, the file has 8 after its 16-byte header");
  // Every factor at the 32-bit limit, and a file through loadIdxDataset.
  TempFile img("wrap_images.idx", idx(3, {0xffffffffu, 0xffffffffu, 0xffffffffu}, "x"));
  TempFile lab("wrap_labels.idx", labels);
  CHECK(errorOf([&] { loadIdxDataset(img.str(), lab.str()); }) ==
        img.str() + ": error: truncated IDX file: dimensions 4294967295 x 4294967295 x "
                    "4294967295 need more than 2^64 data bytes, the file has 1 after its "
                    "16-byte header");
  // Without overflow, the exact count.
  CHECK(idxError(idx(3, {3, 0x10000u, 0x10000u}, "abcd"), labels) ==
        "i.idx: error: truncated IDX file: dimensions need 12884901888 data bytes, the file "
        "has 4 after its 16-byte header");
}

TEST_CASE("crafted IDX: empty files with absurd dimensions, trailing bytes") {
  std::string labels0 = idx(1, {0}, "");
  CHECK(idxError(idx(3, {0, 0xffffffffu, 0xffffffffu}, ""), labels0) ==
        "i.idx: error: images of 4294967295 x 4294967295 pixels are too large to exist as f32 "
        "features");
  Dataset d = parseIdxDataset(idx(3, {0, 28, 28}, ""), "i.idx", labels0, "l.idx");
  CHECK(d.features.shape() == Shape{0, 784});
  CHECK(idxError(idx(3, {1, 1, 1}, "ab"), idx(1, {1}, "c")) ==
        "i.idx: error: IDX file has 1 bytes after the data its dimensions describe (from byte "
        "offset 17)");
}

// ------------------------------------------------------------------ gzip ----

TEST_CASE("crafted gzip: bounded output, members, trailing bytes, truncation") {
  std::string csv = "1,2,0\n3,4,1\n";
  SUBCASE("several members are one file") {
    Dataset d = parseCsvDataset(gz("1,2,0\n") + gz("3,4,1\n"), "d.csv.gz");
    CHECK(d.labels == Tensor(i32({2}), {0, 1}));
  }
  SUBCASE("anything else after the compressed data") {
    std::string b = gz(csv);
    CHECK(errorOf([&] { parseCsvDataset(b + "junk", "d.csv.gz"); }) ==
          "d.csv.gz: error: corrupt gzip data: 4 bytes that are not gzip data follow the "
          "compressed data, at byte offset " +
              std::to_string(b.size()));
  }
  SUBCASE("truncated") {
    std::string b = gz(csv);
    CHECK(errorOf([&] { parseCsvDataset(b.substr(0, b.size() - 3), "d.csv.gz"); }) ==
          "d.csv.gz: error: corrupt gzip data: truncated, the compressed data ends at byte "
          "offset " +
              std::to_string(b.size() - 3) + " before the end of its stream");
  }
  SUBCASE("a bomb: decompressed data past the allocation limit stops there") {
    std::string bomb = gz(std::string(4 << 20, '0'));
    CHECK(bomb.size() < 10000);
    AllocLimitScope limit(1 << 20);
    std::string e = errorOf([&] { parseCsvDataset(bomb, "bomb.csv.gz"); });
    CHECK(e.find("bomb.csv.gz: error: the decompressed data needs ") == 0);
    CHECK(e.find("more than the allocation limit of 1.0 MiB") != std::string::npos);
  }
  SUBCASE("a flipped byte: the offset zlib stopped at") {
    std::string b = gz(csv);
    b[b.size() - 6] ^= 0x55; // in the CRC-32 trailer
    CHECK(errorOf([&] { parseCsvDataset(b, "d.csv.gz"); })
              .find("d.csv.gz: error: corrupt gzip data at byte offset ") == 0);
  }
}

// ------------------------------------------------------------------ .npy ----

TEST_CASE("crafted .npy: declared sizes against the file") {
  CHECK(npyError(std::string("\x93NUMPY\x01\x00\xff\xff{", 11)) ==
        "z.npy: error: truncated .npy header: it declares 65535 bytes from byte offset 10, the "
        "file has 1");
  CHECK(npyError(std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14)) ==
        "z.npy: error: truncated .npy header: it declares 4294967295 bytes from byte offset 12, "
        "the file has 2");
  CHECK(npyError(std::string("\x93NUMPY\x02\x00\x01\x00\x00", 11)) == // 3 of 4 length bytes
        "z.npy: error: truncated .npy header: the file ends at byte offset 11 inside the 4-byte "
        "header length of a version 2.0 file");
  CHECK(npyError(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
                     "")) ==
        "z.npy: error: shape (2305843009213693952,) of '<f8' is too large to exist (more than "
        "256.0 TiB); the file has 0 data bytes");
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904), }",
                     "")) ==
        "z.npy: error: shape (0, 4611686018427387904) of '<f4' is too large to exist (more than "
        "256.0 TiB); the file has 0 data bytes");
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                     "")) ==
        "z.npy: error: invalid .npy header at byte offset 61: a shape dimension is too large");
  std::string rank65 = "(";
  for (int i = 0; i < 65; ++i)
    rank65 += "1,";
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + rank65 + "), }",
                     "")) ==
        "z.npy: error: invalid .npy header at byte offset 189: more than 64 dimensions");
  CHECK(npyError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                     std::string(5, '\0'))) ==
        "z.npy: error: the .npy file has 1 bytes after the data of shape (1,) of '<f4' (from "
        "byte offset 72)");
}

TEST_CASE("crafted .npy and CSV files: larger than the allocation limit") {
  TempFile big("big.csv", std::string(5000, '1') + "\n");
  AllocLimitScope limit(4096);
  CHECK(errorOf([&] { readCsv(big.str()); }) ==
        big.str() + ": error: reading the file needs 4.9 KiB, more than the allocation limit "
                    "of 4.0 KiB (raise it with --alloc-limit or $CHAINJIT_ALLOC_LIMIT)");
}

TEST_CASE("formatTensor, formatCsv: an empty tensor with a huge dimension is not walked") {
  auto start = std::chrono::steady_clock::now();
  std::string s = formatTensor(Tensor(f32({int64_t(1) << 40, 0})), {.full = true});
  CHECK(s == "[]");
  Shape sixes(17, 6);
  sixes.push_back(0); // 6^17 empty rows, 4 * 6^17 bytes (below 2^48) without the 0
  CHECK(formatTensor(Tensor(f32(sixes))) == "[]");
  // As CSV it is an empty file, not 2^40 empty lines.
  CHECK(formatCsv(Tensor(f32({int64_t(1) << 40, 0}))).empty());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
