// L1 and L2 penalties with a coefficient per parameter group (per param
// name). L2 is smooth and enters the objective: RegularizedObjective adds
// (λ2/2)‖x‖² to the value, λ2 x to the gradient and λ2 v to Hessian-vector
// products (so every optimizer, line search and Newton see it). L1 is not
// differentiable at 0 and is applied by its proximal operator after each
// step, which gives exact zeros (docs/training-methods.md).
#pragma once

#include "chainjit/runtime/train/Objective.h"

#include <map>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

struct RegularizationConfig {
  double l1 = 0; // for every param not in l1PerParam
  double l2 = 0; // for every param not in l2PerParam
  std::map<std::string, double> l1PerParam;
  std::map<std::string, double> l2PerParam;

  // The coefficients of params `names`, in order. Throws chainjit::Error on
  // a negative coefficient or a per-param entry naming no param.
  std::vector<double> l1For(const std::vector<std::string> &names) const;
  std::vector<double> l2For(const std::vector<std::string> &names) const;
};

// sign(v) * max(|v| - t, 0): the proximal operator of t|.|.
double softThreshold(double v, double t);

// x_i <- softThreshold(x_i, step * l1[p]) for every entry of param p: the
// proximal step for Σ_p l1[p] ‖x_p‖₁ after a gradient step of size `step`.
// Entries with |x_i| <= step * l1[p] become exactly 0.
void proximalL1(ParamSet &x, const std::vector<double> &l1, double step);

// Σ_p l1[p] ‖x_p‖₁ and Σ_p (l2[p] / 2) ‖x_p‖², for reporting the full loss.
double l1Penalty(const ParamSet &x, const std::vector<double> &l1);
double l2Penalty(const ParamSet &x, const std::vector<double> &l2);

// f(x) + Σ_p (l2[p] / 2) ‖x_p‖² over an Objective it does not own.
class RegularizedObjective : public Objective {
public:
  RegularizedObjective(Objective &inner, std::vector<double> l2);
  double value(const ParamSet &x) override;
  double gradient(const ParamSet &x, ParamSet &g) override;
  void hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) override;
  std::vector<double> hessian(const ParamSet &x) override;

private:
  Objective &inner_;
  std::vector<double> l2_;
};

} // namespace chainjit::runtime::train
