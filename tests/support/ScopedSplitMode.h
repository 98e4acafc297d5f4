// Sets how the kernels split their items over threads for a scope, as
// $CHAINJIT_KERNEL_THREADS would ("1" never splits, "force" always, null:
// as the environment says), and restores the previous setting after. The
// kernels read the variable once per process (ParallelItems.h), so tests,
// which must not depend on timing, switch the mode through this.
#pragma once

#include "../../compiler/src/jit/kernels/ParallelItems.h"

namespace chainjit::testing {

class ScopedSplitMode {
public:
  explicit ScopedSplitMode(const char *value)
      : saved_(compiler::jit::kernels::splitModeSetting().load()) {
    compiler::jit::kernels::setSplitMode(value);
  }
  ~ScopedSplitMode() { compiler::jit::kernels::splitModeSetting().store(saved_); }
  ScopedSplitMode(const ScopedSplitMode &) = delete;
  ScopedSplitMode &operator=(const ScopedSplitMode &) = delete;

private:
  int saved_;
};

} // namespace chainjit::testing
