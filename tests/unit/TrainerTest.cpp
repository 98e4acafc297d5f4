// The Trainer's sampling, batch-size rebuilding, L1 and a short real run.
#include "FileTesting.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/train/Sampling.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

std::string example(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/examples/" + name;
}

runtime::Dataset digits() {
  runtime::Dataset d = runtime::loadCsvDataset(example("data/digits.csv.gz"));
  runtime::scale(d, 1.0 / 16.0);
  return d;
}

} // namespace

TEST_CASE("sampling: epoch mode sees every sample exactly once per epoch, in a seeded order") {
  BatchSampler s(Sampling::Epoch, 103, 10, 7);
  CHECK(s.stepsPerEpoch() == 11);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> seen;
    for (int64_t step = 0; step < 11; ++step) {
      std::vector<int64_t> b = s.indices(epoch, step);
      CHECK(b.size() == (step == 10 ? 3u : 10u));
      seen.insert(seen.end(), b.begin(), b.end());
    }
    std::sort(seen.begin(), seen.end());
    for (int64_t i = 0; i < 103; ++i)
      CHECK(seen[i] == i);
  }
  BatchSampler again(Sampling::Epoch, 103, 10, 7), other(Sampling::Epoch, 103, 10, 8);
  CHECK(again.indices(1, 4) == s.indices(1, 4));
  CHECK(other.indices(1, 4) != s.indices(1, 4));
  CHECK(s.indices(0, 0) != s.indices(1, 0)); // a new shuffle each epoch
}

TEST_CASE("sampling: minibatches are distinct samples drawn uniformly, sgd draws one, full all") {
  BatchSampler s(Sampling::Minibatch, 50, 8, 3);
  CHECK(s.stepsPerEpoch() == 7);
  std::vector<int64_t> counts(50, 0);
  for (int64_t step = 0; step < 2000; ++step) {
    std::vector<int64_t> b = s.indices(0, step);
    REQUIRE(b.size() == 8);
    CHECK(std::set<int64_t>(b.begin(), b.end()).size() == 8);
    for (int64_t i : b)
      ++counts.at(i);
  }
  // Each sample is in a batch with probability 8/50: 320 of 2000 draws,
  // standard deviation about 16.4; 5 sigma bounds.
  for (int64_t c : counts)
    CHECK((c > 238 && c < 402));
  BatchSampler same(Sampling::Minibatch, 50, 8, 3);
  CHECK(same.indices(2, 5) == s.indices(2, 5));

  BatchSampler sgd(Sampling::Sgd, 50, 1, 3);
  CHECK(sgd.stepsPerEpoch() == 50);
  CHECK(sgd.indices(0, 0).size() == 1);
  BatchSampler full(Sampling::Full, 5, 1, 3);
  CHECK(full.indices(3, 0) == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(testing::errorOf([] { BatchSampler(Sampling::Epoch, 5, 6, 0); })
            .find("batch size 6 must lie in 1..5") != std::string::npos);
}

TEST_CASE("model graphs: the batch dimension is rebuilt, shape attributes with it") {
  ir::Graph cnn = ir::parseGraphFile(example("digits_cnn.cj"));
  ModelSignature sig = inspectModel(cnn);
  CHECK(sig.features == "images");
  CHECK(sig.labels == "labels");
  CHECK(sig.prediction == "predicted");
  CHECK(sig.batch == 32);
  ir::Graph five = withBatchSize(cnn, sig, 5);
  CHECK(five.type(five.lookup("flat")) == ir::f32({5, 64}));
  CHECK(five.type(five.lookup("predicted")) == ir::i32({5}));
  // A shape attribute that names the old batch follows it too.
  ir::Graph mlp = ir::parseGraphFile(example("cnn.cj")); // reshape {shape = [16, 64]}
  ModelSignature ms = inspectModel(mlp);
  ir::Graph three = withBatchSize(mlp, ms, 3);
  CHECK(three.type(three.lookup("flat")) == ir::f32({3, 64}));
}

TEST_CASE("model graphs: inputs the trainer cannot feed are named") {
  ir::Graph g("odd");
  ir::Value x = ir::input(g, "x", ir::f32({4, 2}));
  ir::Value w = ir::param(g, "w", ir::f32({2, 3}));
  ir::input(g, "extra", ir::f32({7}));
  ir::Value y = ir::input(g, "y", ir::i32({4}));
  ir::output(ir::crossEntropy(ir::matmul(x, w), y).named("loss"));
  // The model is fine (a whole graph could feed %extra), but row-wise data
  // cannot: the error comes when such data meets the model.
  ModelSignature sig = inspectModel(g);
  CHECK(sig.labels == "y");
  runtime::Dataset d;
  d.features = ir::Tensor(ir::f32({4, 2}));
  d.labels = ir::Tensor(ir::i32({4}));
  TrainConfig c;
  c.backend = runtime::Backend::Interp;
  Trainer t(g, c);
  CHECK(testing::errorOf([&] { t.fit(d); }).find("cannot feed input %extra : f32[7]") !=
        std::string::npos);
}

TEST_CASE("trainer: L1 by soft thresholding sets weights to exactly zero") {
  runtime::Dataset data = digits();
  ir::Graph model = ir::parseGraphFile(example("digits_mlp.cj"));
  auto zeros = [&](double l1) {
    TrainConfig c;
    c.optimizer.kind = OptimizerKind::GD;
    c.optimizer.stepSize.base = 0.1;
    c.batch = 64;
    c.epochs = 2;
    c.regularization.l1PerParam["W1"] = l1;
    Trainer t(model, c);
    t.fit(data);
    ir::Tensor w = t.modelParams().at("W1");
    int64_t z = 0;
    for (int64_t i = 0; i < w.numel(); ++i)
      z += w.at(i) == 0.0;
    return std::pair{z, w.numel()};
  };
  auto [none, n] = zeros(0.0);
  CHECK(none == 0);
  // Pixels that are 0 in every image (the borders) give W1 rows no gradient:
  // only the penalty moves them, so they reach 0 exactly. With a strong
  // penalty most of W1 is zero.
  auto [many, n2] = zeros(0.05);
  CHECK(many > n2 / 2);
}

TEST_CASE("trainer: two epochs of SGD on the digits MLP learn (test accuracy > 90%)") {
  runtime::TrainTestSplit split = runtime::trainTestSplit(digits(), 0.2, 0);
  TrainConfig c;
  c.optimizer.stepSize.base = 0.1;
  c.epochs = 2;
  Trainer t(ir::parseGraphFile(example("digits_mlp.cj")), c);
  History h = t.fit(split.train, &split.test);
  REQUIRE(h.epochs.size() == 2);
  CHECK(h.epochs[1].train.loss < h.epochs[0].train.loss);
  REQUIRE(h.epochs[1].validation);
  Metrics m = t.evaluate(split.test);
  CHECK(m.loss == doctest::Approx(h.epochs[1].validation->loss));
  CHECK(m.accuracy > 0.9);
}

TEST_CASE("trainer: every optimizer path runs and lowers the loss") {
  runtime::Dataset data = digits();
  runtime::Dataset small = runtime::batch(data, [] {
    std::vector<int64_t> r;
    for (int64_t i = 0; i < 256; ++i)
      r.push_back(i);
    return r;
  }());
  ir::Graph model = ir::parseGraphFile(example("digits_mlp.cj"));
  for (const char *name : {"gd", "momentum", "nesterov", "adam"}) {
    CAPTURE(name);
    TrainConfig c;
    c.optimizer.kind = parseOptimizerKind(name);
    c.optimizer.stepSize.base = std::string(name) == "adam" ? 0.01 : 0.1;
    c.epochs = 3;
    Trainer t(model, c);
    History h = t.fit(small);
    CHECK(h.epochs.back().train.loss < 0.8 * h.epochs.front().train.loss);
  }
  // Backtracking goes through Optimizer::step on the batch's objective.
  TrainConfig c;
  c.optimizer.kind = OptimizerKind::GD;
  c.optimizer.stepSize.base = 1.0;
  c.optimizer.stepSize.lineSearch = LineSearch::Backtracking;
  c.sampling = Sampling::Full;
  c.epochs = 5;
  Trainer t(model, c);
  History h = t.fit(small);
  CHECK(h.epochs.back().train.loss < h.epochs.front().train.loss);
}
