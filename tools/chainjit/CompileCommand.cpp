// chainjit compile MODEL.cj --aot -o DIR [--params FILE] [--outputs NAME,...]
//                  [--batch N] [--target-cpu CPU] [--name NAME]
// Writes an ahead-of-time bundle (compiler/Aot.h, docs/deploy.md): a C
// header and a static library that a C program links with OpenBLAS and
// libm alone. The graph is prepared as for prediction: pruned to the chosen
// outputs, in eval mode, at the chosen batch size; the weights given with
// --params are checked against it and embedded, with their data
// preparation written into the header.
#include "Commands.h"

#include "chainjit/compiler/Aot.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <charconv>
#include <iostream>
#include <memory>

namespace chainjit::cli {

namespace {

namespace rt = runtime::train;

struct CompileOptions {
  std::string model;
  bool aot = false;
  std::string dir;
  std::string paramsFile;
  std::vector<std::string> outputs; // --outputs, in order
  std::optional<int64_t> batch;
  std::string targetCpu = "host";
  std::string name;
  std::string allocLimit;
};

std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string initializer(const std::vector<double> &values) {
  std::string s = "{";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + number(values[i]);
  return s + "}";
}

// How the features must be prepared before NAME_run, for the header.
void describePreparation(const runtime::DataPreparation &prep, compiler::AotOptions &aot) {
  if (prep.scale) {
    aot.headerComment = "The weights were trained on features multiplied by " +
                        number(*prep.scale) + " (train --scale): multiply each\nfeature by " +
                        "NAME_DATA_SCALE before passing it to NAME_run.";
    aot.headerDefines.emplace_back("DATA_SCALE", number(*prep.scale));
  } else if (prep.standardize) {
    aot.headerComment = "The weights were trained on standardized features (train "
                        "--standardize): pass\n(x[j] - mean[j]) / std[j] with mean = "
                        "NAME_DATA_MEAN and std = NAME_DATA_STD\n(initializers of double "
                        "arrays, one value per feature).";
    aot.headerDefines.emplace_back("DATA_FEATURES",
                                   std::to_string(prep.standardize->mean.size()));
    aot.headerDefines.emplace_back("DATA_MEAN", initializer(prep.standardize->mean));
    aot.headerDefines.emplace_back("DATA_STD", initializer(prep.standardize->std));
  }
}

void replaceAll(std::string &s, const std::string &from, const std::string &to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

int runCompile(const CompileOptions &o) {
  applyAllocLimit(o.allocLimit);
  if (!o.aot)
    throw UsageError("compile: only ahead-of-time bundles exist so far: add --aot");
  if (o.batch && *o.batch < 1)
    throw UsageError("--batch " + std::to_string(*o.batch) + ": the batch size must be at least 1");
  const std::vector<std::string> &chosen = o.outputs;

  ir::Graph model = ir::parseGraphFile(o.model);
  ir::Graph g = chosen.empty() ? model : rt::withOutputs(model, chosen);
  g = rt::withoutUnusedValues(compiler::expandModes(g, compiler::Mode::Eval));
  if (o.batch) {
    int64_t from = rt::graphBatchSize(g);
    if (from == 0)
      throw Error("--batch " + std::to_string(*o.batch) + ": graph '" + g.name() +
                  "' has no input with a batch dimension");
    if (from != *o.batch)
      g = rt::withBatchSize(g, from, *o.batch);
  }
  ir::verifyOrThrow(g);

  compiler::AotOptions aot;
  aot.name = o.name;
  aot.targetCpu = o.targetCpu;
  runtime::Bindings params;
  if (!o.paramsFile.empty()) {
    runtime::Weights weights = runtime::loadWeights(o.paramsFile);
    params = runtime::bindParams(g, weights.params, o.paramsFile);
    describePreparation(weights.preparation, aot);
  }
  compiler::AotBundle b = compiler::writeAotBundle(g, params, o.dir, aot);
  replaceAll(b.dir, "\n", " ");
  std::cout << "bundle " << b.name << " for CPU " << b.targetCpu << " ("
            << (params.empty() ? "params as arguments" : std::to_string(params.size()) +
                                                             " params embedded")
            << ", workspace " << b.workspaceBytes << " bytes) -> " << b.dir << ":";
  for (const std::string &f : b.files)
    std::cout << " " << f;
  std::cout << "\n";
  return 0;
}

} // namespace

Command addCompileCommand(CLI::App &app) {
  auto o = std::make_shared<CompileOptions>();
  CLI::App *cmd = app.add_subcommand(
      "compile", "Compile a model ahead of time into a bundle that a C program links with "
                 "OpenBLAS alone (docs/deploy.md)");
  cmd->add_option("model", o->model, "The model, a .cj file")->required();
  cmd->add_flag("--aot", o->aot, "Write an ahead-of-time bundle (the only kind so far)");
  cmd->add_option("-o,--output", o->dir, "The bundle directory (created if missing)")
      ->required();
  cmd->add_option("--params", o->paramsFile,
                  "Weights to embed: a checkpoint or an .npz archive (without it, params "
                  "are arguments of NAME_run)");
  cmd->add_option("--outputs", o->outputs,
                  "Compute only these outputs (comma-separated), from only the inputs they "
                  "need")
      ->delimiter(',');
  cmd->add_option("--batch", o->batch, "The batch size (default: the model's)");
  cmd->add_option("--target-cpu", o->targetCpu,
                  "The CPU to compile for: host (default), or an LLVM CPU name such as "
                  "x86-64, x86-64-v2, x86-64-v3, haswell, znver3");
  cmd->add_option("--name", o->name,
                  "The C prefix of the bundle's functions and files (default: the graph's "
                  "name)");
  addAllocLimitOption(cmd, o->allocLimit);
  return {cmd, [o] { return runCompile(*o); }};
}

} // namespace chainjit::cli
