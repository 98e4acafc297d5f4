// From a .cj file as written (FileText) to functions and a verified Graph.
// Per graph or function body: resolve names, put the definitions in a
// topological order (the file may use a value before defining it), build
// each node with the Graph API at its statement's location (a call inlines
// the function's body, Function.cpp), then add outputs and updates and run
// the verifier. Functions are built callees first, after recursion (which
// inlining cannot do) has been ruled out.
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
      else if (!def.moreResults.empty())
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
  std::vector<Diagnostic> diags_;
};

// The functions of a file, callees first. Names are checked (no op's name,
// no duplicates) and recursion is reported at a call that closes a cycle:
// a call is inlined, so a recursive one could never finish.
class FileAssembler {
public:
  explicit FileAssembler(FileText text) : t_(std::move(text)) {}

  AssembledFile run() {
    indexFunctions();
    findCalls();
    reportRecursion();
    throwIfAnyProblem();
    predictSizes();
    throwIfAnyProblem();
    FunctionLibrary built; // callees first
    std::vector<bool> failed(badName_);
    for (size_t f : calleesFirst()) {
      if (badName_[f])
        continue;
      bool blocked = false;
      for (size_t callee : calls_[f])
        blocked = blocked || failed[callee];
      if (blocked) {
        failed[f] = true;
        continue;
      }
      try {
        built.add(Assembler(std::move(t_.functions[f]), built, names_).runFunction());
      } catch (const Error &e) {
        failed[f] = true;
        diags_.insert(diags_.end(), e.diagnostics().begin(), e.diagnostics().end());
      }
    }
    AssembledFile out;
    for (const std::string &name : names_) // in file order
      if (const Function *f = built.find(name); f && !out.functions.find(name))
        out.functions.add(*f);
    if (t_.graph) {
      bool blocked = false;
      for (size_t callee : graphCalls_)
        blocked = blocked || failed[callee];
      if (!blocked) {
        try {
          out.graph = Assembler(std::move(*t_.graph), built, names_).run();
        } catch (const Error &e) {
          diags_.insert(diags_.end(), e.diagnostics().begin(), e.diagnostics().end());
        }
      }
    }
    throwIfAnyProblem();
    return out;
  }

private:
  void throwIfAnyProblem() {
    if (diags_.empty())
      return;
    sortByPosition(diags_);
    throw Error(std::move(diags_));
  }

  void indexFunctions() {
    badName_.resize(t_.functions.size(), false);
    for (size_t i = 0; i < t_.functions.size(); ++i) {
      const GraphText &f = t_.functions[i];
      names_.push_back(f.name);
      if (parseOpKind(f.name)) {
        badName_[i] = true;
        diags_.push_back({f.nameLoc, fmt::format("function '{}' has the name of an op "
                                                 "(choose another name)",
                                                 f.name)});
        continue;
      }
      auto [it, fresh] = byName_.emplace(f.name, i);
      badName_[i] = !fresh;
      if (!fresh)
        diags_.push_back({f.nameLoc, fmt::format("function '{}' is already defined (first at {})",
                                                 f.name,
                                                 lineCol(t_.functions[it->second].nameLoc))});
    }
  }

  // The functions each body calls (each once), and where it first does.
  void findCalls() {
    auto callsOf = [&](const GraphText &body, std::vector<size_t> &callees,
                       std::vector<SourceLoc> &at) {
      for (const Definition &d : body.definitions) {
        auto it = byName_.find(d.callee);
        if (d.callee.empty() || it == byName_.end() ||
            std::find(callees.begin(), callees.end(), it->second) != callees.end())
          continue;
        callees.push_back(it->second);
        at.push_back(d.calleeLoc);
      }
    };
    calls_.resize(t_.functions.size());
    callLocs_.resize(t_.functions.size());
    for (size_t i = 0; i < t_.functions.size(); ++i)
      callsOf(t_.functions[i], calls_[i], callLocs_[i]);
    if (t_.graph) {
      std::vector<SourceLoc> unused;
      callsOf(*t_.graph, graphCalls_, unused);
    }
  }

  using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  BGraph callGraph() const {
    BGraph bg(t_.functions.size());
    for (size_t i = 0; i < calls_.size(); ++i)
      for (size_t c : calls_[i])
        boost::add_edge(i, c, bg);
    return bg;
  }

  // Per strongly connected set of functions that call each other (or one
  // that calls itself): one error, at the first call in file order that
  // stays inside the set, with the path back ("even -> odd -> even").
  void reportRecursion() {
    size_t n = t_.functions.size();
    if (n == 0)
      return;
    BGraph bg = callGraph();
    std::vector<int> comp(n);
    boost::strong_components(bg, comp.data());
    std::vector<bool> reported(n, false);
    for (size_t f = 0; f < n; ++f)
      for (size_t k = 0; k < calls_[f].size(); ++k) {
        size_t callee = calls_[f][k];
        if (comp[callee] != comp[f] || reported[static_cast<size_t>(comp[f])])
          continue;
        reported[static_cast<size_t>(comp[f])] = true;
        std::string path = t_.functions[f].name;
        for (size_t step : pathBack(callee, f, comp))
          path += " -> " + t_.functions[step].name;
        diags_.push_back(
            {callLocs_[f][k],
             callee == f ? fmt::format("recursive call: '{}' calls itself (calls are "
                                       "inlined, so a function cannot recurse)",
                                       t_.functions[f].name)
                         : fmt::format("recursive call: {} (calls are inlined, so "
                                       "functions cannot call each other in a cycle)",
                                       path)});
      }
  }

  // The functions from `from` to `to` along calls inside one component,
  // both ends included; breadth-first, without recursion.
  std::vector<size_t> pathBack(size_t from, size_t to, const std::vector<int> &comp) const {
    std::vector<size_t> parent(t_.functions.size(), SIZE_MAX);
    std::vector<size_t> queue{from};
    parent[from] = from;
    for (size_t q = 0; q < queue.size() && parent[to] == SIZE_MAX; ++q)
      for (size_t c : calls_[queue[q]])
        if (comp[c] == comp[from] && parent[c] == SIZE_MAX) {
          parent[c] = queue[q];
          queue.push_back(c);
        }
    std::vector<size_t> path{to};
    while (path.back() != from)
      path.push_back(parent[path.back()]);
    std::reverse(path.begin(), path.end());
    return path;
  }

  // The node count of each body and of the graph once calls are inlined,
  // counted before anything is built: calls in bodies multiply, and a
  // crafted file must fail at once rather than after building a million
  // nodes. Reported at the call that crosses kMaxNodesWithCalls, with the
  // message inlineCall would give.
  void predictSizes() {
    std::vector<size_t> size(t_.functions.size(), 0), arity(t_.functions.size(), 0);
    auto count = [&](const GraphText &body) -> size_t {
      size_t n = 0;
      for (const Definition &d : body.definitions) {
        auto it = d.callee.empty() ? byName_.end() : byName_.find(d.callee);
        if (it == byName_.end()) {
          ++n;
          continue;
        }
        size_t callee = it->second;
        size_t added = size[callee] - arity[callee];
        if (n + added > kMaxNodesWithCalls) {
          diags_.push_back(
              {d.calleeLoc,
               fmt::format("a call of '{}' would grow the graph past {} nodes (its body has "
                           "{}; calls are inlined, and calls in bodies multiply)",
                           d.callee, kMaxNodesWithCalls, size[callee])});
          return kMaxNodesWithCalls + 1;
        }
        n += added;
      }
      return n;
    };
    for (size_t f : calleesFirst()) {
      for (const Definition &d : t_.functions[f].definitions)
        arity[f] += d.kind == OpKind::Input && d.callee.empty();
      size[f] = count(t_.functions[f]);
      if (size[f] > kMaxNodesWithCalls)
        return;
    }
    if (t_.graph)
      count(*t_.graph);
  }

  std::vector<size_t> calleesFirst() const {
    std::vector<size_t> order;
    if (t_.functions.empty())
      return order;
    BGraph bg = callGraph();
    boost::topological_sort(bg, std::back_inserter(order));
    return order;
  }

  FileText t_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> byName_;
  std::vector<std::vector<size_t>> calls_;
  std::vector<std::vector<SourceLoc>> callLocs_;
  std::vector<size_t> graphCalls_;
  std::vector<bool> badName_; // named like an op, or a second definition
  std::vector<Diagnostic> diags_;
};

} // namespace

AssembledFile assembleFile(FileText text) { return FileAssembler(std::move(text)).run(); }

} // namespace chainjit::ir::text
