#include "chainjit/ir/AllocLimit.h"

#include "chainjit/ir/Error.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <unistd.h>

namespace chainjit::ir {

namespace {

std::atomic<uint64_t> explicitLimit{0};

uint64_t physicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0)
    return UINT64_MAX; // unknown: no limit beyond what the system refuses
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize);
}

// The default, computed once: $CHAINJIT_ALLOC_LIMIT, else physical memory.
// A malformed variable is reported when the limit is first needed.
uint64_t defaultLimit() {
  static const uint64_t limit = [] {
    const char *env = std::getenv("CHAINJIT_ALLOC_LIMIT");
    if (env && *env) {
      try {
        return parseByteCount(env);
      } catch (const Error &e) {
        throw Error(std::string("$CHAINJIT_ALLOC_LIMIT: ") + e.diagnostics().front().message);
      }
    }
    return physicalMemory();
  }();
  return limit;
}

} // namespace

uint64_t allocLimit() {
  uint64_t set = explicitLimit.load(std::memory_order_relaxed);
  return set ? set : defaultLimit();
}

void setAllocLimit(uint64_t bytes) { explicitLimit.store(bytes, std::memory_order_relaxed); }

void checkAlloc(uint64_t bytes, std::string_view what) {
  uint64_t limit = allocLimit();
  if (bytes > limit)
    throw Error(fmt::format("{} needs {}, more than the allocation limit of {} (raise it with "
                            "--alloc-limit or $CHAINJIT_ALLOC_LIMIT)",
                            what, formatBytes(bytes), formatBytes(limit)));
}

std::string formatBytes(uint64_t bytes) {
  static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024)
    return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

uint64_t parseByteCount(std::string_view text) {
  std::string s(text);
  auto bad = [&] {
    return Error(fmt::format("'{}' is not a byte count (expected e.g. 1000000, 512M, 8G)", s));
  };
  if (s.empty())
    throw bad();
  char *stop = nullptr;
  double v = std::strtod(s.c_str(), &stop);
  std::string_view unit(stop);
  if (stop == s.c_str() || !std::isfinite(v) || v < 0)
    throw bad();
  double scale = 1;
  if (!unit.empty()) {
    switch (unit[0]) {
    case 'K': case 'k': scale = 0x1p10; break;
    case 'M': case 'm': scale = 0x1p20; break;
    case 'G': case 'g': scale = 0x1p30; break;
    case 'T': case 't': scale = 0x1p40; break;
    case 'B': case 'b': break;
    default: throw bad();
    }
    std::string_view rest = unit.substr(1);
    if (!(rest.empty() || rest == "B" || rest == "iB") || (scale == 1 && !rest.empty()))
      throw bad();
  }
  double bytes = v * scale;
  if (bytes >= 0x1p64)
    throw bad();
  return static_cast<uint64_t>(bytes);
}

} // namespace chainjit::ir
