// From a .cj file as written (GraphText) to a verified Graph: resolve names,
// put the definitions in a topological order (the file may use a value
// before defining it), build each node with the Graph API at its statement's
// location, then add outputs and updates and run the verifier.
#include "TextSyntax.h"

#include "chainjit/ir/Suggest.h"
#include "chainjit/ir/Verifier.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <unordered_map>

namespace chainjit::ir::text {

namespace {

std::string lineCol(const SourceLoc &l) {
  return fmt::format("{}:{}", l.line, l.col);
}

class Assembler {
public:
  explicit Assembler(GraphText text) : t_(std::move(text)) {}

  Graph run() {
    indexDefinitions();
    resolveUses();
    throwIfAnyProblem();
    std::vector<size_t> order = topologicalOrder();
    Graph g(t_.name);
    // Every statement whose operands are well typed is checked, so a file
    // with several type errors reports them all; a statement that uses a
    // value already in error is skipped rather than reported again.
    std::vector<bool> failed(t_.definitions.size(), false);
    for (size_t i : order) {
      bool blocked = false;
      for (size_t dep : deps_[i])
        blocked = blocked || failed[dep];
      if (blocked) {
        failed[i] = true;
        continue;
      }
      try {
        build(g, i);
      } catch (const Error &e) {
        failed[i] = true;
        for (const Diagnostic &d : e.diagnostics())
          diags_.push_back(d);
      }
    }
    throwIfAnyProblem();
    addOutputsAndUpdates(g);
    verifyOrThrow(g);
    return g;
  }

private:
  void report(const SourceLoc &loc, std::string msg) {
    diags_.push_back({loc, std::move(msg)});
  }

  // Problems are found pass by pass but read best in file order.
  void throwIfAnyProblem() {
    if (diags_.empty())
      return;
    std::stable_sort(diags_.begin(), diags_.end(),
                     [](const Diagnostic &a, const Diagnostic &b) {
                       return std::pair(a.loc.line, a.loc.col) <
                              std::pair(b.loc.line, b.loc.col);
                     });
    throw Error(std::move(diags_));
  }

  void indexDefinitions() {
    for (size_t i = 0; i < t_.definitions.size(); ++i) {
      const ValueRef &name = t_.definitions[i].name;
      auto [it, fresh] = byKey_.emplace(name.key, i);
      if (!fresh)
        report(name.loc,
               fmt::format("value {} is already defined (first at {})",
                           name.label(),
                           lineCol(t_.definitions[it->second].name.loc)));
    }
  }

  // The definition a use refers to, or nullopt after reporting it.
  std::optional<size_t> resolve(const ValueRef &use) {
    auto it = byKey_.find(use.key);
    if (it != byKey_.end())
      return it->second;
    report(use.loc, "undefined value " + use.label() + didYouMean(use.key, definedNames(), "%"));
    return std::nullopt;
  }

  // The names the file defines, in order, for "did you mean": unnamed
  // values (%0, %1) are left out, a typo of a number is no typo of a name.
  std::vector<std::string> definedNames() const {
    std::vector<std::string> names;
    for (const Definition &d : t_.definitions)
      if (!d.name.isUnnamed())
        names.push_back(d.name.key);
    return names;
  }

  void resolveUses() {
    deps_.resize(t_.definitions.size());
    for (size_t i = 0; i < t_.definitions.size(); ++i)
      for (const ValueRef &use : t_.definitions[i].operands)
        if (auto d = resolve(use)) {
          if (*d == i)
            report(use.loc, "value " + use.label() + " uses itself");
          deps_[i].push_back(*d);
        }
    for (const ValueRef &use : t_.outputs)
      resolve(use);
    for (const UpdateStatement &u : t_.updates) {
      resolve(u.param);
      resolve(u.value);
    }
  }

  // Depth-first postorder over "uses" edges, starting from the definitions in
  // file order: a file that is already in order comes back unchanged, and a
  // forward reference pulls the definition it needs (and that one's own
  // operands) up to just before its first user. Cycles are found first, with
  // strong components, so that each one is reported with every value on it.
  std::vector<size_t> topologicalOrder() {
    using BGraph =
        boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
    size_t n = t_.definitions.size();
    BGraph bg(n);
    for (size_t i = 0; i < n; ++i)
      for (size_t d : deps_[i])
        boost::add_edge(i, d, bg);

    std::vector<int> comp(n);
    int numComps = n ? boost::strong_components(bg, comp.data()) : 0;
    std::vector<std::vector<size_t>> members(numComps);
    for (size_t i = 0; i < n; ++i)
      members[comp[i]].push_back(i);
    for (const auto &m : members) {
      if (m.size() < 2)
        continue;
      std::string names;
      for (size_t i : m)
        names += (names.empty() ? "" : ", ") + t_.definitions[i].name.label();
      report(t_.definitions[m.front()].loc, "cycle through " + names);
    }
    throwIfAnyProblem();

    std::vector<size_t> order;
    order.reserve(n);
    boost::topological_sort(bg, std::back_inserter(order));
    return order;
  }

  void build(Graph &g, size_t i) {
    Definition &d = t_.definitions[i];
    std::string name = d.name.isUnnamed() ? std::string() : d.name.key;
    NodeId id;
    switch (d.kind) {
    case OpKind::Input:
      id = g.addInput(std::move(name), d.type, d.loc);
      break;
    case OpKind::Param:
      id = g.addParam(std::move(name), d.type, std::move(d.attrs), d.loc);
      break;
    case OpKind::Const:
      id = g.addConst(std::move(d.value), std::move(name), d.loc);
      break;
    default: {
      std::vector<NodeId> operands;
      for (size_t dep : deps_[i])
        operands.push_back(ids_.at(dep));
      id = g.addOp(d.kind, std::move(operands), std::move(d.attrs),
                   std::move(name), d.loc);
      checkCountable(g, id);
      if (d.hasType && g.type(id) != d.type)
        throw Error(fmt::format("{}: result type is {} but is declared {}",
                                opName(d.kind), g.type(id).str(),
                                d.type.str()),
                    d.typeLoc);
    }
    }
    ids_[i] = id;
  }

  // Every type a parsed graph holds has non-negative dimensions and an
  // element count that fits in int64, as readType demands of declared types;
  // a type rule given extreme attributes (a reshape to [2^62, 4]) must not
  // slip a type past that.
  static void checkCountable(const Graph &g, NodeId id) {
    const Node &n = g.node(id);
    int64_t count = 1;
    for (int64_t d : n.type.shape)
      if (d < 0 || __builtin_mul_overflow(count, d, &count)) {
        SourceLoc at = n.loc;
        at.node = n.name;
        throw Error(fmt::format("{}: result type {} {}", opName(n.kind),
                                n.type.str(),
                                d < 0 ? "has a negative dimension"
                                      : "has too many elements to count in 64 bits"),
                    at);
      }
  }

  NodeId idOf(const ValueRef &use) const { return ids_.at(byKey_.at(use.key)); }

  void addOutputsAndUpdates(Graph &g) {
    for (const ValueRef &use : t_.outputs)
      g.addOutput(idOf(use));
    std::unordered_map<NodeId, SourceLoc> updated;
    for (const UpdateStatement &u : t_.updates) {
      NodeId p = idOf(u.param), v = idOf(u.value);
      const Node &param = g.node(p);
      if (param.kind != OpKind::Param) {
        report(u.param.loc, fmt::format("only a param can be updated, {} is {}",
                                        u.param.label(),
                                        param.kind == OpKind::Input ? "an input"
                                        : param.kind == OpKind::Const
                                            ? "a const"
                                            : "computed by " +
                                                  std::string(opName(param.kind))));
      } else if (g.type(v) != param.type) {
        report(u.value.loc,
               fmt::format("update of {} : {} with {} of type {}",
                           u.param.label(), param.type.str(), u.value.label(),
                           g.type(v).str()));
      } else if (auto [it, fresh] = updated.emplace(p, u.loc); !fresh) {
        report(u.loc, fmt::format("param {} is already updated (at {})",
                                  u.param.label(), lineCol(it->second)));
      } else {
        g.addUpdate(p, v);
      }
    }
    if (t_.outputs.empty() && t_.updates.empty())
      report(t_.closingBrace,
             "graph '" + t_.name + "' has no outputs (add: output %name)");
    throwIfAnyProblem();
  }

  GraphText t_;
  std::unordered_map<std::string, size_t> byKey_;
  std::vector<std::vector<size_t>> deps_; // per definition: its operands'
  std::unordered_map<size_t, NodeId> ids_;
  std::vector<Diagnostic> diags_;
};

} // namespace

Graph assembleGraph(GraphText text) { return Assembler(std::move(text)).run(); }

} // namespace chainjit::ir::text
