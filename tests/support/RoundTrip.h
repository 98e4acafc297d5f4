// The text form's round-trip property, as a doctest check: printing a graph,
// parsing the text and printing again gives the same text, and the parsed
// graph has the same nodes (kind, name, type, attributes, operands, const
// bits), outputs and updates.
#pragma once

#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <doctest/doctest.h>

#include <string>

namespace chainjit::testing {

// Returns the printed text, for further checks.
inline std::string checkRoundTrip(const ir::Graph &g) {
  std::string text = ir::printGraph(g);
  INFO("printed:\n" << text);
  ir::Graph back = ir::parseGraph(text, "roundtrip.cj");
  CHECK(ir::printGraph(back) == text);
  CHECK(back.name() == g.name());
  REQUIRE(back.size() == g.size());
  for (ir::NodeId i = 0; i < g.size(); ++i) {
    const ir::Node &a = g.node(i), &b = back.node(i);
    INFO("node " << i << " " << a.label(i));
    CHECK(a.kind == b.kind);
    CHECK(a.name == b.name);
    CHECK(a.type == b.type);
    CHECK(a.operands == b.operands);
    CHECK(a.attrs == b.attrs);
    CHECK(bool(a.value) == bool(b.value));
    if (a.value && b.value)
      CHECK(*a.value == *b.value); // bit-identical
  }
  CHECK(back.outputs() == g.outputs());
  REQUIRE(back.updates().size() == g.updates().size());
  for (size_t i = 0; i < g.updates().size(); ++i) {
    CHECK(back.updates()[i].param == g.updates()[i].param);
    CHECK(back.updates()[i].value == g.updates()[i].value);
  }
  return text;
}

} // namespace chainjit::testing
