// Training a model graph on a data set: batches drawn as TrainConfig says,
// one update per batch, train and validation metrics per epoch, and a
// checkpoint after every epoch that a later run can resume from.
//
// How a step runs depends on the optimizer (docs/training.md):
//  - gd/sgd and momentum with a scheduled step size: the update is compiled
//    into the training-step graph (forward, gradient, L2, update and the L1
//    proximal step in one graph, ModelGraphs.h), so one call does it all;
//  - nesterov and adam: the step graph returns the gradients and
//    Optimizer::applyGradient updates the params;
//  - newton, line searches and s = 1/M: Optimizer::step on a GraphObjective
//    of the batch (they evaluate the loss at other points too).
// Train and eval use different graphs: dropout masks and batch statistics
// in the step, no dropout and running statistics in evaluate().
//
// Data-parallel (TrainConfig::communicator with more than one rank,
// docs/distributed.md): every rank computes its contiguous shard of each
// global batch, the gradients (weighted by the shard's rows) are summed
// over ranks in one message per element type, and every rank applies the
// same update; the in-graph update of gd and momentum then runs outside the
// graph (same rule, same checkpoint layout). Rank 0 alone writes
// checkpoints and tells the observer.
#pragma once

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/distributed/BucketedReduction.h"
#include "chainjit/runtime/distributed/Communicator.h"
#include "chainjit/runtime/train/ModelGraphs.h"
#include "chainjit/runtime/train/Optimizers.h"
#include "chainjit/runtime/train/Regularization.h"
#include "chainjit/runtime/train/Sampling.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

struct TrainConfig {
  // Kind, step size (learning rate, schedule, line search), momentum, Adam
  // and Newton settings. Its l1 field is filled from `regularization`.
  OptimizerConfig optimizer;
  RegularizationConfig regularization;
  Sampling sampling = Sampling::Epoch;
  int64_t batch = 32;   // minibatch and epoch sampling
  int64_t epochs = 10;  // total, counting the epochs of a resumed checkpoint
  uint64_t seed = 0;    // the batches drawn (the model's initializers have their own seeds)
  std::optional<double> dropout; // sets every dropout op's rate
  Backend backend = Backend::Jit;
  int64_t evalBatch = 256; // evaluation runs in batches of this size
  // Bytes the gradient's forward values may take (checkpoints and
  // recomputation, StepGraphOptions::memoryLimit); not with line searches
  // or Newton. nullopt: the whole tape.
  std::optional<double> memoryLimit;
  // Subnormal floats are flushed to zero while fit() runs (FTZ/DAZ on the
  // training thread; `train --keep-denormals` turns it off). A velocity or
  // second moment that decays geometrically reaches the subnormal range,
  // where arithmetic is some 100x slower on x86; flushing changes values
  // only below 2^-126 (f32) / 2^-1022 (f64). docs/training.md.
  bool flushDenormals = true;
  // Time every kernel of the training step graphs on every step
  // (compiler::JitOptions::profile; the JIT backend only): stepProfiles()
  // reads the times, `train --profile` prints them after training.
  bool profileSteps = false;

  // A checkpoint written atomically after every epoch ("" for none). An
  // existing file is never replaced unless `resume` (continue from it) or
  // `overwrite` (start over) is set.
  std::string checkpointPath;
  bool resume = false;
  bool overwrite = false;

  // Checked after every step: once it is true, fit() writes a checkpoint of
  // the unfinished epoch (when checkpointPath is set), from which a resumed
  // run continues bit for bit, and returns with History::stopped set. The
  // CLI sets it from its SIGINT/SIGTERM handler; an embedder may set it from
  // any thread. The trainer installs no signal handlers itself.
  const std::atomic<bool> *stopRequested = nullptr;

  // Start from these values instead of the initializers (`train
  // --init-from`, e.g. Weights::params): every param of the model must be
  // there with its type, and nothing else; the error lists every missing,
  // unknown and mistyped name. Excludes `resume`.
  TensorMap initialParams;
  // Stored in every checkpoint (data.scale, data.mean, data.std; Weights.h)
  // so that prediction prepares new data the same way.
  DataPreparation preparation;

  // The ranks of a data-parallel run (docs/distributed.md); null: this
  // process alone. Every rank gets the same config and the same data.
  std::shared_ptr<distributed::Communicator> communicator;
  // How the gradients are summed over the ranks: buckets of bucketBytes,
  // overlapped with the update (BucketedReduction.h).
  distributed::ReduceSchedule reduction;
  // Debug: after every epoch compare a hash of the params across ranks and
  // throw naming the ranks that differ.
  bool checkReplicas = false;
  // Debug (tests of the failure path): rank `failRank` throws at the start
  // of global step `failStep` (0-based). -1: never.
  int failRank = -1;
  int64_t failStep = -1;

  // Throws chainjit::Error naming the first bad setting.
  void validate() const;
};

// Loss and the metric that fits the model's target (ModelSignature::target)
// over a data set: the mean loss per sample (per token for sequence labels,
// per masked node for a whole graph); accuracy for class labels (NaN without
// a prediction output), the mean squared error for regression targets (from
// a prediction of the target's shape, or the loss when it is an mse op),
// exp(per-token loss) for sequence labels. A metric that does not apply is NaN.
struct Metrics {
  double loss = 0;
  double accuracy = 0;
  double mse = std::numeric_limits<double>::quiet_NaN();
  double perplexity = std::numeric_limits<double>::quiet_NaN();
};

struct EpochMetrics {
  int64_t epoch = 0;        // 1-based
  Metrics train;            // mean over the epoch's steps (train mode, before each update)
  std::optional<Metrics> validation; // eval mode, after the epoch
  double seconds = 0;       // wall time of the epoch's steps
  // Of `seconds`, the time inside the compiled step calls of the JIT's
  // bound steps (TrainerBoundStep.cpp; 0 where steps went another way):
  // seconds - stepSeconds is the loop's own overhead (bench/epoch_bench).
  double stepSeconds = 0;
};

// Where a run that was asked to stop (TrainConfig::stopRequested) stopped.
struct TrainingStop {
  int64_t epoch = 0;         // 1-based epoch that was interrupted
  int64_t stepsDone = 0;     // its steps done, 1..stepsPerEpoch
  int64_t stepsPerEpoch = 0;
  bool checkpointed = false; // a checkpoint of that point was written
};

struct History {
  std::vector<EpochMetrics> epochs; // finished epochs only
  std::optional<TrainingStop> stopped;
};

// What a progress display is told. Calls come from the training thread.
struct StepProgress {
  int64_t epoch = 0, epochs = 0;       // 1-based epoch, total
  int64_t step = 0, stepsPerEpoch = 0; // 1-based step within the epoch
  double loss = 0;          // mean train loss of the epoch so far
  double accuracy = 0;      // mean train accuracy so far (NaN: none)
  double mse = std::numeric_limits<double>::quiet_NaN();        // regression
  double perplexity = std::numeric_limits<double>::quiet_NaN(); // sequence labels
  double stepsPerSecond = 0;
  double etaSeconds = 0;    // to the end of the run
};

class TrainObserver {
public:
  virtual ~TrainObserver() = default;
  virtual void onStep(const StepProgress &) {}
  virtual void onEpoch(const EpochMetrics &, int64_t epochs) {}
  // A checkpoint was written, or training resumed from one.
  virtual void onCheckpoint(const std::string &path, int64_t epoch, bool resumed) {}
};

// The loss became NaN or infinite (cross-validation scores such a setting
// as diverged instead of stopping).
class TrainingDiverged : public Error {
public:
  using Error::Error;
};

// What a training checkpoint records about the run that wrote it.
struct TrainingState {
  int64_t epochs = 0, steps = 0; // done
  OptimizerKind optimizer = OptimizerKind::GD;
  Sampling sampling = Sampling::Epoch;
  int64_t batch = 0;
  bool stoppedInEpoch = false; // written by a stop inside an epoch
};

// Decodes the train.* tensors of a checkpoint (TrainerCheckpoint.cpp has the
// layout): nullopt when there are none, an Error naming `path` and the
// tensor when they are damaged.
std::optional<TrainingState> readTrainingState(const TensorMap &checkpoint,
                                               const std::string &path);

class Trainer {
public:
  // `model`: see ModelGraphs.h. Throws chainjit::Error on a model the
  // trainer cannot feed or a bad config. `inspect` names the target when
  // the model does not make it clear.
  Trainer(const ir::Graph &model, TrainConfig config, const InspectOptions &inspect = {});
  ~Trainer();
  Trainer(const Trainer &) = delete;
  Trainer &operator=(const Trainer &) = delete;

  // Trains on `train` up to config.epochs epochs, evaluating `validation`
  // (if given) after each. With config.resume, params, optimizer state,
  // epoch and history come from the checkpoint first (its settings must
  // match: the error says which does not), and the run continues exactly
  // as the uninterrupted run would have. Returns every epoch's metrics, the
  // resumed ones included.
  History fit(const Dataset &train, const Dataset *validation = nullptr,
              TrainObserver *observer = nullptr);

  // Eval mode over all of `data` (for a whole graph: the nodes of its mask).
  Metrics evaluate(const Dataset &data);

  // The model's params as evaluation sees them (trainable and state).
  Bindings modelParams() const;
  // With config.profileSteps: each compiled step graph's calls and kernel
  // times so far, by batch size (a last, smaller batch has a graph of its
  // own; compiler::formatProfile prints one); empty otherwise. The steps of
  // line searches, the inverse-Lipschitz step and Newton evaluate other
  // graphs and are not timed.
  std::vector<std::pair<int64_t, compiler::GraphProfile>> stepProfiles() const;
  const ModelSignature &signature() const { return sig_; }
  const TrainConfig &config() const { return config_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ModelSignature sig_;
  TrainConfig config_;
};

} // namespace chainjit::runtime::train
