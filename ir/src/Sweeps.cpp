// Tangent and adjoint sweeps over a graph, applying the per-op rules. They
// live in ir/ (not compiler/) because scan's rules build the derivative
// functions of its body with them.
#include "chainjit/ir/Sweeps.h"

#include <memory>

namespace chainjit::ir {

std::vector<NodeId> copyPrimal(const Graph &src, Graph &out) {
  out.copyFunctionsFrom(src); // copied scans resolve their bodies
  std::vector<NodeId> map(src.size());
  for (NodeId i = 0; i < src.size(); ++i) {
    Node n = src.node(i);
    for (NodeId &o : n.operands)
      o = map[o];
    map[i] = out.appendUnchecked(std::move(n));
  }
  return map;
}

std::vector<bool> dependsOn(const Graph &g, const std::vector<NodeId> &from) {
  std::vector<bool> r(g.size(), false);
  for (NodeId f : from)
    r.at(f) = true;
  for (NodeId i = 0; i < g.size(); ++i)
    for (NodeId o : g.node(i).operands)
      if (r[o])
        r[i] = true;
  return r;
}

std::vector<bool> dependedOnBy(const Graph &g, const std::vector<NodeId> &to) {
  std::vector<bool> r(g.size(), false);
  for (NodeId t : to)
    r.at(t) = true;
  for (NodeId i = static_cast<NodeId>(g.size()); i-- > 0;)
    if (r[i])
      for (NodeId o : g.node(i).operands)
        r[o] = true;
  return r;
}

namespace {

const DerivativeRules &rulesFor(const Graph &src, NodeId id, bool tangent) {
  const Node &n = src.node(id);
  const DerivativeRules &r = derivativeRules(n.kind);
  if ((tangent && r.jvp) || (!tangent && r.vjp))
    return r;
  std::string hint = n.kind == OpKind::Dropout || n.kind == OpKind::BatchNorm
                         ? " (expand it for train or eval mode first: passes expand-train, expand-eval)"
                         : "";
  throw Error(std::string(opName(n.kind)) + " has no " + (tangent ? "tangent" : "adjoint") +
                  " rule" + hint,
              SourceLoc{n.loc.file, n.loc.line, n.loc.col, n.name.empty() ? "#" + std::to_string(id) : n.name});
}

RuleContext contextFor(const Graph &src, Graph &out, const std::vector<NodeId> &primal,
                       NodeId id, int64_t k) {
  const Node &n = src.node(id);
  std::vector<Value> operands;
  for (NodeId o : n.operands)
    operands.emplace_back(out, primal[o]);
  return RuleContext{out, n, std::move(operands), Value(out, primal[id]), k};
}

void checkDirections(const Graph &src, NodeId id, const Value &v, int64_t k,
                     const char *what) {
  const TensorType &t = src.type(id);
  Shape want{k};
  want.insert(want.end(), t.shape.begin(), t.shape.end());
  if (v.shape() != want || v.dtype() != t.dtype)
    throw Error(std::string(what) + " of " + src.node(id).label(id) + " must be " +
                TensorType{t.dtype, want}.str() + ", got " + v.type().str());
}

} // namespace

std::vector<MaybeValue> tangentSweep(const Graph &src, Graph &out,
                                     const std::vector<NodeId> &primal,
                                     const std::map<NodeId, Value> &seeds, int64_t k) {
  std::vector<MaybeValue> tan(src.size());
  for (NodeId id = 0; id < src.size(); ++id) {
    if (auto s = seeds.find(id); s != seeds.end()) {
      checkDirections(src, id, s->second, k, "the tangent seed");
      tan[id] = s->second;
      continue;
    }
    const Node &n = src.node(id);
    std::vector<MaybeValue> in;
    bool any = false;
    for (NodeId o : n.operands) {
      in.push_back(tan[o]);
      any = any || tan[o].has_value();
    }
    if (!any)
      continue;
    const DerivativeRules &r = rulesFor(src, id, /*tangent=*/true);
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] && !r.isDifferentiable(i, src.type(n.operands[i])))
        in[i].reset(); // a direction cannot flow into labels, counters, masks
    RuleContext ctx = contextFor(src, out, primal, id, k);
    tan[id] = r.jvp(ctx, in);
    if (tan[id])
      checkDirections(src, id, *tan[id], k, "the tangent rule's result");
  }
  return tan;
}

std::vector<MaybeValue> adjointSweep(const Graph &src, Graph &out,
                                     const std::vector<NodeId> &primal,
                                     const std::map<NodeId, Value> &seeds, int64_t k,
                                     const std::vector<bool> *relevant) {
  std::vector<MaybeValue> adj(src.size());
  for (const auto &[id, v] : seeds) {
    checkDirections(src, id, v, k, "the adjoint seed");
    adj.at(id) = v;
  }
  for (NodeId id = static_cast<NodeId>(src.size()); id-- > 0;) {
    const Node &n = src.node(id);
    if (!adj[id] || isSource(n.kind) || (relevant && !(*relevant)[id]))
      continue;
    // std::vector<bool> has no contiguous storage to span over.
    std::unique_ptr<bool[]> wanted(new bool[n.operands.size() + 1]);
    bool any = false;
    const DerivativeRules &r = rulesFor(src, id, /*tangent=*/false);
    for (size_t i = 0; i < n.operands.size(); ++i) {
      NodeId o = n.operands[i];
      wanted[i] = r.isDifferentiable(i, src.type(o)) && (!relevant || (*relevant)[o]);
      any = any || wanted[i];
    }
    if (!any)
      continue;
    RuleContext ctx = contextFor(src, out, primal, id, k);
    std::vector<MaybeValue> contrib =
        r.vjp(ctx, *adj[id], std::span<const bool>(wanted.get(), n.operands.size()));
    for (size_t i = 0; i < n.operands.size(); ++i) {
      if (!wanted[i])
        continue;
      if (i >= contrib.size() || !contrib[i]) {
        if (r.piecewiseConstant)
          continue; // a documented zero derivative
        throw Error(std::string(opName(n.kind)) + ": the adjoint rule gave nothing for operand " +
                        std::to_string(i) + " (a rule must not drop a derivative silently)",
                    SourceLoc{n.loc.file, n.loc.line, n.loc.col, n.name});
      }
      checkDirections(src, n.operands[i], *contrib[i], k, "the adjoint rule's result");
      adj[n.operands[i]] = addMaybe(adj[n.operands[i]], contrib[i]);
    }
  }
  return adj;
}

} // namespace chainjit::ir
