// The linear solve of Newton's method, H d = g, through LAPACK.
//
// Choice (docs/training-methods.md): Cholesky (dpotrf + dpotrs) of H when it
// is positive definite; otherwise Cholesky of H + λI with λ increased
// tenfold until the factorization succeeds (a Levenberg–Marquardt-style
// damping). Unlike an indefinite solve (dsysv) this always gives a descent
// direction, -d with gᵀd > 0, so a line search can follow; and as λ grows
// the step turns toward a short gradient step.
#pragma once

#include <vector>

namespace chainjit::runtime::train {

struct NewtonSolution {
  std::vector<double> direction; // d with (H + damping I) d = g
  double damping = 0;            // the λ used (0: H itself was positive definite)
};

// `hessian` is n x n row-major and symmetric, `gradient` has n entries.
// The first damped try uses λ = max(initialDamping, 1e-10 * max(1, max_i |H_ii|)).
// Throws chainjit::Error on mismatched sizes, a non-finite entry, or when
// no λ up to 1e20 gives a positive definite matrix.
NewtonSolution solveNewtonSystem(const std::vector<double> &hessian,
                                 const std::vector<double> &gradient,
                                 double initialDamping = 0);

// The eigenvalues of a symmetric n x n row-major matrix, ascending (LAPACK
// dsyev): for tests and for reporting the conditioning m/M of a Hessian.
std::vector<double> symmetricEigenvalues(const std::vector<double> &matrix);

} // namespace chainjit::runtime::train
