// The optimization methods of issue 5 (the lecture notes'
// "backpropagation and hyperparameters"): gradient descent, momentum,
// Nesterov's accelerated gradient, Adam and Newton's method, each an
// Optimizer that keeps its state between steps and can export it to a
// checkpoint. An optimizer sees one Objective per step (a batch's loss, or
// the full training loss): how batches are drawn is the trainer's job.
// Formulas and defaults: docs/training-methods.md.
#pragma once

#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/train/Objective.h"
#include "chainjit/runtime/train/ParamSet.h"
#include "chainjit/runtime/train/StepSize.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::runtime::train {

enum class OptimizerKind { GD, Momentum, Nesterov, Adam, Newton };

// "gd|sgd|momentum|nesterov|adam|newton" ("sgd" is GD: the update is the
// same, batch size 1 is the trainer's choice); otherwise chainjit::Error.
OptimizerKind parseOptimizerKind(std::string_view name);
std::string_view optimizerKindName(OptimizerKind kind);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::GD;
  // s_k: the learning rate c, its schedule and line search. Line searches
  // apply to gd, nesterov (from the look-ahead point) and newton.
  StepSizeConfig stepSize;

  // Momentum (heavy ball): z <- ∇f(x) + β z, x <- x - s z.
  double momentum = 0.9;
  // Nesterov: x_{k+1} = y_k - s ∇f(y_k), y_{k+1} = x_{k+1} + β_k (x_{k+1} - x_k)
  // with β_k = (k - 1)/(k + 2) (k = 1, 2, ...), or this constant when set.
  std::optional<double> nesterovBeta;
  // Adam (Kingma & Ba): moments with β1, β2, bias-corrected, ε in the divisor.
  double adamBeta1 = 0.9;
  double adamBeta2 = 0.999;
  double adamEpsilon = 1e-8;
  // Newton: x <- x - s (H + λI)⁻¹ ∇f, λ = 0 when H is positive definite;
  // otherwise λ starts at max(newtonDamping, 1e-10 max|H_ii|) and grows
  // tenfold until H + λI is (Newton.h). Set stepSize.base = 1 for the pure
  // method.
  double newtonDamping = 0;
  int64_t newtonMaxParams = 4096; // a clear error above this many entries

  // L1 coefficients per param (in ParamSet order; empty: none), applied as
  // the proximal step after each update (Regularization.h). L2 belongs in
  // the Objective (RegularizedObjective).
  std::vector<double> l1;

  // Throws chainjit::Error naming the first setting out of range.
  void validate() const;
};

// What the trainer knows about where it is.
struct StepContext {
  int64_t epoch = 0; // 0-based, for the step-decay schedule
};

struct StepReport {
  double loss = 0;        // f at the params the gradient was taken at
  double gradNorm = 0;    // ‖∇f‖ there
  double stepSize = 0;    // the s used
  double damping = 0;     // Newton's λ (0 otherwise)
  int evaluations = 0;    // objective evaluations, gradient ones included
};

class Optimizer {
public:
  explicit Optimizer(OptimizerConfig config);

  // One step on `params` for the objective `f` (one batch): evaluates the
  // gradient (and for Newton the Hessian), picks s_k, updates params and
  // the state, and applies the L1 proximal step.
  StepReport step(Objective &f, ParamSet &params, const StepContext &context = {});

  // The same update from a gradient the caller already has (a fused
  // forward+gradient run): for gd, momentum, nesterov and adam without a
  // line search or 1/M; anything else is a chainjit::Error. Returns the s used.
  double applyGradient(ParamSet &params, const ParamSet &gradient,
                       const StepContext &context = {});

  // For Nesterov the params the optimizer updates are the look-ahead points
  // y_k (the gradient is taken there); this returns the iterate x_k, which
  // is the model to evaluate and save. For the other methods: `params`.
  ParamSet currentIterate(const ParamSet &params) const;

  int64_t stepCount() const { return step_; }
  // M from power iteration once estimated (stepSize.inverseLipschitz).
  std::optional<double> lipschitz() const { return lipschitz_; }
  const OptimizerConfig &config() const { return config_; }
  // Forgets all state: the next step is step 1.
  void reset();

  // The state as named tensors "<prefix>.step", "<prefix>.kind",
  // "<prefix>.lipschitz" (when known) and per param p (names in ParamSet
  // order): "<prefix>.velocity.p" (momentum), "<prefix>.x.p" (nesterov),
  // "<prefix>.adam_m.p" and "<prefix>.adam_v.p" (adam). Scalars are f64;
  // per-param state has the param's type.
  TensorMap exportState(const std::vector<std::string> &paramNames,
                        const std::string &prefix = "optimizer") const;
  // Restores what exportState wrote (tensors not under `prefix` are
  // ignored). Throws chainjit::Error, changing nothing, when the kind
  // differs or a tensor is missing or has the wrong type for `params`.
  void importState(const TensorMap &state, const std::vector<std::string> &paramNames,
                   const ParamSet &params, const std::string &prefix = "optimizer");

private:
  double stepSizeFor(Objective *f, const ParamSet &params, const StepContext &context);
  void applyL1(ParamSet &params, double s) const;

  OptimizerConfig config_;
  int64_t step_ = 0;
  std::optional<double> lipschitz_;
  ParamSet velocity_;  // momentum's z
  ParamSet previousX_; // nesterov's x_k
  ParamSet adamM_, adamV_;
};

} // namespace chainjit::runtime::train
