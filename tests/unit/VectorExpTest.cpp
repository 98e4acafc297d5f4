// e^x over arrays for the softmax and cross-entropy kernels
// (compiler/src/jit/kernels/VectorExp.h): each vector width this CPU runs
// agrees with the scalar expf to a few ulps on every tail length and on the
// special values, and softmax / cross_entropy rows longer than one chunk of
// the loss kernel's buffer match the interpreter.
#include "../../compiler/src/jit/kernels/VectorExp.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

using namespace chainjit;
namespace kernels = chainjit::compiler::jit::kernels;

namespace {

// The distance between a and b in floats (ulps); 0 for two NaNs or equal
// infinities.
int64_t ulpsApart(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? int64_t(std::numeric_limits<int32_t>::min()) - i : int64_t(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

// The ways this CPU can run (each vector width it has, and the entry point).
std::vector<std::pair<const char *, std::function<void(float *, int64_t)>>> ways() {
  std::vector<std::pair<const char *, std::function<void(float *, int64_t)>>> w;
  w.push_back({"expInPlace", [](float *x, int64_t n) { kernels::expInPlace(x, n); }});
#if defined(CHAINJIT_HAVE_LIBMVEC)
  if (kernels::simdLevel() >= 1)
    w.push_back({"8 lanes", kernels::vexp::avx2});
  if (kernels::simdLevel() >= 2)
    w.push_back({"16 lanes", kernels::vexp::avx512});
#endif
  return w;
}

} // namespace

TEST_CASE("vector exp: every width within 4 ulps of expf, on every tail length") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-90.0f, 10.0f);
  for (const auto &[name, exp] : ways())
    for (int64_t n = 0; n <= 50; ++n) {
      std::vector<float> x(static_cast<size_t>(n) + 1), want(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        want[size_t(i)] = std::exp(x[size_t(i)] = u(rng));
      x[size_t(n)] = 7.0f; // the element after the array stays as it was
      exp(x.data(), n);
      INFO(name << ", " << n << " elements");
      int64_t worst = 0;
      for (int64_t i = 0; i < n; ++i)
        worst = std::max(worst, ulpsApart(x[size_t(i)], want[size_t(i)]));
      CHECK(worst <= 4);
      CHECK(x[size_t(n)] == 7.0f);
    }
}

TEST_CASE("vector exp: special values as expf has them") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // 0, -0, infinities, NaN, overflow (89), the largest finite result
  // (88.7), underflow to subnormals (-100) and to zero (-104), and the
  // softmax's shifted logits (x - max <= 0).
  const std::vector<float> special = {0.0f,   -0.0f,   -inf,    inf,     nan,    89.0f,
                                      88.7f,  -100.0f, -104.0f, -87.3f,  -1e-8f, 1e-8f,
                                      -20.5f, -0.5f,   1.0f,    -150.0f, -1e30f, 1e30f};
  for (const auto &[name, exp] : ways()) {
    std::vector<float> x = special;
    exp(x.data(), int64_t(x.size()));
    for (size_t i = 0; i < special.size(); ++i) {
      INFO(name << ": e^" << special[i] << " = " << x[i]);
      const float want = std::exp(special[i]);
      if (std::fpclassify(want) == FP_SUBNORMAL) // libraries differ in the last bits there
        CHECK(std::fabs(x[i] - want) <=
              4 * std::numeric_limits<float>::denorm_min() + 1e-6f * want);
      else
        CHECK(ulpsApart(x[i], want) <= 4);
    }
  }
}

TEST_CASE("vector exp: f64 stays the scalar exp, bit for bit") {
  std::vector<double> x = {-700.0, -1.5, 0.0, 2.25, 700.0}, want;
  for (double v : x)
    want.push_back(std::exp(v));
  kernels::expInPlace(x.data(), int64_t(x.size()));
  CHECK(x == want);
}

TEST_CASE("vector exp: softmax and cross_entropy over groups of rows and pieces of rows") {
  // 70 rows: more than one group of 64 rows per call of expInPlace; 1500
  // classes: a row in pieces of cj_cross_entropy's 1024-logit buffer; 300:
  // three rows per piece; 17: vectors and tails across rows; 1: tails alone.
  constexpr int64_t kRows = 70;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-4.0, 4.0);
  for (int64_t classes : {1, 17, 300, 1500})
    for (ir::DType dt : {ir::DType::f32, ir::DType::f64}) {
      INFO(classes << " classes, " << ir::dtypeName(dt));
      ir::Graph g("rows");
      ir::Value x = ir::input(g, "x", {dt, {kRows, classes}});
      ir::Value labels = ir::input(g, "labels", ir::i32({kRows}));
      ir::output(ir::softmax(x, 1).named("p"));
      ir::output(ir::logSoftmax(x, 1).named("lp"));
      ir::output(ir::crossEntropy(x, labels).named("loss"));
      ir::Tensor logits({dt, {kRows, classes}}), lab(ir::i32({kRows}));
      for (int64_t i = 0; i < logits.numel(); ++i)
        logits.set(i, u(rng));
      for (int64_t i = 0; i < kRows; ++i)
        lab.set(i, double((i * 7) % classes));
      runtime::Bindings b{{"x", logits}, {"labels", lab}};
      runtime::EvalResult want = runtime::interpret(g, b);
      compiler::JitOptions o;
      o.useCache = false;
      runtime::EvalResult got = runtime::makeExecutable(g, runtime::Backend::Jit, o)->run(b);
      REQUIRE(got.outputs.size() == 3);
      // f32: a few ulps of each e^x, through sums of up to 300 terms.
      const double tol = dt == ir::DType::f32 ? 4e-6 : 1e-14;
      for (size_t o = 0; o < 3; ++o)
        for (int64_t i = 0; i < want.outputs[o].numel(); ++i) {
          const double w = want.outputs[o].at(i), v = got.outputs[o].at(i);
          INFO("output " << o << " element " << i << ": jit " << v << ", interpreter " << w);
          CHECK(std::fabs(v - w) <= tol * std::max(1.0, std::fabs(w)));
        }
    }
}
