// conv2d's adjoint ops (conv_transpose2d, conv2d_weight_grad) and
// max_pool2d's (max_pool2d_grad): the interpreter's definitions are the
// adjoints (dot-product identities), and the JIT's kernels, im2col/col2im +
// GEMM and direct (compiler/src/jit/kernels/ConvPlan.h), agree with the
// interpreter on strides, padding, dilation, odd widths, more channels than a
// register block and one image per slot, in f32 and f64. The direct weight
// gradient gives the same bits on one thread and on several (its slots are
// summed in order), and at the vector widths this CPU would not pick. The
// pooling adjoint is checked on ties, NaN, infinities, odd sizes, row tails
// and overlapping padded windows.
#include "../../compiler/src/jit/LibraryKernels.h"

#include "../../compiler/src/jit/kernels/ConvChoice.h"
#include "../../compiler/src/jit/kernels/ConvPlan.h"

#include "ConvCases.h"
#include "GradCheck.h"
#include "JitTesting.h"
#include "ScopedEnv.h"
#include "ScopedSplitMode.h"

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;
namespace jit = chainjit::compiler::jit;
namespace kernels = chainjit::compiler::jit::kernels;
using chainjit::testing::ScopedEnv;

namespace {

using Case = testing::ConvCase;
constexpr const auto &kCases = testing::kConvCases;

double dot(const Tensor &a, const Tensor &b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    s += a.at(i) * b.at(i);
  return s;
}

// The graph of a case's layer: inputs x, w and dy (conv2d's output shape);
// outputs conv_transpose2d(dy, w) (x's shape), conv2d_weight_grad(x, dy)
// (w's shape) and conv2d(x, w).
Graph adjointsGraph(const Case &c, DType dt) {
  Graph g("adjoints");
  Value x = input(g, "x", {dt, c.x}), w = input(g, "w", {dt, c.w});
  Graph probe;
  const Shape y = conv2d(input(probe, "x", {dt, c.x}), input(probe, "w", {dt, c.w}), c.stride,
                         c.padding, c.dilation)
                      .shape();
  Value dy = input(g, "dy", {dt, y});
  const Ints op = testing::outputPaddingFor(c.x, c.w, y, c.stride, c.padding, c.dilation);
  output(convTranspose2d(dy, w, c.stride, c.padding, c.dilation, op).named("dx"));
  output(conv2dWeightGrad(x, dy, {c.w[2], c.w[3]}, c.stride, c.padding, c.dilation).named("dw"));
  output(conv2d(x, w, c.stride, c.padding, c.dilation).named("y"));
  return g;
}

std::vector<Tensor> runJit(const Graph &g, const runtime::Bindings &b) {
  compiler::JitOptions options;
  options.useCache = false;
  return runtime::makeExecutable(g, runtime::Backend::Jit, options)->run(b).outputs;
}

// The library call of g's (first) node of this kind.
jit::LibraryCall lowerNode(const Graph &g, OpKind kind) {
  for (const jit::LibraryKernel &k : jit::libraryKernels())
    if (k.kind == kind)
      for (NodeId id = 0; id < NodeId(g.size()); ++id)
        if (g.node(id).kind == kind)
          return k.lower(g, id);
  FAIL("no lowering");
  return {};
}

double sumOf(const Tensor &t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    s += t.at(i);
  return s;
}

} // namespace

TEST_CASE("conv adjoints: the interpreter's conv_transpose2d and conv2d_weight_grad are conv2d's "
          "adjoints") {
  // <conv2d(x, w), dy> = <x, conv_transpose2d(dy, w)> = <w, conv2d_weight_grad(x, dy)>.
  for (const Case &c : kCases) {
    INFO("x " << shapeStr(c.x) << ", w " << shapeStr(c.w));
    const Graph g = adjointsGraph(c, DType::f64);
    const runtime::Bindings b = testing::randomBindings(g, 3);
    const runtime::EvalResult r = runtime::interpret(g, b);
    const double forward = dot(r.outputs[2], b.at("dy"));
    CHECK(std::fabs(dot(b.at("x"), r.outputs[0]) - forward) <=
          1e-12 * std::max(1.0, std::fabs(forward)) * double(r.outputs[2].numel()));
    CHECK(std::fabs(dot(b.at("w"), r.outputs[1]) - forward) <=
          1e-12 * std::max(1.0, std::fabs(forward)) * double(r.outputs[2].numel()));
  }
}

TEST_CASE("conv adjoints: both kernels of each adjoint match the interpreter") {
  for (const char *kernel : {"gemm", "direct"})
    for (DType dt : {DType::f32, DType::f64})
      for (const Case &c : kCases) {
        INFO("kernel " << kernel << ", " << dtypeName(dt) << ", x " << shapeStr(c.x) << ", w "
                       << shapeStr(c.w) << ", stride " << shapeStr(c.stride));
        ScopedEnv env("CHAINJIT_CONV_KERNEL", kernel);
        const Graph g = adjointsGraph(c, dt);
        testing::checkJitMatchesInterpreter(g, testing::randomBindings(g, 7));
      }
}

TEST_CASE("conv adjoints: the lowering runs the direct kernel where it applies") {
  ScopedEnv env("CHAINJIT_CONV_KERNEL", "direct");
  for (const Case &c : kCases) {
    INFO("x " << shapeStr(c.x) << ", stride " << shapeStr(c.stride) << ", padding "
              << shapeStr(c.padding));
    const Graph g = adjointsGraph(c, DType::f32);
    const jit::LibraryCall weight = lowerNode(g, OpKind::Conv2dWeightGrad);
    CHECK(weight.params[kernels::kWindowParams + 1] == int64_t(kernels::ConvKernel::Direct));
    CHECK(weight.params[kernels::kWindowParams + 2] >= 1); // slots
    CHECK(weight.params[kernels::kWindowParams + 2] <= c.x[0]);
    // The input adjoint's direct kernel is a conv2d: unit strides and
    // padding at most dilation * (K - 1).
    const jit::LibraryCall call = lowerNode(g, OpKind::ConvTranspose2d);
    const bool applies = c.stride == Ints{1, 1} && c.dilation[0] * (c.w[2] - 1) >= c.padding[0] &&
                         c.dilation[1] * (c.w[3] - 1) >= c.padding[1];
    CHECK(call.params[kernels::kWindowParams + 1] ==
          int64_t(applies ? kernels::ConvKernel::Direct : kernels::ConvKernel::Gemm));
  }
  // The measured choice is stored per pass: the keys differ.
  const kernels::Window layer{1, 8, 14, 14, 3, 3, 14, 14, 1, 1, 1, 1, 1, 1};
  CHECK(kernels::convChoiceKey(kernels::ConvPass::Forward, layer, 16, DType::f32) !=
        kernels::convChoiceKey(kernels::ConvPass::InputGrad, layer, 16, DType::f32));
  CHECK(kernels::convChoiceKey(kernels::ConvPass::InputGrad, layer, 16, DType::f32) !=
        kernels::convChoiceKey(kernels::ConvPass::WeightGrad, layer, 16, DType::f32));
  const kernels::ConvTiming t =
      kernels::measureConvKernels(kernels::ConvPass::WeightGrad, layer, 16, DType::f32);
  CHECK(t.gemm > 0);
  CHECK(t.direct > 0);
  const kernels::Window strided{1, 8, 14, 14, 3, 3, 7, 7, 2, 2, 1, 1, 1, 1};
  CHECK(kernels::measureConvKernels(kernels::ConvPass::InputGrad, strided, 16, DType::f32).direct ==
        0); // not applicable: not timed
  CHECK(kernels::chooseConvKernel(kernels::ConvPass::InputGrad, strided, 16, DType::f32) ==
        kernels::ConvKernel::Gemm);
}

TEST_CASE("conv adjoints: the direct weight gradient gives the same bits on any thread count") {
  ScopedEnv env("CHAINJIT_CONV_KERNEL", "direct");
  for (const Case &c : {kCases[1], kCases[7]}) {
    const Graph g = adjointsGraph(c, DType::f32);
    const runtime::Bindings b = testing::randomBindings(g, 11);
    std::vector<Tensor> serial, split;
    {
      testing::ScopedSplitMode one("1");
      serial = runJit(g, b);
    }
    {
      testing::ScopedSplitMode force("force");
      split = runJit(g, b);
    }
    REQUIRE(serial.size() == 3);
    CHECK(std::memcmp(serial[1].data(), split[1].data(), serial[1].byteSize()) == 0);
    CHECK(std::memcmp(serial[0].data(), split[0].data(), serial[0].byteSize()) == 0);
  }
}

namespace {

// The direct weight gradient's slot at V lanes over all images of a case,
// whatever the CPU would pick, against the interpreter; avx512: through the
// AVX-512 entry (its taps in groups, which need the ISA's registers).
template <typename T, int V, bool avx512 = false> void checkWeightGradAtWidth(const Case &c) {
  const DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  const Graph g = adjointsGraph(c, dt);
  const runtime::Bindings b = testing::randomBindings(g, 5);
  const Tensor want = runtime::interpret(g, b).outputs[1];
  const jit::LibraryCall call = lowerNode(g, OpKind::Conv2dWeightGrad);
  const kernels::Window win = kernels::readWindow(call.params.data());
  const int64_t o = c.w[0];
  const auto layout = kernels::wgrad::slotLayout<T>(win, o);
  std::vector<T> slot(size_t(layout.total()), T(7)); // garbage the kernel must overwrite
  const T *x = static_cast<const T *>(b.at("x").data()),
          *dy = static_cast<const T *>(b.at("dy").data());
#if defined(__x86_64__)
  if constexpr (avx512)
    kernels::wgrad::slotAvx512<T>(x, dy, win, o, slot.data());
  else
#endif
    kernels::wgrad::slotImages<T, V>(x, dy, win, o, slot.data());
  const T *sums = slot.data() + layout.sumsAt();
  Tensor got(want.type());
  for (int64_t i = 0; i < got.numel(); ++i)
    got.set(i, double(sums[i]));
  testing::checkSameTensor(got, want, "weight gradient at " + std::to_string(V) + " lanes");
}

} // namespace

TEST_CASE("conv adjoints: the direct weight gradient at every vector width") {
  for (const Case &c : kCases) {
    INFO("x " << shapeStr(c.x) << ", w " << shapeStr(c.w));
    checkWeightGradAtWidth<float, 4>(c);
    checkWeightGradAtWidth<float, 8>(c);
    checkWeightGradAtWidth<float, 16>(c);
    checkWeightGradAtWidth<double, 2>(c);
    checkWeightGradAtWidth<double, 4>(c);
    checkWeightGradAtWidth<double, 8>(c);
    if (kernels::simdLevel() == 2) { // the taps in groups of up to 5 (rows of 1 to 7 taps here)
      checkWeightGradAtWidth<float, 16, true>(c);
      checkWeightGradAtWidth<double, 8, true>(c);
    }
  }
}

namespace {

Graph poolGradGraph(DType dt, Shape x, Ints kernel, Ints stride, Ints padding) {
  Graph g("pool_grad");
  Value xs = input(g, "x", {dt, x});
  Graph probe;
  const Shape y = maxPool2d(input(probe, "x", {dt, x}), kernel, stride, padding).shape();
  output(maxPool2dGrad(xs, input(g, "dy", {dt, y}), kernel, stride, padding));
  return g;
}

} // namespace

TEST_CASE("conv adjoints: max_pool2d_grad matches the interpreter on ties, NaN and odd sizes") {
  struct PoolCase {
    Shape x;
    Ints kernel, stride, padding;
  };
  const PoolCase cases[] = {
      {{2, 3, 28, 28}, {2, 2}, {}, {0, 0}},    // a row of 14 windows: a vector and a tail
      {{2, 3, 7, 9}, {2, 2}, {}, {0, 0}},      // the row and column past the last window
      {{3, 2, 6, 8}, {2, 2}, {}, {0, 0}},      // rows narrower than a vector of windows
      {{2, 3, 14, 14}, {2, 2}, {}, {0, 0}},    // 7 windows a row: past it into the next row
      {{2, 2, 10, 10}, {2, 2}, {}, {0, 0}},    // 5 windows a row
      {{2, 2, 6, 6}, {2, 2}, {}, {0, 0}},      // 3: more than the next row, copied
      {{2, 2, 8, 18}, {2, 2}, {}, {0, 0}},     // a vector and one window per row
      {{1, 2, 6, 34}, {2, 2}, {2, 2}, {0, 0}}, // 17 windows: two vectors and a tail
      {{2, 2, 7, 7}, {3, 3}, {2, 2}, {1, 1}},  // overlapping padded windows
      {{1, 2, 5, 6}, {2, 3}, {1, 1}, {1, 1}},  // stride 1
  };
  for (DType dt : {DType::f32, DType::f64})
    for (const PoolCase &c : cases) {
      INFO(dtypeName(dt) << ", x " << shapeStr(c.x) << ", kernel " << shapeStr(c.kernel));
      const Graph g = poolGradGraph(dt, c.x, c.kernel, c.stride, c.padding);
      std::mt19937 rng(13);
      runtime::Bindings b = testing::randomBindings(g, 17);
      Tensor &x = b.at("x");
      std::uniform_int_distribution<int> small(-2, 2), pick(0, 40);
      for (int64_t i = 0; i < x.numel(); ++i) { // few values: many ties
        const int v = small(rng);
        x.set(i, v);
        const int r = pick(rng);
        if (r == 0)
          x.set(i, std::numeric_limits<double>::quiet_NaN());
        else if (r == 1)
          x.set(i, std::numeric_limits<double>::infinity());
        else if (r == 2)
          x.set(i, -std::numeric_limits<double>::infinity());
      }
      testing::checkJitMatchesInterpreter(g, b);
      // The interpreter's shares: every window's output_grad is handed out in
      // full to its maxima (no NaN in this check, no padding, no overlap).
      if (c.padding == Ints{0, 0} && c.stride.empty()) {
        for (int64_t i = 0; i < x.numel(); ++i)
          if (std::isnan(x.at(i)))
            x.set(i, 0);
        const Tensor dx = runtime::interpret(g, b).outputs[0];
        CHECK(sumOf(dx) ==
              doctest::Approx(sumOf(b.at("dy"))).epsilon(dt == DType::f32 ? 1e-5 : 1e-12));
      }
    }
}

TEST_CASE("conv adjoints: the chain cost model charges the three passes of a layer alike") {
  // One multiply-add per window, tap and output channel of the layer's
  // conv2d, per active operand, whichever pass: 2*5*3 windows (x [2, 2, 5, 6]
  // under a 3x2 kernel, stride [1, 2], padding [1, 0]) times 3*2*3*2.
  const Case c{{2, 2, 5, 6}, {3, 2, 3, 2}, {1, 2}, {1, 0}, {1, 1}};
  const Graph g = adjointsGraph(c, DType::f64);
  const double fmas = 2.0 * 5 * 3 * (3 * 2 * 3 * 2);
  for (OpKind kind : {OpKind::Conv2d, OpKind::ConvTranspose2d, OpKind::Conv2dWeightGrad})
    for (NodeId id = 0; id < NodeId(g.size()); ++id)
      if (g.node(id).kind == kind) {
        INFO(opName(kind));
        CHECK(compiler::opCost(g, id, {true, false}).tangent == fmas);
        CHECK(compiler::opCost(g, id, {true, true}).adjoint == 2 * fmas);
      }
}

TEST_CASE("conv adjoints: a measurement's choice counts the threads each way would use") {
  using kernels::ConvKernel;
  using kernels::ConvPass;
  const kernels::Window small{64, 8, 14, 14, 3, 3, 14, 14, 1, 1, 1, 1, 1, 1}; // 16*72*196 < 2^18
  const kernels::Window large{64, 64, 28, 28, 3, 3, 28, 28, 1, 1, 1, 1, 1, 1};
  const kernels::ConvTiming tie{10e-6, 10e-6}, directSlower{10e-6, 15e-6};
  // One CPU: the faster way (a tie stays GEMM).
  CHECK(kernels::chooseByTiming(ConvPass::Forward, small, 16, tie, 1) == ConvKernel::Gemm);
  CHECK(kernels::chooseByTiming(ConvPass::Forward, small, 16, {10e-6, 9e-6}, 1) ==
        ConvKernel::Direct);
  // Two CPUs: GEMM's small per-image products run on one, the direct kernel's
  // images on both.
  CHECK(kernels::chooseByTiming(ConvPass::Forward, small, 16, tie, 2) == ConvKernel::Direct);
  CHECK(kernels::chooseByTiming(ConvPass::InputGrad, small, 16, directSlower, 2) ==
        ConvKernel::Direct);
  CHECK(kernels::chooseByTiming(ConvPass::Forward, small, 16, {10e-6, 25e-6}, 2) ==
        ConvKernel::Gemm);
  // A large layer's products split too: the plain comparison again, except
  // for the weight adjoint, whose per-image sums never split.
  CHECK(kernels::chooseByTiming(ConvPass::Forward, large, 64, directSlower, 2) == ConvKernel::Gemm);
  CHECK(kernels::chooseByTiming(ConvPass::WeightGrad, large, 64, directSlower, 2) ==
        ConvKernel::Direct);
  // No direct time (it does not apply): GEMM.
  CHECK(kernels::chooseByTiming(ConvPass::InputGrad, small, 16, {10e-6, 0}, 2) == ConvKernel::Gemm);
}
