#include "chainjit/ir/Graph.h"

#include "chainjit/ir/Function.h"

#include <algorithm>

namespace chainjit::ir {

std::string Node::label(NodeId id) const {
  return name.empty() ? "node #" + std::to_string(id) : "%" + name;
}

static SourceLoc locOf(const SourceLoc &loc, const std::string &name) {
  SourceLoc l = loc;
  if (l.node.empty())
    l.node = name;
  return l;
}

bool isValidValueName(std::string_view name) {
  auto start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  auto rest = [&](char c) { return start(c) || (c >= '0' && c <= '9') || c == '.'; };
  return !name.empty() && start(name[0]) &&
         std::all_of(name.begin() + 1, name.end(), rest);
}

// Every name a node gets passes through here (append, setNodeName).
void Graph::checkNameFree(const std::string &name, const SourceLoc &loc) const {
  if (name.empty())
    return;
  if (!isValidValueName(name))
    throw Error("invalid value name '" + name +
                    "': a name is a letter or '_' followed by letters, digits, "
                    "'_' or '.'",
                loc);
  if (byName_.count(name))
    throw Error("value %" + name + " is already defined", loc);
}

NodeId Graph::append(Node n) {
  checkNameFree(n.name, n.loc);
  NodeId id = static_cast<NodeId>(nodes_.size());
  if (!n.name.empty())
    byName_.emplace(n.name, id);
  nodes_.push_back(std::move(n));
  return id;
}

NodeId Graph::appendUnchecked(Node n) { return append(std::move(n)); }

NodeId Graph::addInput(std::string name, TensorType type, SourceLoc loc) {
  if (name.empty())
    throw Error("an input needs a name", loc);
  Node n{OpKind::Input, std::move(name), {}, {}, std::move(type), loc, nullptr};
  return append(std::move(n));
}

NodeId Graph::addParam(std::string name, TensorType type, Attrs attrs,
                       SourceLoc loc) {
  if (name.empty())
    throw Error("a param needs a name", loc);
  try {
    attrs = canonicalizeAttrs(opDef(OpKind::Param), attrs);
    const auto &known = paramInitializers();
    const std::string &init = attrs.getString("init");
    if (std::find(known.begin(), known.end(), init) == known.end())
      throw Error("unknown initializer '" + init + "'");
    if (!isFloat(type.dtype) && attrs.getBool("trainable"))
      throw Error("a trainable param must be f32 or f64, got " + type.str() +
                  " (add trainable = false)");
  } catch (const Error &e) {
    throw Error(e.diagnostics().front().message, locOf(loc, name));
  }
  Node n{OpKind::Param, std::move(name), {}, std::move(attrs), std::move(type),
         loc, nullptr};
  return append(std::move(n));
}

NodeId Graph::addConst(Tensor value, std::string name, SourceLoc loc) {
  TensorType t = value.type();
  Node n{OpKind::Const, std::move(name), {}, {}, std::move(t), loc,
         std::make_shared<const Tensor>(std::move(value))};
  return append(std::move(n));
}

NodeId Graph::addOp(OpKind kind, std::vector<NodeId> operands, Attrs attrs,
                    std::string name, SourceLoc loc) {
  if (isSource(kind))
    throw Error("use addInput/addParam/addConst for '" +
                    std::string(opName(kind)) + "'",
                locOf(loc, name));
  std::vector<TensorType> types;
  types.reserve(operands.size());
  for (NodeId o : operands) {
    if (o >= nodes_.size())
      throw Error("operand #" + std::to_string(o) + " does not exist",
                  locOf(loc, name));
    types.push_back(nodes_[o].type);
  }
  TensorType result;
  try {
    attrs = canonicalizeAttrs(opDef(kind), attrs);
    result = inferResultType(kind, types, attrs, this);
  } catch (const Error &e) {
    throw Error(std::string(opName(kind)) + ": " +
                    e.diagnostics().front().message,
                locOf(loc, name));
  }
  Node n{kind, std::move(name), std::move(operands), std::move(attrs),
         std::move(result), loc, nullptr};
  return append(std::move(n));
}

void Graph::addFunction(std::shared_ptr<const Function> f) {
  if (!f)
    throw Error("internal: a null function added to graph '" + name_ + "'");
  for (const auto &have : functions_) {
    if (have == f)
      return;
    if (have->name() != f->name())
      continue;
    // Copies of one function (a builder passing it by value twice) are the
    // same function; two definitions under one name are an error.
    if (printFunction(*have) == printFunction(*f))
      return;
    throw Error("another function named '" + f->name() + "' is already in graph '" + name_ +
                    "'",
                f->loc());
  }
  functions_.push_back(std::move(f));
}

const Function *Graph::findFunction(std::string_view name) const {
  for (const auto &f : functions_)
    if (f->name() == name)
      return f.get();
  return nullptr;
}

void Graph::copyFunctionsFrom(const Graph &other) {
  for (const auto &f : other.functions_)
    addFunction(f);
}

void Graph::addOutput(NodeId id) {
  if (id >= nodes_.size())
    throw Error("output #" + std::to_string(id) + " does not exist");
  outputs_.push_back(id);
}

void Graph::addUpdate(NodeId param, NodeId value) {
  if (param >= nodes_.size() || value >= nodes_.size())
    throw Error("update refers to a node that does not exist");
  const Node &p = nodes_[param];
  if (p.kind != OpKind::Param)
    throw Error("only a param can be updated, " + p.label(param) + " is a " +
                    std::string(opName(p.kind)),
                p.loc);
  if (nodes_[value].type != p.type)
    throw Error("update of " + p.label(param) + " : " + p.type.str() +
                    " with a value of type " + nodes_[value].type.str(),
                p.loc);
  updates_.push_back({param, value});
}

void Graph::setNodeName(NodeId id, std::string name) {
  Node &n = nodes_.at(id);
  if (n.name == name)
    return;
  checkNameFree(name, n.loc);
  if (!n.name.empty())
    byName_.erase(n.name);
  n.name = std::move(name);
  if (!n.name.empty())
    byName_.emplace(n.name, id);
}

std::optional<NodeId> Graph::find(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  if (it == byName_.end())
    return std::nullopt;
  return it->second;
}

NodeId Graph::lookup(std::string_view name) const {
  if (auto id = find(name))
    return *id;
  throw Error("graph '" + name_ + "' has no value named %" + std::string(name));
}

std::vector<NodeId> Graph::inputs() const {
  std::vector<NodeId> r;
  for (NodeId i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].kind == OpKind::Input)
      r.push_back(i);
  return r;
}

std::vector<NodeId> Graph::params() const {
  std::vector<NodeId> r;
  for (NodeId i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].kind == OpKind::Param)
      r.push_back(i);
  return r;
}

std::vector<std::vector<NodeId>> Graph::users() const {
  std::vector<std::vector<NodeId>> u(nodes_.size());
  for (NodeId i = 0; i < nodes_.size(); ++i)
    for (NodeId o : nodes_[i].operands)
      if (o < nodes_.size())
        u[o].push_back(i);
  return u;
}

} // namespace chainjit::ir
