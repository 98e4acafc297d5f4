// The training loop: draws batches, runs one step per batch on the path the
// optimizer allows (an update compiled into the step graph, a gradient fed
// to Optimizer::applyGradient, or Optimizer::step on a GraphObjective),
// evaluates after each epoch and saves a checkpoint. Checkpoint contents and
// resuming are in TrainerCheckpoint.cpp.
#include "chainjit/runtime/train/Trainer.h"

#include "TrainerImpl.h"

#include "chainjit/runtime/train/TrainData.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

namespace chainjit::runtime::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

void TrainConfig::validate() const {
  optimizer.validate();
  if (resume && !initialParams.empty())
    throw Error("resuming and initial param values exclude each other: a resumed run "
                "continues from its checkpoint's params");
  if (batch < 1)
    throw Error("batch size must be at least 1, got " + std::to_string(batch));
  if (epochs < 1)
    throw Error("epochs must be at least 1, got " + std::to_string(epochs));
  if (evalBatch < 1)
    throw Error("evaluation batch size must be at least 1, got " + std::to_string(evalBatch));
  if (dropout && !(*dropout >= 0.0 && *dropout < 1.0))
    throw Error("dropout rate must lie in [0, 1), got " + std::to_string(*dropout));
  if ((resume || overwrite) && checkpointPath.empty())
    throw Error(std::string(resume ? "resuming" : "overwriting") + " needs a checkpoint path");
  if (resume && overwrite)
    throw Error("resume and overwrite contradict each other: resume continues the checkpoint, "
                "overwrite starts over");
}

// ---- construction ----

StepPath choosePath(const OptimizerConfig &c) {
  bool scheduled = c.stepSize.lineSearch == LineSearch::None && !c.stepSize.inverseLipschitz;
  if (!scheduled || c.kind == OptimizerKind::Newton)
    return StepPath::Objective;
  if (c.kind == OptimizerKind::GD || c.kind == OptimizerKind::Momentum)
    return StepPath::InGraph;
  return StepPath::FusedGradient;
}

Trainer::Impl::Impl(const ir::Graph &m, const ModelSignature &s, const TrainConfig &c)
    : sig(s), config(c), path(choosePath(c.optimizer)) {
  model = config.dropout ? withDropoutRate(m, *config.dropout) : m;
  l1 = config.regularization.l1For(sig.trainable);
  l2 = config.regularization.l2For(sig.trainable);
  for (size_t i = 0; i < sig.trainable.size(); ++i) {
    if (l1[i] != 0)
      stepOptions.l1[sig.trainable[i]] = l1[i];
    if (l2[i] != 0)
      stepOptions.l2[sig.trainable[i]] = l2[i];
  }
  stepOptions.update = path != StepPath::InGraph ? InGraphUpdate::None
                       : config.optimizer.kind == OptimizerKind::Momentum
                           ? InGraphUpdate::Momentum
                           : InGraphUpdate::Gradient;
  if (path != StepPath::InGraph) {
    OptimizerConfig oc = config.optimizer;
    oc.l1 = l1;
    optimizer.emplace(oc);
  }
  // Every param of the step graph (the model's, and the velocities of an
  // in-graph momentum) starts from its initializer.
  const Executable &step = stepExecutable(sig.batch);
  for (ir::NodeId id : step.graph().params())
    params[step.graph().node(id).name] = initialParamValue(step.graph(), id);
  for (const std::string &name : sig.state)
    if (!params.count(name)) // a state param the step graph dropped as dead
      params[name] = initialParamValue(model, model.lookup(name));
  if (!config.initialParams.empty())
    takeInitialParams(config.initialParams);
}

void Trainer::Impl::takeInitialParams(const TensorMap &given) {
  std::vector<Diagnostic> problems;
  std::vector<std::string> missing;
  auto check = [&](const std::string &name) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      return;
    }
    ir::TensorType want = params.at(name).type();
    if (it->second.type() != want)
      problems.push_back({{}, "initial value of param %" + name + " is " +
                                  it->second.type().str() + ", but the model declares " +
                                  want.str()});
  };
  for (const std::string &p : sig.trainable)
    check(p);
  for (const std::string &p : sig.state)
    check(p);
  if (!missing.empty()) {
    std::string list;
    for (const std::string &m : missing)
      list += (list.empty() ? "%" : ", %") + m;
    problems.insert(problems.begin(),
                    {{}, "the initial values lack " + std::to_string(missing.size()) +
                             " param(s) of the model: " + list});
  }
  for (const auto &[name, value] : given)
    if (std::find(sig.trainable.begin(), sig.trainable.end(), name) == sig.trainable.end() &&
        std::find(sig.state.begin(), sig.state.end(), name) == sig.state.end())
      problems.push_back({{}, "the initial values hold '" + name +
                                  "', which is no param of the model"});
  if (!problems.empty())
    throw Error(problems);
  for (const std::string &p : sig.trainable)
    params[p] = given.at(p);
  for (const std::string &p : sig.state)
    params[p] = given.at(p);
}

const ir::Graph &Trainer::Impl::modelAt(int64_t batch) {
  auto it = models.find(batch);
  if (it == models.end())
    it = models.emplace(batch, withBatchSize(model, sig, batch)).first;
  return it->second;
}

const Executable &Trainer::Impl::stepExecutable(int64_t batch) {
  auto it = stepExecs.find(batch);
  if (it == stepExecs.end())
    it = stepExecs
             .emplace(batch, makeExecutable(buildStepGraph(modelAt(batch), sig, stepOptions),
                                            config.backend))
             .first;
  return *it->second;
}

const Executable &Trainer::Impl::evalExecutable(int64_t batch) {
  auto it = evalExecs.find(batch);
  if (it == evalExecs.end())
    it = evalExecs
             .emplace(batch, makeExecutable(buildEvalGraph(modelAt(batch), sig), config.backend))
             .first;
  return *it->second;
}

// The first batch of a size builds the objective (its graphs are compiled
// when first needed); later batches of that size only rebind the data.
GraphObjective &Trainer::Impl::objectiveFor(Bindings data) {
  int64_t batch = data.at(sig.labels).numel();
  auto it = objectives.find(batch);
  if (it != objectives.end()) {
    it->second->setData(std::move(data));
    return *it->second;
  }
  GraphObjectiveOptions options;
  options.backend = config.backend;
  options.mode = compiler::Mode::Train;
  auto obj = std::make_unique<GraphObjective>(modelAt(batch), sig.trainable, std::move(data),
                                              options);
  return *objectives.emplace(batch, std::move(obj)).first->second;
}

// ---- data ----

void Trainer::Impl::checkData(const Dataset &data, const char *what) const {
  const ir::TensorType &in = model.type(model.lookup(sig.features));
  int64_t perSample = in.numel() / std::max<int64_t>(in.shape[0], 1);
  if (data.numFeatures() != perSample)
    throw Error(std::string(what) + " data has " + std::to_string(data.numFeatures()) +
                " features per sample, but model input %" + sig.features + " : " + in.str() +
                " takes " + std::to_string(perSample));
  if (data.size() < 1)
    throw Error(std::string(what) + " data is empty");
  checkSamples(data, sig.classes, std::string(what) + " data");
}

Bindings Trainer::Impl::dataBindings(const Dataset &data, const std::vector<int64_t> &rows,
                                     int64_t counter) {
  int64_t b = static_cast<int64_t>(rows.size());
  const ir::Graph &g = modelAt(b);
  ir::TensorType want = g.type(g.lookup(sig.features));
  Dataset part = batch(data, rows);
  Bindings out;
  ir::Tensor features = part.features.dtype() == want.dtype
                            ? part.features.reshaped(want.shape)
                            : ir::Tensor(want, part.features.toDoubles());
  out[sig.features] = std::move(features);
  out[sig.labels] = std::move(part.labels);
  if (!sig.counter.empty())
    out[sig.counter] = ir::Tensor::scalar(ir::DType::i32, static_cast<double>(counter));
  return out;
}

// Correct predictions among `labels` from a prediction output (classes or
// scores, whose row-wise argmax is the class).
int64_t Trainer::Impl::correct(const ir::Tensor &prediction, const ir::Tensor &labels) const {
  int64_t n = labels.numel(), hits = 0;
  if (sig.predictionIsClass) {
    for (int64_t i = 0; i < n; ++i)
      hits += prediction.at(i) == labels.at(i);
    return hits;
  }
  int64_t classes = prediction.shape()[1];
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (prediction.at(i * classes + c) > prediction.at(i * classes + best))
        best = c;
    hits += best == static_cast<int64_t>(labels.at(i));
  }
  return hits;
}

ParamSet Trainer::Impl::trainableSet() const {
  ParamSet x;
  for (const std::string &p : sig.trainable)
    x.push_back(params.at(p));
  return x;
}

void Trainer::Impl::storeTrainable(ParamSet x) {
  for (size_t i = 0; i < sig.trainable.size(); ++i)
    params[sig.trainable[i]] = std::move(x[i]);
}

Bindings Trainer::Impl::bindingsFor(const ir::Graph &g, const Bindings &source) const {
  Bindings b;
  for (ir::NodeId id : g.params()) {
    const std::string &name = g.node(id).name;
    auto it = source.find(name);
    if (it != source.end())
      b[name] = it->second;
  }
  return b;
}

// ---- one step ----

StepOutcome Trainer::Impl::step(const Dataset &train, const std::vector<int64_t> &rows,
                                int64_t epoch) {
  int64_t b = static_cast<int64_t>(rows.size());
  Bindings data = dataBindings(train, rows, globalStep);
  StepOutcome out;
  out.samples = b;
  out.correct = -1;
  ir::DType lossType = model.type(model.lookup(sig.loss)).dtype;

  if (path == StepPath::Objective) {
    Bindings bound = data;
    for (const std::string &s : sig.state)
      bound[s] = params.at(s);
    GraphObjective &inner = objectiveFor(std::move(bound));
    RegularizedObjective f(inner, l2);
    ParamSet x = trainableSet();
    double penalty = l2Penalty(x, l2);
    StepReport r = optimizer->step(f, x, {epoch});
    storeTrainable(std::move(x));
    out.loss = r.loss - penalty; // the data loss, as the other paths report it
    ++globalStep;
    return out;
  }

  const Executable &exec = stepExecutable(b);
  Bindings bindings = bindingsFor(exec.graph(), params);
  bindings.insert(data.begin(), data.end());
  if (path == StepPath::InGraph) {
    double s = scheduledStep(config.optimizer.stepSize, config.optimizer.stepSize.base,
                             globalStep + 1, epoch);
    bindings[kLearningRateInput] = ir::Tensor::scalar(lossType, s);
    if (stepOptions.update == InGraphUpdate::Momentum)
      bindings[kMomentumInput] = ir::Tensor::scalar(lossType, config.optimizer.momentum);
  }
  EvalResult r = exec.run(bindings);
  for (auto &[name, value] : r.updatedParams)
    params[name] = std::move(value);
  out.loss = r.outputs[0].at(0);
  size_t next = 1;
  if (!sig.prediction.empty())
    out.correct = correct(r.outputs[next++], data.at(sig.labels));
  if (path == StepPath::FusedGradient) {
    ParamSet grads(std::make_move_iterator(r.outputs.begin() + next),
                   std::make_move_iterator(r.outputs.end()));
    ParamSet x = trainableSet();
    optimizer->applyGradient(x, grads, {epoch});
    storeTrainable(std::move(x));
  }
  ++globalStep;
  return out;
}

// ---- evaluation ----

Metrics Trainer::Impl::evaluate(const Dataset &data) {
  checkData(data, "evaluation");
  Bindings current = currentParams();
  int64_t n = data.size(), hits = 0;
  double lossSum = 0;
  for (int64_t begin = 0; begin < n; begin += config.evalBatch) {
    int64_t end = std::min(n, begin + config.evalBatch);
    std::vector<int64_t> rows;
    for (int64_t i = begin; i < end; ++i)
      rows.push_back(i);
    const Executable &exec = evalExecutable(end - begin);
    Bindings bindings = bindingsFor(exec.graph(), current);
    Bindings batchData = dataBindings(data, rows, 0);
    bindings.insert(batchData.begin(), batchData.end());
    EvalResult r = exec.run(bindings);
    lossSum += r.outputs[0].at(0) * static_cast<double>(end - begin);
    if (!sig.prediction.empty())
      hits += correct(r.outputs[1], batchData.at(sig.labels));
  }
  Metrics m;
  m.loss = lossSum / static_cast<double>(n);
  m.accuracy = sig.prediction.empty() ? kNaN : static_cast<double>(hits) / static_cast<double>(n);
  return m;
}

Bindings Trainer::Impl::currentParams() const {
  Bindings b = params;
  if (optimizer && optimizer->config().kind == OptimizerKind::Nesterov &&
      optimizer->stepCount() > 0) {
    ParamSet x = optimizer->currentIterate(trainableSet());
    for (size_t i = 0; i < sig.trainable.size(); ++i)
      b[sig.trainable[i]] = std::move(x[i]);
  }
  return b;
}

// ---- the loop ----

Trainer::Trainer(const ir::Graph &model, TrainConfig config)
    : sig_(inspectModel(model)), config_(std::move(config)) {
  config_.validate();
  impl_ = std::make_unique<Impl>(model, sig_, config_);
}

Trainer::~Trainer() = default;

Metrics Trainer::evaluate(const Dataset &data) { return impl_->evaluate(data); }

Bindings Trainer::modelParams() const {
  Bindings all = impl_->currentParams(), model;
  for (const std::string &p : sig_.trainable)
    model[p] = all.at(p);
  for (const std::string &p : sig_.state)
    model[p] = all.at(p);
  return model;
}

History Trainer::fit(const Dataset &train, const Dataset *validation, TrainObserver *observer) {
  Impl &m = *impl_;
  m.checkData(train, "training");
  if (validation)
    m.checkData(*validation, "validation");
  BatchSampler sampler(config_.sampling, train.size(), config_.batch, config_.seed);
  if (!config_.checkpointPath.empty()) {
    if (config_.resume) {
      m.resumeFrom(config_.checkpointPath, train.size(), sampler.stepsPerEpoch());
      if (observer)
        observer->onCheckpoint(config_.checkpointPath, m.epochsDone, true);
    } else if (!config_.overwrite && std::filesystem::exists(config_.checkpointPath)) {
      throw Error("checkpoint exists; resume from it or allow overwriting it (the trainer "
                  "never replaces one unasked)",
                  SourceLoc{config_.checkpointPath});
    }
  }

  int64_t steps = sampler.stepsPerEpoch();
  int64_t totalSteps = steps * (config_.epochs - m.epochsDone) - m.unfinished.stepsDone;
  int64_t stepsThisRun = 0;
  auto runStart = std::chrono::steady_clock::now();
  m.history.stopped.reset();
  for (int64_t epoch = m.epochsDone; epoch < config_.epochs; ++epoch) {
    EpochProgress &e = m.unfinished; // starts where a mid-epoch checkpoint left off
    auto epochStart = std::chrono::steady_clock::now();
    double secondsBefore = e.seconds;
    for (int64_t s = e.stepsDone; s < steps; ++s) {
      StepOutcome o = m.step(train, sampler.indices(epoch, s), epoch);
      e.lossSum += o.loss * static_cast<double>(o.samples);
      e.samples += o.samples;
      if (o.correct < 0)
        e.haveAccuracy = false;
      else
        e.hits += o.correct;
      e.stepsDone = s + 1;
      ++stepsThisRun;
      if (observer) {
        StepProgress p;
        p.epoch = epoch + 1;
        p.epochs = config_.epochs;
        p.step = s + 1;
        p.stepsPerEpoch = steps;
        p.loss = e.lossSum / static_cast<double>(e.samples);
        p.accuracy = e.haveAccuracy ? static_cast<double>(e.hits) / static_cast<double>(e.samples)
                                    : kNaN;
        double elapsed = secondsSince(runStart);
        p.stepsPerSecond = static_cast<double>(stepsThisRun) / std::max(elapsed, 1e-9);
        p.etaSeconds = static_cast<double>(totalSteps - stepsThisRun) / p.stepsPerSecond;
        observer->onStep(p);
      }
      // A stop after the epoch's last step is an ordinary epoch end below.
      if (s + 1 < steps && config_.stopRequested && config_.stopRequested->load()) {
        e.seconds = secondsBefore + secondsSince(epochStart);
        TrainingStop stop{epoch + 1, s + 1, steps, !config_.checkpointPath.empty()};
        if (stop.checkpointed) {
          m.saveTo(config_.checkpointPath, train.size());
          if (observer)
            observer->onCheckpoint(config_.checkpointPath, m.epochsDone, false);
        }
        m.history.stopped = stop;
        return m.history;
      }
    }
    if (!std::isfinite(e.lossSum))
      throw TrainingDiverged("training diverged in epoch " + std::to_string(epoch + 1) +
                  ": the loss is " + std::to_string(e.lossSum / static_cast<double>(e.samples)) +
                  " (try a smaller learning rate)");
    EpochMetrics em;
    em.epoch = epoch + 1;
    em.seconds = secondsBefore + secondsSince(epochStart);
    em.train.loss = e.lossSum / static_cast<double>(e.samples);
    em.train.accuracy = e.haveAccuracy && !sig_.prediction.empty()
                            ? static_cast<double>(e.hits) / static_cast<double>(e.samples)
                            : kNaN;
    if (validation)
      em.validation = m.evaluate(*validation);
    m.history.epochs.push_back(em);
    m.epochsDone = epoch + 1;
    m.unfinished = {};
    if (!config_.checkpointPath.empty()) {
      m.saveTo(config_.checkpointPath, train.size());
      if (observer)
        observer->onCheckpoint(config_.checkpointPath, m.epochsDone, false);
    }
    if (observer)
      observer->onEpoch(em, config_.epochs);
    if (config_.stopRequested && config_.stopRequested->load() && epoch + 1 < config_.epochs) {
      m.history.stopped = TrainingStop{epoch + 1, steps, steps, !config_.checkpointPath.empty()};
      return m.history;
    }
  }
  return m.history;
}

} // namespace chainjit::runtime::train
