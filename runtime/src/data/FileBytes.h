// The bytes of data files (tensor files, datasets, checkpoints), read with
// every size checked before it becomes an allocation: the file's own size and
// the growing size of decompressed gzip data against the allocation limit
// (ir::checkAlloc), and the shapes a file declares against what can exist.
// Every error names the file. Private to the runtime library.
#pragma once

#include "chainjit/ir/Types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chainjit::runtime::detail {

// Throws chainjit::Error located in `file` (and at line:col when given).
[[noreturn]] void failIn(const std::string &file, std::string message, int line = 0,
                         int col = 0);

// ir::checkAlloc, with the error located in `file`.
void checkAllocIn(const std::string &file, uint64_t bytes, std::string_view what);

// The whole file. The caller has checked that it exists and is no directory;
// a file larger than the allocation limit is an error before it is read.
std::string readFileBytes(const std::string &path);

// Whether `bytes` start with the gzip magic (1f 8b).
bool isGzip(std::string_view bytes);

// Decompresses gzip data (one member or several, as `cat a.gz b.gz` makes).
// The output is checked against the allocation limit as it grows, so a small
// file that inflates to more than the limit stops there with an error. Data
// that is corrupt, truncated or followed by anything but another gzip member
// is an error naming the byte offset in the compressed file.
std::string gunzip(std::string_view bytes, const std::string &file);

// The bytes of a tensor of `dtype` and `shape` that a file declares, or
// nullopt when a dimension is negative or the shape is too large to exist:
// the product of its nonzero dimensions and the element size must not pass
// ir::kMaxTensorBytes, so an empty tensor cannot carry an absurd dimension
// either (shape (2^62, 0) is refused, not read as an empty tensor whose
// dimensions overflow whatever loops over them).
std::optional<uint64_t> declaredTensorBytes(ir::DType dtype, const ir::Shape &shape);

} // namespace chainjit::runtime::detail
