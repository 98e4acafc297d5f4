// The forward pass as a chain of restartable segments (RecomputedGradient.h).
// Cuts are found in one pass over the nodes in order; what each segment's
// adjoint reads (its tape) is found by emitting the segment's adjoint into a
// scratch graph and looking at which forward values the rules use.
#include "RecomputationSegment.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/RecomputedGradient.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Sweeps.h"

#include <algorithm>

namespace chainjit::compiler {

using namespace ir;

namespace {
double bytesOf(const TensorType &t) { return double(t.numel()) * double(dtypeSize(t.dtype)); }
} // namespace

RecomputationChain recomputationChain(const Graph &f, NodeId of, const std::vector<NodeId> &wrt) {
  // Chain nodes: computed (not sources), depending on a wrt value, and read
  // on the way to `of`. Everything else is at hand throughout.
  std::vector<bool> chainNode = dependsOn(f, wrt);
  std::vector<bool> toOf = dependedOnBy(f, {of});
  for (NodeId id = 0; id < f.size(); ++id)
    chainNode[id] = chainNode[id] && toOf[id] && !isSource(f.node(id).kind);
  if (!chainNode[of])
    throw Error("%" + f.node(of).name + " does not depend on the wrt values through any op");
  std::vector<NodeId> lastUse(f.size(), 0);
  for (NodeId id = 0; id <= of; ++id)
    if (chainNode[id])
      for (NodeId o : f.node(id).operands)
        if (chainNode[o])
          lastUse[o] = std::max(lastUse[o], id);
  // A position p is a cut when the only chain value computed at or before p
  // and read after p is node p itself.
  RecomputationChain rc;
  std::vector<int> closing(f.size() + 1, 0);
  int open = 0;
  std::vector<NodeId> segment;
  for (NodeId p = 0; p <= of; ++p) {
    open -= closing[p];
    if (!chainNode[p])
      continue;
    segment.push_back(p);
    if (lastUse[p] > p) {
      ++open;
      ++closing[lastUse[p]];
    }
    if ((open == 1 && lastUse[p] > p) || p == of) {
      rc.cuts.push_back(p);
      rc.segments.push_back(std::move(segment));
      segment.clear();
    }
  }
  // Each segment's adjoint, emitted into a scratch copy: the forward values
  // its rules read are its tape.
  Graph scratch(f.name() + ".tapes");
  std::vector<NodeId> primal = copyPrimal(f, scratch);
  const size_t primalSize = scratch.size();
  const int q = static_cast<int>(rc.cuts.size());
  for (int l = 0; l < q; ++l) {
    const std::vector<NodeId> &seg = rc.segments[l];
    std::vector<bool> counted(f.size(), false), wanted(f.size(), false);
    for (NodeId id : seg)
      counted[id] = true;
    if (l > 0)
      counted[rc.cuts[l - 1]] = wanted[rc.cuts[l - 1]] = true;
    for (NodeId w : wrt)
      wanted[w] = true;
    const TensorType &ct = f.type(rc.cuts[l]);
    Value seed = input(scratch, "tape.seed." + std::to_string(l),
                       TensorType{ct.dtype, directionShape(1, ct.shape)});
    const size_t before = scratch.size();
    segmentAdjoint(segmentGraph(f, seg), scratch, primal, seed, wanted);
    std::vector<bool> read(f.size(), false);
    for (size_t id = before; id < scratch.size(); ++id)
      for (NodeId o : scratch.node(static_cast<NodeId>(id)).operands)
        if (o < primalSize)
          read[o] = true; // copyPrimal into an empty graph keeps the ids
    ChainFactor fac;
    double working = l > 0 ? bytesOf(f.type(rc.cuts[l - 1])) : 0;
    for (NodeId id = 0; id < f.size(); ++id)
      if (read[id] && counted[id])
        fac.tapeBytes += bytesOf(f.type(id));
    for (NodeId id : seg) {
      const Node &n = f.node(id);
      std::vector<bool> active(n.operands.size(), false);
      for (size_t i = 0; i < n.operands.size(); ++i)
        active[i] = chainNode[n.operands[i]] || std::find(wrt.begin(), wrt.end(), n.operands[i]) != wrt.end();
      OpCost c = opCost(f, id, active);
      fac.tangentCost += c.tangent;
      fac.adjointCost += c.adjoint;
      std::vector<bool> one(n.operands.size(), false);
      if (!one.empty())
        one[0] = true;
      fac.forwardCost += opCost(f, id, one).tangent;
      working += bytesOf(f.type(id));
    }
    fac.inputBytes = l > 0 ? bytesOf(f.type(rc.cuts[l - 1])) : 0;
    fac.m = f.type(rc.cuts[l]).numel();
    if (l > 0) {
      fac.n = rc.chain.factors.back().m;
    } else {
      for (NodeId w : wrt)
        fac.n += f.type(w).numel();
    }
    fac.label = f.node(rc.cuts[l]).name.empty() ? "#" + std::to_string(rc.cuts[l])
                                                : f.node(rc.cuts[l]).name;
    rc.chain.factors.push_back(fac);
    rc.workingBytes = std::max(rc.workingBytes, working);
  }
  return rc;
}

} // namespace chainjit::compiler
