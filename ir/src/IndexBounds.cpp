// The run-time bounds of the indexing ops' indices and their error message,
// shared by the interpreter and the JIT so that both say the same.
#include "chainjit/ir/IndexBounds.h"

namespace chainjit::ir {

std::optional<IndexBounds> indexBounds(const Graph &g, NodeId id) {
  const Node &n = g.node(id);
  auto axisOf = [&](int64_t rank) {
    int64_t a = n.attrs.getInt("axis");
    return a < 0 ? a + rank : a;
  };
  IndexBounds b;
  switch (n.kind) {
  case OpKind::Gather: {
    const Shape &x = g.type(n.operands[0]).shape;
    int64_t axis = axisOf(static_cast<int64_t>(x.size()));
    b.operand = 1;
    b.bound = x[axis];
    b.range = "axis " + std::to_string(axis) + " of size " + std::to_string(b.bound);
    break;
  }
  case OpKind::ScatterAdd: {
    int64_t axis = axisOf(n.type.rank());
    b.operand = 1;
    b.bound = n.attrs.getInt("size");
    b.range = "axis " + std::to_string(axis) + " of size " + std::to_string(b.bound);
    break;
  }
  case OpKind::OneHot:
    b.operand = 0;
    b.bound = n.attrs.getInt("depth");
    b.range = "depth " + std::to_string(b.bound);
    break;
  default:
    return std::nullopt;
  }
  NodeId indices = n.operands[b.operand];
  b.indices = g.type(indices).shape;
  b.indicesLabel = g.node(indices).label(indices);
  return b;
}

std::string positionText(const Shape &shape, int64_t flat) {
  Shape pos(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    int64_t e = shape[d];
    pos[d] = e > 0 ? flat % e : 0;
    flat = e > 0 ? flat / e : 0;
  }
  return shapeStr(pos);
}

std::string indexOutOfRangeMessage(const IndexBounds &b, int64_t value, int64_t flatPosition) {
  return "index " + std::to_string(value) + " at position " +
         positionText(b.indices, flatPosition) + " of " + b.indicesLabel +
         " is out of range for " + b.range;
}

} // namespace chainjit::ir
