// Train and eval graphs differ: dropout masks with inverted scaling and
// batch statistics in the training step, identity and running statistics in
// evaluation; --dropout sets the rate.
#include "FileTesting.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"
#include "chainjit/runtime/train/ModelGraphs.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

// x [N, D] -> dropout -> dense -> cross-entropy, the dropout output also
// an output so tests can look at it.
ir::Graph dropoutModel(int64_t n, int64_t d) {
  ir::Graph g("drop");
  ir::Value x = ir::input(g, "x", ir::f32({n, d}));
  ir::Value y = ir::input(g, "labels", ir::i32({n}));
  ir::Value step = ir::input(g, "step", ir::i32({}));
  ir::Value w = ir::param(g, "W", ir::f32({d, 2}), {{"init", "glorot"}, {"seed", 1}});
  ir::Value dropped = ir::dropout(x, step, 0.5, 9).named("dropped");
  ir::output(ir::crossEntropy(ir::matmul(dropped, w), y).named("loss"));
  ir::output(dropped);
  return g;
}

runtime::Bindings onesBatch(int64_t n, int64_t d, int64_t step) {
  runtime::Bindings b;
  b["x"] = ir::Tensor::filled(ir::f32({n, d}), 1.0);
  b["labels"] = ir::Tensor(ir::i32({n}));
  b["step"] = ir::Tensor::scalar(ir::DType::i32, double(step));
  return b;
}

} // namespace

TEST_CASE("dropout: the rate set by withDropoutRate is the fraction dropped, survivors scaled") {
  const int64_t n = 100, d = 100;
  ir::Graph model = withDropoutRate(dropoutModel(n, d), 0.3);
  ModelSignature sig = inspectModel(model);
  CHECK(sig.counter == "step");
  ir::Graph step = buildStepGraph(model, sig, {InGraphUpdate::None});
  // The step graph's outputs are loss, grads; read the mask from the expanded
  // model instead, with the same counter.
  ir::Graph train = compiler::expandTrain(model);
  runtime::EvalResult r = runtime::interpret(train, onesBatch(n, d, 4));
  const ir::Tensor &out = r.outputs[1];
  int64_t zeros = 0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    if (out.at(i) == 0.0)
      ++zeros;
    else
      CHECK(out.at(i) == doctest::Approx(1.0 / 0.7).epsilon(1e-6)); // inverted scaling
  }
  // 10000 Bernoulli(0.3) draws: mean 3000, standard deviation about 45.8.
  CHECK(zeros > 3000 - 5 * 46);
  CHECK(zeros < 3000 + 5 * 46);
  // Another step number, another mask; the mean stays ~1 (inverted dropout).
  runtime::EvalResult r2 = runtime::interpret(train, onesBatch(n, d, 5));
  CHECK(!(r2.outputs[1] == out));
  double mean = 0;
  for (int64_t i = 0; i < out.numel(); ++i)
    mean += r2.outputs[1].at(i) / double(out.numel());
  CHECK(mean == doctest::Approx(1.0).epsilon(0.05));
  CHECK(step.find("grad.W"));

  // Eval: identity.
  ir::Graph eval = compiler::expandEval(model);
  runtime::EvalResult e = runtime::interpret(eval, onesBatch(n, d, 4));
  CHECK(e.outputs[1] == ir::Tensor::filled(ir::f32({n, d}), 1.0));
  CHECK(testing::errorOf([&] { withDropoutRate(model, 1.0); }).find("[0, 1)") !=
        std::string::npos);
}

TEST_CASE("batch norm: batch statistics and running-statistic updates in the step, running "
          "statistics in evaluation") {
  ir::Graph g("bn");
  ir::Value x = ir::input(g, "x", ir::f64({4, 2}));
  ir::Value y = ir::input(g, "labels", ir::i32({4}));
  ir::Value gamma = ir::param(g, "gamma", ir::f64({2}), {{"init", "ones"}});
  ir::Value beta = ir::param(g, "beta", ir::f64({2}));
  ir::Value rm = ir::param(g, "rm", ir::f64({2}), {{"trainable", false}});
  ir::Value rv = ir::param(g, "rv", ir::f64({2}), {{"init", "ones"}, {"trainable", false}});
  ir::Value n = ir::batchNorm(x, gamma, beta, rm, rv, 1e-5, 0.1).named("n");
  ir::output(ir::crossEntropy(n, y).named("loss"));
  ir::output(n);
  ModelSignature sig = inspectModel(g);
  CHECK(sig.state == std::vector<std::string>{"rm", "rv"});

  // Column 0: 1 2 3 4 (mean 2.5, biased var 1.25, unbiased 5/3); column 1: 10 x4.
  runtime::Bindings b;
  b["x"] = ir::Tensor(ir::f64({4, 2}), {1, 10, 2, 10, 3, 10, 4, 10});
  b["labels"] = ir::Tensor(ir::i32({4}), {0, 1, 0, 1});
  ir::Graph step = buildStepGraph(g, sig, {InGraphUpdate::Gradient});
  b["train.lr"] = ir::Tensor::scalar(ir::DType::f64, 0.0); // look, don't move
  runtime::EvalResult r = runtime::interpret(step, b);
  CHECK(r.updatedParams.at("rm").at(0) == doctest::Approx(0.25));  // 0.9 * 0 + 0.1 * 2.5
  CHECK(r.updatedParams.at("rm").at(1) == doctest::Approx(1.0));
  CHECK(r.updatedParams.at("rv").at(0) == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
  CHECK(r.updatedParams.at("rv").at(1) == doctest::Approx(0.9));
  CHECK(r.updatedParams.count("gamma") == 1); // the in-graph update of the trainable ones

  // Eval with given running statistics: (x - m) / sqrt(v + eps).
  ir::Graph eval = buildEvalGraph(g, sig);
  runtime::Bindings e = b;
  e.erase("train.lr");
  e["rm"] = ir::Tensor(ir::f64({2}), {1.0, 10.0});
  e["rv"] = ir::Tensor(ir::f64({2}), {4.0, 1.0});
  runtime::EvalResult re = runtime::interpret(eval, e);
  CHECK(re.outputs.size() == 2); // the loss and %n, a [N, C] float output taken as scores
  ir::Graph evalAll = compiler::expandEval(g);
  runtime::EvalResult all = runtime::interpret(evalAll, e);
  CHECK(all.updatedParams.empty());
  CHECK(all.outputs[1].at(6) == doctest::Approx((4.0 - 1.0) / std::sqrt(4.0 + 1e-5)));
  CHECK(all.outputs[1].at(7) == doctest::Approx(0.0));

  // The trainer carries the running statistics from step to step.
  runtime::Dataset data{b["x"].reshaped({4, 2}), b["labels"]};
  TrainConfig c;
  c.batch = 4;
  c.epochs = 3;
  Trainer t(g, c);
  t.fit(data);
  // Three steps on the same batch: rm = 2.5 * (1 - 0.9^3).
  CHECK(t.modelParams().at("rm").at(0) == doctest::Approx(2.5 * (1 - 0.729)));
}
