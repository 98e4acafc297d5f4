// The time parts of the cost reports (CostReport.h): the steps of a plan
// with their multiply-adds, bytes and predicted seconds, as text and JSON,
// and the time model itself in JSON.
#pragma once

#include "chainjit/compiler/PlanTime.h"

#include <nlohmann/json.hpp>

#include <string>

namespace chainjit::compiler {

std::string planStepsText(const JacobianChain &chain, const BracketingPlan &plan,
                          const TimeModel &model);
nlohmann::json planStepsJson(const JacobianChain &chain, const BracketingPlan &plan,
                             const TimeModel &model);
nlohmann::json timeModelJson(const TimeModel &model);

} // namespace chainjit::compiler
