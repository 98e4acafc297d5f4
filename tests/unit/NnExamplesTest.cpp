// The .cj examples written with functions (examples/lstm_digits.cj and
// lstm_fashion.cj: an lstm_step scanned over time; gru_adding.cj: a
// gru_step; examples/char_transformer.cj: an encoder_block function called
// per layer) compute what the nn library
// builds with the same param names: equal outputs and equal gradients for
// every param, from the same random values.
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/nn/Attention.h"
#include "chainjit/nn/Embedding.h"
#include "chainjit/nn/Linear.h"
#include "chainjit/nn/Recurrent.h"
#include "chainjit/runtime/Executable.h"

#include "GradCheck.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

Graph example(const std::string &file) {
  return parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + "/examples/" + file);
}

std::set<std::string> paramNames(const Graph &g) {
  std::set<std::string> s;
  for (NodeId p : g.params())
    s.insert(g.node(p).name);
  return s;
}

// Random inputs and params: floats in [-0.5, 0.5], ids below `classes`.
runtime::Bindings bindingsFor(const Graph &g, int64_t classes) {
  return testing::randomBindings(g, 5, -0.5, 0.5, int(classes));
}

// Checks that both graphs declare the same params with the same initializer
// attributes, then runs grad(loss) of both on the interpreter (or, for a model too big
// for it in CI's time, the JIT) and compares the loss and each param's
// gradient (f32: to 1e-5 relative).
void checkSameFunction(const Graph &fromText, const Graph &fromLibrary, int64_t classes,
                       runtime::Backend backend = runtime::Backend::Interp) {
  REQUIRE(paramNames(fromText) == paramNames(fromLibrary));
  // The same initializers as PyTorch's defaults, attribute for attribute.
  for (NodeId p : fromLibrary.params())
    CHECK(fromText.node(fromText.lookup(fromLibrary.node(p).name)).attrs ==
          fromLibrary.node(p).attrs);
  runtime::Bindings b = bindingsFor(fromText, classes);
  std::set<std::string> names = paramNames(fromText);
  std::vector<std::string> wrt(names.begin(), names.end());
  Graph dt = compiler::grad(fromText, "loss", wrt), dl = compiler::grad(fromLibrary, "loss", wrt);
  runtime::Bindings bl;
  for (NodeId n : dl.inputs())
    bl[dl.node(n).name] = b.at(dl.node(n).name);
  for (NodeId n : dl.params())
    bl[dl.node(n).name] = b.at(dl.node(n).name);
  runtime::Bindings bt;
  for (NodeId n : dt.inputs())
    bt[dt.node(n).name] = b.at(dt.node(n).name);
  for (NodeId n : dt.params())
    bt[dt.node(n).name] = b.at(dt.node(n).name);
  auto rt = runtime::makeExecutable(dt, backend)->run(bt);
  auto rl = runtime::makeExecutable(dl, backend)->run(bl);
  auto valueOf = [](const Graph &d, const runtime::EvalResult &r, const std::string &v) {
    const auto &o = d.outputs();
    size_t at = std::find(o.begin(), o.end(), d.lookup(v)) - o.begin();
    REQUIRE(at < o.size());
    return r.outputs.at(at);
  };
  std::vector<std::string> compare{"loss"};
  for (const std::string &w : wrt)
    compare.push_back("grad." + w);
  for (const std::string &v : compare) {
    CAPTURE(v);
    Tensor a = valueOf(dt, rt, v), c = valueOf(dl, rl, v);
    REQUIRE(a.numel() == c.numel());
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      worst = std::max(worst, std::fabs(a.at(i) - c.at(i)));
      scale = std::max(scale, std::fabs(c.at(i)));
    }
    CHECK(scale > 0); // every param moves the loss
    CHECK(worst <= 1e-5 * std::max(1.0, scale));
  }
}

// The text form also compiles and runs on the JIT: the same loss.
void checkJitForward(const Graph &text, int64_t classes) {
  runtime::Bindings b = bindingsFor(text, classes);
  auto jit = runtime::makeExecutable(text, runtime::Backend::Jit)->run(b);
  auto interp = runtime::makeExecutable(text, runtime::Backend::Interp)->run(b);
  double want = interp.outputs.at(0).at(0);
  CHECK(std::fabs(jit.outputs.at(0).at(0) - want) <= 1e-5 * std::fabs(want));
}

} // namespace

TEST_CASE("nn examples: lstm_digits.cj (lstm_step scanned over time) is nn::LSTM + Linear") {
  Graph text = example("lstm_digits.cj");
  Graph lib("lstm_digits");
  Value x = input(lib, "x", f32({32, 8, 8}));
  Value labels = input(lib, "labels", {DType::i32, {32}});
  nn::LSTM lstm(lib, "lstm", {.inputSize = 8, .hiddenSize = 32, .batchFirst = true});
  nn::Linear head(lib, "head", 32, 10);
  output(crossEntropy(head(lstm(x).last), labels).named("loss"));
  checkSameFunction(text, lib, 10);
  checkJitForward(text, 10);
}

TEST_CASE("nn examples: char_transformer.cj (encoder_block called per layer) is nn's") {
  Graph text = example("char_transformer.cj");
  Graph lib("char_transformer");
  Value tokens = input(lib, "tokens", {DType::i32, {64, 16}});
  Value targets = input(lib, "targets", {DType::i32, {64, 16}});
  Value mask = input(lib, "mask", f32({64, 16}));
  nn::Embedding tok(lib, "tok", 30, 32);
  nn::LearnedPositions pos(lib, "pos", 16, 32);
  Value h = pos(tok(tokens));
  for (const char *name : {"block0", "block1"}) {
    nn::TransformerEncoderLayer block(lib, name,
                                      {.embedDim = 32, .numHeads = 4, .feedforwardDim = 64});
    h = block(h, true);
  }
  nn::LayerNorm norm(lib, "norm", 32);
  nn::Linear headLayer(lib, "head", 32, 30);
  Value logits = headLayer(reshape(norm(h), {1024, 32}));
  // The mean cross-entropy over the targets the mask counts.
  Value picked = sum(mul(oneHot(targets, 30), reshape(logSoftmax(logits), {64, 16, 30})), {2});
  output(neg(div(sum(mul(picked, mask)), sum(mask))).named("loss"));
  checkSameFunction(text, lib, 30);
  checkJitForward(text, 30);
}

TEST_CASE("nn examples: gru_adding.cj (gru_step scanned over time) is nn::GRU + Linear + mse") {
  Graph text = example("gru_adding.cj");
  Graph lib("gru_adding");
  Value x = input(lib, "x", f32({50, 50, 2}));
  Value y = input(lib, "y", f32({50}));
  nn::GRU gru(lib, "gru", {.inputSize = 2, .hiddenSize = 32, .batchFirst = true});
  nn::Linear head(lib, "head", 32, 1);
  output(mse(reshape(head(gru(x).last), {50}), y).named("loss"));
  checkSameFunction(text, lib, 1);
  checkJitForward(text, 1);
}

TEST_CASE("nn examples: lstm_fashion.cj (IDX rows reshaped to 28 steps) is nn::LSTM + Linear") {
  Graph text = example("lstm_fashion.cj");
  Graph lib("lstm_fashion");
  Value x = input(lib, "x", f32({64, 784}));
  Value labels = input(lib, "labels", {DType::i32, {64}});
  nn::LSTM lstm(lib, "lstm", {.inputSize = 28, .hiddenSize = 128, .batchFirst = true});
  nn::Linear head(lib, "head", 128, 10);
  output(crossEntropy(head(lstm(reshape(x, {64, 28, 28})).last), labels).named("loss"));
  // 128 units: the interpreter takes about 12 s for the gradients, the JIT under 1 s.
  checkSameFunction(text, lib, 10, runtime::Backend::Jit);
}
