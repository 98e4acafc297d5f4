// erf, gelu, variance and layer_norm: the interpreter against hand-computed
// values, first and second derivatives against finite differences on both
// backends, the JIT's lowering (generated erf/gelu loops, the library kernels
// of variance and layer_norm), and accuracy in f32 on rows with a large mean.
#include "GradCheck.h"
#include "RandomGraph.h"

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <functional>
#include <numbers>
#include <random>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkDerivatives;
using chainjit::testing::checkJitMatchesInterpreter;
using chainjit::testing::randomBindings;

namespace {

// The single output of a one-op graph over input %x of the given values.
std::vector<double> eval(const std::function<Value(Value)> &op, const Shape &shape,
                         const std::vector<double> &values, DType dt = DType::f64) {
  Graph g("case");
  Value x = input(g, "x", {dt, shape});
  output(op(x).named("y"));
  runtime::Bindings b{{"x", Tensor({dt, shape}, values)}};
  return runtime::interpret(g, b).outputs.at(0).toDoubles();
}

void checkClose(const std::vector<double> &got, const std::vector<double> &want,
                double tol = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    CHECK(std::fabs(got[i] - want[i]) <= tol * std::max(1.0, std::fabs(want[i])));
  }
}

// y = build(inputs) over f64 inputs a, b, c: tangents and adjoints against
// finite differences (and the JIT against the interpreter on the function and
// its derivative graphs), then the gradient of sum(y^2) differentiated again.
void checkRules(const std::vector<Shape> &shapes,
                const std::function<Value(std::vector<Value> &)> &build, double lo = -2.0,
                double hi = 2.0, uint32_t seed = 11) {
  Graph g("case");
  std::vector<Value> in;
  std::vector<std::string> names;
  const char *letters[] = {"a", "b", "c"};
  for (size_t i = 0; i < shapes.size(); ++i) {
    in.push_back(input(g, letters[i], f64(shapes[i])));
    names.push_back(letters[i]);
  }
  output(build(in).named("y"));
  runtime::Bindings b = randomBindings(g, seed, lo, hi);
  checkDerivatives(g, b, "y", names);
  Value y = Value(g, g.lookup("y"));
  output(sum(y * y).named("s"));
  Graph gg = compiler::grad(g, "s", names);
  checkDerivatives(gg, b, "grad." + names.front(), names, 1e-6);
}

} // namespace

TEST_CASE("normalization ops: erf and gelu (both forms) match hand-computed values") {
  // erf(0.5), erf(1), erf(-2) from tables; gelu(x) = x Phi(x).
  checkClose(eval([](Value x) { return erf(x); }, {4}, {0, 0.5, 1, -2}),
             {0, 0.5204998778130465, 0.8427007929497149, -0.9953222650189527});
  checkClose(eval([](Value x) { return gelu(x); }, {4}, {0, 1, -1, 3}),
             {0, 0.8413447460685429, -0.15865525393145707, 2.99595030590511});
  // The tanh approximation: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
  auto approx = [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
  };
  checkClose(eval([](Value x) { return gelu(x, true); }, {3}, {1, -1, 2.5}),
             {approx(1), approx(-1), approx(2.5)});
  CHECK(std::fabs(approx(1) - 0.8411919906082768) < 1e-15);
  // Far in the left tail the exact form keeps its digits (1 + erf would round
  // to 0): gelu(-10) = -10 Phi(-10) = -7.619853024160526e-23.
  std::vector<double> tail = eval([](Value x) { return gelu(x); }, {1}, {-10});
  CHECK(tail[0] == doctest::Approx(-7.619853024160526e-23).epsilon(1e-12));
}

TEST_CASE("normalization ops: variance over axes, with keepdims and a correction") {
  checkClose(eval([](Value x) { return variance(x); }, {4}, {1, 2, 3, 4}), {1.25});
  checkClose(eval([](Value x) { return variance(x, {}, false, 1); }, {4}, {1, 2, 3, 4}),
             {5.0 / 3.0});
  // [[1, 2, 4], [3, 3, 9]]: rows, columns (kept as [1, 3]), and both.
  std::vector<double> m{1, 2, 4, 3, 3, 9};
  checkClose(eval([](Value x) { return variance(x, {1}); }, {2, 3}, m), {14.0 / 9.0, 8.0});
  checkClose(eval([](Value x) { return variance(x, {-2}, true, 1); }, {2, 3}, m), {2, 0.5, 12.5});
  Graph g("kept");
  Value x = input(g, "x", f64({2, 3}));
  CHECK(variance(x, {0}, true).shape() == Shape{1, 3});
  // n - correction must stay positive.
  CHECK_THROWS_WITH_AS(variance(x, {0}, false, 2),
                       doctest::Contains("correction 2 needs more than 2 elements"), Error);
  CHECK_THROWS_WITH_AS(variance(x, {}, false, -1), doctest::Contains("non-negative"), Error);
}

TEST_CASE("normalization ops: layer_norm over the trailing axes, with scale and shift") {
  const double eps = 1e-5;
  // One row [1, 2, 3]: mean 2, variance 2/3.
  double r = 1 / std::sqrt(2.0 / 3.0 + eps);
  checkClose(eval([](Value x) { return layerNorm(x); }, {1, 3}, {1, 2, 3}), {-r, 0, r});
  Graph g("ln");
  Value x = input(g, "x", f64({2, 2, 2}));
  Value scale = constant(g, Tensor(f64({2, 2}), {1, 2, 3, 4}));
  Value shift = constant(g, Tensor(f64({2, 2}), {0, 0, 0, 10}));
  output(layerNorm(x, scale, shift, 1, 0.5).named("y"));
  // Row 0: [0, 2, 4, 6], mean 3, var 5; row 1: all 7, var 0.
  runtime::Bindings b{{"x", Tensor(f64({2, 2, 2}), {0, 2, 4, 6, 7, 7, 7, 7})}};
  double r0 = 1 / std::sqrt(5.5);
  checkClose(runtime::interpret(g, b).outputs[0].toDoubles(),
             {-3 * r0, -1 * 2 * r0, 1 * 3 * r0, 3 * 4 * r0 + 10, 0, 0, 0, 10});
  CHECK_THROWS_WITH_AS(layerNorm(x, scale, std::nullopt, -1), doctest::Contains("scale"), Error);
  CHECK_THROWS_AS(layerNorm(x, std::nullopt, shift, 1), Error);
}

TEST_CASE("normalization rules: erf and gelu, first and second derivatives") {
  checkRules({{2, 3}}, [](auto &v) { return erf(v[0]); });
  checkRules({{2, 3}}, [](auto &v) { return gelu(v[0]); }, -4, 4);
  checkRules({{2, 3}}, [](auto &v) { return gelu(v[0], true); }, -4, 4);
}

TEST_CASE("normalization rules: variance, first and second derivatives") {
  checkRules({{2, 3, 4}}, [](auto &v) { return variance(v[0]); });
  checkRules({{2, 3, 4}}, [](auto &v) { return variance(v[0], {1}, false, 1); });
  checkRules({{2, 3, 4}}, [](auto &v) { return variance(v[0], {0, -1}, true); });
  checkRules({{3, 4}}, [](auto &v) { return variance(v[0] * v[0], {-1}, true, 1) * v[0]; });
}

TEST_CASE("normalization rules: layer_norm with respect to x, scale and shift") {
  checkRules({{3, 4}}, [](auto &v) { return layerNorm(v[0]); });
  checkRules({{3, 4}, {4}}, [](auto &v) { return layerNorm(v[0], v[1]); });
  checkRules({{2, 3, 2}, {3, 2}, {3, 2}},
             [](auto &v) { return layerNorm(v[0], v[1], v[2], 1, 1e-3); });
  checkRules({{4}, {4}, {4}}, [](auto &v) { return layerNorm(v[0], v[1], v[2], 0, 0.1); });
}

TEST_CASE("normalization JIT: erf and gelu are generated loops, variance and layer_norm library calls") {
  Graph g("plan");
  Value x = input(g, "x", f32({8, 16}));
  Value s = input(g, "s", f32({16}));
  output((gelu(x) + gelu(x, true) * erf(x)).named("act"));
  output(variance(x, {0}, true, 1).named("v"));
  output(layerNorm(x, s, s).named("ln"));
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan, {});
  INFO(plan);
  CHECK(plan.find("loop %act = add fusing") != std::string::npos);
  CHECK(plan.find("gelu") != std::string::npos);
  CHECK(plan.find("erf") != std::string::npos);
  CHECK(plan.find("-> cj_variance_f32") != std::string::npos);
  CHECK(plan.find("-> cj_layer_norm_f32") != std::string::npos);
  checkJitMatchesInterpreter(g, randomBindings(g, 3, -3, 3));
}

TEST_CASE("normalization JIT: variance over every set of axes, both float types") {
  for (DType dt : {DType::f32, DType::f64})
    for (int mask = 0; mask < 16; ++mask)
      for (bool keep : {false, true}) {
        Graph g("var");
        Value x = input(g, "x", {dt, {3, 1, 4, 5}});
        Ints axes;
        for (int64_t d = 0; d < 4; ++d)
          if (mask & (1 << d))
            axes.push_back(d);
        output(variance(x, axes, keep, mask % 3 == 0 && mask != 2 ? 1 : 0).named("v"));
        CAPTURE(mask);
        checkJitMatchesInterpreter(g, randomBindings(g, static_cast<uint32_t>(mask), -2, 2));
      }
  // An empty reduction is NaN on both backends (as mean's 0/0); empty rows
  // and an empty result compute nothing.
  Graph g("empty");
  Value e = input(g, "e", f32({0, 3}));
  output(variance(e, {0}).named("nan"));
  output(variance(e, {1}).named("none"));
  output(layerNorm(e, std::nullopt, std::nullopt, 0).named("ln"));
  runtime::Bindings b{{"e", Tensor(f32({0, 3}))}};
  checkJitMatchesInterpreter(g, b);
  auto out = runtime::interpret(g, b).outputs;
  CHECK(out[0].numel() == 3);
  CHECK(std::isnan(out[0].at(0)));
  CHECK(out[1].numel() == 0);
}

TEST_CASE("normalization JIT: gelu and erf at the extremes agree with the interpreter") {
  for (DType dt : {DType::f32, DType::f64}) {
    Graph g("extremes");
    Value x = input(g, "x", {dt, {8}});
    output(erf(x).named("e"));
    output(gelu(x).named("g"));
    output(gelu(x, true).named("t"));
    runtime::Bindings b{{"x", Tensor({dt, {8}}, {-30, -9, -3.5, -1e-20, 0, 1e-3, 6, 40})}};
    checkJitMatchesInterpreter(g, b);
    // No NaN or inf anywhere: the tails go to 0 and x.
    for (const Tensor &t : runtime::interpret(g, b).outputs)
      for (double v : t.toDoubles())
        CHECK(std::isfinite(v));
  }
}

// Rows of 1e4 + noise: in f32 E[x^2] - E[x]^2 would cancel every digit of the
// variance. Both backends in f32 must match the f64 result on the same
// (f32-representable) values to f32 precision, forward and gradients.
TEST_CASE("normalization f32: layer_norm and variance of rows with a large mean") {
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  const int64_t rows = 4, n = 64;
  std::vector<double> values(rows * n), seed(rows * n);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = double(float(1e4 + noise(rng))); // exactly representable in f32
    seed[i] = double(float(noise(rng)));
  }
  std::vector<double> gamma(n);
  for (double &v : gamma)
    v = double(float(1 + 0.1 * noise(rng)));
  auto build = [&](DType dt) {
    Graph g("stable");
    Value x = input(g, "x", {dt, {rows, n}});
    Value s = input(g, "s", {dt, {n}});
    Value y = layerNorm(x, s, std::nullopt, -1, 1e-5).named("y");
    output(y);
    output(variance(x, {1}, false, 1).named("v"));
    output(sum(y * input(g, "w", {dt, {rows, n}})).named("loss"));
    return g;
  };
  auto bindings = [&](DType dt) {
    return runtime::Bindings{{"x", Tensor({dt, {rows, n}}, values)},
                             {"s", Tensor({dt, {n}}, gamma)},
                             {"w", Tensor({dt, {rows, n}}, seed)}};
  };
  Graph f64Graph = build(DType::f64), f32Graph = build(DType::f32);
  Graph f64Grad = compiler::grad(f64Graph, "loss", {"x", "s"});
  Graph f32Grad = compiler::grad(f32Graph, "loss", {"x", "s"});
  auto want = runtime::interpret(f64Graph, bindings(DType::f64)).outputs;
  auto wantGrad = runtime::interpretAll(f64Grad, bindings(DType::f64));
  for (runtime::Backend backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
    CAPTURE(int(backend));
    auto got = runtime::makeExecutable(f32Graph, backend)->run(bindings(DType::f32)).outputs;
    // y is O(1): within a few f32 units in the last place of it.
    for (int64_t i = 0; i < rows * n; ++i)
      CHECK(std::fabs(got[0].at(i) - want[0].at(i)) <= 1e-6 * std::max(1.0, std::fabs(want[0].at(i))));
    for (int64_t r = 0; r < rows; ++r) {
      CHECK(want[1].at(r) > 0.5);
      CHECK(std::fabs(got[1].at(r) - want[1].at(r)) <= 1e-6 * want[1].at(r));
    }
    auto grad = runtime::makeExecutable(f32Grad, backend)->run(bindings(DType::f32)).outputs;
    for (size_t k = 0; k < 2; ++k) {
      const char *name = k == 0 ? "grad.x" : "grad.s";
      const Tensor &w = wantGrad.at(f64Grad.lookup(name));
      const auto &outs = f32Grad.outputs();
      size_t at = std::find(outs.begin(), outs.end(), f32Grad.lookup(name)) - outs.begin();
      REQUIRE(at < outs.size());
      double scale = 0;
      for (int64_t i = 0; i < w.numel(); ++i)
        scale = std::max(scale, std::fabs(w.at(i)));
      for (int64_t i = 0; i < w.numel(); ++i) {
        INFO(name << " element " << i);
        CHECK(std::fabs(grad[at].at(i) - w.at(i)) <= 1e-5 * scale);
      }
    }
  }
}

// The variance rule centres x twice, so even its composed f32 derivative
// (generated mean and sub loops) keeps the digits of rows like 1e4 + noise.
TEST_CASE("normalization f32: the variance gradient of rows with a large mean") {
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> values(3 * 200);
  for (double &v : values)
    v = double(float(1e4 + noise(rng)));
  auto gradient = [&](DType dt, runtime::Backend backend) {
    Graph g("vg");
    Value x = input(g, "x", {dt, {3, 200}});
    output(sum(variance(x, {1})).named("v"));
    Graph d = compiler::grad(g, "v", {"x"});
    runtime::Bindings b{{"x", Tensor({dt, {3, 200}}, values)}};
    const auto &outs = d.outputs();
    size_t at = std::find(outs.begin(), outs.end(), d.lookup("grad.x")) - outs.begin();
    return runtime::makeExecutable(d, backend)->run(b).outputs.at(at).toDoubles();
  };
  std::vector<double> want = gradient(DType::f64, runtime::Backend::Interp);
  for (runtime::Backend backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
    std::vector<double> got = gradient(DType::f32, backend);
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("element " << i << " backend " << int(backend));
      // 2 (x - mean) / n, about 1e-2, to f32 precision (about 2e-9 here). With
      // x - mean(x) centred once, the f32 mean (off by up to half a unit in
      // 1e4's last place, 5e-4) would give errors near 5e-6.
      CHECK(std::fabs(got[i] - want[i]) <= 2e-8);
    }
  }
}

TEST_CASE("normalization: random graphs with the new ops agree on both backends, derivatives too") {
  int used = 0;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    testing::RandomGraphOptions o;
    o.dtype = seed % 2 ? DType::f64 : DType::f32;
    o.linalg = o.losses = o.shapes = false;
    o.smoothOnly = true;
    o.scalarOutput = true;
    o.numOps = 6;
    Graph f = testing::randomGraph(seed, o);
    for (const Node &n : f.nodes())
      used += n.kind == OpKind::Erf || n.kind == OpKind::Gelu || n.kind == OpKind::Variance ||
              n.kind == OpKind::LayerNorm;
    INFO("seed " << seed << ":\n" << printGraph(f));
    runtime::Bindings b = randomBindings(f, static_cast<uint32_t>(seed));
    checkJitMatchesInterpreter(f, b);
    NodeId out = f.outputs()[0];
    if (f.node(out).name.empty())
      f.setNodeName(out, "result");
    std::vector<std::string> wrt;
    for (NodeId i : f.inputs())
      wrt.push_back(f.node(i).name);
    Graph d = compiler::grad(f, f.node(out).name, wrt);
    checkJitMatchesInterpreter(d, b);
  }
  CHECK(used >= 10);
}

TEST_CASE("normalization cost model: erf and gelu are diagonal, variance and layer_norm dense") {
  Graph g("costs");
  Value x = input(g, "x", f64({8, 16}));
  Value s = input(g, "s", f64({16}));
  Value h = layerNorm(gelu(erf(x)), s, s);
  output(sum(variance(h, {1})).named("y"));
  auto costOf = [&](OpKind k) {
    for (NodeId id = 0; id < g.size(); ++id)
      if (g.node(id).kind == k) {
        std::vector<bool> active(g.node(id).operands.size(), false);
        active[0] = true;
        return compiler::opCost(g, id, active);
      }
    FAIL("no " << opName(k));
    throw;
  };
  using S = compiler::JacobianStructure;
  for (OpKind k : {OpKind::Erf, OpKind::Gelu}) {
    compiler::OpCost c = costOf(k);
    CHECK(c.structure == S::Diagonal);
    CHECK(c.tangent == 128);
    CHECK(c.adjoint == 128);
  }
  compiler::OpCost v = costOf(OpKind::Variance), ln = costOf(OpKind::LayerNorm);
  CHECK(v.structure == S::Dense);
  CHECK(v.tangent == 2 * 128);
  CHECK(v.tapeBytes == 128 * 8); // reads its (computed) operand
  CHECK(ln.structure == S::Dense);
  CHECK(ln.tangent == 5 * 128);
  CHECK(ln.tapeBytes == 128 * 8); // x is computed; the scale is an input
  // The chain through them extracts and plans.
  compiler::GraphChain chain = compiler::extractChain(g, "y", {"x"});
  CHECK(chain.cuts.back() == g.lookup("y"));
}

// Hessians through layer_norm, gelu and variance: the rules' own rules
// (layer_norm's rules use layer_norm and variance) give the second
// derivatives, in forward-over-reverse and reverse-over-reverse modes alike.
TEST_CASE("normalization rules: the Hessian through layer_norm matches differences of the gradient") {
  Graph f("hess");
  Value x = input(f, "x", f64({2, 4}));
  Value s = input(f, "s", f64({4}));
  Value w = input(f, "w", f64({2, 4}));
  Value y = layerNorm(gelu(x), s, s, -1, 1e-3) * w;
  output((sum(y * y) + sum(variance(x, {1}, false, 1))).named("loss"));
  runtime::Bindings b = randomBindings(f, 21, -1.5, 1.5);
  Graph g = compiler::grad(f, "loss", {"x"});
  for (compiler::JacobianMode mode :
       {compiler::JacobianMode::Forward, compiler::JacobianMode::Reverse}) {
    Graph h = compiler::hessian(f, "loss", "x", mode);
    checkJitMatchesInterpreter(h, b);
    Tensor hess = testing::valueOf(h, b, "hessian.x");
    REQUIRE(hess.shape() == Shape{2, 4, 2, 4});
    for (int64_t j = 0; j < 8; ++j) {
      Tensor dir(f64({2, 4}));
      dir.set(j, 1.0);
      std::vector<double> fd = testing::finiteDifference(g, b, "grad.x", {{"x", dir}});
      for (int64_t i = 0; i < 8; ++i) {
        INFO("H[" << i << ", " << j << "]");
        CHECK(testing::relativeError(hess.at(i * 8 + j), fd[static_cast<size_t>(i)]) <= 1e-6);
      }
    }
  }
}
