// Independent items of a library kernel (the images of im2col / col2im, the
// rows of softmax and argmax, the chunks of a loss's sum)
// split over the CPUs when that pays, with no speed measured on one machine
// built in: the first item runs on the calling thread and is timed; the
// other items are split over threads only when their predicted time (that
// measured time per item, times the items left) gives each thread at
// least kPayback times what handing work to the pool's threads and waiting
// for them costs on this machine at that moment (measured once per
// process, for workers that still spin after a call and for sleeping ones:
// WorkerPool::handOffCost). libc only (POSIX threads): AOT bundles carry
// the kernels into C programs.
//
// The threads are a pool started on first use and kept: creating and
// joining threads on every call, as this did first, cost more than it saved
// on the Fashion CNN's step (a fifth of its time in clone/futex/mmap system
// calls, docs/performance.md). Between calls a worker first spins, then
// sleeps on a condition variable. It spins for as long as the recent gaps
// between calls (the longest of the last kGapHistory that were at most
// kMaxSpinSeconds, with a quarter added), and at least as long as putting
// it to sleep and waking it costs on this machine (measured when the pool
// starts: the classic spin-then-block bound). Spinning for the sleep's cost
// alone, the pool's thread slept between every two of the Fashion MLP
// step's products and started each about 10 µs after the caller (a wake-up
// on this VM), on the critical path of every product; calls that come in a
// rhythm (a training step's products and loops, step after step) now find
// the workers awake, and a process whose calls stop or come rarely spins
// only the sleep's cost after each. The caller waits for the workers the
// same way.
// One call uses the pool at a time; a call that finds it busy (another
// thread's kernel, or a kernel called from inside a pool thread) runs its
// items on its own thread. The pool's threads take the caller's
// floating-point control word (flush-to-zero, rounding) for each call, so a
// split call computes exactly as an unsplit one.
//
// $CHAINJIT_KERNEL_THREADS=1 never splits, =force always splits (for tests,
// which must not depend on timing, and benchmarks); unset or anything else:
// the model. It is read once per process (splitMode below).
#pragma once

#include "EnvironmentSetting.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace chainjit::compiler::jit::kernels {

inline double monotonicSeconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// The CPUs this process may run on (its affinity mask: an MPI rank bound to
// one core gets 1), read once per process (a kernel called every step must
// not pay a system call).
inline int64_t onlineCpus() {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  static int64_t cpus = 1;
  pthread_once(&once, +[] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
      cpus = std::max(CPU_COUNT(&set), 1);
    else
      cpus = std::max<int64_t>(sysconf(_SC_NPROCESSORS_ONLN), 1);
  });
  return cpus;
}

inline constexpr int64_t kMaxThreads = 16;

// The longest a worker spins after a call before it sleeps: a bound on the
// CPU time spent waiting for a next call that does not come, not a speed
// of any machine (GNU OpenMP's threads spin 300,000 times by default before
// they sleep, of the same order).
inline constexpr double kMaxSpinSeconds = 500e-6;
// The gaps between calls that the spin budget is learned from.
inline constexpr int kGapHistory = 32;

// The parts a range of work is cut into for splitting (generated loops, CSR
// row blocks): enough that the first part, timed, predicts the rest, and
// that the parts balance over up to kMaxThreads threads.
inline constexpr int64_t kSplitParts = 64;

// The calling thread's floating-point control (MXCSR on x86, FPCR on
// AArch64: flush-to-zero and rounding), which the pool's threads take from
// the caller for each call.
#if defined(__aarch64__)
using FloatControl = uint64_t;
inline FloatControl readFloatControl() {
  uint64_t v;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
  return v;
}
inline void writeFloatControl(FloatControl v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
#elif defined(__x86_64__) || defined(__i386__)
using FloatControl = unsigned;
inline FloatControl readFloatControl() { return _mm_getcsr(); }
inline void writeFloatControl(FloatControl v) { _mm_setcsr(v); }
#else
using FloatControl = unsigned;
inline FloatControl readFloatControl() { return 0; }
inline void writeFloatControl(FloatControl) {}
#endif

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// How fast each thread of a split call (0: the caller, t: the pool's worker
// t) has run its part of the recent calls, relative to the other threads
// of the same calls, and the shares of a call's work that follow from it.
// On a shared host one CPU runs for seconds at a time about 1.4 times
// slower than the other (a part of the Fashion MLP's forward product, one
// thread per CPU: 88-94 µs a call on one and 119-134 µs on the other in
// the same run, best to median), and a call cut into equal parts then waits for the slower
// one. Parts in proportion to the threads' recent speeds end together
// (docs/performance.md). Nothing is assumed of a machine: every thread
// starts at the same speed, and only calls that lasted long enough to be
// timed (SplitTally::record) move the speeds, by a fraction of the way
// (kSpeedWeight), so a call in which a thread was preempted moves them
// little. Only the model splits by them (modelSpeeds below): with splitting
// forced (tests, benchmarks) every thread gets an equal share, so results
// do not depend on timing.
class ThreadSpeeds {
public:
  // How far one call moves a thread's speed towards what it measured.
  static constexpr double kSpeedWeight = 0.125;
  // A call's measured speeds relative to the call's mean count within
  // 1/kMaxRelative..kMaxRelative (a thread preempted for part of a call is
  // not that slow), and so do the kept speeds.
  static constexpr double kMaxRelative = 2.0;

  ThreadSpeeds() { reset(); }

  // Every thread at the same speed again (tests).
  void reset() {
    for (auto &s : speed_)
      s.store(1.0, std::memory_order_relaxed);
  }

  // One call: thread t did work[t] (in units of the call's own kind) and
  // finished seconds[t] after the call was posted (a late start counts).
  // Ignored unless every thread did some work.
  void record(int64_t threads, const double *work, const double *seconds) {
    if (threads < 2 || threads > kMaxThreads)
      return;
    double rate[kMaxThreads], mean = 0;
    for (int64_t t = 0; t < threads; ++t) {
      if (!(work[t] > 0) || !(seconds[t] > 0))
        return;
      rate[t] = work[t] / seconds[t];
      mean += rate[t] / double(threads);
    }
    for (int64_t t = 0; t < threads; ++t) {
      const double measured = std::clamp(rate[t] / mean, 1 / kMaxRelative, kMaxRelative);
      const double s = speed_[t].load(std::memory_order_relaxed);
      speed_[t].store(s + kSpeedWeight * (measured - s), std::memory_order_relaxed);
    }
  }

  // Thread t's share of `total` units is [bound[t], bound[t + 1]), in
  // proportion to the threads' speeds (equal ones before any call was
  // recorded); bound[0] = 0, bound[threads] = total, never decreasing.
  void bounds(int64_t total, int64_t threads, int64_t *bound) const {
    threads = std::clamp<int64_t>(threads, 1, kMaxThreads);
    double sum = 0;
    for (int64_t t = 0; t < threads; ++t)
      sum += speed_[t].load(std::memory_order_relaxed);
    double before = 0;
    bound[0] = 0;
    for (int64_t t = 0; t < threads; ++t) {
      before += speed_[t].load(std::memory_order_relaxed);
      bound[t + 1] =
          std::clamp<int64_t>(int64_t(double(total) * before / sum + 0.5), bound[t], total);
    }
    bound[threads] = total;
  }

  double speed(int64_t t) const { return speed_[t].load(std::memory_order_relaxed); }

private:
  std::atomic<double> speed_[kMaxThreads];
};

// One thread's share of a split call's units of work, [front, back) in one
// atomic word: its owner takes units from the front, a thread that has
// finished its own share takes them from the back. On its own cache line:
// the owner's takes stay on its CPU until a thief comes.
class alignas(64) UnitShare {
public:
  void assign(int64_t front, int64_t back) {
    bounds_.store(pack(uint64_t(front), uint64_t(back)), std::memory_order_relaxed);
  }
  bool takeFront(int64_t &unit) { return take(unit, true); }
  bool takeBack(int64_t &unit) { return take(unit, false); }

private:
  static uint64_t pack(uint64_t front, uint64_t back) { return front | back << 32; }
  bool take(int64_t &unit, bool fromFront) {
    uint64_t v = bounds_.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t front = v & 0xffffffffu, back = v >> 32;
      if (front >= back)
        return false;
      const uint64_t next = fromFront ? pack(front + 1, back) : pack(front, back - 1);
      if (bounds_.compare_exchange_weak(v, next, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
        unit = int64_t(fromFront ? front : back - 1);
        return true;
      }
    }
  }
  std::atomic<uint64_t> bounds_{0};
};

// Worker threads 1..workers that run part t of a call's work, and in the
// gaps between calls, units of idle work that a thread has handed them
// (postIdle below).
class WorkerPool {
public:
  using Part = void (*)(void *context, int64_t part);

  // Units [0, units) of work for the workers' gaps between calls: a
  // training step's next batch gathered while the step runs, on a CPU that
  // otherwise spins between the step's split products (IdleWork.h). Each
  // unit runs once: on a worker, one unit at a time between calls (a call
  // waits for at most the unit in progress), or on the thread that posted
  // the job, in finishIdle. A unit must not call the pool (no kernels).
  struct IdleJob {
    Part unit = nullptr;
    void *context = nullptr;
    UnitShare units;
    FloatControl csr = 0; // the poster's, as for a call
  };

  // The process's pool (CPUs - 1 workers, at most kMaxThreads - 1), or null
  // on one CPU or when no thread could be started. A forked child, which
  // has none of its parent's threads, starts a pool of its own.
  static WorkerPool *get() {
    WorkerPool *p = pool_.load(std::memory_order_acquire);
    if (!p) {
      static pthread_once_t once = PTHREAD_ONCE_INIT;
      pthread_once(&once, +[] { pthread_atfork(nullptr, nullptr, &afterForkInChild); });
      pthread_mutex_lock(&creating_);
      p = pool_.load(std::memory_order_acquire);
      if (!p) {
        // malloc and placement new: AOT bundles link libc only (no C++
        // runtime). Never freed: its threads use it until the process ends.
        if (void *memory = std::malloc(sizeof(WorkerPool))) {
          p = ::new (memory) WorkerPool(std::min(onlineCpus(), kMaxThreads) - 1);
          if (p->workers_ > 0) { // the sleep-and-wake cost, before anyone spins
            p->spin_.store(p->dispatchCost(), std::memory_order_relaxed);
            p->spinningDispatchCost();
          }
          pool_.store(p, std::memory_order_release);
        }
      }
      pthread_mutex_unlock(&creating_);
    }
    return p && p->workers_ > 0 ? p : nullptr;
  }

  int64_t workers() const { return workers_; }

  // The threads' recent speeds, which split calls share their work by.
  ThreadSpeeds &speeds() { return speeds_; }

  // Runs part(context, t) for t = 0 .. parts-1 (parts <= workers + 1): part
  // 0 on the calling thread, the others on workers; returns when all are
  // done. False, having run nothing, when the pool is in use.
  bool run(int64_t parts, Part part, void *context) {
    if (busy_.exchange(true, std::memory_order_acquire))
      return false;
    learnRhythm(monotonicSeconds());
    pthread_mutex_lock(&m_);
    part_ = part;
    context_ = context;
    parts_ = parts;
    pending_.store(parts - 1, std::memory_order_relaxed);
    csr_ = readFloatControl();
    generation_.fetch_add(1, std::memory_order_release);
    pthread_cond_broadcast(&wake_);
    pthread_mutex_unlock(&m_);
    part(context, 0);
    spinWhile([&] { return pending_.load(std::memory_order_acquire) > 0; });
    pthread_mutex_lock(&m_);
    while (pending_.load(std::memory_order_acquire) > 0)
      pthread_cond_wait(&done_, &m_);
    pthread_mutex_unlock(&m_);
    lastEnd_.store(monotonicSeconds(), std::memory_order_relaxed);
    busy_.store(false, std::memory_order_release);
    return true;
  }

  // Seconds a worker spins after a call before it sleeps (see the top).
  double spinBudget() const { return spin_.load(std::memory_order_relaxed); }

  // Hands `job` (units [0, units) of `unit`) to the workers' gaps; false,
  // having handed nothing, while another job is posted. `job` must not be
  // posted already (never, or finished since: its fields are rewritten
  // here) and must stay where it is until finishIdle(job) returns.
  bool postIdle(IdleJob &job, int64_t units, Part unit, void *context) {
    job.unit = unit;
    job.context = context;
    job.units.assign(0, units);
    job.csr = readFloatControl();
    IdleJob *none = nullptr;
    if (!idle_.compare_exchange_strong(none, &job, std::memory_order_seq_cst))
      return false;
    pthread_mutex_lock(&m_); // a sleeping worker wakes for it
    pthread_cond_broadcast(&wake_);
    pthread_mutex_unlock(&m_);
    return true;
  }

  // Runs the units of `job` that no worker has taken on this thread, then
  // waits for the ones a worker is running; the job is then the caller's
  // again, with every unit's writes visible.
  void finishIdle(IdleJob &job) {
    int64_t u;
    while (job.units.takeBack(u))
      job.unit(job.context, u);
    IdleJob *posted = &job; // a worker that found no unit left may have withdrawn it
    idle_.compare_exchange_strong(posted, nullptr, std::memory_order_seq_cst);
    // A worker counts itself in idleRunning_ before it reads idle_ (both
    // sequentially consistent): one that read &job is counted here.
    while (idleRunning_.load(std::memory_order_seq_cst) > 0)
      cpuRelax();
  }

  // Seconds to hand an empty call to every worker and wait for it: the
  // least of a few tries, measured on first use (again later if the pool
  // was busy for every try).
  double dispatchCost() {
    double cost = cost_.load(std::memory_order_relaxed);
    if (cost > 0)
      return cost;
    double best = 0;
    for (int i = 0; i < 5; ++i) {
      double t0 = monotonicSeconds();
      if (run(workers_ + 1, +[](void *, int64_t) {}, nullptr)) {
        double t = monotonicSeconds() - t0;
        best = best == 0 ? t : std::min(best, t);
      }
    }
    if (best > 0)
      cost_.store(best, std::memory_order_relaxed);
    return best > 0 ? best : 1e-5; // a guess for this call only
  }

  // Seconds to hand an empty call to workers that are spinning (woken by a
  // call just before; each try follows the last within their spin budget,
  // at least dispatchCost()): the least of a few tries, measured when the
  // pool starts. On a VM the two costs differ by two orders of magnitude:
  // the Fashion CNN's host took 49-61 us to wake a sleeping worker and
  // 0.2 us to start a spinning one. Falls back to dispatchCost() when the
  // pool was busy for every try.
  double spinningDispatchCost() {
    double cost = hotCost_.load(std::memory_order_relaxed);
    if (cost > 0)
      return cost;
    const double wake = dispatchCost();
    double best = 0;
    if (run(
            workers_ + 1, +[](void *, int64_t) {}, nullptr)) // wakes them: they spin after it
      for (int i = 0; i < 5; ++i) {
        double t0 = monotonicSeconds();
        if (run(
                workers_ + 1, +[](void *, int64_t) {}, nullptr)) {
          double t = monotonicSeconds() - t0;
          best = best == 0 ? t : std::min(best, t);
        }
      }
    if (best > 0)
      hotCost_.store(std::min(best, wake), std::memory_order_relaxed);
    return best > 0 ? std::min(best, wake) : wake;
  }

  // What handing a call to the workers costs now: spinningDispatchCost()
  // while they still spin after the last call (it ended less than the spin
  // budget ago), else dispatchCost(), their wake-up. forItems' payback
  // test charged the wake-up always, and on the host above that kept the
  // CNN's convolutions on one thread (a slot of 7 images, about 45 us, left
  // 360 us to split; it asked for 8 x 49 us), which left the pool asleep
  // for the next kernel too, which then charged the wake-up in turn: the
  // step took 2.2-3.1 ms in most runs, 1.5-2.0 ms with splitting forced.
  double handOffCost() {
    const double sinceLast = monotonicSeconds() - lastEnd_.load(std::memory_order_relaxed);
    return sinceLast < spinBudget() ? spinningDispatchCost() : dispatchCost();
  }

private:
  // Records the gap since the last call ended (one the workers could have
  // spun through, else none) and sets the spin budget from the recent ones.
  // Only the call holding busy_ writes the history.
  void learnRhythm(double now) {
    const double last = lastEnd_.load(std::memory_order_relaxed);
    const double gap = last > 0 ? now - last : 0;
    gaps_[nextGap_] = gap <= kMaxSpinSeconds ? gap : 0;
    nextGap_ = (nextGap_ + 1) % kGapHistory;
    double longest = 0;
    for (double g : gaps_)
      longest = std::max(longest, g);
    spin_.store(
        std::max(std::min(1.25 * longest, kMaxSpinSeconds), cost_.load(std::memory_order_relaxed)),
        std::memory_order_relaxed);
  }

  bool idleWaiting() const { return idle_.load(std::memory_order_acquire) != nullptr; }

  // On a worker: runs one unit of the posted idle job, if it has one left
  // (false otherwise, and a job with none left is withdrawn, so that the
  // worker stops looking at it). See finishIdle for the counting.
  bool runIdleUnit() {
    if (!idleWaiting())
      return false;
    idleRunning_.fetch_add(1, std::memory_order_seq_cst);
    IdleJob *job = idle_.load(std::memory_order_seq_cst);
    bool ran = false;
    int64_t u;
    if (job && job->units.takeFront(u)) {
      writeFloatControl(job->csr);
      job->unit(job->context, u);
      ran = true;
    } else if (job) {
      idle_.compare_exchange_strong(job, nullptr, std::memory_order_seq_cst);
    }
    idleRunning_.fetch_sub(1, std::memory_order_seq_cst);
    return ran;
  }

  // Spins while waiting() holds, for at most spin_ seconds.
  template <typename Waiting> void spinWhile(const Waiting &waiting) const {
    const double budget = spin_.load(std::memory_order_relaxed);
    if (budget <= 0 || !waiting())
      return;
    const double until = monotonicSeconds() + budget;
    while (waiting() && monotonicSeconds() < until)
      cpuRelax();
  }

  explicit WorkerPool(int64_t wanted) {
    pthread_mutex_init(&m_, nullptr);
    pthread_cond_init(&wake_, nullptr);
    pthread_cond_init(&done_, nullptr);
    for (int64_t i = 1; i <= wanted; ++i) {
      auto *start = static_cast<Start *>(std::malloc(sizeof(Start)));
      if (!start)
        break;
      *start = Start{this, i};
      pthread_t id;
      if (pthread_create(&id, nullptr, &WorkerPool::loop, start) != 0) {
        std::free(start);
        break;
      }
      pthread_detach(id);
      workers_ = i;
    }
  }

  struct Start {
    WorkerPool *pool;
    int64_t index;
  };

  static void *loop(void *arg) {
    Start start = *static_cast<Start *>(arg);
    std::free(arg);
    WorkerPool &p = *start.pool;
    uint64_t seen = 0;
    auto noCall = [&] { return p.generation_.load(std::memory_order_acquire) == seen; };
    pthread_mutex_lock(&p.m_);
    for (;;) {
      if (noCall()) {
        pthread_mutex_unlock(&p.m_);
        while (noCall() && p.runIdleUnit()) {
        }
        p.spinWhile([&] { return noCall() && !p.idleWaiting(); });
        pthread_mutex_lock(&p.m_);
      }
      while (noCall() && !p.idleWaiting())
        pthread_cond_wait(&p.wake_, &p.m_);
      if (noCall())
        continue; // idle work was posted: its units first
      seen = p.generation_.load(std::memory_order_relaxed);
      if (start.index >= p.parts_)
        continue;
      Part part = p.part_;
      void *context = p.context_;
      writeFloatControl(p.csr_);
      pthread_mutex_unlock(&p.m_);
      part(context, start.index);
      pthread_mutex_lock(&p.m_); // the caller may be about to sleep on done_
      if (p.pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
        pthread_cond_signal(&p.done_);
    }
    return nullptr;
  }

  // The child's copy of the parent's pool has no threads: forget it (it
  // leaks, once per fork) and the creation lock a parent's thread may have
  // held while forking.
  static void afterForkInChild() {
    pool_.store(nullptr, std::memory_order_relaxed);
    pthread_mutex_init(&creating_, nullptr);
  }

  static inline std::atomic<WorkerPool *> pool_{nullptr};
  static inline pthread_mutex_t creating_ = PTHREAD_MUTEX_INITIALIZER;
  int64_t workers_ = 0;
  std::atomic<bool> busy_{false};
  pthread_mutex_t m_;
  pthread_cond_t wake_, done_;
  std::atomic<uint64_t> generation_{0}; // written under m_, read spinning too
  Part part_ = nullptr;
  void *context_ = nullptr;
  int64_t parts_ = 0;
  std::atomic<int64_t> pending_{0}; // likewise
  std::atomic<double> spin_{0};     // seconds to spin before sleeping
  FloatControl csr_ = 0;
  std::atomic<double> cost_{0}, hotCost_{0}; // dispatchCost, spinningDispatchCost
  std::atomic<double> lastEnd_{0};           // when the last call ended (0: none yet)
  double gaps_[kGapHistory] = {}; // the recent gaps, 0 for one too long to spin through
  int nextGap_ = 0;
  std::atomic<IdleJob *> idle_{nullptr}; // the posted idle job, if any
  std::atomic<int> idleRunning_{0};      // workers inside runIdleUnit
  ThreadSpeeds speeds_;
};

enum class SplitMode { Model, Never, Always };

inline SplitMode parseSplitMode(const char *e) {
  if (e && std::strcmp(e, "1") == 0)
    return SplitMode::Never;
  if (e && std::strcmp(e, "force") == 0)
    return SplitMode::Always;
  return SplitMode::Model;
}

// The mode as a SplitMode's value, or -1 before $CHAINJIT_KERNEL_THREADS is
// read (EnvironmentSetting.h).
inline std::atomic<int> &splitModeSetting() {
  static std::atomic<int> setting{-1};
  return setting;
}

// $CHAINJIT_KERNEL_THREADS ("1": never split, "force": always, else the
// model), read on first use: a getenv on every kernel call took 1.5% of a
// 64-128-10 training step at batch 32 (perf).
inline SplitMode splitMode() {
  return static_cast<SplitMode>(
      readOnce(splitModeSetting(), -1, "CHAINJIT_KERNEL_THREADS",
               [](const char *e) { return static_cast<int>(parseSplitMode(e)); }));
}

// Sets the mode as $CHAINJIT_KERNEL_THREADS = `value` would (tests, which
// switch it within one process); null: read the environment again.
inline void setSplitMode(const char *value) {
  splitModeSetting().store(value ? static_cast<int>(parseSplitMode(value)) : -1,
                           std::memory_order_relaxed);
}

// The speeds a split call shares its work by: the pool's where the model
// splits, none (equal shares) where splitting is forced.
inline const ThreadSpeeds *modelSpeeds(WorkerPool &pool) {
  return splitMode() == SplitMode::Model ? &pool.speeds() : nullptr;
}

// Thread t's share of `total` units, [bound[t], bound[t + 1]): by `speeds`,
// or equal ones ([total*t/threads, total*(t+1)/threads)) without.
inline void splitBounds(const ThreadSpeeds *speeds, int64_t total, int64_t threads,
                        int64_t *bound) {
  if (speeds)
    return speeds->bounds(total, threads, bound);
  for (int64_t t = 0; t <= threads; ++t)
    bound[t] = total * t / threads;
}

// What each thread of one split call did, for ThreadSpeeds: the work it
// did and when it finished, each thread's on a cache line of its own.
struct SplitTally {
  struct alignas(64) Entry {
    double work = 0, end = 0;
  };
  Entry entry[kMaxThreads];
  double start = 0; // when the call was posted

  void done(int64_t t, double work) {
    entry[t].work = work;
    entry[t].end = monotonicSeconds();
  }
  // A call timed by a few dispatches of the pool says little about the
  // threads' speeds: a thread's start alone takes about one.
  static constexpr double kTimedDispatches = 4;
  // Records the call (its `threads` threads have all returned) in the
  // pool's speeds, where the model splits and the call lasted long enough.
  void record(WorkerPool &pool, int64_t threads) const {
    if (!modelSpeeds(pool) || threads < 2 || threads > kMaxThreads)
      return;
    double work[kMaxThreads], seconds[kMaxThreads], last = 0;
    for (int64_t t = 0; t < threads; ++t) {
      work[t] = entry[t].work;
      seconds[t] = entry[t].end - start;
      last = std::max(last, seconds[t]);
    }
    if (last >= kTimedDispatches * pool.dispatchCost())
      pool.speeds().record(threads, work, seconds);
  }
};

// Units [0, units) of one split call, cut into `threads` contiguous shares
// (splitBounds: in proportion to the threads' recent speeds, or equal), so
// the same thread does about the same units call after call and finds
// their data in its cache; each unit done by exactly one thread. A thread
// does its own share's units in order, then takes the others' last ones
// while any are left: a thread that started late or runs slower (on this
// shared host the pool's thread ran its half of the Fashion MLP's products
// about 20% slower than the caller, and while it slept between calls it
// also started about 11 µs late) leaves its last units to one that has
// finished instead of making it wait.
// Fewer than 2^32 units.
struct SharedUnits {
  UnitShare shares[kMaxThreads];
  int64_t threads;
  SplitTally tally; // each thread's units done
  SharedUnits(int64_t units, int64_t threadCount, const ThreadSpeeds *speeds = nullptr)
      : threads(std::clamp<int64_t>(threadCount, 1, kMaxThreads)) {
    int64_t bound[kMaxThreads + 1];
    splitBounds(speeds, units, threads, bound);
    for (int64_t t = 0; t < threads; ++t)
      shares[t].assign(bound[t], bound[t + 1]);
  }
  // Runs unit(u) for each unit thread t gets; returns how many it ran.
  template <typename Unit> int64_t runAs(int64_t t, const Unit &unit) {
    int64_t u, count = 0;
    while (shares[t].takeFront(u))
      unit(u), ++count;
    for (int64_t i = 1; i < threads; ++i)
      while (shares[(t + i) % threads].takeBack(u))
        unit(u), ++count;
    return count;
  }
};

// Units per thread that forItems cuts its items into (fewer when there are
// fewer items): small enough that what one thread leaves to another at the
// end is a small part of a call, large enough that taking a unit (an
// atomic exchange on a line of the thread's own) costs nothing beside it.
inline constexpr int64_t kUnitsPerThread = 32;

// Items [first, first + rest) as `units` units of contiguous items, shared
// over `parts` threads (SharedUnits) by `speeds` (null: equally).
template <typename Body> struct ItemBlocks {
  const Body *body;
  int64_t first, rest, units;
  SharedUnits shared;
  ItemBlocks(const Body *b, int64_t first_, int64_t rest_, int64_t parts,
             const ThreadSpeeds *speeds = nullptr)
      : body(b), first(first_), rest(rest_), units(std::min(rest_, parts * kUnitsPerThread)),
        shared(units, parts, speeds) {}
  static void run(void *self, int64_t t) {
    auto *b = static_cast<ItemBlocks *>(self);
    const int64_t count = b->shared.runAs(t, [b](int64_t u) {
      (*b->body)(b->first + b->rest * u / b->units, b->first + b->rest * (u + 1) / b->units);
    });
    b->shared.tally.done(t, double(count));
  }
};

// The speed-ups one way of running a call site's items took on its last
// kGainSamples calls, and their median (0 before the first). A median, not
// the running mean this was (half the old value, half the new): on a
// shared host a call now and then has a thread preempted for a while, and
// one such call could turn a site to the way it does not prefer until the
// next retry, 16 calls later. On the Fashion MLP's weight gradient (the
// rank-k kernel's rows, about 2x faster split) the mean left 0, 6 and 19
// of about 2,500 calls in three epoch_bench runs on one thread, the median
// 0, 0 and 2 (docs/performance.md): small there, but no single call
// decides any more. An odd count, so that the median is a sample; few, so
// that a way that is only retried (1 call in 16 or 64) follows a lasting
// change within a few retries.
inline constexpr int kGainSamples = 5;

struct GainSamples {
  std::atomic<double> recent[kGainSamples] = {}; // a ring, in the order taken
  std::atomic<uint32_t> taken{0};
  // The median of the samples taken (of the middle two for an even count;
  // 0 before the first), kept as each is added: it is read on every call
  // of the site, for both ways, and a sample is added once a call.
  std::atomic<double> median{0};

  void add(double gain) {
    const uint32_t at = taken.fetch_add(1, std::memory_order_relaxed);
    recent[at % kGainSamples].store(gain, std::memory_order_relaxed);
    // 1 to kGainSamples (the count wraps after 2^32 calls: never 0 here).
    const int count = int(std::min<uint32_t>(at, uint32_t(kGainSamples - 1))) + 1;
    double v[kGainSamples];
    for (int i = 0; i < count; ++i) { // insertion into the sorted v[0, i)
      const double x = recent[i].load(std::memory_order_relaxed);
      int j = i;
      for (; j > 0 && v[j - 1] > x; --j)
        v[j] = v[j - 1];
      v[j] = x;
    }
    median.store(count % 2 ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]),
                 std::memory_order_relaxed);
  }
};

// What splitting has measured at one call site: the speed-up over the
// first item's prediction (that item's time times the items left, divided
// by the time they took) with the items split over the pool and on the
// calling thread alone (GainSamples). A ratio, not a time, so a site that
// runs several shapes (im2col for each layer) compares like with like. The
// model of forItems can only predict that a split pays; whether it does
// depends on what else the machine runs (on 2 CPUs, OpenBLAS's own thread
// spins on the second one for a while after every call, and a pool thread
// there gets half of it), so a site that the model would split runs both
// ways and keeps the faster. Zeroed memory is a history with nothing
// measured (generated code reserves it, RuntimeSupport.h).
struct SplitHistory {
  GainSamples split, serial;
  std::atomic<uint32_t> calls{0};
};

// Splitting must beat the calling thread alone by this factor to be kept:
// below it the difference is within what one measurement varies.
inline constexpr double kSplitMargin = 1.1;
// A split measured this many times faster than the calling thread alone is
// retried against it less often (forItems).
inline constexpr double kRareRetryGain = 1.5;

// Whether this call of a site tries a way it does not prefer: about one
// call in 2^log2Period (16 by default), spread by a multiplicative hash of
// the call count so that a site called a fixed number of times per training
// step does not always retry on the same one of them.
inline bool exploreNow(uint32_t call, int log2Period = 4) {
  return (call * 2654435761u) >> (32 - log2Period) == 0;
}

// How rarely forItems retries the way it does not prefer, as exploreNow's
// log2Period, from the speed-ups measured split and on the calling thread
// alone: retrying costs what the preferred way gains, so where a split pays
// kRareRetryGain or more (the Fashion MLP's weight gradient on the rank-k
// kernel: about 2x, 300 µs a call) one thread is retried 1 call in 64, else
// 1 in 16.
inline int retryLog2Period(double split, double serial) {
  return split >= kRareRetryGain * serial ? 6 : 4;
}

// Runs body(begin, end) over [0, items) in contiguous blocks; bodies of
// different blocks must not write the same memory. `history` is the call
// site's.
template <typename Body>
void forItems(int64_t items, const Body &body, SplitHistory &history) {
  // Threads only for work of at least 2 hand-offs each: a split in two is
  // then predicted at least 4/3 as fast (work of 4 hand-offs done in 1 + 2
  // of them), and the gains measured below decide. It was 4 hand-offs, and
  // always at the wake-up's cost: 8 wake-ups of work for a second thread.
  constexpr double kPayback = 2;
  if (items <= 0)
    return;
  if (items == 1)
    return body(int64_t{0}, items);
  const SplitMode mode = splitMode();
  WorkerPool *pool = mode == SplitMode::Never ? nullptr : WorkerPool::get();
  if (!pool)
    return body(int64_t{0}, items);
  double t0 = monotonicSeconds();
  body(int64_t{0}, int64_t{1});
  const double perItem = monotonicSeconds() - t0;
  const int64_t rest = items - 1;
  int64_t threads = std::min(pool->workers() + 1, rest);
  if (mode == SplitMode::Model) {
    threads = std::clamp<int64_t>(
        int64_t(perItem * double(rest) / (kPayback * pool->handOffCost())), 1, threads);
    if (threads <= 1)
      return body(int64_t{1}, items);
    const double split = history.split.median.load(std::memory_order_relaxed),
                 serial = history.serial.median.load(std::memory_order_relaxed);
    bool trySplit;
    if (split == 0)
      trySplit = true; // measure each way once
    else if (serial == 0)
      trySplit = false;
    else {
      const bool prefer = split > kSplitMargin * serial;
      trySplit = prefer != exploreNow(history.calls.fetch_add(1, std::memory_order_relaxed),
                                      retryLog2Period(split, serial));
    }
    const double t1 = monotonicSeconds();
    ItemBlocks<Body> blocks(&body, 1, rest, threads, modelSpeeds(*pool));
    blocks.shared.tally.start = t1;
    bool splitRan = trySplit && pool->run(threads, &ItemBlocks<Body>::run, &blocks);
    if (splitRan)
      blocks.shared.tally.record(*pool, threads);
    else
      body(int64_t{1}, items);
    const double gain = perItem * double(rest) / std::max(monotonicSeconds() - t1, 1e-9);
    (splitRan ? history.split : history.serial).add(gain);
    return;
  }
  ItemBlocks<Body> blocks(&body, 1, rest, threads);
  if (!pool->run(threads, &ItemBlocks<Body>::run, &blocks))
    body(int64_t{1}, items); // the pool is in use: this thread does it all
}

// forItems with the history of its call site (one per Body type: each call
// site's lambda is a type of its own).
template <typename Body> void forItems(int64_t items, const Body &body) {
  static SplitHistory history;
  forItems(items, body, history);
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
