// The interpreter's layer kernels: conv2d and pooling on a 3x3 image
// [[1, 2, 3], [4, 5, 6], [7, 8, 9]] with every window summed by hand, and the
// statistics and reproducibility of the bernoulli mask.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/CounterRng.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::interpret;

namespace {

Value image(Graph &g, double sign = 1) {
  std::vector<double> v;
  for (int i = 1; i <= 9; ++i)
    v.push_back(sign * i);
  return constant(g, Tensor(f64({1, 1, 3, 3}), v));
}

Value kernel2x2(Graph &g) { // [[1, 2], [3, 4]]
  return constant(g, Tensor(f64({1, 1, 2, 2}), {1, 2, 3, 4}));
}

} // namespace

TEST_CASE("interp: conv2d of a 3x3 image with a 2x2 kernel") {
  Graph g;
  Value x = image(g), w = kernel2x2(g);
  output(conv2d(x, w));
  // Padding 1, stride 2: windows start at rows/cols -1 and 1.
  output(conv2d(x, w, {2, 2}, {1, 1}));
  // Dilation 2: the kernel taps the four corners.
  output(conv2d(x, w, {1, 1}, {0, 0}, {2, 2}));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{1, 1, 2, 2});
  // 1*1 + 2*2 + 3*4 + 4*5 = 37, then 47, 67, 77.
  CHECK(out[0].toDoubles() == std::vector<double>{37, 47, 67, 77});
  CHECK(out[1].shape() == Shape{1, 1, 2, 2});
  // [x00*4, x01*3 + x02*4, x10*2 + x20*4, full window at (1, 1)].
  CHECK(out[1].toDoubles() == std::vector<double>{4, 18, 36, 77});
  CHECK(out[2].shape() == Shape{1, 1, 1, 1});
  CHECK(out[2].toDoubles() == std::vector<double>{1 * 1 + 3 * 2 + 7 * 3 + 9 * 4});
}

TEST_CASE("interp: conv2d sums input channels and maps each output channel") {
  Graph g;
  // Two images (the second is the negated first), two input channels.
  Value x = constant(g, Tensor(f64({2, 2, 2, 2}),
                               {1, 2, 3, 4, 5, 6, 7, 8,
                                -1, -2, -3, -4, -5, -6, -7, -8}));
  // Output 0 = c0 + c1, output 1 = c0 - c1 (1x1 kernels).
  Value w = constant(g, Tensor(f64({2, 2, 1, 1}), {1, 1, 1, -1}));
  output(conv2d(x, w));
  Tensor r = interpret(g, {}).outputs.at(0);
  CHECK(r.shape() == Shape{2, 2, 2, 2});
  CHECK(r.toDoubles() == std::vector<double>{6, 8, 10, 12, -4, -4, -4, -4,
                                             -6, -8, -10, -12, 4, 4, 4, 4});
}

TEST_CASE("interp: max_pool2d never lets the padding win") {
  Graph g;
  output(maxPool2d(image(g, -1), {2, 2}, {2, 2}, {1, 1})); // all inputs < 0
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i)
    v[i] = i;
  output(maxPool2d(constant(g, Tensor(f64({1, 1, 4, 4}), v)), {2, 2}));
  auto out = interpret(g, {}).outputs;
  // Windows {x00}, {x01, x02}, {x10, x20}, {x11, x12, x21, x22}.
  CHECK(out[0].toDoubles() == std::vector<double>{-1, -2, -4, -5});
  CHECK(out[1].shape() == Shape{1, 1, 2, 2});
  CHECK(out[1].toDoubles() == std::vector<double>{5, 7, 13, 15});
}

TEST_CASE("interp: avg_pool2d counts the padding as zeros") {
  Graph g;
  output(avgPool2d(image(g), {2, 2}, {2, 2}, {1, 1}));
  output(avgPool2d(image(g), {2, 2}, {1, 1}));
  output(avgPool2d(constant(g, Tensor(f32({1, 1, 1, 1}), {3})), {3, 3}, {1, 1}, {1, 1}));
  auto out = interpret(g, {}).outputs;
  // 1/4, (2+3)/4, (4+7)/4, (5+6+8+9)/4: always divided by the kernel area.
  CHECK(out[0].toDoubles() == std::vector<double>{0.25, 1.25, 2.75, 7});
  CHECK(out[1].toDoubles() == std::vector<double>{3, 4, 6, 7});
  CHECK(out[2].as<float>()[0] == 3.0f / 9.0f);
}

TEST_CASE("interp: bernoulli masks have mean p and follow (seed, counter)") {
  Graph g;
  Value counter = input(g, "counter", i32());
  const int64_t n = 100000;
  const double p = 0.3;
  output(bernoulli(counter, {n}, p, 42));
  output(bernoulli(counter, {2, 3}, 0.0, 42, DType::f64));
  output(bernoulli(counter, {2, 3}, 1.0, 42, DType::f64));
  auto run = [&](int c) {
    return interpret(g, {{"counter", Tensor::scalar(DType::i32, c)}}).outputs;
  };
  auto out = run(7);
  const Tensor &mask = out[0];
  CHECK(mask.type() == f32({n}));
  double ones = 0;
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE((mask.at(i) == 0.0 || mask.at(i) == 1.0));
    ones += mask.at(i);
  }
  // Within 4 standard deviations of the binomial mean.
  double sigma = std::sqrt(p * (1 - p) / n);
  CHECK(std::fabs(ones / n - p) < 4 * sigma);
  // The definition: element i is 1 exactly when counterUniform(...) < p.
  for (int64_t i : {0, 1, 2, 99999})
    CHECK(mask.at(i) == (counterUniform(42, 7, i) < p ? 1.0 : 0.0));
  CHECK(out[1].toDoubles() == std::vector<double>(6, 0.0));
  CHECK(out[2].toDoubles() == std::vector<double>(6, 1.0));

  CHECK(run(7)[0] == mask);    // same seed and counter: the same mask
  CHECK(!(run(8)[0] == mask)); // the next counter: another mask
}
