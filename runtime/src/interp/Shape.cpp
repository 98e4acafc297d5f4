// Data-movement kernels: reshape, transpose, broadcast_to, concat, slice, pad.
// They copy elements without arithmetic, so values pass through exactly.
#include "interp/Kernels.h"

namespace chainjit::runtime::interp {

namespace {

using ir::OpKind;
using ir::Tensor;

// Row-major data is unchanged by a reshape; only the shape differs.
Tensor reshapeKernel(const KernelArgs &a) {
  return a.in(0).reshaped(a.resultType().shape);
}

// Result axis i is input axis perm[i] (default: the axes reversed).
Tensor transposeKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  int64_t rank = static_cast<int64_t>(x.shape().size());
  ir::Ints perm = a.attrs().getInts("perm");
  if (perm.empty())
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  std::vector<int64_t> inStrides = ir::stridesOf(x.shape());
  Tensor r(a.resultType());
  const ir::Shape &out = r.shape();
  for (int64_t i = 0; i < r.numel(); ++i) {
    int64_t rest = i, src = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t pos = rest % out[d];
      rest /= out[d];
      src += pos * inStrides[perm[d]];
    }
    r.set(i, x.at(src));
  }
  return r;
}

Tensor broadcastToKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  Tensor r(a.resultType());
  std::vector<int64_t> ix = broadcastIndex(x.shape(), r.shape());
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, x.at(ix[i]));
  return r;
}

// The result is, for each index before the axis, the operands' blocks one
// after another.
Tensor concatKernel(const KernelArgs &a) {
  Tensor r(a.resultType());
  const ir::Shape &s = r.shape();
  size_t axis = static_cast<size_t>(
      normalizeAxis(a.attrs().getInt("axis"), static_cast<int64_t>(s.size())));
  int64_t outer = extent(s, 0, axis), inner = extent(s, axis + 1, s.size());
  int64_t dst = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (const Tensor *x : a.operands) {
      int64_t block = x->shape()[axis] * inner;
      for (int64_t j = 0; j < block; ++j)
        r.set(dst++, x->at(o * block + j));
    }
  return r;
}

// Result index o[d] reads input index starts[d] + o[d] * strides[d].
Tensor sliceKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  size_t rank = x.shape().size();
  const ir::Ints &starts = a.attrs().getInts("starts");
  ir::Ints strides = a.attrs().getInts("strides");
  if (strides.empty())
    strides.assign(rank, 1);
  std::vector<int64_t> inStrides = ir::stridesOf(x.shape());
  Tensor r(a.resultType());
  const ir::Shape &out = r.shape();
  for (int64_t i = 0; i < r.numel(); ++i) {
    int64_t rest = i, src = 0;
    for (size_t d = rank; d-- > 0;) {
      int64_t pos = rest % out[d];
      rest /= out[d];
      src += (starts[d] + pos * strides[d]) * inStrides[d];
    }
    r.set(i, x.at(src));
  }
  return r;
}

// Input index i[d] lands at low[d] + i[d] * (interior[d] + 1); the rest is 0.
Tensor padKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  size_t rank = x.shape().size();
  const ir::Ints &low = a.attrs().getInts("low");
  ir::Ints interior = a.attrs().getInts("interior");
  if (interior.empty())
    interior.assign(rank, 0);
  std::vector<int64_t> outStrides = ir::stridesOf(a.resultType().shape);
  Tensor r(a.resultType()); // zero-filled
  const ir::Shape &in = x.shape();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rest = i, dst = 0;
    for (size_t d = rank; d-- > 0;) {
      int64_t pos = rest % in[d];
      rest /= in[d];
      dst += (low[d] + pos * (interior[d] + 1)) * outStrides[d];
    }
    r.set(dst, x.at(i));
  }
  return r;
}

} // namespace

std::vector<KernelEntry> shapeKernels() {
  return {
      {OpKind::Reshape, reshapeKernel},
      {OpKind::Transpose, transposeKernel},
      {OpKind::BroadcastTo, broadcastToKernel},
      {OpKind::Concat, concatKernel},
      {OpKind::Slice, sliceKernel},
      {OpKind::Pad, padKernel},
  };
}

} // namespace chainjit::runtime::interp
