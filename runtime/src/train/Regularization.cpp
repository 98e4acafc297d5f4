// L1 (proximal soft-thresholding) and L2 (a smooth term of the objective)
// penalties with one coefficient per param.
#include "chainjit/runtime/train/Regularization.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cmath>

namespace chainjit::runtime::train {

namespace {

std::vector<double> coefficientsFor(const char *what, double all,
                                    const std::map<std::string, double> &perParam,
                                    const std::vector<std::string> &names) {
  for (const auto &[name, c] : perParam)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw Error(std::string(what) + " coefficient for '" + name +
                  "', which is no trainable param");
  std::vector<double> cs;
  for (const std::string &n : names) {
    auto it = perParam.find(n);
    double c = it == perParam.end() ? all : it->second;
    if (!(c >= 0) || !std::isfinite(c))
      throw Error(std::string(what) + " coefficient of '" + n +
                  "' must be finite and >= 0, not " + std::to_string(c));
    cs.push_back(c);
  }
  return cs;
}

void requireOnePerParam(const std::vector<double> &cs, const ParamSet &x, const char *what) {
  if (cs.size() != x.size())
    throw Error(std::string(what) + ": " + std::to_string(cs.size()) + " coefficients for " +
                std::to_string(x.size()) + " params");
}

// Per-param sums of g(entry) weighted by the coefficient.
template <typename G>
double weightedSum(const ParamSet &x, const std::vector<double> &cs, G g) {
  double total = 0;
  for (size_t p = 0; p < x.size(); ++p) {
    if (cs[p] == 0)
      continue;
    double acc = 0;
    for (int64_t i = 0; i < x[p].numel(); ++i)
      acc += g(x[p].at(i));
    total += cs[p] * acc;
  }
  return total;
}

// A ParamSet with every entry of param p equal to c[p] * x_p.
ParamSet scaledPerParam(const ParamSet &x, const std::vector<double> &cs) {
  ParamSet r = x;
  for (size_t p = 0; p < r.size(); ++p) {
    ParamSet one{r[p]};
    scale(one, cs[p]);
    r[p] = std::move(one[0]);
  }
  return r;
}

} // namespace

std::vector<double> RegularizationConfig::l1For(const std::vector<std::string> &names) const {
  return coefficientsFor("L1", l1, l1PerParam, names);
}

std::vector<double> RegularizationConfig::l2For(const std::vector<std::string> &names) const {
  return coefficientsFor("L2", l2, l2PerParam, names);
}

double softThreshold(double v, double t) {
  if (v > t)
    return v - t;
  if (v < -t)
    return v + t;
  return 0;
}

void proximalL1(ParamSet &x, const std::vector<double> &l1, double step) {
  requireOnePerParam(l1, x, "proximalL1");
  for (size_t p = 0; p < x.size(); ++p) {
    double t = step * l1[p];
    if (t == 0)
      continue;
    for (int64_t i = 0; i < x[p].numel(); ++i)
      x[p].set(i, softThreshold(x[p].at(i), t));
  }
}

double l1Penalty(const ParamSet &x, const std::vector<double> &l1) {
  requireOnePerParam(l1, x, "l1Penalty");
  return weightedSum(x, l1, [](double v) { return std::abs(v); });
}

double l2Penalty(const ParamSet &x, const std::vector<double> &l2) {
  requireOnePerParam(l2, x, "l2Penalty");
  return 0.5 * weightedSum(x, l2, [](double v) { return v * v; });
}

RegularizedObjective::RegularizedObjective(Objective &inner, std::vector<double> l2)
    : inner_(inner), l2_(std::move(l2)) {}

double RegularizedObjective::value(const ParamSet &x) {
  return inner_.value(x) + l2Penalty(x, l2_);
}

double RegularizedObjective::gradient(const ParamSet &x, ParamSet &g) {
  double f = inner_.gradient(x, g) + l2Penalty(x, l2_);
  axpy(1, scaledPerParam(x, l2_), g);
  return f;
}

void RegularizedObjective::hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) {
  requireOnePerParam(l2_, x, "RegularizedObjective");
  inner_.hessianVector(x, v, hv);
  axpy(1, scaledPerParam(v, l2_), hv);
}

std::vector<double> RegularizedObjective::hessian(const ParamSet &x) {
  requireOnePerParam(l2_, x, "RegularizedObjective");
  std::vector<double> h = inner_.hessian(x);
  const int64_t n = totalSize(x);
  int64_t k = 0;
  for (size_t p = 0; p < x.size(); ++p)
    for (int64_t i = 0; i < x[p].numel(); ++i, ++k)
      h[k * n + k] += l2_[p];
  return h;
}

} // namespace chainjit::runtime::train
