// Loss and along-axis kernels split over threads (ParallelItems.h): the
// loss sums are cut into chunks whose count depends on the size alone and
// added in order, so cross_entropy and mse give the same bits on one thread
// and on several; softmax and log_softmax rows are independent. Whether the
// model splits is timing, so the tests force it.
#include "../../compiler/src/jit/kernels/ParallelItems.h"

#include "GradCheck.h"
#include "JitTesting.h"
#include "ScopedSplitMode.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"

#include <doctest/doctest.h>

#include <cstdlib>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

// The outputs of `g` under `b` with kernel threads in `mode`.
std::vector<Tensor> runWith(const char *mode, const Graph &g, const runtime::Bindings &b) {
  compiler::jit::kernels::setSplitMode(mode);
  compiler::JitOptions o;
  o.useCache = false;
  auto exec = runtime::makeExecutable(g, runtime::Backend::Jit, o);
  std::vector<Tensor> out = exec->run(b).outputs;
  compiler::jit::kernels::setSplitMode(nullptr);
  return out;
}

} // namespace

TEST_CASE("parallel losses: a deterministic sum has the same bits on any number of threads") {
  using compiler::jit::kernels::deterministicSum;
  std::vector<double> v(100003);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = 1.0 / double(i + 1);
  auto sum = [&] {
    return deterministicSum(int64_t(v.size()), 1000, [&](int64_t, int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i)
        s += v[size_t(i)];
      return s;
    });
  };
  compiler::jit::kernels::setSplitMode("1");
  double one = sum();
  compiler::jit::kernels::setSplitMode("force");
  double many = sum();
  compiler::jit::kernels::setSplitMode(nullptr);
  CHECK(one == many);
  CHECK(one == doctest::Approx(12.0901).epsilon(1e-4)); // H(100003)
  // Up to 2 * perChunk - 1 entries are one plain loop.
  CHECK(compiler::jit::kernels::sumChunks(1999, 1000) == 1);
  CHECK(compiler::jit::kernels::sumChunks(2000, 1000) == 2);
  CHECK(compiler::jit::kernels::sumChunks(int64_t(1) << 40, 1000) == compiler::jit::kernels::kMaxSumChunks);
}

TEST_CASE("parallel losses: cross_entropy, mse and (log_)softmax split over threads equal one "
          "thread exactly and the interpreter") {
  for (DType t : {DType::f32, DType::f64}) {
    CAPTURE(dtypeName(t));
    Graph g("losses");
    Value logits = input(g, "logits", {t, {3001, 13}});
    Value labels = input(g, "labels", i32({3001}));
    Value probs = input(g, "probs", {t, {3001, 13}});
    Value pred = input(g, "pred", {t, {70001}});
    Value target = input(g, "target", {t, {70001}});
    output(crossEntropy(logits, labels).named("ce_labels"));
    output(crossEntropy(logits, softmax(probs)).named("ce_probs"));
    output(mse(pred, target).named("mse"));
    output(logSoftmax(logits).named("log_softmax"));
    runtime::Bindings b = testing::randomBindings(g, 11, -3.0, 3.0, 13);
    std::vector<Tensor> one = runWith("1", g, b), many = runWith("force", g, b);
    REQUIRE(one.size() == many.size());
    for (size_t i = 0; i < one.size(); ++i) {
      CAPTURE(i);
      CHECK(one[i] == many[i]); // bit for bit
    }
    compiler::jit::kernels::setSplitMode("force");
    testing::checkJitMatchesInterpreter(g, b);
    compiler::jit::kernels::setSplitMode(nullptr);
  }
}

TEST_CASE("parallel losses: a bad label in a later chunk is reported by its row, split or not") {
  Graph g("bad_label");
  Value logits = input(g, "logits", f32({2000, 5}));
  Value labels = input(g, "labels", i32({2000}));
  output(crossEntropy(logits, labels).named("loss"));
  runtime::Bindings b = testing::randomBindings(g, 3, -1.0, 1.0, 5);
  b["labels"].set(1500, 7);
  b["labels"].set(1900, -1);
  for (const char *mode : {"1", "force"}) {
    CAPTURE(mode);
    compiler::jit::kernels::setSplitMode(mode);
    auto exec = runtime::makeExecutable(g, runtime::Backend::Jit);
    std::string message;
    try {
      exec->run(b);
    } catch (const Error &e) {
      message = e.what();
    }
    compiler::jit::kernels::setSplitMode(nullptr);
    CHECK(message.find("label 7 of row 1500 is out of range [0, 5)") != std::string::npos);
  }
}
