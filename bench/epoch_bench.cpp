// Issue 14, "Training loop overhead": a whole training epoch of the
// Fashion-MNIST models of examples/ (the MLP 784-256-10 and the CNN) through
// runtime::train::Trainer, SGD with momentum 0.9, lr 0.05, batch 64, epoch
// sampling (60,000 samples: 937 batches of 64 and one of 32), against the
// sum of its compiled steps: the time inside the step calls, which the
// trainer reports beside the epoch's wall time (EpochMetrics::stepSeconds).
// The difference is what the epoch spends outside the compiled step
// (sampling, gathering the batch, metrics, the loop).
//
// Also printed: the FLOP limit of an epoch (its GEMM and convolution
// multiply-adds at the rate cblas_sgemm 1024^3 sustains on either side of
// each epoch, probed between epochs) and the machine.
// bench/epoch_torch.py reads the results file and times PyTorch's epoch of
// the same models in the same run (bench/run_all.sh).
//
//   epoch_bench [--data DIR] [--examples DIR] [--epochs N] [--general-epochs N]
//               [--models mlp,cnn] [--results FILE] [--profile]
//
// --examples: the repository's examples/ (default: ./examples). --epochs:
// epochs of the trainer (default 3; the first is left out), --general-epochs:
// of the general path for comparison (default 2; 0 or 1: not run).
// --profile: after the table, each model trained again for two epochs with
// its step profiled (TrainConfig::profileSteps, `train --profile`): the
// step's kernels with their times, and its GEMM and convolution kernels
// against their FLOPs at the rate sgemm 1024^3 sustains just before.
//
// DIR holds Fashion-MNIST's IDX files (train-images-idx3-ubyte.gz,
// train-labels-idx1-ubyte.gz; default /usr/share/datasets/fashion-mnist from
// Debian's dataset-fashion-mnist); without them, synthetic data of the same
// shape (random pixels and labels) is used. Pixels are scaled by 1/255 once,
// before training.
#include "BenchSupport.h"

#include <chainjit/chainjit.h>
#include <chainjit/runtime/train/ModelGraphs.h>
#include <cblas.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace cj = chainjit;
namespace train = chainjit::runtime::train;
using benchsupport::now;

namespace {


struct Model {
  std::string key, file;
  // FLOPs per sample of one step: 2 x the multiply-adds of its GEMMs and
  // convolutions (forward, weight gradients, input gradients but the
  // first layer's). Elementwise work, pooling and the loss are left out.
  double flopsPerSample;
};

const Model kModels[] = {
    // 784x256 and 256x10: forward and weight gradient of both, input
    // gradient of the second.
    {"mlp", "fashion_mlp.cj", 2.0 * (2 * 784 * 256 + 3 * 256 * 10)},
    // conv 5x5 1->8 at 28x28 (K = 25; forward, dK), conv 3x3 8->16 at
    // 14x14 (K = 72; forward, dK, dX), dense 784x64 and 64x10 (all three).
    {"cnn", "fashion_cnn.cj",
     2.0 * (2.0 * 8 * 784 * 25 + 3.0 * 16 * 196 * 72 + 3.0 * 784 * 64 + 3.0 * 64 * 10)},
};

cj::runtime::Dataset loadData(const std::string &dir, bool &real) {
  std::string images = dir + "/train-images-idx3-ubyte.gz", labels = dir + "/train-labels-idx1-ubyte.gz";
  cj::runtime::Dataset d;
  if (std::filesystem::exists(images) && std::filesystem::exists(labels)) {
    d = cj::runtime::loadIdxDataset(images, labels, cj::ir::DType::f32);
    real = true;
  } else {
    constexpr int64_t n = 60000, features = 784;
    d.features = cj::ir::Tensor({cj::ir::DType::f32, {n, features}});
    d.labels = cj::ir::Tensor({cj::ir::DType::i32, {n}});
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> pixel(0, 255), label(0, 9);
    float *x = d.features.as<float>();
    for (int64_t i = 0; i < n * features; ++i)
      x[i] = float(pixel(rng));
    int32_t *y = d.labels.as<int32_t>();
    for (int64_t i = 0; i < n; ++i)
      y[i] = label(rng);
    real = false;
  }
  cj::runtime::scale(d, 1.0 / 255.0); // once, before training
  return d;
}

// The machine's GEMM rate: sgemm 1024^3 on OpenBLAS's own threads (all
// CPUs), over `calls` calls one after the other: the best call's rate and
// the rate they sustained together (their FLOPs over their total time).
struct GemmRate {
  double best = 0, sustained = 0;
};
GemmRate sgemmRate(int calls = 15) {
  const int n = 1024;
  std::vector<float> a(size_t(n) * n, 1.0f), b(size_t(n) * n, 0.5f), c(size_t(n) * n);
  const double flops = 2.0 * n * n * n;
  GemmRate r;
  benchsupport::withOpenBlasThreads([&] {
    const double start = now();
    for (int i = 0; i < calls; ++i) {
      double t0 = now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                  b.data(), n, 0.0f, c.data(), n);
      r.best = std::max(r.best, flops / (now() - t0));
    }
    r.sustained = flops * calls / (now() - start);
  });
  return r;
}

// The epochs' wall times, the time inside their compiled step calls, and
// the GEMM rate probed between epochs (rates[i] before epoch i, rates[i + 1]
// after it): this host's rate moved by half within minutes (sgemm 1024^3 on
// both CPUs from 123 to 264 GFLOP/s in one hour), so each epoch's limit is
// taken from the probes on either side of it rather than from one probe at
// the start. The probe runs after the trainer has taken the epoch's time.
// The limit is at the rate the probe's calls sustained together, the
// statistic of the epoch itself (its time is every step's, not its fastest
// step's): on this shared host single calls vary by half (the MLP's forward
// half alone: fastest 91 us, median 98-140 us in one process), so the best
// call measures a quiet moment that an epoch of 938 steps never has
// throughout; the ratio to the best call is printed beside it.
struct Epochs : train::TrainObserver {
  std::vector<double> seconds, inSteps;
  std::vector<GemmRate> rates;
  void onEpoch(const train::EpochMetrics &m, int64_t) override {
    seconds.push_back(m.seconds);
    inSteps.push_back(m.stepSeconds);
    if (probe)
      rates.push_back(sgemmRate(kProbeCalls));
  }
  bool probe = true; // false: the general path's epochs, which no limit is taken for
  static constexpr int kProbeCalls = 9;
};

// The epochs' training: SGD with momentum 0.9, lr 0.05.
train::TrainConfig momentumConfig(int64_t batch, int epochs) {
  train::TrainConfig config;
  config.optimizer.kind = train::OptimizerKind::Momentum;
  config.optimizer.stepSize.base = 0.05;
  config.optimizer.momentum = 0.9;
  config.batch = batch;
  config.epochs = epochs;
  return config;
}

// The model trained for two epochs with its step profiled; the step at the
// full batch size: its kernels, then its GEMM and convolution kernels
// against their multiply-adds at the sgemm rate of the moment.
void printStepProfile(const Model &m, const std::filesystem::path &examples,
                      const cj::runtime::Dataset &data, int64_t batch) {
  cj::ir::Graph model = cj::ir::parseGraphFile((examples / m.file).string());
  train::TrainConfig config = momentumConfig(batch, 2);
  config.profileSteps = true;
  train::Trainer trainer(model, config);
  const GemmRate rate = sgemmRate(Epochs::kProbeCalls);
  trainer.fit(data);
  for (const auto &[b, p] : trainer.stepProfiles()) {
    if (b != batch || p.calls == 0)
      continue;
    fmt::print("\n{}: the training step at batch {}, time per kernel (two epochs; "
               "train --profile):\n{}",
               m.key, b, cj::compiler::formatProfile(p));
    double products = 0;
    for (const cj::compiler::KernelTime &k : p.kernels)
      if (k.kernel.find(" gemm ") != std::string::npos ||
          k.kernel.find("cj_conv") != std::string::npos)
        products += k.seconds;
    const double calls = double(p.calls), perStep = p.seconds / calls;
    const double limit = m.flopsPerSample * double(batch) / rate.sustained;
    fmt::print("{}: per step {}; its GEMM and convolution kernels {} ({:.0f}%), their FLOPs at "
               "sgemm 1024^3's sustained rate just before ({:.1f} GFLOP/s) {}: {:.2f}x that; "
               "the other kernels and the call {} ({:.0f}%)\n",
               m.key, benchsupport::fmtTime(perStep), benchsupport::fmtTime(products / calls),
               100 * products / p.seconds, rate.sustained / 1e9, benchsupport::fmtTime(limit),
               products / calls / limit, benchsupport::fmtTime(perStep - products / calls),
               100 * (1 - products / p.seconds));
  }
}

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  std::string dir = "/usr/share/datasets/fashion-mnist", results, only = "mlp,cnn";
  std::filesystem::path examples = "examples";
  int epochs = 3, generalEpochs = 2;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--data" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--examples" && i + 1 < argc)
      examples = argv[++i];
    else if (a == "--epochs" && i + 1 < argc)
      epochs = std::max(2, std::atoi(argv[++i]));
    else if (a == "--general-epochs" && i + 1 < argc)
      generalEpochs = std::max(0, std::atoi(argv[++i]));
    else if (a == "--models" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--results" && i + 1 < argc)
      results = argv[++i];
    else if (a == "--profile")
      profile = true;
    else {
      fmt::print(
          stderr,
          "usage: epoch_bench [--data DIR] [--examples DIR] [--epochs N] [--general-epochs N] "
          "[--models mlp,cnn] [--results FILE] [--profile]\n");
      return 2;
    }
  }
  benchsupport::printMachine();
  bool real = false;
  cj::runtime::Dataset data = loadData(dir, real);
  const int64_t n = data.size(), batch = 64;
  const double rate = sgemmRate().best;
  fmt::print("data: {} ({} samples, pixels scaled by 1/255 once); sgemm 1024^3 now {:.1f} GFLOP/s (best of 15, OpenBLAS on all CPUs)\n",
             real ? "Fashion-MNIST from " + dir : std::string("synthetic, Fashion-MNIST's shape"), n,
             rate / 1e9);
  fmt::print("epoch: SGD momentum 0.9, lr 0.05, batch {}, {} steps; the first of {} epochs (compiling the "
             "last batch's graph) is left out; medians of the rest\n\n",
             batch, (n + batch - 1) / batch, epochs);
  fmt::print("{:<6} {:>10} {:>12} {:>10} {:>14} {:>12} {:>10}   {}\n", "model", "epoch",
             "sum of steps", "outside", "general path", "FLOP limit", "epoch/limit",
             "epochs      vs best   sgemm probes (GFLOP/s)");
  std::ofstream tsv;
  if (!results.empty())
    tsv.open(results);
  for (const Model &m : kModels) {
    if (only.find(m.key) == std::string::npos)
      continue;
    cj::ir::Graph model = cj::ir::parseGraphFile((examples / m.file).string());
    train::ModelSignature sig = train::inspectModel(model);
    train::TrainConfig config = momentumConfig(batch, epochs);
    train::Trainer trainer(model, config);
    Epochs seen;
    seen.rates.push_back(sgemmRate(Epochs::kProbeCalls));
    trainer.fit(data, nullptr, &seen);
    std::vector<double> e(seen.seconds.begin() + 1, seen.seconds.end()),
        s(seen.inSteps.begin() + 1, seen.inSteps.end());
    double epoch = benchsupport::median(e), steps = benchsupport::median(s);
    std::vector<double> shares;
    for (size_t i = 0; i < e.size(); ++i)
      shares.push_back((e[i] - s[i]) / e[i]);
    double outside = benchsupport::median(shares);
    // The same epochs the general way (every step through Executable::run,
    // as before the bound steps), for comparison.
    double generalEpoch = 0;
    if (generalEpochs >= 2) {
      setenv("CHAINJIT_TRAINER_BOUND_STEPS", "0", 1);
      config.epochs = generalEpochs;
      train::Trainer general(model, config);
      unsetenv("CHAINJIT_TRAINER_BOUND_STEPS");
      Epochs seenGeneral;
      seenGeneral.probe = false;
      general.fit(data, nullptr, &seenGeneral);
      generalEpoch = benchsupport::median(
          std::vector<double>(seenGeneral.seconds.begin() + 1, seenGeneral.seconds.end()));
    }
    // Each epoch against its limit at the rate sgemm sustained on either
    // side of it (the faster side), and against the best single call there
    // (stricter); the medians of those ratios.
    std::vector<double> limits, ratios, strict;
    for (size_t i = 1; i < seen.seconds.size(); ++i) {
      const GemmRate &before = seen.rates[i], &after = seen.rates[i + 1];
      const double flops = m.flopsPerSample * double(n);
      limits.push_back(flops / std::max(before.sustained, after.sustained));
      ratios.push_back(seen.seconds[i] / limits.back());
      strict.push_back(seen.seconds[i] / (flops / std::max(before.best, after.best)));
    }
    const double limit = benchsupport::median(limits), ratio = benchsupport::median(ratios),
                 strictRatio = benchsupport::median(strict);
    const auto [rlo, rhi] = std::minmax_element(ratios.begin(), ratios.end());
    double lo = 1e30, hi = 0;
    for (size_t i = 1; i < seen.rates.size(); ++i)
      lo = std::min(lo, seen.rates[i].sustained), hi = std::max(hi, seen.rates[i].best);
    fmt::print("{:<6} {:>10} {:>12} {:>9.1f}% {:>14} {:>12} {:>9.2f}x   {:.2f}-{:.2f}x {:>9.2f}x   "
               "{:.0f}-{:.0f}\n",
               m.key, benchsupport::fmtTime(epoch), benchsupport::fmtTime(steps), 100.0 * outside,
               generalEpoch > 0 ? benchsupport::fmtTime(generalEpoch) : std::string("-"),
               benchsupport::fmtTime(limit), ratio, *rlo, *rhi, strictRatio, lo / 1e9, hi / 1e9);
    if (tsv)
      tsv << "epoch\t" << m.key << "\t" << epoch << "\n"
          << "steps\t" << m.key << "\t" << steps << "\n"
          << "outside\t" << m.key << "\t" << outside << "\n"
          << "general\t" << m.key << "\t" << generalEpoch << "\n"
          << "limit\t" << m.key << "\t" << limit << "\n"
          << "ratio\t" << m.key << "\t" << ratio << "\n"
          << "strict\t" << m.key << "\t" << strictRatio << "\n";
  }
  if (tsv)
    tsv << "data\t" << (real ? dir : "synthetic") << "\t0\n";
  fmt::print(
      "\nsum of steps = the time inside the compiled step calls (the trainer's own timing); "
      "outside = (epoch - sum of steps) / epoch, the loop, sampling, "
      "gathering and metrics (issue 14's target: at most 10%), median over the epochs; general "
      "path = "
      "the epoch with every step through Executable::run (CHAINJIT_TRAINER_BOUND_STEPS=0), as "
      "before the bound steps; FLOP limit = the epoch's GEMM and convolution FLOPs at the "
      "rate sgemm 1024^3 sustained over {} calls (all CPUs) just before or just after that "
      "epoch, the faster of the two, median over the epochs; epoch/limit = the median of each "
      "epoch's ratio to its own limit, the epochs' range beside it; vs best = the same against "
      "the best single call of the two probes (stricter); then the probes' range, from the "
      "slowest sustained rate to the best call\n",
      Epochs::kProbeCalls);
  if (profile)
    for (const Model &m : kModels)
      if (only.find(m.key) != std::string::npos)
        printStepProfile(m, examples, data, batch);
  return 0;
}
