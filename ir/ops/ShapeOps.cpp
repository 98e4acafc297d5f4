// Ops that move data without arithmetic: reshape, transpose, broadcast_to,
// concat, slice.
#include "OpFamilies.h"

#include <algorithm>

namespace chainjit::ir::ops {

static TensorType reshapeRule(std::span<const TensorType> in, const Attrs &a) {
  Shape s = a.getInts("shape");
  int64_t known = 1, inferred = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (inferred >= 0)
        throw Error("shape " + shapeStr(s) + " has more than one -1");
      inferred = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      throw Error("shape " + shapeStr(s) + " has a negative dimension");
    } else if (__builtin_mul_overflow(known, s[i], &known)) {
      throw Error("shape " + shapeStr(s) + " has too many elements");
    }
  }
  int64_t n = in[0].numel();
  if (inferred >= 0) {
    if (known == 0 || n % known != 0)
      throw Error("cannot reshape " + in[0].str() + " to " + shapeStr(s));
    s[inferred] = n / known;
  }
  if (numElements(s) != n)
    throw Error("cannot reshape " + in[0].str() + " (" + std::to_string(n) +
                " elements) to " + shapeStr(s));
  return {in[0].dtype, s};
}

static TensorType transposeRule(std::span<const TensorType> in, const Attrs &a) {
  Ints perm = a.getInts("perm");
  int64_t r = in[0].rank();
  if (perm.empty()) // default: reverse the axes
    for (int64_t i = r - 1; i >= 0; --i)
      perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != r)
    throw Error("perm " + shapeStr(perm) + " does not match rank " +
                std::to_string(r));
  Ints sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < r; ++i)
    if (sorted[i] != i)
      throw Error("perm " + shapeStr(perm) + " is not a permutation of 0.." +
                  std::to_string(r - 1));
  Shape s(r);
  for (int64_t i = 0; i < r; ++i)
    s[i] = in[0].shape[perm[i]];
  return {in[0].dtype, s};
}

static TensorType broadcastToRule(std::span<const TensorType> in,
                                  const Attrs &a) {
  const Shape &target = a.getInts("shape");
  auto s = broadcastShapes(in[0].shape, target);
  if (!s || *s != target)
    throw Error("cannot broadcast " + in[0].str() + " to " + shapeStr(target));
  return {in[0].dtype, target};
}

static TensorType concatRule(std::span<const TensorType> in, const Attrs &a) {
  int64_t axis = normalizeAxis(a.getInt("axis"), in[0].rank());
  Shape s = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    requireSameDType(in[0], in[i]);
    if (in[i].rank() != in[0].rank())
      throw Error("operand " + std::to_string(i) + " has rank " +
                  std::to_string(in[i].rank()) + ", expected " +
                  std::to_string(in[0].rank()));
    for (int64_t d = 0; d < in[0].rank(); ++d)
      if (d != axis && in[i].shape[d] != in[0].shape[d])
        throw Error("operand " + std::to_string(i) + " " + in[i].str() +
                    " differs from " + in[0].str() + " outside axis " +
                    std::to_string(axis));
    if (__builtin_add_overflow(s[axis], in[i].shape[axis], &s[axis]))
      throw Error("the concatenated axis " + std::to_string(axis) + " overflows int64");
  }
  return {in[0].dtype, s};
}

static TensorType sliceRule(std::span<const TensorType> in, const Attrs &a) {
  const Ints &starts = a.getInts("starts");
  const Ints &ends = a.getInts("ends");
  Ints strides = a.getInts("strides");
  size_t r = in[0].shape.size();
  if (strides.empty())
    strides.assign(r, 1);
  if (starts.size() != r || ends.size() != r || strides.size() != r)
    throw Error("starts, ends and strides need one entry per axis (" +
                std::to_string(r) + ")");
  Shape s(r);
  for (size_t d = 0; d < r; ++d) {
    if (starts[d] < 0 || starts[d] > ends[d] || ends[d] > in[0].shape[d] ||
        strides[d] < 1)
      throw Error("axis " + std::to_string(d) + ": slice [" +
                  std::to_string(starts[d]) + ":" + std::to_string(ends[d]) +
                  ":" + std::to_string(strides[d]) + "] is out of range for " +
                  "dimension " + std::to_string(in[0].shape[d]));
    s[d] = ends[d] == starts[d] ? 0 : (ends[d] - starts[d] - 1) / strides[d] + 1;
  }
  return {in[0].dtype, s};
}

// Each axis grows by low + high and by `interior` zeros between elements.
static TensorType padRule(std::span<const TensorType> in, const Attrs &a) {
  size_t r = in[0].shape.size();
  const Ints &low = a.getInts("low"), &high = a.getInts("high");
  Ints interior = a.getInts("interior");
  if (interior.empty())
    interior.assign(r, 0);
  requirePositiveList(low, r, "low", /*allowZero=*/true);
  requirePositiveList(high, r, "high", /*allowZero=*/true);
  requirePositiveList(interior, r, "interior", /*allowZero=*/true);
  Shape s(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t n = in[0].shape[d], inner = 0;
    if ((n > 0 && __builtin_mul_overflow(n - 1, interior[d], &inner)) ||
        __builtin_add_overflow(inner, n, &s[d]) || __builtin_add_overflow(s[d], low[d], &s[d]) ||
        __builtin_add_overflow(s[d], high[d], &s[d]))
      throw Error("padded axis " + std::to_string(d) + " overflows int64");
  }
  return {in[0].dtype, s};
}

std::vector<OpDef> shapeOps() {
  using F = OpFamily;
  return {
      {OpKind::Reshape, F::Shape, 1, 1, {"x"},
       {{"shape", AttrKind::Ints, std::nullopt}}, reshapeRule,
       "same elements in row-major order, new shape (one -1 is inferred)"},
      {OpKind::Transpose, F::Shape, 1, 1, {"x"},
       {{"perm", AttrKind::Ints, Ints{}}}, transposeRule,
       "permute axes: result axis i is input axis perm[i] (default: reversed)"},
      {OpKind::BroadcastTo, F::Shape, 1, 1, {"x"},
       {{"shape", AttrKind::Ints, std::nullopt}}, broadcastToRule,
       "repeat along broadcast axes to the given shape"},
      {OpKind::Concat, F::Shape, 1, -1, {"xs"},
       {{"axis", AttrKind::Int, int64_t{0}}}, concatRule,
       "join along an existing axis"},
      {OpKind::Slice, F::Shape, 1, 1, {"x"},
       {{"starts", AttrKind::Ints, std::nullopt},
        {"ends", AttrKind::Ints, std::nullopt},
        {"strides", AttrKind::Ints, Ints{}}},
       sliceRule, "x[starts:ends:strides] on every axis (default stride 1)"},
      {OpKind::Pad, F::Shape, 1, 1, {"x"},
       {{"low", AttrKind::Ints, std::nullopt},
        {"high", AttrKind::Ints, std::nullopt},
        {"interior", AttrKind::Ints, Ints{}}},
       padRule,
       "zeros before (low), after (high) and between elements (interior) on every axis"},
  };
}

} // namespace chainjit::ir::ops
