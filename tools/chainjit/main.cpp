// The chainjit command-line tool: a thin layer over the libraries.
#include "chainjit/ir/Error.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

int main(int argc, char **argv) {
  CLI::App app{"chainjit: a compiler for differentiable programs"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
