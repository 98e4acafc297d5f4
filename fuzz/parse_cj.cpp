// libFuzzer target: the .cj parser and verifier. Any text either fails with a
// chainjit::Error or parses to a verified graph; a graph that parses (of up
// to 2^14 nodes, below) must print to text that parses back to the same
// graph (same printed text, same nodes, const values bit for bit).
#include "FuzzTarget.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Verifier.h"

#include <string_view>

using namespace chainjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  ir::Graph g;
  try {
    g = ir::parseGraph(text, "fuzz.cj"); // parses and verifies
  } catch (const Error &) {
    return 0;
  }
  if (!ir::verify(g).empty())
    fuzz::invariantBroken("parseGraph returned a graph that does not verify");
  // Calls inline, so a kilobyte of text can make a graph of a quarter of a
  // million nodes (legal: the limit is 2^18 per call chain); printing and
  // parsing it twice more took over the smoke run's 10 s per input under
  // ASan. The round trip is checked on graphs up to this size, which is
  // where the printer's cases are; larger ones are parsed and verified.
  constexpr size_t kRoundTripNodes = size_t{1} << 14;
  if (g.size() > kRoundTripNodes)
    return 0;
  std::string printed = ir::printGraph(g);
  ir::Graph back;
  try {
    back = ir::parseGraph(printed, "printed.cj");
  } catch (const Error &e) {
    fuzz::invariantBroken("the printed graph does not parse: " + std::string(e.what()) +
                          "\n--- printed ---\n" + printed);
  }
  std::string again = ir::printGraph(back);
  if (again != printed)
    fuzz::invariantBroken("printing the reparsed graph gives other text\n--- first ---\n" +
                          printed + "--- second ---\n" + again);
  if (back.size() != g.size() || back.outputs() != g.outputs() ||
      back.updates().size() != g.updates().size())
    fuzz::invariantBroken("the reparsed graph has other nodes, outputs or updates\n" + printed);
  for (ir::NodeId i = 0; i < g.size(); ++i) {
    const ir::Node &a = g.node(i), &b = back.node(i);
    bool same = a.kind == b.kind && a.name == b.name && a.type == b.type &&
                a.operands == b.operands && a.attrs == b.attrs &&
                bool(a.value) == bool(b.value) && (!a.value || *a.value == *b.value);
    if (!same)
      fuzz::invariantBroken("node " + a.label(i) + " differs after the round trip\n" + printed);
  }
  return 0;
}
