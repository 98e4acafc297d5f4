// SIGINT and SIGTERM as a request to stop: while a StopSignals is alive the
// first such signal sets `requested` (which the trainer checks after every
// step) instead of killing the process, so training can end with a final
// checkpoint. Later signals are ignored: the run stops at the end of the
// current step anyway, and a forced exit could leave a half-written
// checkpoint behind. SIGKILL (or SIGQUIT) still ends the process at once.
#pragma once

#include <atomic>

namespace chainjit::cli {

class StopSignals {
public:
  StopSignals();  // installs the handlers
  ~StopSignals(); // restores the previous ones
  StopSignals(const StopSignals &) = delete;
  StopSignals &operator=(const StopSignals &) = delete;

  const std::atomic<bool> &requested() const;
  // The signal that asked to stop (SIGINT or SIGTERM), 0 if none did.
  int signal() const;
  // The conventional exit status of a process ended by signal(): 128 + signo
  // (130 for SIGINT, 143 for SIGTERM).
  int exitCode() const { return 128 + signal(); }
  // "SIGINT", "SIGTERM".
  const char *signalName() const;
};

} // namespace chainjit::cli
