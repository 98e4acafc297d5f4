// Integer inputs that an indexing op (gather, scatter_add, one_hot) reads
// straight from the data: token ids, a graph's column indices. The backends
// check every index at run time, but name only the op and the position in
// the batch; checked where the data is read, a bad index is named with its
// file, sample and entry (the trainer's checkData, predict's chunks).
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

// A range an index read from the data must lie in: [0, bound).
struct IndexRange {
  int64_t bound = 0;
  std::string what; // "gather %emb (axis 0 of size 5)"
};

// The ranges of the ops of `g` whose index operand is input `name`.
std::vector<IndexRange> indexRangesOf(const ir::Graph &g, const std::string &name);

// The error for entry `flat` (row-major in `shape`, the whole file's) of
// value `v` outside `r`: "sample 6: entry [5, 3] is 9, outside [0, 5) for
// gather %emb (axis 0 of size 5)" ("entry ..." alone unless
// `rowsAreSamples`), located at `source`.
[[noreturn]] void throwOutOfRange(const IndexRange &r, double v, const ir::Shape &shape,
                                  int64_t flat, bool rowsAreSamples, const std::string &source);

// Throws the error above for the first entry of `t` (a whole file)
// outside any of `ranges`.
void checkIndices(const ir::Tensor &t, const std::vector<IndexRange> &ranges,
                  const std::string &source, bool rowsAreSamples);

// The ranges of every data input of `g` but `except` (the target, whose
// labels are checked against the classes): what DataSpec::indexLimits
// holds for the model.
std::map<std::string, std::vector<IndexRange>> indexLimitsOf(const ir::Graph &g,
                                                            const std::string &except);

} // namespace chainjit::runtime::train
