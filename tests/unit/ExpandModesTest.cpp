// Mode expansion (expand-train / expand-eval): the expanded graphs verify,
// contain no mode-dependent op, and compute dropout and batch norm as their
// definitions say; batch statistics and running-statistic updates are
// checked against values worked out by hand.
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Interpreter.h"

#include "RoundTrip.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::ir;
using compiler::expandEval;
using compiler::expandTrain;
using runtime::Bindings;
using runtime::interpret;

namespace {

bool hasModeOps(const Graph &g) {
  for (const Node &n : g.nodes())
    if (n.kind == OpKind::Dropout || n.kind == OpKind::BatchNorm)
      return true;
  return false;
}

Graph checkedExpansion(const Graph &g, compiler::Mode mode) {
  Graph out = compiler::expandModes(g, mode);
  CHECK(verify(out).empty());
  CHECK(!hasModeOps(out));
  return out;
}

// x = 1, 2, ..., n as f64.
Tensor ramp(int64_t n) {
  Tensor t(f64({n}));
  for (int64_t i = 0; i < n; ++i)
    t.set(i, double(i + 1));
  return t;
}

} // namespace

TEST_CASE("expand-modes: train dropout zeroes about `rate` and scales the rest") {
  const int64_t n = 40000;
  const double rate = 0.25;
  Graph g;
  Value x = input(g, "x", f64({n}));
  Value c = input(g, "c", i32());
  output(dropout(x, c, rate, 5).named("h"));
  Graph train = checkedExpansion(g, compiler::Mode::Train);
  CHECK(train.node(train.outputs()[0]).name == "h"); // the name survives

  Tensor xs = ramp(n);
  Bindings b{{"x", xs}, {"c", Tensor::scalar(DType::i32, 3)}};
  Tensor y = interpret(train, b).outputs.at(0);
  double zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool kept = counterUniform(5, 3, i) < 1 - rate; // bernoulli(p = 1 - rate)
    if (kept)
      CHECK(y.at(i) == xs.at(i) / 0.75); // exactly x / (1 - rate)
    else
      CHECK(y.at(i) == 0.0);
    zeros += kept ? 0 : 1;
  }
  CHECK(std::fabs(zeros / n - rate) < 4 * std::sqrt(rate * (1 - rate) / n));

  // rate 1/2: survivors are exactly 2x.
  Graph half;
  Value hx = input(half, "x", f64({8}));
  output(dropout(hx, input(half, "c", i32()), 0.5));
  Tensor hy = interpret(expandTrain(half), {{"x", ramp(8)}, {"c", Tensor(i32())}})
                  .outputs.at(0);
  for (int64_t i = 0; i < 8; ++i)
    CHECK((hy.at(i) == 0.0 || hy.at(i) == 2.0 * double(i + 1)));

  // Another counter draws another mask.
  b.at("c") = Tensor::scalar(DType::i32, 4);
  CHECK(!(interpret(train, b).outputs.at(0) == y));
}

TEST_CASE("expand-modes: eval dropout and rate-0 dropout are the identity") {
  Graph g;
  Value x = input(g, "x", f32({3}));
  Value c = input(g, "c", i32());
  output(dropout(x, c, 0.5));
  output(dropout(x, c, 0.0));
  Graph eval = checkedExpansion(g, compiler::Mode::Eval);
  Graph train = checkedExpansion(g, compiler::Mode::Train);
  CHECK(eval.outputs()[0] == eval.lookup("x"));
  CHECK(train.outputs()[1] == train.lookup("x"));
  Tensor xs(f32({3}), {1.5, -2, 7});
  auto r = interpret(eval, {{"x", xs}, {"c", Tensor(i32())}});
  CHECK(r.outputs[0] == xs);
  CHECK(r.outputs[1] == xs);
}

TEST_CASE("expand-modes: train batch_norm on [N, C] normalizes and updates") {
  Graph g;
  Value x = input(g, "x", f64({4, 2}));
  Value gamma = param(g, "gamma", f64({2}), {{"init", "ones"}});
  Value beta = param(g, "beta", f64({2}));
  Value rm = param(g, "rm", f64({2}), {{"trainable", false}});
  Value rv = param(g, "rv", f64({2}), {{"trainable", false}});
  output(batchNorm(x, gamma, beta, rm, rv, 1e-5, 0.1).named("y"));
  Graph train = checkedExpansion(g, compiler::Mode::Train);
  CHECK(train.updates().size() == 2);

  // Channel 0: 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3).
  // Channel 1: 10, 20, 30, 40 (mean 25, biased var 125, unbiased 500/3).
  Tensor xs(f64({4, 2}), {1, 10, 2, 20, 3, 30, 4, 40});
  Bindings b{{"x", xs},
             {"rm", Tensor(f64({2}), {0.5, -1})},
             {"rv", Tensor(f64({2}), {1, 2})}};
  auto r = interpret(train, b);
  const Tensor &y = r.outputs.at(0);
  for (int c = 0; c < 2; ++c) {
    double mean = 0, var = 0;
    for (int n = 0; n < 4; ++n)
      mean += y.at(n * 2 + c) / 4;
    for (int n = 0; n < 4; ++n)
      var += (y.at(n * 2 + c) - mean) * (y.at(n * 2 + c) - mean) / 4;
    CHECK(mean == doctest::Approx(0).epsilon(1e-12));
    CHECK(var == doctest::Approx(1).epsilon(1e-4)); // var / (var + eps)
  }
  CHECK(y.at(0) == doctest::Approx(-1.5 / std::sqrt(1.25 + 1e-5)).epsilon(1e-14));
  CHECK(y.at(7) == doctest::Approx(15 / std::sqrt(125 + 1e-5)).epsilon(1e-14));
  // rm := 0.9 rm + 0.1 mean; rv := 0.9 rv + 0.1 unbiased var.
  const Tensor &newRm = r.updatedParams.at("rm"), &newRv = r.updatedParams.at("rv");
  CHECK(newRm.at(0) == doctest::Approx(0.7).epsilon(1e-14));
  CHECK(newRm.at(1) == doctest::Approx(1.6).epsilon(1e-14));
  CHECK(newRv.at(0) == doctest::Approx(0.9 + 0.1 * 5.0 / 3).epsilon(1e-14));
  CHECK(newRv.at(1) == doctest::Approx(1.8 + 0.1 * 500.0 / 3).epsilon(1e-14));

  // gamma and beta scale and shift each channel.
  b.emplace("gamma", Tensor(f64({2}), {2, 0.5}));
  b.emplace("beta", Tensor(f64({2}), {1, -1}));
  Tensor ys = interpret(train, b).outputs.at(0);
  CHECK(ys.at(0) == doctest::Approx(2 * -1.5 / std::sqrt(1.25 + 1e-5) + 1).epsilon(1e-14));
  CHECK(ys.at(7) == doctest::Approx(0.5 * 15 / std::sqrt(125 + 1e-5) - 1).epsilon(1e-14));
}

TEST_CASE("expand-modes: train batch_norm on [N, C, H, W] uses N, H, W") {
  Graph g;
  Value x = input(g, "x", f32({2, 2, 1, 2}));
  Value one = param(g, "gamma", f32({2}), {{"init", "ones"}});
  Value zero = param(g, "beta", f32({2}));
  Value rm = param(g, "rm", f32({2}), {{"trainable", false}});
  Value rv = param(g, "rv", f32({2}), {{"init", "ones"}, {"trainable", false}});
  output(batchNorm(x, one, zero, rm, rv));
  Graph train = checkedExpansion(g, compiler::Mode::Train);
  // Channel 0: {1, 2, 3, 4}: mean 2.5, var 1.25 (unbiased 5/3).
  // Channel 1: {0, 0, 0, 4}: mean 1, var 3 (unbiased 4).
  Tensor xs(f32({2, 2, 1, 2}), {1, 2, 0, 0, 3, 4, 0, 4});
  auto r = interpret(train, {{"x", xs}});
  const Tensor &y = r.outputs.at(0);
  CHECK(y.at(0) == doctest::Approx(-1.5 / std::sqrt(1.25 + 1e-5)).epsilon(1e-6));
  CHECK(y.at(7) == doctest::Approx(3 / std::sqrt(3 + 1e-5)).epsilon(1e-6));
  CHECK(y.at(2) == doctest::Approx(-1 / std::sqrt(3 + 1e-5)).epsilon(1e-6));
  CHECK(r.updatedParams.at("rm").toDoubles() ==
        std::vector<double>{0.25f, 0.1f}); // 0.1 * mean, rounded to f32
  const Tensor &rvNew = r.updatedParams.at("rv");
  CHECK(rvNew.at(0) == doctest::Approx(0.9 + 0.1 * 5.0 / 3).epsilon(1e-6));
  CHECK(rvNew.at(1) == doctest::Approx(0.9 + 0.1 * 4).epsilon(1e-6));
}

TEST_CASE("expand-modes: eval batch_norm uses the running statistics") {
  Graph g;
  Value x = input(g, "x", f64({2, 2}));
  Value gamma = param(g, "gamma", f64({2}));
  Value beta = param(g, "beta", f64({2}));
  Value rm = param(g, "rm", f64({2}));
  Value rv = param(g, "rv", f64({2}));
  output(batchNorm(x, gamma, beta, rm, rv, 1e-5));
  Graph eval = checkedExpansion(g, compiler::Mode::Eval);
  CHECK(eval.updates().empty());
  Bindings b{{"x", Tensor(f64({2, 2}), {1, 2, 3, 4})},
             {"gamma", Tensor(f64({2}), {1, 2})},
             {"beta", Tensor(f64({2}), {0, 1})},
             {"rm", Tensor(f64({2}), {1, 2})},
             {"rv", Tensor(f64({2}), {4, 0.25})}};
  Tensor y = interpret(eval, b).outputs.at(0);
  // y = gamma (x - rm) / sqrt(rv + eps) + beta, channel by channel.
  CHECK(y.at(0) == 0.0);
  CHECK(y.at(1) == 1.0);
  CHECK(y.at(2) == doctest::Approx(2 / std::sqrt(4 + 1e-5)).epsilon(1e-15));
  CHECK(y.at(3) == doctest::Approx(2 * 2 / std::sqrt(0.25 + 1e-5) + 1).epsilon(1e-15));

  // [N, C, H, W]: the statistics broadcast over H and W.
  Graph h;
  Value x4 = input(h, "x", f64({1, 2, 1, 2}));
  Value v = param(h, "v", f64({2}), {{"init", "ones"}});
  Value z = param(h, "z", f64({2}));
  output(batchNorm(x4, v, z, z, v, 1e-5));
  Tensor y4 = interpret(expandEval(h), {{"x", Tensor(f64({1, 2, 1, 2}), {1, 2, 3, 4})}})
                  .outputs.at(0);
  double s = std::sqrt(1 + 1e-5);
  CHECK(y4.at(0) == doctest::Approx(1 / s).epsilon(1e-15));
  CHECK(y4.at(3) == doctest::Approx(4 / s).epsilon(1e-15));
}

TEST_CASE("expand-modes: errors name the batch_norm and the statistic") {
  auto model = [](Graph &g, bool statsAreParams) {
    Value x = input(g, "x", f32({4, 2}));
    Value p = param(g, "p", f32({2}));
    Value rm = statsAreParams ? param(g, "rm", f32({2})) : input(g, "rm", f32({2}));
    Value rv = param(g, "rv", f32({2}));
    output(batchNorm(x, p, p, rm, rv).named("bn"));
    return std::pair{rm, rv};
  };
  Graph statsAreInputs;
  model(statsAreInputs, false);
  CHECK_THROWS_WITH_AS(expandTrain(statsAreInputs),
                       doctest::Contains("in %bn: error: batch_norm: running_mean %rm "
                                         "must be a param to be updated in train mode"),
                       Error);
  CHECK_NOTHROW(expandEval(statsAreInputs));

  Graph updated;
  auto [rm, rv] = model(updated, true);
  update(rv, rv * 2.0);
  CHECK_THROWS_WITH_AS(expandTrain(updated),
                       doctest::Contains("running_var %rv is already updated"), Error);

  Graph shared;
  auto [srm, srv] = model(shared, true);
  Value x2 = input(shared, "x2", f32({4, 2}));
  output(batchNorm(x2, srm, srm, srm, srv)); // a second layer, same statistics
  CHECK_THROWS_WITH_AS(expandTrain(shared), doctest::Contains("already updated"), Error);

  Graph single;
  Value x = input(single, "x", f32({1, 2}));
  Value p = param(single, "p", f32({2}));
  output(batchNorm(x, p, p, p, p).named("bn1"));
  CHECK_THROWS_WITH_AS(expandTrain(single),
                       doctest::Contains("training needs more than one value per channel"),
                       Error);
}

TEST_CASE("expand-modes: registered as passes expand-train and expand-eval") {
  Graph g;
  Value x = input(g, "x", f32({2, 3}));
  output(relu(dropout(x, input(g, "c", i32()), 0.5)));
  Graph eval = compiler::runPasses(g, {"expand-eval", "dce"});
  CHECK(!hasModeOps(eval));
  CHECK((compiler::findPass("expand-train").run == &expandTrain));
  Graph train = compiler::findPass("expand-train").run(g);
  bool hasMask = false;
  for (const Node &n : train.nodes())
    hasMask |= n.kind == OpKind::Bernoulli;
  CHECK(hasMask);
}

TEST_CASE("expand-modes: expanded graphs round-trip through the text form") {
  Graph g("cnn");
  Value x = input(g, "x", f32({2, 1, 4, 4}));
  Value c = input(g, "step", i32());
  Value w = param(g, "w", f32({3, 1, 3, 3}), {{"init", "he"}});
  Value gamma = param(g, "gamma", f32({3}), {{"init", "ones"}});
  Value beta = param(g, "beta", f32({3}));
  Value rm = param(g, "rm", f32({3}), {{"trainable", false}});
  Value rv = param(g, "rv", f32({3}), {{"init", "ones"}, {"trainable", false}});
  Value h = relu(batchNorm(conv2d(x, w, {1, 1}, {1, 1}), gamma, beta, rm, rv))
                .named("h");
  output(dropout(h, c, 0.1, 9).named("out"));
  Graph train = checkedExpansion(g, compiler::Mode::Train);
  std::string text = chainjit::testing::checkRoundTrip(train);
  CHECK(text.find("bernoulli") != std::string::npos);
  chainjit::testing::checkRoundTrip(checkedExpansion(g, compiler::Mode::Eval));
}
