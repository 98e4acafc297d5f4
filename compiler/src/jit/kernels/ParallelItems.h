// Independent items of a library kernel (the images of im2col / col2im)
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
  const SplitMode mode = splitMode();
  const int64_t cpus = std::clamp<int64_t>(sysconf(_SC_NPROCESSORS_ONLN), 1, kMaxThreads);
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

} // namespace chainjit::compiler::jit::kernels
