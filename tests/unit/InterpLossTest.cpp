// The interpreter's losses on logits whose log-probabilities are known in
// closed form (rows [0, ln 2, ln 3] have probabilities [1, 2, 3] / 6).
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include "InterpTesting.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::interpret;
using testing::c64;

namespace {


Value labels(Graph &g, std::vector<double> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return constant(g, Tensor(i32(s), v));
}

const double ln2 = 0.69314718055994530942, ln3 = 1.09861228866810969140;

} // namespace

TEST_CASE("interp: cross_entropy with labels and with probabilities") {
  Graph g;
  Value logits = c64(g, {2, 3}, {0, ln2, ln3, 0, 0, 0});
  // Row 0, label 2: -log(3/6) = ln 2. Row 1, label 0: -log(1/3) = ln 3.
  output(crossEntropy(logits, labels(g, {2, 0})));
  // Row 0: -(0.5 log(2/6) + 0.5 log(3/6)) = (ln 3 + ln 2) / 2; row 1: ln 3.
  Value probs = c64(g, {2, 3}, {0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  output(crossEntropy(logits, probs));
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].type() == f64());
  CHECK(out[0].at(0) == doctest::Approx((ln2 + ln3) / 2).epsilon(1e-15));
  CHECK(out[1].at(0) ==
        doctest::Approx(((ln2 + ln3) / 2 + ln3) / 2).epsilon(1e-15));
}

TEST_CASE("interp: cross_entropy of huge logits is finite") {
  Graph g;
  // log_softmax([1000, 0]) = [0, -1000]: the loss of label 1 is 1000.
  Value logits = constant(g, Tensor(f32({2, 2}), {1000, 0, 0, 1000}));
  output(crossEntropy(logits, labels(g, {1, 1})));
  CHECK(interpret(g, {}).outputs[0].toDoubles() == std::vector<double>{500});
}

TEST_CASE("interp: a label out of range names the node, row and range") {
  Graph g;
  Value logits = c64(g, {2, 3}, {0, 0, 0, 0, 0, 0});
  Value y = input(g, "y", i32({2}));
  output(crossEntropy(logits, y).named("loss"));
  runtime::Bindings b{{"y", Tensor(i32({2}), {0, 3})}};
  CHECK_THROWS_WITH_AS(interpret(g, b),
                       doctest::Contains("in %loss: error: cross_entropy: label 3 of "
                                         "row 1 is out of range [0, 3)"),
                       Error);
  b.at("y") = Tensor(i32({2}), {-1, 0});
  CHECK_THROWS_WITH_AS(interpret(g, b), doctest::Contains("label -1 of row 0"),
                       Error);
}

TEST_CASE("interp: mse is the mean squared difference") {
  Graph g;
  output(mse(c64(g, {3}, {1, 2, 3}), c64(g, {3}, {1, 0, 0}))); // (0+4+9)/3
  output(mse(c64(g, {2, 2}, {1, 1, 1, 1}), c64(g, {2, 2}, {0, 0, 0, 3}))); // 7/4
  auto out = interpret(g, {}).outputs;
  CHECK(out[0].at(0) == doctest::Approx(13.0 / 3).epsilon(1e-15));
  CHECK(out[1].at(0) == 1.75);
}
