// The interpreter's layer kernels: conv2d, pooling and unfold2d/fold2d on a
// 3x3 image [[1, 2, 3], [4, 5, 6], [7, 8, 9]] (and a 2-channel 4x4 one) with
// every window worked out by hand, the type rules of unfold2d/fold2d, and the
// statistics and reproducibility of the bernoulli mask.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/CounterRng.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

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

TEST_CASE("interp: unfold2d of a 3x3 image, plain, padded with -inf and dilated") {
  Graph g;
  const double inf = std::numeric_limits<double>::infinity();
  output(unfold2d(image(g), {2, 2}));
  // Padding 1, stride 2: windows start at rows/cols -1 and 1.
  output(unfold2d(image(g), {2, 2}, {2, 2}, {1, 1}, {1, 1}, -inf));
  // Dilation 2: the one window taps the four corners.
  output(unfold2d(image(g), {2, 2}, {1, 1}, {0, 0}, {2, 2}));
  // The max over each column is max_pool2d.
  output(max(unfold2d(image(g), {2, 2}, {2, 2}, {1, 1}, {1, 1}, -inf), {1}));
  output(maxPool2d(image(g), {2, 2}, {2, 2}, {1, 1}));
  auto out = interpret(g, {}).outputs;
  // Row kh*2 + kw, column oh*2 + ow.
  CHECK(out[0].shape() == Shape{1, 4, 4});
  CHECK(out[0].toDoubles() == std::vector<double>{1, 2, 4, 5,  //
                                                  2, 3, 5, 6,  //
                                                  4, 5, 7, 8,  //
                                                  5, 6, 8, 9});
  CHECK(out[1].shape() == Shape{1, 4, 4});
  CHECK(out[1].toDoubles() == std::vector<double>{-inf, -inf, -inf, 5, //
                                                  -inf, -inf, 4, 6,    //
                                                  -inf, 2, -inf, 8,    //
                                                  1, 3, 7, 9});
  CHECK(out[2].shape() == Shape{1, 4, 1});
  CHECK(out[2].toDoubles() == std::vector<double>{1, 3, 7, 9});
  CHECK(out[3].toDoubles() == out[4].toDoubles());
}

TEST_CASE("interp: unfold2d orders rows by channel, then kernel row, then kernel column") {
  Graph g;
  std::vector<double> v(32);
  for (int i = 0; i < 32; ++i)
    v[i] = i; // channel 0: 0..15, channel 1: 16..31, row-major 4x4
  Value x = constant(g, Tensor(f64({1, 2, 4, 4}), v));
  Value cols = unfold2d(x, {2, 2}, {2, 2});
  output(cols);
  output(fold2d(cols, {4, 4}, {2, 2}, {2, 2})); // windows do not overlap: x again
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{1, 8, 4});
  CHECK(out[0].toDoubles() == std::vector<double>{0,  2,  8,  10, 1,  3,  9,  11, //
                                                  4,  6,  12, 14, 5,  7,  13, 15, //
                                                  16, 18, 24, 26, 17, 19, 25, 27, //
                                                  20, 22, 28, 30, 21, 23, 29, 31});
  CHECK(out[1].shape() == Shape{1, 2, 4, 4});
  CHECK(out[1].toDoubles() == v);
}

TEST_CASE("interp: fold2d sums overlapping windows and drops the padding") {
  Graph g;
  // Every window of a 3x3 image folded back: each pixel times the number of
  // windows covering it (corners 1, edges 2, centre 4).
  output(fold2d(unfold2d(image(g), {2, 2}), {3, 3}, {2, 2}));
  // Ones in 9 windows of 4 taps (padding 1): 36 entries, but only the 16
  // that land on the 2x2 image are kept, each pixel hit by all 4 taps once.
  output(fold2d(constant(g, Tensor::filled(f64({1, 4, 9}), 1.0)), {2, 2}, {2, 2}, {1, 1},
                {1, 1}));
  // Two channels, a rectangular 2x1 kernel dilated by 2 along the height:
  // kernel row 0 writes image row 0, kernel row 1 writes image row 2.
  std::vector<double> v(12);
  for (int i = 0; i < 12; ++i)
    v[i] = i + 1;
  output(fold2d(constant(g, Tensor(f32({1, 4, 3}), v)), {3, 3}, {2, 1}, {1, 1}, {0, 0},
                {2, 1}));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{1, 4, 3, 8, 20, 12, 7, 16, 9});
  CHECK(out[1].shape() == Shape{1, 1, 2, 2});
  CHECK(out[1].toDoubles() == std::vector<double>{4, 4, 4, 4});
  CHECK(out[2].type() == f32({1, 2, 3, 3}));
  CHECK(out[2].toDoubles() == std::vector<double>{1, 2, 3, 0, 0, 0, 4, 5, 6, //
                                                  7, 8, 9, 0, 0, 0, 10, 11, 12});
}

TEST_CASE("unfold2d and fold2d: type rules") {
  Graph g;
  Value x = input(g, "x", f32({2, 3, 5, 6}));
  CHECK(unfold2d(x, {3, 2}).type() == f32({2, 18, 15}));
  // OH = (5 + 2 - 2*2 - 1) / 2 + 1 = 2, OW = (6 + 2 - 2 - 1) / 2 + 1 = 3.
  CHECK(unfold2d(x, {3, 3}, {2, 2}, {1, 1}, {2, 1}).type() == f32({2, 27, 6}));
  Value cols = input(g, "cols", f32({2, 18, 15}));
  CHECK(fold2d(cols, {5, 6}, {3, 2}).type() == f32({2, 3, 5, 6}));

  CHECK_THROWS_WITH_AS(unfold2d(x, {7, 1}),
                       doctest::Contains("window of extent 7 does not fit the padded height 5"),
                       Error);
  CHECK_THROWS_WITH_AS(unfold2d(x, {2}), doctest::Contains("kernel needs 2 entries"), Error);
  CHECK_THROWS_WITH_AS(unfold2d(cols, {2, 2}), doctest::Contains("rank"), Error);
  CHECK_THROWS_WITH_AS(fold2d(cols, {5, 6}, {2, 2}),
                       doctest::Contains("18 rows, not a multiple of the kernel area 2*2 = 4"),
                       Error);
  CHECK_THROWS_WITH_AS(
      fold2d(cols, {5, 7}, {3, 2}),
      doctest::Contains("input has 15 columns but 3*6 = 18 windows fit the output [5, 7]"),
      Error);
  CHECK_THROWS_WITH_AS(fold2d(cols, {5}, {3, 2}), doctest::Contains("output needs 2 entries"),
                       Error);
  CHECK_THROWS_WITH_AS(fold2d(x, {5, 6}, {3, 2}), doctest::Contains("rank"), Error);
}

TEST_CASE("conv2d, pools, unfold2d and fold2d: sizes that overflow int64 are errors") {
  Graph g;
  Value x = input(g, "x", f32({1, 1, 4, 4}));
  Value w = input(g, "w", f32({1, 1, 3, 3}));
  const int64_t big = int64_t{1} << 62;
  CHECK_THROWS_WITH_AS(conv2d(x, w, {1, 1}, {0, 0}, {big, 1}),
                       doctest::Contains("the dilated window height"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, {1, 1}, {big, 0}),
                       doctest::Contains("the padding of the height"), Error);
  CHECK_THROWS_WITH_AS(
      conv2d(x, w, {1, 1}, {0, big - 1}),
      doctest::Contains("the padded width (4 + 9223372036854775806) overflows int64"), Error);
  const int64_t most = std::numeric_limits<int64_t>::max();
  CHECK_THROWS_WITH_AS(maxPool2d(x, {3, most}, {1, 1}, {0, most / 2}),
                       doctest::Contains("the padded width"), Error);
  CHECK_THROWS_WITH_AS(unfold2d(x, {int64_t{1} << 32, int64_t{1} << 32}, {1, 1},
                                {int64_t{1} << 40, int64_t{1} << 40}),
                       doctest::Contains("the kernel area KH*KW"), Error);
  CHECK_THROWS_WITH_AS(unfold2d(x, {1, 1}, {1, 1}, {int64_t{1} << 40, int64_t{1} << 40}),
                       doctest::Contains("the window count OH*OW"), Error);
  CHECK_THROWS_WITH_AS(unfold2d(input(g, "wide", f32({1, int64_t{1} << 42, 2, 2})),
                                {int64_t{1} << 11, int64_t{1} << 11}, {1, 1},
                                {int64_t{1} << 10, int64_t{1} << 10}),
                       doctest::Contains("the rows C*KH*KW"), Error);
}
