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

// Per segment, the forward values (f ids) its adjoint reads: each segment's
// adjoint is emitted into a scratch copy of f and its operands looked at.
std::vector<std::vector<bool>> tapeReads(const Graph &f, const RecomputationChain &rc,
                                         const std::vector<NodeId> &wrt) {
  Graph scratch(f.name() + ".tapes");
  std::vector<NodeId> primal = copyPrimal(f, scratch);
  const size_t primalSize = scratch.size();
  std::vector<std::vector<bool>> reads;
  for (size_t l = 0; l < rc.cuts.size(); ++l) {
    std::vector<bool> wanted(f.size(), false);
    if (l > 0)
      wanted[rc.cuts[l - 1]] = true;
    for (NodeId w : wrt)
      wanted[w] = true;
    const TensorType &ct = f.type(rc.cuts[l]);
    Value seed = input(scratch, "tape.seed." + std::to_string(l),
                       TensorType{ct.dtype, directionShape(1, ct.shape)});
    const size_t before = scratch.size();
    segmentAdjoint(segmentGraph(f, rc.segments[l]), scratch, primal, seed, wanted);
    std::vector<bool> read(f.size(), false);
    for (size_t id = before; id < scratch.size(); ++id)
      for (NodeId o : scratch.node(static_cast<NodeId>(id)).operands)
        if (o < primalSize)
          read[o] = true; // copyPrimal into an empty graph keeps the ids
    reads.push_back(std::move(read));
  }
  return reads;
}
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
  // A cut that both neighbours' adjoints read (tanh's result, the next
  // matmul's input) would be in both tapes: merging the two segments counts
  // it once, as the JIT holds it once.
  std::vector<std::vector<bool>> reads = tapeReads(f, rc, wrt);
  RecomputationChain merged;
  for (size_t l = 0; l < rc.cuts.size(); ++l) {
    bool join = !merged.cuts.empty() && reads[l][merged.cuts.back()] &&
                reads[l - 1][merged.cuts.back()];
    if (join) {
      merged.cuts.back() = rc.cuts[l];
      merged.segments.back().insert(merged.segments.back().end(), rc.segments[l].begin(),
                                    rc.segments[l].end());
    } else {
      merged.cuts.push_back(rc.cuts[l]);
      merged.segments.push_back(rc.segments[l]);
    }
  }
  if (merged.cuts.size() != rc.cuts.size()) {
    rc = std::move(merged);
    reads = tapeReads(f, rc, wrt);
  }
  const int q = static_cast<int>(rc.cuts.size());
  for (int l = 0; l < q; ++l) {
    const std::vector<NodeId> &seg = rc.segments[l];
    const std::vector<bool> &read = reads[l];
    std::vector<bool> counted(f.size(), false);
    for (NodeId id : seg)
      counted[id] = true;
    if (l > 0)
      counted[rc.cuts[l - 1]] = true;
    ChainFactor fac;
    // Working memory: while node k runs, its result and every value of the
    // segment (or its input) that k or a later node reads are live.
    double working = 0;
    {
      std::vector<size_t> last(f.size(), 0);
      std::vector<bool> inSeg(f.size(), false);
      for (size_t k = 0; k < seg.size(); ++k) {
        inSeg[seg[k]] = true;
        for (NodeId o : f.node(seg[k]).operands)
          last[o] = k;
      }
      last[seg.back()] = seg.size(); // the cut outlives the segment
      std::vector<NodeId> values = seg;
      if (l > 0)
        values.insert(values.begin(), rc.cuts[l - 1]);
      for (size_t k = 0; k < seg.size(); ++k) {
        double live = 0;
        for (NodeId v : values) {
          bool defined = !inSeg[v] || v <= seg[k];
          if (defined && (v == seg[k] || last[v] >= k))
            live += bytesOf(f.type(v));
        }
        working = std::max(working, live);
      }
    }
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
  // Values computed from the side alone (a dropout mask) that segments read
  // stay in memory throughout: they count as working memory.
  std::vector<bool> side(f.size(), false);
  for (const std::vector<NodeId> &seg : rc.segments)
    for (NodeId id : seg)
      for (NodeId o : f.node(id).operands)
        if (!chainNode[o] && !isSource(f.node(o).kind) && !side[o]) {
          side[o] = true;
          rc.workingBytes += bytesOf(f.type(o));
        }
  return rc;
}

} // namespace chainjit::compiler
