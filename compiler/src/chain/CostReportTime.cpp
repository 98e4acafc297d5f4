// The time parts of the cost reports (CostReportTime.h).
#include "CostReportTime.h"

#include "chainjit/compiler/CostReport.h"

#include <fmt/format.h>

#include <cmath>

namespace chainjit::compiler {

std::string formatSeconds(double s) {
  if (!std::isfinite(s))
    return "inf";
  double a = std::fabs(s);
  if (a < 1e-6)
    return fmt::format("{:.0f} ns", s * 1e9);
  if (a < 1e-3)
    return fmt::format("{:.2f} us", s * 1e6);
  if (a < 1)
    return fmt::format("{:.2f} ms", s * 1e3);
  return fmt::format("{:.2f} s", s);
}

namespace {

std::string name(const JacobianChain &c, int l) {
  const std::string &label = c.factors[size_t(l)].label;
  return label.empty() ? "F" + std::to_string(l + 1) : label;
}
std::string range(const JacobianChain &c, int first, int last) {
  return first == last ? name(c, first) : name(c, first) + ".." + name(c, last);
}

// What a node does, in the plan expressions' notation: the factors its own
// step goes through (a sweep) or the two parts it multiplies.
std::string what(const JacobianChain &c, const PlanNode &n) {
  switch (n.step) {
  case PlanStep::Given: return range(c, n.first, n.last);
  case PlanStep::TangentLeaf: return "tan[" + range(c, n.first, n.last) + "]";
  case PlanStep::AdjointLeaf: return "adj[" + range(c, n.first, n.last) + "]";
  case PlanStep::Multiply:
    return "[" + range(c, n.split + 1, n.last) + "] * [" + range(c, n.first, n.split) + "]";
  case PlanStep::Tangent: return "tan[" + range(c, n.split + 1, n.last) + "](X)";
  case PlanStep::Adjoint: return "adj[" + range(c, n.first, n.split) + "](Y)";
  }
  return "?";
}

// The shape of a node's work: directions x factors for sweeps, m x k x n
// for products.
std::string shape(const JacobianChain &c, const PlanNode &n) {
  const ChainFactor &first = c.factors[size_t(n.first)], &last = c.factors[size_t(n.last)];
  switch (n.step) {
  case PlanStep::Given: return "";
  case PlanStep::TangentLeaf:
    return fmt::format("{} cols", formatCount(n.seeds >= 0 ? n.seeds : leafDirections(first, true)));
  case PlanStep::AdjointLeaf:
    return fmt::format("{} rows", n.seeds >= 0          ? formatCount(n.seeds)
                                  : n.first == n.last ? formatCount(leafDirections(first, false))
                                                      : formatCount(double(last.m)));
  case PlanStep::Multiply:
    return fmt::format("{}x{}x{}", last.m, c.factors[size_t(n.split)].m, first.n);
  case PlanStep::Tangent: return fmt::format("{} cols", first.n);
  case PlanStep::Adjoint: return fmt::format("{} rows", last.m);
  }
  return "";
}

} // namespace

std::string planStepsText(const JacobianChain &c, const BracketingPlan &p, const TimeModel &m) {
  std::vector<StepCost> own = planStepCosts(c, p, m);
  std::string out = fmt::format("  {:<30} {:>12} {:>14} {:>14} {:>12}\n", "step (in order)", "work",
                                "FMA", "bytes", "predicted");
  StepCost total;
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const PlanNode &n = p.nodes[i];
    if (n.step == PlanStep::Given)
      continue;
    total += own[i];
    out += fmt::format("  {:<30} {:>12} {:>14} {:>14} {:>12}\n", what(c, n), shape(c, n),
                       formatCount(own[i].fma), formatCount(own[i].bytes),
                       formatSeconds(own[i].seconds));
  }
  out += fmt::format("  {:<30} {:>12} {:>14} {:>14} {:>12}\n", "total", "", formatCount(total.fma),
                     formatCount(total.bytes), formatSeconds(total.seconds));
  return out;
}

nlohmann::json planStepsJson(const JacobianChain &c, const BracketingPlan &p, const TimeModel &m) {
  std::vector<StepCost> own = planStepCosts(c, p, m);
  nlohmann::json steps = nlohmann::json::array();
  for (size_t i = 0; i < p.nodes.size(); ++i)
    steps.push_back({{"node", i},
                     {"what", what(c, p.nodes[i])},
                     {"fma", own[i].fma},
                     {"bytes", own[i].bytes},
                     {"calls", own[i].calls},
                     {"seconds", own[i].seconds}});
  return steps;
}

nlohmann::json timeModelJson(const TimeModel &m) {
  return {{"description", m.description},
          {"elem_bytes", m.elemBytes},
          {"dense", {{"overhead_seconds", m.dense.overhead}, {"seconds_per_fma", m.dense.perFma}}},
          {"elementwise",
           {{"overhead_seconds", m.elementwise.overhead},
            {"seconds_per_fma", m.elementwise.perFma}}},
          {"memory_bytes_per_second", m.memoryBytesPerSecond},
          {"cache_bytes_per_second", m.cacheBytesPerSecond},
          {"cache_bytes", m.cacheBytes}};
}

} // namespace chainjit::compiler
