// Parsing the text form (.cj). Errors carry file:line:col and what was
// expected; a parsed graph has been verified.
#pragma once

#include "chainjit/ir/Graph.h"

#include <string>
#include <string_view>

namespace chainjit::ir {

// Parses one graph. `filename` is used in error locations only. Throws
// chainjit::Error with every problem found (parse errors stop at the first).
Graph parseGraph(std::string_view text, std::string filename = "<input>");

// Reads and parses a file; a missing or unreadable file is a chainjit::Error.
Graph parseGraphFile(const std::string &path);

} // namespace chainjit::ir
