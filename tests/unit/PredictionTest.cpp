// What `chainjit predict` computes (runtime/train/Prediction.h): the kind of
// prediction each model gets, the CSV lines of each kind with their score
// against targets, and .npy data by input name read in chunks, bad data
// named with its file, sample and entry.
#include "FileTesting.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/train/Prediction.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

std::string fixture(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/tests/cli/data/train/" + name;
}

ir::Graph model(const std::string &path) { return ir::parseGraphFile(path); }

std::map<std::string, ir::TensorType> types(const ir::Graph &g,
                                            const std::vector<std::string> &names) {
  std::map<std::string, ir::TensorType> m;
  for (const std::string &n : names)
    m[n] = g.type(g.lookup(n));
  return m;
}

} // namespace

TEST_CASE("prediction plan: classes, regression values, tokens, by the model and by request") {
  ir::Graph digits = model(std::string(CHAINJIT_SOURCE_DIR) + "/examples/digits_mlp.cj");
  PredictionPlan c = planPrediction(digits, {});
  CHECK(c.kind == PredictionKind::Classes);
  CHECK(c.classOutput == "predicted");
  CHECK(c.scoreOutput == "logits");
  CHECK(c.target == "labels");
  ir::Graph cg = predictionGraph(digits, c);
  CHECK(c.inputs == std::vector<std::string>{"x"}); // the labels and the loss are gone

  ir::Graph reg = model(fixture("reg_multi.cj"));
  PredictionPlan r = planPrediction(reg, {});
  CHECK(r.kind == PredictionKind::Values); // the regression's prediction, not scores
  CHECK(r.output == "pred");
  CHECK(r.target == "y");
  predictionGraph(reg, r);
  CHECK(r.inputs == std::vector<std::string>{"x"});

  ir::Graph seq = model(fixture("seq_tag.cj"));
  // Sequence labels, and no output of per-token scores: the model must say.
  CHECK(testing::errorOf([&] { planPrediction(seq, {}); })
            .find("has no prediction output") != std::string::npos);
  PredictionPlan t = planPrediction(seq, {"logits", false});
  CHECK(t.kind == PredictionKind::Tokens);
  CHECK(t.tokenMask == "mask");
  predictionGraph(seq, t);
  CHECK(t.inputs == std::vector<std::string>{"tokens"});
  CHECK(planPrediction(seq, {"%logits", true}).kind == PredictionKind::Values);

  CHECK(testing::errorOf([&] { planPrediction(seq, {"nope", false}); })
            .find("--output-value nope: model 'seq_tag' has no value %nope") != std::string::npos);
  CHECK(testing::errorOf([&] { planPrediction(seq, {"loss", false}); })
            .find("%loss : f32[] is not per sample") != std::string::npos);
}

TEST_CASE("prediction lines: values with their mse, tokens with masked accuracy, classes") {
  PredictionPlan values;
  values.kind = PredictionKind::Values;
  values.output = "pred";
  ir::Tensor pred(ir::f32({2, 2}), {1, 2, 3, 4});
  CHECK(predictionHeader(values, {pred}) == "pred_0,pred_1\n");
  PredictionScore s;
  CHECK(predictionLines(values, {pred}, 2, {1, 2, 3, 6}, {}, s) == "1,2\n3,4\n");
  CHECK(s.samples == 2);
  CHECK(s.compared == 4);
  CHECK(s.squaredError == 4.0); // (4 - 6)^2
  CHECK(s.describe(PredictionKind::Values, false) ==
        "mse 1 (2 samples, 4 values, against the targets)");
  ir::Tensor one(ir::f32({3}), {0.5, -1, 2});
  CHECK(predictionHeader(values, {one}) == "pred\n");

  // Scores [N = 1, T = 3, C = 2]: the argmax per position; the mask leaves
  // the last position out of the score.
  PredictionPlan tokens;
  tokens.kind = PredictionKind::Tokens;
  tokens.output = "logits";
  ir::Tensor logits(ir::f32({1, 3, 2}), {0.1, 0.9, 2, -1, 0, 5});
  CHECK(predictionHeader(tokens, {logits}) == "t0,t1,t2\n");
  PredictionScore ts;
  CHECK(predictionLines(tokens, {logits}, 1, {1, 1, 0}, {1, 1, 0}, ts) == "1,0,1\n");
  CHECK(ts.hits == 1);
  CHECK(ts.compared == 2);
  CHECK(ts.describe(PredictionKind::Tokens, true) ==
        "token accuracy 50% (1 of 2 tokens match their labels, padding not counted)");
  // i32 classes per position are written as they are.
  ir::Tensor ids(ir::i32({2, 2}), {3, 1, 0, 2});
  CHECK(predictionHeader(tokens, {ids}) == "t0,t1\n");
  PredictionScore none;
  CHECK(predictionLines(tokens, {ids}, 2, {}, {}, none) == "3,1\n0,2\n");
  CHECK(none.describe(PredictionKind::Tokens, false).empty()); // no targets: no score

  // Classes from scores: the argmax and the softmax's probabilities.
  PredictionPlan classes;
  classes.scoreOutput = "logits";
  ir::Tensor scores(ir::f64({2, 2}), {3, 3, -1, 4});
  CHECK(predictionHeader(classes, {scores}) == "class,p0,p1\n");
  PredictionScore cs;
  std::string lines = predictionLines(classes, {scores}, 2, {0, 0}, {}, cs);
  CHECK(lines.rfind("0,0.5,0.5\n1,0.0066928509242848", 0) == 0); // 1 / (1 + e^5)
  CHECK(cs.describe(PredictionKind::Classes, false) ==
        "accuracy 50% (1 of 2 rows match their labels)");
}

TEST_CASE("prediction data: .npy files by input name, in chunks, bad files named") {
  ir::Graph reg = model(fixture("reg_multi.cj"));
  auto in = types(reg, {"x"});
  auto optional = types(reg, {"y"});
  NamedRowChunks both({{"x", fixture("reg_x.npy")}, {"y", fixture("reg_y2.npy")}}, in, optional,
                      reg);
  CHECK(both.rows() == 200);
  CHECK(both.has("y"));
  std::map<std::string, std::vector<double>> v;
  int64_t total = 0, chunks = 0;
  while (int64_t n = both.next(64, v)) {
    CHECK(v.at("x").size() == static_cast<size_t>(3 * n));
    CHECK(v.at("y").size() == static_cast<size_t>(2 * n));
    total += n;
    ++chunks;
  }
  CHECK(total == 200);
  CHECK(chunks == 4); // 64, 64, 64, 8

  auto errorOf = [&](std::vector<std::pair<std::string, std::string>> files,
                     const ir::Graph &g, const std::map<std::string, ir::TensorType> &need,
                     const std::map<std::string, ir::TensorType> &may) {
    return testing::errorOf([&] {
      NamedRowChunks r(files, need, may, g);
      std::map<std::string, std::vector<double>> values;
      while (r.next(16, values) > 0) {
      }
    });
  };
  auto contains = [](const std::string &text, const std::string &part) {
    INFO(text);
    CHECK(text.find(part) != std::string::npos);
  };
  contains(errorOf({{"x", fixture("reg_x_nan.npy")}}, reg, in, optional),
           "reg_x_nan.npy: error: sample 18: entry [17, 2] is NaN (input %x; prediction data "
           "must be finite numbers)");
  contains(errorOf({{"x", fixture("reg_x_wide.npy")}}, reg, in, optional),
           "reg_x_wide.npy: error: input %x: each sample is f32[4], but the model's %x : "
           "f32[20, 3] takes f32[3] per sample");
  contains(errorOf({{"x", fixture("reg_x.npy")}, {"y", fixture("reg_y2_short.npy")}}, reg, in,
                   optional),
           "reg_y2_short.npy: error: has 199 samples along its leading axis (f32[199, 2]), but x=");
  contains(errorOf({{"x", fixture("reg_x.npy")}, {"z", fixture("reg_y.npy")}}, reg, in, optional),
           "reg_y.npy: error: the data gives 'z', which is no data input of the model (its data "
           "inputs: %x, %y)");
  contains(errorOf({{"y", fixture("reg_y2.npy")}}, reg, in, optional),
           "the prediction reads %x : f32[20, 3], but --data gives no file for it");
  contains(errorOf({{"x", fixture("reg_y2_bool.npy")}}, reg, in, optional),
           "each sample is bool[2]");

  // Token ids outside the embedding's rows: named in the file, not found by
  // the kernel inside a chunk.
  ir::Graph seq = model(fixture("seq_tag.cj"));
  PredictionPlan t = planPrediction(seq, {"logits", false});
  ir::Graph g = predictionGraph(seq, t);
  contains(errorOf({{"tokens", fixture("seq_tokens_bad.npy")}}, g, types(g, {"tokens"}), {}),
           "seq_tokens_bad.npy: error: sample 6: entry [5, 3] is 9, outside [0, 5) for gather "
           "%emb (axis 0 of size 5)");
  // An i32 input is never fed from floats (they would be truncated).
  contains(errorOf({{"tokens", fixture("seq_mask.npy")}}, g, types(g, {"tokens"}), {}),
           "input %tokens is f32 in the data, but the model declares %tokens : i32[16, 6]");
}

TEST_CASE("prediction data: a whole graph's files read whole and checked against the inputs") {
  ir::Graph gcn = model(fixture("gcn_tiny.cj"));
  PredictionPlan p = planPrediction(gcn, {});
  CHECK(p.kind == PredictionKind::Classes);
  CHECK(p.scoreOutput == "logits");
  ir::Graph g = predictionGraph(gcn, p);
  // row_ptr [41] is no batch of 40 samples: the graph is read whole.
  CHECK(readsWholeGraph(g, p.batch));
  ir::Graph reg = model(fixture("reg_multi.cj"));
  PredictionPlan r = planPrediction(reg, {});
  CHECK(!readsWholeGraph(predictionGraph(reg, r), r.batch)); // rows of samples
  std::vector<std::pair<std::string, std::string>> files = {
      {"x", fixture("g_x.npy")},           {"row_ptr", fixture("g_row_ptr.npy")},
      {"col_idx", fixture("g_col_idx.npy")}, {"norm", fixture("g_norm.npy")},
      {"labels", fixture("g_labels.npy")}};
  auto in = types(g, p.inputs);
  std::map<std::string, ir::TensorType> may = {{"labels", gcn.type(gcn.lookup("labels"))}};
  std::map<std::string, ir::Tensor> data = readWholeGraphInputs(files, in, may, g);
  CHECK(data.at("row_ptr").type() == ir::i32({41}));
  CHECK(data.at("labels").type() == ir::i32({40}));

  files[0] = {"x", fixture("g_x_nan.npy")};
  std::string e = testing::errorOf([&] { readWholeGraphInputs(files, in, may, g); });
  INFO(e);
  CHECK(e.find("g_x_nan.npy: error: entry [12, 1] is NaN") != std::string::npos);
  files[0] = {"x", fixture("g_x.npy")};
  files[3] = {"norm", fixture("g_mask_short.npy")};
  e = testing::errorOf([&] { readWholeGraphInputs(files, in, may, g); });
  CHECK(e.find("input %norm is bool[39], but the model declares %norm : f32[262]") !=
        std::string::npos);
}
