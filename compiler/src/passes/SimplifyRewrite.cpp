// The node replacement and splat queries shared by the simplification passes
// (see SimplifyRewrite.h).
#include "SimplifyRewrite.h"

#include <cstring>

namespace chainjit::compiler::simplify {

using namespace ir;

bool isInterfaceValue(const Graph &g, NodeId id) {
  for (NodeId o : g.outputs())
    if (o == id)
      return true;
  for (const ParamUpdate &u : g.updates())
    if (u.value == id)
      return true;
  return false;
}

bool isAlias(const Graph &g, NodeId id) {
  const Node &n = g.node(id);
  return n.kind == OpKind::Reshape && g.type(n.operands[0]) == n.type;
}

NodeId replaceNode(GraphRebuilder &rb, NodeId srcId, NodeId newId) {
  const Node &s = rb.src().node(srcId);
  Graph &out = rb.out();
  if (out.type(newId) != s.type)
    throw Error("internal: simplification replaced " + s.label(srcId) + " : " +
                s.type.str() + " with a value of type " + out.type(newId).str());
  if (s.name.empty() || out.node(newId).name == s.name) {
    rb.setMapping(srcId, newId);
    return newId;
  }
  if (out.node(newId).name.empty()) {
    out.setNodeName(newId, s.name);
    rb.setMapping(srcId, newId);
    return newId;
  }
  // Both named: a value the graph hands out keeps its name as an alias; an
  // intermediate name goes, as dead code's names do.
  if (!isInterfaceValue(rb.src(), srcId)) {
    rb.setMapping(srcId, newId);
    return newId;
  }
  NodeId alias = out.addOp(OpKind::Reshape, {newId},
                           {{"shape", Ints(s.type.shape)}}, s.name, s.loc);
  rb.setMapping(srcId, alias);
  return alias;
}

std::optional<double> splatValue(const Graph &g, NodeId id) {
  // Data movement keeps a splat a splat: follow it down to the const.
  for (;;) {
    const Node &n = g.node(id);
    if (n.kind == OpKind::Reshape || n.kind == OpKind::Transpose ||
        n.kind == OpKind::BroadcastTo) {
      if (n.type.numel() == 0)
        return std::nullopt;
      id = n.operands[0];
      continue;
    }
    if (n.kind != OpKind::Const || !n.value || n.value->numel() == 0 ||
        !n.value->isSplat())
      return std::nullopt;
    return n.value->at(0);
  }
}

NodeId addSplat(Graph &g, const TensorType &type, double value) {
  if (type.numel() <= kMaxFoldedSplatElements)
    return g.addConst(Tensor::filled(type, value));
  NodeId s = g.addConst(Tensor::scalar(type.dtype, value));
  return g.addOp(OpKind::BroadcastTo, {s}, {{"shape", Ints(type.shape)}});
}

} // namespace chainjit::compiler::simplify
