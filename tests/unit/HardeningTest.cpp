// Regression tests of issue 9's defects in the IR and the trainer: types too
// large to exist, the allocation limit, counts read from a crafted
// checkpoint, a training run asked to stop, and bad samples caught when
// data is loaded.
#include "DigitsTesting.h"
#include "FileTesting.h"
#include "FixedKernelWays.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/CsvChunks.h"
#include "chainjit/runtime/Interpreter.h"
#include "chainjit/runtime/train/TrainData.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>

using namespace chainjit;
using namespace chainjit::runtime::train;
using chainjit::testing::errorOf;
using chainjit::testing::examplePath;
using chainjit::testing::readBytes;
using chainjit::testing::TempFile;

namespace {

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

// Restores the allocation limit a test changed.
struct AllocLimitGuard {
  ~AllocLimitGuard() { ir::setAllocLimit(0); }
};

const runtime::Dataset &smallDigits() {
  static const runtime::Dataset d = chainjit::testing::firstDigits(200);
  return d;
}

TrainConfig adamConfig(const std::string &checkpoint, int64_t epochs) {
  TrainConfig c;
  c.optimizer.kind = OptimizerKind::Adam;
  c.optimizer.stepSize.base = 0.01;
  c.batch = 32;
  c.epochs = epochs;
  c.seed = 5;
  c.checkpointPath = checkpoint;
  return c;
}

// Sets the stop flag once the given (1-based) epoch and step are done, as
// the CLI's signal handler would.
struct StopAt : TrainObserver {
  std::atomic<bool> flag{false};
  int64_t epoch, step;
  StopAt(int64_t e, int64_t s) : epoch(e), step(s) {}
  void onStep(const StepProgress &p) override {
    if (p.epoch == epoch && p.step == step)
      flag = true;
  }
};

} // namespace

TEST_CASE("sizes: a type whose bytes overflow or exceed any address space is a verifier error") {
  CHECK(ir::checkedByteSize(ir::f32({2, 3})) == 24u);
  CHECK(ir::checkedByteSize(ir::f64({0, int64_t(1) << 62})) == 0u);
  CHECK(!ir::checkedByteSize(ir::f32({int64_t(1) << 62}))); // 2^64 bytes: wraps to 0
  CHECK(!ir::checkedByteSize(ir::f64({int64_t(1) << 61})));
  CHECK(!ir::checkedByteSize(ir::boolean({int64_t(1) << 49})));
  CHECK(ir::checkedByteSize(ir::boolean({int64_t(1) << 48})) == uint64_t(1) << 48);
  CHECK(!ir::checkedByteSize(ir::f32({-1})));

  // The graph of the report: it passed the verifier and `run` wrote
  // through a null pointer.
  TempFile file("huge.cj", "graph huge {\n"
                           "  param %w : f32[4611686018427387904]\n"
                           "  %s = sum(%w) {axes = [0]}\n"
                           "  output %s\n"
                           "}\n");
  std::string msg = errorOf([&] { ir::parseGraphFile(file.str()); });
  CHECK(contains(msg, "huge.cj:2:"));
  CHECK(contains(msg, "%w"));
  CHECK(contains(msg, "type f32[4611686018427387904] is too large to exist"));
}

TEST_CASE("sizes: a tensor is checked against the allocation limit before it is allocated") {
  AllocLimitGuard restore;
  ir::setAllocLimit(1 << 20);
  CHECK(ir::allocLimit() == 1u << 20);
  std::string msg = errorOf([] { ir::Tensor t(ir::f64({1024, 1024})); });
  CHECK(contains(msg, "a tensor of type f64[1024, 1024] needs 8.0 MiB, more than the "
                      "allocation limit of 1.0 MiB"));
  CHECK(contains(msg, "--alloc-limit"));
  ir::Tensor fits(ir::f64({128, 1024})); // exactly 1 MiB
  CHECK(fits.byteSize() == 1u << 20);
  ir::setAllocLimit(0);
  CHECK(ir::allocLimit() > (1u << 20)); // back to physical memory
  msg = errorOf([] { ir::Tensor t(ir::f32({int64_t(1) << 50})); });
  CHECK(contains(msg, "too large to exist"));
}

TEST_CASE("sizes: byte counts are parsed and printed with binary units") {
  CHECK(ir::parseByteCount("1000") == 1000u);
  CHECK(ir::parseByteCount("64M") == 64u << 20);
  CHECK(ir::parseByteCount("1.5G") == 3u << 29);
  CHECK(ir::parseByteCount("2TiB") == uint64_t(2) << 40);
  CHECK(ir::parseByteCount("512KB") == 512u << 10);
  for (const char *bad : {"", "-1", "1X", "G", "1e30T", "nan", "1GG"})
    CHECK(contains(errorOf([&] { ir::parseByteCount(bad); }), "is not a byte count"));
  CHECK(ir::formatBytes(512) == "512 B");
  CHECK(ir::formatBytes(1536) == "1.5 KiB");
  CHECK(ir::formatBytes(uint64_t(12) << 30) == "12.0 GiB");
}

TEST_CASE("checkpoint: counts that are NaN, huge, negative or fractional are errors, not casts") {
  ir::Graph model = ir::parseGraphFile(examplePath("digits_mlp.cj"));
  TempFile file("counts.ckpt");
  std::filesystem::remove(file.path);
  Trainer(model, adamConfig(file.str(), 1)).fit(smallDigits());
  runtime::TensorMap good = runtime::loadCheckpoint(file.str());

  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const char *name : {"train.step", "train.epoch", "optimizer.step"})
    for (double v : {nan, 1e300, -1.0, 2.5, std::numeric_limits<double>::infinity()}) {
      CAPTURE(name);
      CAPTURE(v);
      runtime::TensorMap crafted = good;
      crafted[name] = ir::Tensor::scalar(ir::DType::f64, v);
      runtime::saveCheckpoint(file.str(), crafted); // a valid checksum
      TrainConfig resume = adamConfig(file.str(), 2);
      resume.resume = true;
      std::string msg = errorOf([&] { Trainer(model, resume).fit(smallDigits()); });
      CHECK(contains(msg, std::string("'") + name + "' is "));
      CHECK(contains(msg, "not a count (a whole number from 0 to 2^53)"));
      if (std::string(name) != "optimizer.step") // what `params inspect` reads
        CHECK(contains(errorOf([&] { readTrainingState(crafted, "c.ckpt"); }),
                       std::string("c.ckpt: '") + name + "' is "));
    }
  std::optional<TrainingState> state = readTrainingState(good, "c.ckpt");
  REQUIRE(state);
  CHECK(state->epochs == 1);
  CHECK(state->steps == 7);
  CHECK(state->optimizer == OptimizerKind::Adam);
  CHECK(state->sampling == Sampling::Epoch);
  CHECK(state->batch == 32);
  CHECK(!state->stoppedInEpoch);
  CHECK(!readTrainingState({}, "w.npz"));
}

TEST_CASE("stop: a run asked to stop checkpoints its unfinished epoch and resumes bit for bit") {
  chainjit::testing::FixedKernelWays fixed; // the same bits need the same kernels
  ir::Graph model = ir::parseGraphFile(examplePath("digits_mlp.cj"));
  TempFile straight("straight.ckpt"), stopped("stopped.ckpt");
  std::filesystem::remove(straight.path);
  std::filesystem::remove(stopped.path);

  Trainer a(model, adamConfig(straight.str(), 3));
  History ha = a.fit(smallDigits(), &smallDigits());
  CHECK(!ha.stopped);

  // Stop in the middle of epoch 2 (7 steps of 32 per epoch).
  StopAt stopAt(2, 3);
  TrainConfig c = adamConfig(stopped.str(), 3);
  c.stopRequested = &stopAt.flag;
  History hs = Trainer(model, c).fit(smallDigits(), &smallDigits(), &stopAt);
  REQUIRE(hs.stopped);
  CHECK(hs.stopped->epoch == 2);
  CHECK(hs.stopped->stepsDone == 3);
  CHECK(hs.stopped->stepsPerEpoch == 7);
  CHECK(hs.stopped->checkpointed);
  CHECK(hs.epochs.size() == 1);
  CHECK(!std::filesystem::exists(stopped.str() + ".tmp"));
  runtime::TensorMap mid = runtime::loadCheckpoint(stopped.str());
  CHECK(mid.at("train.epoch").at(0) == 1);
  CHECK(mid.at("train.step").at(0) == 10);
  CHECK(mid.at("train.unfinished").at(0) == 3);

  TrainConfig resume = adamConfig(stopped.str(), 3);
  resume.resume = true;
  Trainer b(model, resume);
  History hb = b.fit(smallDigits(), &smallDigits());
  CHECK(!hb.stopped);
  REQUIRE(hb.epochs.size() == 3);
  for (size_t e = 0; e < 3; ++e) {
    CHECK(hb.epochs[e].train.loss == ha.epochs[e].train.loss);
    CHECK(hb.epochs[e].train.accuracy == ha.epochs[e].train.accuracy);
    CHECK(hb.epochs[e].validation->loss == ha.epochs[e].validation->loss);
  }
  runtime::Bindings pa = a.modelParams(), pb = b.modelParams();
  for (const auto &[name, t] : pa)
    CHECK(pb.at(name) == t);

  // Stopping right after an epoch's last step is an ordinary epoch end.
  StopAt atEnd(1, 7);
  TrainConfig e = adamConfig("", 3);
  e.stopRequested = &atEnd.flag;
  History he = Trainer(model, e).fit(smallDigits(), nullptr, &atEnd);
  REQUIRE(he.stopped);
  CHECK(he.stopped->epoch == 1);
  CHECK(he.stopped->stepsDone == 7);
  CHECK(!he.stopped->checkpointed);
  CHECK(he.epochs.size() == 1);
}

TEST_CASE("stop: a crafted unfinished epoch longer than an epoch is refused") {
  ir::Graph model = ir::parseGraphFile(examplePath("digits_mlp.cj"));
  TempFile file("unfinished.ckpt");
  std::filesystem::remove(file.path);
  StopAt stopAt(1, 2);
  TrainConfig c = adamConfig(file.str(), 2);
  c.stopRequested = &stopAt.flag;
  REQUIRE(Trainer(model, c).fit(smallDigits(), nullptr, &stopAt).stopped);
  runtime::TensorMap t = runtime::loadCheckpoint(file.str());
  t["train.unfinished"] = ir::Tensor(ir::f64({6}), {9, 0, 0, 0, 1, 0});
  runtime::saveCheckpoint(file.str(), t);
  TrainConfig resume = adamConfig(file.str(), 2);
  resume.resume = true;
  std::string msg = errorOf([&] { Trainer(model, resume).fit(smallDigits()); });
  CHECK(contains(msg, "'train.unfinished': 9 steps done, but an epoch has 7"));
}

TEST_CASE("data: NaN features and labels outside the model's classes are caught with the sample") {
  ir::Graph model = ir::parseGraphFile(examplePath("digits_mlp.cj"));
  CHECK(runtime::train::inspectModel(model).classes == 10);

  runtime::Dataset d = runtime::batch(smallDigits(), {0, 1, 2});
  d.features.set(64 + 5, std::numeric_limits<double>::quiet_NaN());
  std::string msg = errorOf([&] { checkSamples(d, 10, "x.csv"); });
  CHECK(contains(msg, "x.csv: error: sample 2: feature 6 is NaN"));
  d.features.set(64 + 5, -std::numeric_limits<double>::infinity());
  CHECK(contains(errorOf([&] { checkSamples(d, 10, "x.csv"); }), "feature 6 is -inf"));
  d.features.set(64 + 5, 0);
  d.labels.set(2, 12);
  msg = errorOf([&] { checkSamples(d, 10, "x.csv"); });
  CHECK(contains(msg, "sample 3 has label 12, but the model has 10 classes (labels 0..9)"));
  checkSamples(d, 0, "x.csv"); // no class count: labels unchecked

  // The trainer checks data given through the API too.
  msg = errorOf([&] { Trainer(model, adamConfig("", 1)).fit(d); });
  CHECK(contains(msg, "training data: error: sample 3 has label 12"));

  // And the loader names the file.
  TempFile csv("labels.csv", "1,2,3\n4,5,12\n");
  DataSpec spec;
  spec.csv = csv.str();
  spec.classes = 10;
  msg = errorOf([&] { loadTrainingData(spec, ir::DType::f32); });
  CHECK(contains(msg, csv.str() + ": error: sample 2 has label 12"));
  TempFile nan("nan.csv", "1,2,3\n4,nan,1\n");
  spec.csv = nan.str();
  msg = errorOf([&] { loadTrainingData(spec, ir::DType::f32); });
  CHECK(contains(msg, nan.str()));
  CHECK(contains(msg, "NaN"));
}

TEST_CASE("sizes: the interpreter checks a graph's peak bytes against the allocation limit first") {
  AllocLimitGuard restore;
  ir::Graph g = ir::parseGraph("graph big {\n"
                               "  input %x : f64[512, 512]\n"
                               "  %y = matmul(%x, %x)\n"
                               "  %z = tanh(%y)\n"
                               "  output %z\n"
                               "}\n");
  runtime::Bindings b;
  b["x"] = ir::Tensor(ir::f64({512, 512})); // 2 MiB
  // x, y and z: at most two of them live at once (x dies at y), 4 MiB.
  ir::setAllocLimit(4 << 20);
  CHECK(runtime::interpret(g, b).outputs.size() == 1);
  ir::setAllocLimit((4 << 20) - 1);
  std::string msg = errorOf([&] { runtime::interpret(g, b); });
  CHECK(contains(msg, "graph 'big' under the interpreter needs 4.0 MiB, more than the "
                      "allocation limit"));
}

TEST_CASE("csv chunks: rows in chunks with the file's line numbers, NUL bytes and long lines refused") {
  TempFile good("chunks.csv", "a,b\n1,2\n# note\n3,4\n5,6\n");
  runtime::CsvChunkReader r(good.str());
  runtime::CsvTable t;
  REQUIRE(r.next(2, t));
  CHECK(t.rows == 2); // the header is not one of the rows
  CHECK(t.header == std::vector<std::string>{"a", "b"});
  CHECK(t.lines == std::vector<int>{2, 4});
  REQUIRE(r.next(2, t));
  CHECK(t.rows == 1);
  CHECK(t.lines == std::vector<int>{5});
  CHECK(!r.next(2, t));

  TempFile plain("plain.csv", "# comment\n1,2\n3,4\n5,6\n");
  runtime::CsvChunkReader p(plain.str());
  REQUIRE(p.next(2, t));
  CHECK(t.header.empty());
  CHECK(t.lines == std::vector<int>{2, 3});
  REQUIRE(p.next(2, t));
  CHECK(t.lines == std::vector<int>{4});

  // gzgets stopped at a NUL and joined "1,2" with the next line into "1,23,4".
  TempFile nul("nul.csv", std::string("1,2\0x\n3,4\n", 10));
  runtime::CsvChunkReader n(nul.str());
  std::string msg = errorOf([&] { n.next(10, t); });
  CHECK(contains(msg, "nul.csv:1:"));
  CHECK(contains(msg, "a NUL byte (this is not a text file)"));

  AllocLimitGuard restore;
  ir::setAllocLimit(1000);
  TempFile wide("wide.csv", std::string(5000, '1') + "\n");
  runtime::CsvChunkReader w(wide.str());
  msg = errorOf([&] { w.next(10, t); });
  CHECK(contains(msg, "line 1 needs"));
  CHECK(contains(msg, "more than the allocation limit"));
}
