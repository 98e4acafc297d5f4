#include "StopSignals.h"

#include <csignal>
#include <unistd.h>

namespace chainjit::cli {

namespace {

// Lock-free atomics are the state a signal handler may touch.
std::atomic<bool> stopRequested{false};
std::atomic<int> stopSignal{0};
struct sigaction previousInt, previousTerm;

void onSignal(int signo) {
  int none = 0;
  if (stopSignal.compare_exchange_strong(none, signo)) {
    static const char note[] = "\nchainjit: stopping after the current step...\n";
    ssize_t ignored = ::write(STDERR_FILENO, note, sizeof note - 1);
    (void)ignored;
  }
  stopRequested.store(true);
}

} // namespace

StopSignals::StopSignals() {
  stopRequested.store(false);
  stopSignal.store(0);
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; // a read or write in progress continues
  sigaction(SIGINT, &sa, &previousInt);
  sigaction(SIGTERM, &sa, &previousTerm);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &previousInt, nullptr);
  sigaction(SIGTERM, &previousTerm, nullptr);
}

const std::atomic<bool> &StopSignals::requested() const { return stopRequested; }

int StopSignals::signal() const { return stopSignal.load(); }

const char *StopSignals::signalName() const {
  switch (signal()) {
  case SIGINT: return "SIGINT";
  case SIGTERM: return "SIGTERM";
  default: return "a signal";
  }
}

} // namespace chainjit::cli
