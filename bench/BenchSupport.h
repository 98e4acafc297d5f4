// Shared helpers of the JIT benchmarks (bench/jit_*_bench.cpp): timing with
// medians over interleaved samples, so that two things compared in one run
// see the same machine load, and a results file the PyTorch comparison
// (bench/torch_compare.py) reads to print ratios.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace benchsupport {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A function timed in samples of `inner` calls each (inner chosen so that a
// sample lasts about 200 µs, so the clock's resolution does not matter).
struct Timed {
  std::function<void()> fn;
  int inner = 1;
  std::vector<double> perCall; // seconds per call, one per sample

  void calibrate() {
    for (int i = 0; i < 3; ++i) // warm-up: page faults, BLAS thread start, caches
      fn();
    double t0 = now();
    int n = 0;
    while (now() - t0 < 0.02 || n < 3) {
      fn();
      ++n;
    }
    double one = (now() - t0) / n;
    inner = std::max(1, int(200e-6 / std::max(one, 1e-9)));
  }
  void sample() {
    double t0 = now();
    for (int i = 0; i < inner; ++i)
      fn();
    perCall.push_back((now() - t0) / inner);
  }
  double median() const { return benchsupport::median(perCall); }
  double min() const { return perCall.empty() ? 0 : *std::min_element(perCall.begin(), perCall.end()); }
};

// Times several functions side by side: samples of each in turn (round
// robin) until every one has at least `minSamples` samples and `minSeconds`
// have passed, so a change in machine load hits all of them alike.
inline void timeInterleaved(std::vector<Timed *> fns, double minSeconds = 0.5,
                            int minSamples = 15, int maxSamples = 3000) {
  for (Timed *f : fns)
    f->calibrate();
  double t0 = now();
  for (int round = 0;; ++round) {
    for (Timed *f : fns)
      f->sample();
    if ((round + 1 >= minSamples && now() - t0 >= minSeconds) || round + 1 >= maxSamples)
      break;
  }
}

// Lines "kind<TAB>key<TAB>seconds" for bench/torch_compare.py.
class ResultsFile {
public:
  explicit ResultsFile(const std::string &path) {
    if (!path.empty())
      f_ = std::fopen(path.c_str(), "w");
  }
  ~ResultsFile() {
    if (f_)
      std::fclose(f_);
  }
  void add(const std::string &kind, const std::string &key, double seconds) {
    if (f_)
      fmt::print(f_, "{}\t{}\t{:.9g}\n", kind, key, seconds);
  }

private:
  std::FILE *f_ = nullptr;
};

inline std::string fmtTime(double s) {
  if (s < 1e-3)
    return fmt::format("{:.2f} µs", s * 1e6);
  if (s < 1)
    return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.3f} s", s);
}

} // namespace benchsupport

// --- the machine a run was on (printed at the top of every benchmark) ---

// OpenBLAS's introspection, weak so a program that does not link OpenBLAS
// itself still builds (it then prints "?").
extern "C" char *openblas_get_corename(void) __attribute__((weak));
extern "C" char *openblas_get_config(void) __attribute__((weak));
extern "C" int openblas_get_num_threads(void) __attribute__((weak));

#include "chainjit/compiler/BlasCore.h"
#include "chainjit/compiler/BlasThreads.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace benchsupport {

// "CPU: <model> (<n> CPUs); ISA: <the SIMD features that matter>; BLAS:
// OpenBLAS <config>, core <core>, <t> threads".
inline std::string machineDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "?";
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name" && model == "?")
      model = value;
    if (key == "flags" && flags.empty()) {
      std::istringstream fs(value);
      for (std::string f; fs >> f;)
        flags.insert(f);
    }
  }
  std::string isa;
  for (const char *f : {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                        "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile"})
    if (flags.count(f))
      isa += (isa.empty() ? "" : " ") + std::string(f);
  std::string blas = fmt::format("{}; {}", chainjit::compiler::blasCoreText(),
                                 chainjit::compiler::blasThreadsText());
  return fmt::format("CPU: {} ({} CPUs)\nISA: {}\nBLAS: {}", model,
                     std::thread::hardware_concurrency(), isa.empty() ? "?" : isa, blas);
}

inline void printMachine() { fmt::print("{}\n", machineDescription()); }

// For a benchmark's main(): start as the CLI does, with OpenBLAS's kernels
// for this CPU (BlasCore.h) and on one thread, chainjit splitting the
// products (BlasThreads.h).
inline void startLikeTheCli(char **argv) {
  chainjit::compiler::rerunWithBlasSettings(argv);
  chainjit::compiler::takeOverBlasThreads();
}

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

// fn() with OpenBLAS on one thread per CPU, its own threading as it comes:
// the BLAS baselines compare with that, whatever the program set.
template <typename Fn> void withOpenBlasThreads(const Fn &fn) {
  const int was = openblas_get_num_threads ? openblas_get_num_threads() : 0;
  if (openblas_set_num_threads)
    openblas_set_num_threads(int(std::thread::hardware_concurrency()));
  fn();
  if (openblas_set_num_threads && was > 0)
    openblas_set_num_threads(was);
}

} // namespace benchsupport
