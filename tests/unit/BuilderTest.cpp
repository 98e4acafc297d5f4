// The builder API: type inference, attribute canonicalization, and the
// errors it gives for bad graphs.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Verifier.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;

TEST_CASE("builder: an MLP reads like the math and infers every type") {
  Graph g("mlp");
  Value x = input(g, "x", f32({32, 64}));
  Value y = input(g, "y", i32({32}));
  Value W1 = param(g, "W1", f32({64, 128}), {{"init", "glorot"}});
  Value b1 = param(g, "b1", f32({128}));
  Value W2 = param(g, "W2", f32({128, 10}), {{"init", "glorot"}});
  Value b2 = param(g, "b2", f32({10}));
  Value h = relu(matmul(x, W1) + b1).named("h");
  Value logits = (matmul(h, W2) + b2).named("logits");
  Value loss = crossEntropy(logits, y).named("loss");
  output(loss);

  CHECK(h.type() == f32({32, 128}));
  CHECK(logits.type() == f32({32, 10}));
  CHECK(loss.type() == f32({}));
  CHECK(g.outputs() == std::vector<NodeId>{loss.id()});
  CHECK(g.lookup("h") == h.id());
  CHECK(verify(g).empty());
  // Defaults are filled in: the attribute set is canonical.
  CHECK(g.node(b1.id()).attrs.getString("init") == "zeros");
  CHECK(g.node(W1.id()).attrs.getBool("trainable"));
}

TEST_CASE("builder: shape rules") {
  Graph g;
  Value a = input(g, "a", f64({2, 3, 4}));
  CHECK(sum(a, {1}).shape() == Shape{2, 4});
  CHECK(sum(a, {-1}, true).shape() == Shape{2, 3, 1});
  CHECK(sum(a).shape() == Shape{});
  CHECK(transpose(a).shape() == Shape{4, 3, 2});
  CHECK(transpose(a, {0, 2, 1}).shape() == Shape{2, 4, 3});
  CHECK(reshape(a, {6, -1}).shape() == Shape{6, 4});
  CHECK(slice(a, {0, 1, 0}, {2, 3, 4}, {1, 1, 2}).shape() == Shape{2, 2, 2});
  CHECK(concat({a, a}, 1).shape() == Shape{2, 6, 4});
  CHECK(argmax(a, 1).type() == i32({2, 4}));
  CHECK(less(a, a).type() == boolean({2, 3, 4}));
  Value v = input(g, "v", f64({4}));
  CHECK(matmul(a, v).shape() == Shape{2, 3});
  CHECK(matmul(v, transpose(a, {0, 2, 1})).shape() == Shape{2, 3});
  Value A = input(g, "A", f64({3, 3}));
  CHECK(solve(A, input(g, "b", f64({3, 2}))).shape() == Shape{3, 2});
  Value img = input(g, "img", f32({8, 3, 28, 28}));
  Value w = input(g, "w", f32({16, 3, 5, 5}));
  CHECK(conv2d(img, w, {1, 1}, {2, 2}).shape() == Shape{8, 16, 28, 28});
  CHECK(conv2d(img, w, {2, 2}).shape() == Shape{8, 16, 12, 12});
  CHECK(conv2d(img, w, {1, 1}, {0, 0}, {2, 2}).shape() == Shape{8, 16, 20, 20});
  CHECK(maxPool2d(img, {2, 2}).shape() == Shape{8, 3, 14, 14});
  CHECK(avgPool2d(img, {3, 3}, {1, 1}, {1, 1}).shape() == Shape{8, 3, 28, 28});
  CHECK((a + 1.0).type() == f64({2, 3, 4}));
}

TEST_CASE("builder: errors name the op and the problem") {
  Graph g;
  Value a = input(g, "a", f32({2, 3}));
  Value b = input(g, "b", f32({4, 3}));
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes [2, 3] and [4, 3] do not broadcast"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("contraction dimensions differ"), Error);
  CHECK_THROWS_WITH_AS(sum(a, {2}), doctest::Contains("axis 2 is out of range for rank 2"), Error);
  CHECK_THROWS_WITH_AS(input(g, "a", f32()), doctest::Contains("%a is already defined"), Error);
  Value l = input(g, "l", i32({2}));
  CHECK_THROWS_WITH_AS(exp(l), doctest::Contains("must be f32 or f64"), Error);
  CHECK_THROWS_WITH_AS(add(a, cast(a, DType::f64)), doctest::Contains("dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(param(g, "p", f32({2}), {{"init", "magic"}}),
                       doctest::Contains("unknown initializer 'magic'"), Error);
  CHECK_THROWS_WITH_AS(apply(OpKind::Sum, {a}, {{"axis", int64_t{1}}}),
                       doctest::Contains("unknown attribute 'axis'"), Error);
}
