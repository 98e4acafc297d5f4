// formatProfile (Jit.h): a profiled graph's kernel times as a table.
#include "chainjit/compiler/Jit.h"

#include <fmt/format.h>

namespace chainjit::compiler {

namespace {

// Seconds in the unit that keeps three or four significant digits (a value
// that rounds up to the next unit is shown in it: 999.7 ns as 1.00 us).
std::string duration(double s) {
  if (s >= 0.9995)
    return fmt::format("{:.3f} s", s);
  if (s >= 0.9995e-3)
    return fmt::format("{:.3f} ms", s * 1e3);
  if (s >= 0.9995e-6)
    return fmt::format("{:.2f} us", s * 1e6);
  return fmt::format("{:.0f} ns", s * 1e9);
}

} // namespace

std::string formatProfile(const GraphProfile &p) {
  if (p.kernels.empty())
    return "no kernel times: the graph was not compiled with profiling (JitOptions::profile, "
           "--profile)\n";
  std::string out = fmt::format("{} call{}, {} in all, {} per call (wall time on the calling "
                                "thread)\n",
                                p.calls, p.calls == 1 ? "" : "s", duration(p.seconds),
                                duration(p.calls ? p.seconds / double(p.calls) : 0));
  out += fmt::format("{:>7} {:>11} {:>11} {:>8}  {}\n", "share", "total", "per call", "calls",
                     "kernel");
  auto row = [&](double seconds, uint64_t calls, const std::string &what) {
    const double share = p.seconds > 0 ? 100 * seconds / p.seconds : 0;
    out += fmt::format("{:>6.1f}% {:>11} {:>11} {:>8}  {}\n", share, duration(seconds),
                       duration(calls ? seconds / double(calls) : 0), calls, what);
  };
  double inKernels = 0;
  for (const KernelTime &k : p.kernels) {
    row(k.seconds, k.calls, k.kernel);
    inKernels += k.seconds;
  }
  // Never negative: the clocks read at different places can differ by a
  // few nanoseconds per call.
  row(std::max(0.0, p.seconds - inKernels), p.calls,
      "the rest of the call (taking an arena, copies of outputs and updates)");
  return out;
}

} // namespace chainjit::compiler
