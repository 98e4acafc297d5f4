// Emits a gradient that follows a recomputation schedule action by action
// (RecomputedGradient.h). Node order is execution order for the JIT, so the
// graph is built in schedule order: the forward pass (the first run of every
// segment), then per Reverse the adjoint of one segment, preceded by the
// runs that rebuild its tape from the nearest kept value.
#include "chainjit/compiler/RecomputedGradient.h"

#include "../chain/RecomputationSegment.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/compiler/ScanCheckpointing.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Sweeps.h"
#include "chainjit/ir/Verifier.h"

#include <cmath>
#include <limits>

namespace chainjit::compiler {

using namespace ir;

namespace {

class ScheduleEmitter {
public:
  ScheduleEmitter(const Graph &f, const RecomputationChain &rc, const std::vector<NodeId> &wrt,
                  Graph &out)
      : f_(f), rc_(rc), wrt_(wrt), out_(out), primal_(copyPrimal(f, out)),
        runs_(rc.cuts.size(), 0), current_(rc.cuts.size(), 0), tape_(rc.cuts.size()),
        tapeInput_(rc.cuts.size(), 0), grads_(f.size()) {}

  void run(const ReversalAction &a) {
    if (a.kind == ReversalAction::Reverse)
      reverse(a.factor);
    else
      forward(a.factor, a.kind == ReversalAction::Tape);
  }

  const std::vector<int> &runs() const { return runs_; }
  int recomputedNodes() const { return recomputed_; }
  MaybeValue gradient(NodeId w) const { return grads_[w]; }

private:
  // Runs segment l from the current value of its input: the first time, the
  // forward pass already did (the primal copy); later, as new nodes.
  void forward(int l, bool tape) {
    const std::vector<NodeId> &seg = rc_.segments[l];
    const NodeId in = l > 0 ? current_[l - 1] : 0;
    std::vector<NodeId> copies(seg.size());
    if (runs_[l] == 0) {
      if (l > 0 && in != primal_[rc_.cuts[l - 1]])
        throw Error("internal: a first run that does not start from the forward pass");
      for (size_t i = 0; i < seg.size(); ++i)
        copies[i] = primal_[seg[i]];
    } else {
      std::vector<NodeId> local(f_.size(), 0);
      std::vector<bool> isLocal(f_.size(), false);
      for (size_t i = 0; i < seg.size(); ++i) {
        Node n = f_.node(seg[i]);
        for (NodeId &o : n.operands)
          o = isLocal[o] ? local[o] : (l > 0 && o == rc_.cuts[l - 1] ? in : primal_[o]);
        std::string name;
        do
          name = "recompute." + std::to_string(counter_++);
        while (out_.find(name));
        n.name = name;
        copies[i] = local[seg[i]] = out_.appendUnchecked(std::move(n));
        isLocal[seg[i]] = true;
        ++recomputed_;
      }
    }
    ++runs_[l];
    current_[l] = copies.back(); // the cut is the segment's last node
    if (tape) {
      tape_[l] = std::move(copies);
      tapeInput_[l] = in;
    }
  }

  // The adjoint of segment l, reading the values of its latest taping run.
  void reverse(int l) {
    const std::vector<NodeId> &seg = rc_.segments[l];
    const NodeId cut = rc_.cuts[l];
    if (!seed_) {
      if (l + 1 != static_cast<int>(rc_.cuts.size()))
        throw Error("internal: a reversal that does not start at the output");
      seed_ = constant(out_, Tensor::filled(TensorType{f_.type(cut).dtype, {1}}, 1.0));
    }
    if (tape_[l].size() != seg.size())
      throw Error("internal: a reversal without a tape");
    std::vector<NodeId> map = primal_;
    std::vector<bool> wanted(f_.size(), false);
    for (size_t i = 0; i < seg.size(); ++i)
      map[seg[i]] = tape_[l][i];
    if (l > 0) {
      map[rc_.cuts[l - 1]] = tapeInput_[l];
      wanted[rc_.cuts[l - 1]] = true;
    }
    for (NodeId w : wrt_)
      wanted[w] = true;
    if (!segments_[l])
      segments_[l] = segmentGraph(f_, seg);
    MaybeValue before;
    for (auto &[id, a] : segmentAdjoint(*segments_[l], out_, map, *seed_, wanted)) {
      if (l > 0 && id == rc_.cuts[l - 1])
        before = a;
      else
        grads_[id] = addMaybe(grads_[id], a);
    }
    seed_ = before;
    if (l > 0 && !seed_) // nothing flows further back: zeros keep the program going
      seed_ = broadcastTo(scalar(out_, 0.0, f_.type(rc_.cuts[l - 1]).dtype),
                          directionShape(1, f_.type(rc_.cuts[l - 1]).shape));
  }

  const Graph &f_;
  const RecomputationChain &rc_;
  const std::vector<NodeId> &wrt_;
  Graph &out_;
  std::vector<NodeId> primal_;
  std::vector<int> runs_;
  std::vector<NodeId> current_;              // per segment: its latest output
  std::vector<std::vector<NodeId>> tape_;    // per segment: its latest taping run
  std::vector<NodeId> tapeInput_;            // ... and the input it started from
  std::vector<MaybeValue> grads_;            // per src node (the wrt values)
  MaybeValue seed_;
  std::vector<std::optional<SegmentGraph>> segments_ = std::vector<std::optional<SegmentGraph>>(rc_.cuts.size());                          // the adjoint of the next cut to reverse
  int counter_ = 0, recomputed_ = 0;
};

} // namespace

RecomputedGradient gradWithMemoryLimit(const Graph &f, const std::string &of,
                                       const std::vector<std::string> &wrt, double memoryLimit,
                                       bool simplify) {
  if (!(memoryLimit >= 0) || !std::isfinite(memoryLimit))
    throw Error("the memory limit must be a finite non-negative number of bytes");
  // Recurrences (ScanCheckpointing.h): where a scan's tape of carries does
  // not fit, the scan is nested into windows; the largest scan tape takes
  // its share of the limit and the schedule below plans the rest.
  if (std::optional<CheckpointedScans> cs = checkpointScans(f, of, wrt, memoryLimit)) {
    ScanCheckpointingScope nested;
    RecomputedGradient r = gradWithMemoryLimit(cs->graph, of, wrt, cs->chainLimit, simplify);
    r.graph = pruneScanBodies(r.graph);
    return r;
  }
  NodeId ofId = f.lookup(of);
  if (f.type(ofId).rank() != 0 || !isFloat(f.type(ofId).dtype))
    throw Error("grad needs a float scalar, but %" + of + " is " + f.type(ofId).str());
  std::vector<NodeId> wrtIds;
  for (const std::string &w : wrt) {
    wrtIds.push_back(f.lookup(w));
    if (!isFloat(f.type(wrtIds.back()).dtype))
      throw Error("the wrt value %" + w + " has type " + f.type(wrtIds.back()).str() +
                  ": derivatives need f32 or f64");
  }
  RecomputedGradient r;
  r.chain = recomputationChain(f, ofId, wrtIds);
  r.tapeLimit = memoryLimit - r.chain.workingBytes;
  const int q = static_cast<int>(r.chain.cuts.size());
  double leastTape = 0;
  for (const ChainFactor &fc : r.chain.chain.factors)
    leastTape = std::max(leastTape, fc.tapeBytes);
  auto tooSmall = [&] {
    return Error("a memory limit of " + formatBytes(uint64_t(memoryLimit)) + " is too small for %" +
                 of + ": one segment of the forward pass needs " +
                 formatBytes(uint64_t(r.chain.workingBytes)) +
                 " to run and the largest tape is " + formatBytes(uint64_t(leastTape)) +
                 ", so at least " + formatBytes(uint64_t(r.chain.workingBytes + leastTape)) +
                 " are needed");
  };
  if (r.tapeLimit < leastTape)
    throw tooSmall();
  double fullTape = 0;
  for (const ChainFactor &fc : r.chain.chain.factors)
    fullTape += fc.tapeBytes;
  if (fullTape <= r.tapeLimit) {
    // Everything fits: the plain reverse sweep, no table needed.
    for (int l = 0; l < q; ++l)
      r.actions.push_back({ReversalAction::Tape, l});
    for (int l = q; l-- > 0;)
      r.actions.push_back({ReversalAction::Reverse, l});
    r.peakBytes = fullTape;
  } else {
    ReversalTable table(r.chain.chain, r.tapeLimit);
    if (table.sweepForwardCost(0, q - 1) == std::numeric_limits<double>::infinity())
      throw tooSmall();
    r.actions = table.sweepActions(0, q - 1);
    r.peakBytes = table.sweepSchedule(0, q - 1).peakBytes;
  }

  Graph out(f.name() + ".grad");
  ScheduleEmitter e(f, r.chain, wrtIds, out);
  // The emitter's copy of f keeps f's ids (it is the graph's first part).
  bool hasOf = false;
  for (NodeId o : f.outputs()) {
    out.addOutput(o);
    hasOf = hasOf || o == ofId;
  }
  if (!hasOf)
    out.addOutput(ofId);
  for (const ReversalAction &a : r.actions)
    e.run(a);
  for (size_t i = 0; i < wrt.size(); ++i) {
    NodeId w = wrtIds[i];
    const TensorType &t = f.type(w);
    MaybeValue g = e.gradient(w);
    Value a = g ? *g : broadcastTo(scalar(out, 0.0, t.dtype), directionShape(1, t.shape));
    Value named = reshape(a, t.shape);
    out.setNodeName(named.id(), "grad." + wrt[i]);
    out.addOutput(named.id());
  }
  r.runs = e.runs();
  r.recomputedNodes = e.recomputedNodes();
  for (int l = 0; l < q; ++l)
    r.recomputeCost += (r.runs[l] - 1) * r.chain.chain.factors[l].forwardCost;
  r.graph = simplify ? eliminateDeadCode(simplifyAlgebra(foldConstants(out))) : std::move(out);
  verifyOrThrow(r.graph);
  return r;
}

} // namespace chainjit::compiler
