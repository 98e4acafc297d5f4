// Where the time of the Fashion-MNIST CNN (examples/fashion_cnn.cj, batch
// 64, f32) goes, and what the direct convolution (issue 14) changes: for
// each of its two conv2d layers the forward, the forward plus the input
// adjoint (vjp wrt x) and the forward plus the weight adjoint (vjp wrt w),
// each compiled with conv2d forced to im2col + GEMM and to the direct
// kernel ($CHAINJIT_CONV_KERNEL), and the whole training step (forward,
// gradient, SGD update) compiled three ways: GEMM, direct, and the measured
// per-shape choice (the default). All versions of one row are timed
// interleaved in one run, and each is timed by the wall clock and by the
// process's CPU time, which a loaded machine's other processes do not
// inflate.
// The adjoints themselves run matmul + fold2d / unfold2d + matmul + sum (the
// rules of ir/ops/NNRules.cpp), which the conv2d kernel choice does not
// change; their share is the vjp time minus the forward. The last row
// compiles the step with every matmul through BLAS ($CHAINJIT_BLAS_THRESHOLD=0).
//
//   ./build/bench/conv_layer_bench [path/to/fashion_cnn.cj]
//   ./build/bench/conv_layer_bench --profile 10   # only the step (measured choice), 10 s (perf)
#include "BenchSupport.h"
#include "../compiler/src/jit/kernels/ConvChoice.h"

#include <chainjit/chainjit.h>
#include <chainjit/compiler/Autodiff.h>
#include <chainjit/ir/Parser.h>
#include <chainjit/runtime/train/ModelGraphs.h>

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace chainjit;
using benchsupport::fmtTime;

namespace {

// A compiled graph and buffers for every argument: floats uniform in
// [-0.1, 0.1], i32 labels in [0, 10), a scalar learning rate of 1e-4; an
// update writes its param's buffer (same name).
struct Runner {
  std::unique_ptr<compiler::CompiledGraph> cg;
  std::vector<std::vector<unsigned char>> buffers;
  std::vector<void *> args;

  Runner(const ir::Graph &g, const char *convKernel, const char *blasThreshold = nullptr) {
    if (blasThreshold)
      setenv("CHAINJIT_BLAS_THRESHOLD", blasThreshold, 1);
    if (convKernel)
      setenv("CHAINJIT_CONV_KERNEL", convKernel, 1);
    else
      unsetenv("CHAINJIT_CONV_KERNEL");
    compiler::JitOptions o;
    o.useCache = false;
    cg = compiler::compileGraph(g, o);
    unsetenv("CHAINJIT_CONV_KERNEL");
    if (blasThreshold)
      unsetenv("CHAINJIT_BLAS_THRESHOLD");
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(-0.1, 0.1);
    const auto &as = cg->arguments();
    buffers.resize(as.size());
    std::map<std::string, size_t> byName;
    for (size_t i = 0; i < as.size(); ++i) {
      const auto &a = as[i];
      if (a.role == compiler::ArgumentRole::Update)
        continue;
      byName.emplace(a.name, i);
      const int64_t n = a.type.numel();
      buffers[i].resize(size_t(n) * ir::dtypeSize(a.type.dtype) + 64);
      for (int64_t e = 0; e < n; ++e) {
        if (a.type.dtype == ir::DType::f32)
          reinterpret_cast<float *>(buffers[i].data())[e] =
              a.type.shape.empty() ? 1e-4f : float(u(rng));
        else if (a.type.dtype == ir::DType::f64)
          reinterpret_cast<double *>(buffers[i].data())[e] = u(rng);
        else if (a.type.dtype == ir::DType::i32)
          reinterpret_cast<int32_t *>(buffers[i].data())[e] = int32_t(rng() % 10);
      }
    }
    for (size_t i = 0; i < as.size(); ++i)
      args.push_back(as[i].role == compiler::ArgumentRole::Update
                         ? buffers.at(byName.at(as[i].name)).data()
                         : buffers[i].data());
  }
  void call() { cg->call(args.data()); }
};

struct Layer {
  std::string name;
  ir::Shape x, w;
  ir::Ints padding;
};

ir::Graph layerGraph(const Layer &l) {
  ir::Graph g("conv");
  ir::Value y = ir::conv2d(ir::input(g, "x", ir::f32(l.x)), ir::input(g, "w", ir::f32(l.w)),
                           {1, 1}, l.padding, {1, 1});
  ir::output(y.named("y"));
  return g;
}

// Seconds of CPU the process has used (all its threads): other processes'
// time slices do not inflate it, so on a loaded machine it ranks kernels
// better than the wall clock (OpenBLAS's second thread counts too).
double cpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// One version of a row: calls of its graph in samples of `inner` calls,
// each sample's wall and CPU seconds per call.
struct Version {
  Runner *runner;
  int inner = 1;
  std::vector<double> wall, cpu;
  void sample() {
    const double w0 = benchsupport::now(), c0 = cpuSeconds();
    for (int i = 0; i < inner; ++i)
      runner->call();
    wall.push_back((benchsupport::now() - w0) / inner);
    cpu.push_back((cpuSeconds() - c0) / inner);
  }
};

// Times the same work compiled with GEMM and with the direct kernel (and
// optionally the measured choice), samples interleaved round robin for at
// least 1.5 s and 15 rounds; prints the medians of wall and CPU time per
// call and the ratios GEMM / other. A blasThreshold sets
// $CHAINJIT_BLAS_THRESHOLD for all of them.
void row(const std::string &what, const ir::Graph &g, bool withChoice,
         const char *blasThreshold = nullptr) {
  std::vector<std::unique_ptr<Runner>> runners;
  runners.push_back(std::make_unique<Runner>(g, "gemm", blasThreshold));
  runners.push_back(std::make_unique<Runner>(g, "direct", blasThreshold));
  if (withChoice)
    runners.push_back(std::make_unique<Runner>(g, nullptr, blasThreshold));
  std::vector<Version> vs;
  for (auto &r : runners) {
    for (int i = 0; i < 3; ++i) // warm-up
      r->call();
    const double t0 = benchsupport::now();
    r->call();
    vs.push_back({r.get(), std::max(1, int(2e-3 / std::max(benchsupport::now() - t0, 1e-9)))});
  }
  const double start = benchsupport::now();
  for (int round = 0; round < 15 || benchsupport::now() - start < 1.5; ++round)
    for (Version &v : vs)
      v.sample();
  fmt::print("{:<50}", what);
  for (size_t i = 0; i < vs.size(); ++i) {
    const double w = benchsupport::median(vs[i].wall), c = benchsupport::median(vs[i].cpu);
    fmt::print(" {:>10} {:>10}", fmtTime(w), fmtTime(c));
    if (i > 0)
      fmt::print(" {:>5.2f}x {:>5.2f}x", benchsupport::median(vs[0].wall) / w,
                 benchsupport::median(vs[0].cpu) / c);
  }
  fmt::print("\n");
}

} // namespace

ir::Graph stepGraph(const std::string &path) {
  const ir::Graph model = ir::parseGraphFile(path);
  const auto sig = runtime::train::inspectModel(model);
  return runtime::train::buildStepGraph(model, sig, {runtime::train::InGraphUpdate::Gradient});
}

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  if (argc == 3 && std::string(argv[1]) == "--profile") {
    // $CHAINJIT_CONV_KERNEL as given (unset: the measured choice).
    const char *kernel = std::getenv("CHAINJIT_CONV_KERNEL");
    Runner r(stepGraph("examples/fashion_cnn.cj"), kernel ? std::string(kernel).c_str() : nullptr);
    const double t0 = benchsupport::now();
    int64_t n = 0;
    while (benchsupport::now() - t0 < std::atof(argv[2])) {
      r.call();
      ++n;
    }
    fmt::print("{} steps, {} per step\n", n, fmtTime((benchsupport::now() - t0) / double(n)));
    return 0;
  }
  const std::string path = argc > 1 ? argv[1] : "examples/fashion_cnn.cj";
  fmt::print("{}\n", benchsupport::machineDescription());
  fmt::print("Fashion-MNIST CNN ({}), batch 64, f32; medians of interleaved samples of wall "
             "and process CPU time per call; speedup = GEMM time / other time\n\n",
             path);

  const std::vector<Layer> layers = {{"conv1 1->8 5x5 pad 2 @28x28", {64, 1, 28, 28}, {8, 1, 5, 5}, {2, 2}},
                                     {"conv2 8->16 3x3 pad 1 @14x14", {64, 8, 14, 14}, {16, 8, 3, 3}, {1, 1}}};
  fmt::print("one image, the kernel alone (the measurement the choice makes):\n");
  namespace k = compiler::jit::kernels;
  for (const Layer &l : layers) {
    const auto p = k::windowParams(l.x, {l.w[2], l.w[3]}, {1, 1}, l.padding, {1, 1});
    const auto win = k::readWindow(p.data());
    for (auto [pass, name] : {std::pair{k::ConvPass::Forward, "forward"},
                              std::pair{k::ConvPass::InputGrad, "input adjoint"},
                              std::pair{k::ConvPass::WeightGrad, "weight adjoint"}}) {
      const auto t = k::measureConvKernels(pass, win, l.w[0], ir::DType::f32);
      const auto choice = k::chooseConvKernel(pass, win, l.w[0], ir::DType::f32);
      fmt::print("  {:<30} {:<15} GEMM {:>11}  direct {:>11}  ({:.2f}x)  chosen: {}\n", l.name,
                 name, fmtTime(t.gemm), fmtTime(t.direct), t.gemm / t.direct,
                 choice == k::ConvKernel::Direct ? "direct" : "GEMM");
    }
  }

  fmt::print("\n{:<50} {:>21} {:>35} {:>35}\n", "compiled graph (batch 64)", "GEMM: wall, cpu",
             "direct: wall, cpu, speedups", "measured choice: wall, cpu, speedups");
  for (const Layer &l : layers) {
    const ir::Graph f = layerGraph(l);
    row(l.name + ": forward", f, false);
    row(l.name + ": fwd + input adjoint", compiler::vjp(f, "y", {"x"}), false);
    row(l.name + ": fwd + weight adjoint", compiler::vjp(f, "y", {"w"}), false);
  }
  const ir::Graph step = stepGraph(path);
  row("whole training step", step, true);
  // The adjoints' batched products on their per-machine kernel choice above;
  // here every product through BLAS, to show what that choice costs them.
  row("whole step, all products BLAS", step, true, "0");
  return 0;
}
