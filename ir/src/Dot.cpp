// Graphviz output through Boost.Graph's write_graphviz: the IR graph is copied
// into an adjacency_list (edges operand -> user) and written with writers
// that label and style each node.
#include "chainjit/ir/Dot.h"

// GCC 12 at -O3 reports a false "may be used uninitialized" inside Boost's
// edge iterator (a boost::optional member); the pragma must cover the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>

#include <charconv>
#include <cmath>
#include <sstream>

namespace chainjit::ir {

namespace {

using DotGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS,
                                       boost::no_property, boost::property<boost::edge_index_t, size_t>>;

// Text inside a DOT double-quoted string; `\n` line breaks are added by the
// caller, so backslashes in user text are escaped.
std::string escape(std::string_view s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\')
      r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r;
}

std::string number(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

template <typename L> std::string listText(const L &l) {
  std::string r = "[";
  for (size_t i = 0; i < l.size(); ++i) {
    if (i)
      r += ", ";
    if constexpr (std::is_same_v<L, Floats>)
      r += number(l[i]);
    else
      r += std::to_string(l[i]);
  }
  return r + "]";
}

std::string attrText(const AttrValue &v) {
  return std::visit(
      [](const auto &x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>)
          return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>)
          return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>)
          return number(x);
        else if constexpr (std::is_same_v<T, std::string>)
          return "\"" + x + "\"";
        else if constexpr (std::is_same_v<T, DType>)
          return std::string(dtypeName(x));
        else
          return listText(x);
      },
      v);
}

// A const's value in a few characters: the number if all elements are equal.
std::string constText(const Tensor &t) {
  if (t.numel() == 0)
    return "empty";
  double first = t.at(0);
  for (int64_t i = 1; i < t.numel(); ++i)
    if (!(t.at(i) == first) && !(std::isnan(t.at(i)) && std::isnan(first)))
      return std::to_string(t.numel()) + " values";
  if (t.dtype() == DType::boolean)
    return first != 0 ? "true" : "false";
  return number(first);
}

std::string label(const Graph &g, NodeId id) {
  const Node &n = g.node(id);
  std::string l = n.name.empty() ? "#" + std::to_string(id) : "%" + n.name;
  l += "\n" + std::string(opName(n.kind)) + " : " + n.type.str();
  const OpDef &def = opDef(n.kind);
  for (const auto &[name, value] : n.attrs) {
    const AttrSpec *spec = def.findAttr(name);
    if (spec && spec->defaultValue && *spec->defaultValue == value)
      continue;
    l += "\n" + name + " = " + attrText(value);
  }
  if (n.kind == OpKind::Const && n.value)
    l += "\n= " + constText(*n.value);
  return l;
}

std::string style(const Node &n) {
  switch (n.kind) {
  case OpKind::Input:
    return "shape=invhouse, style=filled, fillcolor=\"#cfe2ff\"";
  case OpKind::Param:
    return "shape=box3d, style=filled, fillcolor=\"#fff3cd\"";
  case OpKind::Const:
    return "shape=note, style=filled, fillcolor=\"#e9ecef\"";
  default:
    return "shape=box, style=rounded";
  }
}

struct Edge {
  NodeId from, to;
  std::string label;
  bool update = false;
};

} // namespace

std::string printDot(const Graph &g) {
  std::vector<Edge> edges;
  for (NodeId id = 0; id < g.size(); ++id) {
    const Node &n = g.node(id);
    const OpDef &def = opDef(n.kind);
    for (size_t k = 0; k < n.operands.size(); ++k) {
      std::string l;
      if (n.operands.size() > 1)
        l = k < def.operandNames.size() ? std::string(def.operandNames[k]) : std::to_string(k);
      edges.push_back({n.operands[k], id, l});
    }
  }
  for (const ParamUpdate &u : g.updates())
    edges.push_back({u.value, u.param, "update", true});

  DotGraph dg(g.size());
  for (size_t i = 0; i < edges.size(); ++i)
    boost::add_edge(edges[i].from, edges[i].to, i, dg);

  std::vector<bool> isOutput(g.size(), false);
  for (NodeId o : g.outputs())
    isOutput[o] = true;

  auto vertexWriter = [&](std::ostream &os, size_t v) {
    const Node &n = g.node(static_cast<NodeId>(v));
    os << "[label=\"" << escape(label(g, static_cast<NodeId>(v))) << "\", " << style(n);
    if (isOutput[v])
      os << ", peripheries=2, color=\"#b02a37\", penwidth=2";
    os << "]";
  };
  auto edgeIndex = boost::get(boost::edge_index, dg);
  auto edgeWriter = [&](std::ostream &os, const DotGraph::edge_descriptor &e) {
    const Edge &edge = edges[edgeIndex[e]];
    std::vector<std::string> attrs;
    if (!edge.label.empty())
      attrs.push_back("label=\"" + escape(edge.label) + "\"");
    if (edge.update)
      attrs.push_back("style=dashed, color=\"#6c757d\", constraint=false");
    if (attrs.empty())
      return;
    os << "[";
    for (size_t i = 0; i < attrs.size(); ++i)
      os << (i ? ", " : "") << attrs[i];
    os << "]";
  };
  auto graphWriter = [&](std::ostream &os) {
    os << "label=\"" << escape("graph " + g.name()) << "\";\n"
       << "labelloc=t;\n"
       << "rankdir=TB;\n"
       << "node [fontname=\"Helvetica\", fontsize=10];\n"
       << "edge [fontname=\"Helvetica\", fontsize=9];\n";
  };

  std::ostringstream os;
  boost::write_graphviz(os, dg, vertexWriter, edgeWriter, graphWriter);
  return os.str();
}

} // namespace chainjit::ir
