// The output flags shared by every command that prints a graph.
#include "GraphOutput.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Dot.h"
#include "chainjit/ir/Json.h"
#include "chainjit/ir/Printer.h"

#include <algorithm>
#include <iostream>

namespace chainjit::cli {

namespace {

std::string render(const ir::Graph &g, const std::string &format) {
  if (format == "dot")
    return ir::printDot(g);
  if (format == "json")
    return ir::printJson(g);
  return ir::printGraph(g);
}

} // namespace

void addGraphOutputOptions(CLI::App *cmd, GraphOutputOptions &o) {
  cmd->add_option("-f,--format", o.format, "Output format: text (default), dot, json")
      ->check(CLI::IsMember({"text", "dot", "json"}));
  addPassOptions(cmd, o);
}

void addPassOptions(CLI::App *cmd, GraphOutputOptions &o) {
  cmd->add_option("--passes", o.passes, "Comma-separated passes to run, in order")
      ->delimiter(',');
  cmd->add_option("--print-after", o.printAfter,
                  "Print the graph to stderr after this pass (repeatable, or comma-separated)")
      ->delimiter(',');
  cmd->add_flag("--print-after-all", o.printAfterAll,
                "Print the graph to stderr after every pass");
}

void checkGraphOutputOptions(const GraphOutputOptions &o) {
  auto known = [](const std::string &name) {
    try {
      compiler::findPass(name);
    } catch (const Error &e) {
      throw UsageError(e.diagnostics().front().message);
    }
  };
  for (const std::string &p : o.passes)
    known(p);
  for (const std::string &p : o.printAfter) {
    known(p);
    if (std::find(o.passes.begin(), o.passes.end(), p) == o.passes.end())
      throw UsageError("--print-after=" + p + ": pass '" + p +
                       "' is not run; add it to --passes");
  }
  if (o.printAfterAll && o.passes.empty())
    throw UsageError("--print-after-all needs --passes");
}

ir::Graph applyPasses(const ir::Graph &graph, const GraphOutputOptions &o) {
  ir::Graph g = graph;
  if (!o.passes.empty()) {
    auto observer = [&](std::string_view pass, const ir::Graph &after) {
      bool wanted = o.printAfterAll || std::find(o.printAfter.begin(), o.printAfter.end(),
                                                 pass) != o.printAfter.end();
      if (wanted)
        std::cerr << "# *** after pass " << pass << " ***\n" << render(after, o.format);
    };
    g = compiler::runPasses(g, o.passes, observer);
  }
  return g;
}

void printGraphOutput(const ir::Graph &graph, const GraphOutputOptions &o) {
  std::cout << render(applyPasses(graph, o), o.format);
}

std::string passListHelp() {
  std::string s = "Passes (for --passes and --print-after):\n";
  for (const compiler::PassInfo &p : compiler::passRegistry()) {
    std::string name(p.name);
    name.resize(std::max<size_t>(name.size(), 14), ' ');
    s += "  " + name + " " + std::string(p.description) + "\n";
  }
  return s;
}

} // namespace chainjit::cli
