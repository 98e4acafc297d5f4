// Shared by the libFuzzer targets (each includes it exactly once): a small
// allocation limit, set by the LLVMFuzzerInitialize defined here, so that a size
// read from an input is refused by the library's own checks (a chainjit::Error,
// which is a correct answer) long before it reaches libFuzzer's -rss_limit_mb
// or -malloc_limit_mb (which would be reported as a crash), and a check that
// ends the run with a message when an invariant does not hold.
#pragma once

#include "chainjit/ir/AllocLimit.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace chainjit::fuzz {

// 64 MiB: more than any seed needs, far below the 2 GiB -rss_limit_mb the
// smoke runs set.
constexpr uint64_t kFuzzAllocLimit = uint64_t(64) << 20;

inline void setUpLimits() { ir::setAllocLimit(kFuzzAllocLimit); }

// An invariant the target checks: prints what broke and aborts, which
// libFuzzer reports as a crash and saves the input for.
[[noreturn]] inline void invariantBroken(const std::string &what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

} // namespace chainjit::fuzz

// libFuzzer calls this once before the first input. Every target is one
// file that includes this header once, so the definition lives here.
extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  chainjit::fuzz::setUpLimits();
  return 0;
}
