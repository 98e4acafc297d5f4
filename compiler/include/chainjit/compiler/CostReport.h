// Cost reports: what the chain-order optimizer found and why, as text for
// people, JSON for tools (schema in docs/cost-model.md), DOT for the plan tree.
#pragma once

#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/TimeModel.h"

#include <optional>
#include <string>

namespace chainjit::compiler {

struct CostReportInput {
  std::string title;               // e.g. "d loss / d W1,b1 in mlp.cj"
  const JacobianChain *chain = nullptr;
  const ChainCostSummary *summary = nullptr;
  std::optional<double> tapeLimit;
  // The objective's time model (TimeModel.h), when the plans were made or
  // predicted with one: the report then shows predicted times next to the
  // FMA counts, in total and per step of the optimal plan.
  const TimeModel *timeModel = nullptr;
};

// A count as the reports print it: exact while it is a whole number a double
// holds exactly, else 6 significant digits.
std::string formatCount(double v);

std::string costReportText(const CostReportInput &in);
std::string costReportJson(const CostReportInput &in);

// The classic matrix chain: optimal scalar multiplications and bracketing.
std::string matrixChainText(const JacobianChain &chain, const BracketingPlan &plan);
std::string matrixChainJson(const JacobianChain &chain, const BracketingPlan &plan);

// Seconds as the reports print them: "412 ns", "3.51 us", "6.50 ms", "1.20 s".
std::string formatSeconds(double seconds);

// The bracketing tree in Graphviz DOT.
std::string planDot(const JacobianChain &chain, const BracketingPlan &plan);

} // namespace chainjit::compiler
