// What a training checkpoint holds and how a run resumes from it. The file
// format is Checkpoint.h's; the tensors are
//   param.<name>            every param of the step graph (model params,
//                           running statistics, in-graph momentum velocities)
//   optimizer.*             Optimizer::exportState (optimizers outside the graph)
//   train.epoch, train.step f64[]: epochs and steps done
//   train.unfinished        f64[7]: the epoch after those, when the run was
//                           stopped in it: steps done, loss sum, samples,
//                           hits, whether accuracy is known, seconds, sum of
//                           squared errors (f64[6] in older checkpoints;
//                           absent in still older ones: nothing unfinished)
//   train.settings          f64[6]: optimizer kind, sampling, batch, seed
//                           (high and low 32 bits), training-set size
//   data.scale, data.mean,  the data preparation of the run (Weights.h), when
//   data.std                it had one
//   history.<metric>        f64[epochs]: train_loss, train_accuracy,
//                           val_loss, val_accuracy (NaN when absent), seconds;
//                           train_mse, val_mse for regression targets
// Everything a resumed run needs to draw the same batches and make the same
// updates is here, so it continues bit for bit as the uninterrupted run.
#include "CheckpointCount.h"
#include "TrainerImpl.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Checkpoint.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>

namespace chainjit::runtime::train {

namespace {

constexpr const char *kParamPrefix = "param.";
constexpr const char *kOptimizerPrefix = "optimizer";
constexpr const char *kUnfinished = "train.unfinished";
constexpr int64_t kUnfinishedFields = 7;
constexpr int64_t kOldUnfinishedFields = 6;
constexpr std::array<const char *, 2> kMseHistoryNames = {"history.train_mse",
                                                          "history.val_mse"};
constexpr std::array<const char *, 5> kHistoryNames = {
    "history.train_loss", "history.train_accuracy", "history.val_loss",
    "history.val_accuracy", "history.seconds"};

struct Setting {
  const char *what;
  double value;
  std::string text; // as the user wrote it
};

std::vector<Setting> settingsOf(const TrainConfig &c, int64_t trainSize) {
  return {
      {"optimizer", static_cast<double>(c.optimizer.kind),
       std::string(optimizerKindName(c.optimizer.kind))},
      {"sampling", static_cast<double>(c.sampling), std::string(samplingName(c.sampling))},
      {"batch size", static_cast<double>(c.batch), std::to_string(c.batch)},
      {"seed (high bits)", static_cast<double>(c.seed >> 32), std::to_string(c.seed)},
      {"seed", static_cast<double>(c.seed & 0xffffffffULL), std::to_string(c.seed)},
      {"training-set size", static_cast<double>(trainSize), std::to_string(trainSize)},
  };
}

ir::Tensor f64Scalar(double v) { return ir::Tensor::scalar(ir::DType::f64, v); }

ir::Tensor f64Vector(const std::vector<double> &v) {
  return ir::Tensor(ir::f64({static_cast<int64_t>(v.size())}), v);
}

double optionalValue(const std::optional<Metrics> &m, double Metrics::*field) {
  return m ? (*m).*field : std::numeric_limits<double>::quiet_NaN();
}

} // namespace

void Trainer::Impl::saveTo(const std::string &path, int64_t trainSize) const {
  TensorMap t;
  for (const auto &[name, value] : params)
    t[kParamPrefix + name] = value;
  if (optimizer)
    t.merge(optimizer->exportState(sig.trainable, kOptimizerPrefix));
  t.merge(preparationCheckpointTensors(config.preparation));
  t["train.epoch"] = f64Scalar(static_cast<double>(epochsDone));
  t["train.step"] = f64Scalar(static_cast<double>(globalStep));
  if (unfinished.stepsDone > 0)
    t[kUnfinished] = f64Vector({static_cast<double>(unfinished.stepsDone), unfinished.lossSum,
                                static_cast<double>(unfinished.samples),
                                static_cast<double>(unfinished.hits),
                                unfinished.haveAccuracy ? 1.0 : 0.0, unfinished.seconds,
                                unfinished.sqErr});
  std::vector<double> settings;
  for (const Setting &s : settingsOf(config, trainSize))
    settings.push_back(s.value);
  t["train.settings"] = f64Vector(settings);
  std::array<std::vector<double>, kHistoryNames.size()> columns;
  for (const EpochMetrics &e : history.epochs) {
    columns[0].push_back(e.train.loss);
    columns[1].push_back(e.train.accuracy);
    columns[2].push_back(optionalValue(e.validation, &Metrics::loss));
    columns[3].push_back(optionalValue(e.validation, &Metrics::accuracy));
    columns[4].push_back(e.seconds);
  }
  for (size_t i = 0; i < kHistoryNames.size(); ++i)
    t[kHistoryNames[i]] = f64Vector(columns[i]);
  if (sig.target == TargetKind::Regression) {
    std::vector<double> train, val;
    for (const EpochMetrics &e : history.epochs) {
      train.push_back(e.train.mse);
      val.push_back(optionalValue(e.validation, &Metrics::mse));
    }
    t[kMseHistoryNames[0]] = f64Vector(train);
    t[kMseHistoryNames[1]] = f64Vector(val);
  }
  saveCheckpoint(path, t);
}

std::optional<TrainingState> readTrainingState(const TensorMap &checkpoint,
                                               const std::string &path) {
  auto scalar = [&](const char *name) -> std::optional<double> {
    auto it = checkpoint.find(name);
    if (it == checkpoint.end())
      return std::nullopt;
    if (it->second.type() != ir::f64({}))
      throw Error(path + ": '" + name + "' is " + it->second.type().str() + ", expected f64[]");
    return it->second.at(0);
  };
  std::optional<double> epochs = scalar("train.epoch"), steps = scalar("train.step");
  if (!epochs && !steps)
    return std::nullopt;
  if (!epochs || !steps)
    throw Error(path + ": has only one of 'train.epoch' and 'train.step'");
  TrainingState state;
  state.epochs = checkpointCount(*epochs, path + ": 'train.epoch'");
  state.steps = checkpointCount(*steps, path + ": 'train.step'");
  // The layout of settingsOf: optimizer, sampling, batch, ...
  auto settings = checkpoint.find("train.settings");
  if (settings == checkpoint.end() || settings->second.dtype() != ir::DType::f64 ||
      settings->second.numel() < 3)
    throw Error(path + ": no f64 'train.settings' of the optimizer, sampling and batch");
  const ir::Tensor &v = settings->second;
  int64_t kind = checkpointCount(v.at(0), path + ": the optimizer in 'train.settings'");
  int64_t sampling = checkpointCount(v.at(1), path + ": the sampling in 'train.settings'");
  if (kind > static_cast<int64_t>(OptimizerKind::Newton) ||
      sampling > static_cast<int64_t>(Sampling::Epoch))
    throw Error(path + ": 'train.settings' names an unknown optimizer or sampling");
  state.optimizer = static_cast<OptimizerKind>(kind);
  state.sampling = static_cast<Sampling>(sampling);
  state.batch = checkpointCount(v.at(2), path + ": the batch size in 'train.settings'");
  state.stoppedInEpoch = checkpoint.count(kUnfinished) > 0;
  return state;
}

void Trainer::Impl::resumeFrom(const std::string &path, int64_t trainSize,
                               int64_t stepsPerEpoch) {
  if (!std::filesystem::exists(path))
    throw Error("no checkpoint to resume from (the file does not exist)", SourceLoc{path});
  // First the whole file (magic, size, CRC), then its settings, then the
  // exact set of tensors this run expects with their types.
  TensorMap all = loadCheckpoint(path);
  auto scalarAt = [&](const std::string &name) {
    auto it = all.find(name);
    if (it == all.end() || it->second.type() != ir::f64({}))
      throw Error(path + ": not a training checkpoint (no f64 scalar '" + name + "')");
    return it->second.at(0);
  };
  int64_t epochs = checkpointCount(scalarAt("train.epoch"), path + ": 'train.epoch'");
  int64_t steps = checkpointCount(scalarAt("train.step"), path + ": 'train.step'");
  std::vector<Setting> want = settingsOf(config, trainSize);
  auto settings = all.find("train.settings");
  if (settings == all.end() || settings->second.type() != ir::f64({int64_t(want.size())}))
    throw Error(path + ": not a training checkpoint (no f64[" + std::to_string(want.size()) +
                "] 'train.settings')");
  std::vector<Diagnostic> differ;
  for (size_t i = 0; i < want.size(); ++i)
    if (settings->second.at(static_cast<int64_t>(i)) != want[i].value)
      differ.push_back({SourceLoc{path}, "the checkpoint was written with another " +
                                    std::string(want[i].what) + " (this run: " + want[i].text +
                                    "); resume with the settings it was written with"});
  if (!differ.empty())
    throw Error(differ);

  std::map<std::string, ir::TensorType> expected;
  for (const auto &[name, value] : params)
    expected[kParamPrefix + name] = value.type();
  for (const auto &[name, value] : all)
    if (name.rfind(std::string(kOptimizerPrefix) + ".", 0) == 0 || name.rfind("data.", 0) == 0)
      expected[name] = value.type();
  expected["train.epoch"] = ir::f64({});
  expected["train.step"] = ir::f64({});
  expected["train.settings"] = ir::f64({int64_t(want.size())});
  for (const char *h : kHistoryNames)
    expected[h] = ir::f64({epochs});
  if (all.count(kUnfinished)) {
    bool old = all.at(kUnfinished).type() == ir::f64({kOldUnfinishedFields});
    expected[kUnfinished] = ir::f64({old ? kOldUnfinishedFields : kUnfinishedFields});
  }
  bool haveMse = sig.target == TargetKind::Regression && all.count(kMseHistoryNames[0]);
  if (haveMse)
    for (const char *h : kMseHistoryNames)
      expected[h] = ir::f64({epochs});
  TensorMap loaded = loadCheckpointInto(path, expected);
  EpochProgress progress;
  if (loaded.count(kUnfinished)) {
    const ir::Tensor &u = loaded.at(kUnfinished);
    std::string where = path + ": '" + kUnfinished + "'";
    progress.stepsDone = checkpointCount(u.at(0), where + " steps done");
    progress.lossSum = u.at(1);
    progress.samples = checkpointCount(u.at(2), where + " samples");
    progress.hits = checkpointCount(u.at(3), where + " hits");
    progress.haveAccuracy = u.at(4) != 0;
    progress.seconds = u.at(5);
    progress.sqErr = u.numel() > 6 ? u.at(6) : 0.0;
    if (progress.stepsDone >= stepsPerEpoch)
      throw Error(where + ": " + std::to_string(progress.stepsDone) +
                  " steps done, but an epoch has " + std::to_string(stepsPerEpoch));
  }

  ParamSet x;
  for (const std::string &p : sig.trainable)
    x.push_back(loaded.at(kParamPrefix + p));
  if (optimizer)
    optimizer->importState(loaded, sig.trainable, x, kOptimizerPrefix);

  // Nothing above changed the trainer; from here on nothing can fail.
  for (auto &[name, value] : params)
    value = loaded.at(kParamPrefix + name);
  epochsDone = epochs;
  globalStep = steps;
  unfinished = progress;
  history.epochs.clear();
  for (int64_t e = 0; e < epochs; ++e) {
    auto col = [&](size_t i) { return loaded.at(kHistoryNames[i]).at(e); };
    EpochMetrics m;
    m.epoch = e + 1;
    // The metrics that are not stored follow from the loss (perplexity).
    auto metrics = [&](double loss, double accuracy, const char *mseName) {
      Metrics r = finish(loss, 1, -1, 0);
      r.accuracy = accuracy;
      if (haveMse)
        r.mse = loaded.at(mseName).at(e);
      else if (!sig.lossIsMse)
        r.mse = std::numeric_limits<double>::quiet_NaN();
      return r;
    };
    m.train = metrics(col(0), col(1), kMseHistoryNames[0]);
    if (!std::isnan(col(2)))
      m.validation = metrics(col(2), col(3), kMseHistoryNames[1]);
    m.seconds = col(4);
    history.epochs.push_back(m);
  }
}

} // namespace chainjit::runtime::train

namespace chainjit::runtime::train {

void Trainer::Impl::writeCheckpoint(int64_t trainSize) const {
  if (isRoot())
    saveTo(config.checkpointPath, trainSize);
  comm->barrier();
}

} // namespace chainjit::runtime::train
