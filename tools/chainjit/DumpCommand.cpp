// chainjit dump FILE [--format text|dot|json] [--passes=a,b]
//                    [--print-after=PASS]... [--print-after-all]
// Parses (which verifies) a graph, runs the chosen passes, prints the result.
#include "Commands.h"
#include "GraphOutput.h"

#include "chainjit/ir/Parser.h"

#include <memory>

namespace chainjit::cli {

namespace {

struct DumpOptions {
  std::string file;
  GraphOutputOptions output;
};

int runDump(const DumpOptions &o) {
  checkGraphOutputOptions(o.output);
  printGraphOutput(ir::parseGraphFile(o.file), o.output);
  return 0;
}

} // namespace

Command addDumpCommand(CLI::App &app) {
  auto o = std::make_shared<DumpOptions>();
  CLI::App *cmd = app.add_subcommand(
      "dump", "Parse and verify a graph, optionally run passes, and print it as text IR, "
              "Graphviz DOT or JSON");
  cmd->add_option("file", o->file, "The graph, a .cj file")->required();
  addGraphOutputOptions(cmd, o->output);
  cmd->footer(passListHelp() +
              "\nExamples:\n"
              "  chainjit dump examples/mlp.cj\n"
              "  chainjit dump examples/mlp.cj --format json\n"
              "  chainjit dump examples/cnn.cj --format dot | dot -Tsvg > cnn.svg\n"
              "  chainjit dump model.cj --passes=expand-eval,dce --print-after-all");
  return {cmd, [o] { return runDump(*o); }};
}

} // namespace chainjit::cli
