// The update rules (gd, momentum, nesterov, adam, newton), their step sizes
// and their exportable state. Formulas: docs/training-methods.md.
#include "chainjit/runtime/train/Optimizers.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/LineSearch.h"
#include "chainjit/runtime/train/Newton.h"
#include "chainjit/runtime/train/Regularization.h"

#include <cmath>
#include <functional>
#include <string>

namespace chainjit::runtime::train {

namespace {

constexpr OptimizerKind kAllKinds[] = {OptimizerKind::GD, OptimizerKind::Momentum,
                                       OptimizerKind::Nesterov, OptimizerKind::Adam,
                                       OptimizerKind::Newton};

bool inUnitInterval(double v) { return v >= 0 && v < 1; }

// -g.
ParamSet negated(const ParamSet &g) {
  ParamSet p = g;
  scale(p, -1);
  return p;
}

// Adam's update of one param of element type T (f32 or f64): moments
// stored in T, arithmetic in double.
template <typename T>
void adamUpdate(const OptimizerConfig &config, int64_t k, double s, ir::Tensor &x,
                const ir::Tensor &g, ir::Tensor &m, ir::Tensor &v) {
  const double b1 = config.adamBeta1, b2 = config.adamBeta2;
  const double c1 = 1 - std::pow(b1, static_cast<double>(k));
  const double c2 = 1 - std::pow(b2, static_cast<double>(k));
  T *xd = x.as<T>(), *md = m.as<T>(), *vd = v.as<T>();
  const T *gd = g.as<T>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    double gi = gd[i];
    double mi = b1 * md[i] + (1 - b1) * gi;
    double vi = b2 * vd[i] + (1 - b2) * gi * gi;
    md[i] = static_cast<T>(mi);
    vd[i] = static_cast<T>(vi);
    xd[i] = static_cast<T>(xd[i] - s * (mi / c1) / (std::sqrt(vi / c2) + config.adamEpsilon));
  }
}

} // namespace

OptimizerKind parseOptimizerKind(std::string_view name) {
  if (name == "sgd")
    return OptimizerKind::GD;
  for (OptimizerKind k : kAllKinds)
    if (name == optimizerKindName(k))
      return k;
  throw Error("unknown optimizer '" + std::string(name) +
              "' (expected gd, sgd, momentum, nesterov, adam or newton)");
}

std::string_view optimizerKindName(OptimizerKind kind) {
  switch (kind) {
  case OptimizerKind::GD: return "gd";
  case OptimizerKind::Momentum: return "momentum";
  case OptimizerKind::Nesterov: return "nesterov";
  case OptimizerKind::Adam: return "adam";
  case OptimizerKind::Newton: return "newton";
  }
  return "?";
}

void OptimizerConfig::validate() const {
  stepSize.validate();
  auto fail = [&](const std::string &what) {
    throw Error(std::string(optimizerKindName(kind)) + ": " + what);
  };
  if (!inUnitInterval(momentum))
    fail("the momentum β must be in [0, 1), not " + std::to_string(momentum));
  if (nesterovBeta && !inUnitInterval(*nesterovBeta))
    fail("Nesterov's constant β must be in [0, 1), not " + std::to_string(*nesterovBeta));
  if (!inUnitInterval(adamBeta1) || !inUnitInterval(adamBeta2))
    fail("Adam's β1 and β2 must be in [0, 1)");
  if (!(adamEpsilon > 0))
    fail("Adam's ε must be positive");
  if (!(newtonDamping >= 0) || !std::isfinite(newtonDamping))
    fail("Newton's damping must be finite and >= 0");
  if (newtonMaxParams < 1)
    fail("Newton's parameter limit must be at least 1");
  for (double c : l1)
    if (!(c >= 0) || !std::isfinite(c))
      fail("L1 coefficients must be finite and >= 0");
  if (stepSize.lineSearch != LineSearch::None &&
      (kind == OptimizerKind::Momentum || kind == OptimizerKind::Adam))
    fail("a " + std::string(lineSearchName(stepSize.lineSearch)) +
         " line search applies to gd, nesterov and newton only");
}

Optimizer::Optimizer(OptimizerConfig config) : config_(std::move(config)) { config_.validate(); }

void Optimizer::reset() {
  step_ = 0;
  lipschitz_.reset();
  velocity_.clear();
  previousX_.clear();
  adamM_.clear();
  adamV_.clear();
}

double Optimizer::stepSizeFor(Objective *f, const ParamSet &params, const StepContext &context) {
  const StepSizeConfig &ss = config_.stepSize;
  double c = ss.base;
  if (ss.inverseLipschitz) {
    if (!lipschitz_) {
      if (!f)
        throw Error("the 1/M step size needs the objective to estimate M: use step(), "
                    "not applyGradient()");
      lipschitz_ = estimateLipschitz(*f, params, ss.lipschitzIterations, ss.lipschitzSeed);
      if (!(*lipschitz_ > 0) || !std::isfinite(*lipschitz_))
        throw Error("the 1/M step size: power iteration gave M = " +
                    std::to_string(*lipschitz_));
    }
    c = 1 / *lipschitz_;
  }
  return scheduledStep(ss, c, step_ + 1, context.epoch);
}

void Optimizer::applyL1(ParamSet &params, double s) const {
  if (!config_.l1.empty())
    proximalL1(params, config_.l1, s);
}

namespace {

// The first-order updates from gradient g with step s (k: this step's number).
void firstOrderUpdate(const OptimizerConfig &config, int64_t k, ParamSet &params,
                             const ParamSet &g, double s, ParamSet &velocity,
                             ParamSet &previousX, ParamSet &adamM, ParamSet &adamV,
                             const std::function<void(ParamSet &, double)> &proximal) {
  requireSameLayout(params, g, "optimizer step (params and gradient)");
  switch (config.kind) {
  case OptimizerKind::GD:
    axpy(-s, g, params);
    proximal(params, s);
    return;
  case OptimizerKind::Momentum: // z <- g + β z, x <- x - s z
    if (velocity.empty())
      velocity = zerosLike(params);
    scale(velocity, config.momentum);
    axpy(1, g, velocity);
    axpy(-s, velocity, params);
    proximal(params, s);
    return;
  case OptimizerKind::Nesterov: { // params hold y_k; previousX holds x_k
    if (previousX.empty())
      previousX = params; // x_0 = y_0
    ParamSet x = params;
    axpy(-s, g, x); // x_{k+1} = y_k - s ∇f(y_k)
    proximal(x, s); // with L1 this is FISTA
    double beta = config.nesterovBeta ? *config.nesterovBeta
                                      : static_cast<double>(k - 1) / static_cast<double>(k + 2);
    params = x; // y_{k+1} = x_{k+1} + β_k (x_{k+1} - x_k)
    axpy(beta, x, params);
    axpy(-beta, previousX, params);
    previousX = std::move(x);
    return;
  }
  case OptimizerKind::Adam:
    if (adamM.empty())
      adamM = zerosLike(params), adamV = zerosLike(params);
    for (size_t p = 0; p < params.size(); ++p) {
      if (params[p].dtype() == ir::DType::f64)
        adamUpdate<double>(config, k, s, params[p], g[p], adamM[p], adamV[p]);
      else if (params[p].dtype() == ir::DType::f32)
        adamUpdate<float>(config, k, s, params[p], g[p], adamM[p], adamV[p]);
      else
        throw Error("adam: a trainable parameter must be f32 or f64, not " +
                    params[p].type().str());
    }
    proximal(params, s);
    return;
  case OptimizerKind::Newton:
    break;
  }
  throw Error("newton needs the objective's Hessian: use step(), not applyGradient()");
}

} // namespace

StepReport Optimizer::step(Objective &f, ParamSet &params, const StepContext &context) {
  const StepSizeConfig &ss = config_.stepSize;
  if (config_.kind == OptimizerKind::Newton && totalSize(params) > config_.newtonMaxParams)
    throw Error("Newton's method: the model has " + std::to_string(totalSize(params)) +
                " parameter entries, more than the limit of " +
                std::to_string(config_.newtonMaxParams) +
                " (its Hessian would be that squared; raise newtonMaxParams or use a "
                "first-order method)");
  StepReport r;
  ParamSet g;
  r.loss = f.gradient(params, g);
  r.evaluations = 1;
  r.gradNorm = norm(g);
  double s = stepSizeFor(&f, params, context);

  // The search direction p: Newton's, or -∇f.
  ParamSet p;
  if (config_.kind == OptimizerKind::Newton) {
    NewtonSolution sol = solveNewtonSystem(f.hessian(params), flatten(g), config_.newtonDamping);
    r.damping = sol.damping;
    p = zerosLike(params);
    unflatten(sol.direction, p);
    scale(p, -1);
  } else if (ss.lineSearch != LineSearch::None) {
    p = negated(g);
  }
  if (ss.lineSearch == LineSearch::Backtracking) {
    LineSearchResult ls = backtrackingLineSearch(f, params, r.loss, p, dot(g, p), s, ss);
    s = ls.step;
    r.evaluations += ls.evaluations;
  } else if (ss.lineSearch == LineSearch::Exact) {
    LineSearchResult ls = exactLineSearch(f, params, r.loss, p, s, ss);
    s = ls.step;
    r.evaluations += ls.evaluations;
  }
  r.stepSize = s;

  ++step_;
  if (config_.kind == OptimizerKind::Newton) {
    axpy(s, p, params);
    applyL1(params, s);
  } else {
    firstOrderUpdate(config_, step_, params, g, s, velocity_, previousX_, adamM_, adamV_,
                     [this](ParamSet &x, double t) { applyL1(x, t); });
  }
  return r;
}

double Optimizer::applyGradient(ParamSet &params, const ParamSet &gradient,
                                const StepContext &context) {
  if (config_.stepSize.lineSearch != LineSearch::None)
    throw Error("a line search needs the objective: use step(), not applyGradient()");
  double s = stepSizeFor(nullptr, params, context);
  firstOrderUpdate(config_, step_ + 1, params, gradient, s, velocity_, previousX_, adamM_,
                   adamV_, [this](ParamSet &x, double t) { applyL1(x, t); });
  ++step_;
  return s;
}

ParamSet Optimizer::currentIterate(const ParamSet &params) const {
  if (config_.kind == OptimizerKind::Nesterov && !previousX_.empty())
    return previousX_;
  return params;
}

} // namespace chainjit::runtime::train
