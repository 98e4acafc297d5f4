// An optimizer's state as named tensors, for checkpoints (Checkpoint.h):
// what exportState writes, importState checks completely before it changes
// anything.
#include "CheckpointCount.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/Optimizers.h"

#include <cmath>
#include <string>
#include <utility>

namespace chainjit::runtime::train {

TensorMap Optimizer::exportState(const std::vector<std::string> &paramNames,
                                 const std::string &prefix) const {
  TensorMap out;
  out[prefix + ".step"] = ir::Tensor::scalar(ir::DType::f64, static_cast<double>(step_));
  out[prefix + ".kind"] =
      ir::Tensor::scalar(ir::DType::f64, static_cast<double>(config_.kind));
  if (lipschitz_)
    out[prefix + ".lipschitz"] = ir::Tensor::scalar(ir::DType::f64, *lipschitz_);
  auto add = [&](const std::string &slot, const ParamSet &state) {
    if (state.empty())
      return;
    if (state.size() != paramNames.size())
      throw Error("exportState: " + std::to_string(paramNames.size()) + " names for " +
                  std::to_string(state.size()) + " params");
    for (size_t i = 0; i < state.size(); ++i)
      out[prefix + "." + slot + "." + paramNames[i]] = state[i];
  };
  add("velocity", velocity_);
  add("x", previousX_);
  add("adam_m", adamM_);
  add("adam_v", adamV_);
  return out;
}

void Optimizer::importState(const TensorMap &state, const std::vector<std::string> &paramNames,
                            const ParamSet &params, const std::string &prefix) {
  if (paramNames.size() != params.size())
    throw Error("importState: " + std::to_string(paramNames.size()) + " names for " +
                std::to_string(params.size()) + " params");
  auto scalarAt = [&](const std::string &name, bool required) -> std::optional<double> {
    auto it = state.find(prefix + "." + name);
    if (it == state.end()) {
      if (required)
        throw Error("optimizer state: no tensor '" + prefix + "." + name + "'");
      return std::nullopt;
    }
    if (it->second.type() != ir::TensorType{ir::DType::f64, {}})
      throw Error("optimizer state: '" + prefix + "." + name + "' is " +
                  it->second.type().str() + ", expected f64[]");
    return it->second.at(0);
  };
  double kind = *scalarAt("kind", true);
  if (kind != static_cast<double>(config_.kind)) {
    std::string saved = "an unknown optimizer";
    if (kind >= 0 && kind <= static_cast<double>(OptimizerKind::Newton) && kind == std::floor(kind))
      saved = std::string(optimizerKindName(static_cast<OptimizerKind>(static_cast<int>(kind))));
    throw Error("optimizer state: saved by " + saved + ", but this optimizer is " +
                std::string(optimizerKindName(config_.kind)));
  }
  int64_t step = checkpointCount(*scalarAt("step", true), "optimizer state: '" + prefix + ".step'");
  std::optional<double> lipschitz = scalarAt("lipschitz", false);

  // The per-param tensors this kind keeps once it has taken a step.
  std::vector<std::string> slots;
  switch (config_.kind) {
  case OptimizerKind::Momentum: slots = {"velocity"}; break;
  case OptimizerKind::Nesterov: slots = {"x"}; break;
  case OptimizerKind::Adam: slots = {"adam_m", "adam_v"}; break;
  default: break;
  }
  std::vector<ParamSet> loaded;
  std::string problems;
  for (const std::string &slot : slots) {
    ParamSet values;
    for (size_t i = 0; i < params.size(); ++i) {
      std::string name = prefix + "." + slot + "." + paramNames[i];
      auto it = state.find(name);
      if (it == state.end()) {
        problems += "\n  missing '" + name + "'";
      } else if (it->second.type() != params[i].type()) {
        problems += "\n  '" + name + "' is " + it->second.type().str() + ", expected " +
                    params[i].type().str();
      } else {
        values.push_back(it->second);
      }
    }
    loaded.push_back(std::move(values));
  }
  // A fresh optimizer (step 0) has no per-param state yet.
  bool none = true;
  for (const ParamSet &v : loaded)
    none = none && v.empty();
  if (!problems.empty() && !(step == 0 && none))
    throw Error("optimizer state of " + std::string(optimizerKindName(config_.kind)) +
                " does not fit the params:" + problems);

  reset();
  step_ = step;
  lipschitz_ = lipschitz;
  if (problems.empty())
    for (size_t s = 0; s < slots.size(); ++s) {
      ParamSet &target = slots[s] == "velocity" ? velocity_
                         : slots[s] == "x"      ? previousX_
                         : slots[s] == "adam_m" ? adamM_
                                                : adamV_;
      target = std::move(loaded[s]);
    }
}

} // namespace chainjit::runtime::train
