// Forces a product's kernel for a scope, as $CHAINJIT_GEMM_KERNEL would
// ("blas", "rank-k", "rank-k-stream", anything else: measure; null: as the environment
// says), and restores the previous setting after.
#pragma once

#include "ScopedKernelSetting.h"

#include "../../compiler/src/jit/kernels/GemmWay.h"

namespace chainjit::testing {

using ScopedGemmWay =
    ScopedKernelSetting<compiler::jit::kernels::gemmWaySetting, compiler::jit::kernels::setGemmWay>;

} // namespace chainjit::testing
