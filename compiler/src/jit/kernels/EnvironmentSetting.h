// Internal to the library kernels: a setting that a kernel takes from an
// environment variable, read on first use instead of with a getenv on
// every call ($CHAINJIT_KERNEL_THREADS: ParallelItems.h; $CHAINJIT_GEMM_KERNEL:
// GemmWay.h). The setting is an atomic in an inline function, one object
// across the libraries and constant-initialized, so no guard (AOT bundles:
// libc only); tests store into it to switch a setting within one process.
#pragma once

#include <atomic>
#include <cstdlib>

namespace chainjit::compiler::jit::kernels {

// `setting`'s value, parsed from `variable` when it still holds `unread`
// (a racing store, a test's, wins).
inline int readOnce(std::atomic<int> &setting, int unread, const char *variable,
                    int (*parse)(const char *)) {
  int value = setting.load(std::memory_order_relaxed);
  if (value == unread) {
    int expected = unread;
    setting.compare_exchange_strong(expected, parse(std::getenv(variable)),
                                    std::memory_order_relaxed);
    value = setting.load(std::memory_order_relaxed);
  }
  return value;
}

} // namespace chainjit::compiler::jit::kernels
