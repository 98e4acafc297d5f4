// Independent items of a library kernel (the images of im2col / col2im, the
// rows of softmax and argmax, the chunks of a loss's sum)
// split over the CPUs when that pays, with no speed measured on one machine
// built in: the first item runs on the calling thread and is timed; the
// other items are split over threads only when their predicted time (that
// measured time per item, times the items left) is at least kPayback times
// what starting and joining a thread costs on this machine (measured once
// per process). libc only (POSIX threads): AOT bundles carry the kernels
// into C programs.
//
// $CHAINJIT_KERNEL_THREADS=1 never splits, =force always splits (for tests,
// which must not depend on timing); unset or anything else: the model.
#pragma once

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace chainjit::compiler::jit::kernels {

inline double monotonicSeconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

inline void *idleThread(void *) { return nullptr; }

// Seconds to start and join one thread here: the least of three tries.
inline double threadStartCost() {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  static double cost = 0;
  pthread_once(&once, +[] {
    double best = 1;
    for (int i = 0; i < 3; ++i) {
      pthread_t id;
      double t0 = monotonicSeconds();
      if (pthread_create(&id, nullptr, &idleThread, nullptr) != 0)
        continue;
      pthread_join(id, nullptr);
      best = std::min(best, monotonicSeconds() - t0);
    }
    cost = best;
  });
  return cost;
}

// The CPUs online, read once per process (sysconf reads a file each time,
// which a kernel called every step must not pay).
inline int64_t onlineCpus() {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  static int64_t cpus = 1;
  pthread_once(&once, +[] { cpus = std::max<int64_t>(sysconf(_SC_NPROCESSORS_ONLN), 1); });
  return cpus;
}

enum class SplitMode { Model, Never, Always };

inline SplitMode splitMode() {
  const char *e = std::getenv("CHAINJIT_KERNEL_THREADS");
  if (e && std::strcmp(e, "1") == 0)
    return SplitMode::Never;
  if (e && std::strcmp(e, "force") == 0)
    return SplitMode::Always;
  return SplitMode::Model;
}

template <typename Body> struct ItemBlock {
  const Body *body;
  int64_t begin, end;
  static void *run(void *self) {
    auto *b = static_cast<ItemBlock *>(self);
    (*b->body)(b->begin, b->end);
    return nullptr;
  }
};

// Runs body(begin, end) over [0, items) in contiguous blocks; bodies of
// different blocks must not write the same memory. A thread that cannot
// start leaves its block to the calling thread.
template <typename Body> void forItems(int64_t items, const Body &body) {
  constexpr int64_t kMaxThreads = 16;
  constexpr double kPayback = 4; // threads only for work >= 4 thread starts
  if (items <= 0)
    return;
  if (items == 1)
    return body(int64_t{0}, items);
  const SplitMode mode = splitMode();
  const int64_t cpus = std::min(onlineCpus(), kMaxThreads);
  if (mode == SplitMode::Never || cpus == 1 || items == 1)
    return body(int64_t{0}, items);
  double t0 = monotonicSeconds();
  body(int64_t{0}, int64_t{1});
  const double perItem = monotonicSeconds() - t0;
  const int64_t rest = items - 1;
  int64_t threads = std::min(cpus, rest);
  if (mode == SplitMode::Model)
    threads = std::clamp<int64_t>(
        int64_t(perItem * double(rest) / (kPayback * std::max(threadStartCost(), 1e-7))), 1,
        threads);
  if (threads <= 1)
    return body(int64_t{1}, items);
  ItemBlock<Body> blocks[kMaxThreads];
  pthread_t ids[kMaxThreads];
  bool started[kMaxThreads] = {};
  for (int64_t t = 0; t < threads; ++t)
    blocks[t] = {&body, 1 + rest * t / threads, 1 + rest * (t + 1) / threads};
  for (int64_t t = 1; t < threads; ++t)
    started[t] = pthread_create(&ids[t], nullptr, &ItemBlock<Body>::run, &blocks[t]) == 0;
  ItemBlock<Body>::run(&blocks[0]);
  for (int64_t t = 1; t < threads; ++t) {
    if (started[t])
      pthread_join(ids[t], nullptr);
    else
      ItemBlock<Body>::run(&blocks[t]);
  }
}

// A sum over [0, n) that gives the same bits however many threads run it:
// the range is cut into a number of chunks that depends on n alone (one
// per `perChunk` entries, at most kMaxSumChunks), partial(chunk, begin,
// end) returns the sum of a chunk, and the chunks' sums are added in order.
// Up to 2 * perChunk - 1 entries are one chunk, summed as a plain loop
// would. The chunks are forItems' items, split over threads when that pays.
// A chunk that fails (a bad label) records it in a slot of its own, so that
// the caller can report the first failure in chunk order.
inline constexpr int64_t kMaxSumChunks = 64;

inline int64_t sumChunks(int64_t n, int64_t perChunk) {
  return std::clamp<int64_t>(n / std::max<int64_t>(perChunk, 1), 1, kMaxSumChunks);
}

// Runs partial(chunk, begin, end) -> double for each chunk of [0, n) (see
// sumChunks) and returns the chunks' sums added in chunk order.
template <typename Partial>
double deterministicSum(int64_t n, int64_t perChunk, const Partial &partial) {
  const int64_t chunks = sumChunks(n, perChunk);
  double sums[kMaxSumChunks] = {};
  forItems(chunks, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c)
      sums[c] = partial(c, n * c / chunks, n * (c + 1) / chunks);
  });
  double total = 0;
  for (int64_t c = 0; c < chunks; ++c)
    total += sums[c];
  return total;
}

} // namespace chainjit::compiler::jit::kernels
