// Newton's linear solve and a symmetric eigenvalue helper, both LAPACK
// (OpenBLAS provides it). Row-major symmetric matrices are their own
// column-major transposes, so they go to LAPACK unchanged.
#include "chainjit/runtime/train/Newton.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cmath>
#include <string>

// Cholesky factorization A = LLᵀ of a symmetric positive definite matrix
// (uplo 'L': the lower triangle is read and overwritten by L); info > 0
// means the leading minor of that order is not positive definite.
extern "C" void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
// Solves A X = B with the factor from dpotrf; B is overwritten by X.
extern "C" void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
                        const int *lda, double *b, const int *ldb, int *info);
// Eigenvalues (jobz 'N') of a symmetric matrix into w, ascending.
extern "C" void dsyev_(const char *jobz, const char *uplo, const int *n, double *a,
                       const int *lda, double *w, double *work, const int *lwork, int *info);

namespace chainjit::runtime::train {

namespace {

int checkedOrder(const std::vector<double> &matrix, const char *what) {
  size_t n = static_cast<size_t>(std::llround(std::sqrt(static_cast<double>(matrix.size()))));
  if (n * n != matrix.size())
    throw Error(std::string(what) + ": a matrix of " + std::to_string(matrix.size()) +
                " entries is not square");
  for (double v : matrix)
    if (!std::isfinite(v))
      throw Error(std::string(what) + ": the matrix has a non-finite entry");
  return static_cast<int>(n);
}

// Cholesky of `a` + damping I in place; whether it is positive definite.
bool choleskyWithShift(std::vector<double> &a, const std::vector<double> &h, int n,
                       double damping) {
  a = h;
  for (int i = 0; i < n; ++i)
    a[static_cast<size_t>(i) * n + i] += damping;
  int info = 0;
  dpotrf_("L", &n, a.data(), &n, &info);
  if (info < 0)
    throw Error("dpotrf: argument " + std::to_string(-info) + " is invalid");
  return info == 0;
}

} // namespace

NewtonSolution solveNewtonSystem(const std::vector<double> &hessian,
                                 const std::vector<double> &gradient,
                                 double initialDamping) {
  const int n = checkedOrder(hessian, "Newton's method");
  if (static_cast<int>(gradient.size()) != n)
    throw Error("Newton's method: a " + std::to_string(n) + " x " + std::to_string(n) +
                " Hessian with a gradient of " + std::to_string(gradient.size()) + " entries");
  for (double v : gradient)
    if (!std::isfinite(v))
      throw Error("Newton's method: the gradient has a non-finite entry");
  NewtonSolution s;
  if (n == 0)
    return s;
  std::vector<double> factor;
  double damping = 0;
  if (!choleskyWithShift(factor, hessian, n, 0)) {
    double maxDiag = 1;
    for (int i = 0; i < n; ++i)
      maxDiag = std::max(maxDiag, std::abs(hessian[static_cast<size_t>(i) * n + i]));
    damping = std::max(initialDamping, 1e-10 * maxDiag);
    while (!choleskyWithShift(factor, hessian, n, damping)) {
      damping *= 10;
      if (damping > 1e20)
        throw Error("Newton's method: H + λI is not positive definite for any λ up to 1e20");
    }
  }
  s.direction = gradient;
  s.damping = damping;
  int one = 1, info = 0;
  dpotrs_("L", &n, &one, factor.data(), &n, s.direction.data(), &n, &info);
  if (info != 0)
    throw Error("dpotrs: argument " + std::to_string(-info) + " is invalid");
  return s;
}

std::vector<double> symmetricEigenvalues(const std::vector<double> &matrix) {
  const int n = checkedOrder(matrix, "symmetricEigenvalues");
  std::vector<double> a = matrix, w(static_cast<size_t>(n));
  if (n == 0)
    return w;
  int lwork = std::max(1, 3 * n - 1), info = 0;
  std::vector<double> work(static_cast<size_t>(lwork));
  dsyev_("N", "L", &n, a.data(), &n, w.data(), work.data(), &lwork, &info);
  if (info != 0)
    throw Error("dsyev: " + (info < 0 ? "argument " + std::to_string(-info) + " is invalid"
                                      : std::string("did not converge")));
  return w;
}

} // namespace chainjit::runtime::train
