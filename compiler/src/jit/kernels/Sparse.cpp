// Library kernels of the CSR sparse products (spmm, sddmm). A is never formed
// densely: each kernel walks the rows of A and their entries, so time and
// memory are linear in nnz (times the dense operand's column count N). The
// CSR structure is checked first (ir/CsrStructure.h, the interpreter's
// check); a fault is left in lastCsrFault() and returns kJitInvalidCsr.
// The kernels use libc alone (POSIX threads, no C++ runtime): AOT bundles
// carry them into C programs.
//
// Rows are independent in A · dense and in sddmm, so products split the
// rows into contiguous blocks over the worker pool when that pays (each
// writes its own output rows: no synchronization). A^T · dense scatters row i's entries into
// the output rows of their columns, so two rows may write the same output
// row: that product runs on one thread (a per-thread copy of the output would
// cost threads x cols x N memory, atomics would cost every add).
#include "jit/kernels/KernelSupport.h"

#include "jit/kernels/CsrFault.h"
#include "jit/kernels/ParallelItems.h"

#include <algorithm>

extern "C" chainjit::ir::CsrFault *cj_csr_fault() {
  thread_local chainjit::ir::CsrFault fault;
  return &fault;
}

namespace chainjit::compiler::jit {

namespace kernels {

namespace {

// The structure check: kJitOk, or kJitInvalidCsr with the fault recorded.
int32_t checkCsr(const int32_t *rowPtr, int64_t rows, const int32_t *colIdx, int64_t nnz,
                 int64_t cols) {
  ir::CsrFault fault = ir::findCsrFault([&](int64_t i) { return rowPtr[i]; }, rows,
                                        [&](int64_t e) { return colIdx[e]; }, nnz, cols);
  if (fault.kind == ir::CsrFault::None)
    return kJitOk;
  lastCsrFault() = fault;
  return kJitInvalidCsr;
}

// Runs body(begin, end) over row blocks of [0, rows): up to kSplitParts
// blocks of equal numbers of entries, not rows (found by bisecting the
// checked, monotone row pointers), so a graph's few high-degree rows do not
// make one thread the straggler; forItems splits the blocks over threads
// when timing the first one says it pays (ParallelItems.h; it used to be a
// fixed 2^21 multiply-adds per thread, measured on one machine).
template <typename Body>
void forRowBlocks(const int32_t *rowPtr, int64_t rows, const Body &body) {
  const int64_t blocks = std::clamp<int64_t>(rows, 1, kSplitParts);
  const int64_t nnz = rowPtr[rows];
  auto bound = [&](int64_t t) -> int64_t {
    if (t >= blocks)
      return rows;
    const int64_t target = nnz * t / blocks;
    return std::lower_bound(rowPtr, rowPtr + rows, target,
                            [](int32_t p, int64_t v) { return int64_t{p} < v; }) -
           rowPtr;
  };
  forItems(blocks, [&](int64_t first, int64_t last) {
    const int64_t begin = bound(first), end = bound(last);
    if (begin < end)
      body(begin, end);
  });
}

// Random rows of the dense operand cost memory latency, not arithmetic:
// while entry e is computed, the row that entry e + kPrefetchDistance needs
// is requested (every cache line of it), so several misses are in flight.
// col_idx has been checked, so the prefetched row is inside the operand.
constexpr int64_t kPrefetchDistance = 16;
template <int Write, typename T>
inline void prefetchRow(const T *base, const int32_t *colIdx, int64_t e, int64_t nnz,
                        int64_t n) {
  if (e + kPrefetchDistance >= nnz)
    return;
  const char *row = reinterpret_cast<const char *>(base + int64_t{colIdx[e + kPrefetchDistance]} * n);
  for (int64_t b = 0; b < n * int64_t{sizeof(T)}; b += 64)
    __builtin_prefetch(row + b, Write);
}

// x · y over n elements with 8 independent partial sums: one running sum
// would make every add wait for the previous one (no reassociation without
// -ffast-math), and the lanes vectorize.
template <typename T> inline T dot(const T *x, const T *y, int64_t n) {
  T acc[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; ++u)
      acc[u] += x[j + u] * y[j + u];
  T s = 0;
  for (; j < n; ++j)
    s += x[j] * y[j];
  for (int u = 0; u < 8; ++u)
    s += acc[u];
  return s;
}

// params of cj_spmm_{f32,f64}: [0] rows M of A, [1] nnz, [2] cols K of A,
// [3] N (columns of dense and of the result), [4] transpose.
// operands: {row_ptr i32 [M+1], col_idx i32 [nnz], values [nnz], dense};
// dense is [K, N] (result [M, N] = A · dense) or, transposed, [M, N]
// (result [K, N] = A^T · dense).
template <typename T>
int32_t spmm(void *const *operands, void *result, const int64_t *p, void *) {
  const int64_t rows = p[0], nnz = p[1], cols = p[2], n = p[3];
  const bool transpose = p[4] != 0;
  const auto *rowPtr = static_cast<const int32_t *>(operands[0]);
  const auto *colIdx = static_cast<const int32_t *>(operands[1]);
  const T *values = static_cast<const T *>(operands[2]);
  const T *dense = static_cast<const T *>(operands[3]);
  T *out = static_cast<T *>(result);
  if (int32_t status = checkCsr(rowPtr, rows, colIdx, nnz, cols))
    return status;
  if (transpose) {
    std::fill(out, out + cols * n, T(0));
    for (int64_t i = 0; i < rows; ++i) {
      const T *from = dense + i * n;
      for (int64_t e = rowPtr[i]; e < rowPtr[i + 1]; ++e) {
        prefetchRow<1>(out, colIdx, e, nnz, n);
        T *to = out + int64_t{colIdx[e]} * n;
        const T v = values[e];
        for (int64_t j = 0; j < n; ++j)
          to[j] += v * from[j];
      }
    }
    return kJitOk;
  }
  forRowBlocks(rowPtr, rows, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T *to = out + i * n;
      std::fill(to, to + n, T(0));
      for (int64_t e = rowPtr[i]; e < rowPtr[i + 1]; ++e) {
        prefetchRow<0>(dense, colIdx, e, nnz, n);
        const T *from = dense + int64_t{colIdx[e]} * n;
        const T v = values[e];
        for (int64_t j = 0; j < n; ++j)
          to[j] += v * from[j];
      }
    }
  });
  return kJitOk;
}

// params of cj_sddmm_{f32,f64}: [0] rows M, [1] nnz, [2] K (rows of b),
// [3] N. operands: {row_ptr, col_idx, a [M, N], b [K, N]}; result [nnz]:
// out[e] = a[i] · b[col_idx[e]] for the entries e of row i.
template <typename T>
int32_t sddmm(void *const *operands, void *result, const int64_t *p, void *) {
  const int64_t rows = p[0], nnz = p[1], cols = p[2], n = p[3];
  const auto *rowPtr = static_cast<const int32_t *>(operands[0]);
  const auto *colIdx = static_cast<const int32_t *>(operands[1]);
  const T *a = static_cast<const T *>(operands[2]);
  const T *b = static_cast<const T *>(operands[3]);
  T *out = static_cast<T *>(result);
  if (int32_t status = checkCsr(rowPtr, rows, colIdx, nnz, cols))
    return status;
  forRowBlocks(rowPtr, rows, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T *x = a + i * n;
      for (int64_t e = rowPtr[i]; e < rowPtr[i + 1]; ++e) {
        prefetchRow<0>(b, colIdx, e, nnz, n);
        out[e] = dot(x, b + int64_t{colIdx[e]} * n, n);
      }
    }
  });
  return kJitOk;
}

using ir::Graph;
using ir::NodeId;

LibraryCall lowerSpmm(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &dense = g.type(n.operands[3]).shape;
  const bool transpose = n.attrs.getBool("transpose");
  const int64_t rows = g.type(n.operands[0]).shape[0] - 1;
  const int64_t nnz = g.type(n.operands[1]).shape[0];
  const int64_t cols = transpose ? n.attrs.getInt("cols") : dense[0];
  return {typedSymbol("spmm", n.type.dtype), {rows, nnz, cols, dense[1], transpose ? 1 : 0}, 0};
}

LibraryCall lowerSddmm(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &b = g.type(n.operands[3]).shape;
  const int64_t rows = g.type(n.operands[0]).shape[0] - 1;
  const int64_t nnz = g.type(n.operands[1]).shape[0];
  return {typedSymbol("sddmm", n.type.dtype), {rows, nnz, b[0], b[1]}, 0};
}

} // namespace

std::vector<LibraryKernel> sparseKernels() {
  return {
      {ir::OpKind::SpMM, lowerSpmm},
      {ir::OpKind::SDDMM, lowerSddmm},
  };
}

} // namespace kernels
} // namespace chainjit::compiler::jit

CJ_DEFINE_FLOAT_KERNELS(cj_spmm, spmm)
CJ_DEFINE_FLOAT_KERNELS(cj_sddmm, sddmm)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::sparseSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_spmm), CJ_FLOAT_SYMBOLS(cj_sddmm)};
}
