// chainjit predict MODEL.cj --params FILE
//                  --data new.csv[.gz]|new.npy|IDX | --data NAME=FILE.npy,...
//                  [--idx-labels F] [-o predictions.csv] [--batch N] [--limit N]
//                  [--label-column K] [--raw | --scale F] [--output-value NAME] [--values]
// Predicts with trained weights, as CSV: per sample the class and the
// probabilities of a classifier, the values of a regression, or a class per
// token of a sequence model (runtime/train/Prediction.h decides which and
// writes the lines). The model is pruned to what the prediction needs (no
// labels, no loss) and compiled once per batch size; CSV, .npy and IDX
// images without labels, and .npy files by input name, are read and
// predicted chunk by chunk, so files larger than memory work (the files of
// a whole graph, a model trained with node masks, are read whole). The
// data preparation stored with the weights (train --scale / --standardize)
// is applied to every row of CSV, .npy and IDX features first.
#include "Commands.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/AtomicFile.h"
#include "chainjit/runtime/CsvChunks.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/RowChunks.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/ModelGraphs.h"
#include "chainjit/runtime/train/Prediction.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

namespace chainjit::cli {

namespace {

namespace rt = runtime::train;

struct PredictOptions {
  std::string model;
  std::string paramsFile;
  std::string data;
  std::string idxLabels;
  std::string output;
  int64_t batch = 256;
  int64_t limit = 0; // 0: every row
  std::optional<int> labelColumn;
  bool raw = false;
  std::optional<double> scale;
  std::string outputName;
  bool values = false;
  std::string backend = "jit";
  std::string allocLimit;
};

bool endsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size())
    return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

// A chunk of rows: features (row-major, numFeatures each) and, when the
// data has them, labels.
struct Chunk {
  std::vector<double> features;
  std::vector<double> labels;
  int64_t rows = 0;
};

class RowSource {
public:
  virtual ~RowSource() = default;
  // Up to `maxRows` rows; 0 at the end.
  virtual Chunk next(int64_t maxRows) = 0;
  virtual bool hasLabels() const = 0;
};

// CSV, plain or gzip, a chunk of rows at a time (runtime::CsvChunkReader).
// The label column is recognized by the column count: one more than the
// model's features. It holds class numbers for a classifier, any finite
// number (a regression's target) otherwise.
class CsvRows : public RowSource {
public:
  CsvRows(const std::string &path, int64_t numFeatures, std::optional<int> labelColumn,
          bool classLabels)
      : reader_(path), numFeatures_(numFeatures), labelColumn_(labelColumn),
        classLabels_(classLabels) {}

  bool hasLabels() const override { return hasLabels_; }

  Chunk next(int64_t maxRows) override {
    Chunk c;
    runtime::CsvTable t;
    if (!reader_.next(maxRows, t))
      return c;
    int64_t cols = t.cols;
    if (labelCol_ < 0 && !hasLabels_) {
      if (cols == numFeatures_ + 1 || labelColumn_) {
        hasLabels_ = true;
        int k = labelColumn_.value_or(-1);
        labelCol_ = k < 0 ? cols + k : k;
        if (labelCol_ < 0 || labelCol_ >= cols)
          throw UsageError("--label-column " + std::to_string(k) + ": the data has " +
                           std::to_string(cols) + " columns");
      }
      if (cols != numFeatures_ + (hasLabels_ ? 1 : 0))
        throw Error("rows have " + std::to_string(cols) + " fields, but model takes " +
                        std::to_string(numFeatures_) + " features (and optionally a label " +
                        "column)",
                    SourceLoc{reader_.path(), t.lines.front()});
    }
    c.rows = t.rows;
    c.features.reserve(static_cast<size_t>(t.rows * numFeatures_));
    for (int64_t r = 0; r < t.rows; ++r)
      for (int64_t k = 0; k < cols; ++k) {
        double v = t.values[static_cast<size_t>(r * cols + k)];
        if (hasLabels_ && k == labelCol_) {
          if (classLabels_ && (!(v >= 0 && v < 2147483648.0) || std::floor(v) != v))
            throw Error("the label " + std::to_string(v) + " is not a class number",
                        SourceLoc{reader_.path(), t.lines[static_cast<size_t>(r)]});
          if (!std::isfinite(v))
            throw Error("the target is " + std::to_string(v) + " (targets must be finite numbers)",
                        SourceLoc{reader_.path(), t.lines[static_cast<size_t>(r)]});
          c.labels.push_back(v);
        } else {
          c.features.push_back(v);
        }
      }
    return c;
  }

private:
  runtime::CsvChunkReader reader_;
  int64_t numFeatures_;
  std::optional<int> labelColumn_;
  bool classLabels_;
  bool hasLabels_ = false;
  int64_t labelCol_ = -1;
};

// A .npy file or IDX images without labels, a chunk of rows at a time
// (runtime::RowChunkReader).
class StreamedRows : public RowSource {
public:
  StreamedRows(std::unique_ptr<runtime::RowChunkReader> reader, int64_t numFeatures)
      : reader_(std::move(reader)) {
    if (reader_->rows() > 0 && reader_->rowElements() != numFeatures)
      throw Error("holds " + reader_->type().str() + ", but the model takes rows of " +
                      std::to_string(numFeatures) + " features ([N, " +
                      std::to_string(numFeatures) + "] or [N, ...])",
                  SourceLoc{reader_->path()});
  }
  bool hasLabels() const override { return false; }
  Chunk next(int64_t maxRows) override {
    Chunk c;
    c.rows = reader_->next(maxRows, c.features);
    return c;
  }

private:
  std::unique_ptr<runtime::RowChunkReader> reader_;
};

// IDX images with their labels in memory, row by row.
class TensorRows : public RowSource {
public:
  TensorRows(ir::Tensor features, std::optional<ir::Tensor> labels, int64_t numFeatures,
             const std::string &path)
      : features_(std::move(features)), labels_(std::move(labels)), d_(numFeatures) {
    const ir::TensorType &t = features_.type();
    int64_t n = t.rank() >= 1 ? t.shape[0] : 0;
    if (t.rank() < 1 || (n > 0 && features_.numel() / n != d_) ||
        (n == 0 && features_.numel() != 0))
      throw Error("holds " + t.str() + ", but the model takes rows of " + std::to_string(d_) +
                      " features ([N, " + std::to_string(d_) + "] or [N, ...])",
                  SourceLoc{path});
    rows_ = n;
  }
  bool hasLabels() const override { return labels_.has_value(); }
  Chunk next(int64_t maxRows) override {
    Chunk c;
    c.rows = std::min(maxRows, rows_ - at_);
    for (int64_t i = at_ * d_; i < (at_ + c.rows) * d_; ++i)
      c.features.push_back(features_.at(i));
    if (labels_)
      for (int64_t r = at_; r < at_ + c.rows; ++r)
        c.labels.push_back(labels_->at(r));
    at_ += c.rows;
    return c;
  }

private:
  ir::Tensor features_;
  std::optional<ir::Tensor> labels_;
  int64_t d_, rows_ = 0, at_ = 0;
};

// The one float input of a prediction that reads CSV, a .npy file or IDX
// images, and its values per sample.
struct Features {
  std::string name;
  int64_t count = 0;
};

Features featuresOf(const ir::Graph &base, const rt::PredictionPlan &plan) {
  std::string all;
  for (const std::string &in : plan.inputs)
    all += (all.empty() ? "" : ",") + in + "=FILE.npy";
  if (plan.inputs.size() != 1 || !ir::isFloat(base.type(base.lookup(plan.inputs[0])).dtype) ||
      base.type(base.lookup(plan.inputs[0])).rank() < 1)
    throw Error("the prediction of model '" + base.name() + "' reads " +
                (plan.inputs.empty() ? std::string("no input")
                                     : "%" + plan.inputs[0] + " : " +
                                           base.type(base.lookup(plan.inputs[0])).str() +
                                           (plan.inputs.size() > 1 ? " and more" : "")) +
                ", not one float input of features: give a .npy file per input (--data " + all +
                ")");
  const ir::TensorType &t = base.type(base.lookup(plan.inputs[0]));
  Features f{plan.inputs[0], 1};
  for (size_t i = 1; i < t.shape.size(); ++i)
    f.count *= t.shape[i];
  return f;
}

std::unique_ptr<RowSource> openData(const PredictOptions &o, int64_t numFeatures,
                                    bool classLabels) {
  if (endsWith(o.data, ".csv") || endsWith(o.data, ".csv.gz")) {
    if (!o.idxLabels.empty())
      throw UsageError("--idx-labels goes with IDX images, not with CSV data");
    return std::make_unique<CsvRows>(o.data, numFeatures, o.labelColumn, classLabels);
  }
  if (o.labelColumn)
    throw UsageError("--label-column goes with CSV data");
  if (endsWith(o.data, ".npy") || endsWith(o.data, ".npy.gz")) {
    if (!o.idxLabels.empty())
      throw UsageError("--idx-labels goes with IDX images, not with .npy data");
    return std::make_unique<StreamedRows>(runtime::openNpyRows(o.data), numFeatures);
  }
  if (o.idxLabels.empty()) // IDX images alone
    return std::make_unique<StreamedRows>(runtime::openIdxImageRows(o.data), numFeatures);
  runtime::Dataset d = runtime::loadIdxDataset(o.data, o.idxLabels, ir::DType::f64);
  return std::make_unique<TensorRows>(std::move(d.features), std::move(d.labels), numFeatures,
                                      o.data);
}

// The types of the inputs `names` of graph `g`.
std::map<std::string, ir::TensorType> typesOf(const ir::Graph &g,
                                              const std::vector<std::string> &names) {
  std::map<std::string, ir::TensorType> m;
  for (const std::string &n : names)
    m[n] = g.type(g.lookup(n));
  return m;
}

// Every other data input of the model may have a file too (the same
// --data as for training): the target and the mask score the predictions.
std::map<std::string, ir::TensorType> optionalTypes(const ir::Graph &model,
                                                    const rt::PredictionPlan &plan) {
  std::map<std::string, ir::TensorType> m;
  for (ir::NodeId id : model.inputs())
    if (model.type(id).rank() >= 1 &&
        std::find(plan.inputs.begin(), plan.inputs.end(), model.node(id).name) ==
            plan.inputs.end())
      m[model.node(id).name] = model.type(id);
  return m;
}

std::string describeFiles(const std::vector<std::pair<std::string, std::string>> &files) {
  std::string s;
  for (const auto &[name, path] : files)
    s += (s.empty() ? "" : ", ") + name + "=" + path;
  return s;
}

// .npy files by input name (runtime NamedRowChunks): each chunk's values
// by input name, and the target's and the padding mask's when the data
// has them (they score the predictions).
class NamedRows {
public:
  NamedRows(const std::string &spec, const ir::Graph &model, const ir::Graph &base,
            const rt::PredictionPlan &plan)
      : files_(parseNamedFiles(spec, "--data")), reader_(files_, typesOf(base, plan.inputs),
                                               optionalTypes(model, plan), base) {
    if (!plan.target.empty() && reader_.has(plan.target))
      target_ = plan.target;
    if (!plan.tokenMask.empty() && reader_.has(plan.tokenMask))
      mask_ = plan.tokenMask;
  }
  int64_t next(int64_t maxRows) { return reader_.next(maxRows, values_); }
  std::vector<double> &values(const std::string &name) { return values_[name]; }
  std::vector<double> target() { return target_.empty() ? empty() : values_[target_]; }
  std::vector<double> mask() { return mask_.empty() ? empty() : values_[mask_]; }
  bool hasTarget() const { return !target_.empty(); }
  bool hasMask() const { return !mask_.empty(); }
  std::string describeFiles() const { return cli::describeFiles(files_); }

private:
  static std::vector<double> empty() { return {}; }
  std::vector<std::pair<std::string, std::string>> files_;
  rt::NamedRowChunks reader_;
  std::map<std::string, std::vector<double>> values_;
  std::string target_, mask_;
};

// Whether the target's values per sample line up with the prediction's,
// so that the data's targets can score it.
bool targetFits(const ir::Graph &model, const rt::PredictionPlan &plan) {
  if (plan.target.empty())
    return false;
  const ir::TensorType &t = model.type(model.lookup(plan.target));
  const ir::TensorType &out = plan.outputType;
  ir::Shape ts(t.shape.begin() + 1, t.shape.end());
  switch (plan.kind) {
  case rt::PredictionKind::Classes:
    return t.dtype == ir::DType::i32 && t.rank() == 1;
  case rt::PredictionKind::Values:
    return ir::isFloat(t.dtype) && ts == ir::Shape(out.shape.begin() + 1, out.shape.end());
  case rt::PredictionKind::Tokens:
    return t.dtype == ir::DType::i32 &&
           ts == ir::Shape(out.shape.begin() + 1,
                           out.shape.end() - (ir::isFloat(out.dtype) ? 1 : 0));
  }
  return false;
}

// Where the predictions go: PATH.tmp, renamed to PATH once all are written
// (an error half-way leaves no half-written file under the name asked
// for); a PATH that is no regular file (/dev/stdout, a pipe) is written
// directly; no PATH: standard output.
class PredictionsOut {
public:
  explicit PredictionsOut(const std::string &path) {
    if (!path.empty())
      file_.emplace(path, runtime::AtomicFile::OnSpecialFile::WriteThrough,
                    "cannot write the predictions");
  }
  void write(const std::string &text) {
    if (file_) {
      file_->write(text);
    } else {
      std::cout << text;
      if (!std::cout)
        throw Error("cannot write the predictions", SourceLoc{"<stdout>"});
    }
  }
  void commit() {
    if (file_)
      file_->commit();
    else
      std::cout.flush();
  }

private:
  std::optional<runtime::AtomicFile> file_;
};

// A whole graph (a model trained with node masks): every file read whole
// and fed as it is, one evaluation, a line per node. The target's file, if
// given, scores every node.
int predictWholeGraph(const PredictOptions &o, const ir::Graph &model, const ir::Graph &base,
                      const rt::PredictionPlan &plan, bool scoreable) {
  auto files = parseNamedFiles(o.data, "--data");
  std::map<std::string, ir::Tensor> data = rt::readWholeGraphInputs(
      files, typesOf(base, plan.inputs), optionalTypes(model, plan), base);
  runtime::Weights weights = runtime::loadWeights(o.paramsFile);
  runtime::Bindings b = runtime::bindParams(base, weights.params, o.paramsFile);
  for (const std::string &in : plan.inputs)
    b[in] = data.at(in);
  PredictionsOut out(o.output);
  std::unique_ptr<runtime::Executable> exe =
      runtime::makeExecutable(base, runtime::parseBackend(o.backend));
  runtime::EvalResult r = exe->run(b);
  std::vector<ir::Tensor> outs;
  for (const std::string &name : plan.outputs())
    outs.push_back(r.output(name));
  std::vector<double> targets;
  if (scoreable && data.count(plan.target))
    targets = data.at(plan.target).toDoubles();
  rt::PredictionScore score;
  out.write(rt::predictionHeader(plan, outs));
  out.write(rt::predictionLines(plan, outs, plan.batch, targets, {}, score));
  out.commit();
  std::cerr << "predicted the " << plan.batch << " nodes of one graph";
  if (plan.kind == rt::PredictionKind::Classes && !plan.scoreOutput.empty())
    std::cerr << ", " << outs.back().shape()[1] << " classes";
  std::cerr << " (from " << describeFiles(files) << ")";
  if (!o.output.empty())
    std::cerr << " -> " << o.output;
  std::cerr << "\n";
  std::string scored = score.describe(plan.kind, false, "nodes");
  if (!scored.empty())
    std::cerr << scored << "\n";
  return 0;
}

int runPredict(const PredictOptions &o) {
  applyAllocLimit(o.allocLimit);
  if (o.batch < 1)
    throw UsageError("--batch " + std::to_string(o.batch) + ": must be at least 1");
  if (o.limit < 0)
    throw UsageError("--limit " + std::to_string(o.limit) + ": must be at least 0");
  if (o.raw && o.scale)
    throw UsageError("--raw and --scale exclude each other");
  // --data NAME=FILE.npy,...: a file per model input.
  bool named = o.data.find('=') != std::string::npos;
  if (named && (!o.idxLabels.empty() || o.labelColumn || o.scale))
    throw UsageError(std::string(!o.idxLabels.empty() ? "--idx-labels"
                                 : o.labelColumn      ? "--label-column"
                                                      : "--scale") +
                     " goes with CSV, .npy or IDX features, not with --data NAME=FILE.npy,...");
  ir::Graph model = ir::parseGraphFile(o.model);
  rt::PredictionPlan plan = rt::planPrediction(model, {o.outputName, o.values});
  // Only what the prediction needs, in eval mode (no dropout, running
  // statistics), without what eval mode no longer uses.
  ir::Graph base = rt::predictionGraph(model, plan);
  bool scoreable = targetFits(model, plan);
  // A model of one whole graph is predicted whole (--batch and --limit do
  // not apply).
  if (named && rt::readsWholeGraph(base, plan.batch))
    return predictWholeGraph(o, model, base, plan, scoreable);

  std::unique_ptr<RowSource> source;
  std::optional<NamedRows> namedSource;
  Features features;
  if (named) {
    namedSource.emplace(o.data, model, base, plan);
  } else {
    features = featuresOf(base, plan);
    // A label column or IDX labels score a classifier, or a regression with
    // one value per sample.
    bool classLabels = plan.kind == rt::PredictionKind::Classes;
    scoreable = classLabels || (plan.kind == rt::PredictionKind::Values &&
                                plan.outputType.rank() >= 1 &&
                                plan.outputType.numel() == plan.outputType.shape[0]);
    source = openData(o, features.count, classLabels);
  }
  runtime::Weights weights = runtime::loadWeights(o.paramsFile);
  runtime::Bindings params = runtime::bindParams(base, weights.params, o.paramsFile);
  // The stored preparation is of CSV and IDX features (training prepares
  // nothing else), so named .npy inputs are fed as they are.
  runtime::DataPreparation prep = named ? runtime::DataPreparation{} : weights.preparation;
  if (o.raw)
    prep = {};
  if (o.scale)
    prep = runtime::DataPreparation{o.scale, std::nullopt};

  PredictionsOut out(o.output);
  auto write = [&](const std::string &text) { out.write(text); };

  runtime::Backend backend = runtime::parseBackend(o.backend);
  std::map<int64_t, std::unique_ptr<runtime::Executable>> compiled; // by batch size
  int64_t total = 0, classes = 0;
  rt::PredictionScore score;
  bool headerWritten = false;
  std::vector<std::string> outputNames = plan.outputs();
  while (o.limit == 0 || total < o.limit) {
    int64_t want = o.limit == 0 ? o.batch : std::min(o.batch, o.limit - total);
    int64_t rows = 0;
    Chunk c;
    if (namedSource) {
      rows = namedSource->next(want);
    } else {
      c = source->next(want);
      rows = c.rows;
    }
    if (rows == 0)
      break;
    auto &exe = compiled[rows];
    if (!exe)
      exe = runtime::makeExecutable(rt::withBatchSize(base, plan.batch, rows), backend);
    const ir::Graph &g = exe->graph();
    runtime::Bindings b = params;
    std::vector<double> targets, mask;
    if (namedSource) {
      for (const std::string &in : plan.inputs)
        b[in] = ir::Tensor(g.type(g.lookup(in)), namedSource->values(in));
      if (scoreable && namedSource->hasTarget()) {
        targets = namedSource->target();
        mask = namedSource->mask();
      }
    } else {
      ir::Tensor x(g.type(g.lookup(features.name)), c.features);
      prep.apply(x, o.data);
      b[features.name] = std::move(x);
      if (source->hasLabels() && scoreable)
        targets = std::move(c.labels);
    }
    runtime::EvalResult r = exe->run(b);
    std::vector<ir::Tensor> outs;
    for (const std::string &name : outputNames)
      outs.push_back(r.output(name));
    if (!headerWritten) {
      write(rt::predictionHeader(plan, outs));
      headerWritten = true;
      if (plan.kind == rt::PredictionKind::Classes && !plan.scoreOutput.empty())
        classes = outs.back().shape()[1];
    }
    write(rt::predictionLines(plan, outs, rows, targets, mask, score));
    total += rows;
  }
  out.commit();
  std::cerr << "predicted " << total << (named ? " samples" : " rows");
  if (classes > 0)
    std::cerr << " of " << classes << " classes";
  else if (plan.kind == rt::PredictionKind::Values)
    std::cerr << ": the values of %" << plan.output;
  else if (plan.kind == rt::PredictionKind::Tokens)
    std::cerr << ": a class per token of %" << plan.output;
  if (named)
    std::cerr << " (from " << namedSource->describeFiles() << ")";
  else
    std::cerr << " (data preparation: " << prep.describe() << ")";
  if (!o.output.empty())
    std::cerr << " -> " << o.output;
  std::cerr << "\n";
  std::string scored = score.describe(plan.kind, namedSource && namedSource->hasMask());
  if (!scored.empty())
    std::cerr << scored << "\n";
  return 0;
}

} // namespace

Command addPredictCommand(CLI::App &app) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App *cmd = app.add_subcommand(
      "predict", "Predict with trained weights, as CSV: per sample the class and the "
                 "probabilities, a regression's values, or a class per token (docs/cli.md)");
  cmd->add_option("model", o->model, "The model, a .cj file")->required();
  cmd->add_option("--params", o->paramsFile,
                  "The weights: a checkpoint (train --checkpoint) or an .npz archive")
      ->required();
  cmd->add_option("--data", o->data,
                  "The samples: .csv or .csv.gz (read in chunks; a label column "
                  "is recognized by the column count), .npy [N, ...] (read in chunks), "
                  "IDX images (read in chunks; with --idx-labels, whole with their labels), "
                  "or NAME=FILE.npy,... a file per model input (read in chunks together, or "
                  "whole for a model of one graph; the target's file, if given, scores the "
                  "predictions)")
      ->required();
  cmd->add_option("--idx-labels", o->idxLabels, "IDX: the labels of the --data images");
  cmd->add_option("-o,--output", o->output,
                  "Write the predictions to this CSV file (default: standard output)");
  cmd->add_option("--batch", o->batch, "Rows per evaluation (default 256)");
  cmd->add_option("--limit", o->limit, "Predict only the first N rows");
  cmd->add_option("--label-column", o->labelColumn,
                  "CSV: the label's column (0-based, negative from the end); default: the "
                  "last, when there is one column more than the model has features");
  cmd->add_flag("--raw", o->raw,
                "Do not apply the data preparation stored with the weights");
  cmd->add_option("--scale", o->scale,
                  "Multiply every feature by this instead of the stored preparation");
  cmd->add_option("--output-value", o->outputName,
                  "The value to predict from: i32 [N] classes or float [N, C] scores, a "
                  "regression's float [N, ...] prediction, or a sequence model's float "
                  "[N, T, C] scores or i32 [N, T] classes (default: the model's prediction)");
  cmd->add_flag("--values", o->values,
                "Write the output's values per sample as they are (no argmax, no softmax)");
  cmd->add_option("--backend", o->backend, "jit (default) or interp")
      ->check(CLI::IsMember({"interp", "jit"}));
  addAllocLimitOption(cmd, o->allocLimit);
  cmd->footer("\nExamples:\n"
              "  chainjit predict examples/digits_mlp.cj --params digits.npz "
              "--data examples/data/digits.csv.gz -o predictions.csv\n"
              "  chainjit predict tests/cli/data/train/reg_multi.cj --params reg.npz "
              "--data x=new_x.npy\n"
              "Output: a header, then a line per sample: 'class,p0,p1,...' (the class and "
              "the probability of each), the output's values ('pred_0,pred_1'), or a class "
              "per token ('t0,t1,...').\nSee docs/cli.md and docs/deploy.md.");
  return {cmd, [o] { return runPredict(*o); }};
}

} // namespace chainjit::cli
