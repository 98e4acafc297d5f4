// Sparse matrices in CSR form: an M x K matrix A is three operands, row_ptr
// (i32[M+1]: row i holds entries row_ptr[i] .. row_ptr[i+1]-1), col_idx
// (i32[nnz]) and values ([nnz]). spmm multiplies A (or its transpose) by a
// dense matrix; sddmm is the product a · b^T sampled at A's pattern, which is
// the derivative of spmm with respect to the values. Neither densifies A:
// time and memory are linear in nnz. The structure (monotone row pointers,
// columns in range) is checked at run time.
#include "OpFamilies.h"

namespace chainjit::ir::ops {

// Checks the CSR structure operands' types; returns M (rows) and nnz.
static std::pair<int64_t, int64_t> csrShape(const TensorType &rowPtr,
                                            const TensorType &colIdx) {
  requireIndices(rowPtr, "row_ptr");
  requireIndices(colIdx, "col_idx");
  requireRank(rowPtr, 1, "row_ptr");
  requireRank(colIdx, 1, "col_idx");
  if (rowPtr.shape[0] < 1)
    throw Error("row_ptr needs M + 1 >= 1 entries, got " + rowPtr.str());
  return {rowPtr.shape[0] - 1, colIdx.shape[0]};
}

// spmm(row_ptr, col_idx, values, dense): A · dense ([M, N], A is M x K with
// K = dense rows) or, with transpose, A^T · dense ([cols, N], dense [M, N]).
static TensorType spmmRule(std::span<const TensorType> in, const Attrs &a) {
  auto [m, nnz] = csrShape(in[0], in[1]);
  const TensorType &values = in[2], &dense = in[3];
  requireFloat(values, "values");
  requireRank(values, 1, "values");
  if (values.shape[0] != nnz)
    throw Error("values " + values.str() + " and col_idx " + in[1].str() +
                " differ in length");
  requireSameDType(values, dense);
  requireRank(dense, 2, "dense");
  int64_t cols = a.getInt("cols");
  if (!a.getBool("transpose")) {
    if (cols >= 0 && cols != dense.shape[0])
      throw Error("A has " + std::to_string(cols) + " columns but dense " +
                  dense.str() + " has " + std::to_string(dense.shape[0]) + " rows");
    return {dense.dtype, {m, dense.shape[1]}};
  }
  if (cols < 0)
    throw Error("transpose needs the number of columns of A (attribute cols)");
  if (dense.shape[0] != m)
    throw Error("A has " + std::to_string(m) + " rows but dense " + dense.str() +
                " has " + std::to_string(dense.shape[0]));
  return {dense.dtype, {cols, dense.shape[1]}};
}

// sddmm(row_ptr, col_idx, a, b): out[e] = a[row(e), :] · b[col_idx[e], :].
static TensorType sddmmRule(std::span<const TensorType> in, const Attrs &) {
  auto [m, nnz] = csrShape(in[0], in[1]);
  const TensorType &x = in[2], &y = in[3];
  requireFloat(x, "a");
  requireSameDType(x, y);
  requireRank(x, 2, "a");
  requireRank(y, 2, "b");
  if (x.shape[0] != m)
    throw Error("a " + x.str() + " needs " + std::to_string(m) + " rows (one per CSR row)");
  if (x.shape[1] != y.shape[1])
    throw Error("a " + x.str() + " and b " + y.str() + " differ in columns");
  return {x.dtype, {nnz}};
}

std::vector<OpDef> sparseOps() {
  using F = OpFamily;
  return {
      {OpKind::SpMM, F::Sparse, 4, 4, {"row_ptr", "col_idx", "values", "dense"},
       {{"transpose", AttrKind::Bool, false}, {"cols", AttrKind::Int, int64_t{-1}}},
       spmmRule,
       "CSR matrix A times a dense matrix: A · dense, or A^T · dense with transpose (cols = A's columns)"},
      {OpKind::SDDMM, F::Sparse, 4, 4, {"row_ptr", "col_idx", "a", "b"}, {},
       sddmmRule,
       "a · b^T at the CSR pattern only: out[e] = a[row(e)] · b[col_idx[e]] (spmm's derivative for the values)"},
  };
}

} // namespace chainjit::ir::ops
