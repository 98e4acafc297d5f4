// Internal to Conv.cpp: which kernel runs each pass of a convolution on THIS
// machine (the forward conv2d, its input adjoint conv_transpose2d, its
// weight adjoint conv2d_weight_grad; ConvPlan.h), im2col/col2im + GEMM
// (OpenBLAS) or the direct kernel (DirectConv.h, DirectWeightGrad.h). Neither
// wins everywhere: the direct kernel wins where the column matrix is short
// (few input channels times taps) and BLAS wins on wide layers, and where the
// crossing lies depends on the CPU and the BLAS build, so it is measured,
// never a constant: the first time the machine lowers a pass of a given
// geometry and dtype, one image is run both ways (alternating, the
// least of a few runs each) and the faster kernel for a batch on this
// machine's CPUs (chooseByTiming) is remembered, in the
// process and on disk: an entry conv-choice-<hash> in the default compile
// cache directory (ObjectCache's rules and checksum), keyed by the pass,
// the shape, the dtype and calibrationTarget() (CPU, features, LLVM, OpenBLAS build),
// so later processes on the machine agree and do not measure again; a
// damaged entry is deleted and measured again. Each measurement costs a few
// image convolutions (well under a millisecond for the layers of
// examples/*cnn.cj); a layer whose one image takes longer than
// kMeasureBudget through GEMM is left on GEMM without timing the direct
// kernel, to bound compile time.
//
// $CHAINJIT_CONV_KERNEL=gemm or =direct fixes the choice (tests, benchmarks);
// unset or anything else: measured. A pass the direct kernel cannot run
// (the input adjoint of a strided layer: ConvPlan.h) is always GEMM. The
// choice is a param of the kernel call, so it is part of the module text
// (the compile cache's key).
#pragma once

#include "ConvPlan.h" // relative: the tests and the benchmark include this header too
#include "chainjit/ir/Types.h"

#include <cstdint>
#include <string>

namespace chainjit::compiler::jit::kernels {

// The kernel for `pass` of the layer whose forward conv2d has window g and
// outChannels output channels, in dtype dt: forced by the environment or
// measured (cached). The batch g.n matters only to the weight adjoint, which
// is measured on up to 8 images (its direct kernel's set-up is per slot of
// images, ConvChoice.cpp); the other passes on one.
ConvKernel chooseConvKernel(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt);

// Times both kernels on the images of this geometry that a choice measures
// now (seconds per image),
// without the cache or the environment: for the benchmark and the docs.
// direct is 0 where the direct kernel does not apply.
struct ConvTiming {
  double gemm = 0, direct = 0;
};
ConvTiming measureConvKernels(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt);

// The choice from a measurement (both ways timed on one thread) for a batch
// on `threads` CPUs: the direct kernels split their images over the kernel
// pool's threads, while the GEMM path runs image after image, its products
// split over the pool only from kMinSplitMultiplyAdds (Blas.h) on and never
// the weight adjoint's sums; so each time is divided by the threads its way
// would use. (The Fashion CNN's second layer tied on one image, while with 64
// images its direct input adjoint took half the time.) Assumes a batch of at
// least one image per CPU.
ConvKernel chooseByTiming(ConvPass pass, const Window &g, int64_t outChannels, const ConvTiming &t,
                          int64_t threads);

// The disk half of chooseConvKernel, in cache directory `dir` (tests): the
// stored choice of this shape, or a measurement that is then stored.
ConvKernel loadOrMeasureConvKernel(const std::string &dir, ConvPass pass, const Window &g,
                                   int64_t outChannels, ir::DType dt);
// The cache key of that entry (ObjectCache::load / store / entryPath).
std::string convChoiceKey(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt);

} // namespace chainjit::compiler::jit::kernels
