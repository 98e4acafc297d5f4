// Register-blocked matrix products emitted as LLVM IR (the "generated loops"
// of a small matmul). Not a library kernel: it lives under kernels/gen so the
// ahead-of-time kernel objects (kernels/*.cpp, libc only) do not take it.
//
// C [m, n] = op(A) op(B), shapes known at compile time, f32 or f64:
//  - B read row-wise (not transposed): a tile of MR rows x NV vectors of C
//    stays in vector registers while q runs over k (A(i, q) broadcast, one
//    row of B loaded per q, one fused multiply-add per accumulator); rows
//    and columns that do not fill a tile get a smaller tile, the last
//    vector of a row masked (no scalar tail loop).
//  - B transposed, A not (C = A B^T, both read along q): a tile of MR x NJ
//    dot products, each a vector accumulator over chunks of q, the last
//    chunk masked, reduced horizontally at the end.
//  - both transposed: not handled here (supports() is false).
// The vector width and register count are the host's as LLVM's target
// info reports them (HostVectors), never constants, so AVX2 and AVX-512
// machines get tiles of their own size.
#pragma once

#include "jit/kernels/gen/MicroTile.h"

#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>

namespace chainjit::compiler::jit {

// $CHAINJIT_MICROKERNELS: unset or "generic" false, "per-shape" true;
// anything else throws chainjit::Error.
bool perShapeMicroKernels();

// Which pointer an access reads or writes: 0 = C, 1 = A, 2 = B.
using AccessTagger = std::function<void(llvm::Instruction *, int operand)>;

// Emits a call of the product at the builder's insertion point inside `fn`:
// by default a call of the per-machine generic kernel
// (GenericMicroKernel.h), whose object is compiled once per machine; with
// $CHAINJIT_MICROKERNELS=per-shape (benchmarks compare the two) the body is
// an internal function of fn's module, one per shape and dtype (reused by
// every product of that shape). Arguments are noalias either way, so no
// alias tags are needed (the tagger is not called). `elemTy` is float or
// double; c, a, b point at the first elements. Requires
// microKernelSupports(d).
void emitMicroKernelMatMul(llvm::IRBuilder<> &b, llvm::Function *fn, llvm::Type *elemTy,
                           llvm::Value *c, llvm::Value *a, llvm::Value *bm,
                           const MatMulDims &d, const HostVectors &v,
                           const AccessTagger &tag = {});

} // namespace chainjit::compiler::jit
