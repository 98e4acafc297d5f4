// AtomicFile: see AtomicFile.h.
#include "chainjit/runtime/AtomicFile.h"

#include "chainjit/ir/Error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace chainjit::runtime {

namespace {

// Makes the rename durable; failures here are not errors (some file systems
// cannot fsync a directory).
void syncDirectoryOf(const std::filesystem::path &p) {
  std::filesystem::path dir = p.parent_path();
  if (dir.empty())
    dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

} // namespace

AtomicFile::AtomicFile(std::string path, OnSpecialFile onSpecial, std::string failurePrefix)
    : path_(std::move(path)), prefix_(std::move(failurePrefix)) {
  std::error_code ec;
  auto status = std::filesystem::status(path_, ec);
  through_ = std::filesystem::exists(status) && !std::filesystem::is_regular_file(status);
  if (through_ && onSpecial == OnSpecialFile::Refuse)
    fail("the path exists and is not a regular file (the file is replaced atomically, by "
         "renaming a new one over it, which would replace the special file itself)");
  tmp_ = through_ ? path_ : path_ + ".tmp";
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | (through_ ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
  if (fd_ < 0)
    fail("cannot create " + tmp_ + ": " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!committed_ && !through_) {
    std::error_code ignored;
    std::filesystem::remove(tmp_, ignored);
  }
}

void AtomicFile::fail(const std::string &why) {
  SourceLoc loc;
  loc.file = path_;
  throw Error(prefix_ + ": " + why, std::move(loc));
}

void AtomicFile::write(std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail("cannot write " + tmp_ + ": " + std::strerror(n < 0 ? errno : EIO));
    done += static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (!through_ && ::fsync(fd_) != 0)
    fail("cannot fsync " + tmp_ + ": " + std::strerror(errno));
  int fd = fd_;
  fd_ = -1; // closed; the destructor still removes the temporary on failure
  if (::close(fd) != 0)
    fail("cannot close " + tmp_ + ": " + std::strerror(errno));
  if (through_) {
    committed_ = true;
    return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec)
    fail("cannot rename " + tmp_ + " to " + path_ + ": " + ec.message());
  committed_ = true;
  syncDirectoryOf(path_);
}

} // namespace chainjit::runtime
