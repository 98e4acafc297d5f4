// Opening a file for reading rows at their offsets (RowReader*.cpp).
// Private to the runtime library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace chainjit::runtime::detail {

// The descriptor and size of a regular, uncompressed file.
struct OpenedFile {
  int fd;
  uint64_t bytes;
};

// Opens `path` for pread; nullopt (and nothing left open) for a
// gzip-compressed file or one that cannot be read at offsets (a pipe). A
// file that cannot be opened is an error naming it.
std::optional<OpenedFile> openForRows(const std::string &path);

// Reads exactly n bytes at `offset`; false when the file is shorter.
bool preadExactly(int fd, unsigned char *to, size_t n, uint64_t offset);

} // namespace chainjit::runtime::detail
