// Where the i32 indices of an indexing op (gather, scatter_add, one_hot)
// must lie, and the message of an index that does not: both backends check
// every index at run time and report the first bad one (in row-major order
// of the indices) with the same words, never reading or writing out of
// bounds and never giving a silent zero.
#pragma once

#include "chainjit/ir/Graph.h"

#include <optional>
#include <string>

namespace chainjit::ir {

struct IndexBounds {
  size_t operand = 0;       // which operand holds the indices
  int64_t bound = 0;        // an index must be in [0, bound)
  Shape indices;            // the indices' shape, for positions
  std::string indicesLabel; // "%ids" or "node #3"
  std::string range;        // "axis 0 of size 10", "depth 5"
};

// The bounds of node `id`, or nullopt for an op that takes no indices.
std::optional<IndexBounds> indexBounds(const Graph &g, NodeId id);

// The row-major element `flat` of an array of `shape` as one coordinate per
// axis, "[3, 1]": how errors name an element (an index, a NaN in a file).
std::string positionText(const Shape &shape, int64_t flat);

// "index 12 at position [3, 1] of %ids is out of range for axis 0 of size 10",
// for the index `value` at row-major element `flatPosition` of the indices.
std::string indexOutOfRangeMessage(const IndexBounds &b, int64_t value, int64_t flatPosition);

} // namespace chainjit::ir
