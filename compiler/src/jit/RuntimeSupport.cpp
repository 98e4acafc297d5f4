#include "RuntimeSupport.h"

#include "jit/kernels/ParallelItems.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

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

namespace {

// The split history of each generated loop, found by its part function
// (open addressing; a full table leaves further loops one shared history).
chainjit::compiler::jit::kernels::SplitHistory &historyOf(const void *part) {
  constexpr size_t kSlots = 1024;
  static std::atomic<const void *> keys[kSlots];
  static chainjit::compiler::jit::kernels::SplitHistory histories[kSlots + 1];
  size_t h = (reinterpret_cast<uintptr_t>(part) >> 4) % kSlots;
  for (size_t probe = 0; probe < kSlots; ++probe, h = (h + 1) % kSlots) {
    const void *key = keys[h].load(std::memory_order_acquire);
    if (key == part)
      return histories[h];
    if (key == nullptr) {
      const void *expected = nullptr;
      if (keys[h].compare_exchange_strong(expected, part) || expected == part)
        return histories[h];
    }
  }
  return histories[kSlots];
}

} // namespace

extern "C" void cj_parallel_loop(int64_t count,
                                 void (*part)(void *pointers, int64_t first, int64_t last),
                                 void *pointers) {
  constexpr int64_t kParts = 64; // enough that the first part times the rest
  const int64_t parts = std::min(count, kParts);
  chainjit::compiler::jit::kernels::forItems(
      parts,
      [&](int64_t begin, int64_t end) {
        const int64_t first = count * begin / parts, last = count * end / parts;
        if (first < last)
          part(pointers, first, last);
      },
      historyOf(reinterpret_cast<const void *>(part)));
}

namespace chainjit::compiler::jit {

std::vector<std::pair<std::string, void *>> runtimeSupportSymbols() {
  return {{"cj_has_nonfinite_f32", reinterpret_cast<void *>(&cj_has_nonfinite_f32)},
          {"cj_has_nonfinite_f64", reinterpret_cast<void *>(&cj_has_nonfinite_f64)},
          {"cj_parallel_loop", reinterpret_cast<void *>(&cj_parallel_loop)}};
}

} // namespace chainjit::compiler::jit
