// Every op's tangent and adjoint rule against central finite differences of
// the interpreter (f64, relative error <= 1e-6), with two directions at once,
// and its second derivatives (the rules applied to the gradient graph) too.
#include "GradCheck.h"

#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <functional>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkDerivatives;
using chainjit::testing::randomBindings;

namespace {

// A graph y = build(inputs) over f64 inputs of the given shapes, named a, b, c.
struct OpCase {
  std::vector<Shape> shapes;
  std::function<Value(std::vector<Value> &)> build;
  double lo = -1.0, hi = 1.0; // input range
};

void check(const OpCase &c, uint32_t seed = 7) {
  Graph g("case");
  std::vector<Value> in;
  std::vector<std::string> names;
  const char *letters[] = {"a", "b", "c", "d"};
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    in.push_back(input(g, letters[i], f64(c.shapes[i])));
    names.push_back(letters[i]);
  }
  Value y = c.build(in).named("y");
  output(y);
  runtime::Bindings b = randomBindings(g, seed, c.lo, c.hi);
  checkDerivatives(g, b, "y", names);
  // Second derivatives: the gradient graph of s = sum(y^2) (nonlinear in y,
  // so even linear ops have a Hessian) differentiated again, against finite
  // differences of the gradient. Its rules emit only ops with rules.
  output(sum(y * y).named("s"));
  Graph gg = compiler::grad(g, "s", names);
  checkDerivatives(gg, b, "grad." + names.front(), names, 1e-6);
}

} // namespace

TEST_CASE("rules: elementwise unary ops") {
  check({{{2, 3}}, [](auto &v) { return -v[0]; }});
  check({{{2, 3}}, [](auto &v) { return exp(v[0]); }});
  check({{{2, 3}}, [](auto &v) { return log(v[0]); }, 0.5, 2.0});
  check({{{2, 3}}, [](auto &v) { return sqrt(v[0]); }, 0.5, 2.0});
  check({{{2, 3}}, [](auto &v) { return abs(v[0]); }});
  check({{{2, 3}}, [](auto &v) { return pow(v[0], 2.5); }, 0.5, 2.0});
  check({{{2, 3}}, [](auto &v) { return pow(v[0], 3.0); }});
  check({{{2, 3}}, [](auto &v) { return relu(v[0]); }});
  check({{{2, 3}}, [](auto &v) { return sigmoid(v[0]); }, -4, 4});
  check({{{2, 3}}, [](auto &v) { return tanh(v[0]); }, -2, 2});
  check({{{2, 3}}, [](auto &v) { return softplus(v[0]); }, -4, 4});
  check({{{2, 3}}, [](auto &v) { return cast(v[0], DType::f64) * v[0]; }});
  // Piecewise-constant ops contribute nothing (and do not break the sweep).
  check({{{4}}, [](auto &v) { return sign(v[0]) * v[0]; }});
}

TEST_CASE("rules: elementwise binary ops with broadcasting, and where") {
  check({{{2, 3}, {3}}, [](auto &v) { return v[0] + v[1]; }});
  check({{{3}, {2, 3}}, [](auto &v) { return v[0] - v[1]; }});
  check({{{2, 1}, {1, 3}}, [](auto &v) { return v[0] * v[1]; }});
  check({{{2, 3}, {2, 3}}, [](auto &v) { return v[0] / v[1]; }, 0.5, 2.0});
  check({{{2, 3}, {}}, [](auto &v) { return maximum(v[0], v[1]); }});
  check({{{2, 3}, {3}}, [](auto &v) { return minimum(v[0], v[1]); }});
  check({{{2, 3}, {3}, {2, 1}},
         [](auto &v) { return where(less(v[0], v[1]), v[1] * v[2], v[0]); }});
}

TEST_CASE("rules: shape ops") {
  check({{{2, 3, 4}}, [](auto &v) { return reshape(v[0], {6, 4}) * 2.0; }});
  check({{{2, 3, 4}}, [](auto &v) { return transpose(v[0], {2, 0, 1}) * 3.0; }});
  check({{{2, 3}}, [](auto &v) { return transpose(v[0]); }});
  check({{{3, 1}}, [](auto &v) { return broadcastTo(v[0], {2, 3, 4}); }});
  check({{{2, 3}, {2, 2}}, [](auto &v) { return concat({v[0], v[1], v[0]}, 1); }});
  check({{{5, 6}}, [](auto &v) { return slice(v[0], {1, 0}, {5, 6}, {2, 4}); }});
  check({{{3, 2}}, [](auto &v) { return pad(v[0], {1, 0}, {2, 1}, {1, 2}); }});
}

TEST_CASE("rules: matmul in every form, and solve") {
  check({{{3, 4}, {4, 2}}, [](auto &v) { return matmul(v[0], v[1]); }});
  check({{{3, 4}, {4}}, [](auto &v) { return matmul(v[0], v[1]); }});
  check({{{4}, {4, 2}}, [](auto &v) { return matmul(v[0], v[1]); }});
  check({{{4}, {4}}, [](auto &v) { return matmul(v[0], v[1]); }});
  check({{{2, 3, 4}, {4, 2}}, [](auto &v) { return matmul(v[0], v[1]); }});
  check({{{3, 4}, {2, 4, 2}}, [](auto &v) { return matmul(v[0], v[1]); }});
  check({{{2, 1, 3, 4}, {5, 4, 2}}, [](auto &v) { return matmul(v[0], v[1]); }});
  // A well-conditioned A: identity * 4 plus noise.
  auto wellConditioned = [](Value a) {
    Graph &g = a.graph();
    Tensor eye(f64({3, 3}), {4, 0, 0, 0, 4, 0, 0, 0, 4});
    return a + constant(g, eye);
  };
  check({{{3, 3}, {3}}, [&](auto &v) { return solve(wellConditioned(v[0]), v[1]); }});
  check({{{3, 3}, {3, 2}}, [&](auto &v) { return solve(wellConditioned(v[0]), v[1]); }});
}

TEST_CASE("rules: reductions and softmax") {
  check({{{2, 3, 4}}, [](auto &v) { return sum(v[0], {1}); }});
  check({{{2, 3, 4}}, [](auto &v) { return sum(v[0], {0, 2}, true); }});
  check({{{2, 3}}, [](auto &v) { return sum(v[0]); }});
  // Rank-0 reductions reduce nothing: their directions must not be summed.
  check({{{2, 3}}, [](auto &v) { return mean(sum(v[0])) + max(sum(v[0])); }});
  check({{{2, 3, 4}}, [](auto &v) { return mean(v[0], {-1}); }});
  check({{{2, 3, 4}}, [](auto &v) { return max(v[0], {1}); }});
  check({{{2, 3}}, [](auto &v) { return max(v[0]); }});
  check({{{2, 5}}, [](auto &v) { return softmax(v[0]); }, -3, 3});
  check({{{4, 3}}, [](auto &v) { return softmax(v[0], 0); }, -3, 3});
  check({{{2, 5}}, [](auto &v) { return logSoftmax(v[0]); }, -3, 3});
  check({{{2, 5}}, [](auto &v) { return cast(argmax(v[0]), DType::f64) + sum(v[0], {1}); }});
}

TEST_CASE("rules: losses") {
  check({{{4, 3}, {4, 3}}, [](auto &v) { return mse(v[0], v[1]); }});
  check({{{4, 3}, {4, 3}}, [](auto &v) { return crossEntropy(v[0], softmax(v[1])); }, -2, 2});
  Graph g("labels");
  Value z = input(g, "z", f64({4, 3}));
  Value labels = input(g, "labels", i32({4}));
  output(crossEntropy(z, labels).named("y"));
  auto b = randomBindings(g, 3, -2, 2, 3);
  checkDerivatives(g, b, "y", {"z"});
}

TEST_CASE("rules: every op has an entry, and ops without rules fail clearly") {
  for (size_t k = 0; k < kNumOpKinds; ++k)
    CHECK(derivativeRules(static_cast<OpKind>(k)).kind == static_cast<OpKind>(k));
  Graph g("drop");
  Value x = input(g, "x", f64({4}));
  Value step = input(g, "step", i32());
  output(sum(dropout(x, step, 0.5)).named("y"));
  CHECK_THROWS_WITH_AS(compiler::grad(g, "y", {"x"}),
                       doctest::Contains("dropout has no adjoint rule (expand it for train or eval mode first"),
                       Error);
}
