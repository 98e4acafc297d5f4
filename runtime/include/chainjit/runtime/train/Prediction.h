// What `chainjit predict` computes with a trained model, and how it writes
// it (docs/cli.md, "predict"): the value predicted from, what kind of
// prediction that is, the inputs it reads, the CSV lines of each chunk of
// samples, and the score against targets the data may hold.
//
// Three kinds of prediction:
//  - classes: an i32 [N] class output or float [N, C] scores; per sample the
//    class and the probability of each class (the softmax of the scores
//    unless they are a softmax's result);
//  - values: per sample every value of a float output [N, ...] (a
//    regression's prediction, or any output asked for with --values);
//  - tokens: a class per position of a sequence: the argmax over the last
//    axis of float scores [N, T, ..., C], or an i32 [N, T, ...] output.
// Data comes as samples along the leading axis (NamedRowChunks, a chunk at
// a time), or, for a model trained on one whole graph, as that graph's
// files read whole (readWholeGraphInputs), a line per node.
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

enum class PredictionKind { Classes, Values, Tokens };

struct PredictionRequest {
  std::string output; // the value to predict from ("" for the model's own choice)
  bool values = false; // write the output's values as they are (no argmax, no softmax)
};

struct PredictionPlan {
  PredictionKind kind = PredictionKind::Classes;
  std::string output;      // the value predicted from (Classes: the class or score output)
  ir::TensorType outputType; // as the model declares it
  // Classes: the i32 [N] output ("" if none) and the scores [N, C] ("" if none).
  std::string classOutput, scoreOutput;
  bool scoresAreProbabilities = false; // the scores are a softmax's result
  int64_t batch = 0;       // N as the model file declares it
  // The model's target input ("" if it has none or cannot be told): data
  // that holds it is scored (accuracy, mse, token accuracy); and its mask
  // of padding for sequence labels ("" if none).
  std::string target, tokenMask;
  // The data inputs the prediction reads, in graph order (after the graph
  // is pruned to the outputs: labels and loss are gone).
  std::vector<std::string> inputs;

  // The values to compute, in order.
  std::vector<std::string> outputs() const;
};

// Chooses what to predict. The default output is the model's prediction as
// the trainer finds it (inspectModel: for class labels an i32 [N] or float
// [N, C] output, for regression targets a float output of the target's
// shape), else its first named output of classes or scores, else, for
// sequence labels, its first float output [N, T, ..., C]. A value asked for
// by name is a prediction of the kind its type says: i32 [N] or float
// [N, C] classes (values, when the model's target is a float one), i32 of
// rank >= 2 or float of rank >= 3 tokens (values for a float target), else
// values. Throws chainjit::Error (a missing value, one that is not per
// sample) naming the model and the value.
PredictionPlan planPrediction(const ir::Graph &model, const PredictionRequest &request);

// The model pruned to the plan's outputs (no labels, no loss) in eval mode
// (no dropout, batch norm's running statistics). Also fills plan.inputs.
ir::Graph predictionGraph(const ir::Graph &model, PredictionPlan &plan);

// The CSV header line (with its newline), from the outputs() of the first
// chunk: "class,p0,...,pC-1"; the output's name per value ("pred", or
// "pred_0,pred_1", "pred_0_0,..." for more axes); "t0,t1,..." per position.
std::string predictionHeader(const PredictionPlan &plan, const std::vector<ir::Tensor> &outputs);

// What targets in the data make of the predictions: the class accuracy,
// the mean squared error, or the accuracy per (unmasked) token.
struct PredictionScore {
  int64_t hits = 0, compared = 0; // classes and tokens: matches of `compared`
  double squaredError = 0;        // values: over `compared` entries
  int64_t samples = 0;            // samples scored
  // "accuracy 97.2% (349 of 359 samples match their labels)", "mse 0.0031
  // (40 samples, 80 values)", "token accuracy 99.5% (301 of 302 tokens,
  // padding not counted)"; "" when nothing was scored. `rows` names what a
  // class was predicted for ("nodes" for a whole graph).
  std::string describe(PredictionKind kind, bool masked, const char *rows = "rows") const;
};

// One chunk of predictions as CSV lines: `outputs` are the plan's
// outputs() evaluated on `rows` samples. `targets` (rows times the
// target's values per sample, or empty) and `mask` (the token mask's
// values, or empty) add to `score`.
std::string predictionLines(const PredictionPlan &plan, const std::vector<ir::Tensor> &outputs,
                            int64_t rows, const std::vector<double> &targets,
                            const std::vector<double> &mask, PredictionScore &score);

// Samples of several named inputs read together from .npy files, a chunk
// at a time along their leading axes (runtime::RowChunkReader): every
// file is checked against the model input it feeds before the first
// chunk (its dtype converts, its trailing shape is the input's, its
// sample count is the others'), and every chunk as it is read: NaN and
// infinite floats, and integer indices outside the range of the gather or
// one_hot that reads them, are errors naming the file, the sample (1-based)
// and the entry.
class NamedRowChunks {
public:
  // `files`: input name -> path; `inputs`: the types of the model inputs
  // that must each have a file (a file for any other name in `optional`,
  // the model's target or mask, is read too; any other name is an error
  // listing the model's data inputs). `graph` gives the index ranges.
  NamedRowChunks(const std::vector<std::pair<std::string, std::string>> &files,
                 const std::map<std::string, ir::TensorType> &inputs,
                 const std::map<std::string, ir::TensorType> &optional, const ir::Graph &graph);
  ~NamedRowChunks();
  NamedRowChunks(const NamedRowChunks &) = delete;
  NamedRowChunks &operator=(const NamedRowChunks &) = delete;

  int64_t rows() const { return rows_; }
  bool has(const std::string &name) const;
  // The next up to `maxRows` samples of every file, by input name
  // (row-major, each input's values per sample times the rows); returns
  // how many samples, 0 at the end.
  int64_t next(int64_t maxRows, std::map<std::string, std::vector<double>> &values);

private:
  struct File;
  std::vector<std::unique_ptr<File>> files_;
  int64_t rows_ = 0, done_ = 0;
};

// The inputs of a whole graph (a model trained with node masks: some input's
// first dimension is not the model's batch, such as a graph's row_ptr),
// each read whole from its .npy file: its shape must be the input's as
// declared, its dtype must convert (as above); NaN and infinite floats and
// indices outside the range of the op that reads them are errors naming
// the file and the entry. `files`, `inputs` and `optional` as for
// NamedRowChunks. Returns every file's tensor in its input's type.
std::map<std::string, ir::Tensor>
readWholeGraphInputs(const std::vector<std::pair<std::string, std::string>> &files,
                     const std::map<std::string, ir::TensorType> &inputs,
                     const std::map<std::string, ir::TensorType> &optional,
                     const ir::Graph &graph);

// Whether the prediction reads a whole graph: an input of `graph` (its
// pruned form) whose first dimension is not `batch`, or a scalar.
bool readsWholeGraph(const ir::Graph &graph, int64_t batch);

} // namespace chainjit::runtime::train
