// Training within a memory limit (TrainConfig::memoryLimit): the step graph
// recomputes forward values instead of keeping them all, and the params
// after training equal those of the unlimited run.
#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/train/ModelGraphs.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

// A deep classifier: `layers` tanh layers of `width` units, cross-entropy
// over `classes` classes, f32.
ir::Graph deepClassifier(int layers, int64_t width, int64_t batch, int64_t features,
                         int64_t classes) {
  using namespace ir;
  Graph g("deep_classifier");
  Value x = input(g, "x", f32({batch, features}));
  Value y = input(g, "y", i32({batch}));
  Value h = x;
  int64_t in = features;
  for (int l = 1; l <= layers; ++l) {
    std::string s = std::to_string(l);
    int64_t out = l == layers ? classes : width;
    Value W = param(g, "W" + s, f32({in, out}),
                    {{"init", "normal"}, {"scale", 1.0 / std::sqrt(double(in))}, {"seed", int64_t(l)}});
    Value b = param(g, "b" + s, f32({out}));
    h = matmul(h, W) + b;
    if (l < layers)
      h = tanh(h);
    in = out;
  }
  output(crossEntropy(h, y).named("loss"));
  return g;
}

runtime::Dataset randomData(int64_t n, int64_t features, int64_t classes) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  runtime::Dataset d;
  d.features = ir::Tensor(ir::f32({n, features}));
  d.labels = ir::Tensor(ir::i32({n}));
  for (int64_t i = 0; i < n; ++i) {
    float s = 0;
    for (int64_t j = 0; j < features; ++j) {
      float v = normal(rng);
      d.features.set(i * features + j, v);
      s += v * float(j % 3);
    }
    d.labels.set(i, double(int64_t(std::fabs(s)) % classes));
  }
  return d;
}

// Nodes of a graph that recompute forward values (named recompute.N).
int recomputedNodes(const ir::Graph &g) {
  int n = 0;
  for (const ir::Node &node : g.nodes())
    n += node.name.rfind("recompute.", 0) == 0;
  return n;
}

// The largest absolute difference between two tensors of one shape.
double maxAbsDifference(const ir::Tensor &a, const ir::Tensor &b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::fabs(a.at(i) - b.at(i)));
  return worst;
}

} // namespace

TEST_CASE("training within a memory limit gives the params of the unlimited run") {
  const int layers = 16;
  const int64_t width = 64, batch = 32, features = 16, classes = 4;
  ir::Graph model = deepClassifier(layers, width, batch, features, classes);
  runtime::Dataset data = randomData(128, features, classes);
  // The forward values of the unlimited gradient: about 2 layer outputs per
  // layer of 8 KiB each.
  ModelSignature sig = inspectModel(model);
  auto full = compiler::gradWithMemoryLimit(model, "loss", sig.trainable, 1e12);
  double tape = 0;
  for (const auto &f : full.chain.chain.factors)
    tape += f.tapeBytes;
  auto train = [&](std::optional<double> limit, OptimizerKind kind) {
    TrainConfig c;
    c.optimizer.kind = kind;
    c.optimizer.stepSize.base = 0.05;
    c.batch = batch;
    c.epochs = 2;
    c.memoryLimit = limit;
    Trainer t(model, c);
    t.fit(data);
    return t.modelParams();
  };
  for (OptimizerKind kind : {OptimizerKind::GD, OptimizerKind::Adam}) {
    auto want = train(std::nullopt, kind);
    for (double fraction : {0.25, 0.125}) {
      double limit = full.chain.workingBytes + tape * fraction; // the full tape does not fit
      INFO("limit " << limit << ", full tape " << tape);
      auto r = compiler::gradWithMemoryLimit(model, "loss", sig.trainable, limit);
      CHECK(r.recomputedNodes > 0);
      StepGraphOptions so;
      so.memoryLimit = limit;
      ir::Graph step = buildStepGraph(model, sig, so);
      CHECK(recomputedNodes(step) > 0); // the step graph the trainer runs recomputes
      auto got = train(limit, kind);
      for (const auto &[name, w] : want) {
        INFO(name);
        CHECK(maxAbsDifference(got.at(name), w) <= 1e-5);
      }
    }
  }
}

TEST_CASE("training within a memory limit: dropout masks and batch statistics are recomputed alike") {
  // examples/mlp_regularized.cj: batch_norm (with running-statistics
  // updates) and dropout (a counter-based mask) in the recomputed layers.
  ir::Graph model = ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) +
                                       "/examples/mlp_regularized.cj");
  runtime::Dataset all =
      runtime::loadCsvDataset(std::string(CHAINJIT_SOURCE_DIR) + "/examples/data/digits.csv.gz");
  runtime::scale(all, 1.0 / 16.0);
  const int64_t n = 256, features = all.numFeatures();
  runtime::Dataset data;
  data.features = ir::Tensor(ir::f32({n, features}));
  data.labels = ir::Tensor(ir::i32({n}));
  for (int64_t i = 0; i < n * features; ++i)
    data.features.set(i, all.features.at(i));
  for (int64_t i = 0; i < n; ++i)
    data.labels.set(i, all.labels.at(i));
  ModelSignature sig = inspectModel(model);
  // 90 KB: a little above the least that works (82.5 KiB), below the tape.
  const double limit = 90000;
  StepGraphOptions so;
  so.memoryLimit = limit;
  ir::Graph step = buildStepGraph(model, sig, so);
  CHECK(recomputedNodes(step) > 0);
  so.memoryLimit = 1000;
  CHECK_THROWS_WITH_AS(buildStepGraph(model, sig, so), doctest::Contains("so at least"), Error);
  auto train = [&](std::optional<double> memory) {
    TrainConfig c;
    c.optimizer.kind = OptimizerKind::Adam;
    c.optimizer.stepSize.base = 0.01;
    c.batch = 32;
    c.epochs = 1;
    c.memoryLimit = memory;
    Trainer t(model, c);
    t.fit(data);
    return t.modelParams();
  };
  auto want = train(std::nullopt);
  auto got = train(limit);
  for (const auto &[name, w] : want) {
    INFO(name);
    CHECK(maxAbsDifference(got.at(name), w) <= 1e-5);
  }
}

TEST_CASE("training within a memory limit: settings the limit cannot apply to are errors") {
  TrainConfig c;
  c.memoryLimit = -1;
  CHECK_THROWS_AS(c.validate(), Error);
  c.memoryLimit = 1e6;
  c.optimizer.kind = OptimizerKind::Newton;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("memory limit"), Error);
}

namespace {

// 3 SGD steps of a small batch through `layers` tanh layers of `width`
// units (f32), at 1/2, 1/4 and 1/8 of the full tape and at the least memory
// that works: the params equal the unlimited run's.
void checkDeepTrainingEqual(int layers, int64_t width) {
  const int64_t batch = 4, features = 16, classes = 4;
  ir::Graph model = deepClassifier(layers, width, batch, features, classes);
  runtime::Dataset data = randomData(3 * batch, features, classes);
  ModelSignature sig = inspectModel(model);
  auto full = compiler::gradWithMemoryLimit(model, "loss", sig.trainable, 1e12);
  double tape = 0, largest = 0;
  for (const auto &f : full.chain.chain.factors) {
    tape += f.tapeBytes;
    largest = std::max(largest, f.tapeBytes);
  }
  auto train = [&](std::optional<double> limit) {
    TrainConfig c;
    c.optimizer.kind = OptimizerKind::GD;
    c.optimizer.stepSize.base = 0.05;
    c.batch = batch;
    c.epochs = 1;
    c.memoryLimit = limit;
    Trainer t(model, c);
    t.fit(data);
    return t.modelParams();
  };
  auto want = train(std::nullopt);
  auto before = Trainer(model, TrainConfig{}).modelParams();
  double moved = 0;
  for (const auto &[name, w] : want)
    moved = std::max(moved, maxAbsDifference(w, before.at(name)));
  CHECK(moved > 1e-4); // the steps do change the params
  for (double fraction : {0.5, 0.25, 0.125, 0.0}) {
    // fraction 0: the least memory (one segment's working values and tape).
    double limit = full.chain.workingBytes + std::max(largest, tape * fraction);
    INFO("limit " << limit << ", full tape " << tape);
    REQUIRE(limit < full.chain.workingBytes + tape); // the full tape does not fit
    StepGraphOptions so;
    so.memoryLimit = limit;
    ir::Graph step = buildStepGraph(model, sig, so);
    CHECK(recomputedNodes(step) > 0);
    auto got = train(limit);
    double worst = 0;
    for (const auto &[name, w] : want)
      worst = std::max(worst, maxAbsDifference(got.at(name), w));
    CHECK(worst <= 1e-6);
  }
}

} // namespace

// The size, 64 layers of 512 units (1 MiB of weights each): about
// 100 s on the 2-core CI machine (five JIT compiles of 64-layer step graphs
// dominate: 64 layers of 32 units take 54 s of CPU too), so it does not run
// by default (the 16-layer test above is the reduced one); run it with
//   build/tests/chainjit_tests -tc="*64 layers of 512*" --no-skip
// (passed on 2026-11-30: 13 assertions, 1 min 42 s, 64 s CPU, loaded machine).
TEST_CASE("training within a memory limit: 64 layers of 512 units equal the unlimited run" *
          doctest::skip()) {
  checkDeepTrainingEqual(64, 512);
}
