// The arenas of one compiled graph. A call needs an arena for its
// intermediate values, and two calls running at once need two. The pool
// hands out a free arena, allocates another only when every arena is in use
// by a concurrent call, and takes it back when the call ends: a lone caller
// reuses one arena and allocates nothing per call, and N simultaneous
// callers run in parallel on N arenas (kept until the graph is destroyed),
// as many as the allocation limit allows: past it, a call waits for an
// arena that another call gives back.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace chainjit::compiler::jit {

class ArenaPool {
public:
  // `bytes` per arena (0: calls need none). Allocates the first arena now;
  // throws chainjit::Error naming `graphName` when that fails.
  ArenaPool(uint64_t bytes, std::string graphName);
  ~ArenaPool();
  ArenaPool(const ArenaPool &) = delete;
  ArenaPool &operator=(const ArenaPool &) = delete;

  // One arena, this call's alone until the lease ends.
  class Lease {
  public:
    Lease(Lease &&other) noexcept : pool_(other.pool_), arena_(other.arena_) {
      other.pool_ = nullptr;
    }
    Lease(const Lease &) = delete;
    Lease &operator=(const Lease &) = delete;
    Lease &operator=(Lease &&) = delete;
    ~Lease() {
      if (pool_)
        pool_->giveBack(arena_);
    }
    std::byte *get() const { return arena_; }

  private:
    friend class ArenaPool;
    Lease(ArenaPool *pool, std::byte *arena) : pool_(pool), arena_(arena) {}
    ArenaPool *pool_;
    std::byte *arena_;
  };

  // A free arena, or a new one (throws chainjit::Error when out of memory).
  Lease take();

  uint64_t bytes() const { return bytes_; }
  // Arenas allocated so far: the most calls that have run at once.
  size_t count() const;

private:
  std::byte *allocate() const;
  void giveBack(std::byte *arena);

  uint64_t bytes_;
  std::string graphName_;
  mutable std::mutex mutex_;
  std::condition_variable returned_; // an arena was given back
  std::vector<std::byte *> free_; // guarded by mutex_
  size_t count_ = 0;              // guarded by mutex_
};

} // namespace chainjit::compiler::jit
