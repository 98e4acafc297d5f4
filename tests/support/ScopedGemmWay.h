// Forces a product's kernel for a scope, as $CHAINJIT_GEMM_KERNEL would
// ("blas", "rank-k", null: as the environment says), and restores the
// previous setting after. The kernels read the variable once per process
// (GemmWay.h), so tests switch it through this.
#pragma once

#include "../../compiler/src/jit/kernels/GemmWay.h"

namespace chainjit::testing {

class ScopedGemmWay {
public:
  explicit ScopedGemmWay(const char *value)
      : saved_(compiler::jit::kernels::gemmWaySetting().load()) {
    compiler::jit::kernels::setGemmWay(value);
  }
  ~ScopedGemmWay() { compiler::jit::kernels::gemmWaySetting().store(saved_); }
  ScopedGemmWay(const ScopedGemmWay &) = delete;
  ScopedGemmWay &operator=(const ScopedGemmWay &) = delete;

private:
  int saved_;
};

} // namespace chainjit::testing
