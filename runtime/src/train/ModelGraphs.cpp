// Deriving the graphs of a training run from a model: batch size, dropout
// rate, the training step (forward, gradient and update in one graph) and
// the evaluation graph.
#include "chainjit/runtime/train/ModelGraphs.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Rebuild.h"
#include "chainjit/ir/Suggest.h"
#include "chainjit/ir/Verifier.h"

#include <algorithm>

namespace chainjit::runtime::train {

namespace {

using ir::Value;

bool isFloatType(ir::DType t) { return t == ir::DType::f32 || t == ir::DType::f64; }

std::string graphLabel(const ir::Graph &g) { return "model '" + g.name() + "'"; }

// The coefficient of `param` in `c`, 0 when it has none.
double coefficient(const Coefficients &c, const std::string &param) {
  auto it = c.find(param);
  return it == c.end() ? 0.0 : it->second;
}

// `v` as a value of dtype `t` (scalars such as the learning rate come in the
// loss's dtype; a model may mix f32 and f64 params).
Value asDType(Value v, ir::DType t) { return v.dtype() == t ? v : ir::cast(v, t); }

// A copy of `g` whose outputs are `outputs` (by name) and whose updates are
// `updates` (param name -> value name), dead code removed.
ir::Graph withResults(const ir::Graph &g, const std::vector<std::string> &outputs,
                      const std::vector<std::pair<std::string, std::string>> &updates) {
  ir::GraphRebuilder rb(g);
  for (ir::NodeId id = 0; id < g.size(); ++id)
    rb.copy(id);
  ir::Graph out = std::move(rb.out());
  for (const std::string &o : outputs)
    out.addOutput(out.lookup(o));
  for (const auto &[param, value] : updates)
    out.addUpdate(out.lookup(param), out.lookup(value));
  out = compiler::eliminateDeadCode(out);
  ir::verifyOrThrow(out);
  return out;
}

} // namespace

std::string velocityParamName(const std::string &param) { return "train.velocity." + param; }
std::string gradOutputName(const std::string &param) { return "grad." + param; }

namespace {

// The input `id` is, seen through reshapes, casts, transposes and slices
// (a sequence loss flattens its labels), or nullopt.
std::optional<ir::NodeId> sourceInput(const ir::Graph &g, ir::NodeId id) {
  while (true) {
    const ir::Node &n = g.node(id);
    if (n.kind == ir::OpKind::Input)
      return id;
    bool passThrough = n.kind == ir::OpKind::Reshape || n.kind == ir::OpKind::Cast ||
                       n.kind == ir::OpKind::Transpose || n.kind == ir::OpKind::Slice;
    if (!passThrough || n.operands.empty())
      return std::nullopt;
    id = n.operands[0];
  }
}

// The inputs the loss compares with: cross_entropy's labels, either side of
// an mse that is not the features, what a one_hot encodes.
std::vector<std::string> lossTargets(const ir::Graph &g, const std::string &features) {
  std::vector<std::string> out;
  auto add = [&](ir::NodeId id) {
    std::optional<ir::NodeId> in = sourceInput(g, id);
    if (!in)
      return;
    const std::string &name = g.node(*in).name;
    if (name != features && std::find(out.begin(), out.end(), name) == out.end())
      out.push_back(name);
  };
  for (ir::NodeId id = 0; id < g.size(); ++id) {
    const ir::Node &n = g.node(id);
    if (n.kind == ir::OpKind::CrossEntropy && n.operands.size() == 2)
      add(n.operands[1]);
    if (n.kind == ir::OpKind::Mse && n.operands.size() == 2) {
      add(n.operands[1]);
      add(n.operands[0]);
    }
    if (n.kind == ir::OpKind::OneHot && n.operands.size() == 1)
      add(n.operands[0]);
  }
  return out;
}

TargetKind targetKindOf(const ir::TensorType &t) {
  if (t.dtype == ir::DType::i32)
    return t.rank() == 1 ? TargetKind::Classes : TargetKind::Sequence;
  return TargetKind::Regression;
}

} // namespace

std::string_view targetKindName(TargetKind k) {
  switch (k) {
  case TargetKind::Classes: return "class labels";
  case TargetKind::Regression: return "regression targets";
  case TargetKind::Sequence: return "sequence labels";
  case TargetKind::None: return "none";
  }
  return "?";
}

ModelSignature inspectModel(const ir::Graph &g, const InspectOptions &options) {
  ModelSignature sig;
  std::vector<ir::NodeId> inputs = g.inputs();
  for (ir::NodeId id : inputs) {
    const ir::Node &n = g.node(id);
    if (isFloatType(n.type.dtype) && n.type.rank() >= 1) {
      sig.features = n.name;
      sig.batch = n.type.shape[0];
      break;
    }
  }
  // A model of token ids (a language model) may have no float input: then
  // the first input with a batch dimension fixes the batch.
  for (ir::NodeId id : inputs) {
    const ir::Node &n = g.node(id);
    if (sig.features.empty() && n.type.rank() >= 1 &&
        std::find(inputs.begin(), inputs.end(), id) != inputs.end()) {
      sig.features = n.name;
      sig.batch = n.type.shape[0];
    }
  }
  if (sig.features.empty())
    throw Error(graphLabel(g) + " has no input with a batch dimension for the features");
  for (ir::NodeId id : inputs) {
    const ir::Node &n = g.node(id);
    if (n.type == ir::i32({}) && n.name != sig.features) {
      if (!sig.counter.empty())
        throw Error(graphLabel(g) + ": cannot feed input %" + n.name + " : " + n.type.str() +
                    " (only one i32[] input, the step counter, is allowed; %" + sig.counter +
                    " is one already)");
      sig.counter = n.name;
      continue;
    }
    if (n.type.rank() == 0)
      throw Error(graphLabel(g) + ": cannot feed input %" + n.name + " : " + n.type.str() +
                  " (data inputs have at least one dimension; a scalar input may only be the "
                  "i32[] step counter)");
    sig.inputs.push_back(n.name);
  }

  // The target: named, or found by how the loss reads it.
  if (options.target) {
    if (!options.target->empty()) {
      std::optional<ir::NodeId> id = g.find(*options.target);
      if (!id || g.node(*id).kind != ir::OpKind::Input ||
          std::find(sig.inputs.begin(), sig.inputs.end(), *options.target) == sig.inputs.end())
        throw Error(graphLabel(g) + " has no data input %" + *options.target +
                    " to take as the target" + ir::didYouMean(*options.target, sig.inputs, "%"));
      sig.labels = *options.target;
    }
  } else {
    // 1. what a cross_entropy or mse compares with; 2. an i32 input whose
    // first dimension is the batch (labels used through one_hot, say).
    std::vector<std::string> candidates = lossTargets(g, sig.features);
    if (candidates.empty())
      for (const std::string &name : sig.inputs) {
        const ir::TensorType &t = g.type(g.lookup(name));
        if (name != sig.features && t.dtype == ir::DType::i32 && t.shape[0] == sig.batch)
          candidates.push_back(name);
      }
    if (candidates.size() > 1) {
      std::string list;
      for (const std::string &c : candidates)
        list += (list.empty() ? "%" : ", %") + c;
      throw Error(graphLabel(g) + ": cannot tell which input is the target: " + list +
                  " (name it: --target NAME, or InspectOptions::target)");
    }
    if (!candidates.empty())
      sig.labels = candidates[0];
  }
  sig.target = sig.labels.empty() ? TargetKind::None
                                  : targetKindOf(g.type(g.lookup(sig.labels)));
  // A metric asked for: the target must be of a type it can be computed on.
  if (options.task && *options.task != sig.target) {
    TargetKind want = *options.task;
    std::optional<ir::TensorType> t;
    if (!sig.labels.empty())
      t = g.type(g.lookup(sig.labels));
    bool fits = want == TargetKind::None ||
                (t && want == TargetKind::Classes && t->dtype == ir::DType::i32 &&
                 t->rank() == 1) ||
                (t && want == TargetKind::Regression && isFloatType(t->dtype)) ||
                (t && want == TargetKind::Sequence && t->dtype == ir::DType::i32);
    if (!fits)
      throw Error(graphLabel(g) + ": the metric of " + std::string(targetKindName(want)) +
                  " needs " +
                  (want == TargetKind::Classes      ? "an i32[N] target"
                   : want == TargetKind::Regression ? "a float target"
                                                    : "an i32 target") +
                  ", but the target is " + (t ? "%" + sig.labels + " : " + t->str() : "none"));
    sig.target = want;
  }

  // The classes a label may name: the logits' last dimension of the loss
  // that reads the labels (or the depth of a one_hot of them), so that data
  // can be checked when it is loaded.
  if (sig.target == TargetKind::Classes || sig.target == TargetKind::Sequence) {
    ir::NodeId labelsId = g.lookup(sig.labels);
    for (ir::NodeId id = 0; id < g.size() && sig.classes == 0; ++id) {
      const ir::Node &n = g.node(id);
      if (n.kind == ir::OpKind::CrossEntropy && n.operands.size() == 2 &&
          sourceInput(g, n.operands[1]) == labelsId && g.type(n.operands[0]).rank() >= 1)
        sig.classes = g.type(n.operands[0]).shape.back();
      if (n.kind == ir::OpKind::OneHot && n.operands.size() == 1 &&
          sourceInput(g, n.operands[0]) == labelsId)
        sig.classes = g.type(id).shape.back();
    }
  }
  // Sequence labels' padding: an input of the labels' shape that is not
  // the features weighs each token (0 for padding).
  if (sig.target == TargetKind::Sequence) {
    const ir::TensorType &lt = g.type(g.lookup(sig.labels));
    for (const std::string &name : sig.inputs) {
      const ir::TensorType &t = g.type(g.lookup(name));
      if (name != sig.labels && t.shape == lt.shape &&
          t.dtype != ir::DType::i32) {
        sig.tokenMask = name;
        break;
      }
    }
  }

  const std::vector<ir::NodeId> &outs = g.outputs();
  if (outs.empty() || g.type(outs[0]).rank() != 0 || !isFloatType(g.type(outs[0]).dtype))
    throw Error(graphLabel(g) + ": the first output must be the loss, a float scalar");
  if (g.node(outs[0]).name.empty())
    throw Error(graphLabel(g) + ": the loss (the first output) needs a name");
  sig.loss = g.node(outs[0]).name;
  sig.lossIsMse = g.node(outs[0]).kind == ir::OpKind::Mse;
  if (sig.target == TargetKind::Classes) {
    int64_t n = g.type(g.lookup(sig.labels)).shape[0];
    for (size_t i = 1; i < outs.size() && sig.prediction.empty(); ++i) {
      const ir::Node &node = g.node(outs[i]);
      bool isClass = node.type == ir::i32({n});
      bool isScores = isFloatType(node.type.dtype) && node.type.rank() == 2 &&
                      node.type.shape[0] == n;
      if ((isClass || isScores) && !node.name.empty()) {
        sig.prediction = node.name;
        sig.predictionIsClass = isClass;
      }
    }
  } else if (sig.target == TargetKind::Regression) {
    const ir::TensorType &lt = g.type(g.lookup(sig.labels));
    for (size_t i = 1; i < outs.size() && sig.prediction.empty(); ++i) {
      const ir::Node &node = g.node(outs[i]);
      if (isFloatType(node.type.dtype) && node.type.shape == lt.shape && !node.name.empty())
        sig.prediction = node.name;
    }
  }
  for (ir::NodeId id : g.params()) {
    const ir::Node &n = g.node(id);
    (n.attrs.getBool("trainable") ? sig.trainable : sig.state).push_back(n.name);
  }
  if (sig.trainable.empty())
    throw Error(graphLabel(g) + " has no trainable param");
  return sig;
}

namespace {

// `g` computing only `outs` (in that order): what they do not depend on is
// gone, inputs, params and updates included.
ir::Graph prunedTo(const ir::Graph &g, const std::vector<ir::NodeId> &outs) {
  // Operands come before their users, so one backward sweep marks all.
  std::vector<bool> live(g.size(), false);
  for (ir::NodeId o : outs)
    live[o] = true;
  for (size_t i = g.size(); i-- > 0;)
    if (live[i])
      for (ir::NodeId op : g.node(static_cast<ir::NodeId>(i)).operands)
        live[op] = true;
  ir::GraphRebuilder rb(g);
  for (ir::NodeId id = 0; id < g.size(); ++id)
    if (live[id])
      rb.copy(id);
  ir::Graph out = std::move(rb.out());
  for (ir::NodeId o : outs)
    out.addOutput(rb.map(o));
  ir::verifyOrThrow(out);
  return out;
}

} // namespace

ir::Graph withOutputs(const ir::Graph &g, const std::vector<std::string> &names) {
  std::vector<ir::NodeId> outs;
  for (std::string name : names) {
    if (!name.empty() && name[0] == '%')
      name.erase(0, 1);
    std::optional<ir::NodeId> id = g.find(name);
    if (!id) {
      std::vector<std::string> candidates;
      for (ir::NodeId n = 0; n < g.size(); ++n)
        candidates.push_back(g.node(n).name);
      throw Error(graphLabel(g) + " has no value %" + name +
                  ir::didYouMean(name, candidates, "%"));
    }
    outs.push_back(*id);
  }
  return prunedTo(g, outs);
}

ir::Graph withoutUnusedValues(const ir::Graph &g) { return prunedTo(g, g.outputs()); }

ir::Graph withBatchFirstInputs(const ir::Graph &model, const InspectOptions &options) {
  ModelSignature sig = inspectModel(model, options);
  if (sig.labels.empty())
    return model;
  const ir::TensorType &target = model.type(model.lookup(sig.labels));
  if (target.rank() < 1 || target.shape[0] == sig.batch)
    return model;
  // The batch is the target's first dimension; an input whose first
  // dimension is not, but whose second is, is a time-first sequence.
  const int64_t n = target.shape[0];
  std::vector<ir::NodeId> timeFirst;
  for (ir::NodeId id : model.inputs()) {
    const ir::TensorType &t = model.type(id);
    if (t.rank() >= 2 && t.shape[0] != n && t.shape[1] == n)
      timeFirst.push_back(id);
  }
  if (timeFirst.empty())
    return model;
  ir::GraphRebuilder rb(model);
  ir::Graph &out = rb.out();
  for (ir::NodeId id = 0; id < model.size(); ++id) {
    if (std::find(timeFirst.begin(), timeFirst.end(), id) == timeFirst.end()) {
      rb.copy(id);
      continue;
    }
    const ir::Node &n = model.node(id);
    ir::TensorType t = n.type;
    std::swap(t.shape[0], t.shape[1]);
    ir::Ints perm;
    for (int64_t d = 0; d < static_cast<int64_t>(t.rank()); ++d)
      perm.push_back(d);
    std::swap(perm[0], perm[1]);
    ir::NodeId in = out.addInput(n.name, t, n.loc);
    std::string name = n.name + ".time_first";
    for (int k = 2; model.find(name); ++k)
      name = n.name + ".time_first_" + std::to_string(k);
    rb.setMapping(id, out.addOp(ir::OpKind::Transpose, {in}, {{"perm", perm}}, name, n.loc));
  }
  ir::Graph g = rb.finish();
  ir::verifyOrThrow(g);
  return g;
}

ir::Graph withDropoutRate(const ir::Graph &model, double rate) {
  if (!(rate >= 0.0 && rate < 1.0))
    throw Error("dropout rate must lie in [0, 1), got " + std::to_string(rate));
  ir::GraphRebuilder rb(model);
  bool found = false;
  for (ir::NodeId id = 0; id < model.size(); ++id) {
    ir::NodeId copied = rb.copy(id);
    if (model.node(id).kind == ir::OpKind::Dropout) {
      rb.out().mutableNode(copied).attrs.set("rate", rate);
      found = true;
    }
  }
  if (!found)
    throw Error(graphLabel(model) + " has no dropout op whose rate could be set");
  return rb.finish();
}

ir::Graph buildStepGraph(const ir::Graph &model, const ModelSignature &sig,
                         const StepGraphOptions &options) {
  ir::Graph g = compiler::expandTrain(model);
  ir::DType lossType = g.type(g.lookup(sig.loss)).dtype;

  // The running statistics of batch_norm: the gradient transform keeps only
  // outputs, so their new values become named outputs and updates again below.
  std::vector<std::pair<std::string, std::string>> updates;
  for (const ir::ParamUpdate &u : g.updates()) {
    std::string param = g.node(u.param).name;
    if (g.node(u.value).name.empty())
      g.setNodeName(u.value, "train.new." + param);
    updates.push_back({param, g.node(u.value).name});
    g.addOutput(u.value);
  }

  // The objective: the loss plus the L2 penalties.
  std::string objective = sig.loss;
  Value total(g, g.lookup(sig.loss));
  for (const std::string &p : sig.trainable) {
    double c = coefficient(options.l2, p);
    if (c == 0.0)
      continue;
    Value w(g, g.lookup(p));
    Value squares = ir::sum(w * w);
    Value penalty = asDType(squares * (c / 2.0), lossType);
    total = total + penalty;
    objective = "train.objective";
  }
  if (objective != sig.loss)
    total.named(objective);

  ir::Graph dg =
      options.memoryLimit
          ? compiler::gradWithMemoryLimit(g, objective, sig.trainable, *options.memoryLimit).graph
          : compiler::grad(g, objective, sig.trainable);

  std::vector<std::string> outputs = {sig.loss};
  if (!sig.prediction.empty())
    outputs.push_back(sig.prediction);
  if (options.update == InGraphUpdate::None) {
    for (const std::string &p : sig.trainable)
      outputs.push_back(gradOutputName(p));
    return withResults(dg, outputs, updates);
  }

  Value lr = ir::input(dg, kLearningRateInput, {lossType, {}});
  std::optional<Value> mu;
  if (options.update == InGraphUpdate::Momentum)
    mu = ir::input(dg, kMomentumInput, {lossType, {}});
  for (const std::string &p : sig.trainable) {
    Value w(dg, dg.lookup(p));
    Value grad(dg, dg.lookup(gradOutputName(p)));
    ir::DType t = w.dtype();
    Value step = asDType(lr, t);
    Value direction = grad;
    if (mu) {
      Value v = ir::param(dg, velocityParamName(p), w.type(), {{"trainable", false}});
      Value moved = asDType(*mu, t) * v;
      direction = (moved + grad).named("train.new." + velocityParamName(p));
      updates.push_back({velocityParamName(p), "train.new." + velocityParamName(p)});
    }
    Value u = w - step * direction;
    double l1 = coefficient(options.l1, p);
    if (l1 != 0.0) {
      // Soft thresholding: the proximal map of step * l1 * |w|.
      Value threshold = step * l1;
      Value shrunk = ir::relu(ir::abs(u) - threshold);
      u = ir::sign(u) * shrunk;
    }
    u.named("train.new." + p);
    updates.push_back({p, "train.new." + p});
  }
  return withResults(dg, outputs, updates);
}

ir::Graph buildEvalGraph(const ir::Graph &model, const ModelSignature &sig) {
  ir::Graph g = compiler::expandEval(model);
  std::vector<std::string> outputs = {sig.loss};
  if (!sig.prediction.empty())
    outputs.push_back(sig.prediction);
  return withResults(g, outputs, {});
}

} // namespace chainjit::runtime::train
