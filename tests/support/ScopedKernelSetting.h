// Sets one of the kernels' process-wide settings for a scope and restores
// the previous value after. The kernels read their environment variables
// once per process ($CHAINJIT_KERNEL_THREADS: ParallelItems.h,
// $CHAINJIT_GEMM_KERNEL: GemmWay.h), so tests, which must not depend on
// timing, switch them through this: ScopedSplitMode.h, ScopedGemmWay.h.
#pragma once

#include <atomic>

namespace chainjit::testing {

// Setting: the setting's atomic; Set: sets it as the variable = value would.
template <std::atomic<int> &(*Setting)(), void (*Set)(const char *)> class ScopedKernelSetting {
public:
  explicit ScopedKernelSetting(const char *value) : saved_(Setting().load()) { Set(value); }
  ~ScopedKernelSetting() { Setting().store(saved_); }
  ScopedKernelSetting(const ScopedKernelSetting &) = delete;
  ScopedKernelSetting &operator=(const ScopedKernelSetting &) = delete;

private:
  int saved_;
};

} // namespace chainjit::testing
