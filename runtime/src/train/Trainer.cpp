// The training loop: draws batches, runs one step per batch on the path the
// optimizer allows (an update compiled into the step graph, a gradient fed
// to Optimizer::applyGradient, or Optimizer::step on a GraphObjective),
// evaluates after each epoch and saves a checkpoint. Checkpoint contents and
// resuming are in TrainerCheckpoint.cpp.
#include "chainjit/runtime/train/Trainer.h"

#include "FlushDenormals.h"
#include "ReplicaReduction.h"
#include "TrainerImpl.h"

#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/distributed/Shard.h"
#include "chainjit/runtime/train/TrainData.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string_view>

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
  if (memoryLimit && !(*memoryLimit >= 0.0 && *memoryLimit < 1e18))
    throw Error("memory limit must be a non-negative number of bytes");
  if (memoryLimit && choosePath(optimizer) == StepPath::Objective)
    throw Error("a memory limit applies to the training step graph: not to line searches, "
                "the inverse-Lipschitz step or Newton");
  if (profileSteps && backend != Backend::Jit)
    throw Error("profiling the steps times the compiled kernels: it needs the JIT backend");
  if (dropout && !(*dropout >= 0.0 && *dropout < 1.0))
    throw Error("dropout rate must lie in [0, 1), got " + std::to_string(*dropout));
  if ((resume || overwrite) && checkpointPath.empty())
    throw Error(std::string(resume ? "resuming" : "overwriting") + " needs a checkpoint path");
  if (resume && overwrite)
    throw Error("resume and overwrite contradict each other: resume continues the checkpoint, "
                "overwrite starts over");
  if (failRank >= 0 && communicator && failRank >= communicator->size())
    throw Error("the injected failure names rank " + std::to_string(failRank) + ", but there are " +
                std::to_string(communicator->size()) + " ranks");
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
  comm = config.communicator ? config.communicator : distributed::singleProcess();
  distributed = comm->size() > 1;
  model = config.dropout ? withDropoutRate(m, *config.dropout) : m;
  l1 = config.regularization.l1For(sig.trainable);
  l2 = config.regularization.l2For(sig.trainable);
  for (size_t i = 0; i < sig.trainable.size(); ++i) {
    if (l1[i] != 0)
      stepOptions.l1[sig.trainable[i]] = l1[i];
    if (l2[i] != 0)
      stepOptions.l2[sig.trainable[i]] = l2[i];
  }
  // Across ranks the gradient must be reduced before the update, so the
  // step graph returns it and step() applies the graph's own rule.
  stepOptions.memoryLimit = config.memoryLimit;
  stepOptions.update = path != StepPath::InGraph || distributed ? InGraphUpdate::None
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
  for (const ir::ParamUpdate &u : step.graph().updates())
    stepUpdated.push_back(step.graph().node(u.param).name);
  // The velocities an in-graph momentum keeps as params (zeros at first),
  // kept under the same names so that checkpoints do not depend on the
  // number of ranks.
  if (distributed && path == StepPath::InGraph &&
      config.optimizer.kind == OptimizerKind::Momentum)
    for (const std::string &p : sig.trainable)
      params[velocityParamName(p)] = ir::Tensor(params.at(p).type());
  if (!config.initialParams.empty())
    takeInitialParams(config.initialParams);
  const char *bound = std::getenv("CHAINJIT_TRAINER_BOUND_STEPS");
  boundStepsAllowed = !(bound && std::string_view(bound) == "0");
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
                                            config.backend, stepJitOptions()))
             .first;
  return *it->second;
}

compiler::JitOptions Trainer::Impl::stepJitOptions() const {
  compiler::JitOptions options;
  options.profile = config.profileSteps;
  return options;
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
GraphObjective &Trainer::Impl::objectiveFor(Bindings data, int64_t batch) {
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

// `rows` is the global batch; a data-parallel rank computes its shard of
// it, and what it reports (loss, samples, hits) is the whole batch's.
StepOutcome Trainer::Impl::step(const Dataset &train, const std::vector<int64_t> &globalRows,
                                int64_t epoch, const std::vector<int64_t> *next) {
  if (comm->rank() == config.failRank && globalStep == config.failStep)
    throw Error("injected failure at step " + std::to_string(globalStep) + " on rank " +
                std::to_string(comm->rank()) + " (TrainConfig::failRank)");
  if (std::optional<StepOutcome> bound = boundStep(train, globalRows, epoch, next))
    return *bound; // the common case, on buffers bound once (TrainerBoundStep.cpp)
  int64_t total = static_cast<int64_t>(globalRows.size());
  std::vector<int64_t> rows =
      distributed ? distributed::shardRows(globalRows, comm->rank(), comm->size()) : globalRows;
  double weight = distributed::shardWeight(
      distributed::shardOf(total, comm->rank(), comm->size()), total);
  int64_t b = graphBatch(train, rows);
  std::optional<Bindings> data;
  if (!rows.empty())
    data = dataBindings(train, rows, globalStep);
  StepOutcome out;
  out.correct = -1;
  // What the loss averages over (rows, tokens, masked nodes); reduced over
  // the ranks below.
  BatchScore mine;
  if (data)
    mine = score(nullptr, *data);
  out.samples = distributed ? total : mine.weight;
  auto stopAsked = [&] { return config.stopRequested && config.stopRequested->load(); };
  ir::DType lossType = model.type(model.lookup(sig.loss)).dtype;

  if (path == StepPath::Objective) {
    GraphObjective *inner = nullptr;
    if (data) {
      Bindings bound = *data;
      for (const std::string &s : sig.state)
        bound[s] = params.at(s);
      inner = &objectiveFor(std::move(bound), b);
    }
    // Line searches and Newton see the global batch's loss, gradient and
    // Hessian: every evaluation is reduced over the ranks.
    std::optional<ShardedObjective> sharded;
    Objective *batchLoss = inner;
    if (distributed)
      batchLoss = &sharded.emplace(inner, weight, *comm);
    RegularizedObjective f(*batchLoss, l2);
    ParamSet x = trainableSet();
    double penalty = l2Penalty(x, l2);
    StepReport r = optimizer->step(f, x, {epoch});
    storeTrainable(std::move(x));
    out.loss = r.loss - penalty; // the data loss, as the other paths report it
    out.stop = anyRank(stopAsked());
    ++globalStep;
    return out;
  }

  double lr = scheduledStep(config.optimizer.stepSize, config.optimizer.stepSize.base,
                            globalStep + 1, epoch);
  ParamSet grads;
  Bindings updated;
  if (data) {
    const Executable &exec = stepExecutable(b);
    Bindings bindings = bindingsFor(exec.graph(), params);
    bindings.insert(data->begin(), data->end());
    if (path == StepPath::InGraph && !distributed) {
      bindings[kLearningRateInput] = ir::Tensor::scalar(lossType, lr);
      if (stepOptions.update == InGraphUpdate::Momentum)
        bindings[kMomentumInput] = ir::Tensor::scalar(lossType, config.optimizer.momentum);
    }
    EvalResult r = exec.run(bindings);
    updated = std::move(r.updatedParams);
    out.loss = r.outputs[0].at(0);
    size_t next = 1;
    if (!sig.prediction.empty()) {
      BatchScore sc = score(&r.outputs[next++], *data);
      out.correct = sc.hits;
      out.sqErr = sc.sqErr;
    }
    grads.assign(std::make_move_iterator(r.outputs.begin() + next),
                 std::make_move_iterator(r.outputs.end()));
  } else { // an empty shard (a batch smaller than the ranks) adds nothing
    out.loss = 0;
    out.correct = sig.prediction.empty() ? -1 : 0;
    mine.weight = 0;
    grads = zerosLike(trainableSet());
  }

  bool graphUpdate = path == StepPath::InGraph && distributed;
  bool momentum = graphUpdate && config.optimizer.kind == OptimizerKind::Momentum;
  auto applyUpdate = [&](size_t i) { // the step graph's rule, outside it (ranks > 1)
    const std::string &p = sig.trainable[i];
    ir::Tensor *velocity = momentum ? &params.at(velocityParamName(p)) : nullptr;
    applyGraphUpdate(params.at(p), grads[i], velocity, lr, config.optimizer.momentum, l1[i]);
  };
  if (distributed) {
    // The gradients, then the batch statistics the step updated, weighted
    // and summed in buckets (BucketedReduction.h); the loss, hits and stop
    // flag ride along as f64. Each bucket's params are updated as soon as it
    // has arrived, while the later buckets are still in flight.
    for (const std::string &name : stepUpdated)
      if (!updated.count(name))
        updated[name] = params.at(name); // weight 0 or unchanged
    std::vector<ir::Tensor *> reduce;
    for (ir::Tensor &g : grads)
      reduce.push_back(&g);
    for (const std::string &name : stepUpdated)
      reduce.push_back(&updated.at(name));
    double w = static_cast<double>(mine.weight);
    double scalars[5] = {out.loss * w, static_cast<double>(std::max<int64_t>(out.correct, 0)),
                         stopAsked() ? 1.0 : 0.0, w, out.sqErr};
    distributed::BucketedReduction reduction(*comm, reduce, weight, scalars, config.reduction);
    while (!reduction.done()) {
      auto [first, last] = reduction.finishNext();
      for (size_t i = first; graphUpdate && i < std::min(last, grads.size()); ++i) {
        applyUpdate(i);
        reduction.poll();
      }
    }
    out.samples = static_cast<int64_t>(scalars[3]);
    out.loss = scalars[0] / std::max(scalars[3], 1.0);
    if (out.correct >= 0)
      out.correct = static_cast<int64_t>(scalars[1]);
    out.stop = scalars[2] > 0;
    out.sqErr = scalars[4];
  }
  for (auto &[name, value] : updated)
    params[name] = std::move(value);

  if (path == StepPath::FusedGradient) {
    ParamSet x = trainableSet();
    optimizer->applyGradient(x, grads, {epoch});
    storeTrainable(std::move(x));
  }
  ++globalStep;
  return out;
}

bool Trainer::Impl::anyRank(bool flag) {
  double v = flag ? 1.0 : 0.0;
  if (distributed)
    comm->allreduceSum(std::span<double>(&v, 1));
  return v > 0;
}

// ---- evaluation ----

Metrics Trainer::Impl::evaluate(const Dataset &data) {
  checkData(data, "evaluation");
  Bindings current = currentParams();
  int64_t n = data.size(), hits = 0, weight = 0;
  double lossSum = 0, sqErr = 0;
  // Each rank evaluates its contiguous part of the rows; the sums are added.
  distributed::Shard mine = distributed::shardOf(n, comm->rank(), comm->size());
  for (int64_t begin = mine.begin; begin < mine.end; begin += config.evalBatch) {
    int64_t end = std::min(mine.end, begin + config.evalBatch);
    std::vector<int64_t> rows;
    for (int64_t i = begin; i < end; ++i)
      rows.push_back(i);
    const Executable &exec = evalExecutable(graphBatch(data, rows));
    Bindings bindings = bindingsFor(exec.graph(), current);
    Bindings batchData = dataBindings(data, rows, 0);
    bindings.insert(batchData.begin(), batchData.end());
    EvalResult r = exec.run(bindings);
    BatchScore sc = score(sig.prediction.empty() ? nullptr : &r.outputs[1], batchData);
    lossSum += r.outputs[0].at(0) * static_cast<double>(sc.weight);
    weight += sc.weight;
    hits += sc.hits;
    sqErr += sc.sqErr;
  }
  if (distributed) {
    double sums[4] = {lossSum, static_cast<double>(hits), static_cast<double>(weight), sqErr};
    comm->allreduceSum(std::span<double>(sums));
    lossSum = sums[0];
    hits = static_cast<int64_t>(sums[1]);
    weight = static_cast<int64_t>(sums[2]);
    sqErr = sums[3];
  }
  return finish(lossSum, weight, hits, sqErr);
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

Trainer::Trainer(const ir::Graph &model, TrainConfig config, const InspectOptions &inspect)
    : sig_(inspectModel(model, inspect)), config_(std::move(config)) {
  config_.validate();
  impl_ = std::make_unique<Impl>(model, sig_, config_);
}

Trainer::~Trainer() = default;

Metrics Trainer::evaluate(const Dataset &data) { return impl_->evaluate(data); }

std::vector<std::pair<int64_t, compiler::GraphProfile>> Trainer::stepProfiles() const {
  std::vector<std::pair<int64_t, compiler::GraphProfile>> profiles;
  if (config_.profileSteps)
    for (const auto &[batch, exec] : impl_->stepExecs)
      if (const compiler::CompiledGraph *compiled = exec->compiled())
        profiles.emplace_back(batch, compiled->profile());
  return profiles;
}

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
  FlushDenormals flush(config_.flushDenormals);
  // Rank 0 alone reports (progress, checkpoints written).
  if (!m.isRoot())
    observer = nullptr;
  m.checkData(train, "training");
  if (validation)
    m.checkData(*validation, "validation");
  // A whole graph is one batch: every step sees all of it.
  BatchSampler sampler(train.wholeGraph ? Sampling::Full : config_.sampling, train.size(),
                       train.wholeGraph ? 1 : config_.batch, config_.seed);
  if (!config_.checkpointPath.empty()) {
    if (config_.resume) {
      m.resumeFrom(config_.checkpointPath, train.size(), sampler.stepsPerEpoch());
      if (observer)
        observer->onCheckpoint(config_.checkpointPath, m.epochsDone, true);
    } else if (!config_.overwrite && m.isRoot() &&
               std::filesystem::exists(config_.checkpointPath)) {
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
  // Reused: the loop allocates nothing per step. `next` holds the rows of
  // the step after this one, which the step may gather while it runs; the
  // gathering reads `train`, so it is waited for before fit() returns.
  std::vector<int64_t> rows, next;
  bool haveNext = false;
  struct DropNextBatches {
    Impl &m;
    ~DropNextBatches() { m.dropNextBatches(); }
  } dropNextBatches{m};
  for (int64_t epoch = m.epochsDone; epoch < config_.epochs; ++epoch) {
    EpochProgress &e = m.unfinished; // starts where a mid-epoch checkpoint left off
    auto epochStart = std::chrono::steady_clock::now();
    double secondsBefore = e.seconds;
    for (int64_t s = e.stepsDone; s < steps; ++s) {
      if (haveNext)
        std::swap(rows, next);
      else
        sampler.indices(epoch, s, rows);
      haveNext = s + 1 < steps || epoch + 1 < config_.epochs;
      if (haveNext)
        sampler.indices(s + 1 < steps ? epoch : epoch + 1, s + 1 < steps ? s + 1 : 0, next);
      StepOutcome o = m.step(train, rows, epoch, haveNext ? &next : nullptr);
      e.lossSum += o.loss * static_cast<double>(o.samples);
      e.samples += o.samples;
      e.sqErr += o.sqErr;
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
        Metrics so = m.finish(e.lossSum, e.samples, e.haveAccuracy ? e.hits : -1, e.sqErr);
        p.loss = so.loss;
        p.accuracy = so.accuracy;
        p.mse = so.mse;
        p.perplexity = so.perplexity;
        double elapsed = secondsSince(runStart);
        p.stepsPerSecond = static_cast<double>(stepsThisRun) / std::max(elapsed, 1e-9);
        p.etaSeconds = static_cast<double>(totalSteps - stepsThisRun) / p.stepsPerSecond;
        observer->onStep(p);
      }
      // A stop after the epoch's last step is an ordinary epoch end below.
      // Ranks stop together: a signal may reach one of them only, so they
      // use the flag as the step's reduction agreed on it (a flag set after
      // that, e.g. by the observer, counts at the next step).
      bool stop = m.distributed ? o.stop
                                : config_.stopRequested && config_.stopRequested->load();
      if (s + 1 < steps && stop) {
        e.seconds = secondsBefore + secondsSince(epochStart);
        TrainingStop stop{epoch + 1, s + 1, steps, !config_.checkpointPath.empty()};
        if (stop.checkpointed) {
          m.writeCheckpoint(train.size());
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
    em.stepSeconds = e.stepSeconds;
    em.train = m.finish(e.lossSum, e.samples, e.haveAccuracy ? e.hits : -1, e.sqErr);
    if (validation)
      em.validation = m.evaluate(*validation);
    if (config_.checkReplicas)
      checkReplicas(*m.comm, m.params, epoch + 1);
    m.history.epochs.push_back(em);
    m.epochsDone = epoch + 1;
    m.unfinished = {};
    if (!config_.checkpointPath.empty()) {
      m.writeCheckpoint(train.size());
      if (observer)
        observer->onCheckpoint(config_.checkpointPath, m.epochsDone, false);
    }
    if (observer)
      observer->onEpoch(em, config_.epochs);
    if (config_.stopRequested && m.anyRank(config_.stopRequested->load()) &&
        epoch + 1 < config_.epochs) {
      m.history.stopped = TrainingStop{epoch + 1, steps, steps, !config_.checkpointPath.empty()};
      return m.history;
    }
  }
  return m.history;
}

} // namespace chainjit::runtime::train
