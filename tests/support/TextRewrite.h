// Rewrites of printed .cj text into equivalent sources that use the newer
// syntax, for round-trip tests: nested applications (an unnamed value used
// once moves into its user) and functions (a run of nodes becomes a `func`
// and one call). Parsing the rewritten source must give the same graph up
// to the names of values, which canonicalNames() makes comparable.
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Printer.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace chainjit::testing {

inline bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.';
}

// Positions of `%name` in s as a whole token.
inline std::vector<size_t> tokenPositions(const std::string &s, const std::string &name) {
  std::vector<size_t> r;
  std::string tok = "%" + name;
  for (size_t p = s.find(tok); p != std::string::npos; p = s.find(tok, p + 1)) {
    size_t end = p + tok.size();
    if (end >= s.size() || !isNameChar(s[end]))
      r.push_back(p);
  }
  return r;
}

// Every %name renamed %v0, %v1, ... in order of first appearance.
inline std::string canonicalNames(const std::string &s) {
  std::unordered_map<std::string, size_t> ids;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '%') {
      out += s[i++];
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && isNameChar(s[j]))
      ++j;
    std::string name = s.substr(i + 1, j - i - 1);
    auto it = ids.emplace(name, ids.size()).first;
    out += "%v" + std::to_string(it->second);
    i = j;
  }
  return out;
}

inline std::vector<std::string> splitLines(const std::string &s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// "  %k = op(...) {attrs} : T" (or a one-result call without a type): the
// defined key and the application's text; nullopt for other lines.
struct DefLine {
  std::string key;
  std::string application;
};
inline std::optional<DefLine> defLine(const std::string &line) {
  if (line.rfind("  %", 0) != 0)
    return std::nullopt;
  size_t eq = line.find(" = ");
  if (eq == std::string::npos)
    return std::nullopt;
  std::string key = line.substr(3, eq - 3);
  if (key.find(',') != std::string::npos)
    return std::nullopt;
  std::string app = line.substr(eq + 3);
  if (size_t type = app.rfind(" : "); type != std::string::npos)
    app = app.substr(0, type);
  return DefLine{key, app};
}

// Moves each unnamed value that is used once, by the application on a later
// line, into that use, wherever doing so keeps the order in which the
// parser creates nodes (nested ones before their user, left to right): a
// definition moves only from the line just before its user, and operands
// are taken right to left.
inline std::string nestedForm(const std::string &text) {
  std::vector<std::string> out;
  for (std::string line : splitLines(text)) {
    if (auto def = defLine(line)) {
      size_t limit = std::string::npos;
      size_t args = line.find(" = ") + 3;
      while (!out.empty()) {
        auto prev = defLine(out.back());
        if (!prev || prev->key.find_first_not_of("0123456789") != std::string::npos)
          break;
        auto uses = tokenPositions(line, prev->key);
        if (tokenPositions(text, prev->key).size() != 2 || uses.size() != 1 ||
            uses[0] < args || uses[0] >= limit)
          break;
        line.replace(uses[0], prev->key.size() + 1, prev->application);
        limit = uses[0];
        out.pop_back();
      }
    }
    out.push_back(line);
  }
  std::string r;
  for (const std::string &l : out)
    r += l + "\n";
  return r;
}

// The printed names of g's nodes, as printGraph writes them.
inline std::vector<std::string> printedNames(const ir::Graph &g) {
  std::vector<std::string> names;
  int next = 0;
  for (const ir::Node &n : g.nodes())
    names.push_back(n.name.empty() ? std::to_string(next++) : n.name);
  return names;
}

// printGraph(g) with nodes [first, last) (ops and consts only) moved into a
// function `name` and called in their place; nullopt if the run is not
// such, or nothing outside uses it.
inline std::optional<std::string> withFunction(const ir::Graph &g, ir::NodeId first,
                                               ir::NodeId last, const std::string &name) {
  using namespace ir;
  if (first >= last || last > g.size())
    return std::nullopt;
  for (NodeId i = first; i < last; ++i)
    if (g.node(i).kind == OpKind::Input || g.node(i).kind == OpKind::Param)
      return std::nullopt;
  std::vector<bool> used(g.size(), false);
  for (NodeId i = last; i < g.size(); ++i)
    for (NodeId o : g.node(i).operands)
      used[o] = true;
  for (NodeId o : g.outputs())
    used[o] = true;
  for (const ParamUpdate &u : g.updates())
    used[u.value] = used[u.param] = true;

  Graph body(name);
  std::unordered_map<NodeId, NodeId> map;
  std::vector<NodeId> args;
  for (NodeId i = first; i < last; ++i)
    for (NodeId o : g.node(i).operands)
      if (o < first && !map.count(o)) {
        map[o] = input(body, "fn_arg." + std::to_string(args.size()), g.type(o)).id();
        args.push_back(o);
      }
  std::vector<NodeId> results;
  for (NodeId i = first; i < last; ++i) {
    const Node &n = g.node(i);
    if (n.kind == OpKind::Const) {
      map[i] = body.addConst(*n.value, n.name);
    } else {
      std::vector<NodeId> ops;
      for (NodeId o : n.operands)
        ops.push_back(map.at(o));
      map[i] = body.addOp(n.kind, ops, n.attrs, n.name);
    }
    if (used[i]) {
      body.addOutput(map[i]);
      results.push_back(i);
    }
  }
  if (results.empty())
    return std::nullopt;
  Function f(name, std::move(body));

  std::vector<std::string> names = printedNames(g);
  std::string call = "  ";
  for (size_t j = 0; j < results.size(); ++j)
    call += (j ? ", %" : "%") + names[results[j]];
  call += " = " + name + "(";
  for (size_t j = 0; j < args.size(); ++j)
    call += (j ? ", %" : "%") + names[args[j]];
  call += ")";

  std::vector<std::string> lines = splitLines(printGraph(g));
  std::string r = printFunction(f);
  for (size_t l = 0; l < lines.size(); ++l) {
    if (l == 1 + first)
      r += call + "\n";
    if (l < 1 + first || l >= 1 + last)
      r += lines[l] + "\n";
  }
  return r;
}

} // namespace chainjit::testing
