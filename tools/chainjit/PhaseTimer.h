// --time-passes: the wall time of each phase of a command, printed to stderr
// in the order the phases ran. Shared by `run` and the derivative commands.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace chainjit::cli {

// Wall time per phase for --time-passes, printed to stderr in order.
class PhaseTimer {
public:
  explicit PhaseTimer(bool enabled) : enabled_(enabled) {}
  template <typename F> auto time(const char *phase, F &&f) {
    auto start = std::chrono::steady_clock::now();
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      record(phase, start);
    } else {
      auto r = f();
      record(phase, start);
      return r;
    }
  }
  void add(const char *phase, double seconds) { phases_.push_back({phase, seconds}); }
  void print() const {
    if (!enabled_)
      return;
    double total = 0;
    std::fprintf(stderr, "=== phase times ===\n");
    for (const auto &[name, s] : phases_) {
      std::fprintf(stderr, "  %-20s %10.3f ms\n", name.c_str(), s * 1e3);
      total += s;
    }
    std::fprintf(stderr, "  %-20s %10.3f ms\n", "total", total * 1e3);
  }

private:
  void record(const char *phase, std::chrono::steady_clock::time_point start) {
    add(phase, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  bool enabled_;
  std::vector<std::pair<std::string, double>> phases_;
};

} // namespace chainjit::cli
