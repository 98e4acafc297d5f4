// libFuzzer target: the .npy reader (runtime/src/TensorIO.cpp). Any bytes
// either fail with a chainjit::Error or give a tensor that the writer writes
// back to a file the reader reads to the same tensor; the conversions and the
// printout of whatever was read must not crash either.
#include "FuzzTarget.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/TensorIO.h"

#include <string_view>

using namespace chainjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  ir::Tensor t;
  try {
    t = runtime::parseNpy(bytes, "fuzz.npy");
  } catch (const Error &) {
    return 0;
  }
  std::string written = runtime::formatNpy(t);
  ir::Tensor back;
  try {
    back = runtime::parseNpy(written, "written.npy");
  } catch (const Error &e) {
    fuzz::invariantBroken(std::string("the written .npy does not read back: ") + e.what());
  }
  if (!(back == t))
    fuzz::invariantBroken("the .npy round trip changed the tensor " + t.type().str());
  for (ir::DType to : {ir::DType::f32, ir::DType::f64, ir::DType::i32, ir::DType::boolean}) {
    try {
      ir::Tensor c = runtime::convertDType(t, to, "fuzz");
      if (c.shape() != t.shape() || c.dtype() != to)
        fuzz::invariantBroken("convertDType gave another shape or dtype");
    } catch (const Error &) {
    }
  }
  (void)runtime::formatTensor(t);
  (void)runtime::formatCsv(t);
  return 0;
}
