// Indices read from the data, checked against the ops that read them
// (IndexedInputs.h).
#include "chainjit/runtime/train/IndexedInputs.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/IndexBounds.h"

#include <algorithm>

namespace chainjit::runtime::train {

std::vector<IndexRange> indexRangesOf(const ir::Graph &g, const std::string &name) {
  std::vector<IndexRange> out;
  std::optional<ir::NodeId> in = g.find(name);
  if (!in)
    return out;
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(g.size()); ++id)
    if (std::optional<ir::IndexBounds> b = ir::indexBounds(g, id);
        b && g.node(id).operands[b->operand] == *in)
      out.push_back({b->bound, std::string(ir::opName(g.node(id).kind)) + " " +
                                   g.node(id).label(id) + " (" + b->range + ")"});
  return out;
}

void throwOutOfRange(const IndexRange &r, double v, const ir::Shape &shape, int64_t flat,
                     bool rowsAreSamples, const std::string &source) {
  std::string where = "entry " + ir::positionText(shape, flat);
  if (rowsAreSamples && !shape.empty()) {
    int64_t per = std::max<int64_t>(ir::numElements(shape) / std::max<int64_t>(shape[0], 1), 1);
    where = "sample " + std::to_string(flat / per + 1) + ": " + where;
  }
  throw Error(where + " is " + std::to_string(static_cast<int64_t>(v)) + ", outside [0, " +
                  std::to_string(r.bound) + ") for " + r.what,
              SourceLoc{source});
}

void checkIndices(const ir::Tensor &t, const std::vector<IndexRange> &ranges,
                  const std::string &source, bool rowsAreSamples) {
  for (const IndexRange &r : ranges)
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = t.at(i);
      if (!(v >= 0 && v < static_cast<double>(r.bound)))
        throwOutOfRange(r, v, t.shape(), i, rowsAreSamples, source);
    }
}

std::map<std::string, std::vector<IndexRange>> indexLimitsOf(const ir::Graph &g,
                                                            const std::string &except) {
  std::map<std::string, std::vector<IndexRange>> out;
  for (ir::NodeId id : g.inputs()) {
    const std::string &name = g.node(id).name;
    if (name == except)
      continue;
    std::vector<IndexRange> r = indexRangesOf(g, name);
    if (!r.empty())
      out[name] = std::move(r);
  }
  return out;
}

} // namespace chainjit::runtime::train
