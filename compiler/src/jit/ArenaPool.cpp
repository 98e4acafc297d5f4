#include "ArenaPool.h"

#include "MemoryPlan.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"

#include <cstdlib>

namespace chainjit::compiler::jit {

ArenaPool::ArenaPool(uint64_t bytes, std::string graphName)
    : bytes_(bytes), graphName_(std::move(graphName)) {
  if (bytes_ == 0)
    return;
  free_.reserve(1);
  free_.push_back(allocate());
  count_ = 1;
}

ArenaPool::~ArenaPool() {
  // Every lease has ended: a call holds a reference to the graph that owns us.
  for (std::byte *arena : free_)
    std::free(arena);
}

std::byte *ArenaPool::allocate() const {
  // aligned_alloc wants a multiple of the alignment; compileGraph has checked
  // bytes_ against the allocation limit, but a rounded size must not wrap.
  constexpr uint64_t align = kArenaAlignment;
  void *p = bytes_ <= SIZE_MAX - align
                ? std::aligned_alloc(align, (bytes_ + align - 1) / align * align)
                : nullptr;
  if (!p)
    throw Error("jit: graph '" + graphName_ + "': out of memory allocating its " +
                ir::formatBytes(bytes_) + " arena for intermediate values");
  return static_cast<std::byte *>(p);
}

ArenaPool::Lease ArenaPool::take() {
  if (bytes_ == 0)
    return Lease(nullptr, nullptr);
  {
    std::unique_lock lock(mutex_);
    // Another arena would take the graph past the allocation limit: wait
    // for a concurrent call to give one back instead of failing this one.
    auto fits = [&] {
      uint64_t total = 0;
      return !__builtin_mul_overflow(uint64_t(count_) + 1, bytes_, &total) &&
             total <= ir::allocLimit();
    };
    if (free_.empty() && count_ > 0 && !fits())
      returned_.wait(lock, [&] { return !free_.empty(); });
    if (!free_.empty()) {
      std::byte *arena = free_.back();
      free_.pop_back();
      return Lease(this, arena);
    }
  }
  // Every arena is busy: allocate outside the lock (it may take a while for
  // a large arena) so other calls can finish meanwhile.
  std::byte *arena = allocate();
  std::lock_guard lock(mutex_);
  try {
    free_.reserve(count_ + 1); // so giveBack(), run by a destructor, never allocates
  } catch (const std::bad_alloc &) {
    std::free(arena);
    throw Error("jit: graph '" + graphName_ + "': out of memory for its arena pool");
  }
  ++count_;
  return Lease(this, arena);
}

void ArenaPool::giveBack(std::byte *arena) {
  {
    std::lock_guard lock(mutex_);
    free_.push_back(arena);
  }
  returned_.notify_one();
}

size_t ArenaPool::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

} // namespace chainjit::compiler::jit
