// chainjit dump FILE [--format text|dot|json] [--passes=a,b]
//                    [--print-after=PASS]... [--print-after-all]
// Parses (which verifies) a graph, runs the chosen passes, prints the result.
#include "Commands.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Dot.h"
#include "chainjit/ir/Json.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <algorithm>
#include <iostream>
#include <memory>

namespace chainjit::cli {

namespace {

struct DumpOptions {
  std::string file;
  std::string format = "text";
  std::vector<std::string> passes;
  std::vector<std::string> printAfter;
  bool printAfterAll = false;
};

std::string render(const ir::Graph &g, const std::string &format) {
  if (format == "dot")
    return ir::printDot(g);
  if (format == "json")
    return ir::printJson(g);
  return ir::printGraph(g);
}

// Pass names are checked before the file is read, as usage errors.
void checkPassNames(const DumpOptions &o) {
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

int runDump(const DumpOptions &o) {
  checkPassNames(o);
  ir::Graph g = ir::parseGraphFile(o.file);
  if (!o.passes.empty()) {
    auto observer = [&](std::string_view pass, const ir::Graph &after) {
      bool wanted = o.printAfterAll || std::find(o.printAfter.begin(), o.printAfter.end(),
                                                 pass) != o.printAfter.end();
      if (wanted)
        std::cerr << "# *** after pass " << pass << " ***\n" << render(after, o.format);
    };
    g = compiler::runPasses(g, o.passes, observer);
  }
  std::cout << render(g, o.format);
  return 0;
}

std::string passList() {
  std::string s = "Passes (for --passes and --print-after):\n";
  for (const compiler::PassInfo &p : compiler::passRegistry()) {
    std::string name(p.name);
    name.resize(std::max<size_t>(name.size(), 14), ' ');
    s += "  " + name + " " + std::string(p.description) + "\n";
  }
  return s;
}

} // namespace

Command addDumpCommand(CLI::App &app) {
  auto o = std::make_shared<DumpOptions>();
  CLI::App *cmd = app.add_subcommand(
      "dump", "Parse and verify a graph, optionally run passes, and print it as text IR, "
              "Graphviz DOT or JSON");
  cmd->add_option("file", o->file, "The graph, a .cj file")->required();
  cmd->add_option("-f,--format", o->format, "Output format: text (default), dot, json")
      ->check(CLI::IsMember({"text", "dot", "json"}));
  cmd->add_option("--passes", o->passes, "Comma-separated passes to run, in order")
      ->delimiter(',');
  cmd->add_option("--print-after", o->printAfter,
                  "Print the graph to stderr after this pass (repeatable, or comma-separated)")
      ->delimiter(',');
  cmd->add_flag("--print-after-all", o->printAfterAll,
                "Print the graph to stderr after every pass");
  cmd->footer(passList() +
              "\nExamples:\n"
              "  chainjit dump examples/mlp.cj\n"
              "  chainjit dump examples/mlp.cj --format json\n"
              "  chainjit dump examples/cnn.cj --format dot | dot -Tsvg > cnn.svg\n"
              "  chainjit dump model.cj --passes=expand-eval,dce --print-after-all");
  return {cmd, [o] { return runDump(*o); }};
}

} // namespace chainjit::cli
