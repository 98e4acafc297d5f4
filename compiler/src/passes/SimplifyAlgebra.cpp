// simplify: algebraic identities, applied in one forward sweep (operands are
// simplified before their users, so rewrites cascade within the sweep).
//
//   data movement   reshape(reshape(x)) -> reshape(x); reshape, broadcast_to
//                   or cast to x's own type -> x; transpose(transpose(x)) ->
//                   one transpose with the composed perm; an identity perm -> x;
//                   broadcast_to(broadcast_to(x)) -> broadcast_to(x); a
//                   broadcast_to that adds only size-1 axes, and a transpose
//                   that keeps the order of the axes not of size 1 -> reshape
//   negation        neg(neg(x)) -> x; a + neg(b) -> a - b; neg(a) + b -> b - a;
//                   a - neg(b) -> a + b; neg(a) * neg(b) -> a * b
//   units           x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x;
//                   0 - x -> neg(x); x * -1, -1 * x, x / -1 -> neg(x)
//   zero products   x * 0, 0 * x, matmul with a zero operand -> zeros
//   selection       where(c, x, x) -> x; where of a constant condition -> the
//                   chosen side
//   broadcasting    op(broadcast_to(x), y) -> op(x, y) for elementwise ops
//                   where the result keeps its shape (also for a reshape that
//                   only puts size-1 axes in front of x's)
//   pooled relu     max_pool2d_grad(relu(s), g) * cast(s > 0) ->
//                   max_pool2d_grad(relu(s), g * cast(max_pool2d(relu(s)) > 0))
//                   (the backward of relu then max_pool2d, as the rules emit
//                   it): a tap receives a share only where it is its window's
//                   maximum, and there relu(s) > 0 is the maximum > 0, so the
//                   mask moves to the pooled side: one pass over the pooled
//                   values instead of one over the image (for a CNN's first
//                   layer, 4.8 MB of memory traffic less per step of 64)
//
// 0, 1 and -1 are known splats (SimplifyRewrite.h) of the same dtype. Where
// the result is larger than x (x was broadcast by the op), x becomes
// broadcast_to(x, result shape). Every rewrite is exact except two, by
// choice: x + 0 -> x keeps the sign of a zero x (-0 + 0 is +0), and the zero
// products are strong zeros: x * 0 is 0 even where x is inf or nan. The zeros
// of derivative graphs are symbolic (a derivative that does not flow), so
// this is what the derivative rules mean; docs/architecture.md says so.
#include "chainjit/compiler/Passes.h"

#include "SimplifyRewrite.h"

#include <algorithm>

namespace chainjit::compiler {

namespace {

using namespace ir;

class AlgebraicSimplifier {
public:
  explicit AlgebraicSimplifier(const Graph &src) : rb_(src), splat_(rb_.out()) {}

  Graph run() {
    const Graph &src = rb_.src();
    for (NodeId id = 0; id < src.size(); ++id) {
      const Node &n = src.node(id);
      std::optional<NodeId> r;
      if (!isSource(n.kind))
        r = rewrite(n);
      if (r)
        simplify::replaceNode(rb_, id, *r);
      else
        copyThroughAliases(id);
    }
    return rb_.finish();
  }

private:
  Graph &out() { return rb_.out(); }
  OpKind kindOf(NodeId x) { return out().node(x).kind; }
  NodeId operandOf(NodeId x, size_t i = 0) { return out().node(x).operands.at(i); }
  Shape shapeOf(NodeId x) { return out().type(x).shape; }
  bool isNeg(NodeId x) { return kindOf(x) == OpKind::Neg; }

  bool isSplat(NodeId x, double v) {
    std::optional<double> s = splat_(x);
    return s && *s == v;
  }

  NodeId op(OpKind k, std::vector<NodeId> operands, Attrs attrs = {}) {
    return out().addOp(k, std::move(operands), std::move(attrs));
  }

  // -x, without a double negation.
  NodeId negate(NodeId x) { return isNeg(x) ? operandOf(x) : op(OpKind::Neg, {x}); }

  // x as a value of the result type `t`: itself, or broadcast to t's shape.
  NodeId asResult(NodeId x, const TensorType &t) {
    if (out().type(x) == t)
      return x;
    return op(OpKind::BroadcastTo, {x}, {{"shape", t.shape}});
  }

  // The new id of operand `o`: an alias is seen through, to the value it
  // copies (its name is kept for the outputs, the users need the value).
  NodeId operand(NodeId o) {
    NodeId m = rb_.map(o);
    while (simplify::isAlias(out(), m))
      m = operandOf(m);
    return m;
  }

  // Copies source node `id`, its operands seen through aliases.
  void copyThroughAliases(NodeId id) {
    Node n = rb_.src().node(id);
    bool changed = false;
    for (NodeId &o : n.operands) {
      NodeId m = operand(o);
      changed = changed || m != rb_.map(o);
      o = m;
    }
    if (!changed) {
      rb_.copy(id);
      return;
    }
    rb_.setMapping(id, out().appendUnchecked(std::move(n)));
  }

  std::optional<NodeId> rewrite(const Node &n) {
    std::vector<NodeId> a;
    for (NodeId o : n.operands)
      a.push_back(operand(o));
    bool absorbed = absorbBroadcasts(n, a);
    if (std::optional<NodeId> r = identity(n, a))
      return r;
    if (absorbed)
      return op(n.kind, a, n.attrs);
    return std::nullopt;
  }

  // Elementwise ops broadcast their operands themselves: an operand
  // broadcast_to(x) can be x where the result keeps its shape.
  bool absorbBroadcasts(const Node &n, std::vector<NodeId> &a) {
    if (opDef(n.kind).family != OpFamily::Elementwise || a.size() < 2)
      return false;
    bool changed = false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!isBroadcastLike(a[i]))
        continue;
      std::vector<NodeId> trial = a;
      trial[i] = operandOf(a[i]);
      std::optional<Shape> s = Shape{};
      for (NodeId x : trial)
        if (s)
          s = broadcastShapes(*s, shapeOf(x));
      if (s && *s == n.type.shape) {
        a = std::move(trial);
        changed = true;
      }
    }
    return changed;
  }

  // broadcast_to(x), or reshape(x) that only puts size-1 axes in front.
  bool isBroadcastLike(NodeId v) {
    if (kindOf(v) == OpKind::BroadcastTo)
      return true;
    if (kindOf(v) != OpKind::Reshape)
      return false;
    Shape to = shapeOf(v), from = shapeOf(operandOf(v));
    if (to.size() < from.size())
      return false;
    size_t lead = to.size() - from.size();
    for (size_t d = 0; d < lead; ++d)
      if (to[d] != 1)
        return false;
    return std::equal(from.begin(), from.end(), to.begin() + static_cast<std::ptrdiff_t>(lead));
  }

  std::optional<NodeId> identity(const Node &n, const std::vector<NodeId> &a) {
    const TensorType &t = n.type; // of the source graph: stable
    switch (n.kind) {
    case OpKind::Reshape: {
      NodeId x = a[0];
      if (kindOf(x) == OpKind::Reshape)
        x = operandOf(x);
      if (shapeOf(x) == t.shape)
        return x;
      if (x != a[0])
        return op(OpKind::Reshape, {x}, {{"shape", t.shape}});
      return std::nullopt;
    }
    case OpKind::BroadcastTo: {
      NodeId x = a[0];
      if (kindOf(x) == OpKind::BroadcastTo)
        x = operandOf(x);
      if (shapeOf(x) == t.shape)
        return x;
      if (out().type(x).numel() == t.numel()) // only size-1 axes: a reshape
        return reshapeTo(x, t.shape);
      if (x != a[0])
        return op(OpKind::BroadcastTo, {x}, {{"shape", t.shape}});
      return std::nullopt;
    }
    case OpKind::Transpose: return transpose(n, a[0]);
    case OpKind::Cast:
      if (out().type(a[0]) == t)
        return a[0];
      return std::nullopt;
    case OpKind::Neg:
      if (isNeg(a[0]))
        return operandOf(a[0]);
      return std::nullopt;
    case OpKind::Add:
      if (isSplat(a[1], 0))
        return asResult(a[0], t);
      if (isSplat(a[0], 0))
        return asResult(a[1], t);
      if (isNeg(a[1]))
        return op(OpKind::Sub, {a[0], operandOf(a[1])});
      if (isNeg(a[0]))
        return op(OpKind::Sub, {a[1], operandOf(a[0])});
      return std::nullopt;
    case OpKind::Sub:
      if (isSplat(a[1], 0))
        return asResult(a[0], t);
      if (isSplat(a[0], 0))
        return asResult(negate(a[1]), t);
      if (isNeg(a[1]))
        return op(OpKind::Add, {a[0], operandOf(a[1])});
      return std::nullopt;
    case OpKind::Mul:
      if (isSplat(a[0], 0) || isSplat(a[1], 0))
        return simplify::addSplat(out(), t, 0.0);
      for (int i = 0; i < 2; ++i) {
        NodeId x = a[i], k = a[1 - i];
        if (isSplat(k, 1))
          return asResult(x, t);
        if (isSplat(k, -1))
          return asResult(negate(x), t);
      }
      if (isNeg(a[0]) && isNeg(a[1]))
        return op(OpKind::Mul, {operandOf(a[0]), operandOf(a[1])});
      for (int i = 0; i < 2; ++i)
        if (std::optional<NodeId> r = pooledReluMask(a[i], a[1 - i], t))
          return r;
      return std::nullopt;
    case OpKind::Div:
      if (isSplat(a[1], 1))
        return asResult(a[0], t);
      if (isSplat(a[1], -1))
        return asResult(negate(a[0]), t);
      return std::nullopt;
    case OpKind::MatMul:
      if (isSplat(a[0], 0) || isSplat(a[1], 0))
        return simplify::addSplat(out(), t, 0.0);
      return std::nullopt;
    case OpKind::Where:
      if (a[1] == a[2])
        return asResult(a[1], t);
      if (std::optional<double> c = splat_(a[0]))
        return asResult(*c != 0 ? a[1] : a[2], t);
      return std::nullopt;
    default: return std::nullopt;
    }
  }

  // The "pooled relu" identity for shares * mask of type t: shares is
  // max_pool2d_grad(relu(s), g) (or a reshape of it that only adds size-1
  // axes in front), mask is cast(greater(s, 0)) of shares' type.
  std::optional<NodeId> pooledReluMask(NodeId shares, NodeId mask, const TensorType &t) {
    if (kindOf(shares) == OpKind::Reshape && isBroadcastLike(shares))
      shares = operandOf(shares);
    if (kindOf(shares) != OpKind::MaxPool2dGrad || kindOf(mask) != OpKind::Cast ||
        out().type(mask) != out().type(shares))
      return std::nullopt;
    const NodeId x = operandOf(shares), g = operandOf(shares, 1), greater = operandOf(mask);
    if (kindOf(x) != OpKind::Relu || kindOf(greater) != OpKind::Greater ||
        operandOf(greater) != operandOf(x) || !isSplat(operandOf(greater, 1), 0))
      return std::nullopt;
    const Attrs pool = out().node(shares).attrs; // a copy: adding nodes moves the graph
    const NodeId pooled = op(OpKind::MaxPool2d, {x}, pool);
    const NodeId open = op(OpKind::Cast, {op(OpKind::Greater, {pooled, operandOf(greater, 1)})},
                           {{"dtype", out().type(g).dtype}});
    return reshapeTo(op(OpKind::MaxPool2dGrad, {x, op(OpKind::Mul, {g, open})}, pool), t.shape);
  }

  // reshape(x, shape), or x itself, seeing through a reshape x.
  NodeId reshapeTo(NodeId x, const Shape &shape) {
    if (kindOf(x) == OpKind::Reshape)
      x = operandOf(x);
    if (shapeOf(x) == shape)
      return x;
    return op(OpKind::Reshape, {x}, {{"shape", shape}});
  }

  // Result axis i of transpose(x, p) is axis p[i] of x; of two transposes,
  // axis p1[p2[i]] of the inner operand.
  std::optional<NodeId> transpose(const Node &n, NodeId x) {
    auto permOf = [](const Attrs &attrs, size_t rank) {
      Ints p = attrs.getInts("perm");
      if (p.empty())
        for (size_t d = rank; d-- > 0;)
          p.push_back(static_cast<int64_t>(d));
      return p;
    };
    size_t rank = n.type.shape.size();
    Ints perm = permOf(n.attrs, rank);
    bool nested = kindOf(x) == OpKind::Transpose;
    if (nested) {
      Ints inner = permOf(out().node(x).attrs, rank);
      for (int64_t &p : perm)
        p = inner[static_cast<size_t>(p)];
      x = operandOf(x);
    }
    // Axes of size 1 can go anywhere: if the others keep their order, the
    // data does not move (an identity perm is the case without such axes).
    Shape xs = shapeOf(x);
    int64_t last = -1;
    bool inOrder = true;
    for (int64_t p : perm)
      if (xs[static_cast<size_t>(p)] != 1) {
        inOrder = inOrder && p > last;
        last = p;
      }
    if (inOrder)
      return reshapeTo(x, n.type.shape);
    if (nested)
      return op(OpKind::Transpose, {x}, {{"perm", perm}});
    return std::nullopt;
  }

  GraphRebuilder rb_;
  simplify::SplatQuery splat_;
};

} // namespace

ir::Graph simplifyAlgebra(const ir::Graph &g) { return AlgebraicSimplifier(g).run(); }

} // namespace chainjit::compiler
