// One GCN-like layer H = spmm(A, X·W) on a random graph (issue 10, "Sparse"):
// 100,000 nodes, 1,000,000 edges (A in CSR form, values 1/deg), X [nodes, N],
// W [N, N], f32, N = 16..64 features. For each N, the compiled layer (JIT),
// its two products alone (spmm on X, the X·W matmul) and its gradient
// (loss = sum(H·H) with respect to W and A's values: a transposed spmm and
// an sddmm) are timed (medians of interleaved samples) and printed beside
// their limit on this machine: the bytes the layer must move at least,
// divided by the memory bandwidth measured here (a threaded memcpy). The
// interpreter (the double-precision oracle) runs each layer once where a
// call takes under a few seconds, and must agree with the JIT.
//
// Memory: a second table runs the layer at N = 32 with 0.25M..4M edges and
// reports the process's peak resident memory during one call (Linux
// VmHWM, reset per size through /proc/self/clear_refs) beside the edges'
// bytes: it grows by a fixed number of bytes per edge, never by the nodes²
// of a dense adjacency (printed for comparison, never allocated: 40 GB at
// 100,000 nodes in f32). The same for one call of the gradient graph
// (forward and backward of sum(H·H) for W and A's values): its arena (the
// JIT's one buffer of intermediate values, X·W and H among them), its
// arguments (the data and the gradients) and its measured peak.
//
//   ./build/bench/sparse_layer_bench [--results FILE] [--quick]
//
// Exit status 1 if the JIT disagrees with the interpreter.
#include "BenchSupport.h"

#include <chainjit/chainjit.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace chainjit;
using benchsupport::fmtTime;
using benchsupport::Timed;

namespace {

constexpr int64_t kNodes = 100'000, kEdges = 1'000'000;

// A random directed graph with exactly `edges` edges in CSR form, made
// without an edge list (so the generator's own peak is the CSR's size):
// each edge's row is uniform, then each row's columns are uniform.
struct CsrGraph {
  int64_t nodes = 0;
  std::vector<int32_t> rowPtr, colIdx;
  std::vector<float> values; // 1 / out-degree of the row: a mean over neighbours
};
CsrGraph randomCsr(int64_t nodes, int64_t edges, uint64_t seed) {
  std::mt19937_64 rng(seed);
  CsrGraph c;
  c.nodes = nodes;
  c.rowPtr.assign(size_t(nodes + 1), 0);
  for (int64_t e = 0; e < edges; ++e)
    ++c.rowPtr[size_t(rng() % uint64_t(nodes)) + 1];
  for (int64_t i = 0; i < nodes; ++i)
    c.rowPtr[size_t(i + 1)] += c.rowPtr[size_t(i)];
  c.colIdx.resize(size_t(edges));
  c.values.resize(size_t(edges));
  for (int64_t i = 0; i < nodes; ++i) {
    int32_t b = c.rowPtr[size_t(i)], e = c.rowPtr[size_t(i + 1)];
    for (int32_t k = b; k < e; ++k) {
      c.colIdx[size_t(k)] = int32_t(rng() % uint64_t(nodes));
      c.values[size_t(k)] = 1.0f / float(e - b);
    }
  }
  return c;
}

// H = spmm(A, X·W); loss = sum(H·H) for the gradient.
ir::Graph layerGraph(int64_t nodes, int64_t edges, int64_t n) {
  ir::Graph g("gcn_layer");
  ir::Value rowPtr = ir::input(g, "row_ptr", ir::i32({nodes + 1}));
  ir::Value colIdx = ir::input(g, "col_idx", ir::i32({edges}));
  ir::Value values = ir::input(g, "values", ir::f32({edges}));
  ir::Value X = ir::input(g, "X", ir::f32({nodes, n}));
  ir::Value W = ir::param(g, "W", ir::f32({n, n}));
  ir::Value H = ir::spmm({rowPtr, colIdx, values, nodes}, ir::matmul(X, W)).named("H");
  ir::output(H);
  ir::output(ir::sum(H * H).named("loss"));
  return g;
}

// The layer's two products alone: the sparse one (on X, shaped as X·W) and
// the dense one, to show where the layer's time goes.
ir::Graph partGraph(int64_t nodes, int64_t edges, int64_t n, bool sparse) {
  ir::Graph g(sparse ? "spmm_alone" : "xw_alone");
  ir::Value X = ir::input(g, "X", ir::f32({nodes, n}));
  if (sparse) {
    ir::Value rowPtr = ir::input(g, "row_ptr", ir::i32({nodes + 1}));
    ir::Value colIdx = ir::input(g, "col_idx", ir::i32({edges}));
    ir::Value values = ir::input(g, "values", ir::f32({edges}));
    ir::output(ir::spmm({rowPtr, colIdx, values, nodes}, X).named("H"));
  } else {
    ir::output(ir::matmul(X, ir::param(g, "W", ir::f32({n, n}))).named("XW"));
  }
  return g;
}

// The data of one problem, and a compiled graph's argument buffers bound
// to it by name (outputs get their own buffers).
struct Problem {
  CsrGraph a;
  int64_t n;
  std::vector<float> X, W;
  Problem(int64_t nodes, int64_t edges, int64_t n_) : a(randomCsr(nodes, edges, 7)), n(n_) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0, 1);
    X.resize(size_t(nodes * n));
    for (float &x : X)
      x = nd(rng);
    W.resize(size_t(n * n));
    for (float &w : W)
      w = nd(rng) / std::sqrt(float(n));
  }
  void *buffer(const std::string &name) {
    if (name == "row_ptr")
      return a.rowPtr.data();
    if (name == "col_idx")
      return a.colIdx.data();
    if (name == "values")
      return a.values.data();
    if (name == "X")
      return X.data();
    if (name == "W")
      return W.data();
    return nullptr;
  }
  runtime::Bindings bindings() const {
    auto t = [](ir::TensorType type, const void *data) {
      ir::Tensor r(type);
      std::memcpy(r.data(), data, r.byteSize());
      return r;
    };
    int64_t nodes = a.nodes, edges = int64_t(a.colIdx.size());
    return {{"row_ptr", t(ir::i32({nodes + 1}), a.rowPtr.data())},
            {"col_idx", t(ir::i32({edges}), a.colIdx.data())},
            {"values", t(ir::f32({edges}), a.values.data())},
            {"X", t(ir::f32({nodes, n}), X.data())},
            {"W", t(ir::f32({n, n}), W.data())}};
  }
};

struct Compiled {
  std::unique_ptr<compiler::CompiledGraph> cg;
  std::map<std::string, std::vector<float>> outputs;
  std::vector<void *> args;
  explicit Compiled(const ir::Graph &g) {
    compiler::JitOptions o;
    o.useCache = false;
    cg = compiler::compileGraph(g, o);
  }
  Compiled(const ir::Graph &g, Problem &p) : Compiled(g) { bind(p); }
  // Inputs and params from p, fresh buffers for the outputs.
  void bind(Problem &p) {
    args.clear();
    for (const auto &a : cg->arguments()) {
      if (a.role == compiler::ArgumentRole::Output) {
        auto &buf = outputs[a.name];
        buf.resize(size_t(a.type.numel()));
        args.push_back(buf.data());
      } else {
        args.push_back(p.buffer(a.name));
      }
    }
  }
  void run() { cg->call(args.data()); }
  const std::vector<float> &output(const std::string &name) const { return outputs.at(name); }
};

// Read + write bandwidth of a memcpy of 256 MiB split over the threads the
// sparse kernels use (bytes counted twice: read and written), in bytes/s.
double measuredBandwidth() {
  const size_t bytes = size_t(256) << 20;
  std::vector<char> from(bytes, 1), to(bytes, 0);
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  Timed copy{[&] {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        size_t b = bytes * t / threads, e = bytes * (t + 1) / threads;
        std::memcpy(to.data() + b, from.data() + b, e - b);
      });
    for (auto &th : pool)
      th.join();
  }};
  benchsupport::timeInterleaved({&copy}, 0.5, 7);
  return 2.0 * double(bytes) / copy.min();
}

// Resident memory of this process, current and peak (VmRSS, VmHWM), bytes.
int64_t procStatus(const char *key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0)
      return std::stoll(line.substr(std::strlen(key))) * 1024;
  return -1;
}
// Resets VmHWM to the current RSS (Linux >= 4.0); false where unsupported.
bool resetPeak() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  return bool(f);
}

std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1 << 20)); }

double maxRelativeError(const std::vector<float> &got, const std::vector<double> &want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / std::max(1.0, std::fabs(want[i])));
  return worst;
}

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  std::string resultsPath;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results" && i + 1 < argc) {
      resultsPath = argv[++i];
    } else if (a == "--quick") {
      quick = true;
    } else {
      fmt::print(stderr, "usage: {} [--results FILE] [--quick]\n", argv[0]);
      return 2;
    }
  }
  // Large buffers straight from mmap and back to the system when freed (no
  // growing threshold, no heap reuse), so that each size's peak in the
  // memory table is its own.
  mallopt(M_MMAP_THRESHOLD, 64 << 10);
  benchsupport::ResultsFile results(resultsPath);
  const double bandwidth = measuredBandwidth();
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  fmt::print("chainjit sparse layer H = spmm(A, X·W), f32, random graph of {} nodes and {} edges "
             "(CSR); {} threads\n",
             kNodes, kEdges, hw);
  benchsupport::printMachine();
  fmt::print("memcpy bandwidth measured now: {:.1f} GB/s (read + write); limit = bytes / "
             "bandwidth. The dense {}x{} adjacency would be {:.1f} GB (not allocated)\n",
             bandwidth / 1e9, kNodes, kNodes, double(kNodes) * double(kNodes) * 4 / 1e9);
  fmt::print("bytes: the least the layer moves (CSR + X + X·W written and read + H); "
             "gather: + every edge's row of X·W from memory (no cache hits)\n\n");
  fmt::print("{:>3} | {:>10} {:>10} {:>10} {:>5} | {:>10} {:>10} {:>10} {:>5} | {:>10} | {:>10} "
             "{:>10} | {:>10} {:>8} | {:>8}\n",
             "N", "JIT layer", "limit", "gather lim", "x lim", "spmm", "limit", "gather lim",
             "x gat", "X·W", "JIT grad", "interp", "bytes", "FMA", "jit-int");
  int status = 0;
  const std::vector<int64_t> widths = quick ? std::vector<int64_t>{16} : std::vector<int64_t>{16, 32, 64};
  double interpSeconds = 0;
  for (int64_t n : widths) {
    Problem p(kNodes, kEdges, n);
    ir::Graph g = layerGraph(kNodes, kEdges, n);
    ir::Graph gg = compiler::grad(g, "loss", {"W", "values"});
    Compiled layer(g, p), grad(gg, p);
    Compiled sparse(partGraph(kNodes, kEdges, n, true), p), xw(partGraph(kNodes, kEdges, n, false), p);
    Timed tLayer{[&] { layer.run(); }}, tGrad{[&] { grad.run(); }};
    Timed tSparse{[&] { sparse.run(); }}, tXW{[&] { xw.run(); }};
    benchsupport::timeInterleaved({&tLayer, &tGrad, &tSparse, &tXW}, quick ? 0.2 : 1.0,
                                  quick ? 3 : 9);
    const double csr = 4.0 * double(kNodes + 1) + 8.0 * double(kEdges);
    const double dense = 4.0 * double(kNodes * n);
    const double bytes = csr + dense /*X*/ + 2 * dense /*X·W out, in*/ + dense /*H*/;
    const double gatherBytes = bytes + 4.0 * double(kEdges * n) - dense;
    const double spmmBytes = csr + 2 * dense; // X·W read once, H written
    const double spmmGather = csr + 4.0 * double(kEdges * n) + dense;
    const double fma = double(kNodes) * double(n * n) + double(kEdges) * double(n);
    // The interpreter, once, while a call stays under a few seconds.
    std::string interp = "skipped", agree = "-";
    if (interpSeconds < 4.0) {
      double t0 = benchsupport::now();
      runtime::EvalResult want = runtime::interpret(g, p.bindings());
      interpSeconds = benchsupport::now() - t0;
      interp = fmtTime(interpSeconds);
      double err = maxRelativeError(layer.output("H"), want.outputs[0].toDoubles());
      agree = fmt::format("{:.1e}", err);
      if (err > 1e-4) {
        fmt::print("ERROR: the JIT's H differs from the interpreter's by {}\n", err);
        status = 1;
      }
      results.add("interp_layer", std::to_string(n), interpSeconds);
    }
    fmt::print("{:>3} | {:>10} {:>10} {:>10} {:>5.1f} | {:>10} {:>10} {:>10} {:>5.1f} | {:>10} | "
               "{:>10} {:>10} | {:>10} {:>8.2e} | {:>8}\n",
               n, fmtTime(tLayer.median()), fmtTime(bytes / bandwidth),
               fmtTime(gatherBytes / bandwidth), tLayer.median() / (bytes / bandwidth),
               fmtTime(tSparse.median()), fmtTime(spmmBytes / bandwidth),
               fmtTime(spmmGather / bandwidth), tSparse.median() / (spmmGather / bandwidth),
               fmtTime(tXW.median()), fmtTime(tGrad.median()), interp, mib(bytes), fma, agree);
    results.add("jit_spmm", std::to_string(n), tSparse.median());
    results.add("jit_xw", std::to_string(n), tXW.median());
    results.add("jit_layer", std::to_string(n), tLayer.median());
    results.add("jit_grad", std::to_string(n), tGrad.median());
  }
  fmt::print("x lim: JIT layer time / limit. spmm: the sparse product alone (on X, as if it "
             "were X·W), x gat: its time / its gather limit. X·W: the dense product alone. "
             "interp: one call of the double-precision interpreter (skipped once a call took "
             "4 s or more)\n");

  // Memory against the edge count: compiled first (the compiler's own
  // memory does not depend on the edges and is not the layer's), then the
  // peak is reset and the data made and the layer called.
  fmt::print("\npeak resident memory of one layer call and its data, N = 32, {} nodes "
             "(VmHWM above the RSS before the data was made; compiled beforehand)\n",
             kNodes);
  fmt::print("{:>9} | {:>11} {:>11} {:>11} | {:>11} {:>14} | {:>11} {:>11} {:>11} | {:>13}\n",
             "edges", "CSR", "arena", "args", "peak", "peak / edge", "grad arena", "grad args",
             "grad peak", "dense adj.");
  const std::vector<int64_t> edgeCounts =
      quick ? std::vector<int64_t>{250'000, 1'000'000}
            : std::vector<int64_t>{250'000, 500'000, 1'000'000, 2'000'000, 4'000'000};
  {
    // One call first: OpenBLAS's GEMM buffers and the kernel threads' stacks
    // are touched by the first product of a size and stay with the process.
    Problem p(kNodes, edgeCounts[0], 32);
    Compiled(layerGraph(kNodes, edgeCounts[0], 32), p).run();
  }
  double previousPeak = 0, previousEdges = 0;
  std::string slopes;
  for (int64_t edges : edgeCounts) {
    ir::Graph g = layerGraph(kNodes, edges, 32);
    Compiled layer(g), grad(compiler::grad(g, "loss", {"W", "values"}));
    // The peak of one call with its data made just before: the forward
    // layer, then (the data made again) forward and backward.
    auto peakOfCall = [&](Compiled &c, bool &reset) {
      malloc_trim(0); // free memory the allocator kept goes back: not counted, nor reused
      reset = resetPeak();
      const int64_t before = procStatus("VmRSS:");
      Problem p(kNodes, edges, 32);
      c.bind(p);
      c.run();
      double peak = double(procStatus("VmHWM:") - before);
      c.outputs.clear();
      return peak;
    };
    bool reset = false, gradReset = false;
    const double peak = peakOfCall(layer, reset);
    const double gradPeak = peakOfCall(grad, gradReset);
    const double arena = double(layer.cg->arenaBytes());
    const double gradArena = double(grad.cg->arenaBytes());
    const double csrBytes = 4.0 * double(kNodes + 1) + 8.0 * double(edges);
    // Every argument buffer of a call: the data (CSR, X, W) and the outputs
    // (the layer's H and loss; the gradient graph's too, with the gradients
    // for W and every edge's value).
    auto argumentBytes = [](const Compiled &c) {
      double b = 0;
      for (const auto &a : c.cg->arguments())
        b += double(a.type.numel()) * double(ir::dtypeSize(a.type.dtype));
      return b;
    };
    const double args = argumentBytes(layer), gradArgs = argumentBytes(grad);
    auto shown = [&](bool ok, double v) { return ok ? mib(v) : std::string("n/a"); };
    fmt::print("{:>9} | {:>11} {:>11} {:>11} | {:>11} {:>14} | {:>11} {:>11} {:>11} | {:>10.1f} "
               "GB\n",
               edges, mib(csrBytes), mib(arena), mib(args), shown(reset, peak),
               reset ? fmt::format("{:.1f} B", peak / double(edges)) : "n/a", mib(gradArena),
               mib(gradArgs), shown(gradReset, gradPeak),
               double(kNodes) * double(kNodes) * 4 / 1e9);
    if (reset && previousEdges > 0)
      slopes += fmt::format(" {:.1f}", (peak - previousPeak) / (double(edges) - previousEdges));
    previousPeak = peak;
    previousEdges = double(edges);
    results.add("peak_bytes", std::to_string(edges), peak);
    results.add("grad_peak_bytes", std::to_string(edges), gradPeak);
    results.add("grad_arena_bytes", std::to_string(edges), gradArena + gradArgs);
  }
  fmt::print("bytes per added edge between rows:{} (the CSR holds 8 per edge: a column index "
             "and a value); arena = X·W, nodes x N, independent of the edges; grad: one call "
             "of the gradient graph for W and the values, its data made anew\n",
             slopes);
  return status;
}
