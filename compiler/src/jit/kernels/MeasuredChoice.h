// Internal to the library kernels: which of two to seven ways to run one
// shape of a kernel is faster on this machine, measured while the program
// runs rather than decided by a constant from another machine (issue 14).
// Each way runs three times first (in turn, each way's best time counts,
// so the first call's page faults and cold caches, and its data where the
// way before left it, count for none; kFirstSamples); then the
// fastest way runs, and about one call in 64 runs another (in rotation) to
// follow what else the machine does (as rarely as ParallelItems.h retries
// a split that pays well, and rarer than its 1 in 16 otherwise: the ways of
// a kernel can differ by 2x, where running a slower one costs more than a
// split that does not pay); one that comes close runs again on the next
// call (kSecondLook). A way's time is the least it has
// taken, aged by 5% of it per call of the shape since that way last ran:
// other work on the machine only ever adds time to a call, so the least is
// the way's own cost, and a mean would let one preempted call turn the
// choice; the ageing lets a way whose cost has grown for good (data no
// longer in cache) lose its place within a few calls. Ageing by calls, not
// by the way's own samples, compares every way as of the same recent
// calls: the way that runs keeps a least time of the last few calls, while
// one that runs once in hundreds would keep the least of an earlier, faster
// phase of the machine and take the choice back on that alone (seen on the
// Fashion MLP's weight gradient: BLAS's split, slower, ran 200 of 4000
// calls, where the explorations alone run it about 20 times).
//
// Shapes are kept per process in a fixed table (libc only: AOT bundles carry
// the kernels into C programs); when it is full, new shapes run way 0
// unmeasured. A caller may force a way (tests, which must not depend on
// timing; benchmarks): Blas.h reads $CHAINJIT_GEMM_KERNEL (GemmWay.h) and
// $CHAINJIT_KERNEL_THREADS (ParallelItems.h), each once per process.
#pragma once

#include "ParallelItems.h"

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace chainjit::compiler::jit::kernels {

inline constexpr int kMaxWays = 7;

struct ChoiceRecord {
  std::atomic<uint64_t> key{0}; // 0: free
  std::atomic<double> seconds[kMaxWays] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  std::atomic<uint32_t> samples[kMaxWays] = {0, 0, 0, 0, 0, 0, 0};
  std::atomic<uint32_t> lastCall[kMaxWays] = {0, 0, 0, 0, 0, 0, 0}; // the call that last ran it
  std::atomic<uint32_t> calls{0};
  std::atomic<uint32_t> measured{0}; // the call that took the last first sample
  std::atomic<int32_t> again{-1};    // a way to run on the next call (a second look)
};

inline constexpr int kChoiceSlots = 256;
// Calls per way before choosing: the first of them comes after another
// way's call (kSecondLook), so only the others run at the way's own pace;
// with two, on the Fashion MLP's weight gradient BLAS's split won the first
// samples (and then held 275-414 calls) in 4 of 8 epoch_bench runs, with
// three in 1 of 8 (and held 272; 54-97 in five others): 756 calls of the
// split in the eight runs against 1,332 (docs/performance.md).
inline constexpr uint32_t kFirstSamples = 3;
inline constexpr double kAgeing = 1.05;      // a way's least time, per later call
inline constexpr uint32_t kMaxAgeingCalls = 1000;
// An explored way that took less than this times the fastest way's time
// runs again on the next call, and the least of its two calls counts: a
// way's first call after another way's finds the data where the other left
// it. The Fashion MLP's weight gradient on the rank-k kernel took 200-550
// us on its first call after BLAS's split (explored) and 120-210 us a call
// when it ran call after call; judged on first calls alone, a choice of the
// split made in the first samples held for 270-470 calls (about 80 us more
// each) in half the epoch_bench runs tried; with second looks the rank-k
// kernel took the choice back at call 90 or 268 (docs/performance.md). A
// challenger that is not close gets no second call: a second look costs a
// call of a slower way.
inline constexpr double kSecondLook = 1.6;

// The record of `key` (never 0), made on first use; null when the table is
// full.
inline ChoiceRecord *choiceRecord(uint64_t key) {
  static ChoiceRecord table[kChoiceSlots];
  static pthread_mutex_t adding = PTHREAD_MUTEX_INITIALIZER;
  const uint64_t start = (key * 0x9E3779B97F4A7C15ull) >> 56;
  // Open addressing; records are never removed, so a free slot ends a search.
  auto find = [&](bool add) -> ChoiceRecord * {
    for (int s = 0; s < kChoiceSlots; ++s) {
      ChoiceRecord &r = table[(start + uint64_t(s)) % kChoiceSlots];
      const uint64_t k = r.key.load(std::memory_order_acquire);
      if (k == key)
        return &r;
      if (k == 0) {
        if (add)
          r.key.store(key, std::memory_order_release);
        return add ? &r : nullptr;
      }
    }
    return nullptr;
  };
  if (ChoiceRecord *r = find(false))
    return r;
  pthread_mutex_lock(&adding); // one adder at a time; it looks again first
  ChoiceRecord *r = find(true);
  pthread_mutex_unlock(&adding);
  return r;
}

// Runs run(w) for one way w in [0, ways) (ways <= kMaxWays) for the shape
// `key` (a hash of everything that decides the ways' speed; never 0):
// `forced` when it is a way, else the fastest as measured so far.
template <typename Run> void runMeasured(uint64_t key, int forced, int ways, const Run &run) {
  ChoiceRecord *r = forced < 0 ? choiceRecord(key) : nullptr;
  if (!r)
    return run(std::max(forced, 0));
  const uint32_t call = r->calls.fetch_add(1, std::memory_order_relaxed) + 1;
  // A way's least time, aged by kAgeing - 1 of it for each call of the shape
  // since that way last ran, or since the first samples were all taken
  // (linearly, at most kMaxAgeingCalls).
  auto aged = [&](int w) {
    const uint32_t from = std::max(r->lastCall[w].load(std::memory_order_relaxed),
                                   r->measured.load(std::memory_order_relaxed));
    const uint32_t since = std::min<uint32_t>(call - std::min(from, call), kMaxAgeingCalls);
    return r->seconds[w].load(std::memory_order_relaxed) * (1 + (kAgeing - 1) * double(since));
  };
  int way = -1, fastest = -1; // fastest: -1 unless chosen on this call
  for (int w = 0; w < ways && way < 0; ++w)
    if (r->samples[w].load(std::memory_order_relaxed) < kFirstSamples)
      way = w;
  if (way < 0) {
    const int second = r->again.exchange(-1, std::memory_order_relaxed);
    if (second >= 0 && second < ways) {
      way = second; // its second look (kSecondLook)
    } else {
      fastest = 0;
      double best = aged(0);
      for (int w = 1; w < ways; ++w)
        if (const double a = aged(w); a < best)
          best = a, fastest = w;
      way = fastest;
      if (exploreNow(call, 6)) // 1 in 64, the other ways in rotation
        way = (fastest + 1 + int(call >> 6) % (ways - 1)) % ways;
    }
  }
  const double t0 = monotonicSeconds();
  run(way);
  const double t = monotonicSeconds() - t0;
  const uint32_t n = r->samples[way].fetch_add(1, std::memory_order_relaxed);
  const double now =
      n == 0 ? t
             : std::min(t, n < kFirstSamples ? r->seconds[way].load(std::memory_order_relaxed)
                                             : aged(way));
  r->seconds[way].store(now, std::memory_order_relaxed);
  r->lastCall[way].store(call, std::memory_order_relaxed);
  if (n + 1 == kFirstSamples && way == ways - 1) // the first samples are in
    r->measured.store(call, std::memory_order_relaxed);
  if (fastest >= 0 && way != fastest && t < kSecondLook * aged(fastest))
    r->again.store(way, std::memory_order_relaxed); // explored and close: a second look
}

} // namespace chainjit::compiler::jit::kernels
