// Sets (or, with a null value, unsets) one environment variable for a
// scope and restores what it was after: tests that force a kernel's choice
// ($CHAINJIT_CONV_KERNEL) must not leak it into the next test of the same
// process. ($CHAINJIT_KERNEL_THREADS and $CHAINJIT_GEMM_KERNEL are read once
// per process: ScopedSplitMode.h, ScopedGemmWay.h.)
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace chainjit::testing {

class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *e = std::getenv(name))
      saved_ = e;
    set(value);
  }
  ~ScopedEnv() { set(saved_ ? saved_->c_str() : nullptr); }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;

private:
  void set(const char *value) {
    if (value)
      setenv(name_.c_str(), value, 1);
    else
      unsetenv(name_.c_str());
  }
  std::string name_;
  std::optional<std::string> saved_;
};

} // namespace chainjit::testing
