// Trained weights for use outside training: the params of a model by name,
// and the data preparation the training run applied to the features, read
// from a training checkpoint (Checkpoint.h) or a NumPy .npz archive (Npz.h)
// and written as an .npz archive.
//
// In a checkpoint, param `NAME` is the tensor `param.NAME` (the velocities
// an in-graph momentum adds, `param.train.*`, are optimizer state, not
// weights) and the data preparation is `data.scale` (f64[]), or `data.mean`
// and `data.std` (f64[D]). In an .npz archive param `NAME` is member
// NAME.npy and the data preparation is `__data_scale__`, or `__data_mean__`
// and `__data_std__`; names that start and end with "__" are reserved.
// numpy.load reads such an archive as it is.
#pragma once

#include "chainjit/runtime/Checkpoint.h" // TensorMap
#include "chainjit/runtime/Dataset.h"    // FeatureStats
#include "chainjit/runtime/Interpreter.h" // Bindings

#include "chainjit/ir/Graph.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::runtime {

// What was done to the features before the model saw them: nothing, a
// factor (`train --scale`), or standardization with the training set's
// per-feature mean and std (`train --standardize`).
struct DataPreparation {
  std::optional<double> scale;
  std::optional<FeatureStats> standardize;

  bool empty() const { return !scale && !standardize; }
  // "none", "scale 0.0625" or "standardize (64 features)".
  std::string describe() const;
  // Applies it to float features [N, D] (or [N, ...], flattened per row);
  // standardization needs D features, else the error names `what`.
  void apply(ir::Tensor &features, const std::string &what) const;
};

struct Weights {
  TensorMap params;                 // model params by name
  DataPreparation preparation;
  bool fromCheckpoint = false;
  TensorMap trainingState;          // a checkpoint's other tensors (train.*, optimizer.*, history.*)
};

// Reads a checkpoint or an .npz archive, told apart by their first bytes.
// Errors name the file and the problem (no params, bad preparation data).
Weights loadWeights(const std::string &path);

// The values of the params of `g` from `params` (e.g. Weights::params),
// converted to the declared dtype (TensorIO.h's convertDType). Every param
// of `g` not named in `skip` must be there with its declared shape; the
// error lists every missing param and every shape that differs, located in
// `file`. Names in `params` that `g` lacks are not looked at (a pruned
// graph needs fewer params than the model file has).
Bindings bindParams(const ir::Graph &g, const TensorMap &params, const std::string &file,
                    const std::vector<std::string> &skip = {});

// CRC-32 (zlib's) of a tensor's element bytes: to compare weights across
// files at a glance (`chainjit params inspect`).
uint32_t elementsChecksum(const ir::Tensor &t);

// The tensors under which a checkpoint stores `prep` (data.scale, ...).
TensorMap preparationCheckpointTensors(const DataPreparation &prep);

// Writes params and data preparation as an .npz archive (atomically). A
// param name that is reserved ("__...__") is an error.
void saveWeightsNpz(const std::string &path, const Weights &weights);

} // namespace chainjit::runtime
