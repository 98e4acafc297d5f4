// The syntax of the .cj text form (docs/text-form-spec.md): a recursive-
// descent reader from tokens to GraphText, and the public entry points, which
// hand GraphText to the assembly step (GraphAssembly.cpp).
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Op.h"
#include "chainjit/ir/Suggest.h"

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

// The names an op statement may use (sources are statements of their own).
const std::vector<std::string> &opNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (size_t i = 0; i < kNumOpKinds; ++i)
      if (!isSource(static_cast<OpKind>(i)))
        v.emplace_back(opName(static_cast<OpKind>(i)));
    return v;
  }();
  return names;
}

class GraphReader {
public:
  GraphReader(std::string_view src, const std::string &file) : ts_(src, file) {}

  GraphText read() {
    GraphText g;
    if (ts_.is(Tok::End))
      ts_.failExpected("'graph' (the file holds no graph)");
    ts_.expectIdent("graph");
    if (!ts_.is(Tok::Ident) && !ts_.is(Tok::String))
      ts_.failExpected("a graph name");
    g.name = ts_.take().text;
    ts_.expect(Tok::LBrace, "'{' after the graph name");
    while (!ts_.is(Tok::RBrace)) {
      if (ts_.is(Tok::End))
        ts_.failExpected("a statement or '}'");
      readStatement(g);
    }
    g.closingBrace = ts_.loc();
    ts_.take();
    if (ts_.isIdent("graph"))
      ts_.failAt(ts_.cur(), "a file holds one graph; unexpected second 'graph'");
    if (!ts_.is(Tok::End))
      ts_.failExpected("end of file after the graph's '}'");
    return g;
  }

private:
  void readStatement(GraphText &g) {
    if (ts_.is(Tok::Value))
      return readOp(g);
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

  // %x = op(%a, %b) {attrs} : T
  void readOp(GraphText &g) {
    Definition d;
    d.loc = ts_.loc();
    d.name = readValueRef("a value name (%name)");
    ts_.expect(Tok::Equal, "'=' after " + d.name.label());
    if (!ts_.is(Tok::Ident))
      ts_.failExpected("an op name");
    auto kind = parseOpKind(ts_.cur().text);
    if (!kind)
      ts_.failAt(ts_.cur(), "unknown op '" + ts_.cur().text + "'" +
                                didYouMean(ts_.cur().text, opNames()));
    if (isSource(*kind))
      ts_.failAt(ts_.cur(), fmt::format("'{0}' is a statement, not an op "
                                        "(write: {0} %name : TYPE ...)",
                                        ts_.cur().text));
    d.kind = *kind;
    ts_.take();
    ts_.expect(Tok::LParen, "'(' after the op name");
    if (!ts_.accept(Tok::RParen)) {
      do
        d.operands.push_back(readValueRef("an operand (%name)"));
      while (ts_.accept(Tok::Comma));
      ts_.expect(Tok::RParen, "',' or ')'");
    }
    if (ts_.is(Tok::LBrace))
      d.attrs = readAttrs();
    if (ts_.accept(Tok::Colon))
      readType(d);
    g.definitions.push_back(std::move(d));
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

GraphText readGraphText(std::string_view src, const std::string &file) {
  return GraphReader(src, file).read();
}

} // namespace text

Graph parseGraph(std::string_view text, std::string filename) {
  try {
    return text::assembleGraph(text::readGraphText(text, filename));
  } catch (const Error &) {
    throw;
  } catch (const std::exception &e) {
    // A bug, not bad input; still reported the way every other problem is,
    // so that no caller is surprised by an exception of another type.
    throw Error(std::string("internal error while parsing: ") + e.what(),
                SourceLoc{filename, 0, 0, {}});
  }
}

Graph parseGraphFile(const std::string &path) {
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
  return parseGraph(contents.str(), path);
}

} // namespace chainjit::ir
