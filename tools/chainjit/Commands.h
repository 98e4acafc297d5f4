// The commands of the chainjit tool. Each lives in its own file, adds its
// subcommand and options to the app, and returns what runs it once the
// command line has been parsed. The work itself is done by the libraries.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <stdexcept>
#include <utility>
#include <vector>

namespace chainjit::cli {

struct Command {
  CLI::App *app;            // the subcommand; parsed() says it was chosen
  std::function<int()> run; // returns the exit code
};

// A problem with the command line that CLI11 cannot see (a malformed
// NAME=PATH pair, an unknown pass or backend): exit code 2 like CLI11's own.
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// --alloc-limit (AllocLimitOption.cpp): adds the option; applies a given
// value (a UsageError if it is no byte count).
void addAllocLimitOption(CLI::App *cmd, std::string &value);
void applyAllocLimit(const std::string &value);

// NAME=FILE,NAME=FILE (NamedFilesOption.cpp): a file per model input, in the
// order given; a UsageError naming `flag` if malformed or a name repeats.
using NamedFiles = std::vector<std::pair<std::string, std::string>>;
NamedFiles parseNamedFiles(const std::string &spec, const std::string &flag);

Command addDumpCommand(CLI::App &app); // DumpCommand.cpp
Command addRunCommand(CLI::App &app);  // RunCommand.cpp
// grad, jvp, vjp, jacobian, hessian, hvp: DerivativeCommands.cpp
std::vector<Command> addDerivativeCommands(CLI::App &app);
Command addCostCommand(CLI::App &app); // CostCommand.cpp
Command addTrainCommand(CLI::App &app); // TrainCommand.cpp
// params export, params inspect: ParamsCommand.cpp
std::vector<Command> addParamsCommands(CLI::App &app);
Command addPredictCommand(CLI::App &app); // PredictCommand.cpp
Command addCompileCommand(CLI::App &app); // CompileCommand.cpp
Command addImportCommand(CLI::App &app);  // ImportCommand.cpp
Command addSampleCommand(CLI::App &app);  // SampleCommand.cpp

} // namespace chainjit::cli
