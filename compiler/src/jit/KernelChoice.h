// Which kernel runs a matrix product on THIS machine: the generated
// register-blocked loops (kernels/gen/MatMulMicroKernel.h) or cblas_?gemm.
// The answer differs by CPU and BLAS build (on one machine OpenBLAS won every
// size above 8x8x8, on another it ran its generic SSE3 kernels and lost up to
// 128^3), so it is measured, never a constant:
//
//  - calibration: a few shapes per dtype, each timed as generated loops and
//    as BLAS (through the same cj_matmul kernel the lowering calls), in well
//    under a second, once per CPU + features + LLVM version + OpenBLAS
//    build; the result is cached in the default compile cache directory
//    as kernel-choice-<hash>.cjobj (the same directory rules, checksum and
//    atomic write: ObjectCache), and a damaged entry is measured again with
//    a warning;
//  - model: per dtype, time = overhead + work x time-per-op, fitted to those
//    samples for the loops (work = the vector multiply-adds the micro-kernel
//    issues, so padding and masked tails count) and for BLAS (work = m n k);
//    a product within the sizes measured runs on whichever is predicted
//    faster; a larger one on the library kernel (cj_matmul), which splits
//    it over the CPUs and measures its own ways at run time.
//
// JitOptions::blasThreshold >= 0, or else $CHAINJIT_BLAS_THRESHOLD, fixes
// the choice instead (m*n*k below it: loops), for tests and benchmarks.
// The choice shapes the generated module, whose text is the compile cache's
// key, so a different choice never hits another choice's object.
#pragma once

#include "MicroKernelLibrary.h" // relative: benches include this header too
#include "chainjit/compiler/Jit.h"
#include "kernels/gen/MicroTile.h" // relative: benches include this header too

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::compiler::jit {

enum class MatMulKernel { GeneratedLoops, Blas };

// Seconds per call of one shape, both ways.
struct CalibrationSample {
  MatMulDims dims;
  double loops = 0, blas = 0;
};

// time = overhead + work * perOp (seconds).
struct TimeLine {
  double overhead = 0, perOp = 0;
  double at(double work) const { return overhead + work * perOp; }
};

// A fit minimizing the relative error of (work, seconds) points, with both
// coefficients kept >= 0.
TimeLine fitTimeLine(const std::vector<std::pair<double, double>> &points);

struct MatMulCalibration {
  HostVectors vectors; // the tiles the loops were measured with
  struct PerType {
    std::vector<CalibrationSample> samples;
    TimeLine axpy, dot, blas; // loops with B row-wise, loops with B^T, BLAS
  };
  PerType f32, f64;

  const PerType &of(bool isF64) const { return isF64 ? f64 : f32; }
  double predictLoops(bool isF64, const MatMulDims &d) const;
  double predictBlas(bool isF64, const MatMulDims &d) const;
  // The most multiply-adds (m n k) of a sample of this dtype and B's
  // orientation: the loops are chosen only up to it (0: no such sample).
  double calibratedWork(bool isF64, bool transB) const;
  MatMulKernel choose(bool isF64, const MatMulDims &d) const;
  // Fits the lines of both dtypes to their samples.
  void fit();
  // Text (one sample per line); parse() returns nullopt for anything that is
  // not exactly what serialize() writes (a crafted or truncated entry).
  std::string serialize() const;
  static std::optional<MatMulCalibration> parse(const std::string &text);
};

// The shapes calibration times (per dtype).
std::vector<MatMulDims> calibrationShapes();

// The host's vector registers, from LLVM's target info for the JIT's target.
HostVectors hostVectors();

// Times calibrationShapes() on this machine with the loaded generic
// kernels (about 0.1 s) and fits.
MatMulCalibration measureCalibration(const MicroKernelAddresses &kernels);

// The calibration cached in `dir` for `target` (a description of CPU,
// features and BLAS; the LLVM version is added), or `measure()`'d and
// stored there. A damaged or unreadable entry is reported through `warn`,
// deleted and measured again. `measured` says whether measure() ran.
MatMulCalibration loadOrCalibrate(const std::string &dir, const std::string &target,
                                  const std::function<void(const std::string &)> &warn,
                                  const std::function<MatMulCalibration()> &measure,
                                  bool *measured = nullptr);
// The path of that entry.
std::string calibrationEntryPath(const std::string &dir, const std::string &target);

// What calibrations are keyed by: the JIT's CPU and features and OpenBLAS's
// build and core.
std::string calibrationTarget();

// The calibration for `o` (its onWarning receives cache problems). One per
// process: the first one obtained, from the default cache directory
// ($CHAINJIT_CACHE_DIR, else XDG, else HOME), else measured and stored
// there; stored too in a later default directory (the variable changed)
// that lacks it. Neither o.cacheDir nor o.useCache moves or disables it
// (MicroKernelLibrary.h says why).
const MatMulCalibration &hostCalibration(const JitOptions &o);

// The fixed threshold in force (the option, else $CHAINJIT_BLAS_THRESHOLD),
// or -1 when the calibration chooses. Throws chainjit::Error for a
// malformed environment value.
int64_t fixedBlasThreshold(const JitOptions &o);

// The kernel of one product (elemBytes 4 or 8).
MatMulKernel chooseMatMulKernel(const MatMulDims &d, unsigned elemBytes, const JitOptions &o);

} // namespace chainjit::compiler::jit
