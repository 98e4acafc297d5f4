// libFuzzer target: the .npz reader (runtime/src/data/Npz.cpp, libzip for the
// zip container, parseNpy for each member). Any bytes either fail with a
// chainjit::Error or give tensors that the writer writes to an archive the
// reader reads back to the same tensors.
#include "FuzzTarget.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Npz.h"

#include <string_view>

using namespace chainjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  runtime::TensorMap tensors;
  try {
    tensors = runtime::parseNpz(bytes, "fuzz.npz");
  } catch (const Error &) {
    return 0;
  }
  runtime::TensorMap back;
  try {
    back = runtime::parseNpz(runtime::formatNpz(tensors, "written.npz"), "written.npz");
  } catch (const Error &e) {
    fuzz::invariantBroken(std::string("the written .npz does not read back: ") + e.what());
  }
  if (back != tensors)
    fuzz::invariantBroken("the .npz round trip changed the tensors");
  return 0;
}
