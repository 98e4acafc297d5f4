// Indexing by i32 indices: gather (an embedding lookup is gather(table, ids)),
// its adjoint scatter_add, iota and one_hot. The type rules fix the shapes;
// whether each index is in range is known only at run time, and both
// backends report an out-of-range index with its value and position.
#include "OpFamilies.h"

namespace chainjit::ir::ops {

// x.shape[:axis] + indices.shape + x.shape[axis+1:]: every index picks one
// slice of x along the axis.
static TensorType gatherRule(std::span<const TensorType> in, const Attrs &a) {
  const TensorType &x = in[0], &idx = in[1];
  requireIndices(idx, "indices");
  if (x.rank() == 0)
    throw Error("gather needs an operand of rank >= 1, got " + x.str());
  int64_t axis = normalizeAxis(a.getInt("axis"), x.rank());
  Shape s(x.shape.begin(), x.shape.begin() + axis);
  s.insert(s.end(), idx.shape.begin(), idx.shape.end());
  s.insert(s.end(), x.shape.begin() + axis + 1, x.shape.end());
  return {x.dtype, s};
}

// The adjoint of gather: updates have gather's result shape; the result has
// the gathered operand's shape, whose axis has `size` entries.
static TensorType scatterAddRule(std::span<const TensorType> in, const Attrs &a) {
  const TensorType &upd = in[0], &idx = in[1];
  requireNumeric(upd, "updates");
  requireIndices(idx, "indices");
  int64_t size = a.getInt("size");
  if (size < 0)
    throw Error("size must be non-negative, got " + std::to_string(size));
  int64_t rank = upd.rank() - idx.rank() + 1;
  if (rank < 1)
    throw Error("updates " + upd.str() + " have fewer axes than indices " + idx.str());
  int64_t axis = normalizeAxis(a.getInt("axis"), rank);
  Shape expect(upd.shape.begin(), upd.shape.begin() + axis);
  expect.insert(expect.end(), idx.shape.begin(), idx.shape.end());
  expect.insert(expect.end(), upd.shape.begin() + axis + idx.rank(), upd.shape.end());
  if (expect != upd.shape)
    throw Error("updates " + upd.str() + " do not hold indices' shape " +
                shapeStr(idx.shape) + " at axis " + std::to_string(axis));
  Shape s(upd.shape.begin(), upd.shape.begin() + axis);
  s.push_back(size);
  s.insert(s.end(), upd.shape.begin() + axis + idx.rank(), upd.shape.end());
  return {upd.dtype, s};
}

static TensorType iotaRule(std::span<const TensorType>, const Attrs &a) {
  const Ints &shape = a.getInts("shape");
  requirePositiveList(shape, shape.size(), "shape", /*allowZero=*/true);
  if (shape.empty())
    throw Error("iota needs a shape of rank >= 1");
  normalizeAxis(a.getInt("axis"), static_cast<int64_t>(shape.size()));
  DType dt = a.getDType("dtype");
  if (dt == DType::boolean)
    throw Error("dtype must be i32, f32 or f64");
  return {dt, shape};
}

static TensorType oneHotRule(std::span<const TensorType> in, const Attrs &a) {
  requireIndices(in[0], "indices");
  int64_t depth = a.getInt("depth");
  if (depth <= 0)
    throw Error("depth must be positive, got " + std::to_string(depth));
  DType dt = a.getDType("dtype");
  if (dt == DType::boolean)
    throw Error("dtype must be i32, f32 or f64");
  Shape s = in[0].shape;
  s.push_back(depth);
  return {dt, s};
}

std::vector<OpDef> indexOps() {
  using F = OpFamily;
  return {
      {OpKind::Gather, F::Index, 2, 2, {"x", "indices"},
       {{"axis", AttrKind::Int, int64_t{0}}}, gatherRule,
       "x[..., indices, ...] along an axis: one slice of x per i32 index"},
      {OpKind::ScatterAdd, F::Index, 2, 2, {"updates", "indices"},
       {{"axis", AttrKind::Int, int64_t{0}}, {"size", AttrKind::Int, std::nullopt}},
       scatterAddRule,
       "zeros with `size` entries along an axis, each slice of updates added at its index (gather's adjoint)"},
      {OpKind::Iota, F::Index, 0, 0, {},
       {{"shape", AttrKind::Ints, std::nullopt},
        {"axis", AttrKind::Int, int64_t{0}},
        {"dtype", AttrKind::DType, DType::i32}},
       iotaRule, "each entry's index along an axis: 0, 1, 2, ..."},
      {OpKind::OneHot, F::Index, 1, 1, {"indices"},
       {{"depth", AttrKind::Int, std::nullopt}, {"dtype", AttrKind::DType, DType::f32}},
       oneHotRule, "a new trailing axis of `depth` entries: 1 at the index, 0 elsewhere"},
  };
}

} // namespace chainjit::ir::ops
