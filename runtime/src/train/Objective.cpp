// The default second derivatives of an Objective: none for Hessian-vector
// products, and a dense Hessian assembled column by column from them.
#include "chainjit/runtime/train/Objective.h"

#include "chainjit/ir/Error.h"

namespace chainjit::runtime::train {

void Objective::hessianVector(const ParamSet &, const ParamSet &, ParamSet &) {
  throw Error("this objective has no Hessian-vector products (Newton's method and the "
              "1/M step size need second derivatives)");
}

std::vector<double> Objective::hessian(const ParamSet &x) {
  const int64_t n = totalSize(x);
  std::vector<double> h(static_cast<size_t>(n * n));
  std::vector<double> unit(static_cast<size_t>(n), 0.0);
  ParamSet e = zerosLike(x), column;
  for (int64_t j = 0; j < n; ++j) {
    unit[j] = 1;
    unflatten(unit, e);
    unit[j] = 0;
    hessianVector(x, e, column);
    std::vector<double> c = flatten(column);
    for (int64_t i = 0; i < n; ++i)
      h[i * n + j] = c[i];
  }
  symmetrize(h, n);
  return h;
}

void symmetrize(std::vector<double> &h, int64_t n) {
  if (static_cast<int64_t>(h.size()) != n * n)
    throw Error("symmetrize: " + std::to_string(h.size()) + " entries are no " +
                std::to_string(n) + " x " + std::to_string(n) + " matrix");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) {
      double m = 0.5 * (h[i * n + j] + h[j * n + i]);
      h[i * n + j] = h[j * n + i] = m;
    }
}

} // namespace chainjit::runtime::train
