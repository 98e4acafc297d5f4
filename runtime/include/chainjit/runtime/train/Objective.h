// What an optimizer minimizes: the loss of a model on fixed data (a batch,
// or the whole training set for full-batch methods) as a function of the
// params. The trainer implements it for its models; GraphObjective.h is the
// ready-made one over a compiled loss graph.
#pragma once

#include "chainjit/runtime/train/ParamSet.h"

#include <cstdint>
#include <vector>

namespace chainjit::runtime::train {

class Objective {
public:
  virtual ~Objective() = default;

  // f(x).
  virtual double value(const ParamSet &x) = 0;
  // Sets g = ∇f(x) (any previous content of g is replaced) and returns f(x).
  virtual double gradient(const ParamSet &x, ParamSet &g) = 0;
  // Sets hv = ∇²f(x) v. The default throws chainjit::Error: an objective
  // without second derivatives cannot drive Newton or estimateLipschitz.
  virtual void hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv);
  // ∇²f(x) as a dense, row-major N x N matrix over all param entries
  // flattened in order (N = totalSize(x)). The default assembles it from N
  // Hessian-vector products with the unit vectors (exactly symmetric
  // afterwards: the mean of H and Hᵀ).
  virtual std::vector<double> hessian(const ParamSet &x);
};

// Replaces h (n x n, row-major) by (h + hᵀ)/2: Hessians assembled from
// separately computed parts are symmetric only up to rounding, and the
// Cholesky solve reads one triangle.
void symmetrize(std::vector<double> &h, int64_t n);

} // namespace chainjit::runtime::train
