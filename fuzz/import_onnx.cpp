// libFuzzer target: the ONNX importer (frontends/onnx: libonnx parses the
// protobuf, the importer checks every size, dtype and attribute it uses).
// Any bytes either fail with a chainjit::Error or give a graph that verifies
// and whose printed text reads back to the same text.
#include "FuzzTarget.h"

#include "chainjit/frontends/Onnx.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <string>
#include <string_view>

using namespace chainjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  std::string text;
  try {
    text = ir::printGraph(frontends::importOnnxBytes(bytes, "fuzz.onnx").graph);
  } catch (const Error &) {
    return 0;
  }
  try {
    if (ir::printGraph(ir::parseGraph(text, "imported.cj")) != text)
      fuzz::invariantBroken("the imported graph's text does not round-trip");
  } catch (const Error &e) {
    fuzz::invariantBroken(std::string("the imported graph's text does not parse: ") + e.what());
  }
  return 0;
}
