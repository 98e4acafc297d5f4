// Internal to the simplification passes (fold-constants, simplify, cse): the
// two things they share.
//
// Replacing a node. A pass that rebuilds a graph maps each source node either
// to a copy of itself or to another value of the new graph. Names are the
// graph's interface (callers look up "grad.x", the text form shows "%h"), so a
// replaced node never loses its name:
//   - an unnamed node is simply mapped;
//   - a named node whose replacement is unnamed gives the replacement its name;
//   - a named node whose replacement already has a name: an output or the
//     value of an update becomes an alias, reshape(replacement) to the same
//     shape (a copy, as `fresh` in the derivative transforms makes), so that
//     both names stay; an intermediate value's name goes, as the names of
//     dead code do.
// The simplify pass makes every other user of an alias use the aliased value,
// so aliases never hide a value from the identities or from cse.
//
// Splats. A value is a known splat when every element is the same: a const
// whose elements are bitwise equal, or a reshape, transpose or broadcast_to of
// a known splat. Identities (x * 1, x + 0) and folding look through them.
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Rebuild.h"

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace chainjit::compiler::simplify {

// Folded results above these sizes stay ops: a dense result is computed
// element by element and stored in the graph; a splat is one value, but
// still stored densely.
constexpr int64_t kMaxFoldedElements = 4096;
constexpr int64_t kMaxFoldedSplatElements = int64_t{1} << 20;

// Maps source node `srcId` to node `newId` of rb.out() under the naming rule
// above. The types must be equal (an internal error otherwise). Returns the
// id the source node now maps to.
ir::NodeId replaceNode(ir::GraphRebuilder &rb, ir::NodeId srcId, ir::NodeId newId);

// Whether `id` is an output of g or the new value of one of its updates.
bool isInterfaceValue(const ir::Graph &g, ir::NodeId id);
// Whether `id` is reshape(x) to x's own type: a copy, an alias of x.
bool isAlias(const ir::Graph &g, ir::NodeId id);

// The element of a known splat (as a double, exact for every dtype), or
// nullopt. Tensors with no elements are not splats.
std::optional<double> splatValue(const ir::Graph &g, ir::NodeId id);

// splatValue over the graph a pass is building, remembered per node (nodes
// do not change once added, and a large splat takes a scan to recognize).
class SplatQuery {
public:
  explicit SplatQuery(const ir::Graph &g) : g_(g) {}
  std::optional<double> operator()(ir::NodeId id) {
    auto it = memo_.find(id);
    if (it == memo_.end())
      it = memo_.emplace(id, splatValue(g_, id)).first;
    return it->second;
  }

private:
  const ir::Graph &g_;
  std::unordered_map<ir::NodeId, std::optional<double>> memo_;
};

// Adds a const of `type` with every element `value` (through Tensor::set),
// or, for more than kMaxFoldedSplatElements elements, broadcast_to of a
// scalar const.
ir::NodeId addSplat(ir::Graph &g, const ir::TensorType &type, double value);

} // namespace chainjit::compiler::simplify
