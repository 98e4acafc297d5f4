// A .cj file's functions and graph put together (FileText -> AssembledFile):
// function names are checked (no op's name, no duplicates), recursion is
// ruled out (a call is inlined, so a recursive one could never finish), the
// size of every body and of the graph after inlining is bounded before
// anything is built, and then each function is assembled callees first
// (GraphAssembly.cpp), so that calls in bodies are inlined too.
#include "TextSyntax.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <unordered_map>

namespace chainjit::ir::text {

namespace {

std::string lineCol(const SourceLoc &l) {
  return fmt::format("{}:{}", l.line, l.col);
}

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
        built.add(assembleFunction(std::move(t_.functions[f]), built, names_));
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
          out.graph = assembleGraph(std::move(*t_.graph), built, names_);
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
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic &a, const Diagnostic &b) {
      return std::pair(a.loc.line, a.loc.col) < std::pair(b.loc.line, b.loc.col);
    });
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
        // A scan uses its body as a call does: built first, never itself.
        const std::string &used = d.callee.empty() ? d.scanBody : d.callee;
        auto it = byName_.find(used);
        if (used.empty() || it == byName_.end() ||
            std::find(callees.begin(), callees.end(), it->second) != callees.end())
          continue;
        callees.push_back(it->second);
        at.push_back(d.callee.empty() ? d.scanBodyLoc : d.calleeLoc);
        if (&at != &unusedLocs_)
          scanAt_.emplace(std::pair(at.back().line, at.back().col), d.callee.empty());
      }
    };
    calls_.resize(t_.functions.size());
    callLocs_.resize(t_.functions.size());
    for (size_t i = 0; i < t_.functions.size(); ++i)
      callsOf(t_.functions[i], calls_[i], callLocs_[i]);
    if (t_.graph)
      callsOf(*t_.graph, graphCalls_, unusedLocs_);
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
        const SourceLoc &at = callLocs_[f][k];
        if (scanAt_[std::pair(at.line, at.col)]) {
          diags_.push_back(
              {at, callee == f
                       ? fmt::format("recursive scan: '{}' scans itself (a scan's body "
                                     "cannot use the function it is in)",
                                     t_.functions[f].name)
                       : fmt::format("recursive scan: {} (a scan's body cannot use the "
                                     "function it is in)",
                                     path)});
          continue;
        }
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
    // Every body is built, so their sizes add up too: twenty functions that
    // each double the last stay under the limit one by one.
    size_t total = 0;
    for (size_t f : calleesFirst()) {
      for (const Definition &d : t_.functions[f].definitions)
        arity[f] += d.kind == OpKind::Input && d.callee.empty();
      size[f] = count(t_.functions[f]);
      if (size[f] > kMaxNodesWithCalls)
        return;
      total += size[f];
      if (total > kMaxNodesWithCalls) {
        diags_.push_back({t_.functions[f].nameLoc,
                          fmt::format("the function bodies would hold more than {} nodes in "
                                      "all with '{}' (calls are inlined, and calls in bodies "
                                      "multiply)",
                                      kMaxNodesWithCalls, t_.functions[f].name)});
        return;
      }
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
  std::vector<SourceLoc> unusedLocs_;
  std::map<std::pair<int, int>, bool> scanAt_; // a body's use at (line, col) is a scan's
  std::vector<bool> badName_; // named like an op, or a second definition
  std::vector<Diagnostic> diags_;
};

} // namespace

AssembledFile assembleFile(FileText text) { return FileAssembler(std::move(text)).run(); }

} // namespace chainjit::ir::text
