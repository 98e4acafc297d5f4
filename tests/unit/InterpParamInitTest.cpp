// Param initializers (runtime/src/ParamInit.cpp): exact constants, the
// bounds and spreads of the random ones against their textbook formulas
// (Glorot: U(-sqrt(6/(fan_in+fan_out)), +...); He: N(0, 2/fan_in)), and
// determinism.
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::initialParamValue;

namespace {

Tensor init(TensorType t, Attrs attrs, std::string name = "p") {
  Graph g;
  Value p = param(g, std::move(name), std::move(t), std::move(attrs));
  return initialParamValue(g, p.id());
}

struct Moments {
  double mean = 0, stddev = 0, maxAbs = 0;
};

Moments moments(const Tensor &t) {
  Moments m;
  double n = double(t.numel()), sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    m.mean += t.at(i) / n;
    m.maxAbs = std::fmax(m.maxAbs, std::fabs(t.at(i)));
  }
  for (int64_t i = 0; i < t.numel(); ++i)
    sq += (t.at(i) - m.mean) * (t.at(i) - m.mean);
  m.stddev = std::sqrt(sq / n);
  return m;
}

} // namespace

TEST_CASE("param init: zeros, ones and const are exact") {
  CHECK(init(f32({2, 2}), {}).toDoubles() == std::vector<double>(4, 0.0));
  CHECK(init(f64({3}), {{"init", "ones"}}).toDoubles() == std::vector<double>(3, 1.0));
  CHECK(init(f64({2}), {{"init", "const"}, {"scale", 2.5}}).toDoubles() ==
        std::vector<double>(2, 2.5));
  Tensor tenth = init(f32({1}), {{"init", "const"}, {"scale", 0.1}});
  CHECK(tenth.as<float>()[0] == 0.1f); // rounded to the param's dtype
}

TEST_CASE("param init: uniform and glorot stay within their bounds") {
  Tensor u = init(f64({100, 100}), {{"init", "uniform"}, {"scale", 0.1}});
  Moments mu = moments(u);
  CHECK(mu.maxAbs <= 0.1);
  CHECK(mu.maxAbs > 0.099); // 10^4 samples reach close to the bound
  CHECK(std::fabs(mu.mean) < 4 * 0.1 / std::sqrt(3.0) / 100);
  // U(-a, a) has standard deviation a / sqrt(3).
  CHECK(mu.stddev == doctest::Approx(0.1 / std::sqrt(3.0)).epsilon(0.02));

  // fan_in = 200, fan_out = 300: bound sqrt(6 / 500).
  Tensor w = init(f64({200, 300}), {{"init", "glorot"}});
  double bound = std::sqrt(6.0 / 500.0);
  Moments mw = moments(w);
  CHECK(mw.maxAbs <= bound);
  CHECK(mw.maxAbs > 0.999 * bound);
  CHECK(mw.stddev == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.01));
}

TEST_CASE("param init: normal and he have the requested spread") {
  const int64_t n = 40000;
  Tensor z = init(f64({n}), {{"init", "normal"}, {"scale", 0.5}});
  Moments mz = moments(z);
  // Standard errors: 0.5 / sqrt(n) for the mean, 0.5 / sqrt(2n) for the std.
  CHECK(std::fabs(mz.mean) < 4 * 0.5 / std::sqrt(double(n)));
  CHECK(std::fabs(mz.stddev - 0.5) < 4 * 0.5 / std::sqrt(2.0 * n));

  // He for a [256, 128] matrix: std sqrt(2 / 256).
  Tensor h = init(f64({256, 128}), {{"init", "he"}});
  double sd = std::sqrt(2.0 / 256.0);
  CHECK(std::fabs(moments(h).stddev - sd) < 4 * sd / std::sqrt(2.0 * 256 * 128));

  // He for a conv weight [16, 8, 3, 3]: fan_in = 8 * 3 * 3 = 72, std 1/6.
  Tensor c = init(f64({16, 8, 3, 3}), {{"init", "he"}});
  CHECK(std::fabs(moments(c).stddev - 1.0 / 6) < 4 * (1.0 / 6) / std::sqrt(2.0 * 1152));
}

TEST_CASE("param init: deterministic, and keyed by seed and name") {
  Attrs normal{{"init", "normal"}};
  Tensor a = init(f32({64}), normal);
  CHECK(init(f32({64}), normal) == a);
  CHECK(!(init(f32({64}), {{"init", "normal"}, {"seed", int64_t{1}}}) == a));
  CHECK(!(init(f32({64}), normal, "q") == a));
}
