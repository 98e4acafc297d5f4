// Checkpoints of training runs: resuming gives the uninterrupted run's
// params bit for bit; a corrupt, mismatched or unasked-for checkpoint is a
// clear error and the file stays as it was.
#include "DigitsTesting.h"
#include "FileTesting.h"
#include "FixedKernelWays.h"

#include "OneBlasThread.h"
#include "ScopedEnv.h"
#include "ScopedGemmWay.h"
#include "ScopedSplitMode.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

using namespace chainjit;
using namespace chainjit::runtime::train;
using chainjit::testing::errorOf;
using chainjit::testing::examplePath;
using chainjit::testing::readBytes;
using chainjit::testing::TempFile;

namespace {

// The first 300 digits, scaled: enough for a few quick epochs.
const runtime::Dataset &smallDigits() {
  static const runtime::Dataset d = chainjit::testing::firstDigits(300);
  return d;
}

TrainConfig config(const std::string &optimizer, const std::string &path, int64_t epochs) {
  TrainConfig c;
  c.optimizer.kind = parseOptimizerKind(optimizer);
  c.optimizer.stepSize.base = optimizer == "adam" ? 0.01 : 0.05;
  c.batch = 32;
  c.epochs = epochs;
  c.seed = 11;
  c.checkpointPath = path;
  return c;
}

} // namespace

TEST_CASE("checkpoint: resuming equals uninterrupted training, bit for bit") {
  chainjit::testing::FixedKernelWays fixed; // the same bits need the same kernels
  ir::Graph model = ir::parseGraphFile(examplePath("digits_mlp.cj"));
  // momentum: the update and velocities in the step graph; adam: the
  // optimizer's exported state; nesterov: its iterate and step count.
  for (const char *opt : {"momentum", "adam", "nesterov"}) {
    CAPTURE(opt);
    TempFile straight(std::string("straight_") + opt + ".ckpt");
    TempFile split(std::string("split_") + opt + ".ckpt");
    std::filesystem::remove(straight.path);
    std::filesystem::remove(split.path);

    Trainer a(model, config(opt, straight.str(), 4));
    History ha = a.fit(smallDigits(), &smallDigits());

    Trainer b1(model, config(opt, split.str(), 2));
    b1.fit(smallDigits(), &smallDigits());
    TrainConfig resumed = config(opt, split.str(), 4);
    resumed.resume = true;
    Trainer b2(model, resumed);
    History hb = b2.fit(smallDigits(), &smallDigits());

    REQUIRE(hb.epochs.size() == 4);
    for (size_t e = 0; e < 4; ++e) {
      CHECK(hb.epochs[e].train.loss == ha.epochs[e].train.loss);
      CHECK(hb.epochs[e].validation->loss == ha.epochs[e].validation->loss);
    }
    runtime::Bindings pa = a.modelParams(), pb = b2.modelParams();
    for (const auto &[name, t] : pa)
      CHECK(pb.at(name) == t);
    // The checkpoints themselves agree too (history times aside).
    runtime::TensorMap ca = runtime::loadCheckpoint(straight.str());
    runtime::TensorMap cb = runtime::loadCheckpoint(split.str());
    CHECK(ca.size() == cb.size());
    for (const auto &[name, t] : ca)
      if (name != "history.seconds")
        CHECK(cb.at(name) == t);
  }
}

// training.md, "Reproducible results": with the kernels' ways fixed in the
// environment, two trainings of a model whose products reach the measured
// choices (the Fashion MLP: 64 x 784 x 256) give the same bits, whatever
// the pool's threads were measured at (the split's parts are equal when
// forced, not the threads' speeds).
TEST_CASE("reproducible: with the kernels' ways fixed, trainings give the same bits") {
  ir::Graph model = ir::parseGraphFile(examplePath("fashion_mlp.cj"));
  runtime::Dataset data;
  data.features = ir::Tensor(ir::f32({640, 784}));
  data.labels = ir::Tensor(ir::i32({640}));
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> pixel(0, 1);
  for (int64_t e = 0; e < 640 * 784; ++e)
    data.features.set(e, pixel(rng));
  for (int64_t i = 0; i < 640; ++i)
    data.labels.set(i, double(i % 10));
  TrainConfig c = config("momentum", "", 2);
  c.batch = 64;
  // Every product through the library's GEMM (not generated loops), and
  // OpenBLAS on one thread, as the chainjit command sets it: only then do
  // the products split over the kernels' threads.
  chainjit::testing::ScopedEnv threshold("CHAINJIT_BLAS_THRESHOLD", "0");
  chainjit::testing::OneBlasThread one;
  compiler::jit::kernels::WorkerPool *pool = compiler::jit::kernels::WorkerPool::get();
  for (const char *way : {"blas", "rank-k"}) {
    CAPTURE(way);
    chainjit::testing::ScopedSplitMode threads("force");
    chainjit::testing::ScopedGemmWay gemm(way);
    std::vector<runtime::Bindings> params;
    for (int run = 0; run < 2; ++run) {
      if (pool) { // the second run after the caller was measured twice as fast
        pool->speeds().reset();
        const double work[] = {10, 10}, seconds[] = {1e-3, 2e-3};
        for (int i = 0; run == 1 && i < 100; ++i)
          pool->speeds().record(2, work, seconds);
      }
      Trainer t(model, c);
      t.fit(data, nullptr);
      params.push_back(t.modelParams());
    }
    for (const auto &[name, value] : params[0])
      CHECK(params[1].at(name) == value);
  }
  if (pool)
    pool->speeds().reset();
}

TEST_CASE("checkpoint: corrupt, mismatched or existing files are errors that change nothing") {
  ir::Graph model = ir::parseGraphFile(examplePath("digits_mlp.cj"));
  TempFile file("trainer.ckpt");
  std::filesystem::remove(file.path);
  Trainer(model, config("momentum", file.str(), 1)).fit(smallDigits());
  std::string good = readBytes(file.str());

  // Not asked to resume or overwrite: refused before any training.
  std::string msg = errorOf([&] { Trainer(model, config("momentum", file.str(), 1)).fit(smallDigits()); });
  CHECK(msg.find("checkpoint exists") != std::string::npos);
  CHECK(readBytes(file.str()) == good);

  // Another optimizer or batch size: the settings are named.
  TrainConfig other = config("sgd", file.str(), 2);
  other.batch = 16;
  other.resume = true;
  msg = errorOf([&] { Trainer(model, other).fit(smallDigits()); });
  CHECK(msg.find("another optimizer (this run: gd)") != std::string::npos);
  CHECK(msg.find("another batch size (this run: 16)") != std::string::npos);
  CHECK(readBytes(file.str()) == good);

  // Another model: the params that differ are listed.
  std::string text = readBytes(examplePath("digits_mlp.cj"));
  for (auto [from, to] : {std::pair<std::string, std::string>{"[64, 128]", "[64, 100]"},
                          {"f32[128]", "f32[100]"}, {"[128, 10]", "[100, 10]"}})
    for (size_t at; (at = text.find(from)) != std::string::npos;)
      text.replace(at, from.size(), to);
  TempFile widerFile("wider.cj", text);
  TrainConfig resume = config("momentum", file.str(), 2);
  resume.resume = true;
  msg = errorOf([&] { Trainer(ir::parseGraphFile(widerFile.str()), resume).fit(smallDigits()); });
  CHECK(msg.find("param.W1") != std::string::npos);
  CHECK(readBytes(file.str()) == good);

  // A flipped byte: the checksum catches it.
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x40;
  { std::ofstream(file.path, std::ios::binary) << bad; }
  msg = errorOf([&] { Trainer(model, resume).fit(smallDigits()); });
  CHECK(msg.find(file.str()) != std::string::npos);
  CHECK(msg.find("checksum") != std::string::npos);
  CHECK(readBytes(file.str()) == bad);

  TempFile missing("missing.ckpt");
  std::filesystem::remove(missing.path);
  resume.checkpointPath = missing.str();
  CHECK(errorOf([&] { Trainer(model, resume).fit(smallDigits()); }).find("does not exist") !=
        std::string::npos);
}
