#include "chainjit/ir/Rebuild.h"

namespace chainjit::ir {

GraphRebuilder::GraphRebuilder(const Graph &src)
    : src_(src), out_(src.name()), map_(src.size()) {
  out_.copyFunctionsFrom(src); // copied scans still resolve their bodies
}

NodeId GraphRebuilder::map(NodeId id) const {
  const auto &m = map_.at(id);
  if (!m)
    throw Error("internal: " + src_.node(id).label(id) +
                " used before it was rebuilt");
  return *m;
}

NodeId GraphRebuilder::copy(NodeId id) {
  Node n = src_.node(id);
  for (NodeId &o : n.operands)
    o = map(o);
  NodeId newId = out_.appendUnchecked(std::move(n));
  map_.at(id) = newId;
  return newId;
}

Graph GraphRebuilder::finish() {
  for (NodeId o : src_.outputs())
    out_.addOutput(map(o));
  for (const ParamUpdate &u : src_.updates())
    out_.addUpdate(map(u.param), map(u.value));
  return std::move(out_);
}

} // namespace chainjit::ir
