// Interpreter kernels of the indexing ops (gather, scatter_add, iota,
// one_hot). Every index is checked before it is used: the first one out of
// range (in row-major order of the indices) is an error naming its value and
// position, with the same words as the JIT (ir/IndexBounds.h).
#include "interp/Kernels.h"

#include "chainjit/ir/IndexBounds.h"

namespace chainjit::runtime::interp {

namespace {

using ir::Tensor;

// The indices of `a` as int64, each checked against the op's bounds.
std::vector<int64_t> checkedIndices(const KernelArgs &a) {
  std::optional<ir::IndexBounds> b = ir::indexBounds(*a.graph, a.id);
  const Tensor &idx = a.in(b->operand);
  std::vector<int64_t> r(static_cast<size_t>(idx.numel()));
  for (int64_t j = 0; j < idx.numel(); ++j) {
    auto v = static_cast<int64_t>(idx.at(j));
    if (v < 0 || v >= b->bound)
      a.fail(ir::indexOutOfRangeMessage(*b, v, j));
    r[j] = v;
  }
  return r;
}

// The shape around one axis: element (o, j, i) of [outer, len, inner].
struct Split {
  int64_t outer, len, inner;
};
Split splitAround(const ir::Shape &s, int64_t axis, int64_t axes = 1) {
  return {extent(s, 0, axis), extent(s, axis, axis + axes),
          extent(s, axis + axes, s.size())};
}

// out[o, j, i] = x[o, idx[j], i].
Tensor gatherKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  std::vector<int64_t> idx = checkedIndices(a);
  Split s = splitAround(x.shape(), normalizeAxis(a.attrs().getInt("axis"), x.type().rank()));
  const auto n = static_cast<int64_t>(idx.size());
  Tensor r(a.resultType());
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < s.inner; ++i)
        r.set((o * n + j) * s.inner + i, x.at((o * s.len + idx[j]) * s.inner + i));
  return r;
}

// out = zeros [outer, size, inner]; out[o, idx[j], i] += updates[o, j, i],
// summed in double (i32 sums wrap around as machine arithmetic does).
Tensor scatterAddKernel(const KernelArgs &a) {
  const Tensor &upd = a.in(0);
  std::vector<int64_t> idx = checkedIndices(a);
  const ir::TensorType &rt = a.resultType();
  int64_t axis = normalizeAxis(a.attrs().getInt("axis"), rt.rank());
  Split out = splitAround(rt.shape, axis);
  const auto n = static_cast<int64_t>(idx.size());
  std::vector<double> acc(static_cast<size_t>(rt.numel()), 0.0);
  for (int64_t o = 0; o < out.outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < out.inner; ++i)
        acc[(o * out.len + idx[j]) * out.inner + i] += upd.at((o * n + j) * out.inner + i);
  Tensor r(rt);
  for (int64_t e = 0; e < rt.numel(); ++e)
    storeValue(r, e, acc[e]);
  return r;
}

// Each element's coordinate along the axis.
Tensor iotaKernel(const KernelArgs &a) {
  const ir::TensorType &rt = a.resultType();
  Split s = splitAround(rt.shape, normalizeAxis(a.attrs().getInt("axis"), rt.rank()));
  Tensor r(rt);
  for (int64_t e = 0; e < rt.numel(); ++e)
    r.set(e, double((e / s.inner) % s.len));
  return r;
}

// indices.shape + [depth]: 1 at each index, 0 elsewhere.
Tensor oneHotKernel(const KernelArgs &a) {
  std::vector<int64_t> idx = checkedIndices(a);
  int64_t depth = a.attrs().getInt("depth");
  Tensor r(a.resultType());
  for (size_t j = 0; j < idx.size(); ++j)
    r.set(static_cast<int64_t>(j) * depth + idx[j], 1.0);
  return r;
}

} // namespace

std::vector<KernelEntry> indexKernels() {
  return {{ir::OpKind::Gather, gatherKernel},
          {ir::OpKind::ScatterAdd, scatterAddKernel},
          {ir::OpKind::Iota, iotaKernel},
          {ir::OpKind::OneHot, oneHotKernel}};
}

} // namespace chainjit::runtime::interp
