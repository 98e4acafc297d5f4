// Derivative rules of the CSR sparse products (spmm, sddmm). Both are
// bilinear, and each one's derivatives are the other or itself, so the rules
// never densify A and are closed under differentiation:
//   spmm  Y = A · D:   dY = A(dv) · D + A · dD;   D_bar = A^T · Y_bar,
//                      v_bar = sddmm(pattern, Y_bar, D)   (A^T · D: roles swap)
//   sddmm y = (a b^T) at the pattern:  dy = sddmm(da, b) + sddmm(a, db);
//                      a_bar = A(y_bar) · b,  b_bar = A(y_bar)^T · a
// where A(w) is the pattern of A with values w.
//
// The direction axis (k directions at once). Where the CSR values are fixed
// and only the dense operand has directions, the directions move into the
// dense operand's columns: [k, R, N] -> [R, k*N], one product, and back.
// Where the values carry the directions (dv, Y_bar as sddmm's a, y_bar), the
// k copies of the pattern are stacked into one CSR matrix with k*M rows: copy
// j's rows come after copy j-1's and its entries after its entries (row
// pointers + j*nnz). A^T · D and sddmm's b side need the copies' columns
// apart too (block diagonal: column indices + j*K) and the dense side
// repeated k times. Either way the derivative is one op, not k ops, and the
// memory is k times the primal's, as for any k-direction derivative. The
// stacked structure is built from i32 constants, adds and concats: no iota.
#include "RuleFamilies.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Tensor.h"

#include <limits>

namespace chainjit::ir::rules {

namespace {

struct Pattern {
  Value rowPtr, colIdx;
  int64_t rows, nnz;
};
Pattern patternOf(const RuleContext &c) {
  return {c.operands[0], c.operands[1], c.operands[0].shape()[0] - 1, c.operands[1].shape()[0]};
}

// [k, 1] i32: j * step in row j.
Value directionOffsets(Graph &g, int64_t k, int64_t step) {
  std::vector<double> v;
  for (int64_t j = 0; j < k; ++j)
    v.push_back(static_cast<double>(j * step));
  return constant(g, Tensor(i32({k, 1}), v));
}

// The k copies of the pattern as one CSR matrix with k*rows rows: copy j's
// entries follow copy j-1's; with columnShift > 0 its columns are shifted by
// j * columnShift (block diagonal), else all copies share the columns.
Pattern stacked(const RuleContext &c, int64_t k, int64_t columnShift) {
  Pattern p = patternOf(c);
  if (k == 1)
    return p;
  if (k * std::max(p.nnz, columnShift) > std::numeric_limits<int32_t>::max())
    throw Error(std::string(opName(c.node.kind)) + ": " + std::to_string(k) +
                " directions of a CSR matrix with " + std::to_string(p.nnz) +
                " entries overflow its i32 indices; use fewer directions per sweep");
  Graph &g = c.g;
  Value ptrs = p.rowPtr + directionOffsets(g, k, p.nnz); // [k, rows + 1]
  Value starts = reshape(slice(ptrs, {0, 0}, {k, p.rows}), {k * p.rows});
  Value end = reshape(slice(ptrs, {k - 1, p.rows}, {k, p.rows + 1}), {1});
  Value cols = columnShift > 0 ? p.colIdx + directionOffsets(g, k, columnShift)
                               : broadcastTo(p.colIdx, {k, p.nnz});
  return {concat({starts, end}), reshape(cols, {k * p.nnz}), k * p.rows, k * p.nnz};
}

CsrMatrix matrix(const Pattern &p, Value values, int64_t cols) {
  return {p.rowPtr, p.colIdx, values, cols};
}

// [k, R, N] <-> [R, k*N]: the directions of a dense operand as extra columns.
Value directionsToColumns(Value d) {
  const Shape s = d.shape();
  return reshape(transpose(d, {1, 0, 2}), {s[1], s[0] * s[2]});
}
Value columnsToDirections(Value y, int64_t k) {
  const Shape s = y.shape();
  return transpose(reshape(y, {s[0], k, s[1] / k}), {1, 0, 2});
}

// A primal matrix [R, N] repeated for k directions as [k*R, N].
Value repeatRows(Value x, int64_t k) {
  const Shape s = x.shape();
  return k == 1 ? x : reshape(broadcastTo(x, {k, s[0], s[1]}), {k * s[0], s[1]});
}

// The columns K of spmm's A.
int64_t spmmColumns(const RuleContext &c) {
  return c.attrs().getBool("transpose") ? c.attrs().getInt("cols") : c.operands[3].shape()[0];
}

MaybeValue spmmJvp(const RuleContext &c, Tangents t) {
  const bool tr = c.attrs().getBool("transpose");
  const int64_t k = c.directions, K = spmmColumns(c);
  const Pattern p = patternOf(c);
  Value D = c.operands[3];
  const int64_t n = D.shape()[1];
  MaybeValue dy;
  if (t[3]) // A · dD: the directions ride in the columns
    dy = columnsToDirections(
        spmm(matrix(p, c.operands[2], K), directionsToColumns(*t[3]), tr), k);
  if (t[2]) { // A(dv) · D: one stacked pattern
    Value dv = reshape(*t[2], {k * p.nnz});
    Value y = tr ? spmm(matrix(stacked(c, k, K), dv, k * K), repeatRows(D, k), true)
                 : spmm(matrix(stacked(c, k, 0), dv, K), D);
    dy = addMaybe(dy, reshape(y, {k, tr ? K : p.rows, n}));
  }
  return dy;
}

std::vector<MaybeValue> spmmVjp(const RuleContext &c, Value adj, Wanted w) {
  const bool tr = c.attrs().getBool("transpose");
  const int64_t k = c.directions, K = spmmColumns(c);
  const Pattern p = patternOf(c);
  Value D = c.operands[3];
  const int64_t n = D.shape()[1];
  std::vector<MaybeValue> r(4);
  if (w[3]) // the transposed product (A^T Y_bar, or A Y_bar for A^T · D)
    r[3] = columnsToDirections(
        spmm(matrix(p, c.operands[2], K), directionsToColumns(adj), !tr), k);
  if (w[2]) { // v_bar[e] = Y_bar[i] · D[c_e], or Y_bar[c_e] · D[i] for A^T · D
    Pattern s = stacked(c, k, tr ? K : 0);
    Value values = tr ? sddmm(s.rowPtr, s.colIdx, repeatRows(D, k), reshape(adj, {k * K, n}))
                      : sddmm(s.rowPtr, s.colIdx, reshape(adj, {k * p.rows, n}), D);
    r[2] = reshape(values, {k, p.nnz});
  }
  return r;
}

// sddmm's b operand has K rows: A's columns.
MaybeValue sddmmJvp(const RuleContext &c, Tangents t) {
  const int64_t k = c.directions;
  const Pattern p = patternOf(c);
  Value a = c.operands[2], b = c.operands[3];
  const int64_t K = b.shape()[0], n = b.shape()[1];
  MaybeValue dy;
  if (t[2]) {
    Pattern s = stacked(c, k, 0);
    dy = sddmm(s.rowPtr, s.colIdx, reshape(*t[2], {k * p.rows, n}), b);
  }
  if (t[3]) {
    Pattern s = stacked(c, k, K);
    dy = addMaybe(dy, sddmm(s.rowPtr, s.colIdx, repeatRows(a, k), reshape(*t[3], {k * K, n})));
  }
  if (!dy)
    return std::nullopt;
  return reshape(*dy, {k, p.nnz});
}

std::vector<MaybeValue> sddmmVjp(const RuleContext &c, Value adj, Wanted w) {
  const int64_t k = c.directions;
  const Pattern p = patternOf(c);
  Value a = c.operands[2], b = c.operands[3];
  const int64_t K = b.shape()[0], n = b.shape()[1];
  Value weights = reshape(adj, {k * p.nnz}); // A(y_bar), one copy per direction
  std::vector<MaybeValue> r(4);
  if (w[2]) // a_bar = A(y_bar) · b
    r[2] = reshape(spmm(matrix(stacked(c, k, 0), weights, K), b), {k, p.rows, n});
  if (w[3]) // b_bar = A(y_bar)^T · a
    r[3] = reshape(spmm(matrix(stacked(c, k, K), weights, k * K), repeatRows(a, k), true),
                   {k, K, n});
  return r;
}

// The CSR structure (row_ptr, col_idx) is integer data: no derivative.
const std::vector<bool> kValuesAndDense = {false, false, true, true};
constexpr std::string_view kStructure =
    "no derivative flows into the CSR structure (row_ptr, col_idx)";

} // namespace

std::vector<DerivativeRules> sparseRules() {
  return {
      {OpKind::SpMM, spmmJvp, spmmVjp, kValuesAndDense, false, kStructure},
      {OpKind::SDDMM, sddmmJvp, sddmmVjp, kValuesAndDense, false, kStructure},
  };
}

} // namespace chainjit::ir::rules
