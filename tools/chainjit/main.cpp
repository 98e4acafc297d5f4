// The chainjit command-line tool: a thin layer over the libraries. main()
// parses the command line, runs the chosen command, and turns every error
// into a compiler-style message and an exit code:
//   0 success, 1 an error in the inputs (files, IR, data), 2 bad usage.
#include "Commands.h"

#include "chainjit/compiler/BlasCore.h"
#include "chainjit/compiler/BlasThreads.h"
#include "chainjit/ir/Error.h"

#include <iostream>
#include <vector>

#ifndef CHAINJIT_VERSION
#define CHAINJIT_VERSION "unknown"
#endif

using namespace chainjit;

namespace {

// "file:line:col: error: message" when there is a position, otherwise
// "chainjit: error: message", one line per diagnostic. Printed from the
// diagnostics, not from what(), which leaves "error:" to the printer.
void printError(const Error &e) {
  for (const Diagnostic &d : e.diagnostics()) {
    if (d.loc.hasPosition() || !d.loc.file.empty()) {
      std::cerr << d.str() << "\n";
    } else {
      std::cerr << "chainjit: error: ";
      if (!d.loc.node.empty())
        std::cerr << "in %" << d.loc.node << ": ";
      std::cerr << d.message << "\n";
    }
  }
}

std::string usageHint(const CLI::App &app) {
  for (const CLI::App *sub : app.get_subcommands())
    return "run 'chainjit " + sub->get_name() + " --help' for usage";
  return "run 'chainjit --help' for usage";
}

} // namespace

int main(int argc, char **argv) {
  // OpenBLAS picks its kernels before main(): where it did not know this
  // CPU, run again with the kernels of the CPU's ISA (BlasCore.h).
  compiler::rerunWithBlasSettings(argv);
  // OpenBLAS on one thread, chainjit's kernel threads splitting products
  // (BlasThreads.h).
  compiler::takeOverBlasThreads();
  CLI::App app{"chainjit: a compiler for differentiable programs", "chainjit"};
  app.set_version_flag("--version", [] {
    return "chainjit " CHAINJIT_VERSION "\nBLAS: " + compiler::blasCoreText() +
           "\nBLAS threads: " + compiler::blasThreadsText();
  });
  app.require_subcommand(1);
  std::vector<cli::Command> commands = {cli::addDumpCommand(app),
                                        cli::addRunCommand(app)};
  for (cli::Command &c : cli::addDerivativeCommands(app))
    commands.push_back(std::move(c));
  commands.push_back(cli::addCostCommand(app));
  commands.push_back(cli::addTrainCommand(app));
  for (cli::Command &c : cli::addParamsCommands(app))
    commands.push_back(std::move(c));
  commands.push_back(cli::addPredictCommand(app));
  commands.push_back(cli::addCompileCommand(app));
  commands.push_back(cli::addImportCommand(app));
  commands.push_back(cli::addSampleCommand(app));
  app.footer("Examples:\n"
             "  chainjit dump examples/mlp.cj --format dot | dot -Tsvg > mlp.svg\n"
             "  chainjit run examples/mlp.cj --input x=examples/data/mlp_x.csv "
             "--input labels=examples/data/mlp_labels.csv\n"
             "  chainjit grad examples/mlp.cj --of loss --wrt W1,b1\n"
             "  chainjit cost examples/mlp.cj --of loss --wrt W1,b1\n"
             "  chainjit predict examples/digits_mlp.cj --params digits.npz --data new.csv\n"
             "Run 'chainjit COMMAND --help' for the options of a command; "
             "docs/cli.md has the details.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0) // --help, --version
      return app.exit(e);
    std::cerr << "chainjit: error: " << e.what() << "\n" << usageHint(app) << "\n";
    return 2;
  }

  try {
    for (const cli::Command &c : commands)
      if (c.app->parsed())
        return c.run();
    return 2; // unreachable: require_subcommand(1)
  } catch (const cli::UsageError &e) {
    std::cerr << "chainjit: error: " << e.what() << "\n" << usageHint(app) << "\n";
    return 2;
  } catch (const Error &e) {
    printError(e);
    return 1;
  } catch (const std::bad_alloc &) {
    std::cerr << "chainjit: error: out of memory\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "chainjit: error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "chainjit: error: unknown internal error\n";
    return 1;
  }
}
