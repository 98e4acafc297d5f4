// Calls machine code that the JIT generated, through a function pointer.
//
// UndefinedBehaviorSanitizer's -fsanitize=function (part of
// -fsanitize=undefined in the CHAINJIT_ASAN build) checks every indirect call
// by reading a signature that clang places in the 8 bytes before each
// function it compiles. Generated code has no such prefix, and ORC puts a
// graph's entry at the start of a freshly mapped page, so the check reads the
// page before it, often unmapped: a SEGV in the caller instead of a report.
// The check is off for this one call and stays on for every other indirect
// call (LibraryFn kernels included, which clang compiled).
#pragma once

#include <utility>

#if defined(__clang__)
#define CHAINJIT_NO_SANITIZE_FUNCTION __attribute__((no_sanitize("function")))
#else
#define CHAINJIT_NO_SANITIZE_FUNCTION
#endif

namespace chainjit::compiler::jit {

template <typename R, typename... Params, typename... Args>
CHAINJIT_NO_SANITIZE_FUNCTION inline R callJitCode(R (*fn)(Params...), Args &&...args) {
  return fn(std::forward<Args>(args)...);
}

} // namespace chainjit::compiler::jit
