// Parsing the text form (.cj). Errors carry file:line:col and what was
// expected; a parsed graph has been verified. A file holds at most one graph
// and any number of functions (`func`), whose calls are inlined
// (Function.h).
#pragma once

#include "chainjit/ir/Function.h"
#include "chainjit/ir/Graph.h"

#include <optional>
#include <string>
#include <string_view>

namespace chainjit::ir {

// Parses one graph. `filename` is used in error locations only. Throws
// chainjit::Error with every problem found (parse errors stop at the first).
Graph parseGraph(std::string_view text, std::string filename = "<input>");

// Reads and parses a file; a missing or unreadable file is a chainjit::Error.
Graph parseGraphFile(const std::string &path);

// A file's functions and its graph; a file of functions only has no graph.
struct TextModule {
  FunctionLibrary functions;
  std::optional<Graph> graph;
};
TextModule parseModule(std::string_view text, std::string filename = "<input>");
TextModule parseModuleFile(const std::string &path);
// The functions of a file (its graph, if any, is checked all the same).
FunctionLibrary parseFunctions(std::string_view text, std::string filename = "<input>");

} // namespace chainjit::ir
