// Functions and calls (Function.h). inlineCall is the one implementation of
// a call: the builder's call() and the .cj parser both use it.
#include "chainjit/ir/Function.h"

#include "chainjit/ir/Suggest.h"
#include "chainjit/ir/Verifier.h"

#include <fmt/format.h>

namespace chainjit::ir {

namespace {

std::string lineCol(const SourceLoc &l) {
  return fmt::format("{}:{}", l.line, l.col);
}

// Each of e's diagnostics with " (in a call of 'f' at FILE:L:C)" added: the
// body says where the problem is, the call which use of the body met it.
Error inCall(const Error &e, const Function &f, const SourceLoc &site) {
  std::string note = site.hasPosition()
                         ? fmt::format(" (in a call of '{}' at {})", f.name(), site.str())
                         : fmt::format(" (in a call of '{}')", f.name());
  std::vector<Diagnostic> diags = e.diagnostics();
  for (Diagnostic &d : diags)
    d.message += note;
  return Error(std::move(diags));
}

// "f_1", "f_2", ...: the first that gives every named body value a free name.
std::string freshPrefix(const Graph &g, const Function &f) {
  for (size_t n = 1;; ++n) {
    std::string prefix = f.name() + "_" + std::to_string(n);
    bool free = true;
    for (const Node &node : f.body().nodes())
      if (node.kind != OpKind::Input && !node.name.empty() &&
          g.find(prefix + "." + node.name)) {
        free = false;
        break;
      }
    // Each taken candidate needs a node of its own in g, so this ends
    // within g.size() + 1 tries.
    if (free)
      return prefix;
  }
}

} // namespace

Function::Function(std::string name, Graph body, SourceLoc loc)
    : name_(std::move(name)), body_(std::move(body)), loc_(std::move(loc)) {
  if (!isValidValueName(name_))
    throw Error("invalid function name '" + name_ +
                    "': a name is a letter or '_' followed by letters, digits, '_' or '.'",
                loc_);
  if (parseOpKind(name_))
    throw Error(fmt::format("function '{}' has the name of an op (choose another name)", name_),
                loc_);
  body_.setName(name_);
  for (NodeId id = 0; id < body_.size(); ++id) {
    const Node &n = body_.node(id);
    if (n.kind == OpKind::Input)
      params_.push_back(id);
    else if (n.kind == OpKind::Param)
      throw Error(fmt::format("function '{}': a body holds no params (pass {} as a parameter)",
                              name_, n.label(id)),
                  n.loc.hasPosition() ? n.loc : loc_);
  }
  if (!body_.updates().empty())
    throw Error(fmt::format("function '{}': a body holds no updates", name_), loc_);
  if (body_.outputs().empty())
    throw Error(fmt::format("function '{}' has no results (its body has no outputs)", name_),
                loc_);
  verifyOrThrow(body_);
}

void FunctionLibrary::add(Function f) {
  auto [it, fresh] = byName_.emplace(f.name(), functions_.size());
  if (!fresh) {
    const SourceLoc &first = functions_[it->second].loc();
    throw Error(first.hasPosition()
                    ? fmt::format("function '{}' is already defined (first at {})", f.name(),
                                  lineCol(first))
                    : fmt::format("function '{}' is already defined", f.name()),
                f.loc());
  }
  functions_.push_back(std::move(f));
}

const Function *FunctionLibrary::find(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : &functions_[it->second];
}

std::vector<std::string> FunctionLibrary::names() const {
  std::vector<std::string> r;
  for (const Function &f : functions_)
    r.push_back(f.name());
  return r;
}

std::vector<NodeId> inlineCall(Graph &g, const Function &f, const std::vector<NodeId> &args,
                               const CallSite &site) {
  if (args.size() != f.arity())
    throw Error(fmt::format("'{}' takes {} argument{}, got {}", f.name(), f.arity(),
                            f.arity() == 1 ? "" : "s", args.size()),
                site.loc);
  const Graph &body = f.body();
  // Calls in bodies multiply: twenty functions that each call the previous
  // one twice would inline a million copies. A crafted file must fail
  // before that, not exhaust memory.
  if (g.size() + body.size() > kMaxNodesWithCalls)
    throw Error(fmt::format("a call of '{}' would grow the graph past {} nodes (its body has "
                            "{}; calls are inlined, and calls in bodies multiply)",
                            f.name(), kMaxNodesWithCalls, body.size()),
                site.loc);
  // Scans in the body refer to functions of the body's table by name.
  g.copyFunctionsFrom(body);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] >= g.size())
      throw Error(fmt::format("argument {} of '{}' is not a node of the graph", i + 1, f.name()),
                  site.loc);
    const TensorType &want = f.paramType(i);
    if (g.type(args[i]) != want) {
      const Node &p = body.node(f.params()[i]);
      std::string declared = p.loc.hasPosition() ? " (declared at " + lineCol(p.loc) + ")" : "";
      throw Error(fmt::format("argument {} of '{}' is {} but parameter %{} is {}{}", i + 1,
                              f.name(), g.type(args[i]).str(), p.name, want.str(), declared),
                  i < site.argLocs.size() && site.argLocs[i].hasPosition() ? site.argLocs[i]
                                                                           : site.loc);
    }
  }

  // The name each body node's copy gets: a result's name if the call gives
  // one (for the first result the node is), else prefix.name for named ones.
  std::vector<std::string> names(body.size());
  for (size_t j = 0; j < body.outputs().size() && j < site.resultNames.size(); ++j) {
    NodeId o = body.outputs()[j];
    if (!site.resultNames[j].empty() && body.node(o).kind != OpKind::Input && names[o].empty())
      names[o] = site.resultNames[j];
  }
  bool anyNamed = false;
  for (const Node &n : body.nodes())
    anyNamed = anyNamed || (n.kind != OpKind::Input && !n.name.empty());
  std::string prefix = site.prefix.empty() && anyNamed ? freshPrefix(g, f) : site.prefix;
  for (NodeId id = 0; id < body.size(); ++id)
    if (names[id].empty() && !body.node(id).name.empty())
      names[id] = prefix + "." + body.node(id).name;

  std::vector<NodeId> map(body.size());
  size_t nextParam = 0;
  for (NodeId id = 0; id < body.size(); ++id) {
    const Node &n = body.node(id);
    try {
      switch (n.kind) {
      case OpKind::Input:
        map[id] = args[nextParam++];
        break;
      case OpKind::Const:
        map[id] = g.addConst(*n.value, names[id], n.loc);
        break;
      default: {
        std::vector<NodeId> operands;
        for (NodeId o : n.operands)
          operands.push_back(map[o]);
        map[id] = g.addOp(n.kind, std::move(operands), n.attrs, names[id], n.loc);
      }
      }
    } catch (const Error &e) {
      throw inCall(e, f, site.loc);
    }
  }
  std::vector<NodeId> results;
  for (NodeId o : body.outputs())
    results.push_back(map[o]);
  return results;
}

std::vector<Value> call(Graph &g, const Function &f, const std::vector<Value> &args,
                        std::string prefix) {
  std::vector<NodeId> ids;
  for (size_t i = 0; i < args.size(); ++i) {
    if (&args[i].graph() != &g)
      throw Error(fmt::format("argument {} of a call of '{}' belongs to another graph", i + 1,
                              f.name()));
    ids.push_back(args[i].id());
  }
  // As in the text form, where `%h = f(...)` names the first result %h and
  // the body's other named values %h.name.
  CallSite site;
  if (!prefix.empty())
    site.resultNames.push_back(prefix);
  site.prefix = std::move(prefix);
  std::vector<Value> results;
  for (NodeId id : inlineCall(g, f, ids, site))
    results.emplace_back(g, id);
  return results;
}

std::vector<Value> call(const Function &f, const std::vector<Value> &args, std::string prefix) {
  if (args.empty())
    throw Error(fmt::format("a call of '{}' without arguments needs the graph: "
                            "call(g, f, {{}})",
                            f.name()));
  return call(args.front().graph(), f, args, std::move(prefix));
}

} // namespace chainjit::ir
