// The interpreter's reductions, argmax and softmax / log_softmax, against
// hand sums and closed forms: softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6.
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include "InterpTesting.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::interpret;
using testing::c64;
using testing::checkClose;

namespace {



const double ln2 = 0.69314718055994530942, ln3 = 1.09861228866810969140;

} // namespace

TEST_CASE("interp: sum and mean over axes, with keepdims") {
  Graph g;
  Value x = c64(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  output(sum(x));
  output(sum(x, {0}));
  output(sum(x, {1}, true));
  output(sum(x, {-1}));
  output(mean(x));
  output(mean(x, {0}));
  output(mean(x, {0, 1}, true));
  output(sum(constant(g, Tensor(i32({3}), {7, -2, 5}))));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{});
  CHECK(out[0].toDoubles() == std::vector<double>{21});
  CHECK(out[1].toDoubles() == std::vector<double>{5, 7, 9});
  CHECK(out[2].shape() == Shape{2, 1});
  CHECK(out[2].toDoubles() == std::vector<double>{6, 15});
  CHECK(out[3].toDoubles() == std::vector<double>{6, 15});
  CHECK(out[4].toDoubles() == std::vector<double>{3.5});
  CHECK(out[5].toDoubles() == std::vector<double>{2.5, 3.5, 4.5});
  CHECK(out[6].shape() == Shape{1, 1});
  CHECK(out[6].toDoubles() == std::vector<double>{3.5});
  CHECK(out[7].type() == i32());
  CHECK(out[7].toDoubles() == std::vector<double>{10});
}

TEST_CASE("interp: max over axes of a rank-3 tensor") {
  Graph g;
  // x[i, j, k] with i, j, k in 2 x 2 x 2, values chosen so every maximum
  // sits in a different place.
  Value x = c64(g, {2, 2, 2}, {-5, -2, -9, -7, 4, 0, 1, 8});
  output(max(x));
  output(max(x, {0, 2}));
  output(max(x, {1}, true));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{8});
  // j = 0: {-5, -2, 4, 0} -> 4; j = 1: {-9, -7, 1, 8} -> 8.
  CHECK(out[1].toDoubles() == std::vector<double>{4, 8});
  CHECK(out[2].shape() == Shape{2, 1, 2});
  CHECK(out[2].toDoubles() == std::vector<double>{-5, -2, 4, 8});
}

TEST_CASE("interp: argmax returns the first maximum as i32") {
  Graph g;
  output(argmax(c64(g, {4}, {1, 3, 3, 2})));
  Value m = c64(g, {2, 2}, {1, 5, 4, 5});
  output(argmax(m, 0));
  output(argmax(m, 1, true));
  output(argmax(c64(g, {3}, {1, std::nan(""), 7})));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].type() == i32());
  CHECK(out[0].toDoubles() == std::vector<double>{1});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 0}); // column 1 ties
  CHECK(out[2].type() == i32({2, 1}));
  CHECK(out[2].toDoubles() == std::vector<double>{1, 1});
  CHECK(out[3].toDoubles() == std::vector<double>{1}); // NaN counts as max
}

TEST_CASE("interp: softmax and log_softmax of [0, ln 2, ln 3]") {
  Graph g;
  Value x = c64(g, {3}, {0, ln2, ln3});
  output(softmax(x));
  output(logSoftmax(x));
  // Along axis 0 of a matrix: each column is [0, ln 3] -> [1/4, 3/4].
  output(softmax(c64(g, {2, 2}, {0, 0, ln3, ln3}), 0));
  auto out = interpret(g, {}).outputs;
  checkClose(out[0], {1.0 / 6, 1.0 / 3, 0.5});
  double ln6 = ln2 + ln3;
  checkClose(out[1], {-ln6, -ln3, -ln2});
  checkClose(out[2], {0.25, 0.25, 0.75, 0.75});
}

TEST_CASE("interp: softmax and log_softmax stay finite for huge logits") {
  Graph g;
  Value x = c64(g, {2}, {1000, 0});
  output(logSoftmax(x));
  output(softmax(x));
  output(logSoftmax(c64(g, {2}, {-1000, -1000})));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{0, -1000});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 0});
  checkClose(out[2], {-ln2, -ln2});
}
