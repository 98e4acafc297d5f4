// The interpreter's data-movement kernels: every expected value below is
// written out by hand (or from the index formula of the op's definition).
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <numeric>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::interpret;

namespace {

// 0, 1, 2, ... in row-major order.
Value counting(Graph &g, Shape s) {
  std::vector<double> v(static_cast<size_t>(numElements(s)));
  std::iota(v.begin(), v.end(), 0.0);
  return constant(g, Tensor(f64(std::move(s)), v));
}

Tensor eval(Value v) {
  output(v);
  return interpret(v.graph(), {}).outputs.at(0);
}

} // namespace

TEST_CASE("interp: reshape keeps the row-major order") {
  Graph g;
  Tensor r = eval(reshape(counting(g, {2, 3}), {3, -1}));
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.toDoubles() == std::vector<double>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("interp: transpose, default and with a permutation") {
  Graph g;
  Value m = counting(g, {2, 3}); // [[0, 1, 2], [3, 4, 5]]
  output(transpose(m));
  Value t = counting(g, {2, 3, 4});
  output(transpose(t, {1, 2, 0})); // r[i, j, k] = t[k, i, j]
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{3, 2});
  CHECK(out[0].toDoubles() == std::vector<double>{0, 3, 1, 4, 2, 5});
  REQUIRE(out[1].shape() == Shape{3, 4, 2});
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 2; ++k)
        CHECK(out[1].at((i * 4 + j) * 2 + k) == k * 12 + i * 4 + j);
  CHECK(out[1].at(1) == 12); // r[0, 0, 1] = t[1, 0, 0]
}

TEST_CASE("interp: broadcast_to repeats along new and size-1 axes") {
  Graph g;
  output(broadcastTo(constant(g, Tensor(f64({3}), {1, 2, 3})), {2, 3}));
  output(broadcastTo(constant(g, Tensor(f64({2, 1}), {1, 2})), {2, 3}));
  output(broadcastTo(constant(g, Tensor(i32({}), {7})), {2}));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 1, 1, 2, 2, 2});
  CHECK(out[2].toDoubles() == std::vector<double>{7, 7});
}

TEST_CASE("interp: concat along the first and an inner axis") {
  Graph g;
  Value a = constant(g, Tensor(f64({2, 2}), {1, 2, 3, 4}));
  Value b = constant(g, Tensor(f64({2, 1}), {5, 6}));
  Value c = constant(g, Tensor(f64({1, 2}), {7, 8}));
  output(concat({a, b}, 1));
  output(concat({a, c}, 0));
  output(concat({b, a, b}, -1));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{2, 3});
  CHECK(out[0].toDoubles() == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(out[1].shape() == Shape{3, 2});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 2, 3, 4, 7, 8});
  CHECK(out[2].toDoubles() == std::vector<double>{5, 1, 2, 5, 6, 3, 4, 6});
}

TEST_CASE("interp: slice with starts, ends and strides") {
  Graph g;
  output(slice(counting(g, {10}), {1}, {8}, {3}));          // 1, 4, 7
  output(slice(counting(g, {3, 4}), {0, 1}, {3, 4}, {2, 2})); // rows 0, 2; cols 1, 3
  output(slice(counting(g, {3, 4}), {1, 0}, {2, 4}));         // row 1
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{1, 4, 7});
  CHECK(out[1].shape() == Shape{2, 2});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 3, 9, 11});
  CHECK(out[2].toDoubles() == std::vector<double>{4, 5, 6, 7});
}

TEST_CASE("interp: pad with low, high and interior zeros") {
  Graph g;
  output(pad(counting(g, {3}), {2}, {1}, {1}));          // 0 0 [0] 0 [1] 0 [2] 0
  output(pad(counting(g, {2, 2}), {1, 0}, {0, 1}));      // a zero row on top, a zero column right
  output(pad(counting(g, {0}), {1}, {1}, {3}));          // empty input: just the padding
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].toDoubles() == std::vector<double>{0, 0, 0, 0, 1, 0, 2, 0});
  CHECK(out[1].shape() == Shape{3, 3});
  CHECK(out[1].toDoubles() == std::vector<double>{0, 0, 0, 0, 1, 0, 2, 3, 0});
  CHECK(out[2].toDoubles() == std::vector<double>{0, 0});
  CHECK_THROWS_WITH_AS(pad(counting(g, {3}), {-1}, {0}), doctest::Contains("low entries must be non-negative"),
                       chainjit::Error);
}
