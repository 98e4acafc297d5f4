// Trained weights outside training: NumPy .npz archives (read as NumPy
// writes them, written so NumPy reads them, every bad archive a clear
// error), weights from checkpoints with their data preparation, and the
// C++ path to a prediction at any batch size (docs/deploy.md).
#include "DigitsTesting.h"
#include "FileTesting.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Npz.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/ModelGraphs.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <cstring>

using namespace chainjit;
using chainjit::testing::errorOf;
using chainjit::testing::readBytes;
using chainjit::testing::TempFile;

namespace {

std::string fixture(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/tests/cli/data/" + name;
}
std::string example(const std::string &name) { return testing::examplePath(name); }

bool sameBits(const ir::Tensor &a, const ir::Tensor &b) {
  return a.type() == b.type() && a.byteSize() == b.byteSize() &&
         (a.byteSize() == 0 || std::memcmp(a.data(), b.data(), a.byteSize()) == 0);
}

struct AllocLimitGuard {
  explicit AllocLimitGuard(uint64_t bytes) { ir::setAllocLimit(bytes); }
  ~AllocLimitGuard() { ir::setAllocLimit(0); }
};

} // namespace

TEST_CASE("npz: archives of numpy.savez and numpy.savez_compressed read") {
  for (const char *name : {"mixed.npz", "mixed_compressed.npz"}) {
    CAPTURE(name);
    runtime::TensorMap t = runtime::loadNpz(fixture(name));
    REQUIRE(t.size() == 4);
    CHECK(t.at("a").type() == ir::f32({2, 3}));
    CHECK(t.at("a").at(5) == 1.25);
    CHECK(t.at("b").type() == ir::f64({4}));
    CHECK(t.at("b").at(1) == -2.25);
    CHECK(t.at("b").at(2) == 1e300);
    CHECK(t.at("c").type() == ir::i32({}));
    CHECK(t.at("c").at(0) == 7);
    CHECK(t.at("d").type() == ir::TensorType{ir::DType::boolean, {2}});
    CHECK(t.at("d").at(0) == 1);
    CHECK(t.at("d").at(1) == 0);
  }
}

TEST_CASE("npz: what formatNpz writes reads back bit for bit") {
  runtime::TensorMap t;
  t["W1"] = ir::Tensor(ir::f32({2, 2}), {1.5, -0.0, 3e-38, 7});
  t["b"] = ir::Tensor(ir::f64({3}), {1, 2, 3});
  t["empty"] = ir::Tensor(ir::f32({0, 5}));
  t["layer.1.scale"] = ir::Tensor::scalar(ir::DType::i32, -4);
  std::string bytes = runtime::formatNpz(t);
  CHECK(bytes.rfind("PK\x03\x04", 0) == 0);
  runtime::TensorMap back = runtime::parseNpz(bytes, "x.npz");
  REQUIRE(back.size() == t.size());
  for (const auto &[name, value] : t)
    CHECK(sameBits(back.at(name), value));
  TempFile f("weights.npz");
  runtime::saveNpz(f.path.string(), t);
  CHECK(readBytes(f.path.string()) == bytes);
  CHECK(runtime::formatNpz(t) == bytes); // no time stamps from the clock
  CHECK(!std::filesystem::exists(f.path.string() + ".tmp"));
}

TEST_CASE("npz: broken archives are errors naming the archive and the member") {
  struct Case {
    const char *file, *message;
  };
  for (Case c : {Case{"npz_truncated.npz", "npz_truncated.npz: error: not a valid .npz (zip) archive"},
                 Case{"npz_bad_crc.npz", "npz_bad_crc.npz: error: member 'w.npy': CRC error"},
                 Case{"npz_not_npy.npz", "npz_not_npy.npz: error: member 'w.npy': not a valid .npy file"},
                 Case{"npz_wrong_name.npz", "member 'w.txt': not a NAME.npy member"},
                 Case{"npz_duplicate.npz", "npz_duplicate.npz: error: not a valid .npz (zip) archive: two members have one name"}}) {
    std::string file = c.file;
    CAPTURE(file);
    std::string e = errorOf([&] { runtime::loadNpz(fixture(c.file)); });
    CHECK(e.find(c.message) != std::string::npos);
  }
  CHECK(errorOf([] { runtime::parseNpz("", "e.npz"); }) ==
        "e.npz: error: an empty file, not an .npz (zip) archive");
  CHECK(errorOf([] { runtime::parseNpz(std::string(100, 'P'), "p.npz"); })
            .find("not a valid .npz") != std::string::npos);
}

TEST_CASE("npz: a member larger than the allocation limit is refused before it is inflated") {
  runtime::TensorMap t;
  t["big"] = ir::Tensor(ir::f64({1000}));
  std::string bytes = runtime::formatNpz(t);
  AllocLimitGuard limit(4000);
  std::string e = errorOf([&] { runtime::parseNpz(bytes, "big.npz"); });
  CHECK(e.find("big.npz") != std::string::npos);
  CHECK(e.find("member 'big.npy'") != std::string::npos);
  CHECK(e.find("allocation limit") != std::string::npos);
}

TEST_CASE("weights: a checkpoint's params and data preparation go into the .npz") {
  runtime::TensorMap ckpt;
  ckpt["param.W"] = ir::Tensor(ir::f32({2}), {1, 2});
  ckpt["param.train.velocity.W"] = ir::Tensor(ir::f32({2}), {0, 0});
  ckpt["data.mean"] = ir::Tensor(ir::f64({2}), {0.5, 1});
  ckpt["data.std"] = ir::Tensor(ir::f64({2}), {2, 4});
  ckpt["train.epoch"] = ir::Tensor::scalar(ir::DType::f64, 3);
  TempFile c("w.ckpt"), z("w.npz");
  runtime::saveCheckpoint(c.path.string(), ckpt);
  runtime::Weights w = runtime::loadWeights(c.path.string());
  CHECK(w.fromCheckpoint);
  REQUIRE(w.params.size() == 1); // the velocity is optimizer state
  CHECK(sameBits(w.params.at("W"), ckpt.at("param.W")));
  REQUIRE(w.preparation.standardize);
  CHECK(w.preparation.standardize->std == std::vector<double>{2, 4});
  CHECK(w.trainingState.count("train.epoch") == 1);

  runtime::saveWeightsNpz(z.path.string(), w);
  runtime::TensorMap raw = runtime::loadNpz(z.path.string());
  CHECK(raw.count("W") == 1);
  CHECK(raw.count("__data_mean__") == 1);
  CHECK(raw.count("__data_std__") == 1);
  runtime::Weights back = runtime::loadWeights(z.path.string());
  CHECK(!back.fromCheckpoint);
  CHECK(sameBits(back.params.at("W"), w.params.at("W")));
  CHECK(back.preparation.standardize->mean == std::vector<double>{0.5, 1});

  ir::Tensor x(ir::f32({1, 2}), {2.5, 9});
  back.preparation.apply(x, "x");
  CHECK(x.at(0) == 1);
  CHECK(x.at(1) == 2);
}

TEST_CASE("weights: binding a graph's params lists every missing param and every other shape") {
  ir::Graph g = ir::parseGraphFile(example("digits_mlp.cj"));
  runtime::Weights partial = runtime::loadWeights(fixture("digits_partial.npz"));
  std::string e = errorOf([&] { runtime::bindParams(g, partial.params, "p.npz"); });
  CHECK(e.find("p.npz: error: lacks 2 param(s) of graph 'digits_mlp': %W2 : f32[128, 10], "
               "%b2 : f32[10]") != std::string::npos);
  runtime::TensorMap wrong = partial.params;
  wrong["W1"] = ir::Tensor(ir::f32({64, 127}));
  e = errorOf([&] { runtime::bindParams(g, wrong, "p.npz", {"W2", "b2"}); });
  CHECK(e.find("param %W1 is f32[64, 127] here, but graph 'digits_mlp' declares f32[64, 128]") !=
        std::string::npos);
  CHECK(e.find("lacks") == std::string::npos);
}

TEST_CASE("weights: train, export, predict gives the trainer's own evaluation") {
  // The path of docs/deploy.md: weights by name into a graph pruned to the
  // prediction, at any batch size.
  ir::Graph model = ir::parseGraphFile(example("digits_mlp.cj"));
  runtime::Dataset all = runtime::loadCsvDataset(example("data/digits.csv.gz"));
  runtime::TrainTestSplit split = runtime::trainTestSplit(all, 0.2, 3);
  runtime::FeatureStats stats = runtime::standardize(split.train);
  runtime::standardize(split.test, stats);

  TempFile ckpt("predict.ckpt"), npz("predict.npz");
  runtime::train::TrainConfig c;
  c.optimizer.stepSize.base = 0.05;
  c.epochs = 2;
  c.checkpointPath = ckpt.path.string();
  c.overwrite = true;
  c.preparation.standardize = stats;
  runtime::train::Trainer trainer(model, c);
  trainer.fit(split.train);
  runtime::train::Metrics m = trainer.evaluate(split.test);

  runtime::saveWeightsNpz(npz.path.string(), runtime::loadWeights(ckpt.path.string()));
  runtime::Weights w = runtime::loadWeights(npz.path.string());
  REQUIRE(w.preparation.standardize);
  CHECK(w.preparation.standardize->mean == stats.mean);

  // The raw test rows, prepared with the stored statistics.
  runtime::Dataset raw = runtime::loadCsvDataset(example("data/digits.csv.gz"));
  runtime::Dataset rawTest = runtime::trainTestSplit(raw, 0.2, 3).test;
  w.preparation.apply(rawTest.features, "test");
  CHECK(sameBits(rawTest.features, split.test.features));

  namespace rt = runtime::train;
  ir::Graph predict = rt::withOutputs(model, {"predicted"}); // no labels, no loss
  CHECK(predict.inputs().size() == 1);
  int64_t n = rawTest.size();
  ir::Graph atN = rt::withBatchSize(predict, rt::graphBatchSize(predict), n);
  auto exe = runtime::makeExecutable(compiler::expandModes(atN, compiler::Mode::Eval),
                                     runtime::Backend::Jit);
  runtime::Bindings b = runtime::bindParams(exe->graph(), w.params, "predict.npz");
  b["x"] = rawTest.features;
  ir::Tensor classes = exe->run(b).output("predicted");
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i)
    hits += classes.at(i) == rawTest.labels.at(i);
  CHECK(static_cast<double>(hits) / static_cast<double>(n) == m.accuracy);

  // The same classes as the trainer's params give, row by row.
  runtime::Bindings own = trainer.modelParams();
  own["x"] = rawTest.features;
  ir::Tensor ownClasses = exe->run(own).output("predicted");
  CHECK(sameBits(classes, ownClasses));
}

TEST_CASE("weights: a model written for batch 32 runs at 1, 7 and 1000 rows") {
  ir::Graph model = runtime::train::withOutputs(
      ir::parseGraphFile(example("digits_mlp.cj")), {"logits", "predicted"});
  runtime::Dataset all = runtime::loadCsvDataset(example("data/digits.csv.gz"));
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 1000; ++i)
    rows.push_back(i);
  runtime::Dataset d = runtime::batch(all, rows);
  runtime::scale(d, 1.0 / 16);
  auto runAt = [&](int64_t batch) {
    ir::Graph g = runtime::train::withBatchSize(model, 32, batch);
    auto exe = runtime::makeExecutable(g, runtime::Backend::Interp);
    runtime::Bindings b;
    ir::Tensor x(ir::f32({batch, 64}));
    std::memcpy(x.data(), d.features.data(), x.byteSize());
    b["x"] = x;
    return exe->run(b);
  };
  runtime::EvalResult ref = runAt(32);
  for (int64_t batch : {1, 7, 1000}) {
    CAPTURE(batch);
    runtime::EvalResult r = runAt(batch);
    const ir::Tensor &logits = r.output("logits");
    REQUIRE(logits.type() == ir::f32({batch, 10}));
    for (int64_t i = 0; i < std::min<int64_t>(batch, 32) * 10; ++i)
      CHECK(logits.at(i) == ref.output("logits").at(i));
    for (int64_t i = 0; i < std::min<int64_t>(batch, 32); ++i)
      CHECK(r.output("predicted").at(i) == ref.output("predicted").at(i));
  }
}

TEST_CASE("npz: an archive without members reads and writes as the empty zip archive") {
  // The read_npz fuzz target found that formatNpz failed on no tensors:
  // libzip writes no file at all for an archive without members.
  std::string empty = runtime::formatNpz({}, "e.npz");
  CHECK(empty.size() == 22);
  CHECK(runtime::parseNpz(empty, "e.npz").empty());
}
