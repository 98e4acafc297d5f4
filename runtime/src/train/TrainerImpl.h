// The Trainer's private state, shared by Trainer.cpp (the loop) and
// TrainerCheckpoint.cpp (saving and resuming).
#pragma once

#include "chainjit/compiler/IdleWork.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/train/GraphObjective.h"
#include "chainjit/runtime/train/Trainer.h"

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace chainjit::runtime::train {

// Where the update of a step happens (see Trainer.h).
enum class StepPath { InGraph, FusedGradient, Objective };
StepPath choosePath(const OptimizerConfig &c);

struct StepOutcome {
  double loss = 0;     // the batch's data loss before the update
  // What the loss is a mean over: rows, tokens (sequence labels with a
  // padding mask: its sum) or the nodes of a whole graph's mask.
  int64_t samples = 0;
  double sqErr = 0;    // regression: sum of squared errors of the prediction
  int64_t correct = -1; // -1: not known on this path
  // Data-parallel: TrainConfig::stopRequested was set on some rank when the
  // step reduced (all ranks agree: the flag travels with the reduction).
  bool stop = false;
};

// The running sums of an epoch that is not finished yet: what a checkpoint
// written mid-epoch must hold so that the resumed epoch reports the same
// metrics as an uninterrupted one.
struct EpochProgress {
  int64_t stepsDone = 0;
  double lossSum = 0; // sum of batch losses times batch sizes
  int64_t samples = 0, hits = 0;
  bool haveAccuracy = true;
  double sqErr = 0; // regression
  double seconds = 0; // wall time of the steps done
  double stepSeconds = 0; // of it, inside bound steps' compiled calls (not checkpointed)
};

// The copies that gather a batch's rows of a data set into a step's data
// buffers: row rows[r] of each source to row r of its buffer.
struct RowGather {
  struct Copy {
    std::byte *to;
    const std::byte *from;
    size_t rowBytes;
  };
  std::vector<Copy> copies; // per data input
  const int64_t *rows = nullptr;
  int64_t count = 0;
  // Rows per unit of the gathering as idle work (about 12 KB of the
  // Fashion MLP's pixels): a kernel call waits for at most one unit.
  static constexpr int64_t kRowsPerUnit = 4;
  void run(int64_t first, int64_t last) const;
  int64_t units() const { return (count + kRowsPerUnit - 1) / kRowsPerUnit; }
  static void unit(void *self, int64_t u);
};

// TrainerBoundStep.cpp: the step of the common case (the JIT, an update
// compiled into the step graph, one process, rows of a data set held in
// memory) run on buffers bound once per batch size. The batch's rows are
// copied straight into the input buffers, the params are updated in place
// (the update buffer is the param's own), and the loss and prediction are
// written to buffers kept from step to step: no tensor is copied or
// allocated per step.
struct BoundStep {
  const compiler::CompiledGraph *compiled = nullptr;
  enum class Source { Data, LearningRate, Momentum, Counter, Param, Output };
  std::vector<Source> sources;           // per argument of `compiled`
  std::vector<ir::Tensor *> tensors;     // per argument: the buffer's tensor
  std::vector<void *> buffers;           // per argument: what call() gets
  Bindings data;                         // the data inputs' buffers, by name
  std::vector<ir::Tensor> outputs;       // the loss, then the prediction
  ir::Tensor lr, momentum, counter;
  // The next batch, gathered by the kernel pool's threads between the
  // products of this step (compiler/IdleWork.h): its rows, the data set
  // they come from (null: none gathered), and the buffers they go to,
  // swapped with `data` when that batch's step comes.
  Bindings next;
  std::vector<int64_t> nextRows;
  const Dataset *nextFrom = nullptr;
  RowGather gather, nextGather;
  compiler::IdleWork gathering;
  // Waits for the next batch's gathering and forgets it (its data set may
  // be gone once fit() returns).
  void dropNext() {
    gathering.finish();
    nextFrom = nullptr;
  }
};

struct Trainer::Impl {
  Impl(const ir::Graph &model, const ModelSignature &sig, const TrainConfig &config);

  const ir::Graph &modelAt(int64_t batch);
  const Executable &stepExecutable(int64_t batch);
  // The step graphs' JIT options (config.profileSteps).
  compiler::JitOptions stepJitOptions() const;
  const Executable &evalExecutable(int64_t batch);
  GraphObjective &objectiveFor(Bindings data, int64_t batch);

  // TrainerData.cpp: checking a data set against the model and feeding it.
  void checkData(const Dataset &data, const char *what);
  Bindings dataBindings(const Dataset &data, const std::vector<int64_t> &rows, int64_t counter);
  // The batch size the graph runs at for `rows` of `data` (a whole graph:
  // the model's own).
  int64_t graphBatch(const Dataset &data, const std::vector<int64_t> &rows) const;
  // What a batch's loss averages over and its metric sums, from the
  // prediction output (null when the model has none) and the fed data.
  struct BatchScore {
    int64_t weight = 0;
    int64_t hits = 0;
    double sqErr = 0;
  };
  BatchScore score(const ir::Tensor *prediction, const Bindings &data) const;
  // Metrics from the sums over batches; hits < 0: accuracy unknown.
  Metrics finish(double lossSum, int64_t weight, int64_t hits, double sqErr) const;
  int64_t correct(const ir::Tensor &prediction, const ir::Tensor &labels,
                  const ir::Tensor *mask) const;
  ParamSet trainableSet() const;
  void storeTrainable(ParamSet x);
  // The entries of `source` that are params of `g`.
  Bindings bindingsFor(const ir::Graph &g, const Bindings &source) const;
  Bindings currentParams() const;

  // `next`: the rows of the step after this one, where known (the bound
  // step gathers them while this one runs).
  StepOutcome step(const Dataset &train, const std::vector<int64_t> &rows, int64_t epoch,
                   const std::vector<int64_t> *next = nullptr);
  // TrainerBoundStep.cpp: the step on bound buffers, or nullopt where the
  // common case does not hold (then step() goes the general way).
  std::optional<StepOutcome> boundStep(const Dataset &train, const std::vector<int64_t> &rows,
                                       int64_t epoch, const std::vector<int64_t> *next);
  BoundStep *bindStep(int64_t batch);
  // Plans the copies of `rows` of `train` into `into` (buffers of the
  // step's data inputs): false where a source is missing or of another
  // type or row size (the general way converts). A row outside the data
  // set throws where reportBadRows, else gives false.
  bool planGather(BoundStep &s, const Dataset &train, const std::vector<int64_t> &rows,
                  Bindings &into, RowGather &gather, bool reportBadRows) const;
  // Every bound step's next batch waited for and forgotten (fit()'s end).
  void dropNextBatches();
  // Bound steps are used unless $CHAINJIT_TRAINER_BOUND_STEPS is 0 (tests
  // compare the two ways).
  bool boundStepsAllowed = true;
  std::map<int64_t, std::unique_ptr<BoundStep>> boundSteps; // by batch size; null: not bindable
  Metrics evaluate(const Dataset &data);

  // TrainerCheckpoint.cpp.
  void saveTo(const std::string &path, int64_t trainSize) const;
  // saveTo(config.checkpointPath) on rank 0, the others waiting until it is
  // written: a rank failing later cannot end the job while the file is
  // half written.
  void writeCheckpoint(int64_t trainSize) const;
  // TrainConfig::initialParams, checked, in place of the initial values.
  void takeInitialParams(const TensorMap &given);
  void resumeFrom(const std::string &path, int64_t trainSize, int64_t stepsPerEpoch);

  // Data-parallel: the communicator (never null), and whether it has more
  // than one rank (then gradients are reduced and stepOptions.update is None).
  std::shared_ptr<distributed::Communicator> comm;
  bool distributed = false;
  bool isRoot() const { return comm->rank() == 0; }
  // The params the step graph updates itself (batch statistics), averaged
  // over ranks by rows; the same list on every rank.
  std::vector<std::string> stepUpdated;
  // Sum over ranks of a flag, for stopping together.
  bool anyRank(bool flag);

  ir::Graph model; // dropout rate applied
  // Whole-graph data: the model input fed the node mask (the one input the
  // data does not give); "" until such data is seen.
  std::string nodeMaskInput;
  ModelSignature sig;
  TrainConfig config;
  StepPath path;
  StepGraphOptions stepOptions;
  std::vector<double> l1, l2; // per trainable param
  std::optional<Optimizer> optimizer; // paths other than InGraph

  std::map<int64_t, ir::Graph> models;
  std::map<int64_t, std::unique_ptr<Executable>> stepExecs, evalExecs;
  std::map<int64_t, std::unique_ptr<GraphObjective>> objectives;

  Bindings params; // every param of the step graph
  int64_t epochsDone = 0;
  int64_t globalStep = 0;
  EpochProgress unfinished; // of epoch epochsDone + 1
  History history;
};

} // namespace chainjit::runtime::train
