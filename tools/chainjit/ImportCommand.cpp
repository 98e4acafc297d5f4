// chainjit import MODEL.onnx -o MODEL.cj [--weights W.npz] [--consts]
//     [--loss cross_entropy [--labels NAME]] [--dim NAME=N ...]
// An ONNX model as a .cj graph and its initializers as an .npz archive of
// param values (for run --params, predict --params, train --init-from).
// The work is in frontends/onnx (chainjit/frontends/Onnx.h).
#include "Commands.h"

#include "chainjit/frontends/Onnx.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/runtime/Npz.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace chainjit::cli {

namespace {

struct ImportOptions {
  std::string model;
  std::string output;
  std::string weights;
  bool consts = false;
  std::string loss;
  std::string labels = "labels";
  std::vector<std::string> dims;
};

int runImport(const ImportOptions &o) {
  frontends::OnnxImportOptions opts;
  opts.initializersAsConsts = o.consts;
  for (const std::string &d : o.dims) {
    size_t eq = d.find('=');
    int64_t v = -1;
    try {
      size_t used = 0;
      if (eq != std::string::npos)
        v = std::stoll(d.substr(eq + 1), &used);
      if (eq == std::string::npos || used != d.size() - eq - 1 || v < 0)
        v = -1;
    } catch (const std::exception &) {
      v = -1;
    }
    if (v < 0 || eq == 0)
      throw UsageError("--dim " + d + ": expected NAME=N with N >= 0");
    opts.dimValues[d.substr(0, eq)] = v;
  }
  if (!o.loss.empty() && o.loss != "cross_entropy")
    throw UsageError("--loss " + o.loss + ": the supported loss is cross_entropy");

  frontends::OnnxImport m = frontends::importOnnx(o.model, opts);
  if (!o.loss.empty())
    frontends::attachLoss(m, o.loss, o.labels);

  std::ofstream out(o.output, std::ios::binary);
  if (!out)
    throw Error("cannot write the file", SourceLoc{o.output});
  out << "# Imported from " << std::filesystem::path(o.model).filename().string()
      << " (ONNX opset " << m.opsetVersion << ") by chainjit import\n"
      << ir::printGraph(m.graph);
  out.close();
  if (!out)
    throw Error("cannot write the file", SourceLoc{o.output});
  std::cout << o.model << ": " << m.graph.size() << " values, " << m.graph.inputs().size()
            << " inputs, " << m.graph.params().size() << " params -> " << o.output << "\n";
  if (!m.params.empty()) {
    std::string weights = o.weights;
    if (weights.empty())
      weights = std::filesystem::path(o.output).replace_extension(".npz").string();
    runtime::saveNpz(weights, runtime::TensorMap(m.params.begin(), m.params.end()));
    std::cout << m.params.size() << " initializers -> " << weights << "\n";
  }
  return 0;
}

} // namespace

Command addImportCommand(CLI::App &app) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App *cmd = app.add_subcommand(
      "import", "Convert an ONNX model to a .cj graph (and its initializers to an .npz)");
  cmd->add_option("model", o->model, "The model, an .onnx file")->required();
  cmd->add_option("-o,--output", o->output, "The .cj file to write")->required();
  cmd->add_option("--weights", o->weights,
                  "Where the initializers go, as param values in an .npz archive (default: "
                  "the output with .npz in place of .cj)");
  cmd->add_flag("--consts", o->consts,
                "Initializers become consts written into the graph (not trained) instead of "
                "params");
  cmd->add_option("--loss", o->loss,
                  "Attach a training loss to the first output: cross_entropy (the output "
                  "must be logits [N, C])");
  cmd->add_option("--labels", o->labels, "The name of the labels input --loss adds (labels)");
  cmd->add_option("--dim", o->dims,
                  "NAME=N: a value for the symbolic dimension NAME of the model's inputs "
                  "(repeat for each)");
  cmd->footer("Examples:\n"
              "  chainjit import mlp.onnx -o mlp.cj\n"
              "  chainjit import cnn.onnx -o cnn.cj --loss cross_entropy --labels labels\n"
              "  chainjit train cnn.cj --init-from cnn.npz --data ...");
  return {cmd, [o] { return runImport(*o); }};
}

} // namespace chainjit::cli
