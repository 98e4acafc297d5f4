#include "KernelErrors.h"

#include <utility>

namespace chainjit::compiler::jit {

namespace {
// Per thread: calls of compiled graphs run in parallel on their own threads.
thread_local std::string recorded;
} // namespace

void recordKernelError(std::string message) { recorded = std::move(message); }

std::string takeKernelError() {
  std::string m = std::exchange(recorded, {});
  return m.empty() ? "the kernel rejected its operands" : m;
}

} // namespace chainjit::compiler::jit
