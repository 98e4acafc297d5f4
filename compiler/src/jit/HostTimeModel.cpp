// The time model of this machine (TimeModel.h): the matrix-product rates of
// the kernel calibration (KernelChoice.h) and a copy bandwidth measured once
// per machine, cached next to the calibration (the same ObjectCache rules:
// checksummed entry, atomic write, a damaged entry measured again with a
// warning), keyed by the same CPU + features + BLAS description.
#include "chainjit/compiler/TimeModel.h"

#include "HostTimeModel.h"
#include "KernelChoice.h"
#include "ObjectCache.h"
#include "chainjit/compiler/Jit.h"

#include <cblas.h>
#include <fmt/format.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
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

constexpr const char *kFormat = "chainjit-copy-bandwidth 4";
// The large-product rate is measured at this size (m = n = k): the kernel
// calibration's shapes stop at 96 x 128 x 64, and BLAS runs faster per
// multiply-add on the large, compute-bound products a Jacobian makes.
constexpr int kLargeGemm = 256;


// The CPU time of the calling thread: a copy of 128 MiB takes longer than
// a time slice, and on a shared machine the wall clock would count the
// slices other processes ran.
double threadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double processSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Bytes read + written per second copying `bytes` from one buffer to
// another: the best of a few rounds of at least ~2 ms of CPU each (the
// best: the machine's speed, not its momentary load).
double copyRate(size_t bytes, int rounds) {
  std::vector<char> a(bytes, 1), b(bytes, 2); // touched: no page faults in the timing
  std::memcpy(b.data(), a.data(), bytes);
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    double t0 = threadSeconds(), t = 0;
    int n = 0;
    do {
      std::memcpy((n % 2 ? a : b).data(), (n % 2 ? b : a).data(), bytes);
      ++n;
    } while ((t = threadSeconds() - t0) < 2e-3);
    best = std::max(best, 2.0 * double(bytes) * n / t);
  }
  return best;
}

size_t cacheSize() {
  long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  size_t s = l2 > 0 ? size_t(l2) : size_t(1) << 20;
  return std::clamp<size_t>(s, size_t(256) << 10, size_t(32) << 20);
}

// Seconds per multiply-add of a kLargeGemm^3 BLAS product, the best of a
// few rounds, in CPU time of the process (all of BLAS's threads; not the
// time other processes ran).
template <typename T> double largeGemmRate() {
  const int n = kLargeGemm;
  std::vector<T> a(size_t(n) * n, T(0.5)), b(size_t(n) * n, T(0.25)), c(size_t(n) * n);
  auto once = [&] {
    if constexpr (sizeof(T) == 8)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(),
                  n, 0.0, c.data(), n);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                  b.data(), n, 0.0f, c.data(), n);
  };
  once();
  double best = 1e9;
  for (int r = 0; r < 5; ++r) {
    double t0 = processSeconds();
    once();
    best = std::min(best, std::max(processSeconds() - t0, 1e-9));
  }
  return best / (double(n) * n * n);
}

CopyBandwidth measureBandwidth() {
  CopyBandwidth bw;
  bw.largeGemmF32 = largeGemmRate<float>();
  bw.largeGemmF64 = largeGemmRate<double>();
  // Within the cache: two buffers filling half of L2. Beyond it: 2 x 64 MiB.
  bw.cacheBytes = double(cacheSize());
  bw.cacheBytesPerSecond = copyRate(cacheSize() / 4, 7);
  bw.memoryBytesPerSecond = copyRate(size_t(64) << 20, 5);
  return bw;
}

std::string bandwidthKey(const std::string &target) {
  return "copy-bandwidth-" + jit::ObjectCache::key(kFormat, target);
}

} // namespace

namespace jit {

std::string serializeBandwidth(const CopyBandwidth &bw) {
  std::ostringstream os;
  os.precision(17);
  os << kFormat << "\nmemory " << bw.memoryBytesPerSecond << "\ncache "
     << bw.cacheBytesPerSecond << "\ncache_bytes " << bw.cacheBytes << "\ngemm_f32 "
     << bw.largeGemmF32 << "\ngemm_f64 " << bw.largeGemmF64 << "\nend\n";
  return os.str();
}

std::optional<CopyBandwidth> parseBandwidth(const std::string &text) {
  std::istringstream in(text);
  std::string line, word, rest;
  if (!std::getline(in, line) || line != kFormat)
    return std::nullopt;
  CopyBandwidth bw;
  for (auto [name, field] : {std::pair<const char *, double *>{"memory", &bw.memoryBytesPerSecond},
                             {"cache", &bw.cacheBytesPerSecond},
                             {"cache_bytes", &bw.cacheBytes},
                             {"gemm_f32", &bw.largeGemmF32},
                             {"gemm_f64", &bw.largeGemmF64}}) {
    if (!std::getline(in, line))
      return std::nullopt;
    std::istringstream ls(line);
    const bool rate = name[0] == 'g'; // seconds per multiply-add
    if (!(ls >> word >> *field) || word != name || (ls >> rest) || !std::isfinite(*field) ||
        (rate ? !(*field > 1e-15 && *field < 1e-3) : !(*field >= 1 && *field <= 1e15)))
      return std::nullopt;
  }
  if (!std::getline(in, line) || line != "end" || in.peek() != EOF)
    return std::nullopt;
  return bw;
}

std::string bandwidthEntryPath(const std::string &dir, const std::string &target) {
  return ObjectCache(dir).entryPath(bandwidthKey(target));
}

CopyBandwidth loadOrMeasureBandwidth(const std::string &dir, const std::string &target,
                                     const std::function<void(const std::string &)> &warn,
                                     const std::function<CopyBandwidth()> &measure,
                                     bool *measured) {
  ObjectCache cache(dir);
  const std::string key = bandwidthKey(target);
  ObjectCache::Lookup found = cache.load(key);
  if (measured)
    *measured = false;
  if (found.discarded)
    warn("the copy bandwidth entry " + cache.entryPath(key) +
         " was damaged; it was deleted and the bandwidth is measured again");
  else if (!found.problem.empty())
    warn(found.problem);
  if (found.object) {
    if (auto bw = parseBandwidth(*found.object))
      return *bw;
    cache.discard(key);
    warn("the copy bandwidth entry " + cache.entryPath(key) +
         " does not hold a bandwidth; it was deleted and the bandwidth is measured again");
  }
  CopyBandwidth bw = measure();
  if (measured)
    *measured = true;
  cache.store(key, serializeBandwidth(bw));
  return bw;
}

} // namespace jit

CopyBandwidth hostCopyBandwidth(const JitOptions &o) {
  static std::mutex mutex;
  static std::map<std::string, CopyBandwidth> byDirectory;
  std::lock_guard<std::mutex> lock(mutex);
  // Like the kernel calibration: the machine's, in the default cache
  // directory whatever o.cacheDir and o.useCache say.
  const std::string dir = jit::ObjectCache("").directory();
  if (auto it = byDirectory.find(dir); it != byDirectory.end())
    return it->second;
  auto warn = [&](const std::string &message) {
    if (o.onWarning)
      o.onWarning(message);
    else
      std::cerr << "chainjit: warning: " << message << "\n";
  };
  return byDirectory
      .emplace(dir, jit::loadOrMeasureBandwidth(dir, jit::calibrationTarget(), warn,
                                                measureBandwidth))
      .first->second;
}

TimeModel hostTimeModel(unsigned elemBytes, const JitOptions &o) {
  const bool f64 = elemBytes == 8;
  const jit::MatMulCalibration &cal = jit::hostCalibration(o);
  const CopyBandwidth bw = hostCopyBandwidth(o);
  const jit::MatMulCalibration::PerType &rates = cal.of(f64);
  TimeModel m;
  m.elemBytes = f64 ? 8 : 4;
  // Dense work: the calibration's BLAS line (fitted to the samples of both
  // orientations) up to its largest shape, then the measured large-product
  // rate for the multiply-adds beyond it.
  const double large = f64 ? bw.largeGemmF64 : bw.largeGemmF32;
  const double mostWork = std::max(cal.calibratedWork(f64, false), cal.calibratedWork(f64, true));
  auto blasSeconds = [rates, large, mostWork](double work) {
    return work <= mostWork ? rates.blas.at(work)
                            : rates.blas.at(mostWork) + (work - mostWork) * large;
  };
  m.dense = {rates.blas.overhead, large};
  // Scalings run as generated elementwise loops: the loops' call overhead,
  // the vector multiply-add rate; their bytes usually dominate.
  m.elementwise = {rates.axpy.overhead, large};
  // The kernel the JIT will choose for the shape (a fixed threshold, if one
  // is in force, else the calibration), at that kernel's predicted time.
  const int64_t fixed = jit::fixedBlasThreshold(o);
  m.denseSeconds = [cal, f64, fixed, blasSeconds](int64_t rows, int64_t inner, int64_t cols,
                                                  bool transB) {
    jit::MatMulDims d;
    d.m = rows, d.k = inner, d.n = cols, d.transB = transB;
    bool loops = fixed >= 0 ? rows * inner * cols < fixed && jit::microKernelSupports(d)
                            : cal.choose(f64, d) == jit::MatMulKernel::GeneratedLoops;
    return loops ? cal.predictLoops(f64, d)
                 : blasSeconds(double(rows) * double(inner) * double(cols));
  };
  m.memoryBytesPerSecond = bw.memoryBytesPerSecond;
  m.cacheBytesPerSecond = bw.cacheBytesPerSecond;
  m.cacheBytes = bw.cacheBytes;
  m.description = fmt::format(
      "this machine, {}: BLAS {:.1f} GFMA/s + {:.2f} us a call; copy {:.1f} GB/s from "
      "memory, {:.1f} GB/s within {} KiB of cache",
      f64 ? "f64" : "f32", large > 0 ? 1e-9 / large : 0.0,
      rates.blas.overhead * 1e6, bw.memoryBytesPerSecond * 1e-9, bw.cacheBytesPerSecond * 1e-9,
      int64_t(bw.cacheBytes) / 1024);
  return m;
}

TimeModel hostTimeModel(unsigned elemBytes) { return hostTimeModel(elemBytes, JitOptions{}); }

} // namespace chainjit::compiler
