// The chain DP's time objective (PlannerOptions::timeModel): the seconds of
// each candidate step, with per-row prefix sums so that every TAN and ADJ
// candidate is O(1), as the multiply-add objective's are. A TAN step at cell
// (i, j) pushes n_i columns and an ADJ step pulls m_j rows, so the sums are
// kept per direction count: tangent by the range's first factor i, adjoint
// by its last factor j. O(q^2) memory.
#pragma once

#include "chainjit/compiler/PlanTime.h"

#include <vector>

namespace chainjit::compiler {

class ChainTimeCosts {
public:
  ChainTimeCosts(const JacobianChain &chain, const TimeModel &model);

  // A leaf sweep through factor i seeded with the identity.
  double leaf(int i, bool tangent) const {
    return model_.sweep(chain_.factors[size_t(i)], leafDirections(chain_.factors[size_t(i)], tangent),
                        tangent)
        .seconds;
  }
  // TAN at (i, j), split k: n_i columns through k+1..j.
  double tangentSteps(int i, int k, int j) const {
    return tan_[row(i) + size_t(j) + 1] - tan_[row(i) + size_t(k) + 1];
  }
  // ADJ at (i, j), split k: m_j rows through i..k (also an adjoint leaf
  // over a range, k = j).
  double adjointSteps(int i, int k, int j) const {
    return adj_[row(j) + size_t(k) + 1] - adj_[row(j) + size_t(i)];
  }
  double product(int64_t m, int64_t k, int64_t n, JacobianStructure l, JacobianStructure r,
                 int64_t lb, int64_t rb) const {
    return model_.product(m, k, n, l, r, lb, rb).seconds;
  }
  double recompute(double fma) const { return model_.recomputeSeconds(fma); }

private:
  size_t row(int i) const { return size_t(i) * (q_ + 1); }
  const JacobianChain &chain_;
  const TimeModel &model_;
  size_t q_;
  std::vector<double> tan_; // [i][l]: sum over l' < l of a sweep of n_i columns through l'
  std::vector<double> adj_; // [j][l]: sum over l' < l of a sweep of m_j rows through l'
};

} // namespace chainjit::compiler
