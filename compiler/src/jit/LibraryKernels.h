// Library kernels: precompiled C-ABI functions that generated code calls for
// ops whose loops the lowering does not emit itself (conv through im2col and
// GEMM, pooling, softmax, losses, data movement, solve, ...). XLA:CPU and
// Glow do the same for their "runtime functions". Elementwise ops, reductions
// and small matmuls are generated and fused by the lowering instead.
//
// Every kernel has one signature:
//   int32_t fn(void *const *operands, void *result, const int64_t *params,
//              void *scratch);
// `operands` are the op's operand buffers (row-major, dense), `result` the
// buffer of its result, `params` a constant int64 array the lowering bakes
// into the module (shapes, attributes: each kernel documents its encoding
// next to its `lower` function), and `scratch` an arena region of
// LibraryCall::scratchBytes bytes (aligned to 64) the kernel may use during
// the call. It returns 0 or a JitStatusCode.
//
// One place per op: each entry of libraryKernels() pairs an OpKind with the
// function that builds its call, and the kernel it names is defined in the
// same family file under kernels/.
#pragma once

#include "chainjit/ir/Graph.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace chainjit::compiler::jit {

using LibraryFn = int32_t (*)(void *const *operands, void *result,
                              const int64_t *params, void *scratch);

// Status codes returned by kernels and by the entry function.
enum JitStatusCode : int32_t {
  kJitOk = 0,
  kJitSingularMatrix = 1, // solve: zero pivot in the LU factorization
  kJitNonFinite = 2,      // --check-numerics: NaN or Inf produced
  kJitLabelOutOfRange = 3, // cross_entropy: a class label outside [0, C)
  kJitIndexOutOfRange = 4, // gather, scatter_add, one_hot: see kernels/IndexFault.h
  kJitInvalidCsr = 5,      // spmm, sddmm: a bad CSR structure, see kernels/CsrFault.h
};

struct LibraryCall {
  std::string symbol;          // e.g. "cj_softmax_f32"
  std::vector<int64_t> params; // baked into the module as a constant array
  int64_t scratchBytes = 0;    // arena scratch the kernel may use during the call
};

struct LibraryKernel {
  ir::OpKind kind;
  // The call for node `id` of `g` (operand and result types are in the graph).
  LibraryCall (*lower)(const ir::Graph &g, ir::NodeId id);
};

// Every op lowered as a library call, each once. Ops of kind Solve and MatMul
// are lowered by the core (factorization reuse, transpose flags, generated
// small loops) and call the kernels declared below directly.
std::vector<LibraryKernel> libraryKernels();

// Every symbol a generated module may call (library kernels, the matmul and
// solve kernels, BLAS is resolved from OpenBLAS itself), with its address:
// registered in the JIT as absolute symbols.
std::vector<std::pair<std::string, void *>> librarySymbols();

// The GEMM kernel behind matmul (symbols "cj_matmul_f32", "cj_matmul_f64";
// "cj_matmul_i32" with plain loops). params:
//   [0] batch count P, [1] m, [2] n, [3] k, [4] transA, [5] transB,
//   [6] flop threshold: m*n*k at or above it calls cblas_?gemm, below it a
//       plain loop nest,
//   [7 .. 7+P)    offset (in elements) of each batch's A matrix,
//   [7+P .. 7+2P) offset of each batch's B matrix.
// A batch p computes C_p = op(A_p) op(B_p) into result + p*m*n, with op(A) an
// m x k matrix stored row-major as [m, k] (transA = 0) or [k, m] (transA = 1),
// op(B) a k x n matrix stored as [k, n] (transB = 0) or [n, k] (transB = 1).
// operands: {A, B}.

// The solve kernel ("cj_solve_f32", "cj_solve_f64"). params:
//   [0] n, [1] nrhs (1 for a vector b), [2] transposed: solve A^T x = b,
//   [3] factorized: the scratch already holds A's LU factors from an earlier
//       call with the same scratch (A is then not read).
// scratch: n*n elements of the dtype for the LU factors, then n int32 pivots
// (the lowering keeps it alive from the factorizing call to the last reuse).
// operands: {A, b}. A zero pivot returns kJitSingularMatrix.

} // namespace chainjit::compiler::jit
