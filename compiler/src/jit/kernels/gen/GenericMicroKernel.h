// Shape-generic register-blocked matrix products, emitted as LLVM IR once
// per machine (MicroKernelLibrary.h compiles, caches and loads them) so a
// graph's module only holds calls: a per-shape kernel cost ~20 ms of O3 and
// codegen per distinct shape in every cold compile.
//
// The same tiles as the per-shape kernels (MatMulMicroKernel.h), with m, n,
// k as run-time arguments:
//  - axpy form (B read row-wise), A(i, q) at A[i*sI + q*sQ] (so one
//    function serves A and A^T): MR x NV vector tiles of C held in registers
//    over q; rows that do not fill MR go through tiles of 4, 2, 1 rows (the
//    binary digits of the remainder); the columns that do not fill NV
//    vectors through a tile of 1..NV vectors whose last one is masked by a
//    run-time mask;
//  - dot form (C = A B^T): MR x NJ dot products, vectors along q, the last
//    chunk masked at run time, reduced at the end.
// Tile sizes come from the host's vector registers (HostVectors), fixed
// when the kernels are compiled.
#pragma once

#include "jit/kernels/gen/MicroTile.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <string>
#include <vector>

namespace chainjit::compiler::jit {

// The kernels' symbols; the number is the ABI's version (graph objects in
// the compile cache call them by name).
//   void cj_mk1_axpy_<t>(C, A, B, i64 m, i64 n, i64 k, i64 sI, i64 sQ)
//   void cj_mk1_dot_<t>(C, A, B, i64 m, i64 n, i64 k)
std::string genericMicroKernelName(bool isF64, bool dotForm);
std::vector<std::string> genericMicroKernelNames();

// Defines all of them in `m` with `linkage` (external for the per-machine
// object, internal when a module must carry its own: ahead-of-time bundles).
void defineGenericMicroKernels(llvm::Module &m, const HostVectors &v,
                               llvm::GlobalValue::LinkageTypes linkage);

// Defines, with internal linkage, those of the kernels that `m` declares
// and does not define. Returns whether it defined any.
bool defineDeclaredMicroKernels(llvm::Module &m, const HostVectors &v);

// Whether `m` calls any of them (declared, not defined).
bool declaresGenericMicroKernels(const llvm::Module &m);

// A call of the generic kernel for `d` at the builder's insertion point
// (declared in fn's module with noalias/readonly/argmem attributes, so the
// caller's optimizer knows what the call touches). Requires
// microKernelSupports(d).
void emitGenericMicroKernelCall(llvm::IRBuilder<> &b, llvm::Function *fn, llvm::Type *elemTy,
                                llvm::Value *c, llvm::Value *a, llvm::Value *bm,
                                const MatMulDims &d);

} // namespace chainjit::compiler::jit
