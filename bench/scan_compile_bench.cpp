// Compile time and code size of a recurrence against its length (issue 10,
// "Recurrences"): an LSTM cell (hidden 128, input 28, f32, batch 1) over T
// steps, once as a scan (the JIT emits one loop around the body's own
// function, so the code does not grow with T) and once unrolled (a C++ loop
// over the steps with the builder: T copies of the cell in the graph). For
// each: graph nodes, the JIT's phases (lower = plan + LLVM IR, optimize,
// codegen; no compile cache), the object's size (EmitKind::Obj) and the run
// time per step: the calling thread's CPU time per call (median of calls
// over at least 0.3 s) / T, which a loaded machine does not inflate as it
// does a long call's wall time (run with OPENBLAS_NUM_THREADS=1 so that all
// the work is on that thread). The two forms must agree (exit status 1
// otherwise).
//
//   ./build/bench/scan_compile_bench [--quick] [--scan-only]
//
// --quick: the scan at T = 10 and 100 only; --scan-only: no unrolled forms
// (the unrolled T = 100 takes about a minute to compile).
#include "BenchSupport.h"

#include <chainjit/chainjit.h>

#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace chainjit;
using benchsupport::fmtTime;

namespace {

constexpr int64_t kHidden = 128, kInput = 28;

struct Cell {
  ir::Value h, c;
};

// One LSTM step: gates z = x W + h U + b (i, f, g, o), c' = σ(f) c + σ(i)
// tanh(g), h' = σ(o) tanh(c').
Cell lstmStep(ir::Value h, ir::Value c, ir::Value x, ir::Value W, ir::Value U, ir::Value b) {
  ir::Value z = ir::matmul(x, W) + ir::matmul(h, U) + b;
  auto gate = [&](int64_t k) { return ir::slice(z, {0, k * kHidden}, {1, (k + 1) * kHidden}); };
  ir::Value cn = ir::sigmoid(gate(1)) * c + ir::sigmoid(gate(0)) * ir::tanh(gate(2));
  ir::Value hn = ir::sigmoid(gate(3)) * ir::tanh(cn);
  return {hn, cn};
}

struct Sources {
  ir::Value h0, c0, xs, W, U, b;
};

Sources sources(ir::Graph &g, int64_t T) {
  return {ir::input(g, "h0", ir::f32({1, kHidden})),
          ir::input(g, "c0", ir::f32({1, kHidden})),
          ir::input(g, "xs", ir::f32({T, 1, kInput})),
          ir::param(g, "W", ir::f32({kInput, 4 * kHidden})),
          ir::param(g, "U", ir::f32({kHidden, 4 * kHidden})),
          ir::param(g, "b", ir::f32({4 * kHidden}))};
}

// Outputs of both forms: the final h and the stacked hs [T, 1, hidden].
ir::Graph scanForm(int64_t T) {
  ir::Graph body("lstm");
  ir::Value h = ir::input(body, "h", ir::f32({1, kHidden}));
  ir::Value c = ir::input(body, "c", ir::f32({1, kHidden}));
  ir::Value x = ir::input(body, "x", ir::f32({1, kInput}));
  ir::Value W = ir::input(body, "W", ir::f32({kInput, 4 * kHidden}));
  ir::Value U = ir::input(body, "U", ir::f32({kHidden, 4 * kHidden}));
  ir::Value b = ir::input(body, "b", ir::f32({4 * kHidden}));
  Cell next = lstmStep(h, c, x, W, U, b);
  ir::output(next.h);
  ir::output(next.c);
  ir::output(next.h * 1.0);
  ir::Function cell("lstm", std::move(body));

  ir::Graph g("lstm_scan");
  Sources s = sources(g, T);
  std::vector<ir::Value> r = ir::scan(cell, {s.h0, s.c0}, {s.xs}, {s.W, s.U, s.b});
  ir::output(r[0].named("hT"));
  ir::output(r[2].named("hs"));
  return g;
}

ir::Graph unrolledForm(int64_t T) {
  ir::Graph g("lstm_unrolled");
  Sources s = sources(g, T);
  Cell state{s.h0, s.c0};
  std::vector<ir::Value> hs;
  for (int64_t t = 0; t < T; ++t) {
    ir::Value x = ir::reshape(ir::slice(s.xs, {t, 0, 0}, {t + 1, 1, kInput}), {1, kInput});
    state = lstmStep(state.h, state.c, x, s.W, s.U, s.b);
    hs.push_back(ir::reshape(state.h, {1, 1, kHidden}));
  }
  ir::output(state.h.named("hT"));
  ir::output(ir::concat(hs, 0).named("hs"));
  return g;
}

std::vector<float> randomValues(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float &x : v)
    x = nd(rng);
  return v;
}

struct Row {
  std::string form;
  int64_t T = 0;
  size_t nodes = 0;
  compiler::CompileTimes times;
  size_t objectBytes = 0;
  double perStep = 0;
  std::vector<float> hs; // the stacked hs of one call
};

Row measure(const std::string &form, const ir::Graph &g, int64_t T) {
  Row r{form, T, g.size()};
  compiler::JitOptions o;
  o.useCache = false;
  r.objectBytes = compiler::emitGraph(g, compiler::EmitKind::Obj, o).size();
  // The fastest of three compilations (one when a compilation takes
  // seconds): the machine is shared, and the minimum is the least disturbed.
  auto total = [](const compiler::CompileTimes &t) { return t.lower + t.optimize + t.codegen; };
  std::unique_ptr<compiler::CompiledGraph> cg = compiler::compileGraph(g, o);
  r.times = cg->times();
  for (int rep = 1; rep < 3 && total(r.times) < 1.0; ++rep) {
    cg = compiler::compileGraph(g, o);
    if (total(cg->times()) < total(r.times))
      r.times = cg->times();
  }
  std::map<std::string, std::vector<float>> data{
      {"h0", randomValues(kHidden, 0.5f, 1)},
      {"c0", randomValues(kHidden, 0.5f, 2)},
      {"xs", randomValues(T * kInput, 1.0f, 3)},
      {"W", randomValues(kInput * 4 * kHidden, 1.0f / std::sqrt(float(kInput)), 4)},
      {"U", randomValues(kHidden * 4 * kHidden, 1.0f / std::sqrt(float(kHidden)), 5)},
      {"b", randomValues(4 * kHidden, 0.1f, 6)}};
  std::vector<void *> args;
  for (const compiler::ArgumentSpec &a : cg->arguments()) {
    std::vector<float> &buf = data[a.name];
    if (a.role == compiler::ArgumentRole::Output)
      buf.assign(static_cast<size_t>(a.type.numel()), 0.0f);
    args.push_back(buf.data());
  }
  auto cpuNow = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  cg->call(args.data()); // warm-up
  std::vector<double> samples;
  for (double start = benchsupport::now(); samples.size() < 9 || benchsupport::now() - start < 0.3;) {
    double t0 = cpuNow();
    cg->call(args.data());
    samples.push_back(cpuNow() - t0);
  }
  r.perStep = benchsupport::median(samples) / double(T);
  r.hs = data["hs"];
  return r;
}

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  bool quick = false, scanOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--scan-only") {
      scanOnly = true;
    } else {
      fmt::print(stderr, "usage: {} [--quick] [--scan-only]\n", argv[0]);
      return 2;
    }
  }
  std::string load;
  if (std::FILE *f = std::fopen("/proc/loadavg", "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f))
      load = std::string(buf).substr(0, std::string(buf).find(' '));
    std::fclose(f);
  }
  fmt::print("chainjit LSTM over T steps (hidden {}, input {}, f32, batch 1): scan vs unrolled; "
             "JIT phases without the compile cache (fastest of 3 where under 1 s); load {}\n\n",
             kHidden, kInput, load);
  fmt::print("{:<8} | {:>5} | {:>6} | {:>10} {:>10} {:>10} {:>10} | {:>10} | {:>10}\n", "form",
             "T", "nodes", "lower", "optimize", "codegen", "compile", "object", "run/step");
  const std::vector<int64_t> scanLengths =
      quick ? std::vector<int64_t>{10, 100} : std::vector<int64_t>{10, 100, 1000};
  const std::vector<int64_t> unrolledLengths =
      scanOnly ? std::vector<int64_t>{} : std::vector<int64_t>{10, 100};
  int status = 0;
  auto print = [](const Row &r) {
    double compile = r.times.lower + r.times.optimize + r.times.codegen;
    fmt::print("{:<8} | {:>5} | {:>6} | {:>10} {:>10} {:>10} {:>10} | {:>7.1f} KiB | {:>10}\n",
               r.form, r.T, r.nodes, fmtTime(r.times.lower), fmtTime(r.times.optimize),
               fmtTime(r.times.codegen), fmtTime(compile), double(r.objectBytes) / 1024.0,
               fmtTime(r.perStep));
    std::fflush(stdout);
  };
  std::map<int64_t, std::vector<float>> scanHs;
  for (int64_t T : scanLengths) {
    Row r = measure("scan", scanForm(T), T);
    print(r);
    scanHs[T] = r.hs;
  }
  for (int64_t T : unrolledLengths) {
    Row r = measure("unrolled", unrolledForm(T), T);
    print(r);
    // Same recurrence, same values: the two forms must agree.
    const std::vector<float> &want = scanHs.at(T);
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, double(std::fabs(r.hs[i] - want[i])));
    if (worst > 1e-4) {
      fmt::print("ERROR: unrolled and scan differ by {} at T = {}\n", worst, T);
      status = 1;
    }
  }
  fmt::print("\nlower: plan + LLVM IR; compile: lower + optimize + codegen; object: the "
             "EmitKind::Obj bytes; run/step: the calling thread's CPU time per call (median) / "
             "T\n");
  return status;
}
