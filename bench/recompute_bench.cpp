// Memory-limited gradients (issue 15): a deep f32 MLP (default 64 tanh
// layers of 512 units, batch 64, then 10 classes and cross-entropy), its
// gradient step (forward and gradient of every param, the trainer's step
// graph without the update) compiled by the JIT at the full tape and at
// 1/2, 1/4, 1/8 of it and at the least memory that works. For each: the
// JIT's measured peak of forward values (its liveness plan), the whole
// arena, the recomputation the plan chose and the median step time.
//
//   ./build/bench/recompute_bench                      # 64 x 512, batch 64
//   ./build/bench/recompute_bench 16 256 32            # layers width batch
//   ./build/bench/recompute_bench --results r.tsv      # for bench/recompute_torch.py
//
// Exit status 1 if a measured peak exceeds its limit or a gradient differs
// from the unlimited one.
#include "BenchSupport.h"
#include "MemoryPoints.h"

#include <chainjit/chainjit.h>
#include <chainjit/compiler/RecomputedGradient.h>

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

ir::Graph deepMlp(int layers, int64_t width, int64_t batch, int64_t classes) {
  ir::Graph g("deep_mlp");
  ir::Value h = ir::input(g, "x", ir::f32({batch, width}));
  ir::Value labels = ir::input(g, "labels", ir::i32({batch}));
  for (int l = 1; l <= layers + 1; ++l) {
    int64_t out = l == layers + 1 ? classes : width;
    ir::Value W = ir::param(g, fmt::format("W{}", l), ir::f32({width, out}),
                            {{"init", std::string("glorot")}, {"seed", int64_t(l)}});
    ir::Value b = ir::param(g, fmt::format("b{}", l), ir::f32({out}));
    h = ir::matmul(h, W) + b;
    if (l <= layers)
      h = ir::tanh(h);
  }
  ir::output(ir::crossEntropy(h, labels).named("loss"));
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
  const int layers = dims.size() > 0 ? int(dims[0]) : 64;
  const int64_t width = dims.size() > 1 ? dims[1] : 512;
  const int64_t batch = dims.size() > 2 ? dims[2] : 64;
  const int64_t classes = 10;
  ir::Graph model = deepMlp(layers, width, batch, classes);
  std::vector<std::string> wrt;
  for (ir::NodeId p : model.params())
    wrt.push_back(model.node(p).name);

  // Inputs and params.
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  runtime::Bindings b;
  for (ir::NodeId id = 0; id < model.size(); ++id) {
    const ir::Node &n = model.node(id);
    if (n.kind != ir::OpKind::Input && n.kind != ir::OpKind::Param)
      continue;
    ir::Tensor t(n.type);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, n.type.dtype == ir::DType::i32 ? double(i % classes)
                                              : normal(rng) * (n.kind == ir::OpKind::Param
                                                                   ? 1.0 / std::sqrt(double(width))
                                                                   : 1.0));
    b[n.name] = t;
  }

  double t0 = benchsupport::now();
  auto unlimited = compiler::gradWithMemoryLimit(model, "loss", wrt, 1e18, false);
  const double planFull = benchsupport::now() - t0;
  const double full = double(compiler::jitForwardValuePeak(unlimited.graph, model.size()));
  double largest = 0, once = 0;
  for (const auto &f : unlimited.chain.chain.factors) {
    largest = std::max(largest, f.tapeBytes);
    once += f.forwardCost;
  }
  const double least = unlimited.chain.workingBytes + largest;
  fmt::print("deep MLP: {} tanh layers of {} units, batch {}, f32; {} segments; "
             "forward pass {:.3g} FMA\n",
             layers, width, batch, unlimited.chain.cuts.size(), once);
  fmt::print("full tape (measured forward values of the unlimited gradient): {:.2f} MiB; "
             "least memory {:.2f} MiB\n\n",
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
    auto r = p.limit > 0 ? compiler::gradWithMemoryLimit(model, "loss", wrt, p.limit, false)
                         : std::move(unlimited);
    double plan = p.limit > 0 ? benchsupport::now() - t1 : planFull;
    p.peak = double(compiler::jitForwardValuePeak(r.graph, model.size()));
    p.recompute = r.recomputeCost / once;
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
    fmt::print("  planned {} in {:.2f} s ({} nodes recomputed)\n", p.name, plan,
               r.recomputedNodes);
    compiler::CompiledGraph *e = exe.get();
    timed[i].fn = [e, &argLists, i] { e->run(argLists[i]); };
    exes.push_back(std::move(exe));
  }
  std::vector<Timed *> all;
  for (Timed &t : timed)
    all.push_back(&t);
  benchsupport::timeInterleaved(all, 3.0, 5, 200);
  std::FILE *tsv = benchsupport::printMemoryPoints(points, timed, results, 2);
  if (tsv) {
    std::fprintf(tsv, "config\t%d\t%lld\t%lld\n", layers, (long long)width, (long long)batch);
    std::fclose(tsv);
  }
  return ok ? 0 : 1;
}
