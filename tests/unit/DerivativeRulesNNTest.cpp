// The layers' tangent and adjoint rules (conv2d and its two adjoint ops,
// max_pool2d and its adjoint op, avg_pool2d, unfold2d, fold2d) against central finite differences
// of the interpreter (f64, relative error <= 1e-6, two directions at once); a small CNN loss with
// respect to all its weights; and Hessians of conv/pool functions against finite differences of
// their gradients (the rules are closed).
#include "ConvCases.h"
#include "GradCheck.h"

#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <functional>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkDerivatives;
using chainjit::testing::checkHessian;
using chainjit::testing::randomBindings;
using chainjit::testing::relativeError;
using chainjit::testing::valueOf;

namespace {

// y = build(a, b, ...) over f64 inputs of the given shapes, checked with
// respect to the inputs listed in `wrt` (all of them when empty).
struct LayerCase {
  std::vector<Shape> shapes;
  std::function<Value(std::vector<Value> &)> build;
  std::vector<std::string> wrt = {};
};

void check(const LayerCase &c, uint32_t seed = 11) {
  Graph g("layer");
  std::vector<Value> in;
  std::vector<std::string> names;
  const char *letters[] = {"a", "b", "c"};
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    in.push_back(input(g, letters[i], f64(c.shapes[i])));
    names.push_back(letters[i]);
  }
  output(c.build(in).named("y"));
  checkDerivatives(g, randomBindings(g, seed), "y", c.wrt.empty() ? names : c.wrt);
}

} // namespace

TEST_CASE("nn rules: conv2d with respect to both operands") {
  auto conv = [](Ints s, Ints p, Ints d) {
    return [=](auto &v) { return conv2d(v[0], v[1], s, p, d); };
  };
  check({{{2, 2, 4, 4}, {3, 2, 2, 2}}, conv({1, 1}, {0, 0}, {1, 1})});
  check({{{1, 2, 5, 6}, {2, 2, 3, 2}}, conv({2, 1}, {1, 2}, {1, 2})});
  check({{{2, 1, 5, 5}, {2, 1, 3, 3}}, conv({2, 2}, {1, 1}, {1, 1})});
  check({{{1, 3, 6, 5}, {2, 3, 2, 2}}, conv({1, 1}, {0, 0}, {2, 2})});
  check({{{2, 2, 3, 7}, {1, 2, 1, 3}}, conv({1, 2}, {0, 1}, {1, 1})}); // rectangular
  // One operand at a time (the other's adjoint is not built).
  check({{{2, 2, 4, 5}, {3, 2, 3, 2}}, conv({1, 2}, {1, 0}, {1, 1}), {"a"}});
  check({{{2, 2, 4, 5}, {3, 2, 3, 2}}, conv({1, 2}, {1, 0}, {1, 1}), {"b"}});
}

TEST_CASE("nn rules: conv_transpose2d and conv2d_weight_grad with respect to both operands") {
  struct Geometry {
    Shape x, w;
    Ints s, p, d;
  };
  const Geometry geometries[] = {
      {{2, 2, 4, 4}, {3, 2, 2, 2}, {1, 1}, {0, 0}, {1, 1}},
      {{1, 2, 5, 6}, {2, 2, 3, 2}, {2, 1}, {1, 2}, {1, 2}}, // output_padding 1 in height
      {{2, 1, 6, 5}, {2, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}},
      {{2, 2, 3, 7}, {1, 2, 1, 3}, {1, 2}, {0, 1}, {1, 1}},
  };
  for (const Geometry &c : geometries) {
    Graph probe("probe");
    const Shape y =
        conv2d(input(probe, "x", f64(c.x)), input(probe, "w", f64(c.w)), c.s, c.p, c.d).shape();
    const Ints op = testing::outputPaddingFor(c.x, c.w, y, c.s, c.p, c.d);
    INFO("x " << shapeStr(c.x) << ", output_padding " << shapeStr(op));
    // conv_transpose2d(dy [N, O, OH, OW], w) -> [N, C, H, W]
    check({{y, c.w}, [&](auto &v) { return convTranspose2d(v[0], v[1], c.s, c.p, c.d, op); }});
    // conv2d_weight_grad(x, dy) -> [O, C, KH, KW]
    check({{c.x, y}, [&](auto &v) {
             return conv2dWeightGrad(v[0], v[1], {c.w[2], c.w[3]}, c.s, c.p, c.d);
           }});
  }
  // One operand at a time.
  const Shape x{2, 2, 4, 5}, w{3, 2, 3, 2}, y{2, 3, 4, 2};
  check({{y, w},
         [](auto &v) {
           return convTranspose2d(v[0], v[1], {1, 2}, {1, 0}, {1, 1}, {0, 1});
         },
         {"a"}});
  check({{y, w},
         [](auto &v) {
           return convTranspose2d(v[0], v[1], {1, 2}, {1, 0}, {1, 1}, {0, 1});
         },
         {"b"}});
  check({{x, y},
         [](auto &v) {
           return conv2dWeightGrad(v[0], v[1], {3, 2}, {1, 2}, {1, 0});
         },
         {"a"}});
  check({{x, y},
         [](auto &v) {
           return conv2dWeightGrad(v[0], v[1], {3, 2}, {1, 2}, {1, 0});
         },
         {"b"}});
}

TEST_CASE("nn rules: max_pool2d_grad is linear in its output_grad") {
  // With respect to output_grad only: in the input it is piecewise constant.
  check({{{2, 2, 6, 5}, {2, 2, 3, 2}},
         [](auto &v) {
           return maxPool2dGrad(v[0], v[1], {2, 2});
         },
         {"b"}});
  check({{{1, 2, 5, 5}, {1, 2, 3, 3}},
         [](auto &v) {
           return maxPool2dGrad(v[0], v[1], {3, 3}, {2, 2}, {1, 1});
         },
         {"b"}});
}

TEST_CASE("nn rules: max_pool2d and avg_pool2d") {
  // Uniform random inputs have no ties.
  check({{{2, 2, 4, 4}}, [](auto &v) { return maxPool2d(v[0], {2, 2}); }});
  check({{{1, 2, 5, 5}}, [](auto &v) { return maxPool2d(v[0], {3, 3}, {1, 1}, {1, 1}); }});
  check({{{2, 1, 5, 6}}, [](auto &v) { return maxPool2d(v[0], {2, 3}, {2, 1}, {1, 1}); }});
  check({{{1, 3, 4, 4}}, [](auto &v) { return maxPool2d(v[0], {3, 2}, {1, 2}); }});
  check({{{2, 2, 4, 4}}, [](auto &v) { return avgPool2d(v[0], {2, 2}); }});
  check({{{1, 2, 5, 5}}, [](auto &v) { return avgPool2d(v[0], {3, 3}, {2, 2}, {1, 1}); }});
  check({{{2, 1, 4, 6}}, [](auto &v) { return avgPool2d(v[0], {2, 3}, {1, 2}, {1, 1}); }});
}

TEST_CASE("nn rules: unfold2d and fold2d") {
  check({{{2, 2, 4, 5}},
         [](auto &v) { return unfold2d(v[0], {2, 3}, {1, 2}, {1, 0}, {2, 1}); }});
  check({{{1, 3, 4, 4}}, [](auto &v) { return unfold2d(v[0], {2, 2}, {2, 2}, {1, 1}, {1, 1}, 0.5); }});
  // For [4, 5] with these windows: OH = (4 + 2 - 3) / 1 + 1 = 4, OW = (5 - 3) / 2 + 1 = 2.
  check({{{2, 12, 8}},
         [](auto &v) { return fold2d(v[0], {4, 5}, {2, 3}, {1, 2}, {1, 0}, {2, 1}); }});
  check({{{1, 8, 16}}, [](auto &v) { return fold2d(v[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}); }});
  // Composed both ways: fold(unfold(x)) scales x by the windows covering it.
  check({{{1, 2, 4, 4}}, [](auto &v) {
           return fold2d(unfold2d(v[0], {3, 3}, {1, 1}, {1, 1}), {4, 4}, {3, 3}, {1, 1}, {1, 1});
         }});
}

TEST_CASE("nn rules: max_pool2d shares the derivative equally among tied maxima") {
  Graph g("ties");
  Value x = input(g, "x", f64({1, 1, 2, 4}));
  output(sum(maxPool2d(x, {2, 2}, {2, 2}, {0, 1})).named("y"));
  Graph dg = compiler::grad(g, "y", {"x"});
  // Windows (padding 1 on the width): {x00, x10}, {x01, x02, x11, x12},
  // {x03, x13}. The first has a two-way tie, the second a three-way tie.
  Tensor xv(f64({1, 1, 2, 4}), {5, 7, 7, 1, 5, 7, 2, 3});
  std::vector<double> grad = valueOf(dg, {{"x", xv}}, "grad.x").toDoubles();
  std::vector<double> want{0.5, 1.0 / 3, 1.0 / 3, 0, 0.5, 1.0 / 3, 0, 1};
  REQUIRE(grad.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    CHECK(grad[i] == doctest::Approx(want[i]).epsilon(1e-15));
}

TEST_CASE("nn rules: a small CNN loss with respect to every weight") {
  Graph g("cnn");
  Value images = input(g, "images", f64({2, 1, 6, 6}));
  Value labels = input(g, "labels", i32({2}));
  Value K = param(g, "K", f64({3, 1, 3, 3}));
  Value bias = param(g, "bias", f64({1, 3, 1, 1}));
  Value W = param(g, "W", f64({27, 4}));
  Value b = param(g, "b", f64({4}));
  Value h = relu(conv2d(images, K, {1, 1}, {1, 1}) + bias);
  Value p = maxPool2d(h, {2, 2});                           // [2, 3, 3, 3]
  Value logits = matmul(reshape(p, {2, 27}), W) + b;        // [2, 4]
  output(crossEntropy(logits, labels).named("loss"));
  auto bindings = randomBindings(g, 5, -1.0, 1.0, 4);
  checkDerivatives(g, bindings, "loss", {"K", "bias", "W", "b"});
  checkDerivatives(g, bindings, "loss", {"images"});
}

TEST_CASE("nn rules: Hessians of conv/pool functions match differences of their gradients") {
  Graph g("second");
  Value x = input(g, "x", f64({1, 1, 5, 5}));
  Value W = input(g, "W", f64({2, 1, 2, 2}));
  Value t = tanh(conv2d(x, W, {1, 1}, {1, 1}));                // [1, 2, 6, 6]
  Value m = maxPool2d(t, {2, 2}, {2, 2}, {1, 1});              // [1, 2, 4, 4]
  Value a = avgPool2d(t, {3, 3}, {2, 2}, {1, 1});              // [1, 2, 3, 3]
  Value s = sum(m);
  output((s * s + sum(a * a * a)).named("f"));
  auto b = randomBindings(g, 9);
  checkHessian(g, b, "f", "W");
  checkHessian(g, b, "f", "x");
}

TEST_CASE("nn rules: the derivative graphs of the layers differentiate again") {
  // The unfold/fold rules' own rules, through a third-order quantity: the
  // Hessian-vector product of a fold/unfold function, checked by the harness.
  Graph g("closure");
  Value x = input(g, "x", f64({1, 2, 4, 4}));
  Value cols = unfold2d(x, {2, 2}, {1, 1}, {1, 1});
  Value back = fold2d(tanh(cols), {4, 4}, {2, 2}, {1, 1}, {1, 1});
  output(sum(back * back).named("f"));
  Graph gg = compiler::grad(g, "f", {"x"});
  // The gradient graph itself has tangent and adjoint rules everywhere.
  checkDerivatives(gg, randomBindings(gg, 4), "grad.x", {"x"});
}
