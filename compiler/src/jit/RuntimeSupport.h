// Small C-ABI helpers that generated code calls besides the library kernels:
// the NaN/Inf scan of --check-numerics, the split of a large generated loop
// over threads, and the clock of JitOptions::profile.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

extern "C" {
// 1 when any of the n elements is NaN or +-Inf, else 0.
int32_t cj_has_nonfinite_f32(const float *data, int64_t n);
int32_t cj_has_nonfinite_f64(const double *data, int64_t n);
// Runs part(pointers, first, last) over [0, count) of a generated loop's
// outermost dim, in up to kSplitParts parts of equal size that forItems
// (kernels/ParallelItems.h) splits over threads when timing says it pays.
// `history` is the loop's own SplitHistory: zeroed memory of
// kSplitHistoryBytes that the module holds for it (its life is the code's).
// The parts write disjoint elements, so the result does not depend on the
// split.
void cj_parallel_loop(int64_t count, void (*part)(void *pointers, int64_t first, int64_t last),
                      void *pointers, void *history);
// A monotonic clock in nanoseconds (a profiled kernel's start).
int64_t cj_profile_now();
// Adds one call and the nanoseconds since `start` to a kernel's counters
// (slot[0] calls, slot[1] nanoseconds; atomic: calls may run at once).
void cj_profile_add(int64_t *slot, int64_t start);
}

namespace chainjit::compiler::jit {

// The bytes of a SplitHistory, which generated code reserves (zeroed, 8-byte
// aligned) for each split loop.
inline constexpr uint64_t kSplitHistoryBytes = 120;

// The counters of a profiled module (JitOptions::profile): a global of two
// int64 per kernel (calls, nanoseconds), in plan order, named so.
inline constexpr const char *kProfileName = "cj_profile";
// Nanoseconds of cj_profile_now's clock.
int64_t profileNow();

// Every helper above with its address, for the JIT's symbol table.
std::vector<std::pair<std::string, void *>> runtimeSupportSymbols();

} // namespace chainjit::compiler::jit
