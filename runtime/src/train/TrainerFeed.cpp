// Feeding data to the model: checking a data set against the model's inputs
// before training (with the file and position of anything wrong), binding a
// batch of it to the inputs, and the metric sums of a batch. Three kinds of
// data (Dataset.h): CSV/IDX features and labels, named inputs batched along
// their leading axis, and a whole graph with a node mask.
#include "TrainerImpl.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/IndexBounds.h"
#include "chainjit/ir/Suggest.h"
#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/train/TrainData.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chainjit::runtime::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The dtypes a value of dtype `to` may be fed from (convertDType's rules).
bool convertible(ir::DType from, ir::DType to) {
  if (from == to)
    return true;
  if (ir::isFloat(to))
    return ir::isFloat(from) || from == ir::DType::i32 || from == ir::DType::boolean;
  return to == ir::DType::i32 && from == ir::DType::boolean;
}

ir::Tensor fed(const ir::Tensor &t, const ir::TensorType &want, const std::string &name) {
  ir::Tensor v = t.dtype() == want.dtype ? t : convertDType(t, want.dtype, "input %" + name);
  return v.shape() == want.shape ? v : v.reshaped(want.shape);
}

std::string inputList(const std::vector<std::string> &names) {
  std::string list;
  for (const std::string &n : names)
    list += (list.empty() ? "%" : ", %") + n;
  return list;
}

// Throws naming `source` and the first NaN or infinite entry of `t`.
void checkFinite(const ir::Tensor &t, const std::string &source, const std::string &what,
                 bool rowsAreSamples) {
  if (!ir::isFloat(t.dtype()))
    return;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.at(i);
    if (std::isfinite(v))
      continue;
    std::string where = "entry " + ir::positionText(t.shape(), i);
    if (rowsAreSamples && !t.shape().empty()) {
      int64_t per = t.numel() / std::max<int64_t>(t.shape()[0], 1);
      where = "sample " + std::to_string(i / per + 1) + ": " + what + " entry " +
              ir::positionText(t.shape(), i);
    } else {
      where = what + " entry " + ir::positionText(t.shape(), i);
    }
    throw Error(where + " is " + (std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf") +
                    " (training data must be finite numbers)",
                SourceLoc{source});
  }
}

} // namespace

int64_t Trainer::Impl::graphBatch(const Dataset &data, const std::vector<int64_t> &rows) const {
  return data.wholeGraph ? sig.batch : static_cast<int64_t>(rows.size());
}

void Trainer::Impl::checkData(const Dataset &data, const char *what) {
  std::string label = std::string(what) + " data";
  auto typeOf = [&](const std::string &name) { return model.type(model.lookup(name)); };
  // Every label, padding and unselected nodes included: the loss's
  // one_hot or cross_entropy reads them all before the mask weighs them.
  auto checkLabels = [&](const ir::Tensor &labels, const std::string &source) {
    if (sig.classes <= 0 || labels.dtype() != ir::DType::i32 ||
        (sig.target != TargetKind::Classes && sig.target != TargetKind::Sequence))
      return;
    for (int64_t i = 0; i < labels.numel(); ++i) {
      int32_t y = labels.as<int32_t>()[i];
      if (y < 0 || y >= sig.classes)
        throw Error("label " + std::to_string(y) + " at " + ir::positionText(labels.shape(), i) +
                        " (input %" + sig.labels + "), but the model has " +
                        std::to_string(sig.classes) + " classes (labels 0.." +
                        std::to_string(sig.classes - 1) + "; padding too must hold one)",
                    SourceLoc{source});
    }
  };
  auto checkDType = [&](const std::string &name, const ir::Tensor &t, const std::string &source) {
    ir::TensorType want = typeOf(name);
    if (!convertible(t.dtype(), want.dtype))
      throw Error("input %" + name + " is " + std::string(ir::dtypeName(t.dtype())) +
                      " in the data, but the model declares %" + name + " : " + want.str() +
                      " (" + std::string(ir::dtypeName(want.dtype)) + " is fed from " +
                      (ir::isFloat(want.dtype) ? "f32, f64, i32 or bool" :
                       want.dtype == ir::DType::i32 ? "i32 or bool" : "bool") + ")",
                  SourceLoc{source});
  };
  auto checkUnknown = [&]() {
    for (const auto &[name, t] : data.inputs)
      if (std::find(sig.inputs.begin(), sig.inputs.end(), name) == sig.inputs.end())
        throw Error(label + " gives '" + name + "', which is no data input of the model (its "
                    "data inputs: " + inputList(sig.inputs) + ")" +
                        ir::didYouMean(name, sig.inputs, ""),
                    SourceLoc{data.sourceOf(name, label)});
  };

  if (data.wholeGraph) {
    if (distributed)
      throw Error("whole-graph training runs in one process: the graph is one batch, which "
                  "is not split over ranks");
    checkUnknown();
    std::vector<std::string> missing;
    for (const std::string &name : sig.inputs)
      if (!data.inputs.count(name))
        missing.push_back(name);
    if (missing.size() != 1)
      throw Error(
          label + ": a whole-graph model takes every input from the data but one, the node "
                  "mask; " +
          (missing.empty() ? "the data feeds them all, so no input [nodes] is left for the mask"
                           : "the data lacks " + inputList(missing)));
    const std::string &maskName = missing[0];
    ir::TensorType mt = typeOf(maskName);
    int64_t nodes = data.nodeMask.numel();
    if (mt.rank() != 1 || mt.shape[0] != nodes || mt.dtype == ir::DType::i32)
      throw Error("the node mask of " + std::to_string(nodes) + " nodes feeds input %" +
                      maskName + " : " + mt.str() + " (the one model input the data does not "
                      "give), which should be f32[" + std::to_string(nodes) + "], f64[" +
                      std::to_string(nodes) + "] or bool[" + std::to_string(nodes) + "]",
                  SourceLoc{data.sourceOf("#mask", label)});
    if (!nodeMaskInput.empty() && nodeMaskInput != maskName)
      throw Error(label + ": the node mask feeds %" + maskName + ", the training data's fed %" +
                  nodeMaskInput);
    nodeMaskInput = maskName;
    for (const auto &[name, t] : data.inputs) {
      std::string source = data.sourceOf(name, label);
      ir::TensorType want = typeOf(name);
      if (t.shape() != want.shape)
        throw Error("input %" + name + " is " + t.type().str() + ", but the model declares %" +
                        name + " : " + want.str() +
                        " (a whole graph is fed as it is, one batch of all nodes)",
                    SourceLoc{source});
      checkDType(name, t, source);
      checkFinite(t, source, "input %" + name, false);
    }
    int64_t selected = 0;
    for (int64_t i = 0; i < nodes; ++i)
      selected += data.nodeMask.at(i) != 0;
    if (selected == 0)
      throw Error(label + ": the node mask selects no node");
    if (!sig.labels.empty() && data.inputs.count(sig.labels)) {
      const ir::Tensor &labels = data.inputs.at(sig.labels);
      if (labels.shape().empty() || labels.shape()[0] != nodes)
        throw Error("the labels %" + sig.labels + " are " + labels.type().str() +
                        ", but the node mask has " + std::to_string(nodes) + " nodes",
                    SourceLoc{data.sourceOf(sig.labels, label)});
      checkLabels(labels, data.sourceOf(sig.labels, label));
    }
    return;
  }

  if (data.size() < 1)
    throw Error(label + " is empty");
  for (const std::string &name : sig.inputs) {
    ir::TensorType t = typeOf(name);
    if (t.shape[0] != sig.batch)
      throw Error(label + ": cannot feed input %" + name + " : " + t.str() +
                  " row by row: its first dimension is not the batch (" +
                  std::to_string(sig.batch) + ", from %" + sig.features +
                  "); a model whose inputs are not all batched trains on a whole graph "
                  "(node masks, docs/training.md)");
  }

  if (data.inputs.empty()) {
    // CSV or IDX: a features matrix and a label column.
    ir::TensorType in = typeOf(sig.features);
    int64_t perSample = in.numel() / std::max<int64_t>(in.shape[0], 1);
    if (data.numFeatures() != perSample)
      throw Error(label + " has " + std::to_string(data.numFeatures()) +
                  " features per sample, but model input %" + sig.features + " : " + in.str() +
                  " takes " + std::to_string(perSample));
    for (const std::string &name : sig.inputs)
      if (name != sig.features && name != sig.labels)
        throw Error(label + ": cannot feed input %" + name + " : " + typeOf(name).str() +
                    " from a features matrix and a label column (give every input from .npy "
                    "files: --data " + sig.features + "=X.npy," + name + "=...)");
    if (!sig.labels.empty()) {
      ir::TensorType lt = typeOf(sig.labels);
      if (data.labels.shape().empty())
        throw Error(label + " has no label column, but the model has the target %" +
                    sig.labels + " : " + lt.str());
      if (lt.rank() != 1)
        throw Error(label + " has one label per sample, but the model's target %" +
                    sig.labels + " : " + lt.str() +
                    " takes more (feed it from a .npy file: --data " + sig.features +
                    "=X.npy," + sig.labels + "=Y.npy)");
      if (!convertible(data.labels.dtype(), lt.dtype))
        throw Error(label + " has " + std::string(ir::dtypeName(data.labels.dtype())) +
                    " labels, but the model's target is %" + sig.labels + " : " + lt.str());
    }
    checkSamples(data, sig.target == TargetKind::Classes ? sig.classes : 0, label);
    return;
  }

  // Named inputs, batched along their leading axis.
  checkUnknown();
  for (const std::string &name : sig.inputs) {
    auto it = data.inputs.find(name);
    if (it == data.inputs.end())
      throw Error(label + " has no input %" + name + " (the model's data inputs: " +
                  inputList(sig.inputs) + ")");
    const ir::Tensor &t = it->second;
    std::string source = data.sourceOf(name, label);
    ir::TensorType want = typeOf(name);
    ir::Shape have(t.shape().begin() + 1, t.shape().end());
    ir::Shape per(want.shape.begin() + 1, want.shape.end());
    if (have != per)
      throw Error("input %" + name + ": each sample is " + ir::TensorType{t.dtype(), have}.str() +
                      ", but the model's %" + name + " : " + want.str() + " takes " +
                      ir::TensorType{want.dtype, per}.str() + " per sample",
                  SourceLoc{source});
    checkDType(name, t, source);
    checkFinite(t, source, "input %" + name, true);
  }
  if (!sig.labels.empty())
    checkLabels(data.inputs.at(sig.labels), data.sourceOf(sig.labels, label));
}

Bindings Trainer::Impl::dataBindings(const Dataset &data, const std::vector<int64_t> &rows,
                                     int64_t counter) {
  int64_t b = graphBatch(data, rows);
  const ir::Graph &g = modelAt(b);
  auto typeOf = [&](const std::string &name) { return g.type(g.lookup(name)); };
  Bindings out;
  if (data.wholeGraph) {
    for (const auto &[name, t] : data.inputs)
      out[name] = fed(t, typeOf(name), name);
    out[nodeMaskInput] = fed(data.nodeMask, typeOf(nodeMaskInput), nodeMaskInput);
  } else if (data.inputs.empty()) {
    Dataset part = gatherRows(data, rows); // reads them where the features stay in a file
    out[sig.features] = fed(part.features, typeOf(sig.features), sig.features);
    if (!sig.labels.empty())
      out[sig.labels] = fed(part.labels, typeOf(sig.labels), sig.labels);
  } else {
    Dataset part = gatherRows(data, rows); // reads the rows of inputs left in a file
    for (const auto &[name, t] : part.inputs)
      out[name] = fed(t, typeOf(name), name);
  }
  if (!sig.counter.empty())
    out[sig.counter] = ir::Tensor::scalar(ir::DType::i32, static_cast<double>(counter));
  return out;
}

// Correct predictions among `labels` (only where `mask` is non-zero, when
// given) from a prediction output: classes, or scores whose row-wise argmax
// is the class.
int64_t Trainer::Impl::correct(const ir::Tensor &prediction, const ir::Tensor &labels,
                               const ir::Tensor *mask) const {
  int64_t n = labels.numel(), hits = 0;
  int64_t classes = sig.predictionIsClass ? 1 : prediction.shape()[1];
  for (int64_t i = 0; i < n; ++i) {
    if (mask && mask->at(i) == 0)
      continue;
    int64_t best = 0;
    if (sig.predictionIsClass) {
      best = static_cast<int64_t>(prediction.at(i));
    } else {
      for (int64_t c = 1; c < classes; ++c)
        if (prediction.at(i * classes + c) > prediction.at(i * classes + best))
          best = c;
    }
    hits += best == static_cast<int64_t>(labels.at(i));
  }
  return hits;
}

Trainer::Impl::BatchScore Trainer::Impl::score(const ir::Tensor *prediction,
                                               const Bindings &data) const {
  BatchScore s;
  const ir::Tensor *mask = nullptr;
  if (!nodeMaskInput.empty() && data.count(nodeMaskInput))
    mask = &data.at(nodeMaskInput);
  const ir::Tensor *labels = sig.labels.empty() ? nullptr : &data.at(sig.labels);
  if (mask) {
    for (int64_t i = 0; i < mask->numel(); ++i)
      s.weight += mask->at(i) != 0;
  } else if (sig.target == TargetKind::Sequence) {
    if (!sig.tokenMask.empty()) {
      double sum = 0;
      const ir::Tensor &m = data.at(sig.tokenMask);
      for (int64_t i = 0; i < m.numel(); ++i)
        sum += m.at(i);
      s.weight = std::max<int64_t>(std::llround(sum), 1);
    } else {
      s.weight = labels->numel();
    }
  } else {
    s.weight = data.at(sig.features).shape()[0];
  }
  if (!prediction || !labels)
    return s;
  if (sig.target == TargetKind::Classes) {
    s.hits = correct(*prediction, *labels, mask);
  } else if (sig.target == TargetKind::Regression) {
    int64_t rows = labels->shape()[0], per = labels->numel() / std::max<int64_t>(rows, 1);
    for (int64_t i = 0; i < labels->numel(); ++i) {
      if (mask && mask->at(i / per) == 0)
        continue;
      double d = prediction->at(i) - labels->at(i);
      s.sqErr += d * d;
    }
  }
  return s;
}

Metrics Trainer::Impl::finish(double lossSum, int64_t weight, int64_t hits, double sqErr) const {
  Metrics m;
  double w = static_cast<double>(std::max<int64_t>(weight, 1));
  m.loss = lossSum / w;
  m.accuracy = sig.target == TargetKind::Classes && !sig.prediction.empty() && hits >= 0
                   ? static_cast<double>(hits) / w
                   : kNaN;
  if (sig.target == TargetKind::Regression) {
    ir::TensorType lt = model.type(model.lookup(sig.labels));
    double per = static_cast<double>(lt.numel() / std::max<int64_t>(lt.shape[0], 1));
    // hits < 0: the step path did not run the prediction (Newton, line
    // searches), so only an mse loss tells the mse.
    m.mse = !sig.prediction.empty() && hits >= 0 ? sqErr / (w * per)
            : sig.lossIsMse                      ? m.loss
                                                 : kNaN;
  }
  if (sig.target == TargetKind::Sequence)
    m.perplexity = std::exp(m.loss);
  return m;
}

} // namespace chainjit::runtime::train
