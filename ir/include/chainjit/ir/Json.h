// A graph as JSON, for tools written in other languages. docs/cli.md gives
// the schema; it carries everything the text form does.
#pragma once

#include "chainjit/ir/Graph.h"

#include <string>

namespace chainjit::ir {

// {"format": "chainjit-graph", "version": 1, "graph": NAME,
//  "nodes": [{"id", "name", "op", "operands", "attrs", "type", ["value"]}],
//  "outputs": [ID, ...], "updates": [{"param": ID, "value": ID}, ...]}
// `indent` < 0 prints it on one line.
std::string printJson(const Graph &g, int indent = 2);

} // namespace chainjit::ir
