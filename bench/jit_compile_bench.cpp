// Compile time of the benchmark models' training steps (issue 14: cold
// <= 150 ms, cached <= 10 ms) with the two ways of emitting the matmul
// micro-kernels, side by side in one process:
//   per-shape  a register-blocked kernel compiled (O3 + codegen) for every
//              product's shape in every graph ($CHAINJIT_MICROKERNELS=per-shape);
//   generic    calls of the per-machine shape-generic kernels, compiled once
//              per machine and cached (the default).
// Per model and way: the cold compile (no compile cache, median of 3, in a
// process whose JIT and kernels exist; lower + optimize + codegen), the
// cached compile (a fresh cache directory filled once, median of 5) and the
// step's run time (medians of interleaved samples of both ways' steps, so
// a change of load hits both). Then the one-off per-machine costs: building
// the generic kernels' object, loading it from the cache, measuring the
// kernel calibration.
//
//   build/bench/jit_compile_bench [--examples DIR] [--quick] [--results FILE]
//
// DIR holds mlp.cj, fashion_mlp.cj and fashion_cnn.cj (default: examples,
// run from the repository root). --quick: one cold and one cached compile,
// shorter timing. --results FILE: each model's and way's cold and cached
// compile CPU times, for bench/issue14_targets.py.
#include "../compiler/src/jit/KernelChoice.h" // the per-machine one-offs
#include "../compiler/src/jit/ObjectCache.h"
#include "BenchModels.h"
#include "BenchSupport.h"

#include <chainjit/chainjit.h>
#include <chainjit/runtime/train/ModelGraphs.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace chainjit;
using benchsupport::buildMlp;
using benchsupport::fmtTime;
using benchsupport::Timed;

namespace {

constexpr double kCold = 0.150, kCached = 0.010;

// Buffers for any training step of a 10-class model: inputs in [0, 1),
// labels in [0, 10), small random params, lr 1e-4, updates in place.
struct StepBuffers {
  std::map<std::string, std::vector<double>> storage; // 8-byte aligned, any dtype
  std::vector<std::vector<double>> outputs;
  std::vector<void *> args;

  explicit StepBuffers(const compiler::CompiledGraph &cg) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0, 1);
    auto words = [](const ir::TensorType &t) {
      return (size_t(t.numel()) * ir::dtypeSize(t.dtype) + 7) / 8 + 1;
    };
    for (const auto &a : cg.arguments()) {
      if (a.role == compiler::ArgumentRole::Output) {
        outputs.emplace_back(words(a.type));
        args.push_back(outputs.back().data());
        continue;
      }
      auto [it, fresh] = storage.try_emplace(a.name, words(a.type)); // an update: its param
      if (fresh) {
        size_t n = size_t(a.type.numel());
        if (a.type.dtype == ir::DType::i32) {
          auto *p = reinterpret_cast<int32_t *>(it->second.data());
          for (size_t i = 0; i < n; ++i)
            p[i] = int32_t(rng() % 10);
        } else if (a.type.dtype == ir::DType::f32) {
          auto *p = reinterpret_cast<float *>(it->second.data());
          bool isParam = a.role == compiler::ArgumentRole::Param;
          for (size_t i = 0; i < n; ++i)
            p[i] = a.type.shape.empty() ? 1e-4f : isParam ? 0.1f * (2 * u(rng) - 1) : u(rng);
        }
      }
      args.push_back(it->second.data());
    }
  }
};

struct Way {
  const char *name, *env;
  bool blasOnly = false;
};
// The third is the floor: no micro-kernel at all, every product on BLAS.
const Way kWays[3] = {{"per-shape", "per-shape"}, {"generic", "generic"}, {"BLAS only", "generic", true}};

// The calling thread's CPU time: a compile runs on it alone, and a loaded
// machine inflates its wall time, not this.
double threadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Measured {
  double cold = 0, coldCpu = 0, cached = 0, cachedCpu = 0, optimize = 0, codegen = 0;
  std::unique_ptr<compiler::CompiledGraph> step;
};

Measured measure(const ir::Graph &step, const Way &way, int colds, int cacheds) {
  ::setenv("CHAINJIT_MICROKERNELS", way.env, 1);
  Measured r;
  compiler::JitOptions cold;
  cold.useCache = false;
  if (way.blasOnly)
    cold.blasThreshold = 0;
  std::vector<double> t, cpu, opt, cg;
  for (int i = 0; i < colds; ++i) {
    double t0 = benchsupport::now(), c0 = threadSeconds();
    r.step = compiler::compileGraph(step, cold);
    t.push_back(benchsupport::now() - t0);
    cpu.push_back(threadSeconds() - c0);
    opt.push_back(r.step->times().optimize);
    cg.push_back(r.step->times().codegen);
  }
  r.cold = benchsupport::median(t);
  r.coldCpu = benchsupport::median(cpu);
  r.optimize = benchsupport::median(opt);
  r.codegen = benchsupport::median(cg);
  std::string dir = (std::filesystem::temp_directory_path() / "chainjit-cbench-XXXXXX").string();
  if (!mkdtemp(dir.data()))
    throw std::runtime_error("mkdtemp failed");
  compiler::JitOptions cached;
  cached.cacheDir = dir;
  cached.blasThreshold = cold.blasThreshold;
  compiler::compileGraph(step, cached); // fills the cache (and stores the per-machine entries)
  t.clear();
  cpu.clear();
  for (int i = 0; i < cacheds; ++i) {
    double t0 = benchsupport::now(), c0 = threadSeconds();
    auto c = compiler::compileGraph(step, cached);
    t.push_back(benchsupport::now() - t0);
    cpu.push_back(threadSeconds() - c0);
    if (!c->times().cacheHit)
      throw std::runtime_error("the cached compile missed the cache");
  }
  r.cached = benchsupport::median(t);
  r.cachedCpu = benchsupport::median(cpu);
  std::filesystem::remove_all(dir);
  ::unsetenv("CHAINJIT_MICROKERNELS");
  return r;
}

std::string mark(bool ok) { return ok ? "yes" : "NO"; }

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  std::string examples = "examples";
  std::string resultsPath;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--examples" && i + 1 < argc)
      examples = argv[++i];
    else if (a == "--quick")
      quick = true;
    else if (a == "--results" && i + 1 < argc)
      resultsPath = argv[++i];
    else {
      fmt::print(stderr, "usage: {} [--examples DIR] [--quick] [--results FILE]\n", argv[0]);
      return 2;
    }
  }
  const int colds = quick ? 1 : 3, cacheds = quick ? 1 : 5;
  benchsupport::ResultsFile results(resultsPath);
  benchsupport::printMachine();
  double load = 0;
  if (std::FILE *f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1)
      load = 0;
    std::fclose(f);
  }
  fmt::print("load average {:.2f}\n\n", load);

  struct Model {
    std::string name;
    ir::Graph graph;
  };
  std::vector<Model> models;
  for (const char *file : {"mlp.cj", "fashion_mlp.cj", "fashion_cnn.cj"})
    models.push_back({file, ir::parseGraphFile(examples + "/" + file)});
  models.push_back({"64-128-10@32", buildMlp({64, 128, 10}, 32)});
  models.push_back({"64-32-32-32-32-10@1", buildMlp({64, 32, 32, 32, 32, 10}, 1)});

  // The JIT, the per-machine kernels and the calibration exist before the
  // first timed compile (as in a process that compiled once already).
  compiler::JitOptions defaults;
  double t0 = benchsupport::now();
  compiler::jit::hostCalibration(defaults);
  double firstUse = benchsupport::now() - t0;

  fmt::print("training steps (forward + gradient + SGD update, f32); cold = no compile cache "
             "(median of {}; wall time, and the compiling thread's CPU time, which the target "
             "(met) is checked on: the machine's load inflates wall time), cached = from a filled cache (median of {}, wall and CPU); step = medians of "
             "interleaved samples of the three ways' steps; ratio = generic / per-shape\n",
             colds, cacheds);
  fmt::print("{:<20} {:<9} | {:>10} {:>10} {:>10} {:>10} {:>4} | {:>10} {:>10} {:>4} | {:>10} "
             "{:>10}\n",
             "model", "kernels", "optimize", "codegen", "cold", "cold CPU", "met", "cached",
             "cached CPU", "met", "step", "(best)");
  for (Model &m : models) {
    auto sig = runtime::train::inspectModel(m.graph);
    ir::Graph step =
        runtime::train::buildStepGraph(m.graph, sig, {runtime::train::InGraphUpdate::Gradient});
    Measured r[3];
    for (int w = 0; w < 3; ++w)
      r[w] = measure(step, kWays[w], colds, cacheds);
    StepBuffers b0(*r[0].step), b1(*r[1].step), b2(*r[2].step);
    Timed s0{[&] { r[0].step->call(b0.args.data()); }};
    Timed s1{[&] { r[1].step->call(b1.args.data()); }};
    Timed s2{[&] { r[2].step->call(b2.args.data()); }};
    benchsupport::timeInterleaved({&s0, &s1, &s2}, quick ? 0.2 : 0.6, quick ? 7 : 15);
    const Timed *s[3] = {&s0, &s1, &s2};
    for (int w = 0; w < 3; ++w) {
      results.add("compile_cold_cpu", m.name + "/" + kWays[w].name, r[w].coldCpu);
      results.add("compile_cached_cpu", m.name + "/" + kWays[w].name, r[w].cachedCpu);
      fmt::print("{:<20} {:<9} | {:>10} {:>10} {:>10} {:>10} {:>4} | {:>10} {:>10} {:>4} | {:>10} "
                 "{:>10}\n",
                 w ? "" : m.name, kWays[w].name, fmtTime(r[w].optimize), fmtTime(r[w].codegen),
                 fmtTime(r[w].cold), fmtTime(r[w].coldCpu), mark(r[w].coldCpu <= kCold),
                 fmtTime(r[w].cached), fmtTime(r[w].cachedCpu), mark(r[w].cachedCpu <= kCached),
                 fmtTime(s[w]->median()), fmtTime(s[w]->min()));
    }
    fmt::print("{:<20} {:<9} | {:>10} {:>10} {:>9.2f}x {:>9.2f}x {:>4} | {:>9.2f}x {:>9.2f}x {:>4} | "
               "{:>9.2f}x\n",
               "", "ratio", "", "", r[1].cold / r[0].cold, r[1].coldCpu / r[0].coldCpu, "",
               r[1].cached / r[0].cached, r[1].cachedCpu / r[0].cachedCpu, "",
               s1.median() / s0.median());
  }

  // Single products, both ways (every product forced to the micro-kernels).
  fmt::print("\nsingle f32 products C = op(A) op(B) as micro-kernels, fastest of interleaved samples\n");
  fmt::print("{:>5} {:>5} {:>5} {:>3} {:>3} | {:>10} {:>10} {:>7}\n", "m", "n", "k", "A^T", "B^T",
             "per-shape", "generic", "ratio");
  struct Product {
    int64_t m, n, k;
    bool tA, tB;
  };
  // The products of the batch-1 step and of 64-128-10@32 (forward, weight
  // gradient, dZ W^T), and a larger one.
  for (Product p : std::vector<Product>{{1, 32, 64, 0, 0},
                                        {1, 10, 32, 0, 0},
                                        {64, 32, 1, 1, 0},
                                        {32, 10, 1, 1, 0},
                                        {1, 32, 10, 0, 1},
                                        {1, 32, 32, 0, 1},
                                        {32, 128, 64, 0, 0},
                                        {64, 128, 32, 1, 0},
                                        {32, 10, 128, 0, 0},
                                        {128, 10, 32, 1, 0},
                                        {32, 128, 10, 0, 1},
                                        {128, 128, 128, 0, 0}}) {
    ir::Graph g("product");
    ir::Value a = ir::input(g, "a", ir::f32(p.tA ? ir::Shape{p.k, p.m} : ir::Shape{p.m, p.k}));
    ir::Value b = ir::input(g, "b", ir::f32(p.tB ? ir::Shape{p.n, p.k} : ir::Shape{p.k, p.n}));
    ir::output(ir::matmul(p.tA ? ir::transpose(a) : a, p.tB ? ir::transpose(b) : b).named("c"));
    compiler::JitOptions o;
    o.useCache = false;
    o.blasThreshold = std::numeric_limits<int64_t>::max();
    ::setenv("CHAINJIT_MICROKERNELS", "per-shape", 1);
    auto perShape = compiler::compileGraph(g, o);
    ::unsetenv("CHAINJIT_MICROKERNELS");
    auto generic = compiler::compileGraph(g, o);
    std::vector<float> A(size_t(p.m * p.k), 0.5f), B(size_t(p.k * p.n), 0.25f), C(size_t(p.m * p.n));
    void *args[3] = {A.data(), B.data(), C.data()};
    Timed t0{[&] { perShape->call(args); }}, t1{[&] { generic->call(args); }};
    benchsupport::timeInterleaved({&t0, &t1}, quick ? 0.1 : 0.3, 15);
    fmt::print("{:>5} {:>5} {:>5} {:>3} {:>3} | {:>10} {:>10} {:>6.2f}x\n", p.m, p.n, p.k,
               p.tA ? "T" : "", p.tB ? "T" : "", fmtTime(t0.min()), fmtTime(t1.min()),
               t1.min() / t0.min());
  }

  // The one-off costs per machine (and per --no-cache process).
  t0 = benchsupport::now();
  std::string object = compiler::jit::buildMicroKernelObject();
  double build = benchsupport::now() - t0;
  std::string dir = (std::filesystem::temp_directory_path() / "chainjit-cbench-XXXXXX").string();
  if (!mkdtemp(dir.data()))
    throw std::runtime_error("mkdtemp failed");
  const std::string key = compiler::jit::microKernelEntryKey();
  compiler::jit::ObjectCache(dir).store(key, object);
  t0 = benchsupport::now();
  compiler::jit::loadOrBuildMicroKernels(
      dir, key, [](const std::string &) {}, [&] { return object; });
  double loadCached = benchsupport::now() - t0;
  std::filesystem::remove_all(dir);
  t0 = benchsupport::now();
  compiler::jit::measureCalibration(compiler::jit::loadedMicroKernels(defaults));
  double calibrate = benchsupport::now() - t0;
  fmt::print("\nper machine, once: generic kernels compiled in {} ({} KiB of object), read and "
             "checked from the cache in {}; kernel calibration measured in {}; this process's "
             "first use (both, from the default cache or made) {}\n",
             fmtTime(build), object.size() / 1024, fmtTime(loadCached), fmtTime(calibrate),
             fmtTime(firstUse));
  return 0;
}
