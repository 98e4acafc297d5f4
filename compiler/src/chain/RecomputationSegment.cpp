#include "RecomputationSegment.h"

#include "chainjit/ir/Sweeps.h"

namespace chainjit::compiler {

using namespace ir;

SegmentGraph segmentGraph(const Graph &f, const std::vector<NodeId> &segment) {
  SegmentGraph s{Graph(f.name() + ".segment"), {}};
  s.graph.copyFunctionsFrom(f); // a scan in the segment resolves its body
  std::vector<NodeId> local(f.size(), 0);
  std::vector<bool> mapped(f.size(), false);
  for (NodeId id : segment) {
    Node n = f.node(id);
    for (NodeId &o : n.operands) {
      if (!mapped[o]) { // read from outside: an input of the segment graph
        local[o] = s.graph.addInput("outside." + std::to_string(o), f.type(o));
        s.source.push_back(o);
        mapped[o] = true;
      }
      o = local[o];
    }
    n.name.clear();
    local[id] = s.graph.appendUnchecked(std::move(n));
    s.source.push_back(id);
    mapped[id] = true;
  }
  return s;
}

std::vector<std::pair<NodeId, Value>> segmentAdjoint(const SegmentGraph &s, Graph &out,
                                                     const std::vector<NodeId> &valueOf,
                                                     Value seed, const std::vector<bool> &wanted,
                                                     int64_t directions) {
  const Graph &g = s.graph;
  std::vector<NodeId> map(g.size());
  std::vector<bool> relevant(g.size(), true);
  for (NodeId id = 0; id < g.size(); ++id) {
    map[id] = valueOf[s.source[id]];
    if (g.node(id).kind == OpKind::Input)
      relevant[id] = wanted[s.source[id]];
  }
  const NodeId last = static_cast<NodeId>(g.size() - 1);
  std::vector<MaybeValue> adj = adjointSweep(g, out, map, {{last, seed}}, directions, &relevant);
  std::vector<std::pair<NodeId, Value>> result;
  for (NodeId id = 0; id < g.size(); ++id)
    if (wanted[s.source[id]] && adj[id])
      result.emplace_back(s.source[id], *adj[id]);
  return result;
}

} // namespace chainjit::compiler
