// chainjit train MODEL.cj --data FILE.csv[.gz] | --idx-images F --idx-labels F
//                [--optimizer ...] [--lr ...] [--batch ...] [--epochs ...] ...
// Turns flags into a DataSpec and a TrainConfig, and reports what the
// runtime's Trainer and crossValidate return; the work is in runtime/train.
#include "Commands.h"
#include "StopSignals.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/distributed/Mpi.h"
#include "chainjit/runtime/train/CrossValidation.h"
#include "chainjit/runtime/train/Curves.h"
#include "chainjit/runtime/train/Progress.h"
#include "chainjit/runtime/train/TrainData.h"
#include "chainjit/runtime/train/Trainer.h"

#include <cmath>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <unistd.h>

namespace chainjit::cli {

namespace {

namespace rt = runtime::train;

struct TrainOptions {
  std::string model;
  rt::DataSpec data;
  std::string dataArg;            // --data: FILE.csv or NAME=FILE.npy,...
  std::string testData, validationData, masks;
  std::optional<std::string> target;
  std::string metric = "auto";
  bool header = false;
  std::optional<double> scale;
  std::string optimizer = "sgd";
  double lr = 0.1;
  std::string schedule = "const";
  int64_t decayEvery = 10;
  double decayFactor = 0.5;
  std::string lineSearch = "none";
  bool inverseLipschitz = false;
  double momentum = 0.9;
  std::optional<double> nesterovBeta;
  double adamBeta1 = 0.9, adamBeta2 = 0.999, adamEpsilon = 1e-8;
  double newtonDamping = 0;
  int64_t newtonMaxParams = 4096;
  std::string sampling; // default depends on the optimizer
  int64_t batch = 32;
  int64_t epochs = 10;
  int64_t evalBatch = 256;
  uint64_t seed = 0;
  std::string l1, l2;
  std::optional<double> dropout;
  std::optional<double> memoryLimit; // bytes of forward values the gradient keeps
  bool keepDenormals = false;
  bool profile = false; // --profile: the step graphs' kernel times after training
  int64_t kfold = 0;
  std::string lrGrid, l2Grid, l1Grid;
  std::string checkpoint;
  std::string initFrom;
  bool resume = false, overwrite = false;
  std::string curves, plot;
  std::string backend = "jit";
  std::string allocLimit;
  bool distributed = false, checkReplicas = false;
};

std::optional<double> parseNumber(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::vector<std::string> splitCommas(const std::string &s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    parts.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos)
      return parts;
    start = comma + 1;
  }
}

// "0.01" (every trainable param), "W1=0.01,W2=0.001", or both:
// "0.001,W1=0.01" (W1 0.01, the others 0.001).
void parseCoefficients(const std::string &spec, const std::string &flag, double &all,
                       std::map<std::string, double> &perParam) {
  if (spec.empty())
    return;
  for (const std::string &part : splitCommas(spec)) {
    size_t eq = part.find('=');
    std::string value = eq == std::string::npos ? part : part.substr(eq + 1);
    std::optional<double> v = parseNumber(value);
    if (!v || *v < 0)
      throw UsageError(flag + " '" + spec + "': '" + value +
                       "' is not a non-negative number (write " + flag + " 0.01 or " + flag +
                       " W1=0.01,W2=0.001)");
    if (eq == std::string::npos) {
      all = *v;
      continue;
    }
    std::string name = part.substr(0, eq);
    if (name.empty())
      throw UsageError(flag + " '" + spec + "': a coefficient without a param name");
    perParam[name] = *v;
  }
}

std::vector<double> parseGrid(const std::string &spec, const std::string &flag) {
  std::vector<double> grid;
  if (spec.empty())
    return grid;
  for (const std::string &part : splitCommas(spec)) {
    std::optional<double> v = parseNumber(part);
    if (!v || *v < 0)
      throw UsageError(flag + " '" + spec + "': '" + part +
                       "' is not a non-negative number (write e.g. " + flag + " 0.01,0.1)");
    grid.push_back(*v);
  }
  return grid;
}

// Library validation errors about flags are usage errors (exit 2).
template <typename F> auto asUsage(F &&f) {
  try {
    return f();
  } catch (const Error &e) {
    throw UsageError(e.diagnostics().front().message);
  }
}

rt::TrainConfig makeConfig(const TrainOptions &o) {
  rt::TrainConfig c;
  return asUsage([&] {
    rt::OptimizerConfig &oc = c.optimizer;
    oc.kind = rt::parseOptimizerKind(o.optimizer);
    oc.stepSize.base = o.lr;
    oc.stepSize.schedule = rt::parseSchedule(o.schedule);
    oc.stepSize.decayEvery = o.decayEvery;
    oc.stepSize.decayFactor = o.decayFactor;
    oc.stepSize.lineSearch = rt::parseLineSearch(o.lineSearch);
    oc.stepSize.inverseLipschitz = o.inverseLipschitz;
    oc.momentum = o.momentum;
    oc.nesterovBeta = o.nesterovBeta;
    oc.adamBeta1 = o.adamBeta1;
    oc.adamBeta2 = o.adamBeta2;
    oc.adamEpsilon = o.adamEpsilon;
    oc.newtonDamping = o.newtonDamping;
    oc.newtonMaxParams = o.newtonMaxParams;
    bool fullBatch = oc.kind == rt::OptimizerKind::Newton || o.optimizer == "gd";
    c.sampling = rt::parseSampling(o.sampling.empty() ? (fullBatch ? "full" : "epoch")
                                                      : o.sampling);
    c.batch = o.batch;
    c.epochs = o.epochs;
    c.evalBatch = o.evalBatch;
    c.seed = o.seed;
    c.dropout = o.dropout;
    c.memoryLimit = o.memoryLimit;
    c.flushDenormals = !o.keepDenormals;
    c.profileSteps = o.profile;
    c.backend = runtime::parseBackend(o.backend);
    c.checkpointPath = o.checkpoint;
    c.resume = o.resume;
    c.overwrite = o.overwrite;
    parseCoefficients(o.l1, "--l1", c.regularization.l1, c.regularization.l1PerParam);
    parseCoefficients(o.l2, "--l2", c.regularization.l2, c.regularization.l2PerParam);
    c.validate();
    return c;
  });
}

void printMetrics(const char *what, const rt::Metrics &m, const runtime::Dataset &data) {
  std::cout << what << " loss " << m.loss;
  if (!std::isnan(m.accuracy))
    std::cout << "  accuracy " << 100.0 * m.accuracy << "%";
  if (!std::isnan(m.mse))
    std::cout << "  mse " << m.mse;
  if (!std::isnan(m.perplexity))
    std::cout << "  perplexity " << m.perplexity;
  if (data.wholeGraph) {
    int64_t nodes = 0;
    for (int64_t i = 0; i < data.nodeMask.numel(); ++i)
      nodes += data.nodeMask.at(i) != 0;
    std::cout << "  (" << nodes << " nodes)\n";
  } else {
    std::cout << "  (" << data.size() << " samples)\n";
  }
}

// The data line: sizes, and what the samples are.
void printData(const rt::TrainingData &data) {
  auto selected = [](const runtime::Dataset &d) {
    int64_t n = 0;
    for (int64_t i = 0; i < d.nodeMask.numel(); ++i)
      n += d.nodeMask.at(i) != 0;
    return n;
  };
  if (data.train.wholeGraph) {
    std::cout << "data: one graph of " << data.train.nodeMask.numel() << " nodes: "
              << selected(data.train) << " train, "
              << (data.validation ? std::to_string(selected(*data.validation)) + " validation, "
                                  : "")
              << selected(data.test) << " test nodes\n";
    return;
  }
  std::cout << "data: " << data.train.size() << " training, "
            << (data.validation ? std::to_string(data.validation->size()) + " validation, " : "")
            << data.test.size() << " test samples";
  if (data.train.inputs.empty()) {
    std::cout << " of " << data.train.numFeatures() << " features\n";
    return;
  }
  std::string list;
  for (const auto &[name, t] : data.train.inputs) {
    ir::Shape per(t.shape().begin() + 1, t.shape().end());
    list += (list.empty() ? "" : ", ") + name + " " + ir::TensorType{t.dtype(), per}.str();
  }
  std::cout << " (" << list << " each)\n";
}

// MPI's world when a launcher started this process with more than one
// rank, or --distributed asks for it; otherwise this process alone.
std::shared_ptr<runtime::distributed::Communicator> chooseCommunicator(const TrainOptions &o) {
  namespace dist = runtime::distributed;
  std::optional<int> launched = dist::launcherWorldSize();
  if (!o.distributed && launched.value_or(1) == 1)
    return dist::singleProcess();
  if (!dist::mpiBuiltIn())
    throw Error(std::string(o.distributed ? "--distributed" : "started by an MPI launcher") +
                ": this chainjit was built without MPI (install libopenmpi-dev and openmpi-bin, "
                "as tools/bootstrap.sh does, and build again)");
  return dist::mpiWorld();
}

// CHAINJIT_DEBUG_FAIL=RANK:STEP makes that rank fail at that global step
// (the tests of a failing rank).
void applyDebugFailure(rt::TrainConfig &c) {
  const char *v = std::getenv("CHAINJIT_DEBUG_FAIL");
  if (!v)
    return;
  std::string spec = v;
  size_t colon = spec.find(':');
  std::optional<double> rank = parseNumber(spec.substr(0, colon));
  std::optional<double> step =
      colon == std::string::npos ? std::nullopt : parseNumber(spec.substr(colon + 1));
  if (!rank || !step || *rank < 0 || *step < 0)
    throw UsageError("CHAINJIT_DEBUG_FAIL='" + spec + "': expected RANK:STEP, e.g. 1:3");
  c.failRank = static_cast<int>(*rank);
  c.failStep = static_cast<int64_t>(*step);
}

// CHAINJIT_DEBUG_ALLREDUCE=BYTES:overlap|blocking sets the gradient
// reduction's bucket size and whether its buckets overlap with the update
// (the test that both give the same bits).
void applyDebugAllreduce(rt::TrainConfig &c) {
  const char *v = std::getenv("CHAINJIT_DEBUG_ALLREDUCE");
  if (!v)
    return;
  std::string spec = v;
  size_t colon = spec.find(':');
  std::optional<double> bytes = parseNumber(spec.substr(0, colon));
  std::string mode = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (!bytes || *bytes < 1 || *bytes > 1e15 || (mode != "overlap" && mode != "blocking"))
    throw UsageError("CHAINJIT_DEBUG_ALLREDUCE='" + spec +
                     "': expected BYTES:overlap or BYTES:blocking, e.g. 65536:overlap");
  c.reduction.bucketBytes = static_cast<int64_t>(*bytes);
  c.reduction.overlap = mode == "overlap";
}

void writeCurves(const TrainOptions &o, const rt::History &h, const std::string &model) {
  if (!o.curves.empty())
    rt::writeCurvesCsv(o.curves, h);
  if (!o.plot.empty())
    rt::writeCurvesSvg(o.plot, h, model + ": loss per epoch");
}

// Where training stopped and how to go on from there.
void reportStop(const rt::TrainingStop &stop, const StopSignals &signals, const TrainOptions &o) {
  std::cerr << "chainjit: training stopped by " << signals.signalName() << " in epoch "
            << stop.epoch << " after step " << stop.stepsDone << " of " << stop.stepsPerEpoch
            << "\n";
  if (stop.checkpointed)
    std::cerr << "chainjit: checkpoint written to " << o.checkpoint
              << "; to continue, run the same command with --resume"
              << (o.overwrite ? " instead of --overwrite" : "") << "\n";
  else
    std::cerr << "chainjit: no checkpoint was written (train with --checkpoint FILE to be "
                 "able to resume)\n";
}

int runTrain(const TrainOptions &o,
             const std::shared_ptr<runtime::distributed::Communicator> &comm) {
  // Every flag is checked before any file is read.
  if (o.profile && o.backend != "jit")
    throw UsageError("--profile needs --backend jit: it times the compiled kernels");
  rt::TrainConfig config = makeConfig(o);
  config.communicator = comm;
  config.checkReplicas = o.checkReplicas;
  applyDebugFailure(config);
  applyDebugAllreduce(config);
  asUsage([&] { config.validate(); });
  bool root = comm->rank() == 0;
  applyAllocLimit(o.allocLimit);
  rt::DataSpec spec = o.data;
  spec.scale = o.scale;
  spec.seed = o.seed;
  // --data is a CSV file, or a .npy file per model input.
  if (o.dataArg.find('=') != std::string::npos)
    spec.npy = parseNamedFiles(o.dataArg, "--data");
  else
    spec.csv = o.dataArg;
  spec.testNpy = parseNamedFiles(o.testData, "--test-data");
  spec.validationNpy = parseNamedFiles(o.validationData, "--validation-data");
  for (const auto &[split, path] : parseNamedFiles(o.masks, "--masks"))
    spec.masks[split] = path;
  if (spec.npy.empty() && (!o.testData.empty() || !o.validationData.empty()))
    throw UsageError("--test-data and --validation-data take .npy files by input name and "
                     "need --data NAME=FILE.npy,... too");
  asUsage([&] { spec.validate(); });
  rt::CvConfig cv;
  cv.folds = o.kfold;
  cv.lrGrid = parseGrid(o.lrGrid, "--lr-grid");
  cv.l2Grid = parseGrid(o.l2Grid, "--l2-grid");
  cv.l1Grid = parseGrid(o.l1Grid, "--l1-grid");
  bool gridGiven = !cv.lrGrid.empty() || !cv.l2Grid.empty() || !cv.l1Grid.empty();
  if (gridGiven && o.kfold == 0)
    throw UsageError("--lr-grid, --l2-grid and --l1-grid need --kfold K");
  if (o.kfold != 0 && o.kfold < 2)
    throw UsageError("--kfold " + std::to_string(o.kfold) + ": K must be at least 2");
  if (!o.initFrom.empty() && o.resume)
    throw UsageError("--init-from and --resume exclude each other: a resumed run continues "
                     "from its checkpoint's params");
  if (o.kfold != 0 && o.resume)
    throw UsageError("--kfold and --resume exclude each other: cross-validation always "
                     "trains from scratch");

  ir::Graph model = ir::parseGraphFile(o.model);
  rt::InspectOptions inspect;
  if (o.target)
    inspect.target = *o.target == "none" ? std::string() : *o.target;
  if (o.metric != "auto")
    inspect.task = o.metric == "accuracy"     ? rt::TargetKind::Classes
                   : o.metric == "mse"        ? rt::TargetKind::Regression
                   : o.metric == "perplexity" ? rt::TargetKind::Sequence
                                              : rt::TargetKind::None;
  // An imported recurrent model's X [T, N, I] is fed batch-first (ModelGraphs.h).
  model = rt::withBatchFirstInputs(model, inspect);
  rt::ModelSignature sig = rt::inspectModel(model, inspect);
  ir::DType dtype = model.type(model.lookup(sig.features)).dtype;
  if (!ir::isFloat(dtype) && (!spec.csv.empty() || !spec.idxImages.empty()))
    throw Error("model '" + model.name() + "': CSV and IDX data give float features, but %" +
                sig.features + " is " + model.type(model.lookup(sig.features)).str() +
                " (feed it from a .npy file: --data " + sig.features + "=FILE.npy,...)");
  // CSV and IDX data are a features matrix and at most one label column.
  if (!spec.csv.empty() || !spec.idxImages.empty())
    for (const std::string &in : sig.inputs) {
      const ir::TensorType &t = model.type(model.lookup(in));
      bool fits = in == sig.features || (in == sig.labels && t.rank() == 1);
      if (!fits)
        throw Error("model '" + model.name() + "': CSV and IDX data give features %" +
                    sig.features + " and one label per sample, but input %" + in + " : " +
                    t.str() + " needs its own data (feed every input from .npy files: --data " +
                    sig.features + "=FILE.npy," + in + "=FILE.npy,...)");
    }
  // Row-wise data batches every input along the first axis; a model with
  // other inputs (a graph's structure) trains on a whole graph.
  if (spec.masks.empty())
    for (const std::string &in : sig.inputs) {
      const ir::TensorType &t = model.type(model.lookup(in));
      if (t.shape[0] != sig.batch)
        throw Error("model '" + model.name() + "': cannot feed input %" + in + " : " + t.str() +
                    " row by row: its first dimension is not the batch (" +
                    std::to_string(sig.batch) + ", from %" + sig.features +
                    "); train a whole-graph model with node masks: --masks "
                    "train=FILE.npy,test=FILE.npy");
    }
  spec.classes = sig.target == rt::TargetKind::Classes ? sig.classes : 0;
  spec.labelDType = sig.labels.empty()
                        ? std::nullopt
                        : std::optional(model.type(model.lookup(sig.labels)).dtype);
  spec.nodeInput = sig.labels.empty() ? sig.features : sig.labels;
  // Token ids and column indices: a bad one is named with its file and sample.
  spec.indexLimits = rt::indexLimitsOf(model, sig.labels);
  // Ranks read only the rows of their shards where the files allow it.
  spec.rowsOnDemand = comm->size() > 1;
  rt::TrainingData data = rt::loadTrainingData(spec, dtype);
  config.preparation = data.preparation;
  if (!o.initFrom.empty()) {
    runtime::Weights init = runtime::loadWeights(o.initFrom);
    for (auto &[name, value] : init.params)
      config.initialParams.emplace(name, std::move(value));
    std::cout << "initial params: " << init.params.size() << " from " << o.initFrom << "\n";
    // Weights learnt on data prepared otherwise see other inputs now; that
    // may be meant (fine-tuning), so it is a warning, not an error.
    if (root && !init.preparation.empty() &&
        init.preparation.describe() != data.preparation.describe())
      std::cerr << "chainjit: warning: " << o.initFrom << " was trained on data prepared with "
                << init.preparation.describe() << ", this run prepares it with "
                << data.preparation.describe()
                << " (give the same --scale or --standardize to continue from those weights)\n";
  }
  if (comm->size() > 1)
    std::cout << "data-parallel: " << comm->describe()
              << ", each computing its part of every batch\n";
  if (sig.target == rt::TargetKind::Classes && sig.inputs.size() == 2)
    std::cout << "model " << model.name() << ": features %" << sig.features << ", labels %"
              << sig.labels << ", loss %" << sig.loss
              << (sig.prediction.empty() ? "" : ", prediction %" + sig.prediction) << "\n";
  else {
    std::string inputs;
    for (const std::string &in : sig.inputs)
      inputs += (inputs.empty() ? "%" : ", %") + in;
    std::cout << "model " << model.name() << ": inputs " << inputs << "; target "
              << (sig.labels.empty() ? "none" : "%" + sig.labels + " (" +
                                                    std::string(rt::targetKindName(sig.target)) +
                                                    ")")
              << ", loss %" << sig.loss
              << (sig.prediction.empty() ? "" : ", prediction %" + sig.prediction) << "\n";
  }
  printData(data);

  if (o.kfold >= 2 && data.train.wholeGraph)
    throw UsageError("--kfold needs row-wise data; a whole graph is one sample (choose "
                     "settings on its validation mask)");
  cv.inspect = inspect;
  if (o.kfold >= 2) {
    std::cout << o.kfold << "-fold cross-validation of " << rt::gridSettings(config, cv).size()
              << " settings, " << config.epochs << " epochs each\n";
    rt::CvResult r = rt::crossValidate(model, config, data.train, cv,
                                       [&](size_t row, int64_t fold, const rt::Metrics &m) {
                                         if (root)
                                           std::cerr << rt::formatCvFold(row, fold, m) << "\n";
                                       });
    std::cout << rt::formatCvTable(r);
    const rt::GridSetting &best = r.rows[r.best].setting;
    std::cout << "best: lr " << best.lr << ", l2 " << best.l2 << ", l1 " << best.l1
              << "; retraining on all " << data.train.size() << " training samples\n";
    config = rt::withSetting(config, best);
  }

  // The held-out test set serves as the per-epoch validation set unless a
  // validation split was asked for; nothing is selected on it.
  const runtime::Dataset &validation = data.validation ? *data.validation : data.test;
  // From here on SIGINT/SIGTERM stop training after the current step, with
  // a final checkpoint. Before (loading data, cross-validation) they end the
  // process as usual: nothing is written then that a signal could cut short.
  StopSignals signals;
  config.stopRequested = &signals.requested();
  rt::Trainer trainer(model, config, inspect);
  std::unique_ptr<rt::TrainObserver> observer =
      isatty(fileno(stderr)) ? rt::makeProgressBar(std::cerr) : rt::makeLogLines(std::cerr);
  rt::History h = trainer.fit(data.train, &validation, observer.get());
  if (h.stopped) {
    if (root) {
      writeCurves(o, h, model.name());
      reportStop(*h.stopped, signals, o);
    }
    return signals.exitCode();
  }
  double seconds = 0;
  for (const rt::EpochMetrics &e : h.epochs)
    seconds += e.seconds;
  if (!h.epochs.empty())
    printMetrics("train", h.epochs.back().train, data.train);
  printMetrics("test", trainer.evaluate(data.test), data.test);
  std::cout << "training time " << seconds << " s over " << h.epochs.size() << " epochs\n";
  if (root)
    for (const auto &[batch, profile] : trainer.stepProfiles())
      std::cerr << "training step at batch " << batch << ", time per kernel:\n"
                << compiler::formatProfile(profile);
  if (data.train.featureRows)
    std::cout << "rows read on demand: rank 0 read "
              << runtime::rowBytesRead({&data.train, &data.test,
                                        data.validation ? &*data.validation : nullptr})
              << " bytes of feature rows\n";
  if (root)
    writeCurves(o, h, model.name());
  if (signals.signal() != 0 && root) {
    // It came during the last step or the final evaluation: the run is
    // complete (and checkpointed), but the caller asked to stop.
    std::cerr << "chainjit: " << signals.signalName()
              << " arrived as training ended; the run is complete\n";
    return signals.exitCode();
  }
  return 0;
}

// One rank of an MPI job prints the report; the others keep quiet on
// stdout. A rank that fails prints its error and ends the whole job (its
// peers would otherwise wait for it forever in the next collective).
int runTrainOnRanks(const TrainOptions &o) {
  std::shared_ptr<runtime::distributed::Communicator> comm = chooseCommunicator(o);
  if (comm->size() == 1)
    return runTrain(o, comm);
  std::streambuf *stdoutBuffer = std::cout.rdbuf();
  if (comm->rank() != 0)
    std::cout.rdbuf(nullptr);
  int code = 1;
  std::string message;
  try {
    int rc = runTrain(o, comm);
    std::cout.rdbuf(stdoutBuffer);
    return rc;
  } catch (const UsageError &e) {
    code = 2, message = e.what();
  } catch (const std::exception &e) {
    message = e.what();
  }
  std::cout.rdbuf(stdoutBuffer);
  comm->abort(message, code);
  return code; // not reached: abort() ends the job
}

} // namespace

Command addTrainCommand(CLI::App &app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App *cmd = app.add_subcommand("train", "Train a model on a data set (docs/training.md)");
  cmd->add_option("model", o->model,
                  "The model, a .cj file whose first output is a scalar loss")
      ->required();
  // Data.
  cmd->add_option("--data", o->dataArg,
                  "CSV data (.csv or .csv.gz, one sample per line), or a .npy file per model "
                  "input: x=train_x.npy,y=train_y.npy");
  cmd->add_option("--test-data", o->testData,
                  "Test data as .npy files per input (instead of --test-fraction)");
  cmd->add_option("--validation-data", o->validationData,
                  "Validation data as .npy files per input (instead of --validation-fraction)");
  cmd->add_option("--masks", o->masks,
                  "Whole-graph training: node masks train=F,test=F[,validation=F] (.npy bool/u8 "
                  "or i32 0/1 per node, or i32 node index lists)");
  cmd->add_option("--target", o->target,
                  "The model input holding the targets, or 'none' (default: found from the loss)");
  cmd->add_option("--metric", o->metric,
                  "auto (default: from the target's type), accuracy, mse, perplexity or loss")
      ->check(CLI::IsMember({"auto", "accuracy", "mse", "perplexity", "loss"}));
  cmd->add_option("--label-column", o->data.labelColumn,
                  "CSV: the label's column, 0-based, negative from the end (default -1)");
  cmd->add_flag("--header", o->header,
                "CSV: the file starts with a header line (recognized anyway: a first line "
                "with a field that is not a number is skipped)");
  cmd->add_option("--idx-images", o->data.idxImages, "IDX (MNIST format) images, .gz allowed");
  cmd->add_option("--idx-labels", o->data.idxLabels, "IDX labels");
  cmd->add_option("--idx-test-images", o->data.idxTestImages,
                  "IDX test images (instead of --test-fraction)");
  cmd->add_option("--idx-test-labels", o->data.idxTestLabels, "IDX test labels");
  cmd->add_option("--scale", o->scale, "Multiply every feature by this (e.g. 0.0625)");
  cmd->add_flag("--standardize", o->data.standardize,
                "Standardize features with the training set's mean and std");
  cmd->add_option("--test-fraction", o->data.testFraction,
                  "Fraction held out as the test set (default 0.2)");
  cmd->add_option("--validation-fraction", o->data.validationFraction,
                  "Fraction of the training part held out for per-epoch validation (default "
                  "0: the test set is shown per epoch)");
  cmd->add_option("--limit", o->data.limit, "Use only the first N samples of each file");
  // Optimizer and step size.
  cmd->add_option("--optimizer", o->optimizer,
                  "gd, sgd (default), momentum, nesterov, adam or newton")
      ->check(CLI::IsMember({"gd", "sgd", "momentum", "nesterov", "adam", "newton"}));
  cmd->add_option("--lr", o->lr, "Learning rate: the step size c (default 0.1)");
  cmd->add_option("--schedule", o->schedule,
                  "const (default), inv (c/k), invsqrt (c/sqrt k) or step (decay per epochs)")
      ->check(CLI::IsMember({"const", "inv", "invsqrt", "step"}));
  cmd->add_option("--decay-every", o->decayEvery, "step schedule: epochs between decays (10)");
  cmd->add_option("--decay-factor", o->decayFactor, "step schedule: factor per decay (0.5)");
  cmd->add_option("--line-search", o->lineSearch, "none (default), backtracking or exact")
      ->check(CLI::IsMember({"none", "backtracking", "exact"}));
  cmd->add_flag("--inverse-lipschitz", o->inverseLipschitz,
                "Step size 1/M, M estimated by power iteration on Hessian-vector products");
  cmd->add_option("--momentum", o->momentum, "momentum: beta (default 0.9)");
  cmd->add_option("--nesterov-beta", o->nesterovBeta,
                  "nesterov: a constant beta instead of (k-1)/(k+2)");
  cmd->add_option("--adam-beta1", o->adamBeta1, "adam: beta1 (0.9)");
  cmd->add_option("--adam-beta2", o->adamBeta2, "adam: beta2 (0.999)");
  cmd->add_option("--adam-epsilon", o->adamEpsilon, "adam: epsilon (1e-8)");
  cmd->add_option("--newton-damping", o->newtonDamping, "newton: damping added to H");
  cmd->add_option("--newton-max-params", o->newtonMaxParams,
                  "newton: refuse models with more parameter entries (4096)");
  // Batches.
  cmd->add_option("--sampling", o->sampling,
                  "full, minibatch (random batches), sgd (one random sample) or epoch "
                  "(shuffle, then batch by batch); default full for gd and newton, else epoch")
      ->check(CLI::IsMember({"full", "minibatch", "sgd", "epoch"}));
  cmd->add_option("--batch", o->batch, "Batch size (default 32)");
  cmd->add_option("--epochs", o->epochs, "Epochs in all, resumed ones included (default 10)");
  cmd->add_option("--eval-batch", o->evalBatch, "Batch size of evaluation (default 256)");
  cmd->add_option("--seed", o->seed, "Seed of the splits and the batches (default 0)");
  // Regularization.
  cmd->add_option("--l1", o->l1, "L1 coefficients: 0.001 (every trainable param), "
                                 "W1=0.001,W2=0.01, or 0.001,W1=0.01");
  cmd->add_option("--l2", o->l2, "L2 coefficients, written like --l1");
  cmd->add_option("--dropout", o->dropout, "Set the rate of every dropout op of the model");
  cmd->add_option("--memory-limit", o->memoryLimit,
                  "BYTES the gradient's forward values may take (e.g. 4e6): the rest is "
                  "recomputed from checkpoints, as the chain optimizer plans")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--profile", o->profile,
                "After training, print each kernel of the compiled training step with its "
                "share of the steps' time, its total and its time per step to stderr (the "
                "JIT backend; docs/performance.md)");
  cmd->add_flag("--keep-denormals", o->keepDenormals,
                "Compute with subnormal floats instead of flushing them to zero (slower: "
                "docs/training.md)");
  // Model selection.
  cmd->add_option("--kfold", o->kfold, "K-fold cross-validation over the grids, K >= 2");
  cmd->add_option("--lr-grid", o->lrGrid, "Learning rates to cross-validate: 0.01,0.1");
  cmd->add_option("--l2-grid", o->l2Grid, "L2 coefficients to cross-validate");
  cmd->add_option("--l1-grid", o->l1Grid, "L1 coefficients to cross-validate");
  // Checkpoints and output.
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Save params and optimizer state here after every epoch (atomically)");
  cmd->add_flag("--resume", o->resume, "Continue from the --checkpoint file");
  cmd->add_option("--init-from", o->initFrom,
                  "Start from the params of a checkpoint or .npz archive instead of the "
                  "initializers (every param of the model, each of its type)");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an existing --checkpoint file");
  cmd->add_option("--curves", o->curves, "Write per-epoch losses and accuracies to a CSV file");
  cmd->add_option("--plot", o->plot, "Draw the loss curves into an SVG file");
  cmd->add_option("--backend", o->backend, "jit (default: compiled native code) or interp (the reference interpreter)")
      ->check(CLI::IsMember({"interp", "jit"}));
  addAllocLimitOption(cmd, o->allocLimit);
  // Data-parallel training (docs/distributed.md).
  cmd->add_flag("--distributed", o->distributed,
                "Train data-parallel over MPI (implied when mpirun starts more than one rank)");
  cmd->add_flag("--check-replicas", o->checkReplicas,
                "Debug: after every epoch check that all ranks hold the same params");
  cmd->footer("\nExamples:\n"
              "  chainjit train examples/digits_mlp.cj --data examples/data/digits.csv.gz "
              "--scale 0.0625 --epochs 30\n"
              "  chainjit train examples/digits_mlp.cj --data examples/data/digits.csv.gz "
              "--scale 0.0625 --kfold 5 --lr-grid 0.01,0.1 --l2-grid 0,0.001\n"
              "  chainjit train examples/fashion_mlp.cj "
              "--idx-images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ...\n"
              "  mpirun -np 4 chainjit train ...   (data-parallel, docs/distributed.md)\n"
              "See docs/training.md.");
  return {cmd, [o] { return runTrainOnRanks(*o); }};
}

} // namespace chainjit::cli
