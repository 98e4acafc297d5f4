#include "chainjit/compiler/IdleWork.h"

#include "jit/kernels/ParallelItems.h"

namespace chainjit::compiler {

namespace kernels = jit::kernels;

// The pool's job; on the heap, where it stays while handed out.
struct IdleWork::Job : kernels::WorkerPool::IdleJob {};

IdleWork::IdleWork() : job_(std::make_unique<Job>()) {}

IdleWork::~IdleWork() { finish(); }

bool IdleWork::start(int64_t units, Unit unit, void *context) {
  finish();
  if (units <= 0 || kernels::splitMode() == kernels::SplitMode::Never)
    return false;
  kernels::WorkerPool *pool = kernels::WorkerPool::get();
  started_ = pool && pool->postIdle(*job_, units, unit, context);
  return started_;
}

void IdleWork::finish() {
  if (!started_)
    return;
  // started_ implies a pool: get() returns the one the job went to.
  kernels::WorkerPool::get()->finishIdle(*job_);
  started_ = false;
}

} // namespace chainjit::compiler
