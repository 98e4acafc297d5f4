// Weights from checkpoints and .npz archives (Weights.h).
#include "chainjit/runtime/Weights.h"

#include "FileBytes.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Npz.h"
#include "chainjit/runtime/TensorIO.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <type_traits>

namespace chainjit::runtime {

namespace {

using detail::failIn;

// Where each kind of file keeps the data preparation.
struct PreparationNames {
  const char *scale, *mean, *std;
};
constexpr PreparationNames kCheckpointNames{"data.scale", "data.mean", "data.std"};
constexpr PreparationNames kNpzNames{"__data_scale__", "__data_mean__", "__data_std__"};
constexpr std::string_view kParamPrefix = "param.";
constexpr std::string_view kOptimizerParamPrefix = "param.train.";

bool isReserved(const std::string &name) {
  return name.size() >= 4 && name.rfind("__", 0) == 0 &&
         name.compare(name.size() - 2, 2, "__") == 0;
}

std::vector<double> f64Values(const ir::Tensor &t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[static_cast<size_t>(i)] = t.at(i);
  return v;
}

// Takes the preparation tensors out of `tensors` and checks them.
DataPreparation takePreparation(TensorMap &tensors, const PreparationNames &names,
                                const std::string &file) {
  DataPreparation prep;
  auto take = [&](const char *name) -> std::optional<ir::Tensor> {
    auto it = tensors.find(name);
    if (it == tensors.end())
      return std::nullopt;
    ir::Tensor t = std::move(it->second);
    tensors.erase(it);
    if (t.dtype() != ir::DType::f64 && t.dtype() != ir::DType::f32)
      failIn(file, std::string("'") + name + "' must be a float tensor, not " + t.type().str());
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.at(i)))
        failIn(file, std::string("'") + name + "' holds a value that is not a finite number");
    return t;
  };
  std::optional<ir::Tensor> scale = take(names.scale), mean = take(names.mean),
                            std = take(names.std);
  if (scale) {
    if (scale->type().rank() != 0)
      failIn(file, std::string("'") + names.scale + "' must be a scalar, not " +
                       scale->type().str());
    prep.scale = scale->at(0);
  }
  if (mean.has_value() != std.has_value())
    failIn(file, std::string("'") + (mean ? names.mean : names.std) + "' needs '" +
                     (mean ? names.std : names.mean) + "' too (standardization needs both)");
  if (mean) {
    if (mean->type().rank() != 1 || mean->type().shape != std->type().shape)
      failIn(file, std::string("'") + names.mean + "' and '" + names.std +
                       "' must be vectors of one length, not " + mean->type().str() + " and " +
                       std->type().str());
    FeatureStats stats{f64Values(*mean), f64Values(*std)};
    for (double s : stats.std)
      if (!(s > 0))
        failIn(file, std::string("'") + names.std + "' holds a standard deviation <= 0");
    prep.standardize = std::move(stats);
  }
  if (prep.scale && prep.standardize)
    failIn(file, "the data preparation has both a scale and standardization statistics");
  return prep;
}

void addPreparation(TensorMap &out, const DataPreparation &prep, const PreparationNames &names) {
  if (prep.scale)
    out[names.scale] = ir::Tensor::scalar(ir::DType::f64, *prep.scale);
  if (prep.standardize) {
    auto vec = [](const std::vector<double> &v) {
      return ir::Tensor(ir::f64({static_cast<int64_t>(v.size())}), v);
    };
    out[names.mean] = vec(prep.standardize->mean);
    out[names.std] = vec(prep.standardize->std);
  }
}

Weights fromCheckpoint(TensorMap all, const std::string &path) {
  Weights w;
  w.fromCheckpoint = true;
  w.preparation = takePreparation(all, kCheckpointNames, path);
  for (auto &[name, value] : all) {
    bool isParam = name.rfind(kParamPrefix, 0) == 0;
    if (isParam && name.rfind(kOptimizerParamPrefix, 0) != 0)
      w.params.emplace(name.substr(kParamPrefix.size()), std::move(value));
    else if (!isParam)
      w.trainingState.emplace(name, std::move(value));
  }
  if (w.params.empty())
    failIn(path, "the checkpoint holds no params (no 'param.NAME' tensors)");
  return w;
}

Weights fromNpz(TensorMap all, const std::string &path) {
  Weights w;
  w.preparation = takePreparation(all, kNpzNames, path);
  for (auto &[name, value] : all) {
    if (isReserved(name))
      failIn(path, "member '" + name + ".npy': unknown reserved name (names like __x__ " +
                       "are kept for the data preparation)");
    w.params.emplace(name, std::move(value));
  }
  if (w.params.empty())
    failIn(path, "the archive holds no params");
  return w;
}

} // namespace

std::string DataPreparation::describe() const {
  if (scale) {
    std::ostringstream s;
    s << "scale " << *scale;
    return s.str();
  }
  if (standardize)
    return "standardize (mean and std of " + std::to_string(standardize->mean.size()) +
           " features)";
  return "none";
}

void DataPreparation::apply(ir::Tensor &features, const std::string &what) const {
  if (empty() || features.numel() == 0)
    return;
  if (!ir::isFloat(features.dtype()))
    throw Error(what + ": the data preparation needs float features, not " +
                features.type().str());
  int64_t n = features.type().rank() >= 1 ? features.type().shape[0] : 1;
  int64_t d = n > 0 ? features.numel() / n : 0;
  if (standardize && static_cast<int64_t>(standardize->mean.size()) != d)
    throw Error(what + ": the standardization statistics are for " +
                std::to_string(standardize->mean.size()) + " features, the data has " +
                std::to_string(d));
  // The functions that prepared the training data (DatasetOps.cpp).
  if (scale)
    scaleFeatures(features, *scale);
  else
    standardizeFeatures(features, *standardize);
}

Weights loadWeights(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    failIn(path, "no such file");
  if (std::filesystem::is_directory(path, ec))
    failIn(path, "is a directory, not a weights file");
  std::string bytes = detail::readFileBytes(path);
  if (bytes.rfind("CJCKPT", 0) == 0)
    return fromCheckpoint(parseCheckpoint(bytes, path), path);
  if (bytes.rfind("PK", 0) == 0)
    return fromNpz(parseNpz(bytes, path), path);
  failIn(path, "neither a chainjit checkpoint nor an .npz archive (the file starts with " +
                   std::string(bytes.empty() ? "nothing" : "other bytes") + ")");
}

Bindings bindParams(const ir::Graph &g, const TensorMap &params, const std::string &file,
                    const std::vector<std::string> &skip) {
  Bindings out;
  std::vector<Diagnostic> problems;
  std::string missing;
  int64_t missingCount = 0;
  for (ir::NodeId id : g.params()) {
    const ir::Node &n = g.node(id);
    if (std::find(skip.begin(), skip.end(), n.name) != skip.end())
      continue;
    auto it = params.find(n.name);
    if (it == params.end()) {
      missing += (missing.empty() ? "%" : ", %") + n.name + " : " + n.type.str();
      ++missingCount;
      continue;
    }
    if (it->second.shape() != n.type.shape) {
      problems.push_back({SourceLoc{file}, "param %" + n.name + " is " + it->second.type().str() +
                                               " here, but graph '" + g.name() + "' declares " +
                                               n.type.str()});
      continue;
    }
    out[n.name] = convertDType(it->second, n.type.dtype, "param %" + n.name);
  }
  if (missingCount > 0)
    problems.insert(problems.begin(),
                    {SourceLoc{file}, "lacks " + std::to_string(missingCount) +
                                          " param(s) of graph '" + g.name() + "': " + missing});
  if (!problems.empty())
    throw Error(problems);
  return out;
}

uint32_t elementsChecksum(const ir::Tensor &t) {
  return static_cast<uint32_t>(
      crc32_z(0L, static_cast<const Bytef *>(t.data()), t.byteSize()));
}

TensorMap preparationCheckpointTensors(const DataPreparation &prep) {
  TensorMap out;
  addPreparation(out, prep, kCheckpointNames);
  return out;
}

void saveWeightsNpz(const std::string &path, const Weights &weights) {
  TensorMap out;
  for (const auto &[name, value] : weights.params) {
    if (isReserved(name))
      failIn(path, "param '" + name + "' has a reserved name (__x__)");
    out.emplace(name, value);
  }
  addPreparation(out, weights.preparation, kNpzNames);
  saveNpz(path, out);
}

} // namespace chainjit::runtime
