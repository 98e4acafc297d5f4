// The IR graph: a DAG of single-result nodes in SSA form.
//
// Invariant: nodes are stored in a topological order (every operand of node i
// has an id < i). The builder keeps it by construction; the parser restores
// it (and reports cycles) before a Graph is handed out; passes build new
// graphs with the builder. Ids are dense indices into that order.
#pragma once

#include "chainjit/ir/Attr.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Op.h"
#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/Types.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chainjit::ir {

using NodeId = uint32_t;

class Function; // chainjit/ir/Function.h

// Whether `name` can name a value: [A-Za-z_][A-Za-z0-9_.]*. Names are
// identifiers so that the text form can print unnamed values as %0, %1, ...
bool isValidValueName(std::string_view name);

struct Node {
  OpKind kind;
  std::string name; // empty: unnamed (printed as %0, %1, ... in order)
  std::vector<NodeId> operands;
  Attrs attrs;      // canonical: every attribute of the op's spec present
  TensorType type;
  SourceLoc loc;    // where it was parsed, if it was
  std::shared_ptr<const Tensor> value; // Const only

  // "%name" or "node #id" for messages.
  std::string label(NodeId id) const;
};

// A param updated by a training step: after a call, param := value.
struct ParamUpdate {
  NodeId param;
  NodeId value;
};

class Graph {
public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}

  const std::string &name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  // --- building (each throws chainjit::Error naming the node on a problem) ---
  NodeId addInput(std::string name, TensorType type, SourceLoc loc = {});
  NodeId addParam(std::string name, TensorType type, Attrs attrs = {},
                  SourceLoc loc = {});
  NodeId addConst(Tensor value, std::string name = {}, SourceLoc loc = {});
  // Canonicalizes attributes and infers the result type.
  NodeId addOp(OpKind kind, std::vector<NodeId> operands, Attrs attrs = {},
               std::string name = {}, SourceLoc loc = {});

  void addOutput(NodeId id);
  void addUpdate(NodeId param, NodeId value);
  // Gives an unnamed node a name (or renames it). Names are unique.
  void setNodeName(NodeId id, std::string name);

  // --- reading ---
  size_t size() const { return nodes_.size(); }
  const Node &node(NodeId id) const { return nodes_.at(id); }
  const std::vector<Node> &nodes() const { return nodes_; }
  const TensorType &type(NodeId id) const { return node(id).type; }
  std::optional<NodeId> find(std::string_view name) const;
  // Like find() but throws "no value named %name".
  NodeId lookup(std::string_view name) const;

  std::vector<NodeId> inputs() const; // in order
  std::vector<NodeId> params() const; // in order
  const std::vector<NodeId> &outputs() const { return outputs_; }
  const std::vector<ParamUpdate> &updates() const { return updates_; }

  // For each node, the nodes that use it (in id order, once per use).
  std::vector<std::vector<NodeId>> users() const;

  // --- functions that ops of this graph refer to by name (scan's `body`) ---
  // Adds f to the table; adding the same function again is a no-op, another
  // function under a name already taken throws chainjit::Error at f's loc.
  void addFunction(std::shared_ptr<const Function> f);
  // nullptr if no function of that name is in the table.
  const Function *findFunction(std::string_view name) const;
  // In the order they were added.
  const std::vector<std::shared_ptr<const Function>> &functions() const {
    return functions_;
  }
  // Adds every function of `other` (passes that build a new graph from an
  // old one call this first, so that the copied ops still resolve).
  void copyFunctionsFrom(const Graph &other);

  // --- unchecked construction, for the parser and for passes that build a
  // graph node by node from another one. The caller restores the invariant
  // and runs the verifier. ---
  NodeId appendUnchecked(Node n);
  Node &mutableNode(NodeId id) { return nodes_.at(id); }

private:
  NodeId append(Node n);
  void checkNameFree(const std::string &name, const SourceLoc &loc) const;

  std::string name_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, NodeId> byName_;
  std::vector<NodeId> outputs_;
  std::vector<ParamUpdate> updates_;
  std::vector<std::shared_ptr<const Function>> functions_;
};

} // namespace chainjit::ir
