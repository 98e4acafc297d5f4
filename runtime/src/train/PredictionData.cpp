// Prediction data from .npy files by model input name (Prediction.h's
// NamedRowChunks): the files read together a chunk at a time, each checked
// against the input it feeds, every value checked as it is read.
#include "chainjit/runtime/train/Prediction.h"

#include "chainjit/runtime/train/IndexedInputs.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/IndexBounds.h"
#include "chainjit/runtime/RowChunks.h"
#include "chainjit/runtime/TensorIO.h"

#include <cmath>
#include <set>

namespace chainjit::runtime::train {

namespace {

// Integers convert to floats, bools to anything; a float never to an
// integer (it would be truncated silently). As `chainjit run` converts.
bool convertible(ir::DType from, ir::DType to) {
  if (from == to || from == ir::DType::boolean)
    return true;
  if (ir::isFloat(to))
    return true;
  return false;
}

std::string trailing(const ir::TensorType &t) {
  return ir::TensorType{t.dtype, ir::Shape(t.shape.begin() + 1, t.shape.end())}.str();
}

std::string inputList(const std::map<std::string, ir::TensorType> &a,
                      const std::map<std::string, ir::TensorType> &b) {
  std::string s;
  for (const auto *m : {&a, &b})
    for (const auto &[name, type] : *m)
      s += (s.empty() ? "%" : ", %") + name;
  return s;
}

} // namespace

struct NamedRowChunks::File {
  std::string name, path;
  std::unique_ptr<RowChunkReader> reader;
  ir::TensorType want;
  std::vector<IndexRange> ranges;
};

NamedRowChunks::NamedRowChunks(const std::vector<std::pair<std::string, std::string>> &files,
                               const std::map<std::string, ir::TensorType> &inputs,
                               const std::map<std::string, ir::TensorType> &optional,
                               const ir::Graph &graph) {
  std::set<std::string> seen;
  const File *first = nullptr;
  for (const auto &[given, path] : files) {
    std::string name = !given.empty() && given[0] == '%' ? given.substr(1) : given;
    if (!seen.insert(name).second)
      throw Error("--data names input '" + name + "' twice");
    auto f = std::make_unique<File>();
    f->name = name;
    f->path = path;
    if (auto it = inputs.find(name); it != inputs.end())
      f->want = it->second;
    else if (auto jt = optional.find(name); jt != optional.end())
      f->want = jt->second;
    else
      throw Error("the data gives '" + name + "', which is no data input of the model (its "
                  "data inputs: " + inputList(inputs, optional) + ")",
                  SourceLoc{path});
    f->reader = openNpyRows(path);
    const ir::TensorType &have = f->reader->type();
    if (!convertible(have.dtype, f->want.dtype))
      throw Error("input %" + name + " is " + std::string(ir::dtypeName(have.dtype)) +
                      " in the data, but the model declares %" + name + " : " + f->want.str() +
                      " (" + std::string(ir::dtypeName(f->want.dtype)) + " is fed from " +
                      (ir::isFloat(f->want.dtype)          ? "f32, f64, i32 or bool"
                       : f->want.dtype == ir::DType::i32 ? "i32 or bool"
                                                         : "bool") +
                      ")",
                  SourceLoc{path});
    if (f->want.rank() < 1 ||
        ir::Shape(have.shape.begin() + 1, have.shape.end()) !=
            ir::Shape(f->want.shape.begin() + 1, f->want.shape.end()))
      throw Error("input %" + name + ": each sample is " + trailing(have) + ", but the model's %" +
                      name + " : " + f->want.str() + " takes " + trailing(f->want) +
                      " per sample",
                  SourceLoc{path});
    if (first && f->reader->rows() != first->reader->rows())
      throw Error("has " + std::to_string(f->reader->rows()) +
                      " samples along its leading axis (" + have.str() + "), but " +
                      first->name + "=" + first->path + " has " +
                      std::to_string(first->reader->rows()) +
                      " (the inputs are read sample by sample together)",
                  SourceLoc{path});
    // Indices that an indexing op reads straight from this input.
    f->ranges = indexRangesOf(graph, name);
    files_.push_back(std::move(f));
    first = files_.front().get();
  }
  std::string missing;
  for (const auto &[name, type] : inputs)
    if (!seen.count(name))
      missing += (missing.empty() ? "%" : ", %") + name + " : " + type.str();
  if (!missing.empty())
    throw Error("the prediction reads " + missing + ", but --data gives no file for it (--data "
                "NAME=FILE.npy,... for every input: " + inputList(inputs, {}) + ")");
  rows_ = first ? first->reader->rows() : 0;
}

NamedRowChunks::~NamedRowChunks() = default;

bool NamedRowChunks::has(const std::string &name) const {
  for (const auto &f : files_)
    if (f->name == name)
      return true;
  return false;
}

int64_t NamedRowChunks::next(int64_t maxRows, std::map<std::string, std::vector<double>> &values) {
  values.clear();
  int64_t got = 0;
  for (const auto &f : files_) {
    std::vector<double> &v = values[f->name];
    got = f->reader->next(maxRows, v);
    int64_t per = f->reader->rowElements();
    const ir::Shape &shape = f->reader->type().shape;
    for (size_t i = 0; i < v.size(); ++i) {
      int64_t flat = done_ * per + static_cast<int64_t>(i);
      auto where = [&] {
        return "sample " + std::to_string(flat / std::max<int64_t>(per, 1) + 1) + ": entry " +
               ir::positionText(shape, flat);
      };
      double x = v[i];
      if (ir::isFloat(f->want.dtype) && !std::isfinite(x))
        throw Error(where() + " is " + (std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf") +
                        " (input %" + f->name + "; prediction data must be finite numbers)",
                    SourceLoc{f->path});
      for (const IndexRange &r : f->ranges)
        if (!(x >= 0 && x < static_cast<double>(r.bound)))
          throwOutOfRange(r, x, shape, flat, true, f->path);
    }
  }
  done_ += got;
  return got;
}

bool readsWholeGraph(const ir::Graph &graph, int64_t batch) {
  for (ir::NodeId id : graph.inputs()) {
    const ir::TensorType &t = graph.type(id);
    if (t.rank() == 0 || t.shape[0] != batch)
      return true;
  }
  return false;
}

std::map<std::string, ir::Tensor>
readWholeGraphInputs(const std::vector<std::pair<std::string, std::string>> &files,
                     const std::map<std::string, ir::TensorType> &inputs,
                     const std::map<std::string, ir::TensorType> &optional,
                     const ir::Graph &graph) {
  std::map<std::string, ir::Tensor> out;
  for (const auto &[given, path] : files) {
    std::string name = !given.empty() && given[0] == '%' ? given.substr(1) : given;
    if (out.count(name))
      throw Error("--data names input '" + name + "' twice");
    ir::TensorType want;
    if (auto it = inputs.find(name); it != inputs.end())
      want = it->second;
    else if (auto jt = optional.find(name); jt != optional.end())
      want = jt->second;
    else
      throw Error("the data gives '" + name + "', which is no data input of the model (its "
                  "data inputs: " + inputList(inputs, optional) + ")",
                  SourceLoc{path});
    ir::Tensor t = readNpy(path);
    if (!convertible(t.dtype(), want.dtype))
      throw Error("input %" + name + " is " + std::string(ir::dtypeName(t.dtype())) +
                      " in the data, but the model declares %" + name + " : " + want.str(),
                  SourceLoc{path});
    if (t.shape() != want.shape)
      throw Error("input %" + name + " is " + t.type().str() + ", but the model declares %" +
                      name + " : " + want.str() + " (a whole graph is fed as it is)",
                  SourceLoc{path});
    if (ir::isFloat(want.dtype))
      for (int64_t i = 0; i < t.numel(); ++i)
        if (double x = t.at(i); !std::isfinite(x))
          throw Error("entry " + ir::positionText(t.shape(), i) + " is " +
                          (std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf") + " (input %" + name +
                          "; prediction data must be finite numbers)",
                      SourceLoc{path});
    checkIndices(t, indexRangesOf(graph, name), path, false);
    out.emplace(name, ir::Tensor(want, t.toDoubles()));
  }
  std::string missing;
  for (const auto &[name, type] : inputs)
    if (!out.count(name))
      missing += (missing.empty() ? "%" : ", %") + name + " : " + type.str();
  if (!missing.empty())
    throw Error("the prediction reads " + missing + ", but --data gives no file for it (--data "
                "NAME=FILE.npy,... for every input: " + inputList(inputs, {}) + ")");
  return out;
}

} // namespace chainjit::runtime::train
