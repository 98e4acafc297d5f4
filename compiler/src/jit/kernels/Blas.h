// Internal to the library kernels: row-major GEMM through OpenBLAS, one name
// for float and double, with the degenerate sizes BLAS rejects handled here.
// OpenBLAS's LP64 interface takes int sizes: a matrix side must stay below
// 2^31.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <cstdint>

namespace chainjit::compiler::jit::kernels {

inline void blasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                     const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
inline void blasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                     const double *a, int lda, const double *b, int ldb, double *c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

// C [m, n] = op(A) op(B), all dense row-major: op(A) is A [m, k] or, with
// transA, A [k, m] transposed; likewise op(B) from [k, n] or [n, k]. BLAS
// rejects leading dimensions of 0, so empty products are done here: no
// output, or k = 0 (a sum of nothing, zeros).
template <typename T>
void gemmRowMajor(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  const T *a, const T *b, T *c) {
  if (m == 0 || n == 0)
    return;
  if (k == 0) {
    std::fill(c, c + m * n, T(0));
    return;
  }
  blasGemm(transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
           static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a,
           static_cast<int>(transA ? m : k), b, static_cast<int>(transB ? k : n), c,
           static_cast<int>(n));
}

} // namespace chainjit::compiler::jit::kernels
