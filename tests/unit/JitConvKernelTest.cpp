// conv2d's two forward kernels (compiler/src/jit/kernels/ConvChoice.h): the
// direct convolution must give the im2col + GEMM values within rounding on
// strides, padding, dilation, odd widths (vector tails) and output channels
// that are not a multiple of the register block, in f32 and f64; the choice
// can be forced either way through $CHAINJIT_CONV_KERNEL and is otherwise
// measured once per machine and kept in the cache directory; and whole graphs (forward, gradient with both adjoints, and the
// tangent, which runs conv2d on the directions) agree with the interpreter
// on either kernel. The direct kernel's vector widths that this CPU would
// not pick (AVX2, baseline) are run through its template directly.
#include "../../compiler/src/jit/LibraryKernels.h"
#include "../../compiler/src/jit/kernels/ConvChoice.h"
#include "../../compiler/src/jit/kernels/DirectConv.h"
#include "../../compiler/src/jit/ObjectCache.h"

#include "ConvCases.h"
#include "GradCheck.h"
#include "JitTesting.h"
#include "ScopedEnv.h"
#include "ScopedSplitMode.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
namespace jit = chainjit::compiler::jit;

namespace {

jit::LibraryKernel convLowering() {
  for (const jit::LibraryKernel &k : jit::libraryKernels())
    if (k.kind == OpKind::Conv2d)
      return k;
  FAIL("no conv2d lowering");
  return {};
}

jit::LibraryFn symbol(const std::string &name) {
  for (auto &[n, address] : jit::librarySymbols())
    if (n == name)
      return reinterpret_cast<jit::LibraryFn>(address);
  FAIL("no symbol " << name);
  return nullptr;
}

struct Lowered {
  Tensor y;
  int64_t kernel, slots; // the ConvKernel param, the direct kernel's image slots
};

// Lowers the conv2d of g (its last node) under $CHAINJIT_CONV_KERNEL=kernel
// and runs it on x and w, with a scratch area full of garbage.
Lowered runConv(const Graph &g, const char *kernel, const Tensor &x, const Tensor &w) {
  testing::ScopedEnv env("CHAINJIT_CONV_KERNEL", kernel);
  const NodeId id = NodeId(g.size() - 1);
  jit::LibraryCall call = convLowering().lower(g, id);
  std::vector<unsigned char> scratch(size_t(call.scratchBytes) + 64, 0xA5);
  Tensor y(g.type(id));
  std::memset(y.data(), 0xA5, y.byteSize());
  void *operands[2] = {const_cast<void *>(x.data()), const_cast<void *>(w.data())};
  REQUIRE(symbol(call.symbol)(operands, y.data(), call.params.data(), scratch.data()) == 0);
  return {std::move(y), call.params.at(jit::kernels::kWindowParams + 1),
          call.params.at(jit::kernels::kWindowParams + 2)};
}

Tensor random(const TensorType &t, std::mt19937 &rng) {
  Tensor v(t);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t i = 0; i < v.numel(); ++i)
    v.set(i, u(rng));
  return v;
}

using Case = testing::ConvCase;
constexpr const auto &kCases = testing::kConvCases;

// The direct kernel at V lanes, whatever the CPU would pick; with a bias
// [O], its BiasRelu epilogue.
template <typename T, int V>
Tensor directAtWidth(const Graph &g, const Tensor &x, const Tensor &w,
                     const Tensor *bias = nullptr) {
  const NodeId id = NodeId(g.size() - 1);
  const jit::LibraryCall call = convLowering().lower(g, id);
  const jit::kernels::Window win = jit::kernels::readWindow(call.params.data());
  const int64_t o = g.type(id).shape[1];
  std::vector<T> scratch(size_t(jit::kernels::direct::scratchElements<T>(win, o, 1)), T(7));
  Tensor y(g.type(id));
  T *packed = scratch.data();
  jit::kernels::direct::packWeights(static_cast<const T *>(w.data()), o,
                                    win.c * win.kh * win.kw, packed);
  jit::kernels::direct::convImages<T, V>(
      static_cast<const T *>(x.data()), packed, win, o,
      packed + jit::kernels::direct::paddedOut(o) * win.c * win.kh * win.kw,
      static_cast<T *>(y.data()), bias ? static_cast<const T *>(bias->data()) : nullptr);
  return y;
}

void checkClose(const Tensor &got, const Tensor &want, double tol, const std::string &what) {
  int failures = 0;
  for (int64_t i = 0; i < want.numel() && failures < 5; ++i)
    if (!(std::fabs(got.at(i) - want.at(i)) <= tol)) {
      ++failures;
      FAIL_CHECK(what << ", element " << i << ": " << got.at(i) << ", GEMM " << want.at(i));
    }
  CHECK(failures == 0);
}

} // namespace

TEST_CASE("JitConvKernel: the direct convolution equals im2col + GEMM") {
  std::mt19937 rng(5);
  for (DType dt : {DType::f32, DType::f64})
    for (const Case &c : kCases) {
      Graph g;
      conv2d(input(g, "x", {dt, c.x}), input(g, "w", {dt, c.w}), c.stride, c.padding,
             c.dilation);
      const Tensor x = random({dt, c.x}, rng), w = random({dt, c.w}, rng);
      Lowered gemm = runConv(g, "gemm", x, w), direct = runConv(g, "direct", x, w);
      CHECK(gemm.kernel == int64_t(jit::kernels::ConvKernel::Gemm));
      CHECK(direct.kernel == int64_t(jit::kernels::ConvKernel::Direct));
      CHECK(gemm.slots == 1);
      CHECK(direct.slots >= 1);
      CHECK(direct.slots <= c.x[0]);
      if (c.x[0] == 7)
        CHECK(direct.slots > 1);
      { // the slots on threads give the same bits as on the calling thread
        testing::ScopedSplitMode one("1");
        Lowered serial = runConv(g, "direct", x, w);
        testing::ScopedSplitMode force("force");
        Lowered split = runConv(g, "direct", x, w);
        CHECK(split.y == serial.y);
        CHECK(serial.y == direct.y);
      }
      // Sums of C*KH*KW products of magnitude <= 1 in another order.
      const double tol = (dt == DType::f32 ? 1e-6 : 1e-14) * double(c.w[1] * c.w[2] * c.w[3]);
      const std::string what = "x " + std::to_string(c.x[1]) + "x" + std::to_string(c.x[2]) +
                               "x" + std::to_string(c.x[3]) + " " + std::string(dtypeName(dt));
      checkClose(direct.y, gemm.y, tol, what + ", direct");
      if (dt == DType::f32) {
        checkClose(directAtWidth<float, 4>(g, x, w), gemm.y, tol, what + ", 4 lanes");
        checkClose(directAtWidth<float, 8>(g, x, w), gemm.y, tol, what + ", 8 lanes");
      } else {
        checkClose(directAtWidth<double, 2>(g, x, w), gemm.y, tol, what + ", 2 lanes");
        checkClose(directAtWidth<double, 4>(g, x, w), gemm.y, tol, what + ", 4 lanes");
      }
    }
}

namespace {
// storeLanes at V lanes of T: every count of lanes writes exactly those
// elements, in order, and nothing past them.
template <typename T, int V> void checkStoreLanes() {
  typedef T Vec __attribute__((vector_size(V * sizeof(T))));
  Vec v;
  for (int l = 0; l < V; ++l)
    v[l] = T(l + 1);
  for (int64_t lanes = 1; lanes <= V; ++lanes) {
    T out[V + 2];
    std::fill(out, out + V + 2, T(-7));
    jit::kernels::direct::storeLanes<T, V>(v, lanes, out + 1);
    CAPTURE(V);
    CAPTURE(lanes);
    CHECK(out[0] == T(-7));
    for (int64_t l = 0; l < V; ++l)
      CHECK(out[1 + l] == (l < lanes ? T(l + 1) : T(-7)));
    CHECK(out[V + 1] == T(-7));
  }
}
} // namespace

TEST_CASE("JitConvKernel: a row's last vector stores exactly its lanes, at every width") {
  checkStoreLanes<float, 4>();
  checkStoreLanes<float, 8>();
  checkStoreLanes<float, 16>();
  checkStoreLanes<double, 2>();
  checkStoreLanes<double, 4>();
  checkStoreLanes<double, 8>();
}

TEST_CASE("JitConvKernel: unset, the choice is measured and remembered per shape") {
  testing::ScopedEnv env("CHAINJIT_CONV_KERNEL", nullptr);
  const jit::kernels::Window layer1{1, 1, 28, 28, 5, 5, 28, 28, 1, 1, 2, 2, 1, 1};
  const auto first =
      jit::kernels::chooseConvKernel(jit::kernels::ConvPass::Forward, layer1, 8, DType::f32);
  CHECK((first == jit::kernels::ConvKernel::Gemm || first == jit::kernels::ConvKernel::Direct));
  for (int i = 0; i < 3; ++i) // cached: the same answer however the machine's load moves
    CHECK(jit::kernels::chooseConvKernel(jit::kernels::ConvPass::Forward, layer1, 8, DType::f32) ==
          first);
  const jit::kernels::ConvTiming t =
      jit::kernels::measureConvKernels(jit::kernels::ConvPass::Forward, layer1, 8, DType::f32);
  CHECK(t.gemm > 0);
  CHECK(t.direct > 0);
}

TEST_CASE("JitConvKernel: the measured choice is stored per machine and read back") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("chainjit-conv-choice-" + std::to_string(getpid()));
  fs::remove_all(dir);
  const jit::kernels::Window layer2{1, 8, 14, 14, 3, 3, 14, 14, 1, 1, 1, 1, 1, 1};
  const jit::ObjectCache cache(dir.string());
  const std::string key =
      jit::kernels::convChoiceKey(jit::kernels::ConvPass::Forward, layer2, 16, DType::f32);
  CHECK(key != jit::kernels::convChoiceKey(jit::kernels::ConvPass::Forward, layer2, 16,
                                           DType::f64)); // per dtype
  CHECK(key != jit::kernels::convChoiceKey(jit::kernels::ConvPass::Forward, layer2, 8,
                                           DType::f32)); // per shape
  // A miss measures and stores.
  const auto measured = jit::kernels::loadOrMeasureConvKernel(
      dir.string(), jit::kernels::ConvPass::Forward, layer2, 16, DType::f32);
  REQUIRE(fs::exists(cache.entryPath(key)));
  CHECK(cache.load(key).object == std::string(measured == jit::kernels::ConvKernel::Direct
                                                  ? "direct"
                                                  : "gemm"));
  // A stored choice is used as it is, either way.
  cache.store(key, "gemm");
  CHECK(jit::kernels::loadOrMeasureConvKernel(dir.string(), jit::kernels::ConvPass::Forward, layer2,
                                              16, DType::f32) == jit::kernels::ConvKernel::Gemm);
  cache.store(key, "direct");
  CHECK(jit::kernels::loadOrMeasureConvKernel(dir.string(), jit::kernels::ConvPass::Forward, layer2,
                                              16, DType::f32) == jit::kernels::ConvKernel::Direct);
  // A damaged entry, or a sound one that holds no choice, is measured again
  // and replaced.
  for (const char *bad : {"", "neither"}) {
    if (*bad)
      cache.store(key, bad);
    else
      std::ofstream(cache.entryPath(key), std::ios::binary | std::ios::trunc) << "CJCACHE1 junk";
    const auto k = jit::kernels::loadOrMeasureConvKernel(
        dir.string(), jit::kernels::ConvPass::Forward, layer2, 16, DType::f32);
    CHECK(cache.load(key).object ==
          std::string(k == jit::kernels::ConvKernel::Direct ? "direct" : "gemm"));
  }
  fs::remove_all(dir);
}

TEST_CASE("JitConvKernel: forward, gradient and tangent graphs match the interpreter on both "
          "kernels") {
  for (const char *kernel : {"gemm", "direct"})
    for (DType dt : {DType::f32, DType::f64}) {
      INFO("kernel " << kernel << ", dtype " << dtypeName(dt));
      testing::ScopedEnv env("CHAINJIT_CONV_KERNEL", kernel);
      Graph f("conv");
      Value x = input(f, "x", {dt, {2, 3, 9, 7}});
      Value w = input(f, "w", {dt, {5, 3, 3, 3}});
      Value y = conv2d(x, w, {1, 2}, {1, 1}, {1, 1});
      output(sum(tanh(y) * y).named("loss"));
      const runtime::Bindings b = testing::randomBindings(f, 9);
      testing::checkJitMatchesInterpreter(f, b);
      Graph gr = compiler::grad(f, "loss", {"x", "w"});
      testing::checkJitMatchesInterpreter(gr, testing::randomBindings(gr, 9));
      Graph tangent = compiler::jvp(f, "loss", {"x", "w"}, 2);
      testing::checkJitMatchesInterpreter(tangent, testing::randomBindings(tangent, 9));
    }
}

namespace {

// relu(conv2d(x, w) + b) with b [1, O, 1, 1]; with alsoConv the conv2d is an
// output too, which keeps the plan from fusing it.
Graph biasReluLayer(DType dt, const Case &c, bool alsoConv) {
  Graph g("layer");
  Value y =
      conv2d(input(g, "x", {dt, c.x}), input(g, "w", {dt, c.w}), c.stride, c.padding, c.dilation)
          .named("y");
  Value a = relu(y + input(g, "b", {dt, {1, c.w[0], 1, 1}})).named("a");
  output(a);
  if (alsoConv)
    output(y);
  return g;
}

bool sameBits(const Tensor &a, const Tensor &b) {
  return a.type() == b.type() && std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

} // namespace

TEST_CASE("JitConvKernel: the bias and relu epilogue gives the add and relu loop's bits") {
  std::mt19937 rng(9);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dt : {DType::f32, DType::f64})
    for (const Case &c : kCases) {
      CAPTURE(dtypeName(dt));
      CAPTURE(c.x[1]);
      CAPTURE(c.x[2]);
      CAPTURE(c.w[0]);
      const Graph fused = biasReluLayer(dt, c, false), apart = biasReluLayer(dt, c, true);
      compiler::JitOptions o;
      o.useCache = false;
      const std::string plan = compiler::emitGraph(fused, compiler::EmitKind::Plan, o);
      INFO(plan);
      CHECK(plan.find("%a = relu fusing add conv2d -> cj_conv2d") != std::string::npos);
      CHECK(plan.find("(bias %b and relu)") != std::string::npos);
      CHECK(compiler::emitGraph(apart, compiler::EmitKind::Plan, o).find("and relu)") ==
            std::string::npos);
      // Channel 0's bias NaN (relu passes it), channel 1's large and
      // negative (zeros, from negative sums), an input NaN and infinity.
      runtime::Bindings b{{"x", random({dt, c.x}, rng)},
                          {"w", random({dt, c.w}, rng)},
                          {"b", random({dt, {1, c.w[0], 1, 1}}, rng)}};
      if (c.w[0] > 1) {
        b.at("b").set(0, nan);
        b.at("b").set(1, -1e3);
      }
      b.at("x").set(0, nan);
      b.at("x").set(b.at("x").numel() - 1, std::numeric_limits<double>::infinity());
      for (const char *kernel : {"gemm", "direct"}) {
        CAPTURE(kernel);
        testing::ScopedEnv env("CHAINJIT_CONV_KERNEL", kernel);
        const Tensor got =
            runtime::makeExecutable(fused, runtime::Backend::Jit, o)->run(b).outputs[0];
        const Tensor want =
            runtime::makeExecutable(apart, runtime::Backend::Jit, o)->run(b).outputs[0];
        CHECK(sameBits(got, want));
      }
      // The direct kernel's epilogue at each vector width: its output equals
      // the plain kernel's with relu(y + b) applied after.
      const NodeId conv = *fused.find("y");
      Graph alone;
      conv2d(input(alone, "x", {dt, c.x}), input(alone, "w", {dt, c.w}), c.stride, c.padding,
             c.dilation);
      REQUIRE(alone.type(NodeId(alone.size() - 1)) == fused.type(conv));
      auto check = [&](auto zero, auto lanes) {
        using T = decltype(zero);
        constexpr int V = decltype(lanes)::value;
        const Tensor &bias = b.at("b");
        Tensor plain = directAtWidth<T, V>(alone, b.at("x"), b.at("w"));
        const Tensor withBias = directAtWidth<T, V>(alone, b.at("x"), b.at("w"), &bias);
        const int64_t plane = c.x[0] > 0 ? plain.numel() / (c.x[0] * c.w[0]) : 1;
        T *p = static_cast<T *>(plain.data());
        for (int64_t i = 0; i < plain.numel(); ++i)
          jit::kernels::direct::biasRelu(p[i],
                                         static_cast<const T *>(bias.data())[(i / plane) % c.w[0]]);
        CHECK_MESSAGE(sameBits(withBias, plain), V << " lanes");
      };
      if (dt == DType::f32) {
        check(float(0), std::integral_constant<int, 4>{});
        check(float(0), std::integral_constant<int, 8>{});
      } else {
        check(double(0), std::integral_constant<int, 2>{});
        check(double(0), std::integral_constant<int, 4>{});
      }
    }
}

TEST_CASE("JitConvKernel: no epilogue where the add or the conv2d is read elsewhere") {
  const Case &c = kCases[0];
  compiler::JitOptions o;
  o.useCache = false;
  { // the relu's derivative reads the add: greater(add, 0)
    Graph g("mask");
    Value s =
        conv2d(input(g, "x", f32(c.x)), input(g, "w", f32(c.w)), c.stride, c.padding, c.dilation) +
        input(g, "b", f32({1, c.w[0], 1, 1}));
    output(relu(s).named("a"));
    output(cast(greater(s, constant(g, Tensor(f32({}), {0.0}))), DType::f32).named("mask"));
    CHECK(compiler::emitGraph(g, compiler::EmitKind::Plan, o).find("and relu)") ==
          std::string::npos);
  }
  { // a bias along the last axis ([W]) is not one per channel
    Graph g("rows");
    Value y =
        conv2d(input(g, "x", f32(c.x)), input(g, "w", f32(c.w)), c.stride, c.padding, c.dilation);
    output(relu(y + input(g, "b", f32({y.type().shape[3]}))).named("a"));
    CHECK(compiler::emitGraph(g, compiler::EmitKind::Plan, o).find("and relu)") ==
          std::string::npos);
  }
}
