// The trainer beyond row-wise classification (docs/training.md): regression
// targets, models without a target (autoencoders), sequence labels with a
// padding mask, whole-graph training with node masks, the metric of each,
// and bad data named with its file and position.
#include "FileTesting.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/train/Curves.h"
#include "chainjit/runtime/train/TrainData.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <random>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

std::string fixture(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/tests/cli/data/train/" + name;
}

ir::Graph model(const std::string &name) { return ir::parseGraphFile(fixture(name)); }

TrainConfig quickConfig(int64_t epochs) {
  TrainConfig c;
  c.backend = runtime::Backend::Interp;
  c.optimizer.kind = OptimizerKind::Adam;
  c.optimizer.stepSize.base = 0.05;
  c.batch = 20;
  c.epochs = epochs;
  return c;
}

// y = x . (1, -2, 0.5) + 0.3 and a second column, as named inputs.
runtime::Dataset linearData(int64_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::normal_distribution<double> normal;
  runtime::Dataset d;
  ir::Tensor x(ir::f32({n, 3})), y(ir::f32({n, 2}));
  for (int64_t i = 0; i < n; ++i) {
    double a = normal(rng), b = normal(rng), c = normal(rng);
    x.set(3 * i, a), x.set(3 * i + 1, b), x.set(3 * i + 2, c);
    y.set(2 * i, a - 2 * b + 0.5 * c + 0.3);
    y.set(2 * i + 1, 0.5 * a + 1.5 * c - 0.1);
  }
  d.inputs["x"] = x;
  d.inputs["y"] = y;
  return d;
}

} // namespace

TEST_CASE("trainer tasks: the target and its kind come from how the loss reads the inputs") {
  ModelSignature reg = inspectModel(model("reg_multi.cj"));
  CHECK(reg.labels == "y");
  CHECK(reg.target == TargetKind::Regression);
  CHECK(reg.prediction == "pred");
  CHECK(reg.lossIsMse);

  ModelSignature ae = inspectModel(model("ae.cj"));
  CHECK(ae.labels.empty());
  CHECK(ae.target == TargetKind::None);

  ModelSignature seq = inspectModel(model("seq_tag.cj"));
  CHECK(seq.labels == "labels");
  CHECK(seq.target == TargetKind::Sequence);
  CHECK(seq.tokenMask == "mask");
  CHECK(seq.classes == 5);
  CHECK(seq.inputs == std::vector<std::string>{"tokens", "labels", "mask"});

  ModelSignature gcn = inspectModel(model("gcn_tiny.cj"));
  CHECK(gcn.labels == "labels");
  CHECK(gcn.target == TargetKind::Classes);
  CHECK(gcn.prediction == "logits");
  CHECK(gcn.classes == 2);

  // Named: another input, or none at all.
  InspectOptions none;
  none.target = "";
  CHECK(inspectModel(model("reg_multi.cj"), none).target == TargetKind::None);
  InspectOptions typo;
  typo.target = "yy";
  CHECK(testing::errorOf([&] { inspectModel(model("reg_multi.cj"), typo); })
            .find("has no data input %yy to take as the target (did you mean '%y'?)") !=
        std::string::npos);
  // Two i32 inputs of the batch that no loss op names: ambiguous.
  ir::Graph two = ir::parseGraph(R"(graph two {
  input %x : f32[4, 2]
  input %a : i32[4]
  input %b : i32[4]
  param %w : f32[2]
  %p = matmul(%x, %w)
  %fa = cast(%a) {dtype = f32}
  %fb = cast(%b) {dtype = f32}
  %d = sub(%p, %fa)
  %e = mul(%d, %fb)
  %loss = mean(%e)
  output %loss
})");
  CHECK(testing::errorOf([&] { inspectModel(two); })
            .find("cannot tell which input is the target: %a, %b") != std::string::npos);
}

TEST_CASE("trainer tasks: regression with f32[N, 2] targets, the mse falls far below its start") {
  runtime::Dataset data = linearData(200, 1);
  runtime::Dataset val = linearData(60, 2);
  Trainer t(model("reg_multi.cj"), quickConfig(8));
  Metrics start = t.evaluate(val);
  History h = t.fit(data, &val);
  REQUIRE(h.epochs.size() == 8);
  const Metrics &end = *h.epochs.back().validation;
  CHECK(std::isnan(end.accuracy));
  CHECK(std::isnan(end.perplexity));
  CHECK(start.mse > 0.5);
  CHECK(end.mse < start.mse / 100);
  // The prediction's mse is the loss here (the loss is an mse op).
  CHECK(end.mse == doctest::Approx(end.loss).epsilon(1e-4));
  CHECK(h.epochs.back().train.mse < h.epochs.front().train.mse / 10);
  // The curves get the mse columns.
  std::string csv = curvesCsv(h);
  CHECK(csv.rfind("epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,train_mse,"
                  "val_mse\n", 0) == 0);
}

TEST_CASE("trainer tasks: float targets from a CSV label column") {
  DataSpec spec;
  spec.csv = fixture("reg.csv");
  spec.labelDType = ir::DType::f32;
  TrainingData data = loadTrainingData(spec, ir::DType::f32);
  REQUIRE(data.train.labels.dtype() == ir::DType::f32);
  CHECK(data.train.size() == 160);
  Trainer t(model("reg_linear.cj"), quickConfig(20));
  double start = t.evaluate(data.test).mse;
  t.fit(data.train);
  double end = t.evaluate(data.test).mse;
  CHECK(start > 1);
  CHECK(end < 0.01);
}

TEST_CASE("trainer tasks: an autoencoder without a target, the reconstruction loss falls") {
  DataSpec spec;
  spec.csv = fixture("ae.csv");
  spec.labelDType = std::nullopt; // every column is a feature
  TrainingData data = loadTrainingData(spec, ir::DType::f32);
  REQUIRE(data.train.numFeatures() == 8);
  CHECK(data.train.labels.shape().empty());
  Trainer t(model("ae.cj"), quickConfig(30));
  Metrics start = t.evaluate(data.test);
  History h = t.fit(data.train, &data.test);
  Metrics end = *h.epochs.back().validation;
  CHECK(std::isnan(end.accuracy));
  CHECK(std::isnan(end.mse)); // no target: the loss is the metric
  CHECK(end.loss < start.loss / 5);
}

TEST_CASE("trainer tasks: sequence labels with padding: per-token loss and perplexity") {
  DataSpec spec;
  spec.npy = {{"tokens", fixture("seq_tokens.npy")},
              {"labels", fixture("seq_labels.npy")},
              {"mask", fixture("seq_mask.npy")}};
  TrainingData data = loadTrainingData(spec, ir::DType::f32);
  CHECK(data.train.size() == 77);
  CHECK(data.test.size() == 19);
  TrainConfig c = quickConfig(15);
  c.batch = 16;
  Trainer t(model("seq_tag.cj"), c);
  Metrics start = t.evaluate(data.test);
  CHECK(start.perplexity == doctest::Approx(std::exp(start.loss)));
  CHECK(start.perplexity > 3); // about 5 classes, uniform
  History h = t.fit(data.train, &data.test);
  Metrics end = *h.epochs.back().validation;
  // The padding carries a misleading label (4); masked out, the real tokens
  // are learnt exactly.
  CHECK(end.perplexity < 1.05);
  CHECK(std::isnan(end.accuracy));
  CHECK(curvesCsv(h).find(",seconds,train_perplexity,val_perplexity\n") != std::string::npos);
  // The mean is per token: batches of other sizes (other token counts)
  // give the same loss.
  TrainConfig small = c;
  small.evalBatch = 3;
  small.epochs = 1;
  Trainer s(model("seq_tag.cj"), small);
  TrainConfig whole = small;
  whole.evalBatch = 256;
  Trainer w(model("seq_tag.cj"), whole);
  CHECK(s.evaluate(data.test).loss == doctest::Approx(w.evaluate(data.test).loss).epsilon(1e-5));
}

TEST_CASE("trainer tasks: whole-graph training with train, validation and test node masks") {
  DataSpec spec;
  spec.npy = {{"x", fixture("g_x.npy")},
              {"row_ptr", fixture("g_row_ptr.npy")},
              {"col_idx", fixture("g_col_idx.npy")},
              {"norm", fixture("g_norm.npy")},
              {"labels", fixture("g_labels.npy")}};
  spec.masks = {{"train", fixture("g_train.npy")},       // bool
                {"validation", fixture("g_val.npy")},    // i32 index list
                {"test", fixture("g_test.npy")}};        // u8
  spec.nodeInput = "labels";
  TrainingData data = loadTrainingData(spec, ir::DType::f32);
  REQUIRE(data.train.wholeGraph);
  auto count = [](const runtime::Dataset &d) {
    int64_t n = 0;
    for (int64_t i = 0; i < d.nodeMask.numel(); ++i)
      n += d.nodeMask.at(i) != 0;
    return n;
  };
  CHECK(count(data.train) == 6);
  CHECK(count(*data.validation) == 8);
  CHECK(count(data.test) == 26);
  TrainConfig c = quickConfig(50);
  c.sampling = Sampling::Minibatch; // ignored: a whole graph is one batch
  Trainer t(model("gcn_tiny.cj"), c);
  History h = t.fit(data.train, &*data.validation);
  REQUIRE(h.epochs.size() == 50);
  Metrics train = t.evaluate(data.train), test = t.evaluate(data.test);
  CHECK(train.accuracy == 1.0);
  CHECK(test.accuracy >= 0.9);
  // Per mask: the loss over the 6 training nodes is not the test nodes'.
  CHECK(train.loss < test.loss);
  CHECK(h.epochs.back().train.loss < h.epochs.front().train.loss / 10);
}

TEST_CASE("trainer tasks: bad data is named with its file and position") {
  auto loadError = [](DataSpec spec) {
    return testing::errorOf([&] { loadTrainingData(spec, ir::DType::f32); });
  };
  auto contains = [](const std::string &text, const std::string &part) {
    INFO(text);
    CHECK(text.find(part) != std::string::npos);
  };
  DataSpec rows;
  rows.npy = {{"x", fixture("reg_x.npy")}, {"y", fixture("reg_y2_short.npy")}};
  contains(loadError(rows), "reg_y2_short.npy: error: has 199 samples along its leading axis "
                            "(f32[199, 2]), but x=");
  rows.npy = {{"x", fixture("reg_x_nan.npy")}, {"y", fixture("reg_y2.npy")}};
  contains(loadError(rows), "reg_x_nan.npy: error: sample 18: entry [17, 2] is NaN");

  // Against the model: the trailing shape, the dtype, a name it lacks.
  auto fitError = [](const std::string &m, const runtime::Dataset &d) {
    Trainer t(model(m), quickConfig(1));
    return testing::errorOf([&] { t.fit(d); });
  };
  runtime::Dataset wide = linearData(40, 3);
  wide.inputs["x"] = ir::Tensor(ir::f32({40, 4}));
  wide.sources["x"] = "wide.npy";
  contains(fitError("reg_multi.cj", wide),
           "wide.npy: error: input %x: each sample is f32[4], but the model's %x : f32[20, 3] "
           "takes f32[3] per sample");
  runtime::Dataset missing = linearData(40, 3);
  missing.inputs.erase("y");
  contains(fitError("reg_multi.cj", missing), "training data has no input %y");

  DataSpec graph;
  graph.npy = {{"x", fixture("g_x.npy")},         {"row_ptr", fixture("g_row_ptr.npy")},
               {"col_idx", fixture("g_col_idx.npy")}, {"norm", fixture("g_norm.npy")},
               {"labels", fixture("g_labels.npy")}};
  graph.nodeInput = "labels";
  graph.masks = {{"train", fixture("g_mask_short.npy")}, {"test", fixture("g_test.npy")}};
  contains(loadError(graph), "g_mask_short.npy: error: the mask has 39 entries, but the graph "
                             "has 40 nodes (the leading axis of %labels in ");
  graph.masks = {{"train", fixture("g_train.npy")}, {"test", fixture("g_val_out_of_range.npy")}};
  contains(loadError(graph), "g_val_out_of_range.npy: error: entry 1 is node 40, outside [0, 40)");
  graph.masks = {{"train", fixture("g_train.npy")}, {"test", fixture("g_test.npy")}};
  graph.npy.back() = {"labels", fixture("g_labels_f32.npy")};
  TrainingData wrongType = loadTrainingData(graph, ir::DType::f32);
  Trainer t(model("gcn_tiny.cj"), quickConfig(1));
  contains(testing::errorOf([&] { t.fit(wrongType.train); }),
           "g_labels_f32.npy: error: input %labels is f32 in the data, but the model declares "
           "%labels : i32[40]");

  // A NaN regression target in a CSV file: the sample is named.
  std::string path = (std::filesystem::temp_directory_path() / "cj_nan_target.csv").string();
  {
    std::ofstream f(path);
    f << "1,2,3,0.5\n4,5,6,nan\n";
  }
  DataSpec csv;
  csv.csv = path;
  csv.labelDType = ir::DType::f32;
  contains(loadError(csv), "cj_nan_target.csv: error: sample 2: the target is NaN");
  std::filesystem::remove(path);
}

TEST_CASE("trainer tasks: a resumed regression run keeps its mse history") {
  std::string path = (std::filesystem::temp_directory_path() / "cj_reg_resume.ckpt").string();
  std::filesystem::remove(path);
  runtime::Dataset data = linearData(100, 5), val = linearData(40, 6);
  TrainConfig c = quickConfig(2);
  c.checkpointPath = path;
  History first;
  {
    Trainer t(model("reg_multi.cj"), c);
    first = t.fit(data, &val);
  }
  c.epochs = 3;
  c.resume = true;
  Trainer t(model("reg_multi.cj"), c);
  History h = t.fit(data, &val);
  REQUIRE(h.epochs.size() == 3);
  CHECK(h.epochs[1].train.mse == first.epochs[1].train.mse);
  CHECK(h.epochs[1].validation->mse == first.epochs[1].validation->mse);
  CHECK(!std::isnan(h.epochs[2].train.mse));
  std::filesystem::remove(path);
}

TEST_CASE("trainer tasks: named class labels are checked against the classes, padding too") {
  ir::Graph g = ir::parseGraph(R"(graph cls {
  input %x : f32[4, 2]
  input %labels : i32[4]
  param %W : f32[2, 3]
  %logits = matmul(%x, %W)
  %loss = cross_entropy(%logits, %labels)
  output %loss
  output %logits
})");
  runtime::Dataset d;
  d.inputs["x"] = ir::Tensor(ir::f32({4, 2}));
  d.inputs["labels"] = ir::Tensor(ir::i32({4}), {0, 1, 5, 2});
  d.sources["labels"] = "labels.npy";
  Trainer t(g, quickConfig(1));
  std::string e = testing::errorOf([&] { t.fit(d); });
  INFO(e);
  CHECK(e.find("labels.npy: error: label 5 at [2] (input %labels), but the model has 3 classes "
               "(labels 0..2") != std::string::npos);

  // Sequence labels: a padded position (mask 0) holds a valid class too
  // (the one_hot reads it before the mask weighs it out).
  runtime::Dataset seq;
  ir::Tensor labels(ir::i32({16, 6})), mask(ir::f32({16, 6}));
  for (int64_t i = 0; i < 16 * 6; ++i) {
    bool real = i % 6 < 3;
    labels.set(i, real ? 1 : 0);
    mask.set(i, real ? 1 : 0);
  }
  seq.inputs = {{"tokens", ir::Tensor(ir::i32({16, 6}))}, {"labels", labels}, {"mask", mask}};
  TrainConfig c = quickConfig(1);
  c.batch = 16;
  Trainer s(model("seq_tag.cj"), c);
  CHECK_NOTHROW(s.fit(seq));
  labels.set(4, 99); // a padded position's label out of range
  seq.inputs["labels"] = labels;
  Trainer s2(model("seq_tag.cj"), c);
  CHECK(testing::errorOf([&] { s2.fit(seq); }).find("label 99 at [0, 4]") != std::string::npos);
}

TEST_CASE("trainer tasks: a metric asked for instead of the target's own") {
  InspectOptions ppl;
  ppl.task = TargetKind::Sequence;
  ModelSignature s = inspectModel(model("gcn_tiny.cj"), ppl);
  CHECK(s.target == TargetKind::Sequence);
  CHECK(s.prediction.empty());
  InspectOptions acc;
  acc.task = TargetKind::Classes;
  CHECK(testing::errorOf([&] { inspectModel(model("reg_multi.cj"), acc); })
            .find("the metric of class labels needs an i32[N] target, but the target is %y : "
                  "f32[20, 2]") != std::string::npos);
  InspectOptions mse;
  mse.task = TargetKind::Regression;
  CHECK(testing::errorOf([&] { inspectModel(model("ae.cj"), mse); })
            .find("needs a float target, but the target is none") != std::string::npos);
}
