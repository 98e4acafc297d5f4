// Interpreter kernels of the CSR sparse products (spmm, sddmm): loops over the
// rows of A and their entries, in double, never forming A densely. The CSR
// structure is checked first (ir/CsrStructure.h, the same message as the JIT).
#include "interp/Kernels.h"

#include "chainjit/ir/CsrStructure.h"

namespace chainjit::runtime::interp {

namespace {

using ir::Tensor;

// The operands (row_ptr, col_idx) as doubles, checked for an A with `cols`
// columns; fails naming the offending value and its position.
struct Csr {
  std::vector<double> rowPtr, colIdx;
  int64_t rows, nnz;
};
Csr checkedCsr(const KernelArgs &a, int64_t cols) {
  Csr c{a.in(0).toDoubles(), a.in(1).toDoubles(), a.in(0).numel() - 1, a.in(1).numel()};
  ir::CsrFault fault = ir::findCsrFault(
      [&](int64_t i) { return c.rowPtr[i]; }, c.rows, [&](int64_t e) { return c.colIdx[e]; },
      c.nnz, cols);
  if (fault.kind != ir::CsrFault::None)
    a.fail(ir::csrFaultMessage(fault));
  return c;
}

Tensor fromDoubles(const KernelArgs &a, const std::vector<double> &v) {
  Tensor r(a.resultType());
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, v[i]);
  return r;
}

// spmm: out[i] += v_e * dense[c_e] for the entries e = (i, c_e) of A, or
// out[c_e] += v_e * dense[i] with transpose (A^T · dense).
Tensor spmmKernel(const KernelArgs &a) {
  const bool transpose = a.attrs().getBool("transpose");
  const ir::Shape &dense = a.in(3).shape();
  const int64_t n = dense[1], cols = transpose ? a.attrs().getInt("cols") : dense[0];
  Csr c = checkedCsr(a, cols);
  std::vector<double> values = a.in(2).toDoubles(), d = a.in(3).toDoubles();
  std::vector<double> out(static_cast<size_t>(a.resultType().numel()), 0.0);
  for (int64_t i = 0; i < c.rows; ++i)
    for (auto e = static_cast<int64_t>(c.rowPtr[i]); e < c.rowPtr[i + 1]; ++e) {
      auto col = static_cast<int64_t>(c.colIdx[e]);
      int64_t to = (transpose ? col : i) * n, from = (transpose ? i : col) * n;
      for (int64_t j = 0; j < n; ++j)
        out[to + j] += values[e] * d[from + j];
    }
  return fromDoubles(a, out);
}

// sddmm: out[e] = a[i] · b[c_e] for the entries e = (i, c_e) of the pattern.
Tensor sddmmKernel(const KernelArgs &a) {
  const ir::Shape &bShape = a.in(3).shape();
  const int64_t n = bShape[1];
  Csr c = checkedCsr(a, bShape[0]);
  std::vector<double> x = a.in(2).toDoubles(), y = a.in(3).toDoubles();
  std::vector<double> out(static_cast<size_t>(c.nnz), 0.0);
  for (int64_t i = 0; i < c.rows; ++i)
    for (auto e = static_cast<int64_t>(c.rowPtr[i]); e < c.rowPtr[i + 1]; ++e) {
      auto col = static_cast<int64_t>(c.colIdx[e]);
      double s = 0;
      for (int64_t j = 0; j < n; ++j)
        s += x[i * n + j] * y[col * n + j];
      out[e] = s;
    }
  return fromDoubles(a, out);
}

} // namespace

std::vector<KernelEntry> sparseKernels() {
  return {{ir::OpKind::SpMM, spmmKernel}, {ir::OpKind::SDDMM, sddmmKernel}};
}

} // namespace chainjit::runtime::interp
