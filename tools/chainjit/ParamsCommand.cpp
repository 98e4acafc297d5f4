// chainjit params export CKPT -o weights.npz
// chainjit params inspect FILE
// Trained weights out of a checkpoint into a NumPy .npz archive, and a look
// at what a checkpoint or an archive holds. The work is in runtime/Weights.h.
#include "Commands.h"

#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/Trainer.h"

#include <iostream>
#include <memory>
#include <cstdio>

namespace chainjit::cli {

namespace {

struct ParamsOptions {
  std::string file;
  std::string output;
};

int runExport(const ParamsOptions &o) {
  runtime::Weights w = runtime::loadWeights(o.file);
  runtime::saveWeightsNpz(o.output, w);
  std::cout << w.params.size() << " params";
  if (!w.preparation.empty())
    std::cout << " and the data preparation (" << w.preparation.describe() << ")";
  std::cout << " -> " << o.output << "\n";
  return 0;
}

void printTrainingState(const runtime::TensorMap &state, const std::string &path) {
  namespace rt = runtime::train;
  std::optional<rt::TrainingState> t = rt::readTrainingState(state, path);
  if (!t) {
    std::cout << "training state: none\n";
    return;
  }
  std::cout << "training state: " << t->epochs << " epochs, " << t->steps << " steps done"
            << ", optimizer " << rt::optimizerKindName(t->optimizer) << ", sampling "
            << rt::samplingName(t->sampling) << ", batch " << t->batch
            << (t->stoppedInEpoch ? " (stopped within an epoch)" : "") << "\n";
}

int runInspect(const ParamsOptions &o) {
  // Loading checks the whole file: a checkpoint's CRC-32 and every record,
  // an archive's zip structure, each member's CRC-32 and .npy header.
  runtime::Weights w = runtime::loadWeights(o.file);
  std::cout << o.file << ": "
            << (w.fromCheckpoint ? "chainjit checkpoint, checksum ok (CRC-32 of the file)"
                                 : ".npz archive, checksums ok (CRC-32 of every member)")
            << "\n";
  int64_t entries = 0;
  for (const auto &[name, value] : w.params)
    entries += value.numel();
  std::cout << w.params.size() << " params, " << entries << " entries:\n";
  for (const auto &[name, value] : w.params) {
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x", runtime::elementsChecksum(value));
    std::cout << "  " << name << " : " << value.type().str() << "  crc32 " << crc << "\n";
  }
  std::cout << "data preparation: " << w.preparation.describe() << "\n";
  if (w.fromCheckpoint)
    printTrainingState(w.trainingState, o.file);
  return 0;
}

} // namespace

std::vector<Command> addParamsCommands(CLI::App &app) {
  CLI::App *params = app.add_subcommand(
      "params", "Export trained weights to a NumPy .npz archive, or inspect a weights file");
  params->require_subcommand(1);

  auto ex = std::make_shared<ParamsOptions>();
  CLI::App *exportCmd = params->add_subcommand(
      "export", "Write the params (and the data preparation) of a checkpoint to an .npz "
                "archive");
  exportCmd->add_option("checkpoint", ex->file, "A checkpoint (train --checkpoint) or an .npz")
      ->required();
  exportCmd->add_option("-o,--output", ex->output, "The .npz archive to write")->required();
  exportCmd->footer("\nExample:\n  chainjit params export digits.ckpt -o digits.npz\n"
                    "See docs/deploy.md.");

  auto in = std::make_shared<ParamsOptions>();
  CLI::App *inspectCmd = params->add_subcommand(
      "inspect", "List the params of a checkpoint or .npz archive: names, types, checksums, "
                 "data preparation and training state");
  inspectCmd->add_option("file", in->file, "A checkpoint or an .npz archive")->required();
  inspectCmd->footer("\nExample:\n  chainjit params inspect digits.npz\nSee docs/deploy.md.");

  return {{exportCmd, [ex] { return runExport(*ex); }},
          {inspectCmd, [in] { return runInspect(*in); }}};
}

} // namespace chainjit::cli
