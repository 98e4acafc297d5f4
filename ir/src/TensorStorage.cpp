#include "chainjit/ir/TensorStorage.h"

#include <cstdint>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace chainjit::ir {

// Large tensors get a mapping of their own on Linux with transparent huge
// pages' advice, and not under AddressSanitizer, which checks accesses
// around operator new's blocks but not around a mapping of ours.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHAINJIT_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CHAINJIT_UNDER_ASAN 1
#endif
#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(CHAINJIT_UNDER_ASAN)
#define CHAINJIT_OWN_MAPPINGS 1
#endif

#if defined(CHAINJIT_OWN_MAPPINGS)
namespace {

constexpr size_t kHugePage = size_t(2) << 20;

size_t roundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

} // namespace
#endif

bool largeTensorsMapped() {
#if defined(CHAINJIT_OWN_MAPPINGS)
  return true;
#else
  return false;
#endif
}

void *allocateTensorBytes(size_t n) {
#if defined(CHAINJIT_OWN_MAPPINGS)
  if (n >= kLargeTensorBytes) {
    // One huge page more than needed, then the unaligned head and the tail
    // given back: the mapping starts on a 2 MiB boundary.
    const size_t size = roundUp(n, kHugePage);
    void *raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
      throw std::bad_alloc();
    const uintptr_t at = roundUp(reinterpret_cast<uintptr_t>(raw), kHugePage);
    const size_t head = at - reinterpret_cast<uintptr_t>(raw);
    if (head > 0)
      munmap(raw, head);
    if (kHugePage - head > 0)
      munmap(reinterpret_cast<char *>(at) + size, kHugePage - head);
    madvise(reinterpret_cast<void *>(at), size, MADV_HUGEPAGE); // advice only
    return reinterpret_cast<void *>(at);
  }
#endif
  return ::operator new(n);
}

void freeTensorBytes(void *p, size_t n) noexcept {
#if defined(CHAINJIT_OWN_MAPPINGS)
  if (n >= kLargeTensorBytes) {
    munmap(p, roundUp(n, kHugePage));
    return;
  }
#else
  (void)n;
#endif
  ::operator delete(p);
}

} // namespace chainjit::ir
