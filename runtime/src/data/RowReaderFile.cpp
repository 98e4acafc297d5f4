// See RowReaderFile.h.
#include "data/RowReaderFile.h"

#include "data/FileBytes.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace chainjit::runtime::detail {

bool preadExactly(int fd, unsigned char *to, size_t n, uint64_t offset) {
  for (size_t got = 0; got < n;) {
    ssize_t r = ::pread(fd, to + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

std::optional<OpenedFile> openForRows(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    failIn(path, std::string("cannot open the file: ") + std::strerror(errno));
  struct stat st {};
  unsigned char magic[2] = {0, 0};
  bool gzip = false;
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular && st.st_size >= 2 && preadExactly(fd, magic, 2, 0))
    gzip = magic[0] == 0x1f && magic[1] == 0x8b;
  if (!regular || gzip) {
    ::close(fd);
    return std::nullopt;
  }
  return OpenedFile{fd, static_cast<uint64_t>(st.st_size)};
}

} // namespace chainjit::runtime::detail
