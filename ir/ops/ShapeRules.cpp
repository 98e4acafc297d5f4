// Derivative rules of the data-movement ops: each is linear, so its tangent
// rule is the op itself on the directions and its adjoint rule is the
// reverse movement (slice <-> pad, concat -> slices, broadcast -> sum).
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

namespace {

Value x0(const RuleContext &c) { return c.operands[0]; }

MaybeValue reshapeJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return reshape(*t[0], directionShape(c.directions, c.node.type.shape));
}
std::vector<MaybeValue> reshapeVjp(const RuleContext &c, Value adj, Wanted) {
  return {reshape(adj, directionShape(c.directions, x0(c).shape()))};
}

Ints primalPerm(const RuleContext &c) {
  Ints perm = c.attrs().getInts("perm");
  if (perm.empty())
    for (int64_t i = x0(c).type().rank() - 1; i >= 0; --i)
      perm.push_back(i);
  return perm;
}
Ints withDirectionAxis(const Ints &perm) {
  Ints r{0};
  for (int64_t p : perm)
    r.push_back(p + 1);
  return r;
}
MaybeValue transposeJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return transpose(*t[0], withDirectionAxis(primalPerm(c)));
}
std::vector<MaybeValue> transposeVjp(const RuleContext &c, Value adj, Wanted) {
  Ints perm = primalPerm(c), inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = static_cast<int64_t>(i);
  return {transpose(adj, withDirectionAxis(inverse))};
}

MaybeValue broadcastJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return fitToResult(c, *t[0]);
}
std::vector<MaybeValue> broadcastVjp(const RuleContext &c, Value adj, Wanted) {
  return {unbroadcastDirections(adj, x0(c).shape())};
}

int64_t concatAxis(const RuleContext &c) {
  int64_t a = c.attrs().getInt("axis");
  return a < 0 ? a + x0(c).type().rank() : a;
}
MaybeValue concatJvp(const RuleContext &c, Tangents t) {
  std::vector<Value> parts;
  bool any = false;
  for (size_t i = 0; i < t.size(); ++i) {
    parts.push_back(tangentOrZeros(c, t[i], i));
    any = any || t[i].has_value();
  }
  if (!any)
    return std::nullopt;
  return concat(parts, concatAxis(c) + 1);
}
std::vector<MaybeValue> concatVjp(const RuleContext &c, Value adj, Wanted w) {
  std::vector<MaybeValue> r(c.operands.size());
  int64_t axis = concatAxis(c) + 1, offset = 0;
  Shape full = adj.shape();
  for (size_t i = 0; i < c.operands.size(); ++i) {
    int64_t size = c.operands[i].shape()[axis - 1];
    if (w[i]) {
      Ints starts(full.size(), 0), ends(full.begin(), full.end());
      starts[axis] = offset;
      ends[axis] = offset + size;
      r[i] = slice(adj, starts, ends);
    }
    offset += size;
  }
  return r;
}

Ints sliceStrides(const RuleContext &c) {
  Ints s = c.attrs().getInts("strides");
  if (s.empty())
    s.assign(x0(c).shape().size(), 1);
  return s;
}
MaybeValue sliceJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  Ints starts{0}, ends{c.directions}, strides{1};
  for (int64_t v : c.attrs().getInts("starts"))
    starts.push_back(v);
  for (int64_t v : c.attrs().getInts("ends"))
    ends.push_back(v);
  for (int64_t v : sliceStrides(c))
    strides.push_back(v);
  return slice(*t[0], starts, ends, strides);
}
// The adjoint of a slice scatters into zeros: a pad with the strides as
// interior padding.
std::vector<MaybeValue> sliceVjp(const RuleContext &c, Value adj, Wanted) {
  const Shape in = x0(c).shape(), out = c.node.type.shape;
  const Ints &starts = c.attrs().getInts("starts");
  Ints strides = sliceStrides(c);
  Ints low{0}, high{0}, interior{0};
  for (size_t d = 0; d < in.size(); ++d) {
    int64_t last = out[d] == 0 ? starts[d] - 1 : starts[d] + (out[d] - 1) * strides[d];
    low.push_back(starts[d]);
    interior.push_back(strides[d] - 1);
    high.push_back(in[d] - 1 - last);
  }
  if (numElements(out) == 0) // nothing was taken: the adjoint is zero
    return {broadcastTo(scalarLike(adj, 0.0), directionShape(c.directions, in))};
  return {pad(adj, low, high, interior)};
}

Ints padInterior(const RuleContext &c) {
  Ints interior = c.attrs().getInts("interior");
  if (interior.empty())
    interior.assign(x0(c).shape().size(), 0);
  return interior;
}
MaybeValue padJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  auto prepend = [](Ints v) {
    v.insert(v.begin(), 0);
    return v;
  };
  return pad(*t[0], prepend(c.attrs().getInts("low")), prepend(c.attrs().getInts("high")),
             prepend(padInterior(c)));
}
// The adjoint of a pad takes the padded positions back out: a strided slice.
std::vector<MaybeValue> padVjp(const RuleContext &c, Value adj, Wanted) {
  const Shape in = x0(c).shape();
  const Ints &low = c.attrs().getInts("low");
  Ints interior = padInterior(c);
  Ints starts{0}, ends{c.directions}, strides{1};
  for (size_t d = 0; d < in.size(); ++d) {
    int64_t step = interior[d] + 1;
    starts.push_back(low[d]);
    ends.push_back(in[d] == 0 ? low[d] : low[d] + (in[d] - 1) * step + 1);
    strides.push_back(step);
  }
  return {slice(adj, starts, ends, strides)};
}

} // namespace

std::vector<DerivativeRules> shapeRules() {
  return {
      {OpKind::Reshape, reshapeJvp, reshapeVjp},
      {OpKind::Transpose, transposeJvp, transposeVjp},
      {OpKind::BroadcastTo, broadcastJvp, broadcastVjp},
      {OpKind::Concat, concatJvp, concatVjp},
      {OpKind::Slice, sliceJvp, sliceVjp},
      {OpKind::Pad, padJvp, padVjp},
  };
}

} // namespace chainjit::ir::rules
