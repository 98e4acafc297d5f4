// Checkpoints: round trips of every dtype and of scalar and empty tensors,
// the errors for flipped bytes, truncation, a wrong magic or version and
// mismatched tensors, and saves that fail without touching the old file.
#include "chainjit/runtime/Checkpoint.h"

#include "chainjit/ir/Error.h"

#include "FileTesting.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include <sys/stat.h>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using namespace chainjit::runtime;
using chainjit::testing::errorOf;
using chainjit::testing::readBytes;

namespace {

// A scratch directory that is removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string &name) {
    path = std::filesystem::temp_directory_path() /
           ("chainjit_ckpt_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string &name) const { return (path / name).string(); }
};

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TensorMap sample() {
  TensorMap m;
  m["w1"] = Tensor(f32({2, 3}), {1.5, -2, 0, 3.25, 1e-30, -0.0});
  m["b1"] = Tensor(f64({3}), {std::numeric_limits<double>::infinity(), 1.0 / 3, -7});
  m["step"] = Tensor::scalar(DType::i32, 1234);
  m["mask"] = Tensor(boolean({2, 2}), {1, 0, 0, 1});
  m["empty"] = Tensor(f32({0, 4}));
  m["nan"] = Tensor(f64({1}), {std::nan("")});
  m["adam.m/w1"] = Tensor(f32({2, 3, 1}), {1, 2, 3, 4, 5, 6});
  return m;
}

} // namespace

TEST_CASE("checkpoint: round trip of dtypes, scalars and empty tensors") {
  TempDir dir("rt");
  std::string path = dir.file("model.ckpt");
  TensorMap m = sample();
  saveCheckpoint(path, m);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  TensorMap back = loadCheckpoint(path);
  CHECK(back == m); // bit-identical, NaN and -0 included

  std::string bytes = readBytes(path);
  CHECK(bytes.substr(0, 8) == "CJCKPT01");
  uint64_t recorded;
  std::memcpy(&recorded, bytes.data() + 12, 8);
  CHECK(recorded == bytes.size());

  // Saving again replaces the file; an empty checkpoint is fine too.
  saveCheckpoint(path, {});
  CHECK(loadCheckpoint(path).empty());
}

TEST_CASE("checkpoint: corrupt files") {
  TempDir dir("bad");
  std::string path = dir.file("c.ckpt");
  saveCheckpoint(path, sample());
  std::string good = readBytes(path);

  SUBCASE("a flipped byte in the data") {
    std::string b = good;
    b[b.size() / 2] = static_cast<char>(b[b.size() / 2] ^ 0x01);
    writeBytes(path, b);
    CHECK(errorOf([&] { loadCheckpoint(path); }).find(path + ": error: checksum mismatch") == 0);
  }
  SUBCASE("a flipped byte in the checksum") {
    std::string b = good;
    b.back() = static_cast<char>(b.back() ^ 0x80);
    writeBytes(path, b);
    CHECK(errorOf([&] { loadCheckpoint(path); }).find("checksum mismatch") != std::string::npos);
  }
  SUBCASE("truncated") {
    writeBytes(path, good.substr(0, good.size() - 10));
    CHECK(errorOf([&] { loadCheckpoint(path); })
              .find(path + ": error: truncated checkpoint: " + std::to_string(good.size() - 10) +
                    " bytes, the header says " + std::to_string(good.size())) == 0);
    writeBytes(path, good.substr(0, 15));
    CHECK(errorOf([&] { loadCheckpoint(path); }).find("truncated checkpoint") != std::string::npos);
  }
  SUBCASE("bytes appended") {
    writeBytes(path, good + "xx");
    CHECK(errorOf([&] { loadCheckpoint(path); }).find("corrupt checkpoint") != std::string::npos);
  }
  SUBCASE("wrong magic") {
    std::string b = good;
    b[0] = 'X';
    writeBytes(path, b);
    CHECK(errorOf([&] { loadCheckpoint(path); }) ==
          path + ": error: not a chainjit checkpoint (the file does not start with \"CJCKPT01\")");
    writeBytes(path, "");
    CHECK(errorOf([&] { loadCheckpoint(path); }).find("not a chainjit checkpoint") !=
          std::string::npos);
  }
  SUBCASE("unknown version") {
    std::string b = good;
    b[8] = 2;
    writeBytes(path, b);
    CHECK(errorOf([&] { loadCheckpoint(path); })
              .find("unsupported checkpoint version 2 (this build reads version 1)") !=
          std::string::npos);
  }
  SUBCASE("missing file") {
    CHECK(errorOf([&] { loadCheckpoint(dir.file("none.ckpt")); }) ==
          dir.file("none.ckpt") + ": error: no such checkpoint file");
  }
}

TEST_CASE("checkpoint: mismatched tensors are named") {
  TempDir dir("mm");
  std::string path = dir.file("m.ckpt");
  TensorMap m;
  m["w"] = Tensor(f32({2, 2}));
  m["b"] = Tensor(f32({2}));
  m["old"] = Tensor::scalar(DType::i32, 3);
  saveCheckpoint(path, m);

  std::map<std::string, TensorType> expected = {
      {"w", f32({2, 3})}, {"b", f32({2})}, {"gamma", f64({2})}};
  std::string e = errorOf([&] { loadCheckpointInto(path, expected); });
  CHECK(e.find("checkpoint has no tensor 'gamma' (expected f64[2])") != std::string::npos);
  CHECK(e.find("tensor 'w' is f32[2, 2] in the checkpoint, expected f32[2, 3]") !=
        std::string::npos);
  CHECK(e.find("checkpoint has unexpected tensor 'old' (i32[])") != std::string::npos);
  CHECK(e.find("'b'") == std::string::npos);

  // The in-place form replaces all values or none.
  TensorMap params;
  params["w"] = Tensor(f32({2, 2}), {9, 9, 9, 9});
  params["b"] = Tensor(f32({2}), {9, 9});
  TensorMap before = params;
  CHECK(errorOf([&] { loadCheckpointInto(path, params); }).find("unexpected tensor 'old'") !=
        std::string::npos);
  CHECK(params == before);
  params["old"] = Tensor::scalar(DType::i32, 0);
  loadCheckpointInto(path, params);
  CHECK(params == m);
}

TEST_CASE("checkpoint: a failed save leaves the old file as it was") {
  TempDir dir("fail");
  std::string path = dir.file("keep.ckpt");
  saveCheckpoint(path, sample());
  std::string old = readBytes(path);

  SUBCASE("the temporary file cannot be created") {
    // PATH.tmp is a directory, so opening it for writing fails (EISDIR),
    // whatever the user's privileges.
    std::filesystem::create_directory(path + ".tmp");
    TensorMap m;
    m["x"] = Tensor(f32({1}), {1});
    std::string e = errorOf([&] { saveCheckpoint(path, m); });
    CHECK(e.find(path + ": error: cannot save checkpoint: cannot create " + path + ".tmp") == 0);
    CHECK(std::filesystem::is_directory(path + ".tmp")); // not ours to remove
  }
  SUBCASE("an invalid tensor name") {
    TensorMap m = sample();
    m[""] = Tensor(f32({1}));
    CHECK(errorOf([&] { saveCheckpoint(path, m); }).find("empty name") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  }
  SUBCASE("the target is a directory") {
    std::string target = dir.file("adir");
    std::filesystem::create_directories(target + "/inside");
    CHECK(errorOf([&] { saveCheckpoint(target, sample()); })
              .find("the path exists and is not a regular file") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(target + ".tmp"));
    CHECK(std::filesystem::is_directory(target + "/inside"));
  }
  CHECK(readBytes(path) == old);
  CHECK(loadCheckpoint(path) == sample());
}

TEST_CASE("checkpoint: a path that is a pipe or device is refused, not replaced") {
  // The atomic save renames a new file over the path: over a FIFO (or
  // /dev/null, as root) that would replace the special file itself.
  std::filesystem::path fifo =
      std::filesystem::temp_directory_path() / ("chainjit_" + std::to_string(::getpid()) + "_fifo");
  std::filesystem::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  TensorMap t;
  t["w"] = Tensor(f32({2}), {1, 2});
  std::string msg = errorOf([&] { saveCheckpoint(fifo.string(), t); });
  CHECK(msg.find("the path exists and is not a regular file") != std::string::npos);
  CHECK(std::filesystem::is_fifo(fifo));
  CHECK(!std::filesystem::exists(fifo.string() + ".tmp"));
  std::filesystem::remove(fifo);
}
