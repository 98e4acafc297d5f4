// Does the cost model in time (compiler/TimeModel.h) rank plans as the JIT
// runs them? (issue 14, "A cost model in time"). Chains of tanh(W v) layers
// of mixed widths (f64), none of them a shape the kernel calibration times,
// several of them memory-bound; for each, the Jacobian dy/dx of several
// plans (the multiply-add optimum, the time optimum, pure tangent, pure
// adjoint, preaccumulate-and-multiply), each predicted by the host's time
// model and measured compiled (medians of interleaved samples). Printed:
// predicted against measured per plan, the rank correlation (Spearman and
// Kendall) within each chain and over all plans, and for the full Jacobian
// 2000-20-2000 the bandwidth its final product achieves against the
// machine's measured copy bandwidth.
//
//   ./build/bench/time_model_bench [--quick] [--dump DIR] [--results FILE]
//
// --quick: three chains, shorter timing; --dump DIR: also write each plan's
// Jacobian graph as DIR/<chain>_<plan>.cj (to look at its kernels with
// `chainjit run FILE --backend jit --emit plan`); --results FILE: the final
// product's and the copies' wall times and dgemm's rate, for
// bench/issue14_targets.py.
//
// Timings of a loaded machine are noisy: compare ratios within one run.
#include "../compiler/src/jit/kernels/GemmWay.h"
#include "BenchModels.h"
#include "BenchSupport.h"

#include <cblas.h>

#include <chainjit/chainjit.h>
#include <chainjit/compiler/JacobianByPlan.h>
#include <chainjit/compiler/PlanTime.h>
#include <chainjit/compiler/TimeModel.h>

#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace chainjit;
using benchsupport::buildChain;
using benchsupport::chainName;
using benchsupport::fmtTime;

namespace {

// A compiled graph with random inputs and params and room for its outputs.
struct Compiled {
  std::unique_ptr<compiler::CompiledGraph> cg;
  std::vector<std::vector<double>> buffers;
  std::vector<void *> args;
  explicit Compiled(const ir::Graph &g) {
    compiler::JitOptions o;
    o.useCache = false;
    cg = compiler::compileGraph(g, o);
    std::mt19937 rng(5);
    std::normal_distribution<double> nd(0, 1);
    for (const auto &a : cg->arguments()) {
      std::vector<double> b(size_t(a.type.numel()));
      double scale = a.type.rank() == 2 ? 1.0 / std::sqrt(double(a.type.shape[1])) : 1.0;
      if (a.role != compiler::ArgumentRole::Output)
        for (double &e : b)
          e = scale * nd(rng);
      buffers.push_back(std::move(b));
    }
    for (auto &b : buffers)
      args.push_back(b.data());
  }
  void run() { cg->call(args.data()); }
};

// Ranks (1-based, ties get their average rank).
std::vector<double> ranks(const std::vector<double> &v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]])
      ++j;
    for (size_t k = i; k <= j; ++k)
      r[idx[k]] = 0.5 * double(i + j) + 1;
    i = j + 1;
  }
  return r;
}

double pearson(const std::vector<double> &a, const std::vector<double> &b) {
  double n = double(a.size()), ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i)
    ma += a[i] / n, mb += b[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i)
    sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma),
        sbb += (b[i] - mb) * (b[i] - mb);
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : NAN;
}

double spearman(const std::vector<double> &a, const std::vector<double> &b) {
  return pearson(ranks(a), ranks(b));
}

// Kendall's tau-b.
double kendall(const std::vector<double> &a, const std::vector<double> &b) {
  double concordant = 0, discordant = 0, tiesA = 0, tiesB = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0)
        continue;
      if (da == 0)
        ++tiesA;
      else if (db == 0)
        ++tiesB;
      else if ((da > 0) == (db > 0))
        ++concordant;
      else
        ++discordant;
    }
  double d = std::sqrt((concordant + discordant + tiesA) * (concordant + discordant + tiesB));
  return d > 0 ? (concordant - discordant) / d : NAN;
}

// Wall and process CPU seconds per call of several functions, sampled in
// turn (round robin) until each has `minSamples` samples and `minSeconds`
// have passed, after a warm-up of each (page faults, caches, and each
// product's measured choice past its first samples, which it takes once
// per shape and process: at least 2 calls and 20 ms). Each round runs
// them in an order of its own (shuffled, the same seed every run), so
// that no function always follows the same other. Both matter for the
// final product's table (docs/performance.md): with 2 warm-up calls and a
// fixed order, the measured choice's median included some of its first
// samples (BLAS's ways, 1.5-4x slower; the full Jacobian's last product
// shares its record) and the way right after the full Jacobian (which
// writes 32 MB of its own) measured 5-9% slower than the same way after
// another, whichever way it was. On a shared machine the CPU time of the
// process (all its threads, not the time others ran) is the steadier
// measure of the two.
struct Sampled {
  std::function<void()> fn;
  int inner = 1;
  std::vector<double> wall, cpu;
};
double cpuNow() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
void sampleInTurn(std::vector<Sampled> &fns, double minSeconds, int minSamples) {
  for (Sampled &f : fns) {
    const double warm = benchsupport::now();
    for (int i = 0; i < 2 || benchsupport::now() - warm < 20e-3; ++i)
      f.fn();
    double t0 = cpuNow();
    f.fn();
    f.inner = std::max(1, int(2e-3 / std::max(cpuNow() - t0, 1e-9)));
  }
  double start = benchsupport::now();
  std::vector<size_t> order(fns.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937 shuffler(14);
  for (int round = 0; round < minSamples || benchsupport::now() - start < minSeconds; ++round) {
    std::shuffle(order.begin(), order.end(), shuffler);
    for (size_t which : order) {
      Sampled &f = fns[which];
      double w = benchsupport::now(), c = cpuNow();
      for (int i = 0; i < f.inner; ++i)
        f.fn();
      f.cpu.push_back((cpuNow() - c) / f.inner);
      f.wall.push_back((benchsupport::now() - w) / f.inner);
    }
  }
}

struct PlanRun {
  std::string name, expression;
  double fma = 0, predicted = 0, measured = 0, wall = 0;
};

// The plans compared on each chain: name and planner options (the time
// model is filled in where the plan minimizes time).
std::vector<std::pair<std::string, compiler::PlannerOptions>> planKinds() {
  std::vector<std::pair<std::string, compiler::PlannerOptions>> kinds;
  compiler::PlannerOptions fma, tangent, adjoint, pre;
  tangent.adjointLeaves = tangent.adjointSteps = tangent.multiplySteps = false;
  adjoint.tangentLeaves = adjoint.tangentSteps = adjoint.multiplySteps = false;
  pre.tangentSteps = pre.adjointSteps = false;
  kinds.push_back({"optimum (FMA)", fma});
  kinds.push_back({"optimum (time)", fma}); // timeModel set by the caller
  kinds.push_back({"pure tangent", tangent});
  kinds.push_back({"pure adjoint", adjoint});
  kinds.push_back({"preaccumulate (FMA)", pre});
  kinds.push_back({"preaccumulate (time)", pre}); // timeModel set by the caller
  return kinds;
}

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // One BLAS thread even with CHAINJIT_BLAS_THREADS=openblas: its helper
  // threads would spin on a loaded machine and count as CPU time (the
  // calibration's rates are the machine's either way).
  openblas_set_num_threads(1);
  bool quick = false;
  std::string dumpDir; // --dump DIR: write each plan's Jacobian graph there
  std::string resultsPath;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--dump" && i + 1 < argc) {
      dumpDir = argv[++i];
    } else if (arg == "--results" && i + 1 < argc) {
      resultsPath = argv[++i];
    } else {
      fmt::print(stderr, "usage: {} [--quick] [--dump DIR] [--results FILE]\n", argv[0]);
      return 2;
    }
  }
  fmt::print("chainjit time model: predicted against measured Jacobian plans (f64 tanh(W v) "
             "chains)\n");
  benchsupport::printMachine();
  compiler::JitOptions jo;
  const compiler::TimeModel model = compiler::hostTimeModel(8, jo);
  fmt::print("time model: {}\n", model.description);
  fmt::print("predicted: the plan's steps plus the forward pass (one direction through every "
             "factor); measured: medians of interleaved samples, CPU time of the process (ranked) "
             "and wall time\n");

  // Widths not among the calibration's shapes; the first two and the
  // 1500-30-... chain end in memory-bound products.
  std::vector<std::vector<int64_t>> chains = {
      {2000, 20, 2000}, {1000, 10, 10, 1000}, {1500, 30, 300, 1500}, {300, 600, 50, 800},
      {64, 512, 512, 64}, {200, 200, 200, 200, 200}, {10, 1000, 10}, {800, 100, 800, 100},
      {40, 3000, 40}, {500, 5, 500, 5, 500}};
  if (quick)
    chains.resize(3);

  std::vector<double> allPredicted, allMeasured;
  std::vector<double> spearmans, kendalls;
  int agreeBest = 0;
  for (const auto &widths : chains) {
    ir::Graph g = buildChain(widths);
    compiler::GraphChain gc = compiler::extractChain(g, "y", {"x"});
    double forward = 0;
    for (const auto &f : gc.chain.factors)
      forward += model.sweep(f, 1, true).seconds;

    std::vector<PlanRun> runs;
    std::vector<std::unique_ptr<Compiled>> compiled;
    std::map<std::string, size_t> seen; // expression -> run
    for (auto [name, opts] : planKinds()) {
      if (name.find("(time)") != std::string::npos)
        opts.timeModel = &model;
      compiler::BracketingPlan plan = compiler::planChain(gc.chain, opts);
      std::string expr = plan.expression(gc.chain);
      if (auto it = seen.find(expr); it != seen.end()) {
        runs[it->second].name += ", " + name;
        continue;
      }
      seen[expr] = runs.size();
      compiler::StepCost total = compiler::planTotalCost(gc.chain, plan, model);
      runs.push_back({name, expr, total.fma, total.seconds + forward, 0});
      ir::Graph jg = compiler::plannedJacobian(g, "y", "x", opts);
      if (!dumpDir.empty()) // for `chainjit run FILE --backend jit --emit plan`
        std::ofstream(fmt::format("{}/{}_{}.cj", dumpDir, chainName(widths), runs.size() - 1))
            << ir::printGraph(jg);
      compiled.push_back(std::make_unique<Compiled>(jg));
    }
    std::vector<Sampled> timed;
    for (auto &c : compiled)
      timed.push_back(Sampled{[&c] { c->run(); }});
    sampleInTurn(timed, quick ? 0.5 : 2.0, 9);

    fmt::print("\n{} ({} factors)\n", chainName(widths), gc.chain.size());
    fmt::print("  {:<44} {:>12} {:>11} {:>11} {:>7} {:>11}  {}\n", "plan", "FMA", "predicted",
               "cpu", "cpu / p", "wall", "expression");
    std::vector<double> p, m;
    for (size_t i = 0; i < runs.size(); ++i) {
      runs[i].measured = benchsupport::median(timed[i].cpu);
      runs[i].wall = benchsupport::median(timed[i].wall);
      p.push_back(runs[i].predicted);
      m.push_back(runs[i].measured);
      fmt::print("  {:<44} {:>12.0f} {:>11} {:>11} {:>7.2f} {:>11}  {}\n", runs[i].name,
                 runs[i].fma, fmtTime(runs[i].predicted), fmtTime(runs[i].measured),
                 runs[i].measured / runs[i].predicted, fmtTime(runs[i].wall), runs[i].expression);
    }
    allPredicted.insert(allPredicted.end(), p.begin(), p.end());
    allMeasured.insert(allMeasured.end(), m.begin(), m.end());
    size_t bestP = size_t(std::min_element(p.begin(), p.end()) - p.begin());
    size_t bestM = size_t(std::min_element(m.begin(), m.end()) - m.begin());
    agreeBest += bestP == bestM;
    if (runs.size() >= 3) {
      spearmans.push_back(spearman(p, m));
      kendalls.push_back(kendall(p, m));
      fmt::print("  rank correlation: Spearman {:.2f}, Kendall {:.2f}; fastest predicted: {}; "
                 "fastest measured: {}\n",
                 spearmans.back(), kendalls.back(), runs[bestP].name, runs[bestM].name);
    } else {
      fmt::print("  fastest predicted: {}; fastest measured: {}\n", runs[bestP].name,
                 runs[bestM].name);
    }
  }
  auto mean = [](const std::vector<double> &v) {
    double s = 0;
    for (double x : v)
      s += x;
    return v.empty() ? NAN : s / double(v.size());
  };
  fmt::print("\nall {} plans of {} chains: Spearman {:.3f}, Kendall {:.3f}; within chains "
             "(mean): Spearman {:.3f}, Kendall {:.3f}; fastest plan predicted in {} of {}\n",
             allPredicted.size(), chains.size(), spearman(allPredicted, allMeasured),
             kendall(allPredicted, allMeasured), mean(spearmans), mean(kendalls), agreeBest,
             chains.size());

  // The full Jacobian 2000-20-2000: its final product (2000 x 20 times
  // 20 x 2000, f64) alone, compiled as the JIT runs it, against the copy
  // bandwidth.
  {
    ir::Graph g("final_product");
    ir::Value a = ir::input(g, "a", ir::f64({2000, 20}));
    ir::Value b = ir::input(g, "b", ir::f64({20, 2000}));
    ir::output(ir::matmul(a, b).named("c"));
    Compiled product(g);
    ir::Graph full = buildChain({2000, 20, 2000});
    compiler::GraphChain gc = compiler::extractChain(full, "y", {"x"});
    compiler::PlannerOptions opts;
    opts.timeModel = &model;
    Compiled jac(compiler::plannedJacobian(full, "y", "x", opts));
    // The product four ways (the measured choice, and each kernel forced
    // as $CHAINJIT_GEMM_KERNEL would, GemmWay.h: BLAS, the rank-k kernel
    // with plain stores and with streaming ones), and copies of as many
    // bytes (half read, half written) on one thread and split in two, all
    // timed in turn. Wall time: the product runs on both CPUs when that pays
    // (ParallelItems.h), so its CPU time counts them twice.
    const double bytes = 8.0 * (2000 * 20 + 20 * 2000 + 2000 * 2000);
    std::vector<char> from(size_t(bytes / 2), 1), to(size_t(bytes / 2), 2);
    auto forced = [&](const char *kernel) {
      return [&product, kernel] {
        compiler::jit::kernels::setGemmWay(kernel ? kernel : "measure");
        product.run();
        compiler::jit::kernels::setGemmWay("measure");
      };
    };
    const size_t half = to.size() / 2;
    std::vector<Sampled> timed = {
        Sampled{[&] { jac.run(); }},
        Sampled{forced(nullptr)},
        Sampled{forced("blas")},
        Sampled{forced("rank-k")},
        Sampled{forced("rank-k-stream")},
        Sampled{[&] { std::memcpy(to.data(), from.data(), to.size()); }},
        Sampled{[&] { // a thread started per copy (tens of µs) counts against it
          std::thread other(
              [&] { std::memcpy(to.data() + half, from.data() + half, to.size() - half); });
          std::memcpy(to.data(), from.data(), half);
          other.join();
        }}};
    sampleInTurn(timed, quick ? 0.5 : 2.0, 9);
    auto wall = [&](size_t i) { return benchsupport::median(timed[i].wall); };
    auto cpu = [&](size_t i) { return benchsupport::median(timed[i].cpu); };
    const double copy1 = bytes / wall(5), copy2 = bytes / wall(6);
    compiler::StepCost predicted =
        model.product(2000, 20, 2000, compiler::JacobianStructure::Dense,
                      compiler::JacobianStructure::Dense);
    const double fma = 2000.0 * 20 * 2000;
    // The machine's f64 rate now: dgemm 1024^3 on OpenBLAS's own threads,
    // the best of 5 (the time model's cached rate may come from a loaded
    // hour).
    double fmaPerSecond = 0;
    {
      const int n = 1024;
      std::vector<double> x(size_t(n) * n, 0.5), y(size_t(n) * n, 0.25), z(size_t(n) * n);
      benchsupport::withOpenBlasThreads([&] {
        for (int i = 0; i < 5; ++i) {
          const double t0 = benchsupport::now();
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, x.data(), n,
                      y.data(), n, 0.0, z.data(), n);
          fmaPerSecond = std::max(fmaPerSecond, double(n) * n * n / (benchsupport::now() - t0));
        }
      });
    }
    const int cpus = int(std::thread::hardware_concurrency());
    fmt::print("\nfull Jacobian 2000-20-2000 (time-optimal plan {}): {} wall, {} cpu\n",
               compiler::planChain(gc.chain, opts).expression(gc.chain), fmtTime(wall(0)),
               fmtTime(cpu(0)));
    fmt::print("  its final product 2000x20 * 20x2000 (f64; {:.1f} MB read + written), predicted "
               "{}; wall time, medians of interleaved samples:\n",
               bytes * 1e-6, fmtTime(predicted.seconds));
    fmt::print("  {:<34} {:>11} {:>11} {:>9} {:>14} {:>15}\n", "way", "wall", "cpu", "GB/s",
               "/ copy 1 CPU", "/ copy 2 CPUs");
    const char *names[] = {"measured choice (the default)", "BLAS (CHAINJIT_GEMM_KERNEL=blas)",
                           "rank-k kernel (=rank-k)", "streaming stores (=rank-k-stream)"};
    for (size_t i = 1; i <= 4; ++i)
      fmt::print("  {:<34} {:>11} {:>11} {:>9.2f} {:>13.0f}% {:>14.0f}%\n", names[i - 1],
                 fmtTime(wall(i)), fmtTime(cpu(i)), bytes / wall(i) * 1e-9,
                 100 * bytes / wall(i) / copy1, 100 * bytes / wall(i) / copy2);
    fmt::print("  {:<34} {:>11} {:>11} {:>9.2f}\n", "copy of as many bytes, 1 CPU",
               fmtTime(wall(5)), fmtTime(cpu(5)), copy1 * 1e-9);
    fmt::print("  {:<34} {:>11} {:>11} {:>9.2f}\n", "copy split over 2 CPUs", fmtTime(wall(6)),
               fmtTime(cpu(6)), copy2 * 1e-9);
    fmt::print("  limits: {:.0f} M multiply-adds at dgemm 1024^3's rate now ({:.1f} GFMA/s on "
               "{} CPUs, OpenBLAS's threads) take {}; the copies' bytes at 70%: {} (1 CPU), {} (2 "
               "CPUs) (issue target: the product at >= 70% of the copy bandwidth)\n",
               fma * 1e-6, fmaPerSecond * 1e-9, cpus, fmtTime(fma / fmaPerSecond),
               fmtTime(wall(5) / 0.7), fmtTime(wall(6) / 0.7));
    benchsupport::ResultsFile results(resultsPath);
    const char *keys[] = {"measured", "blas", "rank-k", "rank-k-stream", "copy-1cpu", "copy-2cpus"};
    for (size_t i = 1; i <= 6; ++i)
      results.add("last_product", keys[i - 1], wall(i));
    results.add("last_product", "fma-at-dgemm-rate", fma / fmaPerSecond);
  }
  return 0;
}
