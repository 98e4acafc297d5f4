// Internal to the library kernels: $CHAINJIT_GEMM_KERNEL, which forces one
// of a product's kernels (tests, which must not depend on timing;
// benchmarks): "blas" leaves the product's other kernel (the rank-k kernel)
// out, "rank-k" runs it with plain stores, "rank-k-stream" with streaming
// ones where it offers them, anything else measures (Blas.h). Read once per
// process (EnvironmentSetting.h), not with a getenv on every product;
// setGemmWay switches it within one process.
#pragma once

#include "EnvironmentSetting.h"

#include <atomic>
#include <cstring>

namespace chainjit::compiler::jit::kernels {

// -1: measure, 0: BLAS's ways alone, 1: the other kernel, 2: the other
// kernel streaming.
inline int parseGemmWay(const char *value) {
  if (value && std::strcmp(value, "blas") == 0)
    return 0;
  if (value && std::strcmp(value, "rank-k") == 0)
    return 1;
  if (value && std::strcmp(value, "rank-k-stream") == 0)
    return 2;
  return -1;
}

// The setting, -2 while the environment is unread.
inline std::atomic<int> &gemmWaySetting() {
  static std::atomic<int> setting{-2};
  return setting;
}

inline int forcedGemmWay() {
  return readOnce(gemmWaySetting(), -2, "CHAINJIT_GEMM_KERNEL", parseGemmWay);
}

// As $CHAINJIT_GEMM_KERNEL = `value` would; null: read the environment
// again on the next product.
inline void setGemmWay(const char *value) {
  gemmWaySetting().store(value ? parseGemmWay(value) : -2, std::memory_order_relaxed);
}

} // namespace chainjit::compiler::jit::kernels
