// Internal to compiler/src/chain: does an op keep the rows of a batch apart?
#pragma once

#include "chainjit/ir/Graph.h"

#include <vector>

namespace chainjit::compiler {

// Does node v map row b of its active operands (axis 0, of size `rows`) to
// row b of its result and nothing else? Then a segment of such nodes has a
// block-diagonal Jacobian with one block per row. (ChainExtraction.cpp)
bool rowLocal(const ir::Graph &g, ir::NodeId v, const std::vector<bool> &active, int64_t rows);

} // namespace chainjit::compiler
