// What `chainjit predict` computes and writes (Prediction.h): the plan,
// the CSV lines per chunk and their score against targets in the data.
#include "chainjit/runtime/train/Prediction.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <optional>

namespace chainjit::runtime::train {

namespace {

// The trainer's reading of the model, where it has one (a model without a
// scalar loss first is a plain inference graph: no target, no prediction).
std::optional<ModelSignature> signatureOf(const ir::Graph &model) {
  try {
    return inspectModel(model);
  } catch (const Error &) {
    return std::nullopt;
  }
}

std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

int64_t product(const ir::Shape &s, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i)
    n *= s[i];
  return n;
}

// Column names for the entries of one sample of shape s[1..end): NAME for
// a single value, NAME_i, NAME_i_j, ... for more (no commas: a CSV header);
// `sep` joins the name and the first index.
std::string columns(const std::string &name, const ir::Shape &s, size_t end,
                    const char *sep = "_") {
  if (end <= 1)
    return name;
  std::string out;
  int64_t count = product(s, 1, end);
  for (int64_t flat = 0; flat < count; ++flat) {
    std::string col = name;
    std::vector<int64_t> index(end - 1);
    int64_t rest = flat;
    for (size_t d = end - 1; d-- > 0;) {
      index[d] = rest % s[d + 1];
      rest /= s[d + 1];
    }
    for (size_t d = 0; d < index.size(); ++d)
      col += (d ? "_" : sep) + std::to_string(index[d]);
    out += (flat ? "," : "") + col;
  }
  return out;
}

} // namespace

std::vector<std::string> PredictionPlan::outputs() const {
  if (kind != PredictionKind::Classes)
    return {output};
  std::vector<std::string> out;
  if (!classOutput.empty())
    out.push_back(classOutput);
  if (!scoreOutput.empty())
    out.push_back(scoreOutput);
  return out;
}

PredictionPlan planPrediction(const ir::Graph &m, const PredictionRequest &request) {
  PredictionPlan p;
  std::optional<ModelSignature> sig = signatureOf(m);
  p.batch = sig ? sig->batch : graphBatchSize(m);
  if (sig) {
    p.target = sig->labels;
    p.tokenMask = sig->tokenMask;
  }
  const int64_t n = p.batch;
  bool floatTarget = sig && sig->target == TargetKind::Regression;
  auto perSample = [&](ir::NodeId id) {
    const ir::TensorType &t = m.type(id);
    return t.rank() >= 1 && t.shape[0] == n;
  };
  auto isClass = [&](ir::NodeId id) { return m.type(id) == ir::i32({n}); };
  auto isScores = [&](ir::NodeId id) {
    const ir::TensorType &t = m.type(id);
    return ir::isFloat(t.dtype) && t.rank() == 2 && t.shape[0] == n;
  };
  auto isTokenScores = [&](ir::NodeId id) {
    const ir::TensorType &t = m.type(id);
    return ir::isFloat(t.dtype) && t.rank() >= 3 && t.shape[0] == n;
  };
  std::optional<ir::NodeId> out;
  if (!request.output.empty()) {
    std::string name = request.output[0] == '%' ? request.output.substr(1) : request.output;
    out = m.find(name);
    if (!out)
      throw Error("--output-value " + request.output + ": model '" + m.name() +
                  "' has no value %" + name);
    if (!perSample(*out))
      throw Error("--output-value " + request.output + ": %" + name + " : " +
                  m.type(*out).str() + " is not per sample (its first dimension is not the "
                  "model's batch " + std::to_string(n) + ")");
  } else {
    if (sig && !sig->prediction.empty())
      out = m.lookup(sig->prediction);
    if (!out && sig && sig->target == TargetKind::Sequence)
      for (ir::NodeId id : m.outputs())
        if (!m.node(id).name.empty() && isTokenScores(id)) {
          out = id;
          break;
        }
    if (!out && !floatTarget)
      for (ir::NodeId id : m.outputs())
        if (!m.node(id).name.empty() && (isClass(id) || isScores(id))) {
          out = id;
          break;
        }
    if (!out)
      throw Error("model '" + m.name() + "' has no prediction output (i32[" +
                  std::to_string(n) + "] classes, float [" + std::to_string(n) +
                  ", C] scores, or the prediction of its regression target); name a value "
                  "with --output-value");
  }
  const ir::Node &node = m.node(*out);
  const ir::TensorType &t = m.type(*out);
  p.output = node.name;
  p.outputType = t;
  if (request.values)
    p.kind = PredictionKind::Values;
  else if ((isClass(*out) || isScores(*out)) && !floatTarget)
    p.kind = PredictionKind::Classes;
  else if ((t.dtype == ir::DType::i32 && t.rank() >= 2) || (isTokenScores(*out) && !floatTarget))
    p.kind = PredictionKind::Tokens;
  else
    p.kind = PredictionKind::Values;
  if (p.kind == PredictionKind::Classes) {
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
  }
  return p;
}

ir::Graph predictionGraph(const ir::Graph &model, PredictionPlan &plan) {
  ir::Graph g = withoutUnusedValues(
      compiler::expandModes(withOutputs(model, plan.outputs()), compiler::Mode::Eval));
  plan.inputs.clear();
  for (ir::NodeId id : g.inputs())
    plan.inputs.push_back(g.node(id).name);
  return g;
}

std::string predictionHeader(const PredictionPlan &plan, const std::vector<ir::Tensor> &outputs) {
  const ir::Tensor &first = outputs.at(0);
  const ir::Shape &s = first.shape();
  switch (plan.kind) {
  case PredictionKind::Classes: {
    std::string h = "class";
    int64_t classes = plan.scoreOutput.empty() ? 0 : outputs.back().shape()[1];
    for (int64_t k = 0; k < classes; ++k)
      h += ",p" + std::to_string(k);
    return h + "\n";
  }
  case PredictionKind::Values:
    return columns(plan.output, s, s.size()) + "\n";
  case PredictionKind::Tokens: {
    // Positions: every axis after the batch, but the classes of scores.
    size_t end = ir::isFloat(first.dtype()) ? s.size() - 1 : s.size();
    return columns("t", s, end, "") + "\n"; // t0, t1, ... (t0_0, ... for more axes)
  }
  }
  return "\n";
}

std::string predictionLines(const PredictionPlan &plan, const std::vector<ir::Tensor> &outputs,
                            int64_t rows, const std::vector<double> &targets,
                            const std::vector<double> &mask, PredictionScore &score) {
  std::string text;
  const ir::Tensor &first = outputs.at(0);
  bool scored = !targets.empty();
  if (scored)
    score.samples += rows;
  switch (plan.kind) {
  case PredictionKind::Classes: {
    const ir::Tensor *cls = plan.classOutput.empty() ? nullptr : &outputs[0];
    const ir::Tensor *scores = plan.scoreOutput.empty() ? nullptr : &outputs.back();
    int64_t cols = scores ? scores->shape()[1] : 0;
    std::vector<double> p(static_cast<size_t>(cols));
    for (int64_t row = 0; row < rows; ++row) {
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
      text += std::to_string(predicted);
      for (int64_t k = 0; k < cols; ++k)
        text += "," + number(p[k]);
      text += "\n";
      if (scored) {
        ++score.compared;
        score.hits += targets[row] == static_cast<double>(predicted);
      }
    }
    break;
  }
  case PredictionKind::Values: {
    int64_t per = rows ? first.numel() / rows : 0;
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t k = 0; k < per; ++k) {
        double v = first.at(row * per + k);
        text += (k ? "," : "") + number(v);
        if (scored) {
          double d = v - targets[static_cast<size_t>(row * per + k)];
          score.squaredError += d * d;
          ++score.compared;
        }
      }
      text += "\n";
    }
    break;
  }
  case PredictionKind::Tokens: {
    bool fromScores = ir::isFloat(first.dtype());
    int64_t classes = fromScores ? first.shape().back() : 1;
    int64_t positions = rows ? first.numel() / rows / classes : 0;
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t t = 0; t < positions; ++t) {
        int64_t at = row * positions + t, predicted = 0;
        if (fromScores) {
          double best = -INFINITY;
          for (int64_t k = 0; k < classes; ++k) {
            double v = first.at(at * classes + k);
            if (v > best) {
              best = v;
              predicted = k;
            }
          }
        } else {
          predicted = static_cast<int64_t>(first.at(at));
        }
        text += (t ? "," : "") + std::to_string(predicted);
        if (scored && (mask.empty() || mask[static_cast<size_t>(at)] != 0)) {
          ++score.compared;
          score.hits += targets[static_cast<size_t>(at)] == static_cast<double>(predicted);
        }
      }
      text += "\n";
    }
    break;
  }
  }
  return text;
}

std::string PredictionScore::describe(PredictionKind kind, bool masked, const char *rows) const {
  if (samples == 0)
    return "";
  double share = compared ? 100.0 * static_cast<double>(hits) / static_cast<double>(compared) : 0;
  switch (kind) {
  case PredictionKind::Classes:
    return fmt::format("accuracy {:g}% ({} of {} {} match their labels)", share, hits, compared,
                       rows);
  case PredictionKind::Values:
    return fmt::format("mse {:g} ({} samples, {} values, against the targets)",
                       compared ? squaredError / static_cast<double>(compared) : 0.0, samples,
                       compared);
  case PredictionKind::Tokens:
    return fmt::format("token accuracy {:g}% ({} of {} tokens match their labels{})", share, hits,
                       compared, masked ? ", padding not counted" : "");
  }
  return "";
}

} // namespace chainjit::runtime::train
