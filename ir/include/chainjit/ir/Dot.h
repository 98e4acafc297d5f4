// A graph as Graphviz DOT, for `chainjit dump --format dot | dot -Tsvg`.
#pragma once

#include "chainjit/ir/Graph.h"

#include <string>

namespace chainjit::ir {

// One DOT node per graph node (in id order), labelled with its name, op,
// type and the attributes that differ from the op's defaults; one edge per
// use, operand -> user, labelled with the operand's name for ops of several
// operands. Inputs, params and consts have their own shapes and colours,
// outputs a double red border, and each update is a dashed edge from the
// new value to its param. docs/cli.md shows an example.
std::string printDot(const Graph &g);

} // namespace chainjit::ir
