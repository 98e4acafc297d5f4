// Internal to Conv.cpp: which kernel runs a conv2d forward on THIS machine,
// im2col + GEMM (OpenBLAS) or the direct convolution (DirectConv.h). Neither
// wins everywhere: the direct kernel wins where the column matrix is short
// (few input channels times taps) and BLAS wins on wide layers, and where the
// crossing lies depends on the CPU and the BLAS build, so it is measured,
// never a constant: the first time the machine lowers a conv2d of a given
// geometry and dtype, one image is convolved both ways (alternating, the
// least of a few runs each) and the faster kernel is remembered, in the
// process and on disk: an entry conv-choice-<hash> in the default compile
// cache directory (ObjectCache's rules and checksum), keyed by the shape,
// the dtype and calibrationTarget() (CPU, features, LLVM, OpenBLAS build),
// so later processes on the machine agree and do not measure again; a
// damaged entry is deleted and measured again. Each measurement costs a few
// image convolutions (well under a millisecond for the layers of
// examples/*cnn.cj); a layer whose one image takes longer than
// kMeasureBudget through GEMM is left on GEMM without timing the direct
// kernel, to bound compile time.
//
// $CHAINJIT_CONV_KERNEL=gemm or =direct fixes the choice (tests, benchmarks);
// unset or anything else: measured. The choice is a param of the kernel
// call, so it is part of the module text (the compile cache's key).
#pragma once

#include "chainjit/ir/Types.h"
#include "WindowGeometry.h" // relative: the tests and the benchmark include this header too

#include <cstdint>
#include <string>

namespace chainjit::compiler::jit::kernels {

enum class ConvKernel : int64_t { Gemm = 0, Direct = 1 };

// The kernel for conv2d of window g (g.n is ignored) with outChannels output
// channels in dtype dt: forced by the environment or measured (cached).
ConvKernel chooseConvKernel(const Window &g, int64_t outChannels, ir::DType dt);

// Times both kernels on one image of this geometry now (seconds per image),
// without the cache or the environment: for the benchmark and the docs.
struct ConvTiming {
  double gemm = 0, direct = 0;
};
ConvTiming measureConvKernels(const Window &g, int64_t outChannels, ir::DType dt);

// The disk half of chooseConvKernel, in cache directory `dir` (tests): the
// stored choice of this shape, or a measurement that is then stored.
ConvKernel loadOrMeasureConvKernel(const std::string &dir, const Window &g,
                                   int64_t outChannels, ir::DType dt);
// The cache key of that entry (ObjectCache::load / store / entryPath).
std::string convChoiceKey(const Window &g, int64_t outChannels, ir::DType dt);

} // namespace chainjit::compiler::jit::kernels
