// fold-constants: ops whose operands are all known replaced by consts.
//
// Only cheap cases whose meaning is plain, computed exactly as the reference
// interpreter computes them (each element in double from the operands'
// elements, rounded once on store), so a folded graph evaluates bit for bit
// like the original:
//   - exact arithmetic and selection: neg, abs, sign, relu, sqrt, add, sub,
//     mul, div, maximum, minimum, the comparisons, where, cast;
//   - data movement: reshape, transpose, broadcast_to;
//   - sum and mean of a known splat (the sum is accumulated element by
//     element, as the interpreter does, not multiplied).
// Transcendental functions (exp, log, tanh, ...) are left to the evaluators:
// their last bit depends on the math library that runs them.
//
// When every operand is a known splat the result is one value; otherwise all
// operands must be consts and the result has at most kMaxFoldedElements.
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/ElementSemantics.h"

#include "SimplifyRewrite.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace chainjit::compiler {

namespace {

using namespace ir;
using simplify::kMaxFoldedElements;
using simplify::kMaxFoldedSplatElements;

// The element of `kind` for operand elements x (and y, z); nullopt if the
// kind is not folded.
std::optional<double> elementOf(const Node &n, const double *v) {
  switch (n.kind) {
  case OpKind::Neg: return -v[0];
  case OpKind::Abs: return std::fabs(v[0]);
  case OpKind::Sign: return element::sign(v[0]);
  case OpKind::Relu: return element::relu(v[0]);
  case OpKind::Sqrt: return std::sqrt(v[0]);
  case OpKind::Cast: return element::castTo(v[0], n.type.dtype);
  case OpKind::Add: return v[0] + v[1];
  case OpKind::Sub: return v[0] - v[1];
  case OpKind::Mul: return v[0] * v[1];
  case OpKind::Div: return v[0] / v[1];
  case OpKind::Maximum: return element::maximum(v[0], v[1]);
  case OpKind::Minimum: return element::minimum(v[0], v[1]);
  case OpKind::Less: return v[0] < v[1];
  case OpKind::LessEqual: return v[0] <= v[1];
  case OpKind::Greater: return v[0] > v[1];
  case OpKind::GreaterEqual: return v[0] >= v[1];
  case OpKind::Equal: return v[0] == v[1];
  case OpKind::NotEqual: return v[0] != v[1];
  case OpKind::Where: return v[0] != 0 ? v[1] : v[2];
  default: return std::nullopt;
  }
}

// Stores like the interpreter: where and cast through Tensor::set; the other
// maps wrap i32 results around to 32 bits (interp's storeValue).
void storeElement(OpKind kind, Tensor &t, int64_t i, double v) {
  if (kind == OpKind::Where || kind == OpKind::Cast || t.dtype() != DType::i32 ||
      !std::isfinite(v) || std::fabs(v) >= 0x1.0p63) {
    t.set(i, v);
    return;
  }
  auto wide = static_cast<int64_t>(v);
  t.as<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(wide));
}

// The flat index into `from` that NumPy broadcasting reads for each element
// of `to` (interp's broadcastIndex).
std::vector<int64_t> broadcastIndex(const Shape &from, const Shape &to) {
  size_t r = to.size(), offset = r - from.size();
  std::vector<int64_t> fromStrides = stridesOf(from);
  std::vector<int64_t> strides(r, 0);
  for (size_t d = offset; d < r; ++d)
    if (from[d - offset] != 1)
      strides[d] = fromStrides[d - offset];
  std::vector<int64_t> toStrides = stridesOf(to);
  int64_t n = numElements(to);
  std::vector<int64_t> index(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t flat = 0;
    for (size_t d = 0; d < r; ++d)
      flat += (i / toStrides[d] % to[d]) * strides[d];
    index[i] = flat;
  }
  return index;
}

Ints resolvedPerm(const Attrs &a, int64_t rank) {
  Ints perm = a.getInts("perm");
  if (perm.empty())
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  return perm;
}

// A splat is summed element by element: at most this many additions.
constexpr int64_t kMaxSummedElements = int64_t{1} << 24;

bool isElementwise(OpKind k) { return opDef(k).family == OpFamily::Elementwise; }

class ConstantFolder {
public:
  explicit ConstantFolder(const Graph &src) : rb_(src), splat_(rb_.out()) {}

  Graph run() {
    const Graph &src = rb_.src();
    for (NodeId id = 0; id < src.size(); ++id) {
      const Node &n = src.node(id);
      std::optional<NodeId> folded;
      if (!isSource(n.kind) && n.type.numel() > 0)
        folded = fold(n);
      if (folded)
        simplify::replaceNode(rb_, id, *folded);
      else
        rb_.copy(id);
    }
    return rb_.finish();
  }

private:
  Graph &out() { return rb_.out(); }

  const Tensor *constOperand(NodeId newId) {
    const Node &n = out().node(newId);
    return n.kind == OpKind::Const ? n.value.get() : nullptr;
  }

  std::optional<NodeId> fold(const Node &n) {
    std::vector<NodeId> ops;
    for (NodeId o : n.operands)
      ops.push_back(rb_.map(o));
    // Every operand a splat: one value for the whole result.
    std::vector<double> splats;
    for (NodeId o : ops)
      if (auto v = splat_(o))
        splats.push_back(*v);
    if (splats.size() == ops.size() && n.type.numel() <= kMaxFoldedSplatElements)
      if (auto v = splatResult(n, ops, splats))
        return out().addConst(Tensor::filled(n.type, *v));
    // Every operand a const and a small result: element by element.
    std::vector<const Tensor *> values;
    for (NodeId o : ops)
      if (const Tensor *t = constOperand(o))
        values.push_back(t);
    if (values.size() == ops.size() && n.type.numel() <= kMaxFoldedElements)
      if (auto t = denseResult(n, values))
        return out().addConst(std::move(*t));
    return std::nullopt;
  }

  // The stored element of a result whose operands are splats, or nullopt.
  std::optional<double> splatResult(const Node &n, const std::vector<NodeId> &ops,
                                    const std::vector<double> &v) {
    Tensor one(TensorType{n.type.dtype, {}});
    switch (n.kind) {
    case OpKind::Reshape:
    case OpKind::Transpose:
    case OpKind::BroadcastTo: return v[0];
    case OpKind::Sum:
    case OpKind::Mean: {
      int64_t count = out().type(ops[0]).numel() / n.type.numel();
      if (out().type(ops[0]).numel() > kMaxSummedElements)
        return std::nullopt;
      double acc = 0.0;
      for (int64_t i = 0; i < count; ++i)
        acc += v[0];
      storeElement(n.kind, one, 0, n.kind == OpKind::Mean ? acc / double(count) : acc);
      return one.at(0);
    }
    default:
      if (!isElementwise(n.kind))
        return std::nullopt;
      std::optional<double> e = elementOf(n, v.data());
      if (!e)
        return std::nullopt;
      storeElement(n.kind, one, 0, *e);
      return one.at(0);
    }
  }

  std::optional<Tensor> denseResult(const Node &n, const std::vector<const Tensor *> &in) {
    Tensor r(n.type);
    switch (n.kind) {
    case OpKind::Reshape: return in[0]->reshaped(n.type.shape);
    case OpKind::BroadcastTo: {
      std::vector<int64_t> ix = broadcastIndex(in[0]->shape(), n.type.shape);
      for (int64_t i = 0; i < r.numel(); ++i)
        r.set(i, in[0]->at(ix[i]));
      return r;
    }
    case OpKind::Transpose: {
      const Shape &s = in[0]->shape();
      int64_t rank = static_cast<int64_t>(s.size());
      Ints perm = resolvedPerm(n.attrs, rank);
      std::vector<int64_t> inStrides = stridesOf(s), outStrides = stridesOf(n.type.shape);
      for (int64_t i = 0; i < r.numel(); ++i) {
        int64_t src = 0;
        for (int64_t d = 0; d < rank; ++d)
          src += (i / outStrides[d] % n.type.shape[d]) * inStrides[perm[d]];
        r.set(i, in[0]->at(src));
      }
      return r;
    }
    default: break;
    }
    if (!isElementwise(n.kind))
      return std::nullopt;
    std::vector<std::vector<int64_t>> index;
    for (const Tensor *t : in)
      index.push_back(broadcastIndex(t->shape(), n.type.shape));
    double v[3];
    for (int64_t i = 0; i < r.numel(); ++i) {
      for (size_t k = 0; k < in.size(); ++k)
        v[k] = in[k]->at(index[k][i]);
      std::optional<double> e = elementOf(n, v);
      if (!e)
        return std::nullopt;
      storeElement(n.kind, r, i, *e);
    }
    return r;
  }

  GraphRebuilder rb_;
  simplify::SplatQuery splat_;
};

} // namespace

ir::Graph foldConstants(const ir::Graph &g) { return ConstantFolder(g).run(); }

} // namespace chainjit::compiler
