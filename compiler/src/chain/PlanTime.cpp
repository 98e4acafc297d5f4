// A plan's steps under a time model (PlanTime.h), and the prefix sums the
// chain DP's time objective uses (ChainTimeCosts.h). Both follow the rules
// of the multiply-add objective (ChainPlanner.cpp) step for step.
#include "chainjit/compiler/PlanTime.h"

#include "ChainTimeCosts.h"

namespace chainjit::compiler {

using S = JacobianStructure;

double leafDirections(const ChainFactor &f, bool tangent) {
  switch (f.structure) {
  case S::Identity:
  case S::Permutation: return 0; // data movement only
  case S::Diagonal: return 1;     // one seed of ones
  case S::BlockDiagonal: return double(tangent ? f.n : f.m) / double(f.blocks);
  case S::Dense: break;
  }
  return double(tangent ? f.n : f.m);
}

JacobianStructure rangeStructure(const JacobianChain &c, int first, int last, int64_t *blocks) {
  S s = c.factors[size_t(last)].structure;
  int64_t b = c.factors[size_t(last)].blocks;
  for (int l = last - 1; l >= first; --l) {
    int64_t nb = 1;
    s = productStructure(s, c.factors[size_t(l)].structure, b, c.factors[size_t(l)].blocks, &nb);
    b = nb;
  }
  if (blocks)
    *blocks = s == S::BlockDiagonal ? b : 1;
  return s;
}

ChainTimeCosts::ChainTimeCosts(const JacobianChain &chain, const TimeModel &model)
    : chain_(chain), model_(model), q_(chain.size()), tan_(q_ * (q_ + 1), 0),
      adj_(q_ * (q_ + 1), 0) {
  for (size_t r = 0; r < q_; ++r) {
    const double cols = double(chain.factors[r].n), rows = double(chain.factors[r].m);
    for (size_t l = 0; l < q_; ++l) {
      tan_[r * (q_ + 1) + l + 1] =
          tan_[r * (q_ + 1) + l] + model.sweep(chain.factors[l], cols, true).seconds;
      adj_[r * (q_ + 1) + l + 1] =
          adj_[r * (q_ + 1) + l] + model.sweep(chain.factors[l], rows, false).seconds;
    }
  }
}

std::vector<StepCost> planStepCosts(const JacobianChain &c, const BracketingPlan &p,
                                    const TimeModel &model) {
  std::vector<StepCost> out;
  out.reserve(p.nodes.size());
  auto sweeps = [&](int from, int to, double directions, bool tangent) {
    StepCost s;
    for (int l = from; l <= to; ++l)
      s += model.sweep(c.factors[size_t(l)], directions, tangent);
    return s;
  };
  auto withRecompute = [&](StepCost s, double fma) {
    s.fma += fma;
    s.seconds += model.recomputeSeconds(fma);
    return s;
  };
  for (const PlanNode &n : p.nodes) {
    StepCost s;
    switch (n.step) {
    case PlanStep::Given:
      break;
    case PlanStep::TangentLeaf: {
      const ChainFactor &f = c.factors[size_t(n.first)];
      s = model.sweep(f, n.seeds >= 0 ? n.seeds : leafDirections(f, true), true);
      break;
    }
    case PlanStep::AdjointLeaf:
      if (n.first == n.last) {
        const ChainFactor &f = c.factors[size_t(n.first)];
        s = model.sweep(f, n.seeds >= 0 ? n.seeds : leafDirections(f, false), false);
      } else { // a range from an identity seed (recomputation)
        s = sweeps(n.first, n.last, double(c.factors[size_t(n.last)].m), false);
      }
      s = withRecompute(s, n.recompute);
      break;
    case PlanStep::Multiply: {
      int64_t lb = 1, rb = 1;
      S ls = rangeStructure(c, n.split + 1, n.last, &lb);
      S rs = rangeStructure(c, n.first, n.split, &rb);
      s = model.product(c.factors[size_t(n.last)].m, c.factors[size_t(n.split)].m,
                        c.factors[size_t(n.first)].n, ls, rs, lb, rb);
      break;
    }
    case PlanStep::Tangent:
      s = sweeps(n.split + 1, n.last, double(c.factors[size_t(n.first)].n), true);
      break;
    case PlanStep::Adjoint:
      s = withRecompute(sweeps(n.first, n.split, double(c.factors[size_t(n.last)].m), false),
                        n.recompute);
      break;
    }
    out.push_back(s);
  }
  return out;
}

StepCost planTotalCost(const JacobianChain &c, const BracketingPlan &p, const TimeModel &model) {
  StepCost total;
  for (const StepCost &s : planStepCosts(c, p, model))
    total += s;
  return total;
}

void annotatePlanTime(const JacobianChain &c, BracketingPlan &p, const TimeModel &model) {
  std::vector<StepCost> own = planStepCosts(c, p, model);
  for (size_t i = 0; i < p.nodes.size(); ++i) { // children come before parents
    PlanNode &n = p.nodes[i];
    n.seconds = own[i].seconds;
    for (int child : {n.left, n.right})
      if (child >= 0)
        n.seconds += p.nodes[size_t(child)].seconds;
  }
  p.seconds = p.nodes.empty() ? 0 : p.root().seconds;
  p.timed = true;
}

} // namespace chainjit::compiler
