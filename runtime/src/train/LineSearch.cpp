// Backtracking (sufficient decrease) and exact (golden-section) line
// searches along a direction p.
#include "chainjit/runtime/train/LineSearch.h"

#include "chainjit/ir/Error.h"

#include <cmath>
#include <string>

namespace chainjit::runtime::train {

namespace {

// f(x + s p), counting evaluations.
class LineFunction {
public:
  LineFunction(Objective &f, const ParamSet &x, const ParamSet &p) : f_(f), x_(x), p_(p) {
    requireSameLayout(x, p, "line search");
  }
  double operator()(double s) {
    trial_ = x_;
    axpy(s, p_, trial_);
    ++evaluations;
    return f_.value(trial_);
  }
  int evaluations = 0;

private:
  Objective &f_;
  const ParamSet &x_;
  const ParamSet &p_;
  ParamSet trial_;
};

} // namespace

LineSearchResult backtrackingLineSearch(Objective &f, const ParamSet &x, double fx,
                                        const ParamSet &p, double slope, double s0,
                                        const StepSizeConfig &config) {
  if (!(slope < 0))
    throw Error("backtracking line search: the direction is not a descent direction "
                "(∇fᵀp = " + std::to_string(slope) + ")");
  LineFunction line(f, x, p);
  double s = s0;
  for (int j = 0; j <= config.maxBacktracks; ++j, s *= config.backtrackFactor) {
    double fs = line(s);
    // NaN (an overflowing trial step) fails the test and is backtracked too.
    if (fs <= fx + config.sufficientDecrease * s * slope)
      return {s, fs, line.evaluations};
  }
  throw Error("backtracking line search: no sufficient decrease after " +
              std::to_string(config.maxBacktracks) + " reductions from s = " +
              std::to_string(s0));
}

LineSearchResult exactLineSearch(Objective &f, const ParamSet &x, double fx, const ParamSet &p,
                                 double s0, const StepSizeConfig &config) {
  if (!(s0 > 0))
    throw Error("exact line search: the initial step must be positive");
  LineFunction line(f, x, p);
  // Bracket a < b < c with f(b) < f(a), f(b) <= f(c).
  double a = 0, b = s0, fb = line(b);
  for (int halvings = 0; !(fb < fx); ++halvings) {
    if (halvings == 60)
      return {0, fx, line.evaluations}; // no decrease along p at any scale
    b *= 0.5;
    fb = line(b);
  }
  double c = 2 * b, fc = line(c);
  while (fc < fb) {
    a = b;
    b = c;
    fb = fc;
    c *= 2;
    if (!std::isfinite(c) || c > 1e300)
      throw Error("exact line search: f decreases without bound along the direction");
    fc = line(c);
  }
  // Golden section on [a, c]; the best point seen is the answer.
  const double invPhi = (std::sqrt(5.0) - 1) / 2;
  double best = b, fbest = fb;
  double u = c - invPhi * (c - a), v = a + invPhi * (c - a);
  double fu = line(u), fv = line(v);
  auto keepBest = [&] {
    if (fu < fbest)
      best = u, fbest = fu;
    if (fv < fbest)
      best = v, fbest = fv;
  };
  keepBest();
  for (int it = 0; it < 400 && c - a > config.exactTolerance * c; ++it) {
    if (fu < fv) {
      c = v;
      v = u;
      fv = fu;
      u = c - invPhi * (c - a);
      fu = line(u);
    } else {
      a = u;
      u = v;
      fu = fv;
      v = a + invPhi * (c - a);
      fv = line(v);
    }
    keepBest();
  }
  return {best, fbest, line.evaluations};
}

} // namespace chainjit::runtime::train
