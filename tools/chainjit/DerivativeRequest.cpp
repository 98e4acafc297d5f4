// Loading the graph a derivative command works on, and checking its names.
#include "DerivativeRequest.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Op.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Suggest.h"

#include <set>

namespace chainjit::cli {

namespace {

std::string withoutPercent(std::string name) {
  if (!name.empty() && name[0] == '%')
    name.erase(0, 1);
  return name;
}

std::string label(const ir::Graph &g, ir::NodeId id) {
  const std::string &n = g.node(id).name;
  return n.empty() ? "#" + std::to_string(id) : "%" + n;
}

std::string nameList(const ir::Graph &g, const std::vector<ir::NodeId> &ids) {
  if (ids.empty())
    return "none";
  std::string s;
  for (ir::NodeId id : ids)
    s += (s.empty() ? "" : ", ") + label(g, id);
  return s;
}

// Why `name` is not a value of the expanded graph, or "" if it is.
std::string missingName(const ir::Graph &parsed, const ir::Graph &expanded,
                        const std::string &flag, const std::string &name) {
  if (expanded.find(name))
    return {};
  std::string s = flag + " " + name + ": graph '" + parsed.name() + "' has no value named %" + name;
  std::vector<std::string> names; // for "did you mean"
  for (const ir::Node &n : parsed.nodes())
    if (!n.name.empty())
      names.push_back(n.name);
  std::string guess = ir::didYouMean(name, names, "%");
  if (flag == "--of")
    return s + " (outputs: " + nameList(parsed, parsed.outputs()) + ")" + guess;
  return s + " (inputs: " + nameList(parsed, parsed.inputs()) +
         "; params: " + nameList(parsed, parsed.params()) + ")" + guess;
}

} // namespace

void normalizeNames(DerivativeRequest &r) {
  r.of = withoutPercent(r.of);
  if (r.of.empty())
    throw UsageError("--of: empty name");
  std::set<std::string> seen;
  for (std::string &w : r.wrt) {
    w = withoutPercent(w);
    if (w.empty())
      throw UsageError("--wrt: empty name");
    if (!seen.insert(w).second)
      throw UsageError("--wrt " + w + " is given twice");
  }
}

ir::Graph loadExpandedGraph(const DerivativeRequest &r) {
  ir::Graph parsed = ir::parseGraphFile(r.file);
  ir::Graph g = compiler::expandModes(
      parsed, r.expand == "train" ? compiler::Mode::Train : compiler::Mode::Eval);
  std::vector<Diagnostic> problems;
  auto check = [&](const std::string &flag, const std::string &name) {
    std::string why = missingName(parsed, g, flag, name);
    if (!why.empty())
      problems.push_back({{}, why});
  };
  check("--of", r.of);
  for (const std::string &w : r.wrt)
    check("--wrt", w);
  if (!problems.empty())
    throw Error(problems);
  return g;
}

} // namespace chainjit::cli
