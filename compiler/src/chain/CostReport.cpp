#include "chainjit/compiler/CostReport.h"

#include "chainjit/compiler/TimeChains.h"

#include "CostReportTime.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace chainjit::compiler {

std::string formatCount(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{:.0f}", v);
  return fmt::format("{:.6g}", v);
}

namespace {

std::string num(double v) { return formatCount(v); }

std::string ratio(double cost, double optimum) {
  if (optimum == 0)
    return cost == 0 ? "1.00x" : "inf";
  return fmt::format("{:.2f}x", cost / optimum);
}

std::string_view stepName(PlanStep s) {
  switch (s) {
  case PlanStep::Given: return "given";
  case PlanStep::TangentLeaf: return "tangent-leaf";
  case PlanStep::AdjointLeaf: return "adjoint-leaf";
  case PlanStep::Multiply: return "multiply";
  case PlanStep::Tangent: return "tangent";
  case PlanStep::Adjoint: return "adjoint";
  }
  return "?";
}

std::string factorName(const JacobianChain &c, int l) {
  return c.factors[l].label.empty() ? "F" + std::to_string(l + 1) : c.factors[l].label;
}

nlohmann::json planJson(const JacobianChain &c, const BracketingPlan &p,
                        const TimeModel *model = nullptr) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const PlanNode &n : p.nodes)
    nodes.push_back({{"step", stepName(n.step)},
                     {"first", n.first},
                     {"last", n.last},
                     {"split", n.split < 0 ? nlohmann::json(nullptr) : nlohmann::json(n.split)},
                     {"left", n.left < 0 ? nlohmann::json(nullptr) : nlohmann::json(n.left)},
                     {"right", n.right < 0 ? nlohmann::json(nullptr) : nlohmann::json(n.right)},
                     {"cost", n.cost}});
  nlohmann::json sweeps = nlohmann::json::array();
  for (const TimeSweep &t : timeSweeps(c, p))
    sweeps.push_back({{"factor", t.factor},
                      {"label", factorName(c, t.factor)},
                      {"direction", t.direction == TimeDirection::Forward ? "forward" : "backward"},
                      {"directions", t.directions},
                      {"tape_bytes", t.tapeBytes}});
  nlohmann::json j = {{"expression", p.expression(c)},
                      {"time_sweeps", sweeps},
                      {"cost", p.cost},
                      {"tape_bytes", p.tapeBytes},
                      {"recompute_cost", p.recomputeCost},
                      {"nodes", nodes}};
  // Predicted seconds (TimeModel.h): in total and per node, its own step.
  j["seconds"] = model && p.timed ? nlohmann::json(p.seconds) : nlohmann::json(nullptr);
  if (model && p.timed)
    j["steps"] = planStepsJson(c, p, *model);
  return j;
}

// ---- through time (TimeChains.h) ----
std::string stepLine(const ChainFactor &f) {
  const ChainFactor::Step &st = f.step;
  std::string io;
  if (st.in || st.out)
    io = fmt::format("; per step {} in, {} out", st.in, st.out);
  return fmt::format("    = step factor \u00d7{}{}: {} x {} {}, per step t {}, a {}, e {}{}\n",
                     f.steps, st.body.empty() ? "" : " of @" + st.body, st.state, st.state,
                     structureName(st.structure), num(st.tangentCost), num(st.adjointCost),
                     num(st.tapeBytes), io);
}

std::string timeSweepLines(const JacobianChain &c, const BracketingPlan &p) {
  std::string out;
  for (const TimeSweep &t : timeSweeps(c, p)) {
    const ChainFactor &f = c.factors[t.factor];
    if (t.direction == TimeDirection::Forward)
      out += fmt::format("  through time: {} \u00d7{} forward in time (tangent scan, {} "
                         "direction{}, no tape)\n",
                         factorName(c, t.factor), f.steps, t.directions,
                         t.directions == 1 ? "" : "s");
    else
      out += fmt::format("  through time: {} \u00d7{} backward in time (BPTT: adjoint scan, "
                         "{} row{}, tape {} bytes)\n",
                         factorName(c, t.factor), f.steps, t.directions,
                         t.directions == 1 ? "" : "s", num(t.tapeBytes));
  }
  return out;
}

} // namespace

std::string costReportText(const CostReportInput &in) {
  const JacobianChain &c = *in.chain;
  const ChainCostSummary &s = *in.summary;
  std::string out;
  if (!in.title.empty())
    out += in.title + "\n";
  out += fmt::format("Jacobian chain of {} factor{}: R^{} -> R^{}\n\n", c.size(),
                     c.size() == 1 ? "" : "s", c.factors.front().n, c.factors.back().m);
  // With recomputation, also what a recomputation costs (forward f) and
  // what a checkpoint before the factor holds (input x).
  const bool rc = s.optimum.recomputed;
  out += fmt::format("  {:<12} {:>8} {:>8} {:>14} {:>14} {:>12}{}  {}\n", "factor", "n", "m",
                     "tangent t", "adjoint a", "tape e",
                     rc ? fmt::format(" {:>12} {:>12}", "forward f", "input x") : "",
                     "structure");
  for (size_t l = 0; l < c.size(); ++l) {
    const ChainFactor &f = c.factors[l];
    out += fmt::format("  {:<12} {:>8} {:>8} {:>14} {:>14} {:>12}{}  {}\n",
                       factorName(c, int(l)), f.n, f.m, num(f.tangentCost),
                       num(f.adjointCost), num(f.tapeBytes),
                       rc ? fmt::format(" {:>12} {:>12}", num(f.forwardCost), num(f.inputBytes))
                          : "",
                       f.structure == JacobianStructure::BlockDiagonal
                           ? fmt::format("{} ({} blocks)", structureName(f.structure), f.blocks)
                           : std::string(structureName(f.structure)));
    if (f.steps > 1) // the recurrence's step factor, once, with its count
      out += stepLine(f);
  }
  // With a time model, predicted times follow (the optimum minimizes them).
  const TimeModel *tm = in.timeModel && s.optimum.timed ? in.timeModel : nullptr;
  out += fmt::format("\n  {:<26} {:>16} {:>11} {:>14}{}\n", "strategy", "cost (FMA)",
                     "/ optimum", "tape (bytes)",
                     tm ? fmt::format(" {:>12} {:>11}", "predicted", "/ optimum") : "");
  auto row = [&](std::string_view name, const BracketingPlan &p, std::string_view note) {
    out += fmt::format("  {:<26} {:>16} {:>11} {:>14}{}{}\n", name, num(p.cost),
                       ratio(p.cost, s.optimum.cost), num(p.tapeBytes),
                       tm ? fmt::format(" {:>12} {:>11}", formatSeconds(p.seconds),
                                        ratio(p.seconds, s.optimum.seconds))
                          : "",
                       note);
  };
  row("pure tangent (forward)", s.pureTangent, "");
  row("pure adjoint (reverse)", s.pureAdjoint,
      s.adjointFitsLimit ? "" : "  exceeds the tape limit");
  row("preaccumulate, multiply", s.preaccumulate, "");
  row("optimum", s.optimum, "");
  if (in.tapeLimit && rc)
    out += fmt::format("\n  memory limit: {} bytes (checkpoints and tapes; adjoint sweeps "
                       "recompute what they do not keep)\n",
                       num(*in.tapeLimit));
  else if (in.tapeLimit)
    out += fmt::format("\n  tape limit: {} bytes\n", num(*in.tapeLimit));
  out += "\n  optimal plan: " + s.optimum.expression(c) + "\n";
  out += timeSweepLines(c, s.optimum);
  if (rc)
    out += fmt::format("  recomputation: {} FMA of forward runs (in the cost); peak memory: "
                       "{} bytes\n",
                       num(s.optimum.recomputeCost), num(s.optimum.tapeBytes));
  else if (s.optimum.recomputeCost > 0) // whole-tape sweeps after the first restart
    out += fmt::format("  restarts: {} FMA of forward runs from the chain input to the later "
                       "adjoint sweeps (in the cost)\n",
                       num(s.optimum.recomputeCost));
  if (tm)
    out += "  objective: predicted time (" + tm->description + ")\n\n" +
           planStepsText(c, s.optimum, *tm) + "\n";
  out += "  (tan[Fi..Fj]: tangent sweeps seeded with I; adj[...]: adjoint sweeps;\n"
         "   tan[..](X) pushes the columns of X forward, adj[..](Y) pulls the rows\n"
         "   of Y back; (A * B) multiplies accumulated parts; see docs/cost-model.md)\n";
  return out;
}

std::string costReportJson(const CostReportInput &in) {
  const JacobianChain &c = *in.chain;
  const ChainCostSummary &s = *in.summary;
  nlohmann::json factors = nlohmann::json::array();
  for (size_t l = 0; l < c.size(); ++l) {
    const ChainFactor &f = c.factors[l];
    factors.push_back({{"label", factorName(c, int(l))},
                       {"n", f.n},
                       {"m", f.m},
                       {"tangent_cost", f.tangentCost},
                       {"adjoint_cost", f.adjointCost},
                       {"tape_bytes", f.tapeBytes},
                       {"forward_cost", f.forwardCost},
                       {"input_bytes", f.inputBytes},
                       {"structure", structureName(f.structure)},
                       {"blocks", f.blocks},
                       {"steps", f.steps},
                       {"step", f.steps > 1 ? nlohmann::json{
                                                  {"state", f.step.state},
                                                  {"in", f.step.in},
                                                  {"out", f.step.out},
                                                  {"tangent_cost", f.step.tangentCost},
                                                  {"adjoint_cost", f.step.adjointCost},
                                                  {"tape_bytes", f.step.tapeBytes},
                                                  {"structure", structureName(f.step.structure)},
                                                  {"body", f.step.body}}
                                            : nlohmann::json(nullptr)}});
  }
  const TimeModel *tm = in.timeModel && s.optimum.timed ? in.timeModel : nullptr;
  nlohmann::json j = {
      {"title", in.title},
      {"objective", tm ? "time" : "fma"},
      {"time_model", tm ? timeModelJson(*tm) : nlohmann::json(nullptr)},
      {"factors", factors},
      {"tape_limit", in.tapeLimit ? nlohmann::json(*in.tapeLimit) : nlohmann::json(nullptr)},
      {"pure_tangent", planJson(c, s.pureTangent, tm)},
      {"pure_adjoint", planJson(c, s.pureAdjoint, tm)},
      {"pure_adjoint_fits_limit", s.adjointFitsLimit},
      {"preaccumulate", planJson(c, s.preaccumulate, tm)},
      {"optimum", planJson(c, s.optimum, tm)},
  };
  return j.dump(2) + "\n";
}

std::string matrixChainText(const JacobianChain &c, const BracketingPlan &p) {
  std::string dims;
  for (size_t l = c.size(); l-- > 0;)
    dims += (dims.empty() ? std::to_string(c.factors[l].m) + "," : std::string()) +
            std::to_string(c.factors[l].n) + (l ? "," : "");
  return fmt::format("matrix chain {} ({} matrices)\n"
                     "optimal scalar multiplications: {}\n"
                     "bracketing: {}\n",
                     dims, c.size(), num(p.cost), p.expression(c));
}

std::string matrixChainJson(const JacobianChain &c, const BracketingPlan &p) {
  std::vector<int64_t> dims;
  for (size_t l = c.size(); l-- > 0;) {
    if (dims.empty())
      dims.push_back(c.factors[l].m);
    dims.push_back(c.factors[l].n);
  }
  nlohmann::json j = {{"dims", dims},
                      {"multiplications", p.cost},
                      {"bracketing", p.expression(c)},
                      {"plan", planJson(c, p)}};
  return j.dump(2) + "\n";
}

std::string planDot(const JacobianChain &c, const BracketingPlan &p) {
  std::string out = "digraph plan {\n  node [shape=box, fontname=\"monospace\"];\n";
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const PlanNode &n = p.nodes[i];
    std::string range = factorName(c, n.first) +
                        (n.first == n.last ? "" : ".." + factorName(c, n.last));
    out += fmt::format("  n{} [label=\"{} {}\\ncost {}\"];\n", i, stepName(n.step),
                       range, num(n.cost));
    if (n.left >= 0)
      out += fmt::format("  n{} -> n{} [label=\"left\"];\n", i, n.left);
    if (n.right >= 0)
      out += fmt::format("  n{} -> n{} [label=\"right\"];\n", i, n.right);
  }
  return out + "}\n";
}

} // namespace chainjit::compiler
