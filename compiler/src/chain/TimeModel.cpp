// The time of one plan step (TimeModel.h): multiply-adds at the rate of the
// kernel that runs them, plus bytes at the copy bandwidth, plus a call.
#include "chainjit/compiler/TimeModel.h"

#include "chainjit/compiler/ChainPlanner.h"

#include <algorithm>

namespace chainjit::compiler {

using S = JacobianStructure;

namespace {
// The entries an accumulated rows x cols part holds: its nonzeros.
double entries(S s, int64_t rows, int64_t cols, int64_t blocks) {
  switch (s) {
  case S::Identity: return 0;
  case S::Diagonal: return double(rows);
  case S::BlockDiagonal: return double(rows) * double(cols) / double(std::max<int64_t>(blocks, 1));
  case S::Permutation:
  case S::Dense: break;
  }
  return double(rows) * double(cols);
}
} // namespace

double TimeModel::moveSeconds(double bytes) const {
  if (bytes <= 0)
    return 0;
  double bw = bytes <= cacheBytes ? cacheBytesPerSecond : memoryBytesPerSecond;
  return bw > 0 ? bytes / bw : 0;
}

StepCost TimeModel::product(int64_t m, int64_t k, int64_t n, S left, S right, int64_t lb,
                            int64_t rb) const {
  StepCost c;
  if (left == S::Identity || right == S::Identity)
    return c; // no product: the other part is the result
  c.fma = productCost(m, k, n, left, right, lb, rb);
  int64_t blocks = 1;
  S result = productStructure(left, right, lb, rb, &blocks);
  c.bytes = double(elemBytes) *
            (entries(left, m, k, lb) + entries(right, k, n, rb) + entries(result, m, n, blocks));
  c.calls = 1;
  const bool dense = (left == S::Dense || left == S::Permutation) &&
                     (right == S::Dense || right == S::Permutation);
  double compute = dense && denseSeconds ? denseSeconds(m, k, n, false)
                   : dense             ? this->dense.at(c.fma)
                   : left == S::BlockDiagonal && right == S::BlockDiagonal
                       ? this->dense.at(c.fma) // block by block: still products
                       : elementwise.at(c.fma);
  c.seconds = compute + moveSeconds(c.bytes);
  return c;
}

StepCost TimeModel::sweep(const ChainFactor &f, double directions, bool tangent) const {
  StepCost c;
  const double per = tangent ? f.tangentCost : f.adjointCost;
  if (directions <= 0 || per <= 0)
    return c; // nothing to compute: a reshape, or no direction
  c.fma = directions * per;
  const double mn = double(f.m) * double(f.n);
  const double coefficients = std::min(per, mn);
  c.bytes = double(elemBytes) * (coefficients + directions * (double(f.n) + double(f.m)));
  c.calls = double(f.steps);
  // A dense factor whose per-direction cost is its m x n entries is a
  // matrix product with the directions; anything else runs at the
  // elementwise rate (scalings, structured or sparse work).
  double compute;
  if (f.structure == S::Dense && per == mn && f.steps == 1 && denseSeconds &&
      directions == double(int64_t(directions)))
    compute = tangent ? denseSeconds(int64_t(directions), f.n, f.m, true) // V F'^T
                      : denseSeconds(int64_t(directions), f.m, f.n, false); // W F'
  else if (f.structure == S::Dense || f.structure == S::BlockDiagonal)
    compute = dense.at(c.fma, c.calls);
  else
    compute = elementwise.at(c.fma, c.calls);
  c.seconds = compute + moveSeconds(c.bytes);
  return c;
}

} // namespace chainjit::compiler
