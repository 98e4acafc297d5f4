// Every run-time choice of the library's product kernels fixed for a scope,
// as docs/training.md ("Reproducible results") tells users to fix them for
// the same bits: BLAS's way (not the rank-k kernel), equal parts on every
// thread, OpenBLAS on one thread. A test that compares two trainings bit
// for bit needs it for any product large enough to go to the library
// kernel (beyond the kernel calibration's shapes: an evaluation batch).
#pragma once

#include "OneBlasThread.h"
#include "ScopedGemmWay.h"
#include "ScopedSplitMode.h"

namespace chainjit::testing {

struct FixedKernelWays {
  ScopedGemmWay gemm{"blas"};
  ScopedSplitMode threads{"force"};
  OneBlasThread blas;
};

} // namespace chainjit::testing
