// Internal to ir/: a .cj file as written, before names are resolved.
//
// The parser fills this in one pass over the tokens; the assembly step then
// resolves names (uses may come before definitions), orders the definitions
// topologically and builds the Graph. Keeping the two apart lets the parser
// stay a plain recursive-descent reader with no knowledge of graph order.
#pragma once

#include "chainjit/ir/Graph.h"

#include <optional>
#include <string>
#include <vector>

namespace chainjit::ir::text {

// A use or definition of a value: the text after '%' ("h", "3"), and where
// it is written.
struct ValueRef {
  std::string key;
  SourceLoc loc;

  std::string label() const { return "%" + key; }
  // All-digit names only link uses to the definition: the value is unnamed.
  bool isUnnamed() const {
    return !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
  }
};

// input, param, const, or `%x = op(...)`.
struct Definition {
  OpKind kind;   // Input, Param, Const or the op
  ValueRef name;
  SourceLoc loc; // the start of the statement
  std::vector<ValueRef> operands;
  Attrs attrs;
  TensorType type;     // declared (always for sources)
  bool hasType = false;
  SourceLoc typeLoc;
  Tensor value;        // Const
};

struct UpdateStatement {
  ValueRef param;
  ValueRef value;
  SourceLoc loc;
};

struct GraphText {
  std::string name;
  std::vector<Definition> definitions; // in file order
  std::vector<ValueRef> outputs;
  std::vector<UpdateStatement> updates;
  SourceLoc closingBrace;
};

// Tokens -> GraphText; throws chainjit::Error at the first syntax error.
GraphText readGraphText(std::string_view src, const std::string &file);

// GraphText -> a verified Graph; throws chainjit::Error with the problems
// found (every undefined or duplicate name, every cycle; then the first
// type error, since later types depend on it).
Graph assembleGraph(GraphText text);

} // namespace chainjit::ir::text
