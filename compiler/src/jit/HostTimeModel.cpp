// The time model of this machine (TimeModel.h): the matrix-product rates of
// the kernel calibration (KernelChoice.h) and a copy bandwidth measured once
// per machine, cached next to the calibration (the same ObjectCache rules:
// checksummed entry, atomic write, a damaged entry measured again with a
// warning), keyed by the same CPU + features + BLAS description.
#include "chainjit/compiler/TimeModel.h"

#include "KernelChoice.h"
#include "ObjectCache.h"
#include "chainjit/compiler/Jit.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

namespace chainjit::compiler {

namespace {

constexpr const char *kFormat = "chainjit-copy-bandwidth 1";

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Bytes read + written per second copying `bytes` from one buffer to
// another: the best of a few rounds of at least ~2 ms each (the best: the
// machine's speed, not its momentary load).
double copyRate(size_t bytes, int rounds) {
  std::vector<char> a(bytes, 1), b(bytes, 2); // touched: no page faults in the timing
  std::memcpy(b.data(), a.data(), bytes);
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    int n = 0;
    do {
      std::memcpy((n % 2 ? a : b).data(), (n % 2 ? b : a).data(), bytes);
      ++n;
    } while (since(t0) < 2e-3);
    best = std::max(best, 2.0 * double(bytes) * n / since(t0));
  }
  return best;
}

size_t cacheSize() {
  long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  size_t s = l2 > 0 ? size_t(l2) : size_t(1) << 20;
  return std::clamp<size_t>(s, size_t(256) << 10, size_t(32) << 20);
}

CopyBandwidth measureBandwidth() {
  CopyBandwidth bw;
  // Within the cache: two buffers filling half of L2. Beyond it: 2 x 64 MiB.
  bw.cacheBytes = double(cacheSize());
  bw.cacheBytesPerSecond = copyRate(cacheSize() / 4, 7);
  bw.memoryBytesPerSecond = copyRate(size_t(64) << 20, 5);
  return bw;
}

std::string serialize(const CopyBandwidth &bw) {
  std::ostringstream os;
  os.precision(17);
  os << kFormat << "\nmemory " << bw.memoryBytesPerSecond << "\ncache "
     << bw.cacheBytesPerSecond << "\ncache_bytes " << bw.cacheBytes << "\nend\n";
  return os.str();
}

// Exactly what serialize() writes, with plausible numbers; else nullopt.
std::optional<CopyBandwidth> parse(const std::string &text) {
  std::istringstream in(text);
  std::string line, word, rest;
  if (!std::getline(in, line) || line != kFormat)
    return std::nullopt;
  CopyBandwidth bw;
  for (auto [name, field] : {std::pair<const char *, double *>{"memory", &bw.memoryBytesPerSecond},
                             {"cache", &bw.cacheBytesPerSecond},
                             {"cache_bytes", &bw.cacheBytes}}) {
    if (!std::getline(in, line))
      return std::nullopt;
    std::istringstream ls(line);
    if (!(ls >> word >> *field) || word != name || (ls >> rest) || !std::isfinite(*field) ||
        *field < 1 || *field > 1e15)
      return std::nullopt;
  }
  if (!std::getline(in, line) || line != "end" || in.peek() != EOF)
    return std::nullopt;
  return bw;
}

} // namespace

CopyBandwidth hostCopyBandwidth(const JitOptions &o) {
  static std::mutex mutex;
  static std::map<std::string, CopyBandwidth> byDirectory;
  std::lock_guard<std::mutex> lock(mutex);
  // Like the kernel calibration: the machine's, in the default cache
  // directory whatever o.cacheDir and o.useCache say.
  jit::ObjectCache cache("");
  if (auto it = byDirectory.find(cache.directory()); it != byDirectory.end())
    return it->second;
  auto warn = [&](const std::string &message) {
    if (o.onWarning)
      o.onWarning(message);
    else
      std::cerr << "chainjit: warning: " << message << "\n";
  };
  const std::string key = "copy-bandwidth-" + jit::ObjectCache::key(kFormat, jit::calibrationTarget());
  jit::ObjectCache::Lookup found = cache.load(key);
  if (found.discarded)
    warn("the copy bandwidth entry " + cache.entryPath(key) +
         " was damaged; it was deleted and the bandwidth is measured again");
  else if (!found.problem.empty())
    warn(found.problem);
  std::optional<CopyBandwidth> bw;
  if (found.object) {
    bw = parse(*found.object);
    if (!bw) {
      cache.discard(key);
      warn("the copy bandwidth entry " + cache.entryPath(key) +
           " does not hold a bandwidth; it was deleted and the bandwidth is measured again");
    }
  }
  if (!bw) {
    bw = measureBandwidth();
    cache.store(key, serialize(*bw));
  }
  return byDirectory.emplace(cache.directory(), *bw).first->second;
}

TimeModel hostTimeModel(unsigned elemBytes, const JitOptions &o) {
  const bool f64 = elemBytes == 8;
  const jit::MatMulCalibration &cal = jit::hostCalibration(o);
  const CopyBandwidth bw = hostCopyBandwidth(o);
  const jit::MatMulCalibration::PerType &rates = cal.of(f64);
  TimeModel m;
  m.elemBytes = f64 ? 8 : 4;
  m.dense = {rates.blas.overhead, rates.blas.perOp};
  // Scalings run as generated elementwise loops: the loops' call overhead,
  // the vector multiply-add rate; their bytes usually dominate.
  m.elementwise = {rates.axpy.overhead, rates.blas.perOp};
  // The kernel the JIT will choose for the shape (a fixed threshold, if one
  // is in force, else the calibration), at that kernel's predicted time.
  const int64_t fixed = jit::fixedBlasThreshold(o);
  m.denseSeconds = [cal, f64, fixed](int64_t rows, int64_t inner, int64_t cols) {
    jit::MatMulDims d;
    d.m = rows, d.k = inner, d.n = cols;
    bool loops = fixed >= 0 ? rows * inner * cols < fixed && jit::microKernelSupports(d)
                            : cal.choose(f64, d) == jit::MatMulKernel::GeneratedLoops;
    return loops ? cal.predictLoops(f64, d) : cal.predictBlas(f64, d);
  };
  m.memoryBytesPerSecond = bw.memoryBytesPerSecond;
  m.cacheBytesPerSecond = bw.cacheBytesPerSecond;
  m.cacheBytes = bw.cacheBytes;
  m.description = fmt::format(
      "this machine, {}: BLAS {:.1f} GFMA/s + {:.2f} us a call; copy {:.1f} GB/s from "
      "memory, {:.1f} GB/s within {} KiB of cache",
      f64 ? "f64" : "f32", rates.blas.perOp > 0 ? 1e-9 / rates.blas.perOp : 0.0,
      rates.blas.overhead * 1e6, bw.memoryBytesPerSecond * 1e-9, bw.cacheBytesPerSecond * 1e-9,
      int64_t(bw.cacheBytes) / 1024);
  return m;
}

TimeModel hostTimeModel(unsigned elemBytes) { return hostTimeModel(elemBytes, JitOptions{}); }

} // namespace chainjit::compiler
