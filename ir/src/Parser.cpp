// The syntax of the .cj text form (docs/text-form-spec.md): a recursive-
// descent reader from tokens to FileText (a graph and functions), and the
// public entry points, which hand it to the assembly step (FunctionAssembly.cpp).
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Op.h"

#include "ConstLiteral.h"
#include "Lexer.h"
#include "TextNumbers.h"
#include "TextSyntax.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace chainjit::ir {

namespace text {

namespace {

// How deep applications may nest in one operand: the reader recurses once
// per level, and a crafted file must not exhaust the stack.
constexpr int kMaxNesting = 200;

class FileReader {
public:
  FileReader(std::string_view src, const std::string &file) : ts_(src, file) {}

  FileText read(bool graphRequired) {
    FileText f;
    if (ts_.is(Tok::End) && graphRequired)
      ts_.failExpected("'graph' (the file holds no graph)");
    while (!ts_.is(Tok::End)) {
      if (ts_.isIdent("func")) {
        f.functions.push_back(readFunction());
      } else if (ts_.isIdent("graph")) {
        if (f.graph)
          ts_.failAt(ts_.cur(), "a file holds one graph; unexpected second 'graph'");
        f.graph = readGraph();
      } else if (f.graph) {
        ts_.failExpected("'func' or end of file after the graph's '}'");
      } else {
        ts_.failExpected("'graph' or 'func'");
      }
    }
    if (!f.graph && graphRequired)
      ts_.failExpected("'graph' (the file holds no graph)");
    return f;
  }

private:
  GraphText readGraph() {
    GraphText g;
    ts_.take(); // graph
    if (!ts_.is(Tok::Ident) && !ts_.is(Tok::String))
      ts_.failExpected("a graph name");
    g.nameLoc = ts_.loc();
    g.name = ts_.take().text;
    ts_.expect(Tok::LBrace, "'{' after the graph name");
    while (!ts_.is(Tok::RBrace)) {
      if (ts_.is(Tok::End))
        ts_.failExpected("a statement or '}'");
      readStatement(g);
    }
    g.closingBrace = ts_.loc();
    ts_.take();
    return g;
  }

  // func NAME(%p : TYPE, ...) { const | %x = ... | return %a, ... }
  GraphText readFunction() {
    GraphText g;
    g.isFunction = true;
    ts_.take(); // func
    if (!ts_.is(Tok::Ident))
      ts_.failExpected("a function name");
    g.nameLoc = ts_.loc();
    g.name = ts_.take().text;
    ts_.expect(Tok::LParen, "'(' and the parameters after the function name");
    if (!ts_.accept(Tok::RParen)) {
      do {
        Definition d;
        d.kind = OpKind::Input;
        d.loc = ts_.loc();
        d.name = readValueRef("a parameter (%name : TYPE)");
        if (d.name.isUnnamed())
          throw Error("a parameter needs a name, not " + d.name.label(), d.name.loc);
        ts_.expect(Tok::Colon, "':' and the parameter's type");
        readType(d);
        g.definitions.push_back(std::move(d));
      } while (ts_.accept(Tok::Comma));
      ts_.expect(Tok::RParen, "',' or ')'");
    }
    ts_.expect(Tok::LBrace, "'{' and the function's body");
    while (!ts_.is(Tok::RBrace)) {
      if (ts_.is(Tok::End))
        ts_.failExpected("a statement or '}'");
      readBodyStatement(g);
    }
    g.closingBrace = ts_.loc();
    ts_.take();
    return g;
  }

  void readBodyStatement(GraphText &g) {
    if (ts_.is(Tok::Value))
      return readAssignment(g);
    if (ts_.isIdent("const"))
      return readSource(g, OpKind::Const);
    if (ts_.isIdent("return"))
      return readReturn(g);
    if (ts_.isIdent("input") || ts_.isIdent("param"))
      ts_.failAt(ts_.cur(), fmt::format("'{}' is not allowed in a function body (values "
                                        "come in as parameters: func {}(%x : TYPE, ...))",
                                        ts_.cur().text, g.name));
    if (ts_.isIdent("output"))
      ts_.failAt(ts_.cur(), "a function body has no 'output' (write: return %name, ...)");
    if (ts_.isIdent("update"))
      ts_.failAt(ts_.cur(), "'update' is not allowed in a function body (only a graph "
                            "updates its params)");
    ts_.failExpected("a statement (const, return or %name = op(...))");
  }

  void readReturn(GraphText &g) {
    if (g.returnLoc.hasPosition())
      ts_.failAt(ts_.cur(), fmt::format("function '{}' already returns (at {}:{})", g.name,
                                        g.returnLoc.line, g.returnLoc.col));
    g.returnLoc = ts_.loc();
    ts_.take();
    do
      g.outputs.push_back(readOperand(g, "a value to return (%name or op(...))", 0));
    while (ts_.accept(Tok::Comma));
  }

  void readStatement(GraphText &g) {
    if (ts_.is(Tok::Value))
      return readAssignment(g);
    if (ts_.isIdent("input"))
      return readSource(g, OpKind::Input);
    if (ts_.isIdent("param"))
      return readSource(g, OpKind::Param);
    if (ts_.isIdent("const"))
      return readSource(g, OpKind::Const);
    if (ts_.isIdent("output"))
      return readOutputs(g);
    if (ts_.isIdent("update"))
      return readUpdate(g);
    ts_.failExpected("a statement (input, param, const, output, update or "
                     "%name = op(...))");
  }

  ValueRef readValueRef(std::string_view what) {
    SourceLoc at = ts_.loc();
    Token t = ts_.expect(Tok::Value, what);
    return {std::move(t.text), std::move(at)};
  }

  // input %x : T | param %p : T {attrs} | const %c : T = literal
  void readSource(GraphText &g, OpKind kind) {
    Definition d;
    d.kind = kind;
    d.loc = ts_.loc();
    ts_.take();
    d.name = readValueRef("a value name (%name)");
    if (kind != OpKind::Const && d.name.isUnnamed())
      throw Error(fmt::format("{} needs a name, not {}",
                              kind == OpKind::Input ? "an input" : "a param",
                              d.name.label()),
                  d.name.loc);
    ts_.expect(Tok::Colon, "':' and a type");
    readType(d);
    if (kind == OpKind::Param && ts_.is(Tok::LBrace))
      d.attrs = readAttrs();
    if (kind == OpKind::Const) {
      ts_.expect(Tok::Equal, "'=' and the const's value");
      d.value = readConstLiteral(ts_, d.type, d.typeLoc);
    }
    g.definitions.push_back(std::move(d));
  }

  // %x = op(operand, ...) {attrs} : T   or   %a, %b = function(operand, ...)
  void readAssignment(GraphText &g) {
    Definition d;
    d.loc = ts_.loc();
    d.name = readValueRef("a value name (%name)");
    while (ts_.accept(Tok::Comma))
      d.moreResults.push_back(readValueRef("a value name (%name)"));
    ts_.expect(Tok::Equal, "'=' after " + (d.moreResults.empty()
                                               ? d.name.label()
                                               : d.moreResults.back().label()));
    if (!ts_.is(Tok::Ident))
      ts_.failExpected("an op name");
    readApplication(g, d, 0, false);
    if (ts_.accept(Tok::Colon))
      readType(d);
    g.definitions.push_back(std::move(d));
  }

  // NAME(operand, ...) {attrs}, the current token being NAME. An op is known
  // here; any other name is taken for a function, which the assembly step
  // looks up (functions may be defined after their use).
  void readApplication(GraphText &g, Definition &d, int depth, bool asOperand) {
    const Token &name = ts_.cur();
    d.calleeLoc = ts_.loc();
    if (auto kind = parseOpKind(name.text)) {
      if (isSource(*kind))
        ts_.failAt(name, fmt::format("'{0}' is a statement, not an op "
                                     "(write: {0} %name : TYPE ...)",
                                     name.text));
      d.kind = *kind;
    } else {
      d.kind = OpKind::Input; // unused
      d.callee = name.text;
    }
    Token nameToken = ts_.take();
    if (d.kind == OpKind::Scan && ts_.is(Tok::At))
      return readScanSugar(g, d, depth, asOperand, nameToken);
    if (!ts_.is(Tok::LParen) && asOperand)
      ts_.failAt(nameToken, "expected an operand (%name or op(...)), got " +
                                describe(nameToken));
    ts_.expect(Tok::LParen, "'(' after the op name");
    if (!ts_.accept(Tok::RParen)) {
      do
        d.operands.push_back(readOperand(g, "an operand (%name or op(...))", depth + 1));
      while (ts_.accept(Tok::Comma));
      ts_.expect(Tok::RParen, "',' or ')'");
    }
    if (ts_.is(Tok::LBrace)) {
      d.attrsLoc = ts_.loc();
      d.hasAttrs = true;
      d.attrs = readAttrs();
    }
    // The raw scan names its body in an attribute; the assembly resolves it.
    if (const AttrValue *body = d.attrs.find("body");
        d.kind == OpKind::Scan && body && std::holds_alternative<std::string>(*body)) {
      d.scanBody = d.attrs.getString("body");
      d.scanBodyLoc = d.attrsLoc;
    }
  }

  // scan @body(carries... ; sequences... ; invariants...) {length, reverse}:
  // sugar for scan(...) {body, carries, sequences, ...} whose results are
  // the pieces of its flat result (the assembly adds the slices).
  void readScanSugar(GraphText &g, Definition &d, int depth, bool asOperand,
                     const Token &scanToken) {
    if (asOperand)
      ts_.failAt(scanToken, "a scan with @body names its results: write it as a statement "
                            "(%hT, %ys = scan @f(...))");
    ts_.take(); // @
    if (!ts_.is(Tok::Ident))
      ts_.failExpected("the body function's name after '@'");
    d.scanBodyLoc = ts_.loc();
    d.scanBody = ts_.take().text;
    d.scanSugar = true;
    ts_.expect(Tok::LParen, "'(' and the scan's operands (carries ; sequences ; invariants)");
    int64_t counts[3] = {0, 0, 0};
    int group = 0;
    for (;;) {
      if (ts_.accept(Tok::RParen))
        break;
      if (ts_.is(Tok::Semicolon)) {
        if (group == 2)
          ts_.failAt(ts_.cur(), "a scan has three operand groups: carries ; sequences ; "
                                "invariants (a third ';' is one too many)");
        ++group;
        ts_.take();
        continue;
      }
      d.operands.push_back(readOperand(g, "an operand (%name or op(...)), ';' or ')'", depth + 1));
      ++counts[group];
      if (ts_.accept(Tok::Comma)) {
        if (ts_.is(Tok::Semicolon) || ts_.is(Tok::RParen))
          ts_.failExpected("an operand after ','");
        continue;
      }
      if (!ts_.is(Tok::Semicolon) && !ts_.is(Tok::RParen))
        ts_.failExpected("',', ';' or ')'");
    }
    if (ts_.is(Tok::LBrace)) {
      d.attrsLoc = ts_.loc();
      d.hasAttrs = true;
      d.attrs = readAttrs();
      for (const char *given : {"body", "carries", "sequences"})
        if (d.attrs.has(given))
          throw Error(fmt::format("attribute '{}' is given by the scan syntax "
                                  "(scan @body(carries ; sequences ; invariants))",
                                  given),
                      d.attrsLoc);
    }
    d.attrs.set("body", d.scanBody);
    d.attrs.set("carries", counts[0]);
    d.attrs.set("sequences", counts[1]);
  }

  // %name, or an application nested in place: it becomes an unnamed
  // definition of its own, placed before the one that uses it and located
  // at its op's name.
  ValueRef readOperand(GraphText &g, std::string_view what, int depth) {
    if (!ts_.is(Tok::Ident))
      return readValueRef(what);
    if (depth >= kMaxNesting)
      ts_.failAt(ts_.cur(), fmt::format("applications nest more than {} deep (name "
                                        "some of the values)",
                                        kMaxNesting));
    Definition d;
    d.loc = ts_.loc();
    d.name = {fmt::format("#{}@{}:{}", ts_.cur().text, d.loc.line, d.loc.col), d.loc};
    readApplication(g, d, depth, true);
    ValueRef ref = d.name;
    g.definitions.push_back(std::move(d));
    return ref;
  }

  void readOutputs(GraphText &g) {
    ts_.take();
    do
      g.outputs.push_back(readValueRef("a value name (%name) to output"));
    while (ts_.accept(Tok::Comma));
  }

  void readUpdate(GraphText &g) {
    UpdateStatement u;
    u.loc = ts_.loc();
    ts_.take();
    u.param = readValueRef("the param to update (%name)");
    ts_.expect(Tok::Equal, "'=' after the param");
    u.value = readValueRef("the new value (%name)");
    g.updates.push_back(std::move(u));
  }

  // DTYPE[DIM, ...]; the element count must fit in int64 so that nothing
  // downstream overflows computing it.
  void readType(Definition &d) {
    d.typeLoc = ts_.loc();
    if (!ts_.is(Tok::Ident))
      ts_.failExpected("a type (e.g. f32[2, 3])");
    auto dtype = parseDType(ts_.cur().text);
    if (!dtype)
      ts_.failAt(ts_.cur(), "unknown dtype '" + ts_.cur().text +
                                "' (expected f32, f64, i32 or bool)");
    ts_.take();
    ts_.expect(Tok::LBracket, "'[' after the dtype (a scalar is f32[])");
    Shape shape;
    int64_t count = 1;
    if (!ts_.accept(Tok::RBracket)) {
      do {
        if (!ts_.is(Tok::Int))
          ts_.failExpected("a dimension (a non-negative integer)");
        SourceLoc at = ts_.loc();
        int64_t dim = toInt64(ts_.take(), at);
        if (dim < 0)
          throw Error(fmt::format("negative dimension {}", dim), at);
        if (__builtin_mul_overflow(count, dim, &count))
          throw Error("the type has too many elements to count in 64 bits",
                      d.typeLoc);
        shape.push_back(dim);
      } while (ts_.accept(Tok::Comma));
      ts_.expect(Tok::RBracket, "',' or ']'");
    }
    d.type = {*dtype, std::move(shape)};
    d.hasType = true;
  }

  Attrs readAttrs() {
    ts_.take(); // '{'
    Attrs attrs;
    if (ts_.accept(Tok::RBrace))
      return attrs;
    do {
      if (!ts_.is(Tok::Ident))
        ts_.failExpected("an attribute name");
      if (attrs.has(ts_.cur().text))
        ts_.failAt(ts_.cur(),
                   "attribute '" + ts_.cur().text + "' is given twice");
      std::string name = ts_.take().text;
      ts_.expect(Tok::Equal, "'=' after the attribute name");
      attrs.set(std::move(name), readAttrValue());
    } while (ts_.accept(Tok::Comma));
    ts_.expect(Tok::RBrace, "',' or '}'");
    return attrs;
  }

  // 3, 0.5, nan, true, "s", [1, 2], [0.5, 1.0], [], f32. A list with any
  // float in it is a float list; the op's spec converts an int list (and the
  // empty list) where it wants floats.
  AttrValue readAttrValue() {
    const Token &t = ts_.cur();
    SourceLoc at = ts_.loc();
    if (t.kind == Tok::Int)
      return toInt64(ts_.take(), at);
    if (isNumber(t))
      return toF64(ts_.take(), at);
    if (t.kind == Tok::String)
      return ts_.take().text;
    if (ts_.isIdent("true") || ts_.isIdent("false"))
      return ts_.take().text == "true";
    if (t.kind == Tok::Ident)
      if (auto dtype = parseDType(t.text)) {
        ts_.take();
        return *dtype;
      }
    if (t.kind != Tok::LBracket)
      ts_.failExpected("an attribute value");
    ts_.take();
    std::vector<std::pair<Token, SourceLoc>> items;
    bool floats = false;
    if (!ts_.accept(Tok::RBracket)) {
      do {
        if (!isNumber(ts_.cur()))
          ts_.failExpected("a number (lists hold ints or floats)");
        floats |= ts_.cur().kind != Tok::Int;
        SourceLoc itemAt = ts_.loc();
        items.emplace_back(ts_.take(), std::move(itemAt));
      } while (ts_.accept(Tok::Comma));
      ts_.expect(Tok::RBracket, "',' or ']'");
    }
    if (floats) {
      Floats v;
      for (const auto &[tok, loc] : items)
        v.push_back(toF64(tok, loc));
      return v;
    }
    Ints v;
    for (const auto &[tok, loc] : items)
      v.push_back(toInt64(tok, loc));
    return v;
  }

  TokenStream ts_;
};

} // namespace

FileText readFileText(std::string_view src, const std::string &file, bool graphRequired) {
  return FileReader(src, file).read(graphRequired);
}

} // namespace text

namespace {

// Runs a parse, reporting anything but a chainjit::Error (a bug, not bad
// input) the way every other problem is, so that no caller is surprised by
// an exception of another type.
template <typename F> auto reported(const std::string &filename, F parse) {
  try {
    return parse();
  } catch (const Error &) {
    throw;
  } catch (const std::exception &e) {
    throw Error(std::string("internal error while parsing: ") + e.what(),
                SourceLoc{filename, 0, 0, {}});
  }
}

std::string readWholeFile(const std::string &path) {
  SourceLoc where{path, 0, 0, {}};
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error("cannot read a directory as a graph", where);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(std::string("cannot open the file: ") + std::strerror(errno),
                where);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad())
    throw Error("cannot read the file", where);
  return contents.str();
}

} // namespace

Graph parseGraph(std::string_view text, std::string filename) {
  return reported(filename, [&] {
    return std::move(*text::assembleFile(text::readFileText(text, filename, true)).graph);
  });
}

TextModule parseModule(std::string_view text, std::string filename) {
  return reported(filename, [&] {
    text::AssembledFile f = text::assembleFile(text::readFileText(text, filename, false));
    return TextModule{std::move(f.functions), std::move(f.graph)};
  });
}

FunctionLibrary parseFunctions(std::string_view text, std::string filename) {
  return parseModule(text, std::move(filename)).functions;
}

Graph parseGraphFile(const std::string &path) { return parseGraph(readWholeFile(path), path); }

TextModule parseModuleFile(const std::string &path) {
  return parseModule(readWholeFile(path), path);
}

} // namespace chainjit::ir
