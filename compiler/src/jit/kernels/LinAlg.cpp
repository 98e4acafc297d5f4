// The matmul and solve kernels that the core lowering calls directly (their
// params are documented in LibraryKernels.h): matmul through cblas_?gemm at or
// above a flop threshold and plain loops below it (BLAS call overhead
// dominates small products), or, for a large output of a short inner
// dimension, through the rank-k kernel where it measures faster than BLAS;
// solve through LAPACK's LU factorization.
#include "jit/kernels/Blas.h"
#include "jit/kernels/KernelSupport.h"
#include "jit/kernels/MeasuredChoice.h"
#include "jit/kernels/RankKGemm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

// LAPACK (OpenBLAS provides it): the LU factorization with partial pivoting
// of a column-major m x n matrix, in place; ipiv[i] (1-based) is the row
// interchanged with row i; info > 0 means U(info, info) is exactly zero.
extern "C" void sgetrf_(const int *m, const int *n, float *a, const int *lda,
                        int *ipiv, int *info);
extern "C" void dgetrf_(const int *m, const int *n, double *a, const int *lda,
                        int *ipiv, int *info);

namespace chainjit::compiler::jit::kernels {

namespace {

// C = op(A) op(B) with plain loops, for products too small for BLAS. i32
// products wrap modulo 2^32 like the machine's arithmetic, computed unsigned
// so the wrap-around is defined.
template <typename T>
void loopGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
              const T *a, const T *b, T *c) {
  using Acc = std::conditional_t<std::is_integral_v<T>, uint32_t, T>;
  const Acc *A = reinterpret_cast<const Acc *>(a), *B = reinterpret_cast<const Acc *>(b);
  Acc *C = reinterpret_cast<Acc *>(c);
  const int64_t aRow = transA ? 1 : k, aCol = transA ? m : 1; // A(i, q)
  for (int64_t i = 0; i < m; ++i) {
    Acc *row = C + i * n;
    if (!transB) { // row_i(C) = sum_q A(i, q) row_q(B): contiguous in j
      std::fill(row, row + n, Acc(0));
      for (int64_t q = 0; q < k; ++q) {
        const Acc aiq = A[i * aRow + q * aCol];
        const Acc *bq = B + q * n;
        for (int64_t j = 0; j < n; ++j)
          row[j] += aiq * bq[j];
      }
    } else { // C(i, j) = row_i(op(A)) . row_j(B): contiguous in q
      for (int64_t j = 0; j < n; ++j) {
        const Acc *bj = B + j * k;
        Acc acc = 0;
        for (int64_t q = 0; q < k; ++q)
          acc += A[i * aRow + q * aCol] * bj[q];
        row[j] = acc;
      }
    }
  }
}

// C = alpha op(A) op(B) + beta C at or above the BLAS threshold (beta = 0:
// C not read): BLAS's ways, and the rank-k kernel for the shapes it takes,
// whichever this process has measured fastest for the shape (Blas.h).
template <typename T> struct RankKWay {
  bool transA, transB;
  int64_t m, n, k;
  const T *a, *b;
  T *c;
  bool takes, takesParts;
  rankk::Scaling<T> scaling;
  bool offered() const { return takes; }
  // Streaming stores for a plain product whose output the cache would not
  // keep for the op after it (rankk::streams).
  bool streamOffered() const { return takes && !scaled() && rankk::streams<T>(m, n); }
  bool scaled() const {
    return scaling.alpha != T(1) || scaling.beta != T(0) || bool(scaling.then);
  }
  void operator()(bool streamed) const {
    const T *rows = b;
    if (transB) { // B [n, k] copied as [k, n], into a buffer the thread keeps
      T *packed = threadScratch<T, ScratchSlot::PackedOperand>(n * k);
      if (!packed) { // no memory for it: BLAS reads B as it is
        const GemmOperands<T> blas{transA,        transB,       m,           n, k, a, b, c,
                                   scaling.alpha, scaling.beta, scaling.then};
        return blas.block(0, m, 0, n);
      }
      rankk::packTransposed(n, k, b, packed);
      rows = packed;
    }
    rankk::gemm(transA, m, n, k, a, rows, c,
                streamed ? rankk::Stores::Streaming : rankk::Stores::Plain,
                scaled() ? &scaling : nullptr);
  }
  bool partsOffered() const { return takesParts; }
  void part(int64_t q0, int64_t q1, T *out, bool accumulate) const {
    rankk::innerPart(transA, m, n, k, q0, q1, a, b, out, accumulate);
  }
};

template <typename T>
void largeGemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const T *a, const T *b,
               T *c, T alpha = 1, T beta = 0, ChainedUpdate<T> then = {}) {
  // The rank-k kernel's accumulating tiles read C whatever beta is, where
  // BLAS does not read it for beta = 0: it is offered for plain products and
  // for accumulating ones with beta != 0.
  const bool rankK = rankk::applies<T>(transB, m, n, k) && (beta != T(0) || alpha == T(1));
  // Its parts of the inner split write plain products (the split's own
  // condition asks for beta = 0 and no chained update).
  const bool parts = rankk::partsApply<T>(transB) && alpha == T(1);
  gemmRowMajor(transA, transB, m, n, k, a, b, c,
               RankKWay<T>{transA, transB, m, n, k, a, b, c, rankK, parts, {alpha, beta, then}},
               alpha, beta, then);
}

template <typename T>
int32_t matmul(void *const *operands, void *result, const int64_t *p, void *) {
  const int64_t batches = p[0], m = p[1], n = p[2], k = p[3], threshold = p[6];
  const bool transA = p[4] != 0, transB = p[5] != 0;
  const int64_t *offA = p + 7, *offB = p + 7 + batches;
  const T *a = static_cast<const T *>(operands[0]);
  const T *b = static_cast<const T *>(operands[1]);
  T *c = static_cast<T *>(result);
  for (int64_t q = 0; q < batches; ++q) {
    if constexpr (std::is_floating_point_v<T>)
      if (m * n * k >= threshold) {
        largeGemm(transA, transB, m, n, k, a + offA[q], b + offB[q], c + q * m * n);
        continue;
      }
    loopGemm(transA, transB, m, n, k, a + offA[q], b + offB[q], c + q * m * n);
  }
  return kJitOk;
}

// params of cj_matmul_acc_{f32,f64}: those of cj_matmul for one product
// through BLAS's ways ([0] = 1, [6] = 0, [7], [8] = 0), [9] 1 to negate
// the product, [10] -1 for no chained update, else 1 to subtract its term
// and 0 to add it. operands: {A, B, C0, c, p} with c and p scalars, or null
// for 1, then with a chained update {W, s, W'}, s a scalar or null for 1.
// result = c * C0 + (+-p) * op(A) op(B): a training step's update written
// by its weight gradient's GEMM (`w - lr * g`, `mu * v + g`;
// LoweringPlan.cpp, fuseAccumulations), C0 possibly the result's own buffer;
// W' = W +- s * result from each element as it is finished (momentum's
// `w - lr * v'`, ChainedUpdate.h), W' possibly W's own buffer.
// scratch: m * n elements, for what BLAS's scaling cannot give exactly.
template <typename T>
int32_t matmulAccumulate(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const int64_t m = p[1], n = p[2], k = p[3];
  const bool transA = p[4] != 0, transB = p[5] != 0, negate = p[9] != 0;
  const T *a = static_cast<const T *>(operands[0]);
  const T *b = static_cast<const T *>(operands[1]);
  const T *c0 = static_cast<const T *>(operands[2]);
  const T cs = operands[3] ? *static_cast<const T *>(operands[3]) : T(1);
  const T ps = operands[4] ? *static_cast<const T *>(operands[4]) : T(1);
  ChainedUpdate<T> then{};
  if (p[10] >= 0) {
    const T s = operands[6] ? *static_cast<const T *>(operands[6]) : T(1);
    then = {static_cast<const T *>(operands[5]), static_cast<T *>(operands[7]),
            p[10] != 0 ? -s : s};
  }
  T *c = static_cast<T *>(result);
  const int64_t size = m * n;
  // BLAS skips the product for alpha = 0 and C for beta = 0, where
  // c * C0 + p * G keeps a NaN or infinity of the other: then the product
  // goes to scratch and the two are combined as the unfused loop would.
  if (cs == T(0) || ps == T(0) || !std::isfinite(cs) || !std::isfinite(ps)) {
    T *g = static_cast<T *>(scratch);
    largeGemm(transA, transB, m, n, k, a, b, g);
    for (int64_t i = 0; i < size; ++i)
      c[i] = cs * c0[i] + (negate ? -(ps * g[i]) : ps * g[i]);
    if (then)
      then.apply(c, n, 0, m, 0, n);
    return kJitOk;
  }
  if (c != c0)
    std::copy_n(c0, size, c);
  largeGemm(transA, transB, m, n, k, a, b, c, negate ? -ps : ps, cs, then);
  return kJitOk;
}

void getrf(int n, float *a, int *pivots, int *info) { sgetrf_(&n, &n, a, &n, pivots, info); }
void getrf(int n, double *a, int *pivots, int *info) { dgetrf_(&n, &n, a, &n, pivots, info); }

// Y := Y op(T)^-1 for the column-major nrhs x n matrix Y and a triangle of
// the column-major n x n LU factors.
void trsmRight(CBLAS_UPLO uplo, CBLAS_TRANSPOSE trans, CBLAS_DIAG diag, int nrhs,
               int n, const float *lu, float *y) {
  cblas_strsm(CblasColMajor, CblasRight, uplo, trans, diag, nrhs, n, 1.0f, lu, n, y, nrhs);
}
void trsmRight(CBLAS_UPLO uplo, CBLAS_TRANSPOSE trans, CBLAS_DIAG diag, int nrhs,
               int n, const double *lu, double *y) {
  cblas_dtrsm(CblasColMajor, CblasRight, uplo, trans, diag, nrhs, n, 1.0, lu, n, y, nrhs);
}

// Swaps rows i and pivots[i] - 1 of the row-major x [n, nrhs], for i upwards
// or downwards.
template <typename T>
void swapRows(T *x, const int *pivots, int n, int nrhs, bool upwards) {
  for (int s = 0; s < n; ++s) {
    int i = upwards ? s : n - 1 - s, r = pivots[i] - 1;
    if (r != i)
      std::swap_ranges(x + int64_t(i) * nrhs, x + int64_t(i + 1) * nrhs, x + int64_t(r) * nrhs);
  }
}

// The row-major A copied as it is reads, column-major, as M = A^T, and
// getrf factors M = P L U. The row-major b and x [n, nrhs] read as B^T and
// X^T (nrhs x n), so the system becomes one solved from the right:
//   A x = b:    X^T M = B^T,   X^T = B^T U^-1 L^-1 P^T
//   A^T x = b:  X^T M^T = B^T, X^T = B^T P L^-T U^-T
// with P = P_1 ... P_n the interchanges of getrf. These are getrs' own steps
// (interchanges and two triangular solves), applied from the right, which
// getrs does not offer: no transposed copy of b or x is needed.
template <typename T>
int32_t solve(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const int n = static_cast<int>(p[0]), nrhs = static_cast<int>(p[1]);
  const bool transposed = p[2] != 0, factorized = p[3] != 0;
  T *lu = static_cast<T *>(scratch);
  int *pivots = reinterpret_cast<int *>(lu + int64_t(n) * n);
  T *x = static_cast<T *>(result);
  if (n == 0 || nrhs == 0)
    return kJitOk;
  if (!factorized) {
    std::copy_n(static_cast<const T *>(operands[0]), int64_t(n) * n, lu);
    int info = 0;
    getrf(n, lu, pivots, &info);
    if (info > 0)
      return kJitSingularMatrix;
  } else {
    for (int i = 0; i < n; ++i) // a reused singular factorization stays singular
      if (lu[int64_t(i) * n + i] == T(0))
        return kJitSingularMatrix;
  }
  std::copy_n(static_cast<const T *>(operands[1]), int64_t(n) * nrhs, x);
  if (!transposed) {
    trsmRight(CblasUpper, CblasNoTrans, CblasNonUnit, nrhs, n, lu, x);
    trsmRight(CblasLower, CblasNoTrans, CblasUnit, nrhs, n, lu, x);
    swapRows(x, pivots, n, nrhs, /*upwards=*/false);
  } else {
    swapRows(x, pivots, n, nrhs, /*upwards=*/true);
    trsmRight(CblasLower, CblasTrans, CblasUnit, nrhs, n, lu, x);
    trsmRight(CblasUpper, CblasTrans, CblasNonUnit, nrhs, n, lu, x);
  }
  return kJitOk;
}

} // namespace

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_matmul, matmul)
CJ_DEFINE_KERNEL(cj_matmul_i32, matmul<int32_t>)
CJ_DEFINE_FLOAT_KERNELS(cj_solve, solve)
CJ_DEFINE_FLOAT_KERNELS(cj_matmul_acc, matmulAccumulate)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::linalgSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_matmul), CJ_SYMBOL(cj_matmul_i32), CJ_FLOAT_SYMBOLS(cj_solve),
          CJ_FLOAT_SYMBOLS(cj_matmul_acc)};
}
