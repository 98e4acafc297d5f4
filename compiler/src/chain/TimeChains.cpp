// A scan's step factor for the chain, and how a plan sweeps each recurrence
// through time. The per-step costs are the scan's cost entry (OpCosts.cpp,
// T times the body's ops) divided by T: the T step factors are identical.
#include "chainjit/compiler/TimeChains.h"

#include "RowLocal.h"

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Scan.h"

namespace chainjit::compiler {

using namespace ir;

namespace {

// Body nodes that depend on the parameters marked in `from`.
std::vector<bool> liveFrom(const Function &f, const std::vector<bool> &from) {
  const Graph &body = f.body();
  std::vector<bool> live(body.size(), false);
  for (size_t p = 0; p < f.params().size(); ++p)
    live[f.params()[p]] = from[p];
  for (NodeId b = 0; b < body.size(); ++b)
    for (NodeId o : body.node(b).operands)
      live[b] = live[b] || live[o];
  return live;
}

// Is every live node an element-wise op on values of `shape` (its live
// operands too)? Then the live part's Jacobian is diagonal.
bool elementwiseOn(const Graph &body, const std::vector<bool> &live, const Shape &shape) {
  for (NodeId b = 0; b < body.size(); ++b) {
    const Node &n = body.node(b);
    if (!live[b] || n.kind == OpKind::Input)
      continue;
    if (opDef(n.kind).family != OpFamily::Elementwise || n.type.shape != shape)
      return false;
    for (NodeId o : n.operands)
      if (live[o] && body.type(o).shape != shape)
        return false;
  }
  return true;
}

} // namespace

ScanSteps scanSteps(const Graph &g, NodeId id, const std::vector<bool> &active) {
  const Node &n = g.node(id);
  if (n.kind != OpKind::Scan)
    throw Error("internal: scanSteps of a node that is not a scan", n.loc);
  ScanLayout l = scanLayout(g, id);
  const Function &f = *g.findFunction(n.attrs.getString("body"));
  ScanSteps s;
  s.length = l.length;
  s.step.body = f.name();
  OpCost total = opCost(g, id, active);
  const double T = l.length > 0 ? double(l.length) : 1.0;
  s.step.tangentCost = total.tangent / T;
  s.step.adjointCost = total.adjoint / T;
  s.step.tapeBytes = total.tapeBytes / T;
  for (const TensorType &c : l.carryTypes)
    s.step.state += c.numel();
  for (const TensorType &y : l.yTypes)
    s.step.out += y.numel();
  for (int64_t i = l.carries; i < int64_t(n.operands.size()); ++i)
    if (size_t(i) < active.size() && active[size_t(i)])
      s.step.in += f.paramType(size_t(i)).numel();

  // dh_t/dh_(t-1): diagonal when one carry goes through element-wise ops of
  // its own shape only (IndRNN, diagonal state-space layers).
  if (l.carries != 1)
    return s;
  const Shape &shape = l.carryTypes[0].shape;
  std::vector<bool> carryOnly(f.params().size(), false);
  carryOnly[0] = true;
  std::vector<bool> live = liveFrom(f, carryOnly);
  int nActive = 0, which = -1;
  for (size_t i = 0; i < active.size() && i < n.operands.size(); ++i)
    if (active[i]) {
      ++nActive;
      which = int(i);
    }
  if (!elementwiseOn(f.body(), live, shape)) {
    // A batch of sequences seen from h_0 alone: block-diagonal when every
    // step keeps the rows apart (the flat result is the final state, whose
    // row b is one contiguous block).
    if (nActive == 1 && which == 0 && l.yTypes.empty() && shape.size() >= 1 && shape[0] > 1) {
      bool local = true;
      for (NodeId b = 0; b < f.body().size() && local; ++b)
        if (live[b] && f.body().node(b).kind != OpKind::Input)
          local = rowLocal(f.body(), b, live, shape[0]);
      if (local)
        s.blocks = shape[0];
    }
    return s;
  }
  s.step.structure = JacobianStructure::Diagonal;
  // The whole scan is diagonal from its one active operand when that is the
  // carry or a parameter of the carry's shape entering element-wise, and
  // the result is the final carry alone (no ys).
  if (nActive != 1 || !l.yTypes.empty())
    return s;
  bool invariant = which >= l.carries + l.sequences;
  if (which != 0 && !(invariant && f.paramType(size_t(which)).shape == shape))
    return s;
  std::vector<bool> from(f.params().size(), false);
  from[0] = true;
  from[size_t(which)] = true;
  s.diagonal = elementwiseOn(f.body(), liveFrom(f, from), shape);
  return s;
}

std::vector<TimeSweep> timeSweeps(const JacobianChain &chain, const BracketingPlan &plan) {
  std::vector<TimeSweep> out;
  for (int l = 0; l < int(chain.size()); ++l) {
    if (chain.factors[l].steps <= 1)
      continue;
    for (const PlanNode &n : plan.nodes) {
      // The factors this node sweeps itself (not through its children).
      int first = n.first, last = n.last;
      if (n.step == PlanStep::Tangent)
        first = n.split + 1;
      else if (n.step == PlanStep::Adjoint)
        last = n.split;
      else if (n.step == PlanStep::Multiply || n.step == PlanStep::Given)
        continue;
      if (l < first || l > last)
        continue;
      const ChainFactor &f = chain.factors[l];
      TimeSweep s;
      s.factor = l;
      bool leaf = n.step == PlanStep::TangentLeaf || n.step == PlanStep::AdjointLeaf;
      bool forward = n.step == PlanStep::TangentLeaf || n.step == PlanStep::Tangent;
      s.direction = forward ? TimeDirection::Forward : TimeDirection::Backward;
      if (leaf && first == last) { // seeds as the planner charged them (structure)
        int64_t size = forward ? f.n : f.m;
        if (f.structure == JacobianStructure::Diagonal)
          size = 1;
        else if (f.structure == JacobianStructure::BlockDiagonal)
          size /= f.blocks;
        else if (f.structure == JacobianStructure::Identity ||
                 f.structure == JacobianStructure::Permutation)
          size = 0;
        s.directions = size;
      } else if (forward) {
        s.directions = chain.factors[n.first].n;
      } else {
        s.directions = chain.factors[n.last].m;
      }
      s.tapeBytes = forward ? 0 : f.tapeBytes;
      out.push_back(s);
      break;
    }
  }
  return out;
}

} // namespace chainjit::compiler
