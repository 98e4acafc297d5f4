// Internal to ir/: a .cj file as written, before names are resolved.
//
// The parser fills this in one pass over the tokens; the assembly step then
// resolves names (uses may come before definitions), orders the definitions
// topologically and builds the Graph. A file is a graph and the functions it
// may define (FileText); a function's body is read into a GraphText of its
// own, its parameters being Input definitions and `return` its outputs. Keeping the two apart lets the parser
// stay a plain recursive-descent reader with no knowledge of graph order.
#pragma once

#include "chainjit/ir/Function.h"
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

  // A nested application has a key no file can write ("#tanh@3:9"); it is
  // labelled by its op and position.
  std::string label() const {
    return isNested() ? "the nested " + key.substr(1) : "%" + key;
  }
  bool isNested() const { return !key.empty() && key[0] == '#'; }
  // All-digit names only link uses to the definition: the value is unnamed.
  bool isUnnamed() const {
    return isNested() ||
           (!key.empty() && key.find_first_not_of("0123456789") == std::string::npos);
  }
};

// input, param, const, `%x = op(...)`, `%a, %b = function(...)`, or an
// application nested in an operand (which has a generated key).
struct Definition {
  OpKind kind;   // Input, Param, Const or the op; unused for a call
  ValueRef name;
  std::vector<ValueRef> moreResults; // `%a, %b = ...`: the names after the first
  SourceLoc loc; // the start of the statement (of a nested one: its op name)
  std::string callee;  // a call of this function (not an op) when not empty
  SourceLoc calleeLoc; // the op's or function's name
  std::vector<ValueRef> operands;
  Attrs attrs;
  bool hasAttrs = false;
  SourceLoc attrsLoc;
  TensorType type;     // declared (always for sources)
  bool hasType = false;
  SourceLoc typeLoc;
  Tensor value;        // Const
  // scan: its body's name (from `scan @f(...)` or the attribute body = "f")
  // and where it is written; with the sugar, how many operands are carries
  // and sequences, and the names in `name`, `moreResults` are its pieces.
  std::string scanBody;
  SourceLoc scanBodyLoc;
  bool scanSugar = false;
};

struct UpdateStatement {
  ValueRef param;
  ValueRef value;
  SourceLoc loc;
};

// A graph, or a function's body.
struct GraphText {
  std::string name;
  SourceLoc nameLoc;
  bool isFunction = false;
  std::vector<Definition> definitions; // in file order (parameters first)
  std::vector<ValueRef> outputs;       // or the function's results
  std::vector<UpdateStatement> updates;
  SourceLoc returnLoc; // a function's `return`; no position: none yet
  SourceLoc closingBrace;
};

struct FileText {
  std::vector<GraphText> functions; // in file order
  std::optional<GraphText> graph;
};

// Tokens -> FileText; throws chainjit::Error at the first syntax error.
// With `graphRequired`, a file without a graph is one.
FileText readFileText(std::string_view src, const std::string &file,
                      bool graphRequired);

// GraphText -> a verified Graph, or the Function a body defines
// (GraphAssembly.cpp). Calls use the functions of `lib`; `allFunctions`, every
// function the file defines, keeps one that failed to build from being
// reported again as unknown. Throws chainjit::Error with the problems found
// (every undefined or duplicate name, every cycle; then the first type
// error of each chain of values, since later types depend on it).
Graph assembleGraph(GraphText text, const FunctionLibrary &lib,
                    const std::vector<std::string> &allFunctions);
Function assembleFunction(GraphText text, const FunctionLibrary &lib,
                          const std::vector<std::string> &allFunctions);

struct AssembledFile {
  FunctionLibrary functions;
  std::optional<Graph> graph;
};

// FileText -> functions (each body verified; callees first, so that calls in
// bodies are inlined too) and a verified Graph with every call inlined
// (FunctionAssembly.cpp). Throws chainjit::Error with every problem found.
AssembledFile assembleFile(FileText text);

} // namespace chainjit::ir::text
