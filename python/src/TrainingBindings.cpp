// Training from Python: data sets from arrays or files (runtime/Dataset.h),
// TrainConfig with the options of `chainjit train` (runtime/train/Trainer.h),
// a Trainer whose fit() returns the history and calls back per epoch, and
// the trained weights as NumPy .npz (runtime/Weights.h).
#include "Bindings.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/CrossValidation.h"
#include "chainjit/runtime/train/Trainer.h"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>

namespace chainjit::python {

namespace {

using runtime::Dataset;
using runtime::train::TrainConfig;

Dataset datasetFromArrays(const py::object &features, const py::object &labels) {
  Dataset d;
  d.features = tensorFromArray(features, "features");
  if (!ir::isFloat(d.features.dtype()) || d.features.shape().size() != 2)
    throw Error("features: expected a float32 or float64 array [N, D], got " +
                d.features.type().str());
  ir::Tensor l = tensorFromArray(labels, "labels");
  if (l.dtype() != ir::DType::i32 || l.shape() != ir::Shape{d.features.shape()[0]})
    throw Error("labels: expected integer class labels [" +
                std::to_string(d.features.shape()[0]) + "], got " + l.type().str());
  d.labels = std::move(l);
  return d;
}

Dataset toDataset(const py::object &data) {
  if (py::isinstance<Dataset>(data))
    return data.cast<Dataset>();
  // {input name: array}: named inputs, the samples along the leading axis.
  if (py::isinstance<py::dict>(data)) {
    Dataset d;
    for (auto item : data.cast<py::dict>()) {
      std::string name = py::str(item.first);
      d.inputs[name] = tensorFromArray(py::reinterpret_borrow<py::object>(item.second), name);
    }
    return d;
  }
  py::tuple t = data.cast<py::tuple>();
  if (t.size() != 2)
    throw Error("data: expected a chainjit.Dataset or a tuple (features, labels)");
  return datasetFromArrays(t[0], t[1]);
}

py::object metrics(const runtime::train::Metrics &m) {
  py::dict d;
  d["loss"] = m.loss;
  d["accuracy"] = std::isnan(m.accuracy) ? py::object(py::none()) : py::cast(m.accuracy);
  // The regression and sequence metrics, where they apply.
  if (!std::isnan(m.mse))
    d["mse"] = m.mse;
  if (!std::isnan(m.perplexity))
    d["perplexity"] = m.perplexity;
  return d;
}

py::dict epochDict(const runtime::train::EpochMetrics &e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["loss"] = e.train.loss;
  d["accuracy"] = std::isnan(e.train.accuracy) ? py::object(py::none()) : py::cast(e.train.accuracy);
  if (!std::isnan(e.train.mse))
    d["mse"] = e.train.mse;
  if (!std::isnan(e.train.perplexity))
    d["perplexity"] = e.train.perplexity;
  if (e.validation) {
    d["val_loss"] = e.validation->loss;
    d["val_accuracy"] = std::isnan(e.validation->accuracy) ? py::object(py::none())
                                                           : py::cast(e.validation->accuracy);
    if (!std::isnan(e.validation->mse))
      d["val_mse"] = e.validation->mse;
    if (!std::isnan(e.validation->perplexity))
      d["val_perplexity"] = e.validation->perplexity;
  }
  d["seconds"] = e.seconds;
  return d;
}

// Calls the Python callback after each epoch with the metrics as a dict; a
// callback that returns False stops the run (as TrainConfig::stopRequested
// does), one that raises stops it and the exception reaches fit()'s caller.
class CallbackObserver : public runtime::train::TrainObserver {
public:
  CallbackObserver(py::object onEpoch, std::atomic<bool> &stop) : onEpoch_(std::move(onEpoch)), stop_(stop) {}
  void onEpoch(const runtime::train::EpochMetrics &e, int64_t epochs) override {
    if (onEpoch_.is_none() || error_)
      return;
    py::gil_scoped_acquire gil;
    try {
      py::object r = onEpoch_(epochDict(e));
      if (py::isinstance<py::bool_>(r) && !r.cast<bool>())
        stop_ = true;
    } catch (py::error_already_set &) {
      error_ = std::current_exception();
      stop_ = true;
    }
  }
  // Ctrl-C (Python's SIGINT handler) stops the run after the current step,
  // with a checkpoint when one is configured, and fit() raises
  // KeyboardInterrupt.
  void onStep(const runtime::train::StepProgress &) override {
    if (error_)
      return;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      try {
        throw py::error_already_set();
      } catch (py::error_already_set &) {
        error_ = std::current_exception();
        stop_ = true;
      }
    }
  }
  std::exception_ptr error_;

private:
  py::object onEpoch_;
  std::atomic<bool> &stop_;
};

struct PyTrainer {
  std::unique_ptr<std::atomic<bool>> stop = std::make_unique<std::atomic<bool>>(false);
  std::unique_ptr<runtime::train::Trainer> trainer;

  PyTrainer(const ir::Graph &model, TrainConfig config) {
    config.stopRequested = stop.get();
    trainer = std::make_unique<runtime::train::Trainer>(model, std::move(config));
  }

  py::list fit(const py::object &train, const py::object &validation, const py::object &onEpoch) {
    Dataset tr = toDataset(train);
    std::optional<Dataset> va;
    if (!validation.is_none())
      va = toDataset(validation);
    *stop = false;
    CallbackObserver observer(onEpoch, *stop);
    runtime::train::History h;
    {
      py::gil_scoped_release release;
      h = trainer->fit(tr, va ? &*va : nullptr, &observer);
    }
    if (observer.error_)
      std::rethrow_exception(observer.error_);
    py::list r;
    for (const auto &e : h.epochs)
      r.append(epochDict(e));
    return r;
  }

  py::object evaluate(const py::object &data) {
    Dataset d = toDataset(data);
    runtime::train::Metrics m;
    {
      py::gil_scoped_release release;
      m = trainer->evaluate(d);
    }
    return metrics(m);
  }

  py::dict params() const {
    py::dict d;
    for (const auto &[n, t] : trainer->modelParams())
      d[py::str(n)] = arrayFromTensor(t);
    return d;
  }

  void saveWeights(const std::string &path) const {
    runtime::Weights w;
    for (auto &[n, t] : trainer->modelParams())
      w.params[n] = t;
    w.preparation = trainer->config().preparation;
    runtime::saveWeightsNpz(path, w);
  }
};

// K-fold cross-validation over a grid (runtime::train::crossValidate): the
// table as data and as the text `chainjit train --kfold` prints.
py::dict crossValidate(const ir::Graph &model, const TrainConfig &config, const py::object &data,
                       int64_t folds, std::vector<double> lrGrid, std::vector<double> l2Grid,
                       std::vector<double> l1Grid) {
  Dataset d = toDataset(data);
  runtime::train::CvConfig cv;
  cv.folds = folds;
  cv.lrGrid = std::move(lrGrid);
  cv.l2Grid = std::move(l2Grid);
  cv.l1Grid = std::move(l1Grid);
  runtime::train::CvResult r;
  {
    py::gil_scoped_release release;
    r = runtime::train::crossValidate(model, config, d, cv);
  }
  py::list rows;
  for (const runtime::train::CvRow &row : r.rows) {
    py::dict item;
    item["lr"] = row.setting.lr;
    item["l2"] = row.setting.l2;
    item["l1"] = row.setting.l1;
    py::list perFold;
    for (const auto &m : row.folds)
      perFold.append(metrics(m));
    item["folds"] = perFold;
    item["mean"] = metrics(row.mean);
    item["std"] = metrics(row.std);
    rows.append(item);
  }
  py::dict result;
  result["rows"] = rows;
  result["best"] = r.best;
  result["table"] = runtime::train::formatCvTable(r);
  return result;
}

template <typename T, typename Get, typename Set>
void property(py::class_<T> &c, const char *name, Get get, Set set, const char *doc) {
  c.def_property(name, get, set, doc);
}

} // namespace

void bindTraining(py::module_ &m) {
  py::class_<Dataset>(m, "Dataset", "Features [N, D] (float) and class labels [N] (i32).")
      .def(py::init(&datasetFromArrays), py::arg("features"), py::arg("labels"))
      .def_property_readonly("features", [](const Dataset &d) { return arrayFromTensor(d.features); })
      .def_property_readonly("labels", [](const Dataset &d) { return arrayFromTensor(d.labels); })
      .def("__len__", &Dataset::size)
      .def_property_readonly("num_features", &Dataset::numFeatures)
      .def("scale", [](Dataset &d, double f) { runtime::scale(d, f); }, py::arg("factor"),
           "Multiplies every feature in place.")
      .def("standardize",
           [](Dataset &d) {
             runtime::FeatureStats s = runtime::standardize(d);
             return py::make_tuple(s.mean, s.std);
           },
           "Standardizes in place; returns (mean, std) per feature.")
      .def("split",
           [](const Dataset &d, double testFraction, uint64_t seed) {
             runtime::TrainTestSplit s = runtime::trainTestSplit(d, testFraction, seed);
             return py::make_tuple(s.train, s.test);
           },
           py::arg("test_fraction"), py::arg("seed") = 0,
           "(train, test) after a seeded shuffle (runtime::trainTestSplit).");
  m.def("load_csv_dataset",
        [](const std::string &path, int labelColumn, const py::object &dtype) {
          runtime::CsvDatasetOptions o;
          o.labelColumn = labelColumn;
          o.dtype = toDType(dtype);
          return runtime::loadCsvDataset(path, o);
        },
        py::arg("path"), py::arg("label_column") = -1, py::arg("dtype") = "f32");
  m.def("load_idx_dataset",
        [](const std::string &images, const std::string &labels, const py::object &dtype) {
          return runtime::loadIdxDataset(images, labels, toDType(dtype));
        },
        py::arg("images"), py::arg("labels"), py::arg("dtype") = "f32");

  using namespace runtime::train;
  py::class_<TrainConfig> c(m, "TrainConfig",
                            "The settings of a training run (runtime::train::TrainConfig); "
                            "keyword arguments set the fields of the same names.");
  c.def(py::init([](const py::kwargs &kw) {
    auto cfg = std::make_unique<TrainConfig>();
    py::object self = py::cast(cfg.get(), py::return_value_policy::reference);
    for (auto [k, v] : kw) {
      std::string name = k.cast<std::string>();
      if (!py::hasattr(self, name.c_str()))
        throw Error("TrainConfig has no setting '" + name + "'");
      self.attr(name.c_str()) = v;
    }
    return cfg;
  }));
  property(c, "optimizer",
           [](const TrainConfig &t) { return std::string(optimizerKindName(t.optimizer.kind)); },
           [](TrainConfig &t, const std::string &s) { t.optimizer.kind = parseOptimizerKind(s); },
           "gd, sgd, momentum, nesterov, adam or newton");
  property(c, "lr", [](const TrainConfig &t) { return t.optimizer.stepSize.base; },
           [](TrainConfig &t, double v) { t.optimizer.stepSize.base = v; }, "the step size c");
  property(c, "schedule",
           [](const TrainConfig &t) { return std::string(scheduleName(t.optimizer.stepSize.schedule)); },
           [](TrainConfig &t, const std::string &s) { t.optimizer.stepSize.schedule = parseSchedule(s); },
           "const, inv, invsqrt or step");
  property(c, "decay_every", [](const TrainConfig &t) { return t.optimizer.stepSize.decayEvery; },
           [](TrainConfig &t, int64_t v) { t.optimizer.stepSize.decayEvery = v; }, "step schedule: epochs per decay");
  property(c, "decay_factor", [](const TrainConfig &t) { return t.optimizer.stepSize.decayFactor; },
           [](TrainConfig &t, double v) { t.optimizer.stepSize.decayFactor = v; }, "step schedule: factor per decay");
  property(c, "line_search",
           [](const TrainConfig &t) { return std::string(lineSearchName(t.optimizer.stepSize.lineSearch)); },
           [](TrainConfig &t, const std::string &s) { t.optimizer.stepSize.lineSearch = parseLineSearch(s); },
           "none, backtracking or exact");
  property(c, "inverse_lipschitz", [](const TrainConfig &t) { return t.optimizer.stepSize.inverseLipschitz; },
           [](TrainConfig &t, bool v) { t.optimizer.stepSize.inverseLipschitz = v; }, "step size 1/M");
  property(c, "momentum", [](const TrainConfig &t) { return t.optimizer.momentum; },
           [](TrainConfig &t, double v) { t.optimizer.momentum = v; }, "momentum's beta");
  property(c, "nesterov_beta", [](const TrainConfig &t) { return t.optimizer.nesterovBeta; },
           [](TrainConfig &t, std::optional<double> v) { t.optimizer.nesterovBeta = v; },
           "a constant beta for nesterov (None: (k-1)/(k+2))");
  property(c, "adam_beta1", [](const TrainConfig &t) { return t.optimizer.adamBeta1; },
           [](TrainConfig &t, double v) { t.optimizer.adamBeta1 = v; }, "Adam's beta1");
  property(c, "adam_beta2", [](const TrainConfig &t) { return t.optimizer.adamBeta2; },
           [](TrainConfig &t, double v) { t.optimizer.adamBeta2 = v; }, "Adam's beta2");
  property(c, "adam_epsilon", [](const TrainConfig &t) { return t.optimizer.adamEpsilon; },
           [](TrainConfig &t, double v) { t.optimizer.adamEpsilon = v; }, "Adam's epsilon");
  property(c, "newton_damping", [](const TrainConfig &t) { return t.optimizer.newtonDamping; },
           [](TrainConfig &t, double v) { t.optimizer.newtonDamping = v; }, "Newton's initial damping");
  property(c, "l1", [](const TrainConfig &t) { return t.regularization.l1; },
           [](TrainConfig &t, double v) { t.regularization.l1 = v; }, "L1 coefficient of every param");
  property(c, "l2", [](const TrainConfig &t) { return t.regularization.l2; },
           [](TrainConfig &t, double v) { t.regularization.l2 = v; }, "L2 coefficient of every param");
  property(c, "l1_per_param", [](const TrainConfig &t) { return t.regularization.l1PerParam; },
           [](TrainConfig &t, std::map<std::string, double> v) { t.regularization.l1PerParam = std::move(v); },
           "L1 coefficients by param name");
  property(c, "l2_per_param", [](const TrainConfig &t) { return t.regularization.l2PerParam; },
           [](TrainConfig &t, std::map<std::string, double> v) { t.regularization.l2PerParam = std::move(v); },
           "L2 coefficients by param name");
  property(c, "sampling", [](const TrainConfig &t) { return std::string(samplingName(t.sampling)); },
           [](TrainConfig &t, const std::string &s) { t.sampling = parseSampling(s); },
           "full, minibatch, sgd or epoch");
  property(c, "batch", [](const TrainConfig &t) { return t.batch; },
           [](TrainConfig &t, int64_t v) { t.batch = v; }, "batch size");
  property(c, "epochs", [](const TrainConfig &t) { return t.epochs; },
           [](TrainConfig &t, int64_t v) { t.epochs = v; }, "epochs in all");
  property(c, "seed", [](const TrainConfig &t) { return t.seed; },
           [](TrainConfig &t, uint64_t v) { t.seed = v; }, "the batches drawn");
  property(c, "dropout", [](const TrainConfig &t) { return t.dropout; },
           [](TrainConfig &t, std::optional<double> v) { t.dropout = v; }, "every dropout's rate");
  property(c, "backend",
           [](const TrainConfig &t) { return std::string(t.backend == runtime::Backend::Jit ? "jit" : "interp"); },
           [](TrainConfig &t, const std::string &s) { t.backend = runtime::parseBackend(s); }, "jit or interp");
  property(c, "memory_limit", [](const TrainConfig &t) { return t.memoryLimit; },
           [](TrainConfig &t, std::optional<double> v) { t.memoryLimit = v; },
           "bytes the gradient's forward values may take (recomputing the rest); None: the whole tape");
  property(c, "flush_denormals", [](const TrainConfig &t) { return t.flushDenormals; },
           [](TrainConfig &t, bool v) { t.flushDenormals = v; },
           "flush subnormal floats to zero while training (default True; False is slower)");
  property(
      c, "profile_steps", [](const TrainConfig &t) { return t.profileSteps; },
      [](TrainConfig &t, bool v) { t.profileSteps = v; },
      "time every kernel of the compiled training step (the jit backend); "
      "Trainer.step_profiles() reads the times");
  property(c, "eval_batch", [](const TrainConfig &t) { return t.evalBatch; },
           [](TrainConfig &t, int64_t v) { t.evalBatch = v; }, "evaluation batch size");
  property(c, "checkpoint", [](const TrainConfig &t) { return t.checkpointPath; },
           [](TrainConfig &t, std::string v) { t.checkpointPath = std::move(v); },
           "a checkpoint written after every epoch ('' for none)");
  property(c, "resume", [](const TrainConfig &t) { return t.resume; },
           [](TrainConfig &t, bool v) { t.resume = v; }, "continue from the checkpoint");
  property(c, "overwrite", [](const TrainConfig &t) { return t.overwrite; },
           [](TrainConfig &t, bool v) { t.overwrite = v; }, "replace an existing checkpoint");
  property(c, "data_scale", [](const TrainConfig &t) { return t.preparation.scale; },
           [](TrainConfig &t, std::optional<double> v) { t.preparation.scale = v; },
           "the feature scale recorded in checkpoints and weights (data preparation)");
  property(c, "data_standardize",
           [](const TrainConfig &t) -> py::object {
             if (!t.preparation.standardize)
               return py::none();
             return py::make_tuple(t.preparation.standardize->mean, t.preparation.standardize->std);
           },
           [](TrainConfig &t, const py::object &v) {
             if (v.is_none()) {
               t.preparation.standardize.reset();
               return;
             }
             auto [mean, std] = v.cast<std::pair<std::vector<double>, std::vector<double>>>();
             t.preparation.standardize = runtime::FeatureStats{std::move(mean), std::move(std)};
           },
           "(mean, std) per feature (Dataset.standardize's result) recorded in checkpoints and "
           "weights (data preparation)");
  property(c, "initial_params",
           [](const TrainConfig &t) {
             py::dict d;
             for (const auto &[n, v] : t.initialParams)
               d[py::str(n)] = arrayFromTensor(v);
             return d;
           },
           [](TrainConfig &t, const py::dict &d) {
             t.initialParams.clear();
             for (auto [k, v] : d)
               t.initialParams[k.cast<std::string>()] = tensorFromArray(v, "initial param %" + k.cast<std::string>());
           },
           "start from these params instead of the initializers");
  c.def("validate", &TrainConfig::validate);

  m.def("cross_validate", &crossValidate, py::arg("model"), py::arg("config"), py::arg("data"),
        py::arg("folds") = 5, py::arg("lr_grid") = std::vector<double>{},
        py::arg("l2_grid") = std::vector<double>{}, py::arg("l1_grid") = std::vector<double>{},
        "K-fold cross-validation over a grid of lr, l2 and l1 (an empty grid: the config's "
        "value); returns rows (setting, per-fold, mean and std metrics), best (a row index) "
        "and the text table.");

  py::class_<PyTrainer>(m, "Trainer", "Trains a model graph (runtime::train::Trainer).")
      .def(py::init([](const ir::Graph &model, const TrainConfig &config) {
             return std::make_unique<PyTrainer>(model, config);
           }),
           py::arg("model"), py::arg("config"))
      .def("fit", &PyTrainer::fit, py::arg("train"), py::arg("validation") = py::none(),
           py::arg("on_epoch") = py::none(),
           "Trains; returns one dict per epoch (epoch, loss, accuracy, val_loss, "
           "val_accuracy, seconds). on_epoch(dict) is called after each; returning False "
           "stops the run.")
      .def("evaluate", &PyTrainer::evaluate, py::arg("data"), "Eval-mode loss and accuracy.")
      .def(
          "step_profiles",
          [](const PyTrainer &t) {
            py::list r;
            for (const auto &[batch, p] : t.trainer->stepProfiles())
              r.append(profileDict(batch, p));
            return r;
          },
          "With TrainConfig.profile_steps: per batch size a dict (batch, calls, seconds, "
          "kernels: a dict per kernel of the step's plan with its calls and seconds, table: "
          "the text `chainjit train --profile` prints); an empty list otherwise.")
      .def("params", &PyTrainer::params, "The model's params (copies).")
      .def("save_weights", &PyTrainer::saveWeights, py::arg("path"),
           "Writes the params (and data preparation) as a NumPy .npz archive.")
      .def_property_readonly("signature", [](const PyTrainer &t) {
        const auto &s = t.trainer->signature();
        py::dict d;
        d["features"] = s.features;
        d["labels"] = s.labels;
        d["counter"] = s.counter;
        d["loss"] = s.loss;
        d["prediction"] = s.prediction;
        d["batch"] = s.batch;
        d["classes"] = s.classes;
        d["trainable"] = s.trainable;
        d["state"] = s.state;
        return d;
      });
}

} // namespace chainjit::python
