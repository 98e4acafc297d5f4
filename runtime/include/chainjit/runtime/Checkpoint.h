// Checkpoints: named tensors (parameters, optimizer state) saved to one file
// and loaded back bit for bit.
//
// File format, version 1. All integers are little-endian.
//
//   offset  size  field
//   0       8     magic, the ASCII bytes "CJCKPT01"
//   8       4     u32 format version (1)
//   12      8     u64 total file size in bytes, trailer included
//   20      8     u64 number of tensors, C
//   28            C tensor records, in increasing byte order of their names:
//                   u32  name length L (1..65535)
//                   L    name bytes (no NUL; any bytes but empty)
//                   u8   dtype: 0 = f32, 1 = f64, 2 = i32, 3 = bool
//                   u32  rank R (0 for a scalar)
//                   R*8  i64 dims (each >= 0)
//                   u64  byte length B = product(dims) * element size
//                   B    the elements, row-major, little-endian (bool: one
//                        byte each, 0 or 1)
//   end-4   4     u32 CRC-32 (zlib's crc32, the gzip/PNG polynomial) of
//                 every byte before it
//
// Loading checks, in this order, the magic, the version, the recorded size
// against the file's size (so a truncated file says so), the checksum, and
// then that every record fits, is consistent and that nothing follows the
// last record. The checksum protects against accidents, not against a
// crafted file: every count and length is checked against the bytes that
// remain (without overflow) before it is used, every type must be one that
// can exist (ir::kMaxTensorBytes, counting the nonzero dimensions), bool data
// must be 0 or 1, and each tensor is checked against the allocation limit.
// Errors about a record give its byte offset.
//
// Saving is atomic: the bytes go to "PATH.tmp", which is fsync'ed and then
// renamed over PATH. A save that fails leaves any existing file at PATH as
// it was (and removes the temporary file if it created it).
#pragma once

#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/Types.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace chainjit::runtime {

using TensorMap = std::map<std::string, ir::Tensor>;

constexpr uint32_t kCheckpointVersion = 1;

void saveCheckpoint(const std::string &path, const TensorMap &tensors);
// The bytes saveCheckpoint writes; `filename` is used in error messages only.
std::string formatCheckpoint(const TensorMap &tensors,
                             const std::string &filename = "<checkpoint>");

// Every tensor in the file. Errors name the file and what is wrong.
TensorMap loadCheckpoint(const std::string &path);
// The same for the bytes of a checkpoint already in memory; `filename` is
// used in error messages only.
TensorMap parseCheckpoint(std::string_view bytes, const std::string &filename);

// Loads a checkpoint that must hold exactly the tensors `expected` names,
// each of the expected type; otherwise the error lists every missing name,
// every unexpected name and every type mismatch (with both types).
TensorMap loadCheckpointInto(const std::string &path,
                             const std::map<std::string, ir::TensorType> &expected);
// The same, with the expected types taken from `tensors`, whose values are
// replaced by the checkpoint's (all or nothing).
void loadCheckpointInto(const std::string &path, TensorMap &tensors);

} // namespace chainjit::runtime
