// The dynamic program that brackets a Jacobian chain (chain-dp.md).
//
// C(j,i), the cheapest way to obtain the dense product F'_j ... F'_i, is the
// minimum of
//   leaf   (i == j)  n_i t_i (tangent sweeps seeded with I) or m_i a_i (adjoint)
//   MUL  C(j,k+1) + C(k,i) + cost of multiplying the two parts
//   TAN  C(k,i)   + n_i * sum_{l=k+1..j} t_l   (push columns forward)
//   ADJ  C(j,k+1) + m_j * sum_{l=i..k}   a_l   (pull rows backward)
// over i <= k < j; O(q^3) time with prefix sums. An optional tape limit bounds
// the tape of every adjoint leaf and ADJ step; below the whole chain's tape,
// each adjoint sweep is a program of its own that runs forward from the chain
// input (with or without recomputation: one model, docs/cost-model.md).
#pragma once

#include "chainjit/compiler/JacobianChain.h"

#include <optional>
#include <string>
#include <vector>

namespace chainjit::compiler {

struct TimeModel; // TimeModel.h: the objective in seconds

enum class PlanStep : uint8_t {
  Given,       // the factor's matrix is available (classic matrix chain)
  TangentLeaf, // tan[Fi]: n_i tangent sweeps through one factor
  AdjointLeaf, // adj[Fi]: m_i adjoint sweeps through one factor
  Multiply,    // (A * B): product of two accumulated parts
  Tangent,     // tan[F(k+1)..Fj](X): push the columns of X forward
  Adjoint,     // adj[Fi..Fk](Y): pull the rows of Y backward
};

// One node of a bracketing tree. Factor indices are 0-based (F1 is 0).
struct PlanNode {
  PlanStep step;
  int first = 0, last = 0; // the factors this node's product spans
  int split = -1;          // k: the last factor of the right part (not leaves)
  int left = -1, right = -1; // child node indices: left = F_j..F_(k+1) side
  double cost = 0;         // total cost of this subtree
  double recompute = 0;    // adjoint steps under a limit: its forward cost
                           // beyond one run of its range (in `cost`): the
                           // restart from the chain input, and recomputation
  double seconds = 0;      // predicted seconds of this subtree (with a time model)
  double seeds = -1;       // a leaf's seed directions; -1: as its structure allows
                           // (pure modes seed every column or row: dense)
};

struct BracketingPlan {
  std::vector<PlanNode> nodes; // children before parents; root last
  double cost = 0;             // fused multiply-adds
  double tapeBytes = 0;        // largest tape any adjoint step needs at once
                               // (with recomputation: checkpoints and tapes)
  double recomputeCost = 0;    // forward runs beyond one pass included in `cost`
  bool recomputed = false;     // planned with PlannerOptions::recompute
  double seconds = 0;          // predicted seconds (TimeModel.h), when `timed`
  bool timed = false;          // planned or evaluated with a time model
  const PlanNode &root() const { return nodes.back(); }
  // Readable, documented expression, e.g. "(adj[F3..F4] * tan[F1..F2])".
  // Adjoint/tangent steps over a leaf of the same kind print as one range.
  std::string expression(const JacobianChain &chain) const;
  // Counts of each step kind in the tree, for tests and reports.
  int count(PlanStep s) const;
};

struct PlannerOptions {
  std::optional<double> tapeLimit; // bytes; nullopt = unlimited
  bool tangentLeaves = true;
  bool adjointLeaves = true;
  bool multiplySteps = true;
  bool tangentSteps = true;
  bool adjointSteps = true;
  bool matricesGiven = false;      // leaves are Given and free (matrix chain)
  // With a tape limit below the whole chain's tape, each adjoint sweep is a
  // program of its own: it runs forward from the chain input and pays for
  // every forward run beyond one run of its range (none for a range without
  // tape), and a sweep may cover a range from an identity seed (an adjoint
  // leaf over F_i..F_j). Without `recompute` it holds its whole tape; with
  // it, it keeps checkpoints and recomputes the rest (Recomputation.h), never
  // at a higher cost. O(q^3 K) for K memory units.
  bool recompute = false;
  // The objective: null minimizes fused multiply-adds; a time model
  // (TimeModel.h) minimizes predicted seconds. Node and plan `cost` stay
  // multiply-adds either way; `seconds` holds the prediction.
  const TimeModel *timeModel = nullptr;
};

// The optimal plan; throws chainjit::Error if no plan satisfies the options
// (e.g. nothing is allowed) or the chain is invalid/empty.
BracketingPlan planChain(const JacobianChain &chain, const PlannerOptions &opts = {});

// The plans a report compares against the optimum.
struct ChainCostSummary {
  BracketingPlan pureTangent;   // forward mode: tan[F1..Fq]
  BracketingPlan pureAdjoint;   // reverse mode: adj[F1..Fq] (may exceed the limit)
  BracketingPlan preaccumulate; // every factor accumulated, then best products
  BracketingPlan optimum;
  bool adjointFitsLimit = true; // does pure adjoint respect the tape limit?
};
// With a time model, the optimum and the preaccumulated plan minimize
// predicted seconds, and every plan's `seconds` is filled.
ChainCostSummary summarizeChain(const JacobianChain &chain,
                                std::optional<double> tapeLimit = std::nullopt,
                                bool recompute = false, const TimeModel *timeModel = nullptr);

// The cost of the product of an accumulated (m x k) and (k x n) part with
// the given structures: dense m k n, cheaper when either part is structured.
double productCost(int64_t m, int64_t k, int64_t n, JacobianStructure left,
                   JacobianStructure right, int64_t leftBlocks = 1, int64_t rightBlocks = 1);

} // namespace chainjit::compiler
