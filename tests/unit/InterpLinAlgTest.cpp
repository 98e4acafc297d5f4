// The interpreter's matmul (all NumPy cases: vectors, matrices, broadcast
// batches) and solve, against products and solutions worked out by hand.
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include "InterpTesting.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::interpret;
using testing::c64;

namespace {


void checkClose(const Tensor &t, const std::vector<double> &expected) {
  testing::checkClose(t, expected, 1e-12); // LAPACK's rounding differs from closed forms
}

} // namespace

TEST_CASE("interp: matmul of matrices") {
  Graph g;
  Value A = c64(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  Value B = c64(g, {3, 2}, {7, 8, 9, 10, 11, 12});
  output(matmul(A, B));
  output(matmul(constant(g, Tensor(i32({1, 2}), {1, 2})),
                constant(g, Tensor(i32({2, 1}), {3, 4}))));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{2, 2});
  CHECK(out[0].toDoubles() == std::vector<double>{58, 64, 139, 154});
  CHECK(out[1].type() == i32({1, 1}));
  CHECK(out[1].toDoubles() == std::vector<double>{11});
}

TEST_CASE("interp: f32 matmul accumulates in f64 and rounds once") {
  Graph g;
  // 1 + 2^-24 + 2^-24 = 1 + 2^-23: an f32 running sum would stay at 1.
  output(matmul(constant(g, Tensor(f32({3}), {1, 0x1p-24, 0x1p-24})),
                constant(g, Tensor(f32({3}), {1, 1, 1}))));
  CHECK(interpret(g, {}).outputs[0].as<float>()[0] == 1.0f + 0x1p-23f);
}

TEST_CASE("interp: matmul with 1-D operands drops the added axis") {
  Graph g;
  Value M = c64(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  output(matmul(c64(g, {3}, {1, 2, 3}), c64(g, {3}, {4, 5, 6}))); // dot
  output(matmul(c64(g, {2}, {1, 2}), M));                           // row @ M
  output(matmul(M, c64(g, {3}, {1, 0, -1})));                       // M @ col
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{});
  CHECK(out[0].toDoubles() == std::vector<double>{32});
  CHECK(out[1].shape() == Shape{3});
  CHECK(out[1].toDoubles() == std::vector<double>{9, 12, 15});
  CHECK(out[2].shape() == Shape{2});
  CHECK(out[2].toDoubles() == std::vector<double>{-2, -2});
}

TEST_CASE("interp: batched matmul broadcasts the batch axes") {
  Graph g;
  // [2, 2, 2] @ [2, 2]: the matrix is shared by both batch elements.
  Value A = c64(g, {2, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0});
  Value B = c64(g, {2, 2}, {1, 1, 0, 1});
  output(matmul(A, B));
  // [2, 1, 1, 2] @ [3, 2, 1] -> [2, 3, 1, 1]: r[i, j] = a_i . b_j with
  // a = ([1, 2], [3, 4]) and b = ([1, 0], [0, 1], [1, 1]).
  Value rows = c64(g, {2, 1, 1, 2}, {1, 2, 3, 4});
  Value cols = c64(g, {3, 2, 1}, {1, 0, 0, 1, 1, 1});
  output(matmul(rows, cols));
  // A vector against a batch: [2] @ [3, 2, 1] -> [3, 1].
  output(matmul(c64(g, {2}, {1, 2}), cols));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{2, 2, 2});
  CHECK(out[0].toDoubles() == std::vector<double>{1, 3, 3, 7, 0, 1, 1, 1});
  CHECK(out[1].shape() == Shape{2, 3, 1, 1});
  CHECK(out[1].toDoubles() == std::vector<double>{1, 2, 3, 3, 4, 7});
  CHECK(out[2].shape() == Shape{3, 1});
  CHECK(out[2].toDoubles() == std::vector<double>{1, 2, 3});
}

TEST_CASE("interp: solve a 2x2 system and a 3x3 with two right-hand sides") {
  Graph g;
  // 2x + y = 3, x + 3y = 5: x = 4/5, y = 7/5.
  output(solve(c64(g, {2, 2}, {2, 1, 1, 3}), c64(g, {2}, {3, 5})));
  // A X = B with X = [[1, 0], [2, 1], [3, -1]] and B = A X by hand.
  Value A = c64(g, {3, 3}, {2, 0, 1, 1, 3, 2, 1, 1, 2});
  Value B = c64(g, {3, 2}, {5, -1, 13, 1, 9, -1});
  output(solve(A, B));
  // A zero leading pivot needs the row exchange.
  output(solve(c64(g, {2, 2}, {0, 1, 1, 0}), c64(g, {2}, {2, 3})));
  // f32 data, solved in f64 and rounded.
  output(solve(constant(g, Tensor(f32({2, 2}), {4, 0, 0, 8})),
               constant(g, Tensor(f32({2}), {1, 1}))));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].shape() == Shape{2});
  checkClose(out[0], {0.8, 1.4});
  CHECK(out[1].shape() == Shape{3, 2});
  checkClose(out[1], {1, 0, 2, 1, 3, -1});
  checkClose(out[2], {3, 2});
  CHECK(out[3].type() == f32({2}));
  CHECK(out[3].toDoubles() == std::vector<double>{0.25, 0.125});
}

TEST_CASE("interp: solve with a singular matrix names the node") {
  Graph g;
  Value A = input(g, "A", f64({2, 2}));
  output(solve(A, c64(g, {2}, {1, 1})).named("x"));
  runtime::Bindings b{{"A", Tensor(f64({2, 2}), {1, 2, 2, 4})}};
  CHECK_THROWS_WITH_AS(interpret(g, b), doctest::Contains("in %x"), Error);
  CHECK_THROWS_WITH_AS(interpret(g, b), doctest::Contains("solve: the matrix f64[2, 2] is singular"),
                       Error);
}
