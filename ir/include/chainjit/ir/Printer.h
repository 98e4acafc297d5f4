// The text form of a graph (.cj). docs/ir.md is its reference.
#pragma once

#include "chainjit/ir/Graph.h"

#include <string>

namespace chainjit::ir {

// Prints the graph so that parseGraph(printGraph(g)) prints identically.
std::string printGraph(const Graph &g);

} // namespace chainjit::ir
