// Work for the kernel pool's threads to do between kernels.
//
// chainjit's kernels split large products and loops over a pool of threads
// (one per CPU but the caller's). Between a training step's split products
// the calling thread runs the step's small operations alone, and the
// pool's threads spin, waiting for the next product: on the Fashion MLP's
// step the second CPU was idle for about a third of the step. IdleWork
// hands such a thread units of other work for those gaps (the trainer
// gathers the next batch's rows there, runtime/src/train/TrainerBoundStep.cpp).
// A worker takes one unit at a time and only between kernel calls, so a
// kernel waits for at most the unit in progress; finish() runs on the
// calling thread whatever no worker has taken. Each unit runs exactly once.
#pragma once

#include <cstdint>
#include <memory>

namespace chainjit::compiler {

class IdleWork {
public:
  using Unit = void (*)(void *context, int64_t unit);

  IdleWork();
  ~IdleWork(); // finish()
  IdleWork(const IdleWork &) = delete;
  IdleWork &operator=(const IdleWork &) = delete;

  // Hands units [0, units) of unit(context, u) to the pool's threads and
  // returns at once; false, having handed nothing (the caller does the
  // work), where there is no pool (one CPU, $CHAINJIT_KERNEL_THREADS=1) or
  // it holds another IdleWork's units. A unit must not call chainjit's
  // kernels (it may run on a pool thread) and must not throw. `context` and
  // what the units write must stay valid until finish().
  bool start(int64_t units, Unit unit, void *context);
  // Whether units are handed out and not yet finished.
  bool started() const { return started_; }
  // Runs on this thread the units no pool thread has taken and waits for
  // the ones in progress; their writes are then visible here. Nothing
  // when not started. (A child forked while units are handed out has none
  // of its parent's threads: its finish() runs the units not yet taken,
  // and a unit a parent's thread was running is left as the fork found it.)
  void finish();

private:
  struct Job;
  std::unique_ptr<Job> job_;
  bool started_ = false;
};

} // namespace chainjit::compiler
