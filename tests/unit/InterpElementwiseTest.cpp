// The interpreter's elementwise kernels against values computed by hand or
// from closed forms (ln 2, ln 3, tanh(ln 2) = 3/5, ...), including the
// numerically stable forms, NaN propagation and f32 rounding.
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include "InterpTesting.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::interpret;
using testing::c64;
using testing::checkClose;

namespace {


// Evaluates `v` as the graph's only output.
Tensor eval(Value v, const runtime::Bindings &b = {}) {
  output(v);
  return interpret(v.graph(), b).outputs.at(0);
}


const double ln2 = 0.69314718055994530942, ln3 = 1.09861228866810969140;
const double kE = 2.71828182845904523536;

} // namespace

TEST_CASE("interp: unary maps on hand-computed values") {
  Graph g;
  Value x = c64(g, {3}, {1, -2, 0});
  output(-x);
  output(abs(c64(g, {3}, {-3, 0, 2.5})));
  output(exp(c64(g, {3}, {0, 1, ln2})));
  output(log(c64(g, {3}, {1, kE, 0.5})));
  output(sqrt(c64(g, {3}, {4, 2, 0})));
  output(relu(c64(g, {3}, {-1, 0, 2})));
  output(tanh(c64(g, {2}, {0, ln2})));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{-1, 2, 0});
  CHECK(out[1].toDoubles() == std::vector<double>{3, 0, 2.5});
  checkClose(out[2], {1, kE, 2});
  checkClose(out[3], {0, 1, -ln2});
  checkClose(out[4], {2, 1.41421356237309504880, 0});
  CHECK(out[5].toDoubles() == std::vector<double>{0, 0, 2});
  // tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5.
  checkClose(out[6], {0, 0.6});
}

TEST_CASE("interp: sign is -1, 0 or 1, with sign(0) = 0") {
  Graph g;
  output(sign(c64(g, {5}, {-2, 0, 3, -0.0, -1e-300})));
  output(sign(constant(g, Tensor(i32({3}), {-5, 0, 7}))));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{-1, 0, 1, 0, -1});
  CHECK(out[1].type() == i32({3}));
  CHECK(out[1].toDoubles() == std::vector<double>{-1, 0, 1});
}

TEST_CASE("interp: pow with a constant exponent") {
  Graph g;
  output(pow(c64(g, {2}, {3, -2}), 2));
  output(pow(c64(g, {2}, {9, 0.25}), 0.5));
  output(pow(c64(g, {1}, {4}), -1));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{9, 4});
  CHECK(out[1].toDoubles() == std::vector<double>{3, 0.5});
  CHECK(out[2].toDoubles() == std::vector<double>{0.25});
}

TEST_CASE("interp: sigmoid and softplus are exact and stable") {
  Graph g;
  // sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4.
  output(sigmoid(c64(g, {5}, {0, ln3, -ln3, -1000, 1000})));
  // softplus(0) = ln 2, softplus(ln 3) = ln 4; far out it is max(x, 0).
  output(softplus(c64(g, {5}, {0, ln3, 1000, -1000, -40})));
  auto out = interpret(g, {}).outputs;
  checkClose(out[0], {0.5, 0.75, 0.25, 0, 1});
  CHECK(out[0].at(3) == 0.0); // no NaN from e^1000 / (1 + e^1000)
  CHECK(out[0].at(4) == 1.0);
  checkClose(out[1], {ln2, 2 * ln2, 1000, 0, 0});
  CHECK(out[1].at(2) == 1000.0); // not inf from log(1 + e^1000)
  // log(1 + e^-40) = e^-40 to double precision: tiny but not lost.
  CHECK(out[1].at(4) == doctest::Approx(4.248354255291589e-18).epsilon(1e-12));
}

TEST_CASE("interp: cast truncates toward zero to i32 and tests != 0 to bool") {
  Graph g;
  Value x = c64(g, {5}, {2.7, -2.7, 0.5, -0.5, 0});
  output(cast(x, DType::i32));
  output(cast(x, DType::boolean));
  output(cast(cast(x, DType::boolean), DType::f32));
  output(cast(c64(g, {3}, {1e10, -1e10, std::nan("")}), DType::i32));
  output(cast(c64(g, {1}, {0.1}), DType::f32));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{2, -2, 0, 0, 0});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 1, 1, 1, 0});
  CHECK(out[2].type() == f32({5}));
  CHECK(out[2].toDoubles() == std::vector<double>{1, 1, 1, 1, 0});
  // Out of range saturates; NaN becomes 0.
  CHECK(out[3].toDoubles() == std::vector<double>{2147483647, -2147483648.0, 0});
  CHECK(out[4].as<float>()[0] == 0.1f);
}

TEST_CASE("interp: binary arithmetic broadcasts like NumPy") {
  Graph g;
  Value col = c64(g, {2, 1}, {1, 2});
  Value row = c64(g, {3}, {10, 20, 30});
  output(col + row);
  output(row - col);
  output(col * row);
  output(row / col);
  output(maximum(c64(g, {3}, {1, 5, -2}), c64(g, {}, {0})));
  output(minimum(c64(g, {3}, {1, 5, -2}), c64(g, {}, {0})));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{2, 3});
  CHECK(out[0].toDoubles() == std::vector<double>{11, 21, 31, 12, 22, 32});
  CHECK(out[1].toDoubles() == std::vector<double>{9, 19, 29, 8, 18, 28});
  CHECK(out[2].toDoubles() == std::vector<double>{10, 20, 30, 20, 40, 60});
  CHECK(out[3].toDoubles() == std::vector<double>{10, 20, 30, 5, 10, 15});
  CHECK(out[4].toDoubles() == std::vector<double>{1, 5, 0});
  CHECK(out[5].toDoubles() == std::vector<double>{0, 0, -2});
}

TEST_CASE("interp: NaN propagates through relu, maximum and minimum") {
  Graph g;
  double nan = std::numeric_limits<double>::quiet_NaN();
  Value x = c64(g, {2}, {nan, 1});
  output(relu(x));
  output(maximum(x, c64(g, {2}, {0, nan})));
  output(minimum(x, c64(g, {}, {0})));
  for (const Tensor &t : interpret(g, {}).outputs)
    CHECK(std::isnan(t.at(0)));
  auto out = interpret(g, {}).outputs;
  CHECK(std::isnan(out[1].at(1)));
  CHECK(out[2].at(1) == 0);
}

TEST_CASE("interp: every comparison gives a bool mask, with broadcasting") {
  Graph g;
  Value a = c64(g, {3}, {1, 2, 3});
  Value two = c64(g, {}, {2});
  output(less(a, two));
  output(lessEqual(a, two));
  output(greater(a, two));
  output(greaterEqual(a, two));
  output(equal(a, two));
  output(notEqual(a, two));
  output(less(c64(g, {2, 1}, {1.5, 3}), a));
  Value nan = c64(g, {}, {std::nan("")});
  output(equal(nan, nan));
  output(notEqual(nan, nan));
  Value ints = constant(g, Tensor(i32({2}), {4, -1}));
  output(greater(ints, constant(g, Tensor(i32({2}), {-1, -1}))));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].type() == boolean({3}));
  CHECK(out[0].toDoubles() == std::vector<double>{1, 0, 0});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 1, 0});
  CHECK(out[2].toDoubles() == std::vector<double>{0, 0, 1});
  CHECK(out[3].toDoubles() == std::vector<double>{0, 1, 1});
  CHECK(out[4].toDoubles() == std::vector<double>{0, 1, 0});
  CHECK(out[5].toDoubles() == std::vector<double>{1, 0, 1});
  CHECK(out[6].shape() == Shape{2, 3});
  CHECK(out[6].toDoubles() == std::vector<double>{0, 1, 1, 0, 0, 0});
  CHECK(out[7].toDoubles() == std::vector<double>{0}); // NaN == NaN is false
  CHECK(out[8].toDoubles() == std::vector<double>{1});
  CHECK(out[9].toDoubles() == std::vector<double>{1, 0});
}

TEST_CASE("interp: where broadcasts its condition and both branches") {
  Graph g;
  Value cond = constant(g, Tensor(boolean({2, 1}), {1, 0}));
  Value a = c64(g, {3}, {1, 2, 3});
  Value b = c64(g, {}, {-1});
  Tensor r = eval(where(cond, a, b));
  CHECK(r.shape() == Shape{2, 3});
  CHECK(r.toDoubles() == std::vector<double>{1, 2, 3, -1, -1, -1});
}

TEST_CASE("interp: f32 results are the f64 result rounded once") {
  Graph g;
  Value big = constant(g, Tensor(f32({1}), {16777216}));
  Value one = constant(g, Tensor(f32({1}), {1}));
  output(big + one); // 2^24 + 1 is a tie: rounds to even, 2^24
  // Accumulated in f64, 1 + 2^-24 + 2^-24 = 1 + 2^-23 exactly; f32
  // accumulation would have lost both small terms.
  output(sum(constant(g, Tensor(f32({3}), {1, 0x1p-24, 0x1p-24}))));
  output(exp(one));
  output(constant(g, Tensor(f32({1}), {0.1})) * 3.0);
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].as<float>()[0] == 16777216.0f);
  CHECK(out[1].type() == f32());
  CHECK(out[1].as<float>()[0] == 1.0f + 0x1p-23f);
  CHECK(out[2].as<float>()[0] == static_cast<float>(kE));
  CHECK(out[3].as<float>()[0] == 0.1f * 3.0f);
}

TEST_CASE("interp: i32 arithmetic wraps around like machine integers") {
  Graph g;
  Value max = constant(g, Tensor(i32({1}), {2147483647}));
  Value min = constant(g, Tensor(i32({1}), {-2147483648.0}));
  output(max + constant(g, Tensor(i32({1}), {1})));
  output(-min);
  output(constant(g, Tensor(i32({2}), {7, -3})) * constant(g, Tensor(i32({}), {-2})));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].as<int32_t>()[0] == -2147483647 - 1);
  CHECK(out[1].as<int32_t>()[0] == -2147483647 - 1);
  CHECK(out[2].toDoubles() == std::vector<double>{-14, 6});
}
