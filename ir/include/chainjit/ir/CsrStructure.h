// The run-time check of a CSR structure (row_ptr, col_idx), shared by the
// interpreter's and the JIT's kernels of spmm and sddmm so that both report
// the same message: the type rule knows only the lengths, the values arrive
// with each call. One pass over M + 1 row pointers and nnz column indices.
//
// The check itself (findCsrFault) allocates nothing and needs no C++
// runtime, so the JIT's kernels, which ahead-of-time bundles carry into C
// programs, can use it; the message (csrFaultMessage) is made by the caller.
#pragma once

#include <cstdint>
#include <string>

namespace chainjit::ir {

// The first violation of a CSR structure, with what its message names.
struct CsrFault {
  enum Kind : int32_t {
    None,
    FirstRowPtr,      // row_ptr[0] = value, not 0
    DecreasingRowPtr, // row_ptr[position] = value < row_ptr[position - 1] = previous
    LastRowPtr,       // row_ptr[rows] = value, not nnz
    ColumnOutOfRange, // col_idx[position] = value (in row `row`) outside [0, cols)
  };
  Kind kind = None;
  int64_t position = 0, value = 0, previous = 0, row = 0;
  int64_t rows = 0, nnz = 0, cols = 0; // the matrix: M x cols with nnz entries
};

// Checks the structure of an M x cols matrix with nnz entries: row_ptr[0] =
// 0, row_ptr never decreases, row_ptr[M] = nnz and every column index lies
// in [0, cols); then every row's entries row_ptr[i] .. row_ptr[i+1]-1 lie
// inside col_idx and values. rowPtr(i) for i in [0, M] and colIdx(e) for e
// in [0, nnz) read the operands (a tensor of doubles or an int32 buffer).
template <typename RowPtrAt, typename ColIdxAt>
CsrFault findCsrFault(RowPtrAt rowPtr, int64_t rows, ColIdxAt colIdx, int64_t nnz,
                      int64_t cols) {
  CsrFault f;
  f.rows = rows;
  f.nnz = nnz;
  f.cols = cols;
  auto fault = [&](CsrFault::Kind kind, int64_t position, int64_t value) {
    f.kind = kind;
    f.position = position;
    f.value = value;
    return f;
  };
  if (rowPtr(0) != 0)
    return fault(CsrFault::FirstRowPtr, 0, static_cast<int64_t>(rowPtr(0)));
  for (int64_t i = 1; i <= rows; ++i)
    if (rowPtr(i) < rowPtr(i - 1)) {
      f.previous = static_cast<int64_t>(rowPtr(i - 1));
      return fault(CsrFault::DecreasingRowPtr, i, static_cast<int64_t>(rowPtr(i)));
    }
  if (rowPtr(rows) != nnz)
    return fault(CsrFault::LastRowPtr, rows, static_cast<int64_t>(rowPtr(rows)));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t e = static_cast<int64_t>(rowPtr(i)); e < static_cast<int64_t>(rowPtr(i + 1)); ++e)
      if (colIdx(e) < 0 || colIdx(e) >= cols) {
        f.row = i;
        return fault(CsrFault::ColumnOutOfRange, e, static_cast<int64_t>(colIdx(e)));
      }
  return f;
}

// The message of a fault, naming the offending value and its position
// ("col_idx[5] = 7 (in row 3) is outside [0, 5)"); empty for None.
inline std::string csrFaultMessage(const CsrFault &f) {
  auto s = [](int64_t v) { return std::to_string(v); };
  switch (f.kind) {
  case CsrFault::None:
    return {};
  case CsrFault::FirstRowPtr:
    return "row_ptr[0] = " + s(f.value) + ", expected 0";
  case CsrFault::DecreasingRowPtr:
    return "row_ptr decreases at position " + s(f.position) + ": row_ptr[" + s(f.position) +
           "] = " + s(f.value) + " after row_ptr[" + s(f.position - 1) + "] = " + s(f.previous);
  case CsrFault::LastRowPtr:
    return "row_ptr[" + s(f.position) + "] = " + s(f.value) +
           " (the last entry) differs from nnz = " + s(f.nnz) + " (the length of col_idx)";
  case CsrFault::ColumnOutOfRange:
    return "col_idx[" + s(f.position) + "] = " + s(f.value) + " (in row " + s(f.row) +
           ") is outside [0, " + s(f.cols) + ")";
  }
  return "an invalid CSR structure";
}

} // namespace chainjit::ir
