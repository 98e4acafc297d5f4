// Small problems for the training tests, built as IR graphs so that their
// derivatives come from the compiler: quadratics 0.5 xᵀAx - bᵀx and
// logistic regression with the mean of softplus(z) - y z.
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/train/GraphObjective.h"

#include <cmath>
#include <random>
#include <vector>

namespace chainjit::testing {

// One f64 vector param holding `x`.
inline runtime::train::ParamSet vectorParams(const std::vector<double> &x) {
  return {ir::Tensor(ir::f64({static_cast<int64_t>(x.size())}), x)};
}

// A symmetric n x n row-major matrix Qᵀ diag(eigenvalues) Q, with Q a
// seeded random orthogonal matrix (Gram–Schmidt of normal vectors).
inline std::vector<double> symmetricWithEigenvalues(const std::vector<double> &eigenvalues,
                                                    unsigned seed) {
  const size_t n = eigenvalues.size();
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> q(n, std::vector<double>(n));
  for (size_t i = 0; i < n; ++i) {
    for (double &e : q[i])
      e = normal(rng);
    for (size_t j = 0; j < i; ++j) {
      double d = 0;
      for (size_t k = 0; k < n; ++k)
        d += q[i][k] * q[j][k];
      for (size_t k = 0; k < n; ++k)
        q[i][k] -= d * q[j][k];
    }
    double nn = 0;
    for (double e : q[i])
      nn += e * e;
    for (double &e : q[i])
      e /= std::sqrt(nn);
  }
  std::vector<double> a(n * n, 0.0);
  for (size_t r = 0; r < n; ++r)
    for (size_t c = 0; c < n; ++c)
      for (size_t k = 0; k < n; ++k)
        a[r * n + c] += q[k][r] * eigenvalues[k] * q[k][c];
  return a;
}

// f(x) = 0.5 xᵀAx - bᵀx over params x1 (the first `split` entries) and x2
// (the rest), or one param "x" when split is 0: the output is "loss".
inline ir::Graph quadraticGraph(const std::vector<double> &a, const std::vector<double> &b,
                                int64_t split = 0) {
  using namespace ir;
  const int64_t n = static_cast<int64_t>(b.size());
  Graph g("quadratic");
  Value A = constant(g, Tensor(f64({n, n}), a));
  Value bv = constant(g, Tensor(f64({n}), b));
  Value x = split == 0 ? param(g, "x", f64({n}))
                       : concat({param(g, "x1", f64({split})), param(g, "x2", f64({n - split}))});
  Value loss = sum(0.5 * x * matmul(A, x)) - sum(bv * x);
  output(loss.named("loss"));
  return g;
}

// The quadratic as an Objective over the one param "x".
inline runtime::train::GraphObjective quadraticObjective(const std::vector<double> &a,
                                                         const std::vector<double> &b) {
  return runtime::train::GraphObjective(quadraticGraph(a, b), {"x"}, {});
}

inline double quadraticValue(const std::vector<double> &a, const std::vector<double> &b,
                             const std::vector<double> &x) {
  const size_t n = b.size();
  double f = 0;
  for (size_t i = 0; i < n; ++i) {
    double ax = 0;
    for (size_t j = 0; j < n; ++j)
      ax += a[i * n + j] * x[j];
    f += 0.5 * x[i] * ax - b[i] * x[i];
  }
  return f;
}

// b = A x.
inline std::vector<double> times(const std::vector<double> &a, const std::vector<double> &x) {
  const size_t n = x.size();
  std::vector<double> r(n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      r[i] += a[i * n + j] * x[j];
  return r;
}

// Logistic regression on inputs X [n, d] and labels y in {0, 1}: params
// w [d] and b [], loss mean(softplus(Xw + b) - y (Xw + b)).
struct LogisticProblem {
  ir::Graph graph{"logistic"};
  runtime::Bindings data;
};

// Labels from a noisy linear rule, so the classes overlap and the minimizer
// is finite.
inline LogisticProblem logisticProblem(int64_t n, int64_t d, unsigned seed) {
  using namespace ir;
  LogisticProblem p;
  Graph &g = p.graph;
  Value X = input(g, "X", f64({n, d}));
  Value y = input(g, "y", f64({n}));
  Value w = param(g, "w", f64({d}));
  Value b = param(g, "b", f64({}));
  Value z = matmul(X, w) + b;
  output(mean(softplus(z) - y * z).named("loss"));

  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> xs(static_cast<size_t>(n * d)), ys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double score = 0.3;
    for (int64_t j = 0; j < d; ++j) {
      xs[i * d + j] = normal(rng);
      score += (j % 2 ? -1.0 : 1.5) * xs[i * d + j];
    }
    ys[i] = score + 1.5 * normal(rng) > 0 ? 1 : 0;
  }
  p.data["X"] = Tensor(f64({n, d}), xs);
  p.data["y"] = Tensor(f64({n}), ys);
  return p;
}

} // namespace chainjit::testing
