#include "chainjit/ir/Verifier.h"

#include "chainjit/ir/AllocLimit.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>

#include <algorithm>
#include <unordered_set>

namespace chainjit::ir {

namespace {

class Verifier {
public:
  explicit Verifier(const Graph &g) : g_(g) {}

  std::vector<Diagnostic> run() {
    checkNames();
    bool ordered = checkOperandsExist();
    if (!ordered)
      reportCycles();
    for (NodeId i = 0; i < g_.size(); ++i)
      checkNode(i);
    checkOutputsAndUpdates();
    return std::move(diags_);
  }

private:
  SourceLoc loc(NodeId id) const {
    SourceLoc l = g_.node(id).loc;
    if (l.node.empty())
      l.node = g_.node(id).name.empty() ? "#" + std::to_string(id)
                                        : g_.node(id).name;
    return l;
  }
  void report(NodeId id, std::string msg) { diags_.push_back({loc(id), std::move(msg)}); }

  void checkNames() {
    std::unordered_set<std::string> seen;
    for (NodeId i = 0; i < g_.size(); ++i) {
      const std::string &n = g_.node(i).name;
      if (!n.empty() && !seen.insert(n).second)
        report(i, "value %" + n + " is defined more than once");
    }
  }

  // Returns whether every operand precedes its user (the stored order is
  // then a topological order and the graph is acyclic).
  bool checkOperandsExist() {
    bool ordered = true;
    for (NodeId i = 0; i < g_.size(); ++i)
      for (NodeId o : g_.node(i).operands) {
        if (o >= g_.size()) {
          report(i, "operand #" + std::to_string(o) + " does not exist");
          valid_ = false;
        } else if (o >= i) {
          ordered = false;
        }
      }
    return ordered;
  }

  // The order is broken: find the cycles (strongly connected components with
  // more than one node, or a node using itself) with Boost.Graph and name them.
  void reportCycles() {
    using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
    BGraph bg(g_.size());
    for (NodeId i = 0; i < g_.size(); ++i)
      for (NodeId o : g_.node(i).operands)
        if (o < g_.size())
          boost::add_edge(o, i, bg);
    std::vector<int> comp(g_.size());
    int n = boost::strong_components(bg, comp.data());
    std::vector<std::vector<NodeId>> members(n);
    for (NodeId i = 0; i < g_.size(); ++i)
      members[comp[i]].push_back(i);
    for (const auto &m : members) {
      const Node &first = g_.node(m.front());
      bool selfLoop = std::count(first.operands.begin(), first.operands.end(),
                                 m.front()) > 0;
      if (m.size() < 2 && !selfLoop)
        continue;
      std::string names;
      for (NodeId id : m)
        names += (names.empty() ? "" : ", ") + g_.node(id).label(id);
      report(m.front(), "cycle through " + names);
      valid_ = false;
    }
  }

  void checkNode(NodeId id) {
    const Node &n = g_.node(id);
    const OpDef &def = opDef(n.kind);
    checkExists(id);
    if (n.kind == OpKind::Const) {
      if (!n.value)
        report(id, "const has no value");
      else if (n.value->type() != n.type)
        report(id, "const value has type " + n.value->type().str() +
                       " but is declared " + n.type.str());
      return;
    }
    if (n.kind == OpKind::Input || n.kind == OpKind::Param) {
      for (int64_t d : n.type.shape)
        if (d < 0)
          report(id, "negative dimension in " + n.type.str());
      if (n.kind == OpKind::Param)
        checkParam(id, def);
      return;
    }
    if (!valid_)
      return; // types of operands cannot be trusted
    std::vector<TensorType> types;
    for (NodeId o : n.operands)
      types.push_back(g_.node(o).type);
    try {
      Attrs canon = canonicalizeAttrs(def, n.attrs);
      if (!(canon == n.attrs))
        report(id, std::string(opName(n.kind)) +
                       ": attributes are not canonical (internal error)");
      TensorType t = inferResultType(n.kind, types, canon, &g_);
      if (t != n.type)
        report(id, std::string(opName(n.kind)) + ": result type is " +
                       t.str() + " but is declared " + n.type.str());
    } catch (const Error &e) {
      report(id, std::string(opName(n.kind)) + ": " +
                     e.diagnostics().front().message);
    }
  }

  // A value whose bytes overflow, or exceed what any address space holds,
  // cannot exist: every later size computation relies on this check.
  void checkExists(NodeId id) {
    const TensorType &t = g_.node(id).type;
    bool negative = std::any_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d < 0; });
    if (!negative && !checkedByteSize(t))
      report(id, "type " + t.str() + " is too large to exist: more than " +
                     formatBytes(kMaxTensorBytes));
  }

  void checkParam(NodeId id, const OpDef &def) {
    const Node &n = g_.node(id);
    try {
      canonicalizeAttrs(def, n.attrs);
      const std::string &init = n.attrs.getString("init");
      const auto &known = paramInitializers();
      if (std::find(known.begin(), known.end(), init) == known.end())
        report(id, "unknown initializer '" + init + "'");
      if (!isFloat(n.type.dtype) && n.attrs.getBool("trainable"))
        report(id, "a trainable param must be f32 or f64, got " + n.type.str());
    } catch (const Error &e) {
      report(id, "param: " + e.diagnostics().front().message);
    }
  }

  void checkOutputsAndUpdates() {
    if (g_.outputs().empty() && g_.updates().empty())
      diags_.push_back({{}, "graph '" + g_.name() + "' has no outputs"});
    std::unordered_set<NodeId> updated;
    for (const ParamUpdate &u : g_.updates()) {
      if (!updated.insert(u.param).second)
        report(u.param, "param is updated more than once");
    }
  }

  const Graph &g_;
  std::vector<Diagnostic> diags_;
  bool valid_ = true;
};

} // namespace

std::vector<Diagnostic> verify(const Graph &g) { return Verifier(g).run(); }

void verifyOrThrow(const Graph &g) {
  auto diags = verify(g);
  if (!diags.empty())
    throw Error(std::move(diags));
}

} // namespace chainjit::ir
