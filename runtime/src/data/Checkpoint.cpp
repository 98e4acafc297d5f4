// Checkpoint files: the format described in Checkpoint.h, written atomically.
#include "chainjit/runtime/Checkpoint.h"

#include "chainjit/runtime/AtomicFile.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "data/FileBytes.h"

#include <zlib.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <optional>
#include <algorithm>
#include <cstdio>

namespace chainjit::runtime {

static_assert(std::endian::native == std::endian::little,
              "checkpoints are written with the host's byte order, little-endian");

using ir::DType;
using ir::Tensor;

namespace {

constexpr char kMagic[8] = {'C', 'J', 'C', 'K', 'P', 'T', '0', '1'};
constexpr size_t kHeaderSize = 8 + 4 + 8 + 8;
constexpr size_t kTrailerSize = 4;
constexpr size_t kMaxNameLength = 65535;

[[noreturn]] void fail(const std::string &path, std::string message) {
  SourceLoc loc;
  loc.file = path;
  throw Error(std::move(message), std::move(loc));
}

// Stable on-disk dtype codes, independent of the enum's values.
uint8_t dtypeCode(DType t) {
  switch (t) {
  case DType::f32: return 0;
  case DType::f64: return 1;
  case DType::i32: return 2;
  case DType::boolean: return 3;
  }
  return 255;
}

std::optional<DType> dtypeFromCode(uint8_t c) {
  switch (c) {
  case 0: return DType::f32;
  case 1: return DType::f64;
  case 2: return DType::i32;
  case 3: return DType::boolean;
  }
  return std::nullopt;
}

template <typename T> void put(std::string &out, T v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof v);
}

uint32_t crcOf(const char *data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in pieces.
  while (n > 0) {
    auto piece = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef *>(data), piece);
    data += piece;
    n -= piece;
  }
  return static_cast<uint32_t>(crc);
}

std::string serialize(const std::string &path, const TensorMap &tensors) {
  // std::map keeps the names in increasing byte order, which readers check.
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, kCheckpointVersion);
  put<uint64_t>(out, 0); // total size, patched below
  put<uint64_t>(out, tensors.size());
  for (const auto &[name, t] : tensors) {
    if (name.empty())
      fail(path, "cannot save a tensor with an empty name");
    if (name.size() > kMaxNameLength)
      fail(path, "tensor name of " + std::to_string(name.size()) +
                     " bytes is longer than the limit of " + std::to_string(kMaxNameLength));
    put<uint32_t>(out, static_cast<uint32_t>(name.size()));
    out += name;
    put<uint8_t>(out, dtypeCode(t.dtype()));
    put<uint32_t>(out, static_cast<uint32_t>(t.shape().size()));
    for (int64_t dim : t.shape())
      put<int64_t>(out, dim);
    put<uint64_t>(out, t.byteSize());
    out.append(static_cast<const char *>(t.data()), t.byteSize());
  }
  uint64_t total = out.size() + kTrailerSize;
  std::memcpy(out.data() + 12, &total, sizeof total);
  put<uint32_t>(out, crcOf(out.data(), out.size()));
  return out;
}

// Reads the records of a checkpoint up to `end` (where the checksum starts).
// Every length is compared with the bytes that remain before it is used, so
// no offset can pass the end or wrap; errors give the byte offset.
class Reader {
public:
  Reader(std::string_view bytes, size_t end, const std::string &path)
      : b_(bytes), end_(end), path_(path) {}

  template <typename T> T get(const char *what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string bytes(size_t n, const char *what) {
    need(n, what);
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  const char *here() const { return b_.data() + pos_; }
  void skip(uint64_t n, const char *what) {
    need(n, what);
    pos_ += n;
  }
  size_t pos() const { return pos_; }
  uint64_t remaining() const { return end_ - pos_; }

  // A corrupt-file error at byte offset `at`.
  [[noreturn]] void corrupt(size_t at, const std::string &what) const {
    fail(path_, "corrupt checkpoint at byte offset " + std::to_string(at) + ": " + what);
  }

private:
  void need(uint64_t n, const char *what) {
    if (n > remaining())
      corrupt(pos_, std::string(what) + " needs " + std::to_string(n) + " bytes, only " +
                        std::to_string(remaining()) + " remain before the checksum");
  }
  std::string_view b_;
  size_t end_;
  const std::string &path_;
  size_t pos_ = 0;
};

// The fewest bytes a tensor record takes: name length, a 1-byte name, dtype,
// rank 0 and the byte length.
constexpr uint64_t kMinRecordSize = 4 + 1 + 1 + 4 + 8;
constexpr uint32_t kMaxRank = 64;

} // namespace

std::string formatCheckpoint(const TensorMap &tensors, const std::string &filename) {
  return serialize(filename, tensors);
}

void saveCheckpoint(const std::string &path, const TensorMap &tensors) {
  // Everything that can be checked is checked before a file is touched.
  std::string bytes = serialize(path, tensors);
  // A checkpoint must be a file to resume from: a special file refuses.
  AtomicFile file(path, AtomicFile::OnSpecialFile::Refuse, "cannot save checkpoint");
  file.write(bytes);
  file.commit();
}

TensorMap loadCheckpoint(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail(path, "no such checkpoint file");
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory, not a checkpoint file");
  return parseCheckpoint(detail::readFileBytes(path), path);
}

TensorMap parseCheckpoint(std::string_view b, const std::string &path) {
  if (b.size() < sizeof kMagic || std::memcmp(b.data(), kMagic, sizeof kMagic) != 0)
    fail(path, "not a chainjit checkpoint (the file does not start with \"CJCKPT01\")");
  if (b.size() < kHeaderSize + kTrailerSize)
    fail(path, "truncated checkpoint: " + std::to_string(b.size()) +
                   " bytes, shorter than the header and checksum");
  uint32_t version;
  std::memcpy(&version, b.data() + 8, sizeof version);
  if (version != kCheckpointVersion)
    fail(path, "unsupported checkpoint version " + std::to_string(version) +
                   " (this build reads version " + std::to_string(kCheckpointVersion) + ")");
  uint64_t recorded;
  std::memcpy(&recorded, b.data() + 12, sizeof recorded);
  if (recorded > b.size())
    fail(path, "truncated checkpoint: " + std::to_string(b.size()) + " bytes, the header says " +
                   std::to_string(recorded));
  if (recorded < b.size())
    fail(path, "corrupt checkpoint: " + std::to_string(b.size()) + " bytes, the header says " +
                   std::to_string(recorded));
  size_t body = b.size() - kTrailerSize;
  uint32_t stored;
  std::memcpy(&stored, b.data() + body, sizeof stored);
  uint32_t computed = crcOf(b.data(), body);
  if (stored != computed) {
    char msg[160];
    std::snprintf(msg, sizeof msg,
                  "checksum mismatch (stored CRC-32 %08x, computed %08x): the "
                  "checkpoint is corrupt",
                  stored, computed);
    fail(path, msg);
  }

  // The checksum guards against accidents only: a crafted file has a valid
  // one, so every count and length below is checked against the bytes left.
  Reader r(b, body, path);
  r.skip(20, "header");
  size_t countAt = r.pos();
  auto count = r.get<uint64_t>("tensor count");
  if (count > r.remaining() / kMinRecordSize)
    r.corrupt(countAt, "the header says " + std::to_string(count) + " tensors, but the " +
                           std::to_string(r.remaining()) +
                           " bytes that follow hold at most " +
                           std::to_string(r.remaining() / kMinRecordSize));
  TensorMap out;
  for (uint64_t k = 0; k < count; ++k) {
    size_t recordAt = r.pos();
    std::string which = "tensor record " + std::to_string(k);
    auto nameLen = r.get<uint32_t>("name length");
    if (nameLen == 0 || nameLen > kMaxNameLength)
      r.corrupt(recordAt, which + " has a name of " + std::to_string(nameLen) + " bytes");
    std::string name = r.bytes(nameLen, "tensor name");
    which = "tensor '" + name + "'";
    size_t dtypeAt = r.pos();
    auto code = r.get<uint8_t>("dtype");
    std::optional<DType> dtype = dtypeFromCode(code);
    if (!dtype)
      r.corrupt(dtypeAt, which + " has unknown dtype code " + std::to_string(code));
    size_t rankAt = r.pos();
    auto rank = r.get<uint32_t>("rank");
    if (rank > kMaxRank)
      r.corrupt(rankAt, which + " has rank " + std::to_string(rank) + " (at most " +
                            std::to_string(kMaxRank) + ")");
    ir::Shape shape;
    for (uint32_t i = 0; i < rank; ++i) {
      size_t dimAt = r.pos();
      auto dim = r.get<int64_t>("dimension");
      if (dim < 0)
        r.corrupt(dimAt, which + " has negative dimension " + std::to_string(dim));
      shape.push_back(dim);
    }
    ir::TensorType type{*dtype, shape};
    size_t lengthAt = r.pos();
    auto byteLen = r.get<uint64_t>("byte length");
    std::optional<uint64_t> bytes = detail::declaredTensorBytes(*dtype, shape);
    if (!bytes)
      r.corrupt(rankAt, which + " has type " + type.str() + ", too large to exist (more than " +
                            ir::formatBytes(ir::kMaxTensorBytes) + ")");
    if (byteLen != *bytes)
      r.corrupt(lengthAt, which + " of type " + type.str() + " records " +
                              std::to_string(byteLen) + " data bytes, its type needs " +
                              std::to_string(*bytes));
    size_t dataAt = r.pos();
    const char *src = r.here();
    r.skip(byteLen, "tensor data");
    if (*dtype == DType::boolean)
      for (uint64_t i = 0; i < byteLen; ++i)
        if (static_cast<unsigned char>(src[i]) > 1)
          r.corrupt(dataAt + i, which + " is bool, but its element " + std::to_string(i) +
                                    " is " + std::to_string(static_cast<unsigned char>(src[i])) +
                                    " (not 0 or 1)");
    // No larger than the file, which is in memory already; checked all the
    // same, with the file named.
    detail::checkAllocIn(path, byteLen, which + " of type " + type.str());
    Tensor t(type);
    if (byteLen)
      std::memcpy(t.data(), src, byteLen);
    // The writer orders records by name (std::map's byte order); holding
    // readers to it rules out duplicates and makes the format canonical.
    if (!out.empty() && !(out.rbegin()->first < name))
      r.corrupt(recordAt, out.rbegin()->first == name
                              ? which + " appears twice"
                              : which + " comes after '" + out.rbegin()->first +
                                    "' (records are in increasing byte order of their names)");
    out.emplace_hint(out.end(), name, std::move(t));
  }
  if (r.pos() != body)
    r.corrupt(r.pos(), std::to_string(body - r.pos()) + " bytes after the last tensor");
  return out;
}

TensorMap loadCheckpointInto(const std::string &path,
                             const std::map<std::string, ir::TensorType> &expected) {
  TensorMap loaded = loadCheckpoint(path);
  std::vector<Diagnostic> problems;
  SourceLoc loc;
  loc.file = path;
  for (const auto &[name, type] : expected) {
    auto it = loaded.find(name);
    if (it == loaded.end())
      problems.push_back({loc, "checkpoint has no tensor '" + name + "' (expected " +
                                   type.str() + ")"});
    else if (it->second.type() != type)
      problems.push_back({loc, "tensor '" + name + "' is " + it->second.type().str() +
                                   " in the checkpoint, expected " + type.str()});
  }
  for (const auto &[name, t] : loaded)
    if (!expected.count(name))
      problems.push_back({loc, "checkpoint has unexpected tensor '" + name + "' (" +
                                   t.type().str() + ")"});
  if (!problems.empty())
    throw Error(std::move(problems));
  return loaded;
}

void loadCheckpointInto(const std::string &path, TensorMap &tensors) {
  std::map<std::string, ir::TensorType> expected;
  for (const auto &[name, t] : tensors)
    expected.emplace(name, t.type());
  tensors = loadCheckpointInto(path, expected);
}

} // namespace chainjit::runtime
