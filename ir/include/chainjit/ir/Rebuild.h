// Building a new graph from an old one, node by node: the common shape of
// every pass. Copy the nodes you keep, add new ones with the builder API on
// out(), map old ids to new ones with map(); finish() carries the outputs and
// updates over.
#pragma once

#include "chainjit/ir/Graph.h"

#include <optional>
#include <vector>

namespace chainjit::ir {

class GraphRebuilder {
public:
  explicit GraphRebuilder(const Graph &src);

  const Graph &src() const { return src_; }
  Graph &out() { return out_; }

  // Copies node `id` of the source (its operands must be mapped already)
  // and returns its id in the new graph.
  NodeId copy(NodeId id);
  // Records that source node `id` is now `newId`.
  void setMapping(NodeId id, NodeId newId) { map_.at(id) = newId; }
  bool isMapped(NodeId id) const { return map_.at(id).has_value(); }
  // The new id of source node `id`; throws if it was not copied or mapped.
  NodeId map(NodeId id) const;

  // Adds the source's outputs and updates (mapped) and returns the graph.
  Graph finish();

private:
  const Graph &src_;
  Graph out_;
  std::vector<std::optional<NodeId>> map_;
};

} // namespace chainjit::ir
