// Step-size schedules, their names, and M (the gradient's Lipschitz
// constant) by power iteration on Hessian-vector products.
#include "chainjit/runtime/train/StepSize.h"

#include "chainjit/ir/Error.h"

#include <cmath>
#include <random>
#include <string>

namespace chainjit::runtime::train {

// Each name is written once, in scheduleName and lineSearchName.
Schedule parseSchedule(std::string_view name) {
  for (Schedule s : {Schedule::Const, Schedule::Inv, Schedule::InvSqrt, Schedule::Step})
    if (name == scheduleName(s))
      return s;
  throw Error("unknown schedule '" + std::string(name) +
              "' (expected const, inv, invsqrt or step)");
}

LineSearch parseLineSearch(std::string_view name) {
  for (LineSearch l : {LineSearch::None, LineSearch::Backtracking, LineSearch::Exact})
    if (name == lineSearchName(l))
      return l;
  throw Error("unknown line search '" + std::string(name) +
              "' (expected none, backtracking or exact)");
}

std::string_view scheduleName(Schedule s) {
  switch (s) {
  case Schedule::Const: return "const";
  case Schedule::Inv: return "inv";
  case Schedule::InvSqrt: return "invsqrt";
  case Schedule::Step: return "step";
  }
  return "?";
}

std::string_view lineSearchName(LineSearch l) {
  switch (l) {
  case LineSearch::None: return "none";
  case LineSearch::Backtracking: return "backtracking";
  case LineSearch::Exact: return "exact";
  }
  return "?";
}

void StepSizeConfig::validate() const {
  auto fail = [](const std::string &what) { throw Error("step size: " + what); };
  if (!(base > 0) || !std::isfinite(base))
    fail("the learning rate must be positive and finite, not " + std::to_string(base));
  if (decayEvery <= 0)
    fail("the step-decay interval must be at least 1 epoch");
  if (!(decayFactor > 0 && decayFactor <= 1))
    fail("the step-decay factor must be in (0, 1], not " + std::to_string(decayFactor));
  if (lipschitzIterations < 1)
    fail("power iteration needs at least 1 iteration");
  if (!(backtrackFactor > 0 && backtrackFactor < 1))
    fail("the backtracking factor must be in (0, 1), not " + std::to_string(backtrackFactor));
  if (!(sufficientDecrease > 0 && sufficientDecrease < 1))
    fail("the sufficient-decrease constant must be in (0, 1), not " +
         std::to_string(sufficientDecrease));
  if (maxBacktracks < 1)
    fail("backtracking needs at least 1 reduction");
  if (!(exactTolerance > 0 && exactTolerance < 1))
    fail("the exact line search tolerance must be in (0, 1)");
}

double scheduledStep(const StepSizeConfig &config, double c, int64_t k, int64_t epoch) {
  if (k < 1)
    throw Error("step sizes are numbered from k = 1, not " + std::to_string(k));
  switch (config.schedule) {
  case Schedule::Const:
    return c;
  case Schedule::Inv:
    return c / static_cast<double>(k);
  case Schedule::InvSqrt:
    return c / std::sqrt(static_cast<double>(k));
  case Schedule::Step:
    return c * std::pow(config.decayFactor, static_cast<double>(epoch / config.decayEvery));
  }
  return c;
}

double estimateLipschitz(Objective &f, const ParamSet &x, int iterations, uint64_t seed) {
  if (iterations < 1)
    throw Error("estimateLipschitz: at least 1 iteration is needed");
  ParamSet v = zerosLike(x);
  std::vector<double> start(static_cast<size_t>(totalSize(x)));
  if (start.empty())
    return 0;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  for (double &e : start)
    e = normal(rng);
  unflatten(start, v);
  ParamSet hv;
  double estimate = 0;
  for (int it = 0; it < iterations; ++it) {
    double nv = norm(v);
    if (nv == 0) // H v = 0: v lies in the null space, the estimate stands
      break;
    scale(v, 1 / nv);
    f.hessianVector(x, v, hv);
    double rayleigh = std::abs(dot(v, hv));
    bool settled = it > 0 && std::abs(rayleigh - estimate) <= 1e-12 * rayleigh;
    estimate = rayleigh;
    if (settled)
      break;
    v = hv;
  }
  return estimate;
}

} // namespace chainjit::runtime::train
