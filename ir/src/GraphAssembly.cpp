// From a graph or function body as written (GraphText) to a verified Graph
// or Function: resolve names, put the definitions in a
// topological order (the file may use a value before defining it), build
// each node with the Graph API at its statement's location (a call inlines
// the function's body, Function.cpp), then add outputs and updates and run
// the verifier. FunctionAssembly.cpp puts the pieces of a file together.
#include "TextSyntax.h"

#include "chainjit/ir/Scan.h"
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

// The names an application may use that are ops (sources are statements).
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

// Problems are found pass by pass but read best in file order.
void sortByPosition(std::vector<Diagnostic> &diags) {
  std::stable_sort(diags.begin(), diags.end(), [](const Diagnostic &a, const Diagnostic &b) {
    return std::pair(a.loc.line, a.loc.col) < std::pair(b.loc.line, b.loc.col);
  });
}

// Which result of which definition a name refers to.
struct Slot {
  size_t def;
  size_t result;
};

// Builds one graph or one function's body; calls use the functions built
// so far (`lib`), which hold every function the text calls.
class Assembler {
public:
  Assembler(GraphText text, const FunctionLibrary &lib, const std::vector<std::string> &allFunctions)
      : t_(std::move(text)), lib_(lib), allFunctions_(allFunctions) {}

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

  // The function whose body this is.
  Function runFunction() {
    SourceLoc at = t_.nameLoc;
    std::string name = t_.name;
    return Function(std::move(name), run(), std::move(at));
  }

private:
  void report(const SourceLoc &loc, std::string msg) {
    diags_.push_back({loc, std::move(msg)});
  }

  void throwIfAnyProblem() {
    if (diags_.empty())
      return;
    sortByPosition(diags_);
    throw Error(std::move(diags_));
  }

  // The names a definition gives: one, or several for a call.
  static std::vector<const ValueRef *> resultsOf(const Definition &d) {
    std::vector<const ValueRef *> r{&d.name};
    for (const ValueRef &m : d.moreResults)
      r.push_back(&m);
    return r;
  }
  const ValueRef &refOf(Slot s) const { return *resultsOf(t_.definitions[s.def])[s.result]; }

  void indexDefinitions() {
    for (size_t i = 0; i < t_.definitions.size(); ++i) {
      auto results = resultsOf(t_.definitions[i]);
      for (size_t r = 0; r < results.size(); ++r) {
        const ValueRef &name = *results[r];
        auto [it, fresh] = byKey_.emplace(name.key, Slot{i, r});
        if (!fresh)
          report(name.loc, fmt::format("value {} is already defined (first at {})",
                                       name.label(), lineCol(refOf(it->second).loc)));
      }
    }
  }

  // The definition a use refers to, or nullopt after reporting it.
  std::optional<Slot> resolve(const ValueRef &use) {
    auto it = byKey_.find(use.key);
    if (it != byKey_.end())
      return it->second;
    report(use.loc, "undefined value " + use.label() + didYouMean(use.key, definedNames(), "%"));
    return std::nullopt;
  }

  // An application of a function: the function is known, takes no
  // attributes and returns as many results as are named. Reports otherwise.
  void checkCall(const Definition &d) {
    const Function *f = lib_.find(d.callee);
    if (!f) {
      // A function that failed to build is not reported again.
      if (std::find(allFunctions_.begin(), allFunctions_.end(), d.callee) != allFunctions_.end())
        return;
      if (allFunctions_.empty()) {
        report(d.calleeLoc, "unknown op '" + d.callee + "'" + didYouMean(d.callee, opNames()));
      } else {
        std::vector<std::string> known = opNames();
        known.insert(known.end(), allFunctions_.begin(), allFunctions_.end());
        report(d.calleeLoc,
               "unknown op or function '" + d.callee + "'" + didYouMean(d.callee, known));
      }
      return;
    }
    if (d.hasAttrs)
      report(d.attrsLoc, fmt::format("a call of '{}' takes no attributes", d.callee));
    size_t named = 1 + d.moreResults.size();
    if (f->numResults() != named)
      report(d.calleeLoc,
             d.name.isNested()
                 ? fmt::format("'{}' returns {} results; a nested call must return one",
                               d.callee, f->numResults())
                 : fmt::format("'{}' returns {} result{}, but {} name{} given", d.callee,
                               f->numResults(), f->numResults() == 1 ? "" : "s", named,
                               named == 1 ? " is" : "s are"));
    else if (d.hasType && named > 1)
      report(d.typeLoc, "a declared type is for a single result");
  }

  // A scan's body is a function of the file (built before this graph).
  void checkScanBody(const Definition &d) {
    if (lib_.find(d.scanBody) ||
        std::find(allFunctions_.begin(), allFunctions_.end(), d.scanBody) != allFunctions_.end())
      return; // found, or failed to build and reported already
    report(d.scanBodyLoc, "scan: unknown body function @" + d.scanBody +
                              (allFunctions_.empty()
                                   ? std::string(" (the file defines no functions; define it "
                                                 "with func " + d.scanBody + "(...) { ... })")
                                   : didYouMean(d.scanBody, allFunctions_, "@")));
  }

  // The graph's copy of a function that a scan uses (one per function).
  std::shared_ptr<const Function> sharedFunction(const std::string &name) {
    auto it = shared_.find(name);
    if (it != shared_.end())
      return it->second;
    const Function *f = lib_.find(name);
    if (!f)
      return nullptr;
    return shared_[name] = std::make_shared<const Function>(*f);
  }

  // A scan: its body joins the graph's function table; with the sugar, the
  // results are the pieces of the flat result (slice + reshape), named as
  // the statement names them, and the scan node itself stays unnamed.
  void buildScan(Graph &g, size_t i, std::vector<NodeId> operands) {
    Definition &d = t_.definitions[i];
    if (auto f = sharedFunction(d.scanBody))
      g.addFunction(std::move(f));
    std::string name = d.scanSugar || d.name.isUnnamed() ? std::string() : d.name.key;
    NodeId id = g.addOp(OpKind::Scan, std::move(operands), std::move(d.attrs),
                        std::move(name), d.loc);
    checkCountable(g, id);
    if (!d.scanSugar) {
      if (d.hasType && g.type(id) != d.type)
        throw Error(fmt::format("scan: result type is {} but is declared {}", g.type(id).str(),
                                d.type.str()),
                    d.typeLoc);
      ids_[i] = {id};
      return;
    }
    ScanLayout l = scanLayout(g, id);
    std::vector<const ValueRef *> names = resultsOf(d);
    if (names.size() != l.shapes.size())
      throw Error(fmt::format("scan @{} gives {} results ({} carr{}, then {} stacked per-step "
                              "result{}), but {} name{} given",
                              d.scanBody, l.shapes.size(), l.carries,
                              l.carries == 1 ? "y" : "ies", l.numYs(), l.numYs() == 1 ? "" : "s",
                              names.size(), names.size() == 1 ? " is" : "s are"),
                  d.name.loc);
    if (d.hasType && names.size() > 1)
      throw Error("a declared type is for a single result", d.typeLoc);
    std::vector<NodeId> pieces;
    for (size_t k = 0; k < names.size(); ++k) {
      NodeId piece = scanPiece(Value(g, id), l, k).id();
      for (NodeId n = id + 1; n <= piece; ++n)
        g.mutableNode(n).loc = d.loc;
      if (!names[k]->isUnnamed())
        g.setNodeName(piece, names[k]->key);
      pieces.push_back(piece);
    }
    if (d.hasType && g.type(pieces.front()) != d.type)
      throw Error(fmt::format("scan: result type is {} but is declared {}",
                              g.type(pieces.front()).str(), d.type.str()),
                  d.typeLoc);
    ids_[i] = std::move(pieces);
  }

  // The names the file defines, in order, for "did you mean": unnamed
  // values (%0, %1) are left out, a typo of a number is no typo of a name.
  std::vector<std::string> definedNames() const {
    std::vector<std::string> names;
    for (const Definition &d : t_.definitions)
      for (const ValueRef *r : resultsOf(d))
        if (!r->isUnnamed())
          names.push_back(r->key);
    return names;
  }

  void resolveUses() {
    deps_.resize(t_.definitions.size());
    operands_.resize(t_.definitions.size());
    for (size_t i = 0; i < t_.definitions.size(); ++i) {
      const Definition &def = t_.definitions[i];
      if (!def.callee.empty())
        checkCall(def);
      else if (!def.scanBody.empty())
        checkScanBody(def);
      if (def.callee.empty() && !def.scanSugar && !def.moreResults.empty())
        report(def.moreResults.front().loc,
               fmt::format("{} has one result, not {}", opName(def.kind),
                           1 + def.moreResults.size()));
      for (const ValueRef &use : def.operands)
        if (auto d = resolve(use)) {
          if (d->def == i)
            report(use.loc, "value " + use.label() + " uses itself");
          deps_[i].push_back(d->def);
          operands_[i].push_back(*d);
        }
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

  // Inlines the call's function; its results are named as the call names
  // them and the other named body values %first.name (Function.h).
  void buildCall(Graph &g, size_t i) {
    Definition &d = t_.definitions[i];
    const Function *found = lib_.find(d.callee);
    if (!found) // not built for an error reported already; never reached
      throw Error(fmt::format("'{}' could not be built", d.callee), d.calleeLoc);
    const Function &f = *found;
    std::vector<NodeId> args;
    CallSite site;
    site.loc = d.calleeLoc;
    for (size_t k = 0; k < operands_[i].size(); ++k) {
      args.push_back(ids_.at(operands_[i][k].def).at(operands_[i][k].result));
      site.argLocs.push_back(d.operands[k].loc);
    }
    for (const ValueRef *r : resultsOf(d))
      site.resultNames.push_back(r->isUnnamed() ? std::string() : r->key);
    site.prefix = site.resultNames.front();
    std::vector<NodeId> results = inlineCall(g, f, args, site);
    if (d.hasType && g.type(results.front()) != d.type)
      throw Error(fmt::format("{}: result type is {} but is declared {}", d.callee,
                              g.type(results.front()).str(), d.type.str()),
                  d.typeLoc);
    ids_[i] = std::move(results);
  }

  void build(Graph &g, size_t i) {
    Definition &d = t_.definitions[i];
    if (!d.callee.empty())
      return buildCall(g, i);
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
      for (Slot s : operands_[i])
        operands.push_back(ids_.at(s.def).at(s.result));
      if (d.kind == OpKind::Scan)
        return buildScan(g, i, std::move(operands));
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
    ids_[i] = {id};
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

  NodeId idOf(const ValueRef &use) const {
    Slot s = byKey_.at(use.key);
    return ids_.at(s.def).at(s.result);
  }

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
    if (t_.isFunction && t_.outputs.empty())
      report(t_.closingBrace,
             "function '" + t_.name + "' has no results (add: return %name)");
    else if (t_.outputs.empty() && t_.updates.empty())
      report(t_.closingBrace,
             "graph '" + t_.name + "' has no outputs (add: output %name)");
    throwIfAnyProblem();
  }

  GraphText t_;
  const FunctionLibrary &lib_;
  const std::vector<std::string> &allFunctions_; // every one the file defines
  std::unordered_map<std::string, Slot> byKey_;
  std::vector<std::vector<size_t>> deps_;   // per definition: its operands'
  std::vector<std::vector<Slot>> operands_; // per definition: its operands
  std::unordered_map<size_t, std::vector<NodeId>> ids_;
  std::unordered_map<std::string, std::shared_ptr<const Function>> shared_; // scan bodies
  std::vector<Diagnostic> diags_;
};

} // namespace

Graph assembleGraph(GraphText text, const FunctionLibrary &lib,
                    const std::vector<std::string> &allFunctions) {
  return Assembler(std::move(text), lib, allFunctions).run();
}

Function assembleFunction(GraphText text, const FunctionLibrary &lib,
                          const std::vector<std::string> &allFunctions) {
  return Assembler(std::move(text), lib, allFunctions).runFunction();
}

} // namespace chainjit::ir::text
