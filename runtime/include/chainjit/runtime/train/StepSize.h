// Step sizes s_k for x_{k+1} = x_k - s_k d_k (see docs/training-methods.md):
// a fixed s, s = 1/M with M the Lipschitz constant of the gradient
// (estimated by power iteration on Hessian-vector products), schedules
// c/k, c/sqrt(k) and step decay, and the line searches of LineSearch.h.
#pragma once

#include "chainjit/runtime/train/Objective.h"

#include <cstdint>
#include <string_view>

namespace chainjit::runtime::train {

enum class Schedule {
  Const,   // s_k = c
  Inv,     // s_k = c / k            (k = 1, 2, ... the step number)
  InvSqrt, // s_k = c / sqrt(k)
  Step,    // s_k = c * factor^floor(epoch / every)   (epoch = 0, 1, ...)
};
enum class LineSearch {
  None,         // s_k from the schedule
  Backtracking, // s <- factor * s from the scheduled s until sufficient decrease
  Exact,        // argmin_{s >= 0} f(x - s d) by golden section
};

// "const|inv|invsqrt|step" and "none|backtracking|exact"; anything else is a
// chainjit::Error listing the choices.
Schedule parseSchedule(std::string_view name);
LineSearch parseLineSearch(std::string_view name);
std::string_view scheduleName(Schedule s);
std::string_view lineSearchName(LineSearch l);

struct StepSizeConfig {
  double base = 0.01; // c (the learning rate); replaced by 1/M with inverseLipschitz
  Schedule schedule = Schedule::Const;
  int64_t decayEvery = 10;   // Step: epochs between decays (> 0)
  double decayFactor = 0.5;  // Step: multiplier per decay, in (0, 1]

  // s = 1/M: M estimated once, at the first step, by estimateLipschitz.
  bool inverseLipschitz = false;
  int lipschitzIterations = 50;
  uint64_t lipschitzSeed = 1;

  LineSearch lineSearch = LineSearch::None;
  // Backtracking: s <- backtrackFactor * s until
  //   f(x + s p) <= f(x) + sufficientDecrease * s * ∇f(x)ᵀp
  // which for p = -∇f and the default 1/2 is the lecture's condition
  //   f(x - s ∇f) <= f(x) - ½ s ‖∇f‖².
  double backtrackFactor = 0.5;     // in (0, 1)
  double sufficientDecrease = 0.5;  // in (0, 1)
  int maxBacktracks = 60;
  // Exact: golden section until the bracket is narrower than
  // exactTolerance * (its right end).
  double exactTolerance = 1e-10;

  // Throws chainjit::Error naming the first field out of range.
  void validate() const;
};

// The scheduled step before any line search, for step k >= 1 in epoch
// `epoch` >= 0, from base c (pass 1/M as c for inverseLipschitz).
double scheduledStep(const StepSizeConfig &config, double c, int64_t k, int64_t epoch);

// The largest |eigenvalue| of ∇²f(x) by power iteration on Hessian-vector
// products from a seeded normal random start: after each product the
// Rayleigh quotient |vᵀHv| (v of unit norm) is the estimate. Returns it
// after `iterations` products, or earlier once it changes by less than
// 1e-12 relative.
double estimateLipschitz(Objective &f, const ParamSet &x, int iterations = 50,
                         uint64_t seed = 1);

} // namespace chainjit::runtime::train
