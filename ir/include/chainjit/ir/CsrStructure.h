// The run-time check of a CSR structure (row_ptr, col_idx), shared by the
// interpreter's and the JIT's kernels of spmm and sddmm so that both report
// the same message: the type rule knows only the lengths, the values arrive
// with each call. One pass over M + 1 row pointers and nnz column indices.
#pragma once

#include <cstdint>
#include <string>

namespace chainjit::ir {

// The first problem of the CSR structure of an M x cols matrix with nnz
// entries, naming the offending value and its position; empty when valid.
// rowPtr(i) for i in [0, M] and colIdx(e) for e in [0, nnz) read the
// operands (any integer source: a tensor of doubles or an int32 buffer).
// Valid means row_ptr[0] = 0, row_ptr never decreases, row_ptr[M] = nnz and
// every column index lies in [0, cols); then every row's entries
// row_ptr[i] .. row_ptr[i+1]-1 lie inside col_idx and values.
template <typename RowPtrAt, typename ColIdxAt>
std::string csrStructureProblem(RowPtrAt rowPtr, int64_t rows, ColIdxAt colIdx, int64_t nnz,
                                int64_t cols) {
  auto str = [](auto v) { return std::to_string(static_cast<int64_t>(v)); };
  if (rowPtr(0) != 0)
    return "row_ptr[0] = " + str(rowPtr(0)) + ", expected 0";
  for (int64_t i = 1; i <= rows; ++i)
    if (rowPtr(i) < rowPtr(i - 1))
      return "row_ptr decreases at position " + str(i) + ": row_ptr[" + str(i) +
             "] = " + str(rowPtr(i)) + " after row_ptr[" + str(i - 1) + "] = " +
             str(rowPtr(i - 1));
  if (rowPtr(rows) != nnz)
    return "row_ptr[" + str(rows) + "] = " + str(rowPtr(rows)) +
           " (the last entry) differs from nnz = " + str(nnz) + " (the length of col_idx)";
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t e = static_cast<int64_t>(rowPtr(i)); e < static_cast<int64_t>(rowPtr(i + 1)); ++e)
      if (colIdx(e) < 0 || colIdx(e) >= cols)
        return "col_idx[" + str(e) + "] = " + str(colIdx(e)) + " (in row " + str(i) +
               ") is outside [0, " + str(cols) + ")";
  return {};
}

} // namespace chainjit::ir
