// Reading data files with their sizes checked. See FileBytes.h.
#include "data/FileBytes.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace chainjit::runtime::detail {

void failIn(const std::string &file, std::string message, int line, int col) {
  SourceLoc loc;
  loc.file = file;
  loc.line = line;
  loc.col = col;
  throw Error(std::move(message), std::move(loc));
}

void checkAllocIn(const std::string &file, uint64_t bytes, std::string_view what) {
  try {
    ir::checkAlloc(bytes, what);
  } catch (const Error &e) {
    failIn(file, e.diagnostics().front().message);
  }
}

namespace {

// Closes the descriptor on every path out.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

std::string readFileBytes(const std::string &path) {
  FileDescriptor f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0)
    failIn(path, std::string("cannot open file: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    failIn(path, std::string("cannot read file: ") + std::strerror(errno));
  std::string out;
  // A regular file's size is known up front; a pipe's is checked as it grows.
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    checkAllocIn(path, static_cast<uint64_t>(st.st_size), "reading the file");
    out.reserve(static_cast<size_t>(st.st_size));
  }
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      failIn(path, std::string("cannot read file: ") + std::strerror(errno));
    }
    if (n == 0)
      break;
    checkAllocIn(path, out.size() + static_cast<size_t>(n), "reading the file");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool isGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

namespace {

// zlib's inflate state, ended on every path out.
struct Inflater {
  z_stream zs{};
  bool ready = false;
  ~Inflater() {
    if (ready)
      inflateEnd(&zs);
  }
};

} // namespace

std::string gunzip(std::string_view bytes, const std::string &file) {
  Inflater inf;
  // 16 + MAX_WBITS: a gzip wrapper (header and CRC-32 trailer), nothing else.
  if (inflateInit2(&inf.zs, 16 + MAX_WBITS) != Z_OK)
    failIn(file, "cannot decompress: zlib could not be initialized");
  inf.ready = true;
  z_stream &zs = inf.zs;
  std::string out;
  char buf[1 << 16];
  size_t pos = 0; // bytes of `bytes` handed to zlib so far
  auto corrupt = [&](const std::string &why) {
    // zlib has consumed up to pos - avail_in; that is where the problem is.
    failIn(file, "corrupt gzip data at byte offset " + std::to_string(pos - zs.avail_in) +
                     ": " + why);
  };
  while (true) {
    if (zs.avail_in == 0 && pos < bytes.size()) {
      // zlib counts in uInt: hand it large inputs in pieces.
      size_t piece = std::min<size_t>(bytes.size() - pos, UINT_MAX);
      zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(bytes.data() + pos));
      zs.avail_in = static_cast<uInt>(piece);
      pos += piece;
    }
    zs.next_out = reinterpret_cast<Bytef *>(buf);
    zs.avail_out = sizeof buf;
    int ret = inflate(&zs, Z_NO_FLUSH);
    size_t produced = sizeof buf - zs.avail_out;
    if (produced) {
      checkAllocIn(file, out.size() + produced, "the decompressed data");
      out.append(buf, produced);
    }
    if (ret == Z_STREAM_END) {
      size_t next = pos - zs.avail_in; // the first byte after this member
      if (next == bytes.size())
        return out;
      if (!isGzip(bytes.substr(next)))
        failIn(file, "corrupt gzip data: " + std::to_string(bytes.size() - next) +
                         " bytes that are not gzip data follow the compressed data, at "
                         "byte offset " +
                         std::to_string(next));
      inflateReset(&zs); // another member follows
      continue;
    }
    if (ret == Z_OK)
      continue;
    if (ret == Z_BUF_ERROR && zs.avail_in == 0 && pos == bytes.size())
      failIn(file, "corrupt gzip data: truncated, the compressed data ends at byte offset " +
                       std::to_string(bytes.size()) + " before the end of its stream");
    corrupt(zs.msg ? zs.msg : "inflate failed (zlib error " + std::to_string(ret) + ")");
  }
}

std::optional<uint64_t> declaredTensorBytes(ir::DType dtype, const ir::Shape &shape) {
  uint64_t bytes = ir::dtypeSize(dtype);
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) ||
        bytes > ir::kMaxTensorBytes)
      return std::nullopt;
  }
  return empty ? 0 : bytes;
}

} // namespace chainjit::runtime::detail
