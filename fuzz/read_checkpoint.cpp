// libFuzzer target: the checkpoint reader (runtime/src/data/Checkpoint.cpp).
// Each input is read twice: as it is, and with its recorded size and CRC-32
// made right, as a crafted file would have them, so that mutations reach the
// tensor records behind the checksum. Any bytes either fail with a
// chainjit::Error or give tensors that the writer writes to the same bytes.
#include "FuzzTarget.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Checkpoint.h"

#include <zlib.h>

#include <cstring>
#include <string>

using namespace chainjit;

namespace {

// The file with header bytes 12..19 (total size) and the last 4 (CRC-32)
// set to what they should be; inputs too short for them are left alone.
std::string withValidTrailer(std::string b) {
  if (b.size() < 8 + 4 + 8 + 8 + 4)
    return b;
  uint64_t total = b.size();
  std::memcpy(b.data() + 12, &total, sizeof total);
  size_t body = b.size() - 4;
  uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef *>(b.data()),
            static_cast<uInt>(body)));
  std::memcpy(b.data() + body, &crc, sizeof crc);
  return b;
}

void readOne(const std::string &bytes) {
  runtime::TensorMap m;
  try {
    m = runtime::parseCheckpoint(bytes, "fuzz.ckpt");
  } catch (const Error &) {
    return;
  }
  // The format is canonical (records in name order, nothing optional), so a
  // file that reads is exactly what the writer writes for its tensors.
  if (runtime::formatCheckpoint(m) != bytes)
    fuzz::invariantBroken("writing the tensors read from a checkpoint gives other bytes");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  readOne(bytes);
  readOne(withValidTrailer(bytes));
  return 0;
}
