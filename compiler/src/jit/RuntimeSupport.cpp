#include "RuntimeSupport.h"

#include "jit/kernels/ParallelItems.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>

namespace {
template <typename T> int32_t hasNonFinite(const T *data, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i]))
      return 1;
  return 0;
}
} // namespace

extern "C" int32_t cj_has_nonfinite_f32(const float *data, int64_t n) {
  return hasNonFinite(data, n);
}
extern "C" int32_t cj_has_nonfinite_f64(const double *data, int64_t n) {
  return hasNonFinite(data, n);
}

extern "C" void cj_parallel_loop(int64_t count,
                                 void (*part)(void *pointers, int64_t first, int64_t last),
                                 void *pointers, void *history) {
  using namespace chainjit::compiler::jit::kernels;
  const int64_t parts = std::min(count, kSplitParts);
  forItems(
      parts,
      [&](int64_t begin, int64_t end) {
        const int64_t first = count * begin / parts, last = count * end / parts;
        if (first < last)
          part(pointers, first, last);
      },
      *static_cast<SplitHistory *>(history));
}

extern "C" int64_t cj_profile_now() { return chainjit::compiler::jit::profileNow(); }

extern "C" void cj_profile_add(int64_t *slot, int64_t start) {
  const int64_t elapsed = chainjit::compiler::jit::profileNow() - start;
  __atomic_fetch_add(&slot[0], 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&slot[1], elapsed, __ATOMIC_RELAXED);
}

namespace chainjit::compiler::jit {

int64_t profileNow() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1000000000 + int64_t(t.tv_nsec);
}

static_assert(sizeof(kernels::SplitHistory) == kSplitHistoryBytes &&
                  alignof(kernels::SplitHistory) <= 8,
              "generated code reserves kSplitHistoryBytes for each split loop");

std::vector<std::pair<std::string, void *>> runtimeSupportSymbols() {
  return {{"cj_has_nonfinite_f32", reinterpret_cast<void *>(&cj_has_nonfinite_f32)},
          {"cj_has_nonfinite_f64", reinterpret_cast<void *>(&cj_has_nonfinite_f64)},
          {"cj_parallel_loop", reinterpret_cast<void *>(&cj_parallel_loop)},
          {"cj_profile_now", reinterpret_cast<void *>(&cj_profile_now)},
          {"cj_profile_add", reinterpret_cast<void *>(&cj_profile_add)}};
}

} // namespace chainjit::compiler::jit
