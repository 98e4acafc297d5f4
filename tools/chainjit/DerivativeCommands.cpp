// chainjit grad|jvp|vjp|jacobian|hessian|hvp FILE --of OUT --wrt IN[,IN...]
//          [--directions K] [--mode forward|reverse|optimal] [--expand train|eval]
//          [--format text|dot|json] [--passes=a,b] [--print-after=PASS]...
// Expands the train or eval mode of a graph, builds a derivative graph with
// the transforms of compiler/Autodiff.h and prints it like `dump` does. The
// six commands differ only in the transform and a few flags: one table below.
#include "Commands.h"
#include "DerivativeRequest.h"
#include "GraphOutput.h"
#include "PhaseTimer.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/JacobianByPlan.h"

#include <cmath>
#include <cstdlib>
#include <optional>

#include <cstdint>
#include <memory>

namespace chainjit::cli {

namespace {

enum class Transform { Grad, Jvp, Vjp, Jacobian, Hessian, Hvp };

struct TransformCommand {
  Transform transform;
  const char *name;
  const char *description;
  bool hasDirections; // --directions K
  bool hasMode;       // --mode forward|reverse|optimal
  bool oneWrt;        // --wrt takes exactly one value
  const char *results; // what the printed graph adds, for --help
  const char *examples;
};

const TransformCommand kCommands[] = {
    {Transform::Grad, "grad",
     "Print the graph of the gradient of a scalar with respect to inputs or params",
     false, false, false,
     "The result computes the graph's outputs and, for each --wrt value W, an output\n"
     "%grad.W of W's shape. --of must name a scalar.",
     "  chainjit grad examples/mlp.cj --of loss --wrt W1,b1\n"
     "  chainjit grad examples/mlp.cj --of loss --wrt W3 --format dot | dot -Tsvg > g.svg"},
    {Transform::Jvp, "jvp",
     "Print the graph of a Jacobian-vector product (forward mode, K directions at once)",
     true, false, false,
     "The result takes, for each --wrt value W, an input %tangent.W of shape [K, ...W]\n"
     "and outputs %tangent.OUT of shape [K, ...OUT] besides the graph's outputs.",
     "  chainjit jvp examples/mlp.cj --of logits --wrt x\n"
     "  chainjit jvp examples/mlp.cj --of logits --wrt W1,b1 --directions 4"},
    {Transform::Vjp, "vjp",
     "Print the graph of a vector-Jacobian product (reverse mode, K directions at once)",
     true, false, false,
     "The result takes an input %adjoint.OUT of shape [K, ...OUT] and outputs, for\n"
     "each --wrt value W, %adjoint.W of shape [K, ...W] besides the graph's outputs.",
     "  chainjit vjp examples/mlp.cj --of logits --wrt W3,b3\n"
     "  chainjit vjp examples/mlp.cj --of logits --wrt x --directions 10"},
    {Transform::Jacobian, "jacobian",
     "Print the graph of the full Jacobian of a value with respect to one input or param",
     false, true, true,
     "The result outputs %jacobian.OUT.IN of shape [...OUT, ...IN] besides the graph's\n"
     "outputs. --mode forward pushes one tangent per element of IN, reverse pulls one\n"
     "adjoint per element of OUT, optimal (the default) follows the chain-order plan\n"
     "(see 'chainjit cost').",
     "  chainjit jacobian examples/adjoint.cj --of v --wrt p\n"
     "  chainjit jacobian tests/cli/data/affine.cj --of s --wrt x --mode forward"},
    {Transform::Hessian, "hessian",
     "Print the graph of the Hessian of a scalar with respect to one input or param",
     false, true, true,
     "The result outputs %grad.IN and %hessian.IN of shape [...IN, ...IN] besides the\n"
     "graph's outputs. The Hessian is the Jacobian of the gradient graph; --mode\n"
     "chooses how that Jacobian is taken: forward (forward-over-reverse), reverse\n"
     "(reverse-over-reverse) or optimal (the default).",
     "  chainjit hessian examples/adjoint.cj --of F --wrt p --mode forward"},
    {Transform::Hvp, "hvp",
     "Print the graph of a Hessian-vector product of a scalar (forward over reverse)",
     false, false, false,
     "The result takes, for each --wrt value W, an input %direction.W of W's shape and\n"
     "outputs %grad.W and %hvp.W besides the graph's outputs.",
     "  chainjit hvp examples/mlp.cj --of loss --wrt W3,b3"},
};

struct DerivativeOptions {
  DerivativeRequest request;
  int64_t directions = 1;
  std::string mode = "optimal";
  GraphOutputOptions output;
  bool timePasses = false;
  std::string memoryLimit; // jacobian: plan with recomputation within BYTES
};

// --memory-limit BYTES: a non-negative finite number.
std::optional<double> memoryLimitOf(const DerivativeOptions &o) {
  if (o.memoryLimit.empty())
    return std::nullopt;
  char *stop = nullptr;
  double v = std::strtod(o.memoryLimit.c_str(), &stop);
  if (stop != o.memoryLimit.c_str() + o.memoryLimit.size() || !std::isfinite(v) || v < 0)
    throw UsageError("--memory-limit '" + o.memoryLimit +
                     "': expected a non-negative number of bytes, e.g. --memory-limit 1e6");
  if (o.mode != "optimal")
    throw UsageError("--memory-limit plans the Jacobian: it needs --mode optimal, not --mode " +
                     o.mode);
  return v;
}

compiler::JacobianMode jacobianMode(const std::string &mode) {
  if (mode == "forward")
    return compiler::JacobianMode::Forward;
  if (mode == "reverse")
    return compiler::JacobianMode::Reverse;
  return compiler::JacobianMode::Optimal;
}

ir::Graph derive(const TransformCommand &c, const ir::Graph &g, const DerivativeOptions &o) {
  const std::string &of = o.request.of;
  const std::vector<std::string> &wrt = o.request.wrt;
  switch (c.transform) {
  case Transform::Grad: return compiler::grad(g, of, wrt);
  case Transform::Jvp: return compiler::jvp(g, of, wrt, o.directions);
  case Transform::Vjp: return compiler::vjp(g, of, wrt, o.directions);
  case Transform::Jacobian:
    if (std::optional<double> limit = memoryLimitOf(o)) {
      compiler::PlannerOptions plan;
      plan.tapeLimit = *limit;
      plan.recompute = true;
      return compiler::plannedJacobian(g, of, wrt.front(), plan);
    }
    return compiler::jacobian(g, of, wrt.front(), jacobianMode(o.mode));
  case Transform::Hessian: return compiler::hessian(g, of, wrt.front(), jacobianMode(o.mode));
  case Transform::Hvp: return compiler::hvp(g, of, wrt);
  }
  throw Error("unknown derivative transform");
}

int runDerivative(const TransformCommand &c, DerivativeOptions o) {
  // Usage errors first, before any file is read.
  checkGraphOutputOptions(o.output);
  normalizeNames(o.request);
  if (c.oneWrt && o.request.wrt.size() != 1)
    throw UsageError(std::string("--wrt: ") + c.name + " takes one value, got " +
                     std::to_string(o.request.wrt.size()));
  memoryLimitOf(o); // a usage error before any file is read
  PhaseTimer timer(o.timePasses);
  ir::Graph g = timer.time("parse", [&] { return loadExpandedGraph(o.request); });
  // The chain-order planning of jacobian/hessian happens inside the transform.
  ir::Graph d = timer.time(c.hasMode ? "differentiate+plan" : "differentiate",
                           [&] { return derive(c, g, o); });
  timer.time("passes+print", [&] { printGraphOutput(d, o.output); });
  timer.print();
  return 0;
}

Command addDerivativeCommand(CLI::App &app, const TransformCommand &c) {
  auto o = std::make_shared<DerivativeOptions>();
  CLI::App *cmd = app.add_subcommand(c.name, c.description);
  cmd->add_option("file", o->request.file, "The graph, a .cj file")->required();
  cmd->add_option("--of", o->request.of, "OUT: the value to differentiate (a leading % is allowed)")
      ->required();
  auto *wrt = cmd->add_option("--wrt", o->request.wrt,
                              c.oneWrt ? "IN: the input or param to differentiate with "
                                         "respect to"
                                       : "IN[,IN...]: the inputs or params to differentiate "
                                         "with respect to (comma-separated or repeated)");
  wrt->required()->delimiter(',');
  if (c.hasDirections)
    cmd->add_option("-k,--directions", o->directions,
                    "K: how many directions the graph takes at once (default 1)")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 31));
  if (c.hasMode)
    cmd->add_option("--mode", o->mode,
                    "How the Jacobian is accumulated: forward, reverse or optimal "
                    "(default: the chain-order plan)")
        ->check(CLI::IsMember({"forward", "reverse", "optimal"}));
  if (c.transform == Transform::Jacobian)
    cmd->add_option("--memory-limit", o->memoryLimit,
                    "BYTES: plan within this memory (checkpoints and tapes of each adjoint "
                    "sweep); the sweeps recompute what they do not keep (recompute.N nodes)");
  cmd->add_option("--expand", o->request.expand,
                  "train or eval (default): expand dropout and batch_norm as for "
                  "training or evaluation before differentiating (like run --mode)")
      ->check(CLI::IsMember({"train", "eval"}));
  addGraphOutputOptions(cmd, o->output);
  cmd->add_flag("--time-passes", o->timePasses,
                "Print the time of each phase (parse, differentiate and plan, passes and "
                "printing) to stderr");
  cmd->footer(std::string(c.results) +
              "\nThe text output parses back: 'chainjit dump' and 'chainjit run' accept it.\n\n" +
              passListHelp() + "\nExamples:\n" + c.examples);
  const TransformCommand *spec = &c;
  return {cmd, [o, spec] { return runDerivative(*spec, *o); }};
}

} // namespace

std::vector<Command> addDerivativeCommands(CLI::App &app) {
  std::vector<Command> commands;
  for (const TransformCommand &c : kCommands)
    commands.push_back(addDerivativeCommand(app, c));
  return commands;
}

} // namespace chainjit::cli
