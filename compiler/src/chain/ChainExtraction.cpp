// Cuts the active part of a graph (nodes on a path from the wrt values to the
// output) at the dominators of the output, seen from a virtual source that
// feeds every wrt value: every path from the inputs to the output passes
// through each cut, so the Jacobian is the product of the segments'.
#include "chainjit/compiler/ChainExtraction.h"

#include "RowLocal.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/TimeChains.h"
#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Error.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dominator_tree.hpp>

#include <algorithm>

namespace chainjit::compiler {

using namespace ir;

namespace {

using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;
using BVertex = boost::graph_traits<BGraph>::vertex_descriptor;

// The cut vertices from the wrt side to `of` (excluding a lone wrt value,
// which is the chain's input rather than a cut).
std::vector<NodeId> dominatorCuts(const Graph &g, NodeId of, const std::vector<NodeId> &wrt,
                                  const std::vector<bool> &active) {
  // Vertex 0 is the virtual source; node i is vertex i + 1.
  BGraph bg(g.size() + 1);
  for (NodeId w : wrt)
    boost::add_edge(0, w + 1, bg);
  for (NodeId i = 0; i < g.size(); ++i)
    if (active[i])
      for (NodeId o : g.node(i).operands)
        if (active[o])
          boost::add_edge(o + 1, i + 1, bg);
  std::vector<BVertex> idom(boost::num_vertices(bg), boost::graph_traits<BGraph>::null_vertex());
  auto index = boost::get(boost::vertex_index, bg);
  auto idomMap = boost::make_iterator_property_map(idom.begin(), index);
  boost::lengauer_tarjan_dominator_tree(bg, boost::vertex(0, bg), idomMap);

  std::vector<NodeId> cuts;
  for (BVertex v = of + 1; v != 0 && v != boost::graph_traits<BGraph>::null_vertex(); v = idom[v])
    cuts.push_back(static_cast<NodeId>(v - 1));
  std::reverse(cuts.begin(), cuts.end());
  if (wrt.size() == 1 && !cuts.empty() && cuts.front() == wrt.front())
    cuts.erase(cuts.begin());
  return cuts;
}

} // namespace

// RowLocal.h; also used for the steps of a scan (TimeChains.cpp).
bool rowLocal(const Graph &g, NodeId v, const std::vector<bool> &active, int64_t rows) {
  const Node &n = g.node(v);
  auto leading = [&](const TensorType &t) { return t.rank() >= 1 && t.shape[0] == rows; };
  if (!leading(n.type))
    return false;
  for (size_t i = 0; i < n.operands.size(); ++i)
    if (active[n.operands[i]] &&
        (!leading(g.type(n.operands[i])) || g.type(n.operands[i]).rank() != n.type.rank()))
      return false; // an active operand broadcast along the rows mixes them
  auto axis = [&](int64_t a, int64_t rank) { return a < 0 ? a + rank : a; };
  int64_t inRank = n.operands.empty() ? 0 : g.type(n.operands[0]).rank();
  switch (opDef(n.kind).family) {
  case OpFamily::Elementwise:
    return true;
  default:
    break;
  }
  switch (n.kind) {
  case OpKind::MatMul: // [B, k] @ W with W fixed
    return !active[n.operands[1]] && g.type(n.operands[1]).rank() == 2 && inRank >= 2;
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
    return axis(n.attrs.getInt("axis"), inRank) != 0;
  case OpKind::Sum:
  case OpKind::Mean:
  case OpKind::Max: {
    const Ints &axes = n.attrs.getInts("axes");
    if (axes.empty())
      return false;
    for (int64_t a : axes)
      if (axis(a, inRank) == 0)
        return false;
    return true;
  }
  case OpKind::Reshape:
    return true; // both leading dimensions are `rows`: rows stay contiguous
  case OpKind::Transpose: {
    const Ints &perm = n.attrs.getInts("perm");
    return !perm.empty() && perm[0] == 0;
  }
  default:
    return false;
  }
}

namespace {

std::string labelOf(const Graph &g, NodeId id) {
  const std::string &n = g.node(id).name;
  return n.empty() ? "#" + std::to_string(id) : "%" + n;
}

} // namespace

GraphChain extractChain(const Graph &g, NodeId of, const std::vector<NodeId> &wrt) {
  if (wrt.empty())
    throw Error("the Jacobian needs at least one wrt value");
  for (NodeId w : wrt)
    if (!isFloat(g.type(w).dtype))
      throw Error("wrt value " + labelOf(g, w) + " is " + g.type(w).str() +
                  ": derivatives need f32 or f64");
  if (!isFloat(g.type(of).dtype))
    throw Error("output " + labelOf(g, of) + " is " + g.type(of).str() +
                ": derivatives need f32 or f64");
  // Active: float values that a derivative can reach from the wrt values
  // (not through masks, labels or piecewise-constant ops) and that lead to
  // the output.
  std::vector<bool> active(g.size(), false), toOf = dependedOnBy(g, {of});
  for (NodeId w : wrt)
    active[w] = true;
  for (NodeId i = 0; i < g.size(); ++i) {
    const Node &n = g.node(i);
    if (active[i] || !isFloat(n.type.dtype) || derivativeRules(n.kind).piecewiseConstant)
      continue;
    for (size_t k = 0; k < n.operands.size(); ++k)
      if (active[n.operands[k]] &&
          derivativeRules(n.kind).isDifferentiable(k, g.type(n.operands[k])))
        active[i] = true;
  }
  for (size_t i = 0; i < active.size(); ++i)
    active[i] = active[i] && toOf[i];
  if (!active[of])
    throw Error("output " + labelOf(g, of) + " does not depend on the wrt values");

  GraphChain gc;
  gc.wrt = wrt;
  gc.cuts = dominatorCuts(g, of, wrt, active);
  if (gc.cuts.empty()) // of is itself the (only) wrt value: an identity
    gc.cuts.push_back(of);

  // Node v belongs to the first segment whose cut depends on it.
  std::vector<int> segmentOf(g.size(), -1);
  for (size_t l = 0; l < gc.cuts.size(); ++l) {
    std::vector<bool> before = dependedOnBy(g, {gc.cuts[l]});
    for (NodeId v = 0; v < g.size(); ++v)
      if (active[v] && before[v] && segmentOf[v] < 0 &&
          std::find(wrt.begin(), wrt.end(), v) == wrt.end())
        segmentOf[v] = static_cast<int>(l);
  }
  gc.segments.resize(gc.cuts.size());
  for (NodeId v = 0; v < g.size(); ++v)
    if (segmentOf[v] >= 0)
      gc.segments[segmentOf[v]].push_back(v);

  int64_t inputSize = 0;
  for (NodeId w : wrt)
    inputSize += g.type(w).numel();
  for (size_t l = 0; l < gc.cuts.size(); ++l) {
    ChainFactor f;
    f.n = l == 0 ? inputSize : g.type(gc.cuts[l - 1]).numel();
    f.m = g.type(gc.cuts[l]).numel();
    f.label = labelOf(g, gc.cuts[l]);
    if (g.node(gc.cuts[l]).name.empty() && g.node(gc.cuts[l]).kind == OpKind::Scan)
      f.label = "@" + g.node(gc.cuts[l]).attrs.getString("body"); // a scan by its body
    // A segment that is a simple path keeps the product of its ops'
    // structures; anything with a fork is dense.
    bool path = true;
    JacobianStructure s = JacobianStructure::Identity;
    for (NodeId v : gc.segments[l]) {
      std::vector<bool> act;
      int nActive = 0;
      for (NodeId o : g.node(v).operands) {
        act.push_back(active[o]);
        nActive += active[o];
      }
      OpCost c = opCost(g, v, act);
      f.tangentCost += c.tangent;
      f.adjointCost += c.adjoint;
      f.tapeBytes += c.tapeBytes;
      path = path && nActive == 1;
      s = productStructure(c.structure, s);
    }
    f.structure = path ? s : JacobianStructure::Dense;
    // Recomputing a segment runs its ops once (about one tangent sweep's
    // FMAs); a checkpoint before it stores its input values.
    f.forwardCost = f.tangentCost;
    for (NodeId s0 : (l == 0 ? gc.wrt : std::vector<NodeId>{gc.cuts[l - 1]}))
      f.inputBytes += double(g.type(s0).numel()) * double(dtypeSize(g.type(s0).dtype));
    // Elementwise maps of one shape compose to a diagonal, forks included
    // (sums and products of diagonals are diagonal): leaky relu, x * tanh(x).
    if (f.structure == JacobianStructure::Dense && f.n == f.m && !gc.segments[l].empty()) {
      bool diagonal = true;
      Shape shape = g.type(gc.cuts[l]).shape;
      for (NodeId v : gc.segments[l]) {
        const Node &node = g.node(v);
        diagonal = diagonal && opDef(node.kind).family == OpFamily::Elementwise &&
                   node.type.shape == shape;
        for (NodeId o : node.operands)
          diagonal = diagonal && (!active[o] || g.type(o).shape == shape);
      }
      for (NodeId s0 : (l == 0 ? gc.wrt : std::vector<NodeId>{gc.cuts[l - 1]}))
        diagonal = diagonal && g.type(s0).shape == shape;
      if (diagonal)
        f.structure = JacobianStructure::Diagonal;
    }
    // A batch whose rows are processed independently: block-diagonal.
    std::vector<NodeId> starts = l == 0 ? gc.wrt : std::vector<NodeId>{gc.cuts[l - 1]};
    TensorType out = g.type(gc.cuts[l]);
    if (f.structure == JacobianStructure::Dense && starts.size() == 1 && out.rank() >= 1 &&
        out.shape[0] > 1 && g.type(starts[0]).rank() >= 1 &&
        g.type(starts[0]).shape[0] == out.shape[0] && !gc.segments[l].empty()) {
      bool local = true;
      for (NodeId v : gc.segments[l])
        local = local && rowLocal(g, v, active, out.shape[0]);
      if (local) {
        f.structure = JacobianStructure::BlockDiagonal;
        f.blocks = out.shape[0];
      }
    }
    // ---- through time (TimeChains.h): a segment holding one scan is its
    // T step factors, kept compactly; an element-wise recurrence seen from
    // its one active operand is diagonal as a whole.
    {
      std::vector<NodeId> scans;
      for (NodeId v : gc.segments[l])
        if (g.node(v).kind == OpKind::Scan)
          scans.push_back(v);
      if (scans.size() == 1) {
        std::vector<bool> act;
        for (NodeId o : g.node(scans[0]).operands)
          act.push_back(active[o]);
        ScanSteps steps = scanSteps(g, scans[0], act);
        f.steps = std::max<int64_t>(1, steps.length);
        f.step = steps.step;
        if (steps.diagonal && gc.segments[l].size() == 1 && f.n == f.m)
          f.structure = JacobianStructure::Diagonal;
        else if (steps.blocks > 1 && gc.segments[l].size() == 1 && f.n == f.m) {
          f.structure = JacobianStructure::BlockDiagonal;
          f.blocks = steps.blocks;
        }
      }
    }
    gc.chain.factors.push_back(std::move(f));
  }
  return gc;
}

GraphChain extractChain(const Graph &g, const std::string &of,
                        const std::vector<std::string> &wrt) {
  std::vector<NodeId> ids;
  for (const std::string &w : wrt)
    ids.push_back(g.lookup(w));
  return extractChain(g, g.lookup(of), ids);
}

} // namespace chainjit::compiler
