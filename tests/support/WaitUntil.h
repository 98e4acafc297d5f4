// Waiting on another thread in a test without hanging it: yields until
// done() holds or 10 s have passed (a test that would hang fails its checks
// instead).
#pragma once

#include <chrono>
#include <thread>

namespace chainjit::testing {

// Returns done() as it stands when the wait ends.
template <typename Done> bool waitUntil(const Done &done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
  return done();
}

} // namespace chainjit::testing
