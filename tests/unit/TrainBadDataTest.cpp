// Bad data for the trainer's other tasks (docs/training.md, "Metrics"):
// a padding mask that does not match the labels or holds a NaN, sequence
// files of different lengths, token ids outside the embedding, a NaN node
// feature of a whole graph, an autoencoder's short or NaN CSV row. Each is
// an error naming the file and the position, found when the data is loaded
// (before any split). The files are written by
// tests/cli/data/train/make_bad_data.py.
#include "FileTesting.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/train/TrainData.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

std::string fixture(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/tests/cli/data/train/" + name;
}

std::string loadError(const DataSpec &spec) {
  return testing::errorOf([&] { loadTrainingData(spec, ir::DType::f32); });
}

void contains(const std::string &text, const std::string &part) {
  INFO(text);
  CHECK(text.find(part) != std::string::npos);
}

DataSpec sequence(const std::string &tokens, const std::string &labels, const std::string &mask) {
  DataSpec s;
  s.npy = {{"tokens", fixture(tokens)}, {"labels", fixture(labels)}, {"mask", fixture(mask)}};
  return s;
}

} // namespace

TEST_CASE("bad data: sequence labels whose mask or lengths do not match, NaN masks, token ids") {
  contains(loadError(sequence("seq_tokens.npy", "seq_labels.npy", "seq_mask_nan.npy")),
           "seq_mask_nan.npy: error: sample 4: entry [3, 1] is NaN");
  contains(loadError(sequence("seq_tokens.npy", "seq_labels_rows.npy", "seq_mask.npy")),
           "seq_labels_rows.npy: error: has 95 samples along its leading axis (i32[95, 6]), "
           "but tokens=");
  // The mask's shape per sample is checked against the model when training
  // starts (TrainTasksTest has the trailing-shape message); loading alone
  // takes it.
  CHECK_NOTHROW(loadTrainingData(sequence("seq_tokens.npy", "seq_labels.npy",
                                          "seq_mask_short.npy"),
                                 ir::DType::f32));

  // Token ids: the model's gather bounds them, and the loader checks every
  // one (in file order, before the split) where the spec says so.
  ir::Graph model = ir::parseGraphFile(fixture("seq_tag.cj"));
  DataSpec bad = sequence("seq_tokens_bad.npy", "seq_labels.npy", "seq_mask.npy");
  CHECK_NOTHROW(loadTrainingData(bad, ir::DType::f32)); // no limits given: not checked here
  bad.indexLimits = indexLimitsOf(model, "labels");
  REQUIRE(bad.indexLimits.count("tokens"));
  CHECK(bad.indexLimits.count("labels") == 0); // labels: against the classes instead
  CHECK(bad.indexLimits.at("tokens").front().bound == 5);
  contains(loadError(bad), "seq_tokens_bad.npy: error: sample 6: entry [5, 3] is 9, outside "
                           "[0, 5) for gather %emb (axis 0 of size 5)");
}

TEST_CASE("bad data: a NaN node feature of a whole graph, an autoencoder's bad CSV rows") {
  DataSpec graph;
  graph.npy = {{"x", fixture("g_x_nan.npy")},         {"row_ptr", fixture("g_row_ptr.npy")},
               {"col_idx", fixture("g_col_idx.npy")}, {"norm", fixture("g_norm.npy")},
               {"labels", fixture("g_labels.npy")}};
  graph.masks = {{"train", fixture("g_train.npy")}, {"test", fixture("g_test.npy")}};
  graph.nodeInput = "labels";
  contains(loadError(graph), "g_x_nan.npy: error: entry [12, 1] is NaN");

  DataSpec ae;
  ae.labelDType = std::nullopt; // every column a feature
  ae.csv = fixture("ae_nan.csv");
  contains(loadError(ae), "ae_nan.csv: error: sample 5: feature 3 is NaN");
  ae.csv = fixture("ae_short.csv");
  contains(loadError(ae), "ae_short.csv:3:1: error: row has 7 values, expected 8 like line 1");
}
