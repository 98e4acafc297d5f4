// chainjit cost FILE.cj --of OUT --wrt IN[,IN...] [--expand train|eval]
// chainjit cost --chain-file FILE
// chainjit cost --chain D0,D1,...,Dq
//   [--memory-limit BYTES [--no-recompute]] [--memory-sweep [--svg FILE]]
//   [--objective fma|time] [--format text|json|dot | --json]
// Plans the bracketing of a Jacobian chain (compiler/ChainPlanner.h) and
// prints the cost report: of the chain between a graph's values, of an
// abstract chain read from a file, or of the classic matrix chain.
#include "Commands.h"
#include "DerivativeRequest.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/CostReport.h"
#include "chainjit/compiler/MemorySweep.h"
#include "chainjit/compiler/TimeModel.h"
#include "chainjit/ir/Error.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

namespace chainjit::cli {

namespace {

struct CostOptions {
  DerivativeRequest graph; // form (c); graph.expand "" = not given (eval)
  std::string chainFile;   // form (b)
  std::string chain;       // form (a)
  std::string memoryLimit; // "" = no limit
  std::string format;      // "" = not given (text)
  bool json = false;
  bool hessian = false;    // plan the Hessian: the Jacobian of the gradient graph
  bool noRecompute = false; // --memory-limit filters plans by tape (no checkpoints)
  bool memorySweep = false; // print the time-memory trade-off table
  std::string svg;          // --memory-sweep: also write the plot here
  std::string objective;    // "" = not given: time for a graph, fma for chain files
};

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

// "30,35,15" -> {30, 35, 15}: at least two positive integers.
std::vector<int64_t> parseDims(const std::string &text) {
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string tok =
        trim(std::string_view(text).substr(pos, comma == std::string::npos ? comma : comma - pos));
    int64_t v = 0;
    auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || ec != std::errc() || end != tok.data() + tok.size() || v <= 0)
      throw UsageError("--chain '" + text + "': '" + tok +
                       "' is not a positive integer; expected D0,D1,...,Dq, e.g. "
                       "--chain 30,35,15,5");
    dims.push_back(v);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  if (dims.size() < 2)
    throw UsageError("--chain '" + text +
                     "': needs at least two dimensions (matrix A_i is D(i-1) x D(i)), e.g. "
                     "--chain 30,35,15,5");
  return dims;
}

double parseBytes(const std::string &text) {
  std::string tok = trim(text);
  char *stop = nullptr;
  double v = std::strtod(tok.c_str(), &stop);
  if (tok.empty() || stop != tok.c_str() + tok.size() || !std::isfinite(v) || v < 0)
    throw UsageError("--memory-limit '" + text +
                     "': expected a non-negative number of bytes, e.g. --memory-limit 1e6");
  return v;
}

std::string join(const std::vector<std::string> &names) {
  std::string s;
  for (const std::string &n : names)
    s += (s.empty() ? "" : ",") + n;
  return s;
}

// The output format from --format and --json; usage errors when they disagree.
std::string outputFormat(const CostOptions &o) {
  if (o.json && !o.format.empty() && o.format != "json")
    throw UsageError("--json contradicts --format " + o.format);
  if (o.json)
    return "json";
  return o.format.empty() ? "text" : o.format;
}

void checkForm(const CostOptions &o) {
  const DerivativeRequest &r = o.graph;
  int forms = !r.file.empty() + !o.chainFile.empty() + !o.chain.empty();
  if (forms == 0)
    throw UsageError("cost needs a graph (FILE.cj --of OUT --wrt IN), --chain-file FILE or "
                     "--chain D0,D1,...");
  if (forms > 1)
    throw UsageError("give only one of a graph file, --chain-file and --chain");
  bool graph = !r.file.empty();
  if (graph && (r.of.empty() || r.wrt.empty()))
    throw UsageError("cost " + r.file + " needs --of OUT and --wrt IN[,IN...]");
  if (!graph && (!r.of.empty() || !r.wrt.empty() || !r.expand.empty() || o.hessian))
    throw UsageError(std::string(!r.of.empty()    ? "--of"
                                 : !r.wrt.empty() ? "--wrt"
                                 : o.hessian      ? "--hessian"
                                                  : "--expand") +
                     " needs a graph file (cost FILE.cj --of OUT --wrt IN)");
  if (o.noRecompute && o.memoryLimit.empty())
    throw UsageError("--no-recompute needs --memory-limit BYTES");
  if (o.memorySweep && (!o.memoryLimit.empty() || !o.chain.empty()))
    throw UsageError(!o.chain.empty() ? "--memory-sweep does not apply to --chain: a matrix "
                                        "chain needs no tape"
                                      : "--memory-sweep chooses the limits itself; drop "
                                        "--memory-limit");
  if (!o.svg.empty() && !o.memorySweep)
    throw UsageError("--svg FILE needs --memory-sweep");
  if (o.memorySweep && !o.format.empty() && o.format != "text")
    throw UsageError("--memory-sweep prints a table; --format " + o.format + " is not supported");
  if (o.objective == "time" && !o.chain.empty())
    throw UsageError("--objective time applies to a graph or a chain file; a matrix chain "
                     "(--chain) counts scalar multiplications");
  if (o.objective == "time" && o.memorySweep)
    throw UsageError("--memory-sweep counts multiply-adds; drop --objective time");
  if (!o.chain.empty() && !o.memoryLimit.empty())
    throw UsageError("--memory-limit does not apply to --chain: the matrices of a matrix "
                     "chain are given, no adjoint sweep needs a tape");
}

// Writes a sweep's SVG plot to `svg` and says where.
void writePlot(const std::string &svg, const std::string &plot) {
  std::ofstream out(svg);
  if (!(out << plot))
    throw Error("cannot write the plot", SourceLoc{svg, 0, 0, {}});
  std::cout << "\n  plot: " << svg << "\n";
}

int printSweep(const compiler::JacobianChain &chain, const std::string &title,
               const std::string &svg) {
  std::vector<compiler::MemorySweepPoint> points = compiler::memorySweep(chain);
  std::cout << title << "\ntime-memory trade-off of " << chain.size()
            << " factors (optimal plans with recomputation)\n\n"
            << compiler::memorySweepText(chain, points);
  if (!svg.empty())
    writePlot(svg, compiler::memorySweepSvg(points));
  return 0;
}

// A model's gradient (a float scalar --of): its sweep counts what `train
// --memory-limit` counts, the recomputed gradient's forward values.
bool isGradient(const ir::Graph &g, const std::string &of) {
  const ir::TensorType &t = g.type(g.lookup(of));
  return t.rank() == 0 && ir::isFloat(t.dtype);
}

int printGradientSweep(const ir::Graph &g, const DerivativeRequest &r, const std::string &svg) {
  std::vector<ir::NodeId> wrt;
  for (const std::string &w : r.wrt)
    wrt.push_back(g.lookup(w));
  compiler::GradientSweep sweep = compiler::gradientMemorySweep(g, g.lookup(r.of), wrt);
  std::cout << "grad " << r.of << " / d " << join(r.wrt) << " in " << r.file
            << "\ntime-memory trade-off of the recomputed gradient: " << sweep.chain.chain.size()
            << " segments, one forward pass " << compiler::formatCount(sweep.forwardCost)
            << " FMA;\nlimits count forward values as train --memory-limit does (checkpoints "
               "and tapes, plus "
            << compiler::formatCount(sweep.chain.workingBytes)
            << " bytes of one segment's working values)\n\n"
            << compiler::gradientSweepText(sweep);
  if (!svg.empty())
    writePlot(svg, compiler::gradientSweepSvg(sweep));
  return 0;
}

// The time model of the objective, or none for multiply-adds: a graph is
// planned in time by default (its dtype and this machine's calibration are
// known), an abstract chain file in multiply-adds unless asked (f64 then).
std::optional<compiler::TimeModel> objectiveModel(const CostOptions &o, bool graph,
                                                  unsigned elemBytes) {
  std::string objective = o.objective.empty() ? (graph ? "time" : "fma") : o.objective;
  if (objective != "time" || o.memorySweep)
    return std::nullopt;
  return compiler::hostTimeModel(elemBytes);
}

int printReport(const compiler::JacobianChain &chain, const std::string &title,
                std::optional<double> limit, const std::string &format, bool recompute,
                const CostOptions &o, const std::optional<compiler::TimeModel> &model) {
  if (o.memorySweep)
    return printSweep(chain, title, o.svg);
  const compiler::TimeModel *tm = model ? &*model : nullptr;
  compiler::ChainCostSummary summary = compiler::summarizeChain(chain, limit, recompute, tm);
  compiler::CostReportInput in{title, &chain, &summary, limit, tm};
  if (format == "json")
    std::cout << compiler::costReportJson(in);
  else if (format == "dot")
    std::cout << compiler::planDot(chain, summary.optimum);
  else
    std::cout << compiler::costReportText(in);
  return 0;
}

int runCost(CostOptions o) {
  // Usage errors first, before any file is read.
  checkForm(o);
  std::string format = outputFormat(o);
  std::optional<double> limit;
  if (!o.memoryLimit.empty())
    limit = parseBytes(o.memoryLimit);
  const bool recompute = !o.noRecompute;

  if (!o.chain.empty()) {
    compiler::JacobianChain chain = compiler::denseMatrixChain(parseDims(o.chain));
    compiler::PlannerOptions opts;
    opts.matricesGiven = true;
    opts.tangentSteps = opts.adjointSteps = false;
    compiler::BracketingPlan plan = compiler::planChain(chain, opts);
    if (format == "json")
      std::cout << compiler::matrixChainJson(chain, plan);
    else if (format == "dot")
      std::cout << compiler::planDot(chain, plan);
    else
      std::cout << compiler::matrixChainText(chain, plan);
    return 0;
  }

  if (!o.chainFile.empty()) {
    compiler::JacobianChain chain = compiler::parseChainFile(o.chainFile);
    return printReport(chain, "chain file " + o.chainFile, limit, format, recompute, o,
                       objectiveModel(o, false, 8));
  }

  DerivativeRequest &r = o.graph;
  normalizeNames(r);
  if (r.expand.empty())
    r.expand = "eval";
  ir::Graph g = loadExpandedGraph(r);
  // The Jacobian's elements have the dtype of the output (its derivatives).
  auto elemBytes = [&](const ir::Graph &graph, const std::string &name) {
    return unsigned(ir::dtypeSize(graph.type(graph.lookup(name)).dtype));
  };
  if (o.hessian) {
    // The Hessian is the Jacobian of the gradient graph: the same optimizer
    // plans it, over the chain of grad.<wrt> with respect to <wrt>.
    if (r.wrt.size() != 1)
      throw UsageError("cost --hessian takes one --wrt value");
    ir::Graph gg = compiler::grad(g, r.of, r.wrt);
    compiler::GraphChain gc = compiler::extractChain(gg, "grad." + r.wrt[0], r.wrt);
    return printReport(gc.chain,
                       "d2 " + r.of + " / d " + r.wrt[0] + "2 (the Jacobian of the gradient) in " +
                           r.file,
                       limit, format, recompute, o,
                       objectiveModel(o, true, elemBytes(gg, "grad." + r.wrt[0])));
  }
  if (o.memorySweep && isGradient(g, r.of))
    return printGradientSweep(g, r, o.svg);
  compiler::GraphChain gc = compiler::extractChain(g, r.of, r.wrt);
  return printReport(gc.chain, "d " + r.of + " / d " + join(r.wrt) + " in " + r.file, limit,
                     format, recompute, o, objectiveModel(o, true, elemBytes(g, r.of)));
}

} // namespace

Command addCostCommand(CLI::App &app) {
  auto o = std::make_shared<CostOptions>();
  CLI::App *cmd = app.add_subcommand(
      "cost", "Plan the cheapest bracketing of a Jacobian chain and print its cost report: "
              "of a graph, of a chain file, or of a matrix chain");
  o->graph.expand.clear();
  cmd->add_option("file", o->graph.file, "The graph, a .cj file (with --of and --wrt)");
  cmd->add_option("--of", o->graph.of, "OUT: the value whose Jacobian is planned");
  cmd->add_option("--wrt", o->graph.wrt,
                  "IN[,IN...]: the inputs or params it is taken with respect to")
      ->delimiter(',');
  cmd->add_option("--expand", o->graph.expand,
                  "train or eval (default): expand dropout and batch_norm as for training "
                  "or evaluation first")
      ->check(CLI::IsMember({"train", "eval"}));
  cmd->add_flag("--hessian", o->hessian,
                "Plan the Hessian of --of (a scalar) with respect to one --wrt value: the "
                "Jacobian of the gradient graph");
  cmd->add_option("--chain-file", o->chainFile,
                  "FILE: an abstract chain, one factor per line: n m t a [e [f [x]]]");
  cmd->add_option("--chain", o->chain,
                  "D0,D1,...,Dq: the matrix chain A1...Aq, A_i of size D(i-1) x D(i)");
  cmd->add_option("--memory-limit", o->memoryLimit,
                  "BYTES: the most memory (checkpoints and tapes) any adjoint sweep may hold; "
                  "sweeps recompute what they do not keep (graph or chain file)");
  cmd->add_flag("--no-recompute", o->noRecompute,
                "With --memory-limit: no checkpoints; adjoint steps must hold their whole tape");
  cmd->add_flag("--memory-sweep", o->memorySweep,
                "Print the time-memory trade-off: the optimal plan with recomputation from the "
                "full tape down to the smallest memory");
  cmd->add_option("--svg", o->svg, "FILE: with --memory-sweep, also write the plot as SVG");
  cmd->add_option("-f,--format", o->format,
                  "Output format: text (default), json, or dot (the optimal plan's tree)")
      ->check(CLI::IsMember({"text", "json", "dot"}));
  cmd->add_flag("--json", o->json, "Same as --format json");
  cmd->add_option("--objective", o->objective,
                  "What the plan minimizes: time (predicted seconds on this machine: "
                  "multiply-adds at the measured kernel rates plus bytes at the measured copy "
                  "bandwidth; the default for a graph) or fma (multiply-adds; the default for a "
                  "chain file, and the same on every machine)")
      ->check(CLI::IsMember({"fma", "time"}));
  cmd->footer("Chain files: one factor per line, 'n m t a [e [f [x]]]' (input size, output "
              "size,\ntangent and adjoint cost of one sweep in FMAs, tape bytes, forward cost "
              "(default t),\ninput bytes (default 8 n)), first factor first; '#' starts a "
              "comment.\nSee docs/cost-model.md and docs/cli.md.\n"
              "\nExamples:\n"
              "  chainjit cost examples/mlp.cj --of loss --wrt W1,b1\n"
              "  chainjit cost examples/adjoint.cj --of F --wrt p --json\n"
              "  chainjit cost examples/wide_narrow_wide.cj --of y --wrt x --objective fma\n"
              "  chainjit cost examples/adjoint.cj --of F --wrt p --hessian\n"
              "  chainjit cost --chain-file tests/cli/data/wide_narrow_wide.chain "
              "--memory-limit 50000\n"
              "  chainjit cost --chain-file tests/cli/data/gradient.chain --memory-sweep "
              "--svg sweep.svg\n"
              "  chainjit cost --chain-file tests/cli/data/wide_narrow_wide.chain --format dot "
              "| dot -Tsvg > plan.svg\n"
              "  chainjit cost --chain 30,35,15,5,10,20,25");
  return {cmd, [o] { return runCost(*o); }};
}

} // namespace chainjit::cli
