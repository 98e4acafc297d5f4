#include "chainjit/compiler/ChainPlanner.h"

#include "chainjit/compiler/Recomputation.h"

#include "ChainTimeCosts.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>

namespace chainjit::compiler {

using S = JacobianStructure;
static constexpr double kInf = std::numeric_limits<double>::infinity();

double productCost(int64_t m, int64_t k, int64_t n, S left, S right, int64_t lb,
                   int64_t rb) {
  // An identity needs no product. A permutation is accumulated as a dense
  // matrix (by pushing the identity through data movement, which is free)
  // and multiplied as one, so it is charged like a dense factor here. With a
  // block-diagonal side, only the products within blocks are done.
  if (left == S::Identity || right == S::Identity)
    return 0;
  const double dm = double(m), dk = double(k), dn = double(n);
  if (left == S::BlockDiagonal && right == S::BlockDiagonal && lb == rb)
    return dm * dk * dn / (double(lb) * double(lb)); // B (m/B)(k/B)(n/B)
  if (left == S::BlockDiagonal && right == S::Diagonal)
    return dm * dk / double(lb); // scale the columns of each block
  if (left == S::Diagonal && right == S::BlockDiagonal)
    return dk * dn / double(rb); // scale the rows of each block
  if (left == S::BlockDiagonal && right != S::Diagonal)
    return dm * dk * dn / double(lb); // each row block meets k/B rows
  if (right == S::BlockDiagonal && left != S::Diagonal)
    return dm * dk * dn / double(rb);
  if (left == S::Diagonal && right == S::Diagonal)
    return static_cast<double>(n);
  if (left == S::Diagonal) // scale the k rows of the right part
    return static_cast<double>(k) * static_cast<double>(n);
  if (right == S::Diagonal) // scale the k columns of the left part
    return static_cast<double>(m) * static_cast<double>(k);
  return static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
}

namespace {

// The DP tables over factor ranges [i, j], stored densely in q*q arrays.
class ChainDP {
public:
  ChainDP(const JacobianChain &chain, const PlannerOptions &opts)
      : c_(chain), o_(opts), q_(static_cast<int>(chain.size())),
        cost_(size_t(q_) * q_, kInf), costByEnd_(size_t(q_) * q_, kInf),
        step_(size_t(q_) * q_),
        split_(size_t(q_) * q_, -1), structure_(size_t(q_) * q_),
        structureByEnd_(size_t(q_) * q_), blocks_(size_t(q_) * q_, 1),
        blocksByEnd_(size_t(q_) * q_, 1) {
    m_.resize(q_);
    for (int l = 0; l < q_; ++l)
      m_[l] = double(chain.factors[l].m);
    denseChain_ = true; // products need no structure lookups
    for (const ChainFactor &f : chain.factors)
      denseChain_ = denseChain_ && f.structure == S::Dense;
    if (o_.timeModel) { // the objective in seconds (ChainTimeCosts.h)
      time_ = std::make_unique<ChainTimeCosts>(chain, *o_.timeModel);
      denseChain_ = false;
    }
    T_.assign(q_ + 1, 0);
    A_.assign(q_ + 1, 0);
    E_.assign(q_ + 1, 0);
    for (int l = 0; l < q_; ++l) {
      const ChainFactor &f = c_.factors[l];
      T_[l + 1] = T_[l] + f.tangentCost;
      A_[l + 1] = A_[l] + f.adjointCost;
      E_[l + 1] = E_[l] + f.tapeBytes;
    }
    // One model for every memory-limited plan (docs/cost-model.md,
    // "Recomputation"): each adjoint sweep is a program of its own that runs
    // forward from the chain input and holds at most the limit; rc(i, k) is
    // what it runs beyond one run of i..k (the restart to v_(i-1) included;
    // nothing for a range without tape, whose adjoint reads no forward
    // value). Without recompute a sweep holds its whole tape; with it, the
    // recomputation tables choose checkpoints, and since they include the
    // whole-tape sweep, recomputing plans are never the costlier. When the
    // whole chain's tape fits, the forward pass keeps every tape: no limit.
    limited_ = o_.tapeLimit && E_[q_] > *o_.tapeLimit;
    if (limited_) {
      if (o_.recompute)
        reversal_ = std::make_unique<ReversalTable>(chain, *o_.tapeLimit);
      std::vector<double> Fw(q_ + 1, 0); // prefix sums of forward costs
      for (int l = 0; l < q_; ++l)
        Fw[l + 1] = Fw[l] + chain.factors[l].forwardCost;
      rc_.assign(size_t(q_) * q_, kInf);
      for (int i = 0; i < q_; ++i)
        for (int k = i; k < q_; ++k) {
          double tape = E_[k + 1] - E_[i];
          rc_[at(i, k)] = reversal_           ? reversal_->sweepRecomputation(i, k)
                          : tape > *o_.tapeLimit ? kInf
                          : tape == 0           ? 0.0
                                                : Fw[i];
        }
    }
  }

  BracketingPlan solve() {
    for (int i = 0; i < q_; ++i)
      leaf(i);
    for (int len = 2; len <= q_; ++len)
      for (int i = 0; i + len - 1 < q_; ++i)
        range(i, i + len - 1);
    if (cost(0, q_ - 1) == kInf)
      throw Error("no bracketing of the chain satisfies the constraints"
                  " (tape limit or allowed steps)");
    BracketingPlan plan;
    build(plan, 0, q_ - 1);
    plan.cost = plan.root().cost;
    plan.tapeBytes = tapeOf(plan);
    plan.recomputed = o_.recompute && o_.tapeLimit;
    if (o_.tapeLimit && !limited_) { // every sweep's tape kept from the forward pass
      plan.tapeBytes = 0;
      for (const PlanNode &n : plan.nodes)
        plan.tapeBytes += sweepTape(n);
    }
    if (limited_) {
      plan.tapeBytes = 0;
      for (PlanNode &n : plan.nodes) {
        if (n.step != PlanStep::AdjointLeaf && n.step != PlanStep::Adjoint)
          continue;
        int last = n.step == PlanStep::Adjoint ? n.split : n.last;
        n.recompute = rc_[at(n.first, last)];
        plan.recomputeCost += n.recompute;
        plan.tapeBytes = std::max(plan.tapeBytes, reversal_ && E_[last + 1] > E_[n.first]
                                                      ? reversal_->sweepSchedule(n.first, last).peakBytes
                                                      : sweepTape(n));
      }
    }
    if (time_) // the table held seconds: predictions to `seconds`, FMA to `cost`
      timedCosts(plan);
    return plan;
  }

  // The tape of one adjoint sweep's range (0 for other steps).
  double sweepTape(const PlanNode &n) const {
    if (n.step == PlanStep::AdjointLeaf)
      return E_[n.last + 1] - E_[n.first];
    if (n.step == PlanStep::Adjoint)
      return E_[n.split + 1] - E_[n.first];
    return 0;
  }

  void timedCosts(BracketingPlan &plan) const {
    annotatePlanTime(c_, plan, *o_.timeModel);
    std::vector<StepCost> own = planStepCosts(c_, plan, *o_.timeModel);
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
      PlanNode &n = plan.nodes[i];
      n.cost = own[i].fma;
      for (int child : {n.left, n.right})
        if (child >= 0)
          n.cost += plan.nodes[size_t(child)].cost;
    }
    plan.cost = plan.root().cost;
  }

  double tapeOf(const BracketingPlan &p) const {
    double t = 0;
    for (const PlanNode &n : p.nodes)
      t = std::max(t, sweepTape(n));
    return t;
  }

private:
  size_t at(int i, int j) const { return size_t(i) * q_ + j; }
  double cost(int i, int j) const { return cost_[at(i, j)]; }
  bool tapeFits(int i, int k) const {
    return !o_.tapeLimit || E_[k + 1] - E_[i] <= *o_.tapeLimit;
  }

  void offer(int i, int j, PlanStep s, int k, double c) {
    if (c < cost_[at(i, j)]) {
      cost_[at(i, j)] = c;
      costByEnd_[size_t(j) * q_ + i] = c;
      step_[at(i, j)] = s;
      split_[at(i, j)] = k;
    }
  }

  void leaf(int i) {
    const ChainFactor &f = c_.factors[i];
    structure_[at(i, i)] = structureByEnd_[size_t(i) * q_ + i] = f.structure;
    blocks_[at(i, i)] = blocksByEnd_[size_t(i) * q_ + i] = f.blocks;
    if (o_.matricesGiven) {
      offer(i, i, PlanStep::Given, -1, 0);
      return;
    }
    // A structured Jacobian is recovered from one sweep seeded with ones
    // (identity and permutations need none).
    double n = double(f.n), m = double(f.m);
    double tan = n * f.tangentCost, adj = m * f.adjointCost;
    if (f.structure == S::Identity || f.structure == S::Permutation)
      tan = adj = 0;
    else if (f.structure == S::Diagonal)
      tan = f.tangentCost, adj = f.adjointCost;
    else if (f.structure == S::BlockDiagonal) // one seed per column of a block
      tan = n / double(f.blocks) * f.tangentCost, adj = m / double(f.blocks) * f.adjointCost;
    if (time_)
      tan = time_->leaf(i, true), adj = time_->leaf(i, false);
    if (o_.tangentLeaves)
      offer(i, i, PlanStep::TangentLeaf, -1, tan);
    if (o_.adjointLeaves && (limited_ ? rc(i, i) < kInf : tapeFits(i, i)))
      offer(i, i, PlanStep::AdjointLeaf, -1, adj + rcObjective(i, i));
  }

  void range(int i, int j) {
    int64_t blocks = 1;
    structure_[at(i, j)] = structureByEnd_[size_t(j) * q_ + i] =
        productStructure(structure_[at(i + 1, j)], c_.factors[i].structure,
                         blocks_[at(i + 1, j)], c_.factors[i].blocks, &blocks);
    blocks_[at(i, j)] = blocksByEnd_[size_t(j) * q_ + i] = blocks;
    rangeValueOnly(i, j);
  }

  // The cost of each candidate for cell (i, j) at split k, written once for
  // the value scan and the choice recovery, which must agree exactly.
  double multiplyCandidate(int i, int j, int k) const {
    S ls = structureByEnd_[size_t(j) * q_ + k + 1], rs = structure_[at(i, k)];
    double product = time_ ? time_->product(c_.factors[j].m, c_.factors[k].m, c_.factors[i].n, ls,
                                            rs, blocksByEnd_[size_t(j) * q_ + k + 1],
                                            blocks_[at(i, k)])
                     : ls == S::Dense && rs == S::Dense
                         ? m_[j] * m_[k] * double(c_.factors[i].n)
                         : productCost(c_.factors[j].m, c_.factors[k].m, c_.factors[i].n, ls,
                                       rs, blocksByEnd_[size_t(j) * q_ + k + 1],
                                       blocks_[at(i, k)]);
    return costByEnd_[size_t(j) * q_ + k + 1] + cost_[at(i, k)] + product;
  }
  double tangentCandidate(int i, int j, int k) const {
    return cost_[at(i, k)] + (time_ ? time_->tangentSteps(i, k, j)
                                    : double(c_.factors[i].n) * (T_[j + 1] - T_[k + 1]));
  }
  double adjointCandidate(int i, int j, int k) const {
    return costByEnd_[size_t(j) * q_ + k + 1] +
           (time_ ? time_->adjointSteps(i, k, j) : m_[j] * (A_[k + 1] - A_[i])) +
           rcObjective(i, k);
  }
  // Under a limit: one adjoint sweep over i..j seeded with the identity (one
  // restart, where a chain of sweeps would pay one each).
  double adjointRangeCandidate(int i, int j) const {
    return (time_ ? time_->adjointSteps(i, j, j) : m_[j] * (A_[j + 1] - A_[i])) +
           rcObjective(i, j);
  }
  double rc(int i, int k) const { return rc_.empty() ? 0.0 : rc_[at(i, k)]; }
  // rc in the objective's unit (seconds with a time model).
  double rcObjective(int i, int k) const {
    double r = rc(i, k);
    return time_ && r < kInf ? time_->recompute(r) : r;
  }
  // The adjoint step at split k pulls through i..k: allowed for k < this.
  int adjointEnd(int i, int j) const {
    if (reversal_) // the recomputation term rules out what does not fit
      return j;
    int end = i;
    while (end < j && tapeFits(i, end))
      ++end;
    return end;
  }

  // The O(q^3) loop finds only the cheapest cost, in three minimum scans;
  // which step and split attain it is recovered for the O(q) cells of the
  // final plan only (choiceOf), from the same candidate functions.
  void rangeValueOnly(int i, int j) {
    double best = kInf;
    if (o_.multiplySteps && denseChain_) {
      // The hot case inlined: contiguous rows, no structure lookups. Same
      // arithmetic as multiplyCandidate.
      const double *rightRow = &cost_[at(i, 0)];
      const double *leftCol = &costByEnd_[size_t(j) * q_];
      const double mj = m_[j], ni = double(c_.factors[i].n);
      best = minOver(i, j, [&](int k) { return leftCol[k + 1] + rightRow[k] + mj * m_[k] * ni; });
    } else if (o_.multiplySteps) {
      best = minOver(i, j, [&](int k) { return multiplyCandidate(i, j, k); });
    }
    if (o_.tangentSteps)
      best = std::min(best, minOver(i, j, [&](int k) { return tangentCandidate(i, j, k); }));
    if (o_.adjointSteps)
      best = std::min(best, minOver(i, adjointEnd(i, j),
                                    [&](int k) { return adjointCandidate(i, j, k); }));
    if (limited_ && o_.adjointLeaves)
      best = std::min(best, adjointRangeCandidate(i, j));
    if (best < kInf) {
      cost_[at(i, j)] = best;
      costByEnd_[size_t(j) * q_ + i] = best;
      step_[at(i, j)] = PlanStep::Multiply;
      split_[at(i, j)] = -2; // decided by choiceOf
    }
  }

  // min over k in [begin, end) of f(k), with four independent minima so the
  // compare-select latency does not serialize the loop.
  template <typename F> static double minOver(int begin, int end, F f) {
    double b0 = kInf, b1 = kInf, b2 = kInf, b3 = kInf;
    int k = begin;
    for (; k + 3 < end; k += 4) {
      double c0 = f(k), c1 = f(k + 1), c2 = f(k + 2), c3 = f(k + 3);
      b0 = c0 < b0 ? c0 : b0;
      b1 = c1 < b1 ? c1 : b1;
      b2 = c2 < b2 ? c2 : b2;
      b3 = c3 < b3 ? c3 : b3;
    }
    for (; k < end; ++k) {
      double c = f(k);
      b0 = c < b0 ? c : b0;
    }
    return std::min(std::min(b0, b1), std::min(b2, b3));
  }

  // The first step and split (in the order of rangeWithChoice) that attain
  // the cell's cost.
  void choiceOf(int i, int j) {
    double target = cost(i, j);
    cost_[at(i, j)] = costByEnd_[size_t(j) * q_ + i] = kInf;
    rangeWithChoice(i, j);
    if (cost(i, j) != target)
      throw Error("internal: the chain DP could not recover its choice");
  }

  // The first step and split, in the order MUL, TAN, ADJ for k ascending,
  // with the cheapest cost.
  void rangeWithChoice(int i, int j) {
    double best = kInf;
    PlanStep bestStep = PlanStep::Multiply;
    int bestK = -1;
    auto consider = [&](PlanStep s, int k, double c) {
      if (c < best) {
        best = c;
        bestStep = s;
        bestK = k;
      }
    };
    int adjEnd = adjointEnd(i, j);
    for (int k = i; k < j; ++k) {
      if (o_.multiplySteps)
        consider(PlanStep::Multiply, k, multiplyCandidate(i, j, k));
      if (o_.tangentSteps)
        consider(PlanStep::Tangent, k, tangentCandidate(i, j, k));
      if (o_.adjointSteps && k < adjEnd)
        consider(PlanStep::Adjoint, k, adjointCandidate(i, j, k));
    }
    if (limited_ && o_.adjointLeaves)
      consider(PlanStep::AdjointLeaf, -1, adjointRangeCandidate(i, j));
    if (bestStep == PlanStep::AdjointLeaf || bestK >= 0)
      offer(i, j, bestStep, bestK, best);
  }

  int build(BracketingPlan &p, int i, int j) {
    if (i != j && split_[at(i, j)] == -2)
      choiceOf(i, j);
    // An adjoint leaf may span a range (recomputation); its split stays -1.
    PlanNode n{step_[at(i, j)], i, j, split_[at(i, j)], -1, -1, cost(i, j)};
    switch (n.step) {
    case PlanStep::Multiply:
      n.left = build(p, n.split + 1, j);
      n.right = build(p, i, n.split);
      break;
    case PlanStep::Tangent:
      n.right = build(p, i, n.split);
      break;
    case PlanStep::Adjoint:
      n.left = build(p, n.split + 1, j);
      break;
    default:
      break;
    }
    p.nodes.push_back(n);
    return static_cast<int>(p.nodes.size()) - 1;
  }

  const JacobianChain &c_;
  const PlannerOptions &o_;
  int q_;
  bool denseChain_ = false;
  std::vector<double> m_;         // output size of each factor
  std::vector<double> T_, A_, E_; // prefix sums of t, a, e
  std::vector<double> cost_;       // [i][j]
  std::vector<double> costByEnd_;  // [j][i], the same numbers
  std::vector<PlanStep> step_;
  std::vector<int> split_;
  std::vector<S> structure_;      // [i][j]: structure of the product
  std::vector<S> structureByEnd_; // [j][i], the same
  std::vector<int64_t> blocks_;      // [i][j]: block count of a block-diagonal product
  std::vector<int64_t> blocksByEnd_; // [j][i], the same
  bool limited_ = false; // a tape limit below the whole chain's tape
  std::unique_ptr<ReversalTable> reversal_; // limited_ with recompute
  std::vector<double> rc_;                  // limited_: [i][k], forward runs of a sweep over i..k
  std::unique_ptr<ChainTimeCosts> time_;    // with PlannerOptions::timeModel
};

} // namespace

BracketingPlan planChain(const JacobianChain &chain, const PlannerOptions &opts) {
  chain.validate();
  return ChainDP(chain, opts).solve();
}

// Pure modes are built directly: one sweep kind over the whole chain, with
// the dense per-direction costs n_1 * sum t and m_q * sum a.
static BracketingPlan pureMode(const JacobianChain &chain, bool tangent) {
  int q = static_cast<int>(chain.size());
  BracketingPlan p;
  double sum = 0, tape = 0;
  for (const ChainFactor &f : chain.factors) {
    sum += tangent ? f.tangentCost : f.adjointCost;
    tape += f.tapeBytes;
  }
  double dirs = tangent ? double(chain.factors.front().n)
                        : double(chain.factors.back().m);
  const ChainFactor &seedFactor = tangent ? chain.factors.front() : chain.factors.back();
  int seed = tangent ? 0 : q - 1;
  double leafCost = tangent ? dirs * seedFactor.tangentCost : dirs * seedFactor.adjointCost;
  p.nodes.push_back({tangent ? PlanStep::TangentLeaf : PlanStep::AdjointLeaf, seed,
                     seed, -1, -1, -1, leafCost});
  p.nodes.back().seeds = dirs; // an identity seed, whatever the factor's structure
  if (q > 1) {
    if (tangent)
      p.nodes.push_back({PlanStep::Tangent, 0, q - 1, 0, -1, 0, dirs * sum});
    else
      p.nodes.push_back({PlanStep::Adjoint, 0, q - 1, q - 2, 0, -1, dirs * sum});
  }
  p.cost = dirs * sum;
  // Classic reverse mode: one sweep holding the whole chain's tape.
  p.tapeBytes = tangent ? 0 : tape;
  return p;
}

ChainCostSummary summarizeChain(const JacobianChain &chain,
                                std::optional<double> tapeLimit, bool recompute,
                                const TimeModel *timeModel) {
  chain.validate();
  ChainCostSummary s;
  s.pureTangent = pureMode(chain, true);
  s.pureAdjoint = pureMode(chain, false);
  s.adjointFitsLimit = !tapeLimit || s.pureAdjoint.tapeBytes <= *tapeLimit;
  if (recompute && tapeLimit && !s.adjointFitsLimit) {
    // One sweep over the whole chain that keeps checkpoints instead.
    ReversalTable table(chain, *tapeLimit);
    int q = static_cast<int>(chain.size());
    double f = table.sweepForwardCost(0, q - 1);
    if (f < kInf) {
      double once = 0;
      for (const ChainFactor &fc : chain.factors)
        once += fc.forwardCost;
      s.pureAdjoint.recomputed = true;
      s.pureAdjoint.recomputeCost = std::max(0.0, f - once);
      s.pureAdjoint.cost += s.pureAdjoint.recomputeCost;
      s.pureAdjoint.nodes.back().cost += s.pureAdjoint.recomputeCost;
      s.pureAdjoint.tapeBytes = table.sweepSchedule(0, q - 1).peakBytes;
      s.adjointFitsLimit = true;
    }
  }
  PlannerOptions pre;
  pre.tapeLimit = tapeLimit;
  pre.tangentSteps = pre.adjointSteps = false;
  pre.timeModel = timeModel;
  s.preaccumulate = planChain(chain, pre);
  PlannerOptions best;
  best.tapeLimit = tapeLimit;
  best.recompute = recompute;
  best.timeModel = timeModel;
  s.optimum = planChain(chain, best);
  if (timeModel) // the pure modes are built, not planned: predict them too
    for (BracketingPlan *p : {&s.pureTangent, &s.pureAdjoint})
      annotatePlanTime(chain, *p, *timeModel);
  return s;
}

int BracketingPlan::count(PlanStep s) const {
  return static_cast<int>(std::count_if(nodes.begin(), nodes.end(),
                                         [&](const PlanNode &n) { return n.step == s; }));
}

namespace {
std::string rangeName(const JacobianChain &c, int first, int last) {
  auto name = [&](int l) {
    const std::string &label = c.factors[l].label;
    return label.empty() ? "F" + std::to_string(l + 1) : label;
  };
  return first == last ? name(first) : name(first) + ".." + name(last);
}

// Is this subtree one sweep kind seeded with the identity over its range?
bool isPure(const BracketingPlan &p, int idx, PlanStep leaf, PlanStep step) {
  const PlanNode &n = p.nodes[idx];
  if (n.step == leaf)
    return true;
  if (n.step != step)
    return false;
  return isPure(p, step == PlanStep::Tangent ? n.right : n.left, leaf, step);
}

std::string render(const BracketingPlan &p, const JacobianChain &c, int idx) {
  const PlanNode &n = p.nodes[idx];
  switch (n.step) {
  case PlanStep::Given:
    return rangeName(c, n.first, n.last);
  case PlanStep::TangentLeaf:
    return "tan[" + rangeName(c, n.first, n.last) + "]";
  case PlanStep::AdjointLeaf:
    return "adj[" + rangeName(c, n.first, n.last) + "]";
  case PlanStep::Multiply:
    return "(" + render(p, c, n.left) + " * " + render(p, c, n.right) + ")";
  case PlanStep::Tangent:
    if (isPure(p, n.right, PlanStep::TangentLeaf, PlanStep::Tangent))
      return "tan[" + rangeName(c, n.first, n.last) + "]";
    return "tan[" + rangeName(c, n.split + 1, n.last) + "](" +
           render(p, c, n.right) + ")";
  case PlanStep::Adjoint:
    if (isPure(p, n.left, PlanStep::AdjointLeaf, PlanStep::Adjoint))
      return "adj[" + rangeName(c, n.first, n.last) + "]";
    return "adj[" + rangeName(c, n.first, n.split) + "](" +
           render(p, c, n.left) + ")";
  }
  return "?";
}
} // namespace

std::string BracketingPlan::expression(const JacobianChain &chain) const {
  return nodes.empty() ? "" : render(*this, chain, static_cast<int>(nodes.size()) - 1);
}

} // namespace chainjit::compiler
