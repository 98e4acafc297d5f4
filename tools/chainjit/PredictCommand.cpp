// chainjit predict MODEL.cj --params FILE --data new.csv[.gz]|new.npy|IDX
//                  [--idx-labels F] [-o predictions.csv] [--batch N] [--limit N]
//                  [--label-column K] [--raw | --scale F] [--output-value NAME]
// Classifies new data with trained weights: per row the class and the
// probabilities, as CSV. The model is pruned to what the prediction needs
// (no labels, no loss) and compiled once per batch size; CSV, .npy and IDX
// images without labels are read and predicted chunk by chunk, so files
// larger than memory work. The data
// preparation stored with the weights (train --scale / --standardize) is
// applied to every row first.
#include "Commands.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/AtomicFile.h"
#include "chainjit/runtime/CsvChunks.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/RowChunks.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

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

// What the prediction reads from the model.
struct PredictionPlan {
  std::string features;     // the float input [N, ...]
  ir::TensorType featureType; // as declared
  int64_t numFeatures = 0;  // per row
  std::string classOutput;  // i32 [N] ("" if none)
  std::string scoreOutput;  // float [N, C] ("" if none)
  bool scoresAreProbabilities = false; // a softmax's result
};

PredictionPlan planPrediction(const ir::Graph &m, const std::string &wanted) {
  PredictionPlan p;
  for (ir::NodeId id : m.inputs()) {
    const ir::TensorType &t = m.type(id);
    if ((t.dtype == ir::DType::f32 || t.dtype == ir::DType::f64) && t.rank() >= 1) {
      p.features = m.node(id).name;
      p.featureType = t;
      break;
    }
  }
  if (p.features.empty())
    throw Error("model '" + m.name() + "' has no float input with a batch dimension");
  int64_t n = p.featureType.shape[0];
  p.numFeatures = 1;
  for (size_t i = 1; i < p.featureType.shape.size(); ++i)
    p.numFeatures *= p.featureType.shape[i];
  auto isClass = [&](ir::NodeId id) { return m.type(id) == ir::i32({n}); };
  auto isScores = [&](ir::NodeId id) {
    const ir::TensorType &t = m.type(id);
    return (t.dtype == ir::DType::f32 || t.dtype == ir::DType::f64) && t.rank() == 2 &&
           t.shape[0] == n;
  };
  std::optional<ir::NodeId> out;
  if (!wanted.empty()) {
    out = m.find(wanted[0] == '%' ? wanted.substr(1) : wanted);
    if (!out || (!isClass(*out) && !isScores(*out)))
      throw UsageError("--output-value " + wanted + ": model '" + m.name() +
                       "' has no value of that name that is i32[" + std::to_string(n) +
                       "] classes or float [" + std::to_string(n) + ", C] scores");
  } else {
    for (ir::NodeId id : m.outputs())
      if (!m.node(id).name.empty() && (isClass(id) || isScores(id))) {
        out = id;
        break;
      }
    if (!out)
      throw Error("model '" + m.name() + "' has no prediction output (i32[" + std::to_string(n) +
                  "] classes or float [" + std::to_string(n) +
                  ", C] scores); name a value with --output-value");
  }
  const ir::Node &node = m.node(*out);
  if (isClass(*out)) {
    p.classOutput = node.name;
    // The probabilities are the softmax of the logits an argmax picks from.
    if (node.kind == ir::OpKind::ArgMax && isScores(node.operands[0]) &&
        !m.node(node.operands[0]).name.empty())
      p.scoreOutput = m.node(node.operands[0]).name;
  } else {
    p.scoreOutput = node.name;
    p.scoresAreProbabilities = node.kind == ir::OpKind::Softmax;
  }
  return p;
}

// A chunk of rows: features (row-major, numFeatures each) and, when the
// data has them, labels.
struct Chunk {
  std::vector<double> features;
  std::vector<int64_t> labels;
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
// model's features.
class CsvRows : public RowSource {
public:
  CsvRows(const std::string &path, int64_t numFeatures, std::optional<int> labelColumn)
      : reader_(path), numFeatures_(numFeatures), labelColumn_(labelColumn) {}

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
          if (!(v >= 0 && v < 2147483648.0) || std::floor(v) != v)
            throw Error("the label " + std::to_string(v) + " is not a class number",
                        SourceLoc{reader_.path(), t.lines[static_cast<size_t>(r)]});
          c.labels.push_back(static_cast<int64_t>(v));
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
        c.labels.push_back(static_cast<int64_t>(labels_->at(r)));
    at_ += c.rows;
    return c;
  }

private:
  ir::Tensor features_;
  std::optional<ir::Tensor> labels_;
  int64_t d_, rows_ = 0, at_ = 0;
};

std::unique_ptr<RowSource> openData(const PredictOptions &o, const PredictionPlan &plan) {
  if (endsWith(o.data, ".csv") || endsWith(o.data, ".csv.gz")) {
    if (!o.idxLabels.empty())
      throw UsageError("--idx-labels goes with IDX images, not with CSV data");
    return std::make_unique<CsvRows>(o.data, plan.numFeatures, o.labelColumn);
  }
  if (o.labelColumn)
    throw UsageError("--label-column goes with CSV data");
  if (endsWith(o.data, ".npy") || endsWith(o.data, ".npy.gz")) {
    if (!o.idxLabels.empty())
      throw UsageError("--idx-labels goes with IDX images, not with .npy data");
    return std::make_unique<StreamedRows>(runtime::openNpyRows(o.data), plan.numFeatures);
  }
  if (o.idxLabels.empty()) // IDX images alone
    return std::make_unique<StreamedRows>(runtime::openIdxImageRows(o.data), plan.numFeatures);
  runtime::Dataset d = runtime::loadIdxDataset(o.data, o.idxLabels, ir::DType::f64);
  return std::make_unique<TensorRows>(std::move(d.features), std::move(d.labels),
                                      plan.numFeatures, o.data);
}

std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

int runPredict(const PredictOptions &o) {
  applyAllocLimit(o.allocLimit);
  if (o.batch < 1)
    throw UsageError("--batch " + std::to_string(o.batch) + ": must be at least 1");
  if (o.limit < 0)
    throw UsageError("--limit " + std::to_string(o.limit) + ": must be at least 0");
  if (o.raw && o.scale)
    throw UsageError("--raw and --scale exclude each other");
  ir::Graph model = ir::parseGraphFile(o.model);
  PredictionPlan plan = planPrediction(model, o.outputName);
  std::vector<std::string> outs;
  if (!plan.classOutput.empty())
    outs.push_back(plan.classOutput);
  if (!plan.scoreOutput.empty())
    outs.push_back(plan.scoreOutput);
  // Only what the prediction needs, in eval mode (no dropout, running
  // statistics), without what eval mode no longer uses.
  ir::Graph base = rt::withoutUnusedValues(
      compiler::expandModes(rt::withOutputs(model, outs), compiler::Mode::Eval));
  if (!base.find(plan.features))
    throw Error("the prediction of model '" + model.name() + "' does not depend on %" +
                plan.features);
  int64_t declaredBatch = plan.featureType.shape[0];

  std::unique_ptr<RowSource> source = openData(o, plan);
  runtime::Weights weights = runtime::loadWeights(o.paramsFile);
  runtime::Bindings params = runtime::bindParams(base, weights.params, o.paramsFile);
  runtime::DataPreparation prep = weights.preparation;
  if (o.raw)
    prep = {};
  if (o.scale)
    prep = runtime::DataPreparation{o.scale, std::nullopt};

  // The predictions go to PATH.tmp, renamed to PATH once all are written:
  // an error half-way leaves no half-written file under the name asked for.
  // A PATH that is no regular file (/dev/stdout, a pipe) is written directly.
  std::optional<runtime::AtomicFile> file;
  if (!o.output.empty())
    file.emplace(o.output, runtime::AtomicFile::OnSpecialFile::WriteThrough,
                 "cannot write the predictions");
  std::ostringstream out; // one chunk's lines
  auto flushChunk = [&] {
    if (file) {
      file->write(out.view());
    } else {
      std::cout << out.view();
      if (!std::cout)
        throw Error("cannot write the predictions", SourceLoc{"<stdout>"});
    }
    out.str("");
  };

  runtime::Backend backend = runtime::parseBackend(o.backend);
  std::map<int64_t, std::unique_ptr<runtime::Executable>> compiled; // by batch size
  int64_t total = 0, hits = 0, classes = 0;
  bool headerWritten = false;
  while (o.limit == 0 || total < o.limit) {
    Chunk c = source->next(o.limit == 0 ? o.batch : std::min(o.batch, o.limit - total));
    if (c.rows == 0)
      break;
    auto &exe = compiled[c.rows];
    if (!exe)
      exe = runtime::makeExecutable(rt::withBatchSize(base, declaredBatch, c.rows), backend);
    const ir::Graph &g = exe->graph();
    ir::Tensor features(g.type(g.lookup(plan.features)), c.features);
    prep.apply(features, o.data);
    runtime::Bindings b = params;
    b[plan.features] = std::move(features);
    runtime::EvalResult r = exe->run(b);

    std::optional<ir::Tensor> cls, scores;
    if (!plan.classOutput.empty())
      cls = r.output(plan.classOutput);
    if (!plan.scoreOutput.empty())
      scores = r.output(plan.scoreOutput);
    int64_t cols = scores ? scores->shape()[1] : 0;
    if (!headerWritten) {
      out << "class";
      for (int64_t k = 0; k < cols; ++k)
        out << ",p" << k;
      out << "\n";
      headerWritten = true;
      classes = cols;
    }
    std::vector<double> p(static_cast<size_t>(cols));
    for (int64_t row = 0; row < c.rows; ++row) {
      // Softmax in double, shifted by the row's maximum.
      double maxLogit = -INFINITY, sum = 0;
      int64_t best = 0;
      for (int64_t k = 0; k < cols; ++k) {
        p[k] = scores->at(row * cols + k);
        if (p[k] > maxLogit) {
          maxLogit = p[k];
          best = k;
        }
      }
      if (!plan.scoresAreProbabilities) {
        for (int64_t k = 0; k < cols; ++k)
          sum += p[k] = std::exp(p[k] - maxLogit);
        for (int64_t k = 0; k < cols; ++k)
          p[k] /= sum;
      }
      int64_t predicted = cls ? static_cast<int64_t>(cls->at(row)) : best;
      out << predicted;
      for (int64_t k = 0; k < cols; ++k)
        out << "," << number(p[k]);
      out << "\n";
      if (source->hasLabels() && c.labels[row] == predicted)
        ++hits;
    }
    total += c.rows;
    flushChunk();
  }
  if (file)
    file->commit();
  else
    std::cout.flush();
  std::cerr << "predicted " << total << " rows";
  if (classes > 0)
    std::cerr << " of " << classes << " classes";
  std::cerr << " (data preparation: " << prep.describe() << ")";
  if (!o.output.empty())
    std::cerr << " -> " << o.output;
  std::cerr << "\n";
  if (source->hasLabels() && total > 0)
    std::cerr << "accuracy " << 100.0 * static_cast<double>(hits) / static_cast<double>(total)
              << "% (" << hits << " of " << total << " rows match their labels)\n";
  return 0;
}

} // namespace

Command addPredictCommand(CLI::App &app) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App *cmd = app.add_subcommand(
      "predict", "Classify new data with trained weights: the class and the probabilities "
                 "per row, as CSV (docs/deploy.md)");
  cmd->add_option("model", o->model, "The model, a .cj file")->required();
  cmd->add_option("--params", o->paramsFile,
                  "The weights: a checkpoint (train --checkpoint) or an .npz archive")
      ->required();
  cmd->add_option("--data", o->data,
                  "The rows to classify: .csv or .csv.gz (read in chunks; a label column "
                  "is recognized by the column count), .npy [N, ...] (read in chunks), or "
                  "IDX images (read in chunks; with --idx-labels, whole with their labels)")
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
                  "The value to predict from: i32 [N] classes or float [N, C] scores "
                  "(default: the model's first such output)");
  cmd->add_option("--backend", o->backend, "jit (default) or interp")
      ->check(CLI::IsMember({"interp", "jit"}));
  addAllocLimitOption(cmd, o->allocLimit);
  cmd->footer("\nExamples:\n"
              "  chainjit predict examples/digits_mlp.cj --params digits.npz "
              "--data examples/data/digits.csv.gz -o predictions.csv\n"
              "Output: a header 'class,p0,p1,...', then per row the class and the "
              "probability of each class.\nSee docs/deploy.md.");
  return {cmd, [o] { return runPredict(*o); }};
}

} // namespace chainjit::cli
