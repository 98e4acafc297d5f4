// Line searches along a descent direction p (p = -∇f(x) for gradient
// descent): backtracking with the sufficient-decrease (Armijo) condition and
// an exact search by golden section. The formulas, brackets and defaults are
// in docs/training-methods.md.
#pragma once

#include "chainjit/runtime/train/Objective.h"
#include "chainjit/runtime/train/StepSize.h"

namespace chainjit::runtime::train {

struct LineSearchResult {
  double step = 0;      // the accepted s
  double value = 0;     // f(x + s p)
  int evaluations = 0;  // calls of f.value
};

// Backtracking from s0: the first s = s0 * factor^j (j = 0, 1, ...) with
//   f(x + s p) <= fx + c * s * slope,   slope = ∇f(x)ᵀp < 0,
// c = config.sufficientDecrease, factor = config.backtrackFactor. Throws
// chainjit::Error when p is no descent direction (slope >= 0) or no s
// passes within config.maxBacktracks reductions.
LineSearchResult backtrackingLineSearch(Objective &f, const ParamSet &x, double fx,
                                        const ParamSet &p, double slope, double s0,
                                        const StepSizeConfig &config);

// argmin_{s >= 0} f(x + s p), for p a descent direction. Bracket: from
// s0 > 0, halve s while f(x + s p) >= fx (s = 0 is returned if 60 halvings
// find no decrease), then double it while f keeps decreasing, giving
// a < b < c with f(b) below f(a) and f(c); golden-section search on [a, c]
// until c - a <= config.exactTolerance * c. Exact for any unimodal f along
// the line, and on a quadratic the result is gᵀg / gᵀAg for p = -g to
// about 1e-8 relative.
LineSearchResult exactLineSearch(Objective &f, const ParamSet &x, double fx, const ParamSet &p,
                                 double s0, const StepSizeConfig &config);

} // namespace chainjit::runtime::train
