// How a command prints the graph it produces: the output format and the
// passes run on the graph first, with --print-after. Shared by `dump` and
// the derivative commands (grad, jvp, vjp, jacobian, hessian, hvp) so that
// every command printing a graph has the same flags.
#pragma once

#include "Commands.h"

#include "chainjit/ir/Graph.h"

#include <string>
#include <vector>

namespace chainjit::cli {

struct GraphOutputOptions {
  std::string format = "text"; // text, dot, json
  std::vector<std::string> passes;
  std::vector<std::string> printAfter;
  bool printAfterAll = false;
};

// Adds -f/--format, --passes, --print-after and --print-after-all to `cmd`,
// bound to `o` (which must outlive the command line parse and the run).
void addGraphOutputOptions(CLI::App *cmd, GraphOutputOptions &o);
// Only --passes, --print-after and --print-after-all (for `run`, which
// prints values, not graphs).
void addPassOptions(CLI::App *cmd, GraphOutputOptions &o);

// Usage errors in these options (an unknown pass, --print-after of a pass
// that is not run): call it before reading any file.
void checkGraphOutputOptions(const GraphOutputOptions &o);

// Runs the passes on `g`, printing the graph to stderr (in the chosen
// format) after those asked for.
ir::Graph applyPasses(const ir::Graph &g, const GraphOutputOptions &o);

// applyPasses, then prints the result to stdout in the chosen format.
void printGraphOutput(const ir::Graph &g, const GraphOutputOptions &o);

// "Passes (for --passes and --print-after):" and one line per pass, for
// --help footers.
std::string passListHelp();

} // namespace chainjit::cli
