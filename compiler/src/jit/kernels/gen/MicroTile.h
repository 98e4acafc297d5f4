// The shape side of the register-blocked matmul micro-kernel
// (MatMulMicroKernel.h), free of LLVM so the lowering plan and the kernel
// choice can reason about it: the host's vector registers, a product's
// dimensions, the tile the kernel uses and the vector work it issues.
#pragma once

#include <cstdint>

namespace chainjit::compiler::jit {

// The host's preferred vector registers: what LLVM's cost model vectorizes
// for (TargetTransformInfo), so an AVX-512 CPU tuned for 256-bit vectors
// reports 256.
struct HostVectors {
  unsigned bits = 128;     // fixed-width vector register size LLVM prefers
  unsigned registers = 16; // vector registers of that class
};

struct MatMulDims {
  int64_t m = 0, n = 0, k = 0;
  bool transA = false, transB = false;
};

// The tile the micro-kernel uses for `d` (elements of `elemBytes` bytes).
struct MicroTile {
  bool dotForm = false;  // C = A B^T: vectors run along q
  unsigned lanes = 1;    // elements per vector
  unsigned rows = 1;     // MR
  unsigned cols = 1;     // NV vectors (axpy form) or NJ columns (dot form)
};

bool microKernelSupports(const MatMulDims &d);
MicroTile microTile(const MatMulDims &d, unsigned elemBytes, const HostVectors &v);
// The tile of the shape-generic kernels (GenericMicroKernel.h): the widest
// vectors, the largest tile the registers hold.
MicroTile genericMicroTile(bool dotForm, unsigned elemBytes, const HostVectors &v);
// The vector multiply-adds the generic micro-kernel issues for `d` (masked
// lanes count as work): what its time is proportional to, beside a fixed
// cost.
int64_t microKernelVectorOps(const MatMulDims &d, unsigned elemBytes, const HostVectors &v);

} // namespace chainjit::compiler::jit
