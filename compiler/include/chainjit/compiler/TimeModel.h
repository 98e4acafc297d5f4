// A cost model in time: what a Jacobian plan's steps take on a machine, so
// that the chain DP can minimize predicted seconds instead of multiply-adds
// (docs/cost-model.md, "A cost model in time").
//
// Every step of a plan (a sweep through a factor, a product of two
// accumulated parts) is one kernel call that does some fused multiply-adds
// and moves some bytes:
//
//   seconds = overhead + FMA x seconds-per-FMA + bytes / bandwidth
//
// The multiply-add rate is that of the kernel that will run the step: dense
// products at the rate of the machine's matrix-product calibration (BLAS or
// the generated loops, whichever the JIT would choose for the shape),
// structured ones (diagonal scalings, elementwise sweeps) at the elementwise
// rate. Bytes move at the copy bandwidth measured on the machine: at cache
// speed when the step's working set fits in the cache, else at memory speed.
// A memory-bound product (2000 x 20 times 20 x 2000: 80M FMA but 32 MB
// written) is thereby charged for its bytes, which a count of FMAs cannot see.
//
// hostTimeModel() builds the model of this machine from the kernel
// calibration (compiler/src/jit/KernelChoice.h) and a copy bandwidth
// measured once per machine and cached with it; tests inject rates directly.
#pragma once

#include "chainjit/compiler/JacobianChain.h"

#include <cstdint>
#include <functional>
#include <string>

namespace chainjit::compiler {

struct JitOptions;

// seconds = overhead per call + FMA x perFma.
struct RateLine {
  double overhead = 0; // seconds per kernel call
  double perFma = 0;   // seconds per fused multiply-add
  double at(double fma, double calls = 1) const { return calls * overhead + fma * perFma; }
};

// What one plan step costs: its multiply-adds, the bytes it moves, the
// kernel calls it makes, and the predicted seconds of all that.
struct StepCost {
  double fma = 0;
  double bytes = 0;
  double calls = 0;
  double seconds = 0;
  StepCost &operator+=(const StepCost &o) {
    fma += o.fma, bytes += o.bytes, calls += o.calls, seconds += o.seconds;
    return *this;
  }
};

struct TimeModel {
  std::string description; // for reports, e.g. "host calibration, f64"
  unsigned elemBytes = 8;  // the element size of the accumulated Jacobians
  RateLine dense;          // dense products and dense sweeps (GEMM)
  RateLine elementwise;    // structured products and sweeps (scalings)
  // Optional: the seconds of one dense m x k times k x n product (B stored
  // transposed when transB) by the kernel the JIT would run (the
  // calibration's choice between generated loops and BLAS); `dense` when
  // empty. Bytes are charged on top. A sweep of d directions through a
  // dense m x n factor is the product the JIT makes of it: d x n times
  // (m x n)^T for tangents, d x m times m x n for adjoints.
  std::function<double(int64_t m, int64_t k, int64_t n, bool transB)> denseSeconds;
  double memoryBytesPerSecond = 10e9; // copy bandwidth (read + write) beyond the cache
  double cacheBytesPerSecond = 50e9;  // copy bandwidth within the cache
  double cacheBytes = 1 << 20;        // working sets up to this size move at cache speed

  // Seconds to move `bytes` as one working set.
  double moveSeconds(double bytes) const;
  // The product of an accumulated m x k part (structure `left`, `lb`
  // blocks) and a k x n part: FMA as productCost(), bytes of both operands
  // and the result (structured parts hold only their nonzeros).
  StepCost product(int64_t m, int64_t k, int64_t n, JacobianStructure left,
                   JacobianStructure right, int64_t lb = 1, int64_t rb = 1) const;
  // One sweep with `directions` columns (tangent) or rows (adjoint) through
  // factor f: FMA directions x t (or a); bytes: the factor's coefficients
  // read once (at most m n of them, as many as the sweep's per-direction
  // FMA) and each direction's input and output vectors; one kernel call per
  // step of a recurrence.
  StepCost sweep(const ChainFactor &f, double directions, bool tangent) const;
  // Forward recomputation of `fma` multiply-adds (memory-limited plans).
  double recomputeSeconds(double fma) const { return fma * dense.perFma; }
};

// The model of this machine for elements of `elemBytes` (4 or 8): the
// kernel calibration of hostCalibration(o) (measured once per machine and
// cached) and the copy bandwidth (likewise measured once and cached in the
// same directory). Warnings about the cache go to o.onWarning.
TimeModel hostTimeModel(unsigned elemBytes, const JitOptions &o);
// Same, with default JitOptions.
TimeModel hostTimeModel(unsigned elemBytes);

// The copy bandwidth of this machine, measured (about 0.1 s) or read from
// the cache: bytes read + written per second for a working set beyond the
// caches and for one within them; with it, the large-product BLAS rate.
struct CopyBandwidth {
  double memoryBytesPerSecond = 0;
  double cacheBytesPerSecond = 0;
  double cacheBytes = 0; // the working-set size measured as "within the cache"
  // Seconds per multiply-add of a large (256^3) BLAS product, per dtype:
  // the rate beyond the kernel calibration's largest shape.
  double largeGemmF32 = 0, largeGemmF64 = 0;
};
CopyBandwidth hostCopyBandwidth(const JitOptions &o);

} // namespace chainjit::compiler
