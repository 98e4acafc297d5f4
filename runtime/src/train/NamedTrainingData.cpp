// Training data from .npy files by model input name (TrainData.h): row-wise
// data batched along the leading axis, or one whole graph with node masks.
// Every file is checked as it is read, so a bad one is named with the
// position of the problem before any split or step.
#include "chainjit/runtime/train/TrainData.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/IndexBounds.h"
#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/TensorIO.h"

#include <cmath>
#include <numeric>
#include <set>

namespace chainjit::runtime::train {

namespace {

// NaN and infinite entries of a file read whole are errors naming the
// file, the sample and the index.
void checkFiniteWhole(const ir::Tensor &t, const std::string &path, bool wholeGraph) {
  if (!ir::isFloat(t.dtype()))
    return;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.at(i);
    if (std::isfinite(v))
      continue;
    int64_t per = t.numel() / std::max<int64_t>(t.shape()[0], 1);
    throw Error((wholeGraph ? std::string() : "sample " + std::to_string(i / per + 1) + ": ") +
                    "entry " + ir::positionText(t.shape(), i) + " is " +
                    (std::isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf") +
                    " (training data must be finite numbers)",
                SourceLoc{path});
  }
}

// Reads every file; row-wise, all leading axes must agree. NaN and
// infinite entries are errors naming the file, the sample and the index.
// With `onDemand` (data-parallel ranks), row-wise inputs of rank >= 2 in
// uncompressed .npy files stay there (RowReader.h); their NaN check comes
// with each batch read.
Dataset readNamed(const DataSpec::NamedFiles &files, bool wholeGraph, const char *what,
                  const DataSpec::IndexLimits &limits, bool onDemand = false) {
  Dataset d;
  d.wholeGraph = wholeGraph;
  std::string first; // "x=train_x.npy", the file the others are compared with
  int64_t rows = -1;  // its leading axis
  if (onDemand && !wholeGraph) {
    std::set<std::string> names;
    for (const auto &entry : files)
      if (!names.insert(entry.first).second)
        throw Error(std::string(what) + " data names input '" + entry.first + "' twice");
    d = openNpyDatasetRows(files);
    for (const auto &[name, path] : files) // what it read whole is checked now
      if (!d.featureRows || !d.featureRows->inputs.count(name))
        checkFiniteWhole(d.inputs.at(name), path, false);
    return d;
  }
  for (const auto &[name, path] : files) {
    if (d.inputs.count(name))
      throw Error(std::string(what) + " data names input '" + name + "' twice");
    ir::Tensor t = readNpy(path);
    if (t.shape().empty())
      throw Error("holds a scalar; a data input has at least one axis", SourceLoc{path});
    checkFiniteWhole(t, path, wholeGraph);
    if (auto it = limits.find(name); it != limits.end()) // token ids, column indices
      checkIndices(t, it->second, path, !wholeGraph);
    if (!wholeGraph && rows >= 0 && t.shape()[0] != rows)
      throw Error("has " + std::to_string(t.shape()[0]) + " samples along its leading axis (" +
                      t.type().str() + "), but " + first + " has " + std::to_string(rows) +
                      " (the inputs of row-wise data are batched together)",
                  SourceLoc{path});
    if (first.empty()) {
      first = name + "=" + path;
      rows = t.shape()[0];
    }
    d.sources[name] = path;
    d.inputs[name] = std::move(t);
  }
  return d;
}

Dataset firstRows(const Dataset &d, int64_t limit) {
  if (limit <= 0 || limit >= d.size())
    return d;
  std::vector<int64_t> rows(static_cast<size_t>(limit));
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return batch(d, rows);
}

} // namespace

ir::Tensor loadNodeMask(const std::string &path, int64_t nodes, const std::string &nodesFrom) {
  ir::Tensor t = readNpy(path);
  std::string count = std::to_string(nodes) + " nodes (" + nodesFrom + ")";
  if (t.shape().size() != 1)
    throw Error("a node mask is a vector, this is " + t.type().str(), SourceLoc{path});
  int64_t n = t.shape()[0];
  ir::Tensor mask(ir::boolean({nodes}));
  if (t.dtype() == ir::DType::boolean) {
    if (n != nodes)
      throw Error("the mask has " + std::to_string(n) + " entries, but the graph has " + count,
                  SourceLoc{path});
    return t;
  }
  if (t.dtype() != ir::DType::i32)
    throw Error("a node mask is bool, u8 or i32 (0/1 per node) or an i32 list of node "
                "indices, not " + std::string(ir::dtypeName(t.dtype())),
                SourceLoc{path});
  bool zeroOne = true;
  for (int64_t i = 0; i < n && zeroOne; ++i)
    zeroOne = t.at(i) == 0 || t.at(i) == 1;
  // An i32 vector of one 0 or 1 per node is a mask; anything else a list
  // of indices (a list of more than two nodes repeats one if it is all 0/1).
  if (zeroOne && n == nodes && nodes > 2) {
    for (int64_t i = 0; i < n; ++i)
      mask.set(i, t.at(i));
    return mask;
  }
  std::set<int64_t> seen;
  for (int64_t i = 0; i < n; ++i) {
    auto v = static_cast<int64_t>(t.at(i));
    if (v < 0 || v >= nodes)
      throw Error("entry " + std::to_string(i) + " is node " + std::to_string(v) +
                      ", outside [0, " + std::to_string(nodes) + ") for a graph of " + count,
                  SourceLoc{path});
    if (!seen.insert(v).second)
      throw Error("entry " + std::to_string(i) + " repeats node " + std::to_string(v) +
                      " (a list of node indices names each node once)",
                  SourceLoc{path});
    mask.set(v, 1);
  }
  return mask;
}

TrainingData loadNamedTrainingData(const DataSpec &spec) {
  TrainingData out;
  if (!spec.masks.empty()) {
    Dataset graph = readNamed(spec.npy, true, "training", spec.indexLimits);
    // The node count: the leading axis of the target (or features).
    std::string counter = spec.nodeInput;
    if (counter.empty() || !graph.inputs.count(counter))
      counter = spec.npy.front().first;
    const ir::Tensor &ref = graph.inputs.at(counter);
    int64_t nodes = ref.shape()[0];
    std::string from = "the leading axis of %" + counter + " in " + graph.sources.at(counter);
    auto split = [&](const std::string &name) {
      Dataset d = graph;
      d.nodeMask = loadNodeMask(spec.masks.at(name), nodes, from);
      d.sources["#mask"] = spec.masks.at(name);
      return d;
    };
    out.train = split("train");
    out.test = split("test");
    if (spec.masks.count("validation"))
      out.validation = split("validation");
    return out;
  }
  bool onDemand = spec.rowsOnDemand;
  Dataset all =
      firstRows(readNamed(spec.npy, false, "training", spec.indexLimits, onDemand), spec.limit);
  if (!spec.testNpy.empty()) {
    out.train = std::move(all);
    out.test =
        firstRows(readNamed(spec.testNpy, false, "test", spec.indexLimits, onDemand), spec.limit);
  } else {
    TrainTestSplit s = trainTestSplit(all, spec.testFraction, spec.seed);
    out.train = std::move(s.train);
    out.test = std::move(s.test);
  }
  if (!spec.validationNpy.empty()) {
    out.validation = firstRows(readNamed(spec.validationNpy, false, "validation", spec.indexLimits,
                                             onDemand), spec.limit);
  } else if (spec.validationFraction > 0) {
    TrainTestSplit s = trainTestSplit(out.train, spec.validationFraction, spec.seed + 1);
    out.train = std::move(s.train);
    out.validation = std::move(s.test);
  }
  if (out.train.size() == 0)
    throw Error("no training samples are left after the test and validation splits");
  return out;
}

} // namespace chainjit::runtime::train
