// Where a tensor's bytes live. A tensor of at least kLargeTensorBytes (a
// data set, not a batch) gets a mapping of its own that the operating
// system may back with 2 MiB pages (Linux's transparent huge pages, asked
// for with madvise before any byte is touched; where they are off, the
// advice is ignored). A training step copies its batch's rows from random
// places of the training set, and with 4 KiB pages nearly every row missed
// the TLB: gathering the Fashion MLP's 64 rows of 3136 bytes from its
// 188 MB set took 34.5 us with 4 KiB pages and 27.3 us with 2 MiB pages
// (docs/performance.md). Smaller tensors come from operator new, as with
// std::allocator.
#pragma once

#include <cstddef>

namespace chainjit::ir {

inline constexpr size_t kLargeTensorBytes = size_t(32) << 20;

// n bytes, aligned for any element type; throws std::bad_alloc.
void *allocateTensorBytes(size_t n);
// Frees what allocateTensorBytes(n) returned, with the same n.
void freeTensorBytes(void *p, size_t n) noexcept;

// Whether this build maps tensors of kLargeTensorBytes or more on their
// own, 2 MiB aligned (Linux, not under AddressSanitizer).
bool largeTensorsMapped();

template <typename T> struct TensorAllocator {
  using value_type = T;
  TensorAllocator() = default;
  template <typename U> TensorAllocator(const TensorAllocator<U> &) {}
  T *allocate(size_t n) { return static_cast<T *>(allocateTensorBytes(n * sizeof(T))); }
  void deallocate(T *p, size_t n) noexcept { freeTensorBytes(p, n * sizeof(T)); }
  friend bool operator==(TensorAllocator, TensorAllocator) { return true; }
};

} // namespace chainjit::ir
