// matmul with NumPy semantics (plain triple loops, f64 accumulation) and
// solve through LAPACK's dgesv (LU with partial pivoting).
#include "interp/Kernels.h"

#include <cmath>

// LAPACK (OpenBLAS provides it): solves A X = B for a column-major n x n A
// and n x nrhs B; A is overwritten by its LU factors and B by X; info > 0
// means U(info, info) is exactly zero, i.e. A is singular.
extern "C" void dgesv_(const int *n, const int *nrhs, double *a, const int *lda,
                       int *ipiv, double *b, const int *ldb, int *info);

namespace chainjit::runtime::interp {

namespace {

using ir::OpKind;
using ir::Shape;
using ir::Tensor;

// NumPy matmul: a 1-D lhs is a row vector [1, k], a 1-D rhs a column vector
// [k, 1] (the added axis is not in the result); the leading "batch" axes of
// both operands broadcast against each other.
Tensor matmulKernel(const KernelArgs &args) {
  const Tensor &a = args.in(0), &b = args.in(1);
  Shape sa = a.shape(), sb = b.shape();
  if (sa.size() == 1)
    sa.insert(sa.begin(), 1);
  if (sb.size() == 1)
    sb.push_back(1);
  int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  Shape batchA(sa.begin(), sa.end() - 2), batchB(sb.begin(), sb.end() - 2);
  Shape batch = *ir::broadcastShapes(batchA, batchB);
  // Which matrix of each operand every batch element reads.
  std::vector<int64_t> matA = broadcastIndex(batchA, batch);
  std::vector<int64_t> matB = broadcastIndex(batchB, batch);

  Tensor r(args.resultType()); // row-major [batch..., m, n] less dropped axes
  for (size_t p = 0; p < matA.size(); ++p) {
    int64_t offA = matA[p] * m * k, offB = matB[p] * k * n;
    int64_t offR = static_cast<int64_t>(p) * m * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q)
          acc += a.at(offA + i * k + q) * b.at(offB + q * n + j);
        storeValue(r, offR + i * n + j, acc);
      }
  }
  return r;
}

// x with A x = b, for b of shape [n] or [n, k].
Tensor solveKernel(const KernelArgs &args) {
  const Tensor &A = args.in(0), &b = args.in(1);
  int n = static_cast<int>(A.shape()[0]);
  int nrhs = b.shape().size() == 1 ? 1 : static_cast<int>(b.shape()[1]);
  Tensor r(args.resultType());
  if (n == 0 || nrhs == 0)
    return r;
  // Row-major in, column-major for LAPACK.
  std::vector<double> lu(static_cast<size_t>(n) * n);
  std::vector<double> x(static_cast<size_t>(n) * nrhs);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j)
      lu[j * n + i] = A.at(int64_t(i) * n + j);
    for (int j = 0; j < nrhs; ++j)
      x[j * n + i] = b.at(int64_t(i) * nrhs + j);
  }
  std::vector<int> pivots(n);
  int info = 0;
  dgesv_(&n, &nrhs, lu.data(), &n, pivots.data(), x.data(), &n, &info);
  if (info > 0)
    args.fail("the matrix " + A.type().str() +
              " is singular (zero pivot in column " + std::to_string(info) +
              " of its LU factorization)");
  if (info < 0)
    args.fail("internal: dgesv rejected argument " + std::to_string(-info));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < nrhs; ++j)
      r.set(int64_t(i) * nrhs + j, x[j * n + i]);
  return r;
}

} // namespace

std::vector<KernelEntry> linalgKernels() {
  return {
      {OpKind::MatMul, matmulKernel},
      {OpKind::Solve, solveKernel},
  };
}

} // namespace chainjit::runtime::interp
