// The kernel choice's model, its cache entry and the per-process memory of
// it; the measuring itself is in KernelChoiceMeasure.cpp.
#include "KernelChoice.h"

#include "JitEngineImpl.h"
#include "ObjectCache.h"
#include "chainjit/ir/Error.h"

#include <cblas.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

namespace chainjit::compiler::jit {

namespace {

constexpr const char *kFormat = "chainjit-kernel-calibration 1";
constexpr size_t kMaxSamples = 64;
constexpr int64_t kMaxDim = int64_t{1} << 20;

double blasWork(const MatMulDims &d) { return double(d.m) * double(d.n) * double(d.k); }
double loopsWork(const MatMulDims &d, unsigned bytes, const HostVectors &v) {
  return double(microKernelVectorOps(d, bytes, v));
}

// Named apart from the compiled objects, so a look into the directory tells.
std::string calibrationKey(const std::string &target) {
  return "kernel-choice-" + ObjectCache::key(kFormat, target);
}

} // namespace

TimeLine fitTimeLine(const std::vector<std::pair<double, double>> &points) {
  double sw = 0, sx = 0, sxx = 0, st = 0, sxt = 0;
  for (auto [x, t] : points) {
    if (!(t > 0))
      continue;
    double w = 1 / (t * t); // relative error: small shapes count as much as large ones
    sw += w, sx += w * x, sxx += w * x * x, st += w * t, sxt += w * x * t;
  }
  TimeLine line;
  if (sw == 0)
    return line;
  double det = sw * sxx - sx * sx;
  if (det > 1e-12 * sw * sxx) {
    line.overhead = (sxx * st - sx * sxt) / det;
    line.perOp = (sw * sxt - sx * st) / det;
  } else { // one distinct work value: all of it overhead
    line.overhead = st / sw;
  }
  if (line.overhead < 0) {
    line.overhead = 0;
    line.perOp = sxx > 0 ? sxt / sxx : 0;
  }
  if (line.perOp < 0) {
    line.perOp = 0;
    line.overhead = st / sw;
  }
  return line;
}

double MatMulCalibration::predictLoops(bool isF64, const MatMulDims &d) const {
  const PerType &p = of(isF64);
  return (d.transB ? p.dot : p.axpy).at(loopsWork(d, isF64 ? 8 : 4, vectors));
}

double MatMulCalibration::predictBlas(bool isF64, const MatMulDims &d) const {
  return of(isF64).blas.at(blasWork(d));
}

double MatMulCalibration::calibratedWork(bool isF64, bool transB) const {
  double most = 0;
  for (const CalibrationSample &s : of(isF64).samples)
    if (s.dims.transB == transB)
      most = std::max(most, blasWork(s.dims));
  return most;
}

MatMulKernel MatMulCalibration::choose(bool isF64, const MatMulDims &d) const {
  // Only within the shapes measured: the lines are fitted to one thread's
  // small products, while the library kernel splits a large one over the
  // CPUs and picks its own way by measurement (kernels/MeasuredChoice.h).
  // Extrapolated, the loops' line chose them for the 2000 x 20 x 2000 f64
  // product, on one thread at half the library kernel's speed.
  if (!microKernelSupports(d) || blasWork(d) > calibratedWork(isF64, d.transB))
    return MatMulKernel::Blas;
  return predictLoops(isF64, d) <= predictBlas(isF64, d) ? MatMulKernel::GeneratedLoops
                                                         : MatMulKernel::Blas;
}

void MatMulCalibration::fit() {
  for (bool isF64 : {false, true}) {
    PerType &p = isF64 ? f64 : f32;
    std::vector<std::pair<double, double>> axpy, dot, blas;
    for (const CalibrationSample &s : p.samples) {
      (s.dims.transB ? dot : axpy).push_back({loopsWork(s.dims, isF64 ? 8 : 4, vectors), s.loops});
      blas.push_back({blasWork(s.dims), s.blas});
    }
    p.axpy = fitTimeLine(axpy);
    p.dot = fitTimeLine(dot);
    p.blas = fitTimeLine(blas);
  }
}

std::string MatMulCalibration::serialize() const {
  std::ostringstream os;
  os.precision(17);
  os << kFormat << "\nvectors " << vectors.bits << " " << vectors.registers << "\n";
  for (bool isF64 : {false, true})
    for (const CalibrationSample &s : of(isF64).samples)
      os << (isF64 ? "f64 " : "f32 ") << s.dims.m << " " << s.dims.n << " " << s.dims.k << " "
         << s.dims.transA << " " << s.dims.transB << " " << s.loops << " " << s.blas << "\n";
  os << "end\n";
  return os.str();
}

std::optional<MatMulCalibration> MatMulCalibration::parse(const std::string &text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kFormat)
    return std::nullopt;
  MatMulCalibration c;
  {
    if (!std::getline(in, line))
      return std::nullopt;
    std::istringstream ls(line);
    std::string word, rest;
    if (!(ls >> word >> c.vectors.bits >> c.vectors.registers) || word != "vectors" ||
        (ls >> rest) || c.vectors.bits < 8 || c.vectors.bits > 8192 ||
        c.vectors.registers < 1 || c.vectors.registers > 1024)
      return std::nullopt;
  }
  bool ended = false;
  while (std::getline(in, line)) {
    if (line == "end") {
      ended = true;
      break;
    }
    std::istringstream ls(line);
    std::string type, rest;
    CalibrationSample s;
    int ta = -1, tb = -1;
    if (!(ls >> type >> s.dims.m >> s.dims.n >> s.dims.k >> ta >> tb >> s.loops >> s.blas) ||
        (ls >> rest) || (type != "f32" && type != "f64"))
      return std::nullopt;
    for (int64_t x : {s.dims.m, s.dims.n, s.dims.k})
      if (x < 1 || x > kMaxDim)
        return std::nullopt;
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || !std::isfinite(s.loops) ||
        !std::isfinite(s.blas) || s.loops <= 0 || s.blas <= 0 || s.loops > 1 || s.blas > 1)
      return std::nullopt;
    s.dims.transA = ta, s.dims.transB = tb;
    PerType &p = type == "f64" ? c.f64 : c.f32;
    if (p.samples.size() >= kMaxSamples)
      return std::nullopt;
    p.samples.push_back(s);
  }
  if (!ended || in.peek() != EOF || c.f32.samples.empty() || c.f64.samples.empty())
    return std::nullopt;
  c.fit();
  return c;
}

std::vector<MatMulDims> calibrationShapes() {
  // Row-wise B (the forward product and the weight gradient), B transposed
  // (dZ W^T), from a few hundred multiply-adds to where BLAS usually wins.
  return {{4, 16, 16, false, false},   {8, 8, 8, false, false},    {1, 128, 64, false, false},
          {32, 10, 32, false, false},  {32, 32, 32, false, false}, {64, 64, 64, false, false},
          {96, 128, 64, false, false}, {1, 32, 32, false, true},   {16, 16, 64, false, true},
          {32, 64, 32, false, true},   {64, 64, 64, false, true}};
}

std::string calibrationTarget() {
  // The BLAS build and the core it chose for this CPU change its speed too.
  std::string blas = openblas_get_config();
  blas += std::string(" core ") + openblas_get_corename();
  return sharedJitEngine().targetDescription() + " | " + blas;
}

std::string calibrationEntryPath(const std::string &dir, const std::string &target) {
  ObjectCache cache(dir);
  return cache.entryPath(calibrationKey(target));
}

MatMulCalibration loadOrCalibrate(const std::string &dir, const std::string &target,
                                  const std::function<void(const std::string &)> &warn,
                                  const std::function<MatMulCalibration()> &measure,
                                  bool *measured) {
  ObjectCache cache(dir);
  const std::string key = calibrationKey(target);
  ObjectCache::Lookup found = cache.load(key);
  if (measured)
    *measured = false;
  if (found.discarded)
    warn("the kernel calibration entry " + cache.entryPath(key) +
         " was damaged; it was deleted and the matmul kernels are measured again");
  else if (!found.problem.empty())
    warn(found.problem);
  if (found.object) {
    if (auto c = MatMulCalibration::parse(*found.object))
      return *c;
    cache.discard(key);
    warn("the kernel calibration entry " + cache.entryPath(key) +
         " does not hold a calibration; it was deleted and the matmul kernels are measured again");
  }
  MatMulCalibration c = measure();
  if (measured)
    *measured = true;
  cache.store(key, c.serialize());
  return c;
}

const MatMulCalibration &hostCalibration(const JitOptions &o) {
  static std::mutex mutex;
  static std::optional<MatMulCalibration> calibration; // this process's, once obtained
  static std::set<std::string> syncedDirs;              // cache directories known to hold it
  // Times the per-machine kernels (loadedMicroKernels takes its own lock,
  // never this one).
  auto measure = [&] { return measureCalibration(loadedMicroKernels(o)); };
  std::lock_guard<std::mutex> lock(mutex);
  auto warn = [&](const std::string &message) {
    if (o.onWarning)
      o.onWarning(message);
    else
      std::cerr << "chainjit: warning: " << message << "\n";
  };
  // The default cache directory, whatever o.cacheDir and o.useCache say
  // (MicroKernelLibrary.h says why).
  const std::string dir = ObjectCache("").directory();
  if (!syncedDirs.count(dir)) {
    const std::string target = calibrationTarget();
    if (!calibration) {
      calibration = loadOrCalibrate(dir, target, warn, measure);
    } else {
      ObjectCache cache(dir);
      if (!cache.load(calibrationKey(target)).object)
        cache.store(calibrationKey(target), calibration->serialize());
    }
    syncedDirs.insert(dir);
  }
  return *calibration;
}

int64_t fixedBlasThreshold(const JitOptions &o) {
  if (o.blasThreshold >= 0)
    return o.blasThreshold;
  const char *env = std::getenv("CHAINJIT_BLAS_THRESHOLD");
  if (!env || !*env)
    return -1;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(env, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0)
    throw Error(std::string("CHAINJIT_BLAS_THRESHOLD='") + env +
                "' is not a non-negative integer (m*n*k below it: generated loops; unset: "
                "the machine's calibration chooses)");
  return v;
}

MatMulKernel chooseMatMulKernel(const MatMulDims &d, unsigned elemBytes, const JitOptions &o) {
  int64_t fixed = fixedBlasThreshold(o);
  if (fixed >= 0)
    return d.m * d.n * d.k < fixed ? MatMulKernel::GeneratedLoops : MatMulKernel::Blas;
  return hostCalibration(o).choose(elemBytes == 8, d);
}

} // namespace chainjit::compiler::jit
