// Memory-limited gradients through a recurrence (issue 15): an f32 LSTM over
// T steps (default 1000 steps, 64 units, batch 16, 8 inputs a step; the input
// projection inside the step, loss = mean((h_T V)^2)), its gradient with
// respect to every param compiled by the JIT at the full tape and at 1/2,
// 1/4, 1/8 of it and at the least memory that works (found by bisection).
// For each: the JIT's measured peak of forward values with the scan's tapes
// (compiler::jitForwardValuePeakWithScanTapes), the whole arena, the nesting
// chosen, the recomputed steps (in forward passes) and the median step time.
//
//   ./build/bench/scan_recompute_bench                  # 1000 64 16 8
//   ./build/bench/scan_recompute_bench 1000 32 8 4      # steps hidden batch inputs
//   ./build/bench/scan_recompute_bench --results r.tsv  # for bench/scan_recompute_torch.py
//
// Exit status 1 if a measured peak exceeds its limit or a gradient differs
// from the unlimited one.
#include "BenchSupport.h"
#include "MemoryPoints.h"

#include <chainjit/chainjit.h>
#include <chainjit/compiler/RecomputedGradient.h>
#include <chainjit/compiler/ScanCheckpointing.h>
#include <chainjit/ir/Function.h>
#include <chainjit/ir/Scan.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace chainjit;
using benchsupport::fmtTime;
using benchsupport::Timed;

namespace {

ir::Graph longLstm(int64_t T, int64_t n, int64_t B, int64_t d) {
  using namespace ir;
  const DType dt = DType::f32;
  Graph s("lstm_step");
  Value h = input(s, "h", TensorType{dt, {B, n}});
  Value c = input(s, "c", TensorType{dt, {B, n}});
  Value x = input(s, "x", TensorType{dt, {B, d}});
  Value Wx = input(s, "Wx", TensorType{dt, {d, 4 * n}});
  Value U = input(s, "U", TensorType{dt, {n, 4 * n}});
  Value b = input(s, "b", TensorType{dt, {4 * n}});
  Value z = matmul(x, Wx) + matmul(h, U) + b;
  auto gate = [&](int64_t i) { return slice(z, {0, i * n}, {B, (i + 1) * n}); };
  Value cn = sigmoid(gate(1)) * c + sigmoid(gate(0)) * tanh(gate(2));
  Value hn = sigmoid(gate(3)) * tanh(cn);
  s.addOutput(hn.id());
  s.addOutput(cn.id());
  Function step("lstm_step", std::move(s));

  Graph g("long_lstm");
  Value xs = input(g, "xs", TensorType{dt, {T, B, d}});
  Value h0 = input(g, "h0", TensorType{dt, {B, n}});
  Value c0 = input(g, "c0", TensorType{dt, {B, n}});
  Value pWx = param(g, "Wx", TensorType{dt, {d, 4 * n}});
  Value pU = param(g, "U", TensorType{dt, {n, 4 * n}});
  Value pb = param(g, "b", TensorType{dt, {4 * n}});
  Value V = param(g, "V", TensorType{dt, {n, 1}});
  std::vector<Value> r = scan(step, {h0, c0}, {xs}, {pWx, pU, pb});
  Value out = matmul(r[0], V);
  output(mean(out * out).named("loss"));
  return g;
}

using Point = benchsupport::MemoryPoint;

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  std::string results;
  std::vector<int64_t> dims;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results" && i + 1 < argc)
      results = argv[++i];
    else
      dims.push_back(std::stoll(a));
  }
  const int64_t T = dims.size() > 0 ? dims[0] : 1000;
  const int64_t hidden = dims.size() > 1 ? dims[1] : 64;
  const int64_t batch = dims.size() > 2 ? dims[2] : 16;
  const int64_t inputs = dims.size() > 3 ? dims[3] : 8;
  ir::Graph model = longLstm(T, hidden, batch, inputs);
  std::vector<std::string> wrt;
  for (ir::NodeId p : model.params())
    wrt.push_back(model.node(p).name);

  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  runtime::Bindings b;
  for (ir::NodeId id = 0; id < model.size(); ++id) {
    const ir::Node &n = model.node(id);
    if (n.kind != ir::OpKind::Input && n.kind != ir::OpKind::Param)
      continue;
    ir::Tensor t(n.type);
    const double scale = n.kind == ir::OpKind::Param ? 1.0 / std::sqrt(double(hidden)) : 1.0;
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, normal(rng) * scale);
    b[n.name] = t;
  }

  auto unlimited = compiler::gradWithMemoryLimit(model, "loss", wrt, 1e18, false);
  const double full =
      double(compiler::jitForwardValuePeakWithScanTapes(unlimited.graph, model.size()));
  // The least limit that plans (bisection on what gradWithMemoryLimit takes).
  auto plans = [&](double limit) {
    try {
      compiler::checkpointScans(model, "loss", wrt, limit);
      compiler::gradWithMemoryLimit(model, "loss", wrt, limit, false);
      return true;
    } catch (const Error &) {
      return false;
    }
  };
  double lo = 0, hi = full;
  while (hi - lo > std::max(64.0, hi * 0.002)) {
    double mid = 0.5 * (lo + hi);
    (plans(mid) ? hi : lo) = mid;
  }
  const double least = hi;
  fmt::print("long LSTM: {} steps, {} units, batch {}, {} inputs a step, f32; carries {} B a "
             "step\n",
             T, hidden, batch, inputs, 2 * batch * hidden * 4);
  fmt::print("full tape (measured forward values of the unlimited gradient): {:.3f} MiB; "
             "least memory {:.3f} MiB\n\n",
             full / 1048576, least / 1048576);

  std::vector<Point> points = benchsupport::memoryPoints(full, least);
  std::vector<std::unique_ptr<compiler::CompiledGraph>> exes;
  std::vector<std::vector<const ir::Tensor *>> argLists;
  argLists.reserve(points.size());
  std::vector<Timed> timed(points.size());
  std::vector<ir::Tensor> reference;
  bool ok = true;
  for (size_t i = 0; i < points.size(); ++i) {
    Point &p = points[i];
    double t1 = benchsupport::now();
    size_t primal = model.size();
    p.plan = "plain scan";
    if (p.limit > 0) {
      auto cs = compiler::checkpointScans(model, "loss", wrt, p.limit);
      if (cs) {
        primal = cs->graph.size();
        p.plan = cs->plans[0].describe();
        p.recompute = double(cs->plans[0].nesting.recomputedSteps) / double(T);
      }
    }
    auto r = p.limit > 0 ? compiler::gradWithMemoryLimit(model, "loss", wrt, p.limit, false)
                         : unlimited;
    double plan = benchsupport::now() - t1;
    p.peak = double(compiler::jitForwardValuePeakWithScanTapes(r.graph, primal));
    auto exe = compiler::compileGraph(r.graph);
    p.arena = double(exe->arenaBytes());
    argLists.push_back(benchsupport::inputsAndParams(*exe, b));
    auto out = exe->run(argLists.back());
    if (reference.empty())
      reference = out;
    const double worst = benchsupport::worstDifference(out, reference);
    if (worst > 1e-4 || (p.limit > 0 && p.peak > p.limit)) {
      fmt::print("FAIL {}: peak {} limit {} worst gradient difference {}\n", p.name, p.peak,
                 p.limit, worst);
      ok = false;
    }
    fmt::print("  {:>5}: planned in {:.2f} s; {}\n", p.name, plan, p.plan);
    compiler::CompiledGraph *e = exe.get();
    timed[i].fn = [e, &argLists, i] { e->run(argLists[i]); };
    exes.push_back(std::move(exe));
  }
  std::vector<Timed *> all;
  for (Timed &t : timed)
    all.push_back(&t);
  benchsupport::timeInterleaved(all, 3.0, 5, 200);
  std::FILE *tsv = benchsupport::printMemoryPoints(points, timed, results, 3);
  if (tsv) {
    std::fprintf(tsv, "config\t%lld\t%lld\t%lld\t%lld\n", (long long)T, (long long)hidden,
                 (long long)batch, (long long)inputs);
    std::fclose(tsv);
  }
  return ok ? 0 : 1;
}
