// matmul (vectors, matrices, and batches over leading axes) and solve.
#include "OpFamilies.h"

namespace chainjit::ir::ops {

// NumPy matmul: a 1-D lhs is a row vector and a 1-D rhs a column vector (the
// added axis is dropped from the result); leading axes broadcast.
static TensorType matmulRule(std::span<const TensorType> in, const Attrs &) {
  requireNumeric(in[0], "lhs");
  requireSameDType(in[0], in[1]);
  Shape a = in[0].shape, b = in[1].shape;
  if (a.empty() || b.empty())
    throw Error("operands must have rank >= 1, got " + in[0].str() + " and " +
                in[1].str());
  bool vecA = a.size() == 1, vecB = b.size() == 1;
  if (vecA)
    a.insert(a.begin(), 1);
  if (vecB)
    b.push_back(1);
  int64_t m = a[a.size() - 2], k = a.back(), k2 = b[b.size() - 2], n = b.back();
  if (k != k2)
    throw Error("contraction dimensions differ: " + in[0].str() + " @ " +
                in[1].str() + " (" + std::to_string(k) + " vs " +
                std::to_string(k2) + ")");
  Shape batchA(a.begin(), a.end() - 2), batchB(b.begin(), b.end() - 2);
  auto batch = broadcastShapes(batchA, batchB);
  if (!batch)
    throw Error("batch dimensions of " + in[0].str() + " and " + in[1].str() +
                " do not broadcast");
  Shape s = *batch;
  if (!vecA)
    s.push_back(m);
  if (!vecB)
    s.push_back(n);
  return {in[0].dtype, s};
}

static TensorType solveRule(std::span<const TensorType> in, const Attrs &) {
  requireFloat(in[0], "A");
  requireSameDType(in[0], in[1]);
  requireRank(in[0], 2, "A");
  int64_t n = in[0].shape[0];
  if (in[0].shape[1] != n)
    throw Error("A must be square, got " + in[0].str());
  if ((in[1].rank() != 1 && in[1].rank() != 2) || in[1].shape[0] != n)
    throw Error("b must be [" + std::to_string(n) + "] or [" +
                std::to_string(n) + ", k], got " + in[1].str());
  return in[1];
}

std::vector<OpDef> linalgOps() {
  using F = OpFamily;
  return {
      {OpKind::MatMul, F::LinAlg, 2, 2, {"a", "b"}, {}, matmulRule,
       "matrix product (NumPy matmul: vectors, matrices, batches)"},
      {OpKind::Solve, F::LinAlg, 2, 2, {"A", "b"}, {}, solveRule,
       "x with A x = b, for square A and one or many right-hand sides"},
  };
}

} // namespace chainjit::ir::ops
